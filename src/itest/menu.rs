//! The menu in a real terminal: the debug `twinsync` binary (cargo builds it for integration
//! tests and names it in `CARGO_BIN_EXE_twinsync`) runs in a detached tmux session of a fixed
//! size, pointed at a sandbox machine in a temporary folder (never the real `/` or home). The
//! tests type keys with `send-keys` and read the screen with `capture-pane`, polling with a
//! timeout. Without tmux or whiptail they are skipped loudly, except under `CI=true`.
//!
//! Also here, because they need the real binary and a PATH of their own: `deps` on a PATH the
//! test controls.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_twinsync");

/// The labels of the original menu, word for word, and the three new items.
const LABELS: &[&str] = &[
    "Setup / utilities",
    "Take snapshot (update twin + commit + optional push)",
    "Pull from remote (update twin repo)",
    "Plan file changes (twin -> system)",
    "Apply file changes (twin -> system)",
    "Plan package changes (apt, twin -> system)",
    "Apply package changes (apt, twin -> system)",
    "Plan service changes (systemd, twin -> system)",
    "Apply service changes (systemd, twin -> system)",
    "Plan startup changes (user crontab)",
    "Apply startup changes (user crontab)",
    "Time Machine / history",
    "Status",
    "Diff",
    "Undo last apply",
    "Init / configure local Twin repo (create local Git)",
];

const TOKEN: &str = "ghp_menutestsecret9876";

/// A machine made of files plus the config, state and twin folders; removed when dropped.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!("twinsync-menu-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let sb = Sandbox { dir };
        sb.write(
            "root/etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000:Ana:/home/ana:/bin/bash\n",
        );
        sb.write("root/etc/group", "root:x:0:\nana:x:1000:\n");
        sb.write("root/etc/hostname", "sandbox\n");
        sb.write("root/etc/hosts", "127.0.0.1 localhost\n");
        sb.write("root/home/ana/.config/htop/htoprc", "fields=0 48 17\n");
        // A token in the config: the menu must show it masked.
        // github_api on a closed loopback port: a test never reaches out to the internet.
        sb.write("cfg/config", &format!("github_token={TOKEN}\ngithub_api=http://127.0.0.1:9\n"));
        sb
    }

    fn write(&self, rel: &str, content: &str) {
        let p = self.dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).unwrap_or_default()
    }

    fn twin(&self) -> PathBuf {
        self.dir.join("twin")
    }

    /// The global options that point twinsync at the sandbox (no --twin: the menu's init sets it).
    fn args(&self) -> Vec<String> {
        let d = self.dir.display();
        ["--root", &format!("{d}/root"), "--config", &format!("{d}/cfg/config")]
            .into_iter()
            .chain(["--state", &format!("{d}/state"), "--home", "/home/ana", "--user", "ana"])
            .map(str::to_string)
            .collect()
    }

    fn commits(&self) -> usize {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.twin())
            .args(["rev-list", "--count", "HEAD"])
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A folder of symlinks to the programs twinsync uses, except those named in `without`.
fn path_without(dir: &Path, without: &[&str]) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let programs = [
        "git",
        "whiptail",
        "curl",
        "dpkg-query",
        "apt-get",
        "apt-mark",
        "systemctl",
        "crontab",
        "journalctl",
        "stty",
        "sh",
        "chroot",
        "mount",
        "umount",
    ];
    for p in programs.iter().filter(|p| !without.contains(p)) {
        if let Some(found) = which(p) {
            let _ = symlink(found, dir.join(p));
        }
    }
    dir.display().to_string()
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

