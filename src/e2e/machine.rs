//! A throwaway Debian machine for the end-to-end suite.
//!
//! The root file system is made once with `debootstrap --variant=minbase` and cached outside the
//! repository (`$TWINSYNC_E2E_CACHE`, default /var/cache/twinsync-e2e). Every boot copies it fresh
//! into /var/tmp/twinsync-e2e/NAME-PID/root and starts it with `systemd-nspawn -b`, so TwinSync
//! meets a real systemd, dpkg, apt and cron. Commands enter the running machine through `nsenter`,
//! as a user at its console would run them.
//!
//! The host stays untouched: nspawn runs with `--register=no --keep-unit` (no machined, no new
//! scope unit: this host's PID 1 is not systemd), `--link-journal=no`, and its mounts live in the
//! container's own mount namespace. All files are in the two folders above. The only trace nspawn
//! itself keeps is its empty runtime folder /run/systemd/nspawn/{locks,propagate}.
//!
//! Every wait is bounded: a command is killed (with its whole process group) after its timeout,
//! a boot that does not reach `running` or `degraded` fails, a machine that does not power off is
//! killed. Dropping a `Machine` kills what still runs and removes its folder, also when a step
//! panicked (`TWINSYNC_E2E_KEEP=1` keeps the folder for a post-mortem).

use fs_err as fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the cached root is made of. Changing any of these (or `PREPARE`) makes a new cache key.
const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
const INCLUDE: &str = "git,systemd,systemd-sysv,dbus,cron,ca-certificates,whiptail,curl,sudo";
/// Bump when `prepare` changes what it does to the fresh root.
const PREPARE: &str = "prepare-1";

/// The machine's host name (/etc/hostname) and its ordinary user, made once in the cache.
pub const HOSTNAME: &str = "twin-e2e";
pub const USER: &str = "ana";

const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const RUN_BASE: &str = "/var/tmp/twinsync-e2e";
const DEFAULT_CACHE: &str = "/var/cache/twinsync-e2e";

/// Default bound for one command inside the machine or on the host.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(120);
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);
const COPY_TIMEOUT: Duration = Duration::from_secs(300);
const DEBOOTSTRAP_TIMEOUT: Duration = Duration::from_secs(1800);

pub struct Machine {
    name: String,
    /// The run folder: root/, console.log, host/ (scratch space for the scenario).
    dir: PathBuf,
    root: PathBuf,
    /// The systemd-nspawn child while the machine runs.
    nspawn: Option<Child>,
    /// Host PID of the container's PID 1 (systemd), 0 when powered off.
    leader: u32,
    /// Bound for each command run inside; a scenario may change it for a long step.
    pub timeout: Duration,
}

impl Machine {
    /// Copies the cached root fresh and boots it; returns once systemd inside says `running`
    /// or `degraded`. Panics (after cleaning up) when it cannot.
    pub fn boot(name: &str) -> Machine {
        let cache = cached_root();
        let base = Path::new(RUN_BASE);
        fs::create_dir_all(base).unwrap();
        remove_stale_runs(base);
        let name: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
        let dir = base.join(format!("{name}-{}", std::process::id()));
        if dir.exists() {
            remove_tree(&dir);
        }
        fs::create_dir_all(dir.join("host")).unwrap();
        let root = dir.join("root");
        // Construct the Machine first so that Drop cleans up whatever fails below.
        let mut m = Machine {
            name: format!("e2e-{name}-{}", std::process::id()),
            dir,
            root,
            nspawn: None,
            leader: 0,
            timeout: CMD_TIMEOUT,
        };
        let (c, r) = (cache.to_str().unwrap(), m.root.to_str().unwrap());
        host_ok(&["cp", "-a", "--reflink=auto", c, r], COPY_TIMEOUT);
        m.start();
        m
    }

