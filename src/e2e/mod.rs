//! The real-machine suite (`make e2e`): every scenario boots a fresh Debian machine
//! (machine.rs), installs the static binary as /usr/local/bin/twinsync, and runs TwinSync inside
//! it as a user would; results are checked with the real tools inside (dpkg-query, systemctl,
//! crontab, stat, git).
//!
//! Environment:
//!   TWINSYNC_E2E=1            run the suite (also CI=true); otherwise the test only says it did not run
//!   TWINSYNC_BIN=PATH         the static twinsync binary to test (required)
//!   TWINSYNC_E2E_SCENARIO=N   run only scenario N
//!   TWINSYNC_E2E_KEEP=1       keep the machine folders under /var/tmp/twinsync-e2e
//!   TWINSYNC_E2E_VERBOSE=1    print every command as it runs
//!   TWINSYNC_E2E_CACHE=DIR    where the debootstrap root is cached (default /var/cache/twinsync-e2e)
//!
//! Adding a scenario: write `fn name(ctx: &mut Ctx)` in scenarios.rs as a list of steps and add
//! it to `SCENARIOS`. A step that fails panics with a report (the command, its status and
//! output, the machine's state); the other scenarios still run.

// The harness offers more steps than today's scenarios use.
#![allow(dead_code)]

mod machine;
mod scenarios;

pub use machine::{Machine, HOSTNAME, USER};

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

pub type Scenario = fn(&mut Ctx);

pub const SCENARIOS: &[(&str, Scenario)] = &[
    ("snapshot", scenarios::snapshot),
    ("rescue", scenarios::rescue),
    ("sudo_user", scenarios::sudo_user),
    ("files_apply", scenarios::files_apply),
    ("packages_apply", scenarios::packages_apply),
    ("services_startup_apply", scenarios::services_startup_apply),
    ("rescue_apply", scenarios::rescue_apply),
    ("restore_apply", scenarios::restore_apply),
];

/// Where `twinsync` lives inside the machine.
pub const BIN_INSIDE: &str = "/usr/local/bin/twinsync";

/// One scenario's world: a booted machine with TwinSync installed.
pub struct Ctx {
    pub m: Machine,
    /// The static binary on the host (TWINSYNC_BIN), for runs from outside (`--root`).
    pub bin: PathBuf,
    /// The twin inside the machine that `edit_twin` changes; scenarios set it when they use another.
    pub twin: String,
}

impl Ctx {
    pub fn new(name: &str, bin: &Path) -> Ctx {
        let m = Machine::boot(name);
        m.install_binary(bin);
        Ctx { m, bin: bin.to_owned(), twin: "/root/twin".to_string() }
    }

    /// Host scratch folder, removed with the machine.
    pub fn tmp(&self) -> PathBuf {
        self.m.host_dir()
    }

    /// `twinsync ARGS` inside as root; asserts exit 0; returns stdout followed by stderr.
    #[track_caller]
    pub fn twinsync(&self, args: &[&str]) -> String {
        self.twinsync_status(args, 0)
    }

    /// `twinsync ARGS` inside as root; asserts the given exit status; returns stdout + stderr.
    #[track_caller]
    pub fn twinsync_fails(&self, args: &[&str], code: i32) -> String {
        self.twinsync_status(args, code)
    }

    #[track_caller]
    fn twinsync_status(&self, args: &[&str], code: i32) -> String {
        let argv: Vec<&str> = std::iter::once(BIN_INSIDE).chain(args.iter().copied()).collect();
        let out = self.m.run(&argv);
        if out.status.code() != Some(code) {
            let what = format!("expected exit status {code} inside {}", self.m.name());
            panic!("{}", self.m.report(&what, &argv, &out));
        }
        both(&out)
    }