/// A tmux server of our own (its own socket), killed when dropped, also when a test fails.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// Starts `env PATH=… twinsync ARGS` in a detached 100x32 session; when the menu ends, the
    /// pane says how it exited and stays.
    fn start(sb: &Sandbox, path: &str, args: &[String]) -> Tmux {
        let socket = sb.dir.join("tmux.sock");
        let mut line = format!("/usr/bin/env PATH={} TERM=screen {}", quote(path), quote(BIN));
        for a in args {
            line.push(' ');
            line.push_str(&quote(a));
        }
        line.push_str("; echo \"menu exited with $?\"; sleep 600");
        let tmux = Tmux { socket };
        let status = tmux.cmd().args(["new-session", "-d", "-x", "100", "-y", "32", &line]).status().unwrap();
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.arg("-S").arg(&self.socket).arg("-f").arg("/dev/null");
        c
    }

    /// Keys by tmux name (Enter, Escape, Down, End, Tab) or plain characters.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            assert!(self.cmd().args(["send-keys", k]).status().unwrap().success());
            std::thread::sleep(Duration::from_millis(40));
        }
    }

    /// Literal text.
    fn type_text(&self, text: &str) {
        assert!(self.cmd().args(["send-keys", "-l", text]).status().unwrap().success());
    }

    fn screen(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Polls the screen until it shows `needle` (at most 20 s); panics with the last screen.
    #[track_caller]
    fn wait_for(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                // Let the dialog finish drawing and start reading keys.
                std::thread::sleep(Duration::from_millis(150));
                return self.screen();
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "timed out waiting for {needle:?}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Whether the tmux tests can run here; under CI=true they must.
fn can_run(needs_whiptail: bool) -> bool {
    let mut missing: Vec<&str> = Vec::new();
    if which("tmux").is_none() {
        missing.push("tmux");
    }
    if needs_whiptail && which("whiptail").is_none() {
        missing.push("whiptail");
    }
    if missing.is_empty() {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but {} missing", missing.join(" and "));
    eprintln!("\n**************************************************************");
    eprintln!(
        "*  menu test SKIPPED: {} not installed (apt-get install {})",
        missing.join(", "),
        missing.join(" ")
    );
    eprintln!("**************************************************************\n");
    false
}

/// Prints the screen for DOCS-SNIPPET.md when TWINSYNC_SCREENSHOTS is set.
fn shot(name: &str, screen: &str) {
    if std::env::var_os("TWINSYNC_SCREENSHOTS").is_some() {
        let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
        let text = lines.join("\n");
        eprintln!("=== screenshot: {name} ===\n{}\n=== end ===", text.trim_matches('\n'));
    }
}

/// Closes a text box: Tab to <Ok> (the scrollable text may hold the focus), then Enter.
fn close_box(t: &Tmux) {
    t.keys(&["Tab", "Enter"]);
}

#[test]
fn whiptail_menu_in_a_real_terminal() {
    if !can_run(true) {
        return;
    }
    let sb = Sandbox::new("whiptail");
    let path = std::env::var("PATH").unwrap();
    let t = Tmux::start(&sb, &path, &sb.args());

    // First run: no twin yet, Init offered first, every original label on the main menu.
    let screen = t.wait_for("No twin repository is set up yet");
    shot("first run", &screen);
    for label in LABELS {
        assert!(screen.contains(label), "{label:?} missing:\n{screen}");
    }
    t.keys(&["Enter"]);
    t.wait_for("Folder of the local twin repository");
    // Replace the proposed folder (the real home's ~/twinsync-twin) with the sandbox's.
    for _ in 0..40 {
        t.keys(&["BSpace"]);
    }
    t.type_text(&sb.twin().display().to_string());
    t.keys(&["Enter"]);
    let screen = t.wait_for("Name of this device");
    assert!(screen.contains("sandbox"), "{screen}");
    t.keys(&["Enter"]);
    t.wait_for("created the twin of sandbox");
    close_box(&t);
    let screen = t.wait_for("Twin of sandbox:");
    shot("main menu", &screen);

    // Setup / utilities → Show current TwinSync config: the token masked.
    t.keys(&["Enter"]);
    let screen = t.wait_for("Show current TwinSync config");
    shot("setup", &screen);
    t.keys(&["End", "Enter"]);
    let screen = t.wait_for("github_token=");
    shot("config", &screen);
    assert!(screen.contains("github_token=****") && !screen.contains(TOKEN), "{screen}");
    assert!(screen.contains(&format!("twin_dir={}", sb.twin().display())), "{screen}");
    close_box(&t);
    t.wait_for("Install/check dependencies (Debian/Ubuntu)");

    // GitHub setup: the name in an input box, the token in a password box (never on screen);
    // The API cannot be reached (a closed port): curl's message in an error box, back to Setup.
    t.keys(&["Home", "Down", "Enter"]);
    t.wait_for("GitHub user name:");
    t.type_text("ana");
    t.keys(&["Enter"]);
    t.wait_for("GitHub token");
    t.type_text(TOKEN);
    let screen = t.screen();
    assert!(!screen.contains(TOKEN), "{screen}");
    t.keys(&["Enter"]);
    let screen = t.wait_for("Error: GitHub setup");
    assert!(screen.contains("nothing was stored") && !screen.contains(TOKEN), "{screen}");
    close_box(&t);
    t.wait_for("Install/check dependencies (Debian/Ubuntu)");
    t.keys(&["Escape"]);
    t.wait_for("Twin of sandbox:");

    // Take snapshot: the twin gets a commit.
    let before = sb.commits();
    t.keys(&["Home", "Down", "Enter"]);
    let screen = t.wait_for("twinsync: snapshot ");
    shot("snapshot", &screen);
    assert_eq!(sb.commits(), before + 1);
    close_box(&t);
    t.wait_for("Twin of sandbox:");

    // An edit in the twin; Plan file changes shows the plan.
    sb.write("twin/filesystem/etc/hosts", "127.0.0.1 localhost\n10.0.0.7 nas\n");
    t.keys(&["Home", "Down", "Down", "Down", "Enter"]);
    let screen = t.wait_for("REPLACE /etc/hosts");
    shot("plan files", &screen);
    assert!(screen.contains("# twinsync plan: files"), "{screen}");
    close_box(&t);
    t.wait_for("Twin of sandbox:");

    // Apply file changes: the dry run, then the question; No (the default) changes nothing.
    t.keys(&["Home", "Down", "Down", "Down", "Down", "Enter"]);
    let screen = t.wait_for("dry run: nothing is changed");
    shot("apply dry run", &screen);
    close_box(&t);
    let screen = t.wait_for("Apply these changes to the system now?");
    shot("apply question", &screen);
    t.keys(&["Enter"]);
    t.wait_for("Twin of sandbox:");
    assert_eq!(sb.read("root/etc/hosts"), "127.0.0.1 localhost\n");
    // Again, and Yes this time.
    t.keys(&["Enter"]);
    t.wait_for("dry run: nothing is changed");
    close_box(&t);
    t.wait_for("Apply these changes to the system now?");
    t.keys(&["Left", "Enter"]);
    let screen = t.wait_for("twinsync: files: 1 done");
    shot("apply report", &screen);
    assert_eq!(sb.read("root/etc/hosts"), "127.0.0.1 localhost\n10.0.0.7 nas\n");
    close_box(&t);
    t.wait_for("Twin of sandbox:");

    // Time Machine: pick the oldest snapshot, say yes: the twin gets a new commit with its tree.
    let before = sb.commits();
    t.keys(&["Home", "End", "Up", "Up", "Up", "Enter"]);
    let screen = t.wait_for("Pick a snapshot to go back to:");
    shot("time machine", &screen);
    t.keys(&["End", "Enter"]);
    t.wait_for("nothing is lost");
    t.keys(&["Left", "Enter"]);
    t.wait_for("shows how the machine would follow");
    assert_eq!(sb.commits(), before + 1, "restore adds one commit");
    close_box(&t);
    t.wait_for("Twin of sandbox:");

    // Cancel in the main menu quits, with exit 0.
    t.keys(&["Escape"]);
    t.wait_for("menu exited with 0");
}

#[test]
fn numbered_menu_without_whiptail() {
    if !can_run(false) {
        return;
    }
    let sb = Sandbox::new("text");
    let path = path_without(&sb.dir.join("bin"), &["whiptail"]);
    let mut args = vec!["menu".to_string()];
    args.extend(sb.args());
    let t = Tmux::start(&sb, &path, &args);

    let screen = t.wait_for("choose 1-16 or q:");
    shot("text menu", &screen);
    assert!(screen.contains("No twin repository is set up yet"), "{screen}");
    for label in LABELS {
        assert!(screen.contains(label), "{label:?} missing:\n{screen}");
    }
    assert!(screen.contains("  1) Init / configure local Twin repo (create local Git)"), "{screen}");

    // Init: the proposed folder is replaced, the device name accepted with Enter.
    t.type_text("1");
    t.keys(&["Enter"]);
    t.wait_for("Folder of the local twin repository (Enter accepts):");
    t.type_text(&sb.twin().display().to_string());
    t.keys(&["Enter"]);
    t.wait_for("Name of this device (Enter accepts): [sandbox]");
    // A new name: the menu runs `config set device_name nas-1` before `init`.
    t.type_text("nas-1");
    t.keys(&["Enter"]);
    t.wait_for("created the twin of nas-1");
    assert!(sb.read("cfg/config").contains("device_name=nas-1"), "{}", sb.read("cfg/config"));
    t.keys(&["Enter"]);
    t.wait_for("choose 1-15 or q:");

    // A wrong answer is said so, and asked again.
    t.type_text("99");
    t.keys(&["Enter"]);
    t.wait_for("'99' is not on the menu");

    // Setup → Show current TwinSync config.
    t.type_text("1");
    t.keys(&["Enter"]);
    t.wait_for("choose 1-4 or q:");
    t.type_text("4");
    t.keys(&["Enter"]);
    let screen = t.wait_for("github_token=");
    shot("text config", &screen);
    assert!(screen.contains("github_token=****") && !screen.contains(TOKEN), "{screen}");
    t.keys(&["Enter"]);
    t.wait_for("choose 1-4 or q:");
    t.type_text("q");
    t.keys(&["Enter"]);

    // Take snapshot.
    let before = sb.commits();
    t.type_text("2");
    t.keys(&["Enter"]);
    t.wait_for("twinsync: snapshot ");
    assert_eq!(sb.commits(), before + 1);
    t.keys(&["Enter"]);

    // Plan file changes.
    sb.write("twin/filesystem/etc/hosts", "127.0.0.1 localhost\n10.0.0.7 nas\n");
    t.type_text("4");
    t.keys(&["Enter"]);
    let screen = t.wait_for("REPLACE /etc/hosts");
    shot("text plan", &screen);
    t.keys(&["Enter"]);

    // Apply: the dry run, then the question; Enter is no.
    t.type_text("5");
    t.keys(&["Enter"]);
    t.wait_for("dry run: nothing is changed");
    t.keys(&["Enter"]);
    t.wait_for("Apply these changes to the system now? [y/N]");
    t.keys(&["Enter"]);
    t.wait_for("choose 1-15 or q:");
    assert_eq!(sb.read("root/etc/hosts"), "127.0.0.1 localhost\n");

    // q in the main menu quits.
    t.type_text("q");
    t.keys(&["Enter"]);
    t.wait_for("menu exited with 0");
}

#[test]
fn deps_lists_programs_on_our_path_and_install_dry_run_prints_apt_get() {
    let dir = std::env::temp_dir().join(format!("twinsync-deps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Fake programs: the table depends only on what this test puts there.
    std::fs::create_dir_all(&dir).unwrap();
    for p in ["git", "curl", "dpkg-query", "apt-get", "apt-mark", "systemctl", "journalctl"] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(dir.join(p), "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = dir.display().to_string();
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("PATH", &path)
            .env("TWINSYNC_CONFIG", dir.join("config"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["deps"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("whiptail     missing"), "{out}");
    assert!(out.contains("crontab      missing"), "{out}");
    assert!(out.contains(&format!("git          found    {}/git", dir.display())), "{out}");
    assert!(err.contains("sudo twinsync deps --install") && err.contains("whiptail cron"), "{err}");
    let (code, out, err) = run(&["deps", "--install", "--dry-run"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("would run: DEBIAN_FRONTEND=noninteractive apt-get install -y -q -- whiptail cron"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