    fn start(&mut self) {
        let log = fs::File::create(self.dir.join("console.log")).unwrap();
        let mut cmd = Command::new("setpriv");
        // --pdeathsig: if the test process dies, nspawn gets SIGTERM and powers the container
        // off (a SIGKILL would leave the container running, orphaned). A run that still leaves
        // one behind is killed by the next run (remove_stale_runs). The signal follows the
        // thread that booted the machine: keep a Machine on the thread that made it.
        cmd.args(["--pdeathsig", "TERM", "--", "systemd-nspawn", "--quiet", "-D"])
            .arg(&self.root)
            .args(["-b", "--register=no", "--keep-unit", "-M", &self.name])
            // The console goes to the log; the container's /etc stays exactly as cached.
            .args(["--console=read-only", "--link-journal=no"])
            .args(["--resolv-conf=off", "--timezone=off"])
            // No colour codes from the container's systemd in console.log.
            .arg("--setenv=SYSTEMD_COLORS=0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap().into_file())
            .stderr(log.into_file());
        let child = cmd.spawn().expect("cannot start systemd-nspawn (apt-get install systemd-container)");
        let nspawn_pid = child.id();
        self.nspawn = Some(child);

        // The container's PID 1 is nspawn's child; wait until it has become systemd.
        let deadline = Instant::now() + BOOT_TIMEOUT;
        while self.leader == 0 {
            if self.nspawn_exited() || Instant::now() > deadline {
                self.fail_boot("systemd-nspawn did not start the container");
            }
            if let Some(pid) = children(nspawn_pid).into_iter().next() {
                if fs::read_to_string(format!("/proc/{pid}/comm")).ok().as_deref() == Some("systemd\n") {
                    self.leader = pid;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }

        // Then wait for the boot to finish. Early on nsenter may fail (no bus yet): retry.
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.nspawn_exited() {
                self.fail_boot("the machine did not finish booting");
            }
            let out = self.run_with(None, &["systemctl", "is-system-running", "--wait"], None, left);
            match String::from_utf8_lossy(&out.stdout).trim() {
                "running" | "degraded" => return,
                _ => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn fail_boot(&mut self, what: &str) -> ! {
        let log = self.console_tail(40);
        self.kill();
        panic!("e2e: {what} (bound: {} s)\n--- console ({}) ---\n{log}", BOOT_TIMEOUT.as_secs(), self.name);
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Host path of the machine's root directory (for `--root` from outside, or to read files).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Host scratch folder for this run, removed with the machine.
    pub fn host_dir(&self) -> PathBuf {
        self.dir.join("host")
    }

    pub fn is_running(&self) -> bool {
        self.nspawn.is_some()
    }

    /// Host path of a path inside the machine. Only for paths on the root file system:
    /// /tmp and /run are tmpfs mounts inside the running machine.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// Runs argv inside as root; never panics. See `run_with`.
    pub fn run(&self, argv: &[&str]) -> Output {
        self.run_with(None, argv, None, self.timeout)
    }

    /// Runs argv inside as `user` (through `runuser -u USER --`: HOME, USER, LOGNAME are the user's).
    pub fn run_as(&self, user: &str, argv: &[&str]) -> Output {
        self.run_with(Some(user), argv, None, self.timeout)
    }

    /// The general form: optional user, optional stdin, own timeout. The command gets a clean
    /// environment: PATH, LC_ALL=C, HOME=/root, TERM=dumb. A command that exceeds the timeout is
    /// killed with its process group; its Output then says so at the end of stderr.
    pub fn run_with(
        &self,
        user: Option<&str>,
        argv: &[&str],
        stdin: Option<&[u8]>,
        timeout: Duration,
    ) -> Output {
        if self.leader == 0 {
            return fake_output(125, "the machine is not running");
        }
        let mut cmd = Command::new("nsenter");
        let pid = self.leader.to_string();
        cmd.args(["--target", &pid, "--all", "--root", "--wd", "--"]);
        if let Some(user) = user {
            cmd.args(["runuser", "-u", user, "--"]);
        }
        cmd.args(argv);
        cmd.env_clear().env("PATH", PATH).env("LC_ALL", "C").env("HOME", "/root").env("TERM", "dumb");
        if verbose() {
            say(&format!(
                "e2e:   [{}{}] {}",
                self.name,
                user.map(|u| format!(" as {u}")).unwrap_or_default(),
                shell_line(argv)
            ));
        }
        run_bounded(cmd, stdin, timeout)
    }

    /// Runs argv inside as root and returns its stdout; panics with a report unless it exits 0.
    #[track_caller]
    pub fn ok(&self, argv: &[&str]) -> String {
        self.ok_output(None, argv)
    }

    #[track_caller]
    pub fn ok_as(&self, user: &str, argv: &[&str]) -> String {
        self.ok_output(Some(user), argv)
    }

    #[track_caller]
    fn ok_output(&self, user: Option<&str>, argv: &[&str]) -> String {
        let out = self.run_with(user, argv, None, self.timeout);
        if !out.status.success() {
            let who = user.unwrap_or("root");
            panic!("{}", self.report(&format!("command failed inside {} as {who}", self.name), argv, &out));
        }
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A failure report: what failed, the command, its status and output, the machine's state.
    pub fn report(&self, what: &str, argv: &[&str], out: &Output) -> String {
        format!("{}\n{}", describe(what, argv, out), self.state())
    }

    /// What the machine looks like now: failed units and the journal tail, or, when it is not
    /// running, the end of its console log.
    pub fn state(&self) -> String {
        if !self.is_running() {
            return format!(
                "--- machine {} is not running; end of its console log ---\n{}",
                self.name,
                self.console_tail(20)
            );
        }
        let t = Duration::from_secs(15);
        let failed = self.run_with(None, &["systemctl", "--failed", "--no-pager"], None, t);
        let journal = self.run_with(None, &["journalctl", "--no-pager", "-n", "30"], None, t);
        format!(
            "--- machine {}: systemctl --failed ---\n{}--- journalctl -n 30 ---\n{}",
            self.name,
            text(&failed),
            text(&journal)
        )
    }

    fn console_tail(&self, n: usize) -> String {
        let log = fs::read(self.dir.join("console.log")).unwrap_or_default();
        let log = String::from_utf8_lossy(&log);
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Writes a file through the host path of the root (root-owned, mode 0644 unless it existed).
    pub fn write_file(&self, inside: &str, content: &str) {
        let path = self.host_path(inside);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, content).unwrap();
    }

    /// Reads a file through the host path of the root; works when the machine is off, too.
    #[track_caller]
    pub fn read_file(&self, inside: &str) -> String {
        match fs::read(self.host_path(inside)) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => panic!("e2e: cannot read {inside} in {}: {e}\n{}", self.name, self.state()),
        }
    }

    /// Copies the TwinSync binary to /usr/local/bin/twinsync inside.
    pub fn install_binary(&self, host_path: &Path) {
        let dest = self.host_path("/usr/local/bin/twinsync");
        fs::copy(host_path, &dest).unwrap();
        fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Graceful `systemctl poweroff`, bounded; kills the machine if it does not stop. The
    /// directory stays, so its disk can be read from outside (`--root`, `m.root()`).
    pub fn poweroff(&mut self) {
        if !self.is_running() {
            return;
        }
        // The command may lose its connection while the machine goes down: ignore its status.
        self.run_with(None, &["systemctl", "poweroff"], None, Duration::from_secs(30));
        let deadline = Instant::now() + POWEROFF_TIMEOUT;
        while !self.nspawn_exited() {
            if Instant::now() > deadline {
                say(&format!(
                    "e2e: {} did not power off within {} s; killing it",
                    self.name,
                    POWEROFF_TIMEOUT.as_secs()
                ));
                self.kill();
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.nspawn = None;
        self.leader = 0;
    }

    /// True (and forgets the child) once systemd-nspawn has exited.
    fn nspawn_exited(&mut self) -> bool {
        match self.nspawn.as_mut().map(|c| c.try_wait()) {
            None => true,
            Some(Ok(None)) => false,
            Some(_) => {
                self.nspawn = None;
                self.leader = 0;
                true
            }
        }
    }

    /// Hard stop: SIGKILL to the container's PID 1 ends every process in its PID namespace,
    /// then nspawn exits by itself; if it does not, it is killed too.
    fn kill(&mut self) {
        if self.leader != 0 {
            let _ = Command::new("kill").args(["-KILL", &self.leader.to_string()]).status();
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.nspawn_exited() {
            if Instant::now() > deadline {
                if let Some(mut child) = self.nspawn.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.nspawn = None;
        self.leader = 0;
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.kill();
        if std::env::var("TWINSYNC_E2E_KEEP").as_deref() == Ok("1") {
            say(&format!("e2e: kept {} (TWINSYNC_E2E_KEEP=1)", self.dir.display()));
        } else {
            remove_tree(&self.dir);
        }
    }
}

/// The cached, prepared Debian root; made on first use. debootstrap works in a temporary
/// folder that is renamed into place only when complete, so a killed build never leaves a
/// half cache behind (the next run removes the leftover).
pub fn cached_root() -> PathBuf {
    let cache = std::env::var_os("TWINSYNC_E2E_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));
    let key = format!("{SUITE} minbase {INCLUDE} {MIRROR} {PREPARE}");
    let dir = cache.join(format!("{SUITE}-{:012x}", fnv1a(key.as_bytes()) >> 16));
    if dir.is_dir() {
        return dir;
    }
    fs::create_dir_all(&cache).unwrap();
    remove_stale_runs(&cache);
    let tmp = cache.join(format!(".build-{}", std::process::id()));
    if tmp.exists() {
        remove_tree(&tmp);
    }
    say(&format!("e2e: building the Debian root {} (debootstrap, about a minute)", dir.display()));
    let started = Instant::now();
    // Removes the half-made root if anything below panics.
    struct Cleanup<'a>(&'a Path, bool);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            if !self.1 {
                remove_tree(self.0);
            }
        }
    }
    let mut guard = Cleanup(&tmp, false);
    let t = tmp.to_str().unwrap();
    let include = format!("--include={INCLUDE}");
    host_ok(&["debootstrap", "--variant=minbase", &include, SUITE, t, MIRROR], DEBOOTSTRAP_TIMEOUT);
    prepare(&tmp);
    fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    if std::fs::rename(&tmp, &dir).is_err() && dir.is_dir() {
        remove_tree(&tmp); // another run finished first; use its root
    }
    guard.1 = true;
    say(&format!("e2e: built {} in {:.0} s", dir.display(), started.elapsed().as_secs_f64()));
    dir
}

/// One-time changes to the fresh root: a fixed host name, the user `ana` with a home,
/// a persistent journal (so `journalctl --root` works on the stopped disk), no package cache.
fn prepare(root: &Path) {
    let r = root.to_str().unwrap();
    fs::write(root.join("etc/hostname"), format!("{HOSTNAME}\n")).unwrap();
    fs::write(
        root.join("etc/hosts"),
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
    )
    .unwrap();
    host_ok(&["chroot", r, "useradd", "--create-home", "--shell", "/bin/bash", USER], CMD_TIMEOUT);
    fs::create_dir_all(root.join("var/log/journal")).unwrap();
    host_ok(&["chroot", r, "apt-get", "clean"], CMD_TIMEOUT);
}

/// Runs a command on the host, bounded; panics with a report unless it exits 0.
#[track_caller]
pub fn host_ok(argv: &[&str], timeout: Duration) -> String {
    let out = host(argv, timeout);
    if !out.status.success() {
        panic!("{}", describe("command failed on the host", argv, &out));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command on the host with LC_ALL=C, bounded; never panics.
pub fn host(argv: &[&str], timeout: Duration) -> Output {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).env("LC_ALL", "C");
    if verbose() {
        say(&format!("e2e:   [host] {}", shell_line(argv)));
    }
    run_bounded(cmd, None, timeout)
}

/// Spawns cmd in its own process group, feeds stdin, collects stdout and stderr, and kills the
/// whole group when the timeout passes (nsenter forks: killing only nsenter would leave the
/// command running inside). A process that keeps the pipes open after the command exited is
/// given until the same deadline, then killed too.
pub fn run_bounded(mut cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> Output {
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return fake_output(127, &format!("cannot start {:?}: {e}", cmd.get_program())),
    };
    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let data = data.to_vec();
        std::thread::spawn(move || pipe.write_all(&data));
    }
    let (tx, rx) = mpsc::channel();
    for (i, pipe) in [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        let tx = tx.clone();
        let mut pipe = pipe.unwrap();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((i, buf));
        });
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let pgid = child.id();
    let kill_group = || {
        let _ =
            Command::new("kill").args(["-KILL", "--", &format!("-{pgid}")]).stderr(Stdio::null()).status();
    };
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                timed_out = true;
                kill_group();
                let _ = child.kill();
                break child.wait().unwrap_or_else(|_| ExitStatus::from_raw(9));
            }
        }
    };
    let mut outputs = [Vec::new(), Vec::new()];
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        match rx.recv_timeout(left) {
            Ok((i, buf)) => outputs[i] = buf,
            Err(_) => {
                kill_group();
                outputs[1].extend_from_slice(b"\n[e2e: a process kept the output open; killed]\n");
                break;
            }
        }
    }
    let [stdout, mut stderr] = outputs;
    if timed_out {
        stderr.extend_from_slice(
            format!("\n[e2e: killed after the {} s timeout]\n", timeout.as_secs()).as_bytes(),
        );
    }
    Output { status, stdout, stderr }
}

/// The failing command in a form a person can paste and read. The first line of `what` heads
/// the report; further lines (an expected text, a difference) follow the command's output.
pub fn describe(what: &str, argv: &[&str], out: &Output) -> String {
    let (head, details) = what.split_once('\n').unwrap_or((what, ""));
    format!(
        "e2e: {head}\n  command: {}\n  status: {}\n--- stdout ---\n{}--- stderr ---\n{}{}",
        shell_line(argv),
        out.status,
        text_of(&out.stdout),
        text_of(&out.stderr),
        if details.is_empty() { String::new() } else { format!("{details}\n") }
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        text_of(&out.stdout),
        if out.stderr.is_empty() { String::new() } else { text_of(&out.stderr) }
    )
}

fn text_of(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.is_empty() {
        "(empty)\n".to_string()
    } else if s.ends_with('\n') {
        s.into_owned()
    } else {
        format!("{s}\n")
    }
}

/// argv quoted for a POSIX shell where needed.
pub fn shell_line(argv: &[&str]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.to_string()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn fake_output(code: i32, message: &str) -> Output {
    Output {
        status: ExitStatus::from_raw(code << 8),
        stdout: Vec::new(),
        stderr: format!("{message}\n").into_bytes(),
    }
}

/// PIDs of the children of pid (from /proc/PID/task/*/children).
fn children(pid: u32) -> Vec<u32> {
    let mut pids = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
                pids.extend(list.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    pids
}

/// Removes NAME-PID run folders (and .build-PID cache builds) whose test process is gone:
/// what a killed run left behind. Folders of live processes are left alone.
fn remove_stale_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.rsplit(['-', '.']).next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let is_run = base == Path::new(RUN_BASE) || name.starts_with(".build-");
        if is_run && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            say(&format!("e2e: removing {} (left by a run that died)", entry.path().display()));
            kill_processes_under(&entry.path());
            remove_tree(&entry.path());
        }
    }
}

/// SIGKILL to every process whose root file system is the run folder's root/: a container
/// orphaned by a killed run. (/proc/PID/root reads "/" inside a container's mount namespace,
/// so this looks at the source of its "/" mount in /proc/PID/mountinfo instead.)
fn kill_processes_under(dir: &Path) {
    let Ok(procs) = std::fs::read_dir("/proc") else { return };
    let suffix = format!("/{}/root", dir.file_name().unwrap().to_string_lossy());
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(mountinfo) = std::fs::read_to_string(p.path().join("mountinfo")) else { continue };
        let in_run = mountinfo.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 4
                && f[4] == "/"
                && f[3].trim_end_matches("//deleted").trim_end_matches('/').ends_with(&suffix)
        });
        if in_run {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
    std::thread::sleep(Duration::from_millis(500));
}

/// rm -rf that never crosses into another file system (a stray mount is left, not emptied).
fn remove_tree(path: &Path) {
    let p = path.to_str().unwrap();
    let out = host(&["rm", "-rf", "--one-file-system", "--", p], COPY_TIMEOUT);
    if !out.status.success() {
        say(&format!("e2e: warning: could not remove {p}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

fn verbose() -> bool {
    std::env::var("TWINSYNC_E2E_VERBOSE").as_deref() == Ok("1")
}

/// Progress straight to the process's stderr: the test harness captures only print!/eprint!,
/// so these lines show while the suite runs even without --nocapture.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