    /// The host's TWINSYNC_BIN run on the host (for `--root` on the stopped machine's disk);
    /// asserts exit 0; returns stdout + stderr. It runs with a HOME and XDG folders of its own
    /// (under `tmp()`), so the host user's TwinSync config and exclusions never leak in.
    #[track_caller]
    pub fn twinsync_outside(&self, args: &[&str]) -> String {
        let bin = self.bin.to_str().unwrap();
        let argv: Vec<&str> = std::iter::once(bin).chain(args.iter().copied()).collect();
        let home = self.tmp().join("outside-home");
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .env("LC_ALL", "C")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".local/state"));
        let out = machine::run_bounded(cmd, None, machine::CMD_TIMEOUT);
        if !out.status.success() {
            panic!("{}", self.m.report("twinsync failed on the host", &argv, &out));
        }
        both(&out)
    }

    /// Runs argv inside as root, asserts exit 0, returns stdout.
    #[track_caller]
    pub fn run(&self, argv: &[&str]) -> String {
        self.m.ok(argv)
    }

    /// The stdout of argv inside equals `expected` (one trailing newline on either side ignored).
    #[track_caller]
    pub fn check_eq(&self, argv: &[&str], expected: &str) {
        let out = self.checked(argv);
        let got = String::from_utf8_lossy(&out.stdout);
        if got.trim_end_matches('\n') != expected.trim_end_matches('\n') {
            let what = format!(
                "output differs from the expected text\n--- expected ---\n{expected}\n\
                 --- first difference ---\n{}",
                first_difference(expected, &got)
            );
            panic!("{}", self.m.report(&what, argv, &out));
        }
    }

    /// The stdout of argv inside contains `needle`.
    #[track_caller]
    pub fn check_contains(&self, argv: &[&str], needle: &str) {
        let out = self.checked(argv);
        if !String::from_utf8_lossy(&out.stdout).contains(needle) {
            panic!("{}", self.m.report(&format!("output does not contain {needle:?}"), argv, &out));
        }
    }

    /// The stdout of argv inside has `line` as one whole line.
    #[track_caller]
    pub fn check_line(&self, argv: &[&str], line: &str) {
        let out = self.checked(argv);
        if !String::from_utf8_lossy(&out.stdout).lines().any(|l| l == line) {
            panic!("{}", self.m.report(&format!("output has no line {line:?}"), argv, &out));
        }
    }

    #[track_caller]
    fn checked(&self, argv: &[&str]) -> Output {
        let out = self.m.run(argv);
        if !out.status.success() {
            panic!("{}", self.m.report("check command failed", argv, &out));
        }
        out
    }

    /// A file's content inside the machine (read through the root's host path, so this works
    /// after poweroff too; not for /tmp or /run, which are tmpfs inside).
    #[track_caller]
    pub fn file(&self, inside: &str) -> String {
        self.m.read_file(inside)
    }

    pub fn exists(&self, inside: &str) -> bool {
        self.m.host_path(inside).symlink_metadata().is_ok()
    }

    /// Fails the scenario with a message and the machine's state.
    #[track_caller]
    pub fn fail(&self, message: &str) -> ! {
        panic!("e2e: {message}\n{}", self.m.state());
    }

    /// Changes a file in the twin as a remote editor would: clone the twin, write the file,
    /// commit as "Remote Editor", and bring the commit into the twin with
    /// `git pull --ff-only CLONE HEAD` — exactly what `twinsync pull` does with a real remote
    /// (a fast-forward of the twin's branch and working tree), without needing one. All of it
    /// runs inside the machine as the owner of the twin, so file owners stay right.
    #[track_caller]
    pub fn edit_twin(&self, path_in_twin: &str, content: &str, message: &str) {
        self.editor(path_in_twin, Some(content), message)
    }

    /// Like `edit_twin`, but deletes the file.
    #[track_caller]
    pub fn delete_in_twin(&self, path_in_twin: &str, message: &str) {
        self.editor(path_in_twin, None, message)
    }

    #[track_caller]
    fn editor(&self, path: &str, content: Option<&str>, message: &str) {
        const SCRIPT: &str = r#"set -eu
twin=$1 path=$2 msg=$3 action=$4
clone=$(mktemp -d /tmp/remote-editor.XXXXXX)
trap 'rm -rf "$clone"' EXIT
git clone -q "$twin" "$clone/twin"
cd "$clone/twin"
if [ "$action" = write ]; then
    mkdir -p "$(dirname "./$path")"
    cat > "./$path"
    git add -- "./$path"
else
    git rm -q -- "./$path"
fi
git -c user.name='Remote Editor' -c user.email=editor@example.invalid commit -q -m "$msg"
cd "$twin"
git pull -q --ff-only "$clone/twin" HEAD
"#;
        let owner = self.run(&["stat", "-c", "%U", &self.twin]);
        let owner = owner.trim();
        let action = if content.is_some() { "write" } else { "delete" };
        let argv = ["sh", "-c", SCRIPT, "edit-twin", &self.twin, path, message, action];
        let user = (owner != "root").then_some(owner);
        let stdin = content.map(str::as_bytes);
        let out = self.m.run_with(user, &argv, stdin, self.m.timeout);
        if !out.status.success() {
            panic!("{}", self.m.report(&format!("editing {path} in the twin failed"), &argv, &out));
        }
    }
}

