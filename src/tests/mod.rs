//! Test helpers: temporary folders, captured samples, and a sandbox machine that the whole
//! program runs against in-process (`run(args)` with `--root`, `--home`, `--config`, `--state`
//! and `--twin` all pointing into a temporary folder). Nothing here touches this computer's
//! real `/` or home.

mod apply;
mod domains;
mod github;
mod remote;
mod snapshot;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary folder, removed when dropped.
pub(crate) struct TempDir {
    path: PathBuf,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("twinsync-test-{}-{name}-{id}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A sample of real tool output from `testdata/samples/`.
pub(crate) fn sample(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/samples").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (key, class, actions, seen, letters) of each planned item, for compact assertions.
pub(crate) type PlannedSummary = (String, crate::planfile::Class, Vec<String>, String, String);

pub(crate) fn planned_summary(items: &[crate::planfile::Planned]) -> Vec<PlannedSummary> {
    items
        .iter()
        .map(|i| {
            let actions = i.actions.iter().map(|(v, a)| format!("{v} {a}")).collect();
            (i.key.clone(), i.class, actions, i.seen.clone(), i.letters.clone())
        })
        .collect()
}

/// The one item a planner returned, summed up.
pub(crate) fn one_planned(items: &[crate::planfile::Planned]) -> PlannedSummary {
    assert_eq!(items.len(), 1, "{items:?}");
    planned_summary(items).remove(0)
}

pub(crate) fn is_root() -> bool {
    crate::host::euid() == 0
}

/// A machine made of files: a root with `/etc` and a home, plus the config, state and twin
/// folders TwinSync is pointed at.
pub(crate) struct Sandbox {
    _dir: Option<TempDir>,
    pub(crate) root: PathBuf,
    pub(crate) twin: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) state: PathBuf,
}

impl Sandbox {
    pub(crate) fn new(name: &str) -> Sandbox {
        let dir = TempDir::new(name);
        let root = dir.path().join("root");
        let sb = Sandbox {
            root: root.clone(),
            twin: dir.path().join("twin"),
            config: dir.path().join("cfg/config"),
            state: dir.path().join("state"),
            _dir: Some(dir),
        };
        sb.write("/etc/passwd", "root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000:Ana:/home/ana:/bin/bash\n");
        sb.write("/etc/group", "root:x:0:\nana:x:1000:\n");
        sb.write("/etc/hostname", "sandbox\n");
        sb.write("/etc/hosts", "127.0.0.1 localhost\n");
        sb.write("/home/ana/.config/htop/htoprc", "fields=0 48 17\n");
        sb
    }

    /// Writes a file of the machine (a machine path), creating its folders.
    pub(crate) fn write(&self, machine_path: &str, content: &str) {
        let p = self.path(machine_path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }

    pub(crate) fn path(&self, machine_path: &str) -> PathBuf {
        self.root.join(machine_path.trim_start_matches('/'))
    }

    /// A sandbox another process made (the kill test's child); nothing is removed on drop.
    pub(crate) fn at(dir: &Path) -> Sandbox {
        Sandbox {
            root: dir.join("root"),
            twin: dir.join("twin"),
            config: dir.join("cfg/config"),
            state: dir.join("state"),
            _dir: None,
        }
    }

    /// The folder holding root, twin, config and state.
    pub(crate) fn dir(&self) -> &Path {
        self.root.parent().unwrap()
    }

    /// The arguments that point TwinSync at this sandbox.
    pub(crate) fn args(&self, args: &[&str]) -> Vec<OsString> {
        let mut res: Vec<OsString> = args.iter().map(OsString::from).collect();
        for (k, v) in [
            ("--root", &self.root),
            ("--twin", &self.twin),
            ("--config", &self.config),
            ("--state", &self.state),
        ] {
            res.push(k.into());
            res.push(v.into());
        }
        res.extend(["--home", "/home/ana", "--user", "ana", "-q"].map(OsString::from));
        res
    }

    /// Runs twinsync in-process; Ok(exit code) or the error's exit code and message.
    pub(crate) fn run(&self, args: &[&str]) -> Result<u8, (u8, String)> {
        match crate::run(self.args(args)) {
            Ok(code) => Ok(if code == std::process::ExitCode::SUCCESS { 0 } else { 1 }),
            Err(e) => Err((e.exit_code(), e.to_string())),
        }
    }

    #[track_caller]
    pub(crate) fn ok(&self, args: &[&str]) {
        if let Err((code, msg)) = self.run(args) {
            panic!("twinsync {args:?} failed with exit {code}: {msg}");
        }
    }

    /// Runs git in the twin (with no global config) and returns its stdout.
    #[track_caller]
    pub(crate) fn git(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.twin)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "editor")
            .env("GIT_AUTHOR_EMAIL", "editor@example.org")
            .env("GIT_COMMITTER_NAME", "editor")
            .env("GIT_COMMITTER_EMAIL", "editor@example.org")
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// A file of the twin.
    pub(crate) fn twin_file(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.twin.join(path)).ok()
    }

    pub(crate) fn write_twin(&self, path: &str, content: &str) {
        let p = self.twin.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub(crate) fn commits(&self) -> usize {
        self.git(&["rev-list", "--count", "HEAD"]).trim().parse().unwrap()
    }
}
