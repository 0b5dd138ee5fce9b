//! Apply runs: their ids, backups and journals, all in the state folder.
//!
//! ```text
//! <state>/backups/<run>/<absolute path>   copies of the files a run replaced or deleted
//! <state>/journal/<run>                    what the run did, a line per step
//! ```
//!
//! A journal line is written and synced to disk *before* the step it describes, so a run killed
//! at any moment still has a journal that covers everything it may have touched; `undo` compares
//! each path's state on the machine with the old and new states the line records. Backups never
//! go next to a target: include folders (`sudoers.d`, `sites-enabled/`) would load them.
//!
//! Journal lines: `system ROOT`, `mkdir PATH`, `file N OLD NEW PATH` (N names the run's temporary
//! file `.twinsync-<run>-N.tmp` beside PATH), `end DONE FAILED SKIPPED`, `undo`, `undone`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A run being written.
pub(crate) struct Run {
    pub(crate) id: String,
    state: PathBuf,
    file: std::fs::File,
}

/// A run's journal as read back.
pub(crate) struct Log {
    pub(crate) id: String,
    pub(crate) lines: Vec<String>,
}

impl Log {
    pub(crate) fn system(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l.strip_prefix("system "))
    }

    /// The apply finished (whether or not every line succeeded).
    pub(crate) fn finished(&self) -> bool {
        self.lines.iter().any(|l| l.starts_with("end "))
    }

    pub(crate) fn undone(&self) -> bool {
        self.lines.last().is_some_and(|l| l == "undone")
    }

    /// An apply or an undo of this run did not finish: its temporary files may be left.
    pub(crate) fn interrupted(&self) -> bool {
        let undo_started = self.lines.iter().rposition(|l| l == "undo");
        let undo_ended = self.lines.iter().rposition(|l| l == "undone");
        !self.finished() || undo_started > undo_ended
    }
}

fn journal_dir(state: &Path) -> PathBuf {
    state.join("journal")
}

/// The folder of a run's backups.
pub(crate) fn backup_dir(state: &Path, id: &str) -> PathBuf {
    state.join("backups").join(id)
}

/// Where a run keeps its copy of a machine path.
pub(crate) fn backup_path(state: &Path, id: &str, machine_path: &str) -> PathBuf {
    backup_dir(state, id).join(machine_path.trim_start_matches('/'))
}

/// The name of a run's temporary file N, in the folder of its target. It starts with a dot
/// (sudo, run-parts and `*` globs skip it) and is removed by the next twinsync if a crash left it.
pub(crate) fn temp_name(id: &str, n: usize, undo: bool) -> String {
    let kind = if undo { "undo" } else { "tmp" };
    format!(".twinsync-{id}-{n}.{kind}")
}

impl Run {
    /// Starts a new run; its id is the UTC time (unique within the state folder).
    pub(crate) fn start(state: &Path, system: &str) -> Result<Run> {
        let dir = journal_dir(state);
        fs_err::create_dir_all(&dir)?;
        let now = time::OffsetDateTime::now_utc();
        let base = format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        for n in 1..1000 {
            let id = if n == 1 { base.clone() } else { format!("{base}-{n}") };
            let open = std::fs::OpenOptions::new().append(true).create_new(true).open(dir.join(&id));
            match open {
                Ok(file) => {
                    let mut run = Run { id, state: state.to_path_buf(), file };
                    run.record(&format!("system {system}"))?;
                    sync_dir(&dir)?;
                    return Ok(run);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("start the apply journal", e)),
            }
        }
        Err(Error::failed(format!("could not name a new run in {}", dir.display())))
    }

    /// Opens an existing run's journal to add lines (undo).
    pub(crate) fn reopen(state: &Path, id: &str) -> Result<Run> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(journal_dir(state).join(id))
            .map_err(|e| Error::io(&format!("open the journal of run {id}"), e))?;
        Ok(Run { id: id.to_string(), state: state.to_path_buf(), file })
    }

    /// Appends a line and syncs it to disk before returning.
    pub(crate) fn record(&mut self, line: &str) -> Result<()> {
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io(&format!("write the journal of run {}", self.id), e))
    }

    pub(crate) fn backup_path(&self, machine_path: &str) -> PathBuf {
        backup_path(&self.state, &self.id, machine_path)
    }
}

/// The ids of every run, oldest first.
pub(crate) fn runs(state: &Path) -> Result<Vec<String>> {
    let dir = journal_dir(state);
    let mut res = Vec::new();
    match fs_err::read_dir(&dir) {
        Ok(entries) => {
            for e in entries {
                let e = e?;
                if let Some(name) = e.file_name().to_str() {
                    if !name.starts_with('.') {
                        res.push(name.to_string());
                    }
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io("list the apply runs", e)),
    }
    res.sort();
    Ok(res)
}

pub(crate) fn read(state: &Path, id: &str) -> Result<Log> {
    let path = journal_dir(state).join(id);
    let text = fs_err::read_to_string(&path)?;
    Ok(Log { id: id.to_string(), lines: text.lines().map(str::to_string).collect() })
}

/// Syncs a folder, so that a rename or a new entry in it survives a power cut (fsync(2)).
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(&format!("sync the folder {}", dir.display()), e))
}

/// Tests stop an apply here with SIGKILL, to prove that an apply killed at any point leaves
/// every file either old or new and can still be undone. Only a test build has the hook, and
/// only the variable `TWINSYNC_TEST_CRASH_AT=N` (the N-th point) turns it on.
#[inline]
pub(crate) fn crash_point() {
    #[cfg(test)]
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static PASSED: AtomicUsize = AtomicUsize::new(0);
        if let Some(at) = std::env::var("TWINSYNC_TEST_CRASH_AT").ok().and_then(|v| v.parse::<usize>().ok()) {
            if PASSED.fetch_add(1, Ordering::SeqCst) + 1 == at {
                extern "C" {
                    fn kill(pid: i32, sig: i32) -> i32;
                }
                // SAFETY: kill(2) with our own pid and SIGKILL (9); the process ends here.
                unsafe {
                    kill(std::process::id() as i32, 9);
                }
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                }
            }
        }
    }
}

/// What a domain's apply (or an undo) did, for the report.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) done: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) deferred: usize,
}

impl Counts {
    pub(crate) fn summary(&self) -> String {
        let mut res = format!("{} done, {} failed, {} skipped", self.done, self.failed, self.skipped);
        if self.deferred > 0 {
            res.push_str(&format!(", {} deferred", self.deferred));
        }
        res
    }
}