/// stdout followed by stderr, as one text.
pub fn both(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every entry under `dir` on the host, by path relative to `dir`: "dir", "link -> TARGET" or
/// "file " + content (lossy text). For comparing two trees.
pub fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if meta.is_symlink() {
                let target = std::fs::read_link(&path).unwrap_or_default();
                out.insert(rel, format!("link -> {}", target.display()));
            } else if meta.is_dir() {
                out.insert(rel, "dir".to_string());
                walk(base, &path, out);
            } else {
                let bytes = std::fs::read(&path).unwrap_or_default();
                out.insert(rel, format!("file {}", String::from_utf8_lossy(&bytes)));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Names the entries that differ between two `tree`s (at most 20), or None when equal.
pub fn tree_difference(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Option<String> {
    let mut diffs = Vec::new();
    for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) if x == y => {}
            (Some(_), Some(_)) => diffs.push(format!("differs: {key}")),
            (Some(_), None) => diffs.push(format!("only in the first: {key}")),
            (None, _) => diffs.push(format!("only in the second: {key}")),
        }
    }
    if diffs.is_empty() {
        return None;
    }
    let n = diffs.len();
    diffs.truncate(20);
    Some(format!("{n} entries differ:\n  {}", diffs.join("\n  ")))
}

/// The first line where two texts differ, for readable reports.
pub fn first_difference(expected: &str, got: &str) -> String {
    let (e, g): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), got.lines().collect());
    for i in 0..e.len().max(g.len()) {
        if e.get(i) != g.get(i) {
            return format!("line {}: expected {:?}, got {:?}", i + 1, e.get(i), g.get(i));
        }
    }
    "only trailing newlines differ".to_string()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn e2e() {
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    if env("TWINSYNC_E2E") != "1" && env("CI") != "true" {
        machine::say(
            "\n******************************************************************\n\
             *  end-to-end suite NOT RUN: set TWINSYNC_E2E=1 (make e2e),      *\n\
             *  needs root, debootstrap and systemd-nspawn                    *\n\
             ******************************************************************\n",
        );
        return;
    }
    assert!(is_root(), "e2e: the end-to-end suite needs root (it boots containers): run `sudo make e2e`");
    let bin = env("TWINSYNC_BIN");
    assert!(
        !bin.is_empty(),
        "e2e: set TWINSYNC_BIN to the static twinsync binary (make e2e does: make static)"
    );
    let bin = std::fs::canonicalize(&bin).unwrap_or_else(|e| panic!("e2e: TWINSYNC_BIN={bin}: {e}"));
    let only = env("TWINSYNC_E2E_SCENARIO");
    let chosen: Vec<_> = SCENARIOS.iter().filter(|(name, _)| only.is_empty() || *name == only).collect();
    let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
    assert!(!chosen.is_empty(), "e2e: no scenario named {only:?}; there are: {}", names.join(", "));

    let started = Instant::now();
    let mut failed = Vec::new();
    for (name, scenario) in &chosen {
        machine::say(&format!("e2e: {name} ..."));
        let t = Instant::now();
        // The Ctx lives inside the closure: a panicking step unwinds through its Drop, which
        // powers the machine off and removes its folder before the next scenario starts.
        let result = catch_unwind(AssertUnwindSafe(|| scenario(&mut Ctx::new(name, &bin))));
        let secs = t.elapsed().as_secs_f64();
        if result.is_ok() {
            machine::say(&format!("e2e: {name} ... ok ({secs:.1} s)"));
        } else {
            machine::say(&format!(
                "e2e: {name} ... FAILED ({secs:.1} s); its report is the panic message printed with it"
            ));
            failed.push(*name);
        }
    }
    let total = Duration::from_secs_f64(started.elapsed().as_secs_f64());
    machine::say(&format!(
        "e2e: {} passed, {} failed ({:.1} s){}",
        chosen.len() - failed.len(),
        failed.len(),
        total.as_secs_f64(),
        if failed.is_empty() { String::new() } else { format!(": {}", failed.join(", ")) }
    ));
    assert!(failed.is_empty(), "e2e: failed scenarios: {}", failed.join(", "));
}
