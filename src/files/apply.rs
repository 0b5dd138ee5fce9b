//! Applying a files plan and undoing it: the only code that changes files on the machine.
//!
//! `check` validates every line against the machine and the twin before anything runs (a stale
//! line stops the whole plan). `apply` then, per line: copies the old file into the run's
//! backups, records the step in the journal, creates missing folders, and writes the new file
//! atomically — a dot-named temporary file in the target's own folder, owner and mode set, fsync,
//! rename over the target, fsync of the folder. Nothing is ever written through a symlink: every
//! folder on the way must be a real folder, and a symlink at the target is replaced, not followed.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::Accounts;
use crate::host::Host;
use crate::journal::{self, crash_point, Counts, Log, Run};
use crate::name::Name;
use crate::planfile::{FileState, Meta, Plan};
use crate::statcache::StatCache;
use crate::twin::blob_id;

/// What apply needs to read the machine and the twin.
pub(crate) struct Target<'a> {
    pub(crate) host: &'a Host,
    pub(crate) accounts: &'a Accounts,
    pub(crate) twin_dir: &'a Path,
    /// The twin's `metadata.txt`: machine path → `TYPE MODE OWNER GROUP`.
    pub(crate) twin_meta: &'a BTreeMap<String, Name>,
}

/// A plan line that passed every check, ready to run.
pub(crate) struct Step {
    pub(crate) line: usize,
    pub(crate) verb: String,
    pub(crate) path: String,
    /// The machine's state when checked.
    pub(crate) live: FileState,
    /// What CREATE and REPLACE write.
    pub(crate) write: Option<Write>,
}

pub(crate) struct Write {
    link: bool,
    bytes: Vec<u8>,
    mode: u32,
    uid: u32,
    gid: u32,
    /// The state the machine will be in: the journal's NEW.
    pub(crate) state: FileState,
    /// Missing folders to create first, outermost first.
    dirs: Vec<NewDir>,
}

struct NewDir {
    path: String,
    mode: u32,
    uid: u32,
    gid: u32,
    /// `owner:group` as names, for people.
    owner: String,
}

/// What stands at a path, looked at without following any symlink.
enum Found {
    Absent,
    /// A folder on the way is a symlink or not a folder.
    Blocked,
    Here(std::fs::Metadata),
}

/// Looks at `base` + machine path, refusing to pass through a symlink on the way.
fn look(base: &Path, path: &str) -> std::io::Result<Found> {
    let mut cur = base.to_path_buf();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        cur.push(seg);
        match std::fs::symlink_metadata(&cur) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Absent),
            Err(e) => return Err(e),
            Ok(m) if i + 1 == segments.len() => return Ok(Found::Here(m)),
            Ok(m) if !m.is_dir() => return Ok(Found::Blocked),
            Ok(_) => {}
        }
    }
    Ok(Found::Absent)
}

fn read_entry(path: &Path, link: bool) -> std::io::Result<Vec<u8>> {
    Ok(if link {
        std::fs::read_link(path)?.into_os_string().into_encoded_bytes()
    } else {
        std::fs::read(path)?
    })
}

/// The state of a machine path now.
pub(crate) fn live_state(host: &Host, accounts: &Accounts, path: &str) -> Result<FileState, String> {
    let full = host.path(path);
    let m = match look(host.root(), path).map_err(|e| format!("cannot look at {path}: {e}"))? {
        Found::Absent => return Ok(FileState::Absent),
        Found::Blocked => return Ok(FileState::Other),
        Found::Here(m) => m,
    };
    let ft = m.file_type();
    let read = |link| read_entry(&full, link).map_err(|e| format!("cannot read {path}: {e}"));
    Ok(if ft.is_dir() {
        FileState::Dir
    } else if ft.is_symlink() {
        FileState::Link {
            oid: blob_id(&read(true)?),
            owner: Some((accounts.user(m.uid()).into(), accounts.group(m.gid()).into())),
        }
    } else if ft.is_file() {
        FileState::File {
            oid: blob_id(&read(false)?),
            meta: Some(Meta {
                mode: m.mode() & 0o7777,
                owner: accounts.user(m.uid()).into(),
                group: accounts.group(m.gid()).into(),
            }),
        }
    } else {
        FileState::Other
    })
}

/// The twin's version of a machine path, with its `metadata.txt` line where it has one.
pub(crate) fn twin_state(
    twin_dir: &Path,
    twin_meta: &BTreeMap<String, Name>,
    path: &str,
) -> Result<FileState, String> {
    twin_state_cached(twin_dir, twin_meta, path, &mut StatCache::empty())
}

/// `twin_state`, taking the blob id from the stat cache when the file's `lstat` is unchanged
/// (a plan of a large twin then reads only what changed).
pub(crate) fn twin_state_cached(
    twin_dir: &Path,
    twin_meta: &BTreeMap<String, Name>,
    path: &str,
    cache: &mut StatCache,
) -> Result<FileState, String> {
    let base = twin_dir.join("filesystem");
    let m = match look(&base, path).map_err(|e| format!("cannot read the twin's {path}: {e}"))? {
        Found::Absent | Found::Blocked => return Ok(FileState::Absent),
        Found::Here(m) => m,
    };
    let full = base.join(path.trim_start_matches('/'));
    twin_state_walked(&full, &m, twin_meta.get(path).map(|n| n.as_str()), path, cache)
}

/// Whether the twin's folder for machine folder `root` is a real folder, reached without
/// passing through a symlink or a file (`look` on every component once). A walk from there
/// that does not follow symlinks meets only real folders, so `twin_state_walked` may take its
/// entries' `lstat` without looking at every component again.
pub(crate) fn twin_root_is_dir(twin_dir: &Path, root: &str) -> Result<bool, String> {
    let base = twin_dir.join("filesystem");
    Ok(match look(&base, root).map_err(|e| format!("cannot read the twin's {root}: {e}"))? {
        Found::Here(m) => m.is_dir(),
        Found::Absent | Found::Blocked => false,
    })
}

/// `twin_state_cached` for an entry met by a walk of the twin that follows no symlink from a
/// folder `twin_root_is_dir` accepted: `m` is the entry's own `lstat`, `full` its path, `meta`
/// its `metadata.txt` fields.
pub(crate) fn twin_state_walked(
    full: &Path,
    m: &std::fs::Metadata,
    meta: Option<&str>,
    path: &str,
    cache: &mut StatCache,
) -> Result<FileState, String> {
    let ft = m.file_type();
    let mut oid = |link| match cache.lookup(full, m) {
        Some(oid) => Ok(oid),
        None => {
            let bytes = read_entry(full, link).map_err(|e| format!("cannot read the twin's {path}: {e}"))?;
            let oid = blob_id(&bytes);
            cache.record(full, m, oid);
            Ok::<_, String>(oid)
        }
    };
    let state = if ft.is_symlink() {
        FileState::Link { oid: oid(true)?, owner: None }
    } else if ft.is_file() {
        FileState::File { oid: oid(false)?, meta: None }
    } else {
        FileState::Absent
    };
    Ok(with_meta(state, meta))
}

/// A state read without its metadata, with the owner, group and mode of its `metadata.txt`
/// fields where they fit its kind (`f` for a file, `l` for a symlink).
pub(crate) fn with_meta(state: FileState, meta: Option<&str>) -> FileState {
    let words = meta.and_then(words);
    match state {
        FileState::Link { oid, .. } => {
            let owner = match words {
                Some(["l", _, o, g]) => Some((Name::from(o), Name::from(g))),
                _ => None,
            };
            FileState::Link { oid, owner }
        }
        FileState::File { oid, .. } => {
            let meta = match words {
                Some(["f", mode, o, g]) => u32::from_str_radix(mode, 8).ok().map(|mode| Meta {
                    mode,
                    owner: Name::from(o),
                    group: Name::from(g),
                }),
                _ => None,
            };
            FileState::File { oid, meta }
        }
        other => other,
    }
}

/// The four fields of a `metadata.txt` line (`TYPE MODE OWNER GROUP`), without a list.
pub(crate) fn words(fields: &str) -> Option<[&str; 4]> {
    let mut it = fields.split(' ');
    let res = [it.next()?, it.next()?, it.next()?, it.next()?];
    it.next().is_none().then_some(res)
}

/// Checks every line of a files plan against the machine and the twin, before anything runs.
/// Errors name the plan line; any error means nothing may be applied.
pub(crate) fn check(t: &Target, plan: &Plan) -> Result<Vec<Step>, Vec<String>> {
    let file = plan.domain.file_name();
    let mut steps = Vec::new();
    let mut errors = Vec::new();
    for a in plan.actions() {
        let err = |what: String| format!("{file}:{}: {what}", a.line);
        match check_one(t, &a.verb, &a.arg, a.seen.as_deref(), a.wanted.as_deref()) {
            Ok((live, write)) => {
                steps.push(Step { line: a.line, verb: a.verb.clone(), path: a.arg.clone(), live, write })
            }
            Err(what) => errors.push(err(what)),
        }
    }
    if errors.is_empty() {
        Ok(steps)
    } else {
        Err(errors)
    }
}

fn check_one(
    t: &Target,
    verb: &str,
    path: &str,
    seen: Option<&str>,
    wanted: Option<&str>,
) -> Result<(FileState, Option<Write>), String> {
    let live = live_state(t.host, t.accounts, path)?;
    let twin = twin_state(t.twin_dir, t.twin_meta, path)?;
    let stale = "; run `twinsync plan files` again";
    if let Some(seen) = seen {
        if FileState::parse(seen).as_ref() != Some(&live) {
            return Err(format!(
                "{path} changed on this machine since the plan was made (the plan is stale){stale}"
            ));
        }
    }
    if let Some(wanted) = wanted {
        if FileState::parse(wanted).as_ref() != Some(&twin) {
            return Err(format!(
                "the twin's {path} changed since the plan was made (the plan is stale){stale}"
            ));
        }
    }
    let is_entry = |s: &FileState| matches!(s, FileState::File { .. } | FileState::Link { .. });
    match verb {
        "DELETE" => {
            if !is_entry(&live) {
                return Err(format!("DELETE {path}: there is no file or symlink there on this machine"));
            }
            Ok((live, None))
        }
        "CREATE" | "REPLACE" => {
            if !is_entry(&twin) {
                return Err(format!(
                    "{verb} {path}: the twin has no file {}",
                    crate::snapshot::twin_path(path)
                ));
            }
            match (&live, verb) {
                (FileState::Absent, "CREATE") => {}
                (FileState::File { .. } | FileState::Link { .. }, "REPLACE") => {}
                (FileState::Absent, _) => return Err(format!("REPLACE {path}: it does not exist on this machine; use CREATE")),
                (FileState::File { .. } | FileState::Link { .. }, _) => {
                    return Err(format!("CREATE {path}: it already exists on this machine; use REPLACE"))
                }
                (FileState::Dir, _) => return Err(format!("{verb} {path}: a folder stands there; twinsync does not replace folders")),
                _ => {
                    return Err(format!(
                        "{verb} {path}: a symlink or a special file stands there or on the way; twinsync never writes through it"
                    ))
                }
            }
            let write = prepare(t, path, &live, &twin)?;
            Ok((live, Some(write)))
        }
        _ => Err(format!("{verb} is not a files verb")),
    }
}

/// Reads the twin's content and decides owner, mode and the folders to create.
fn prepare(t: &Target, path: &str, live: &FileState, twin: &FileState) -> Result<Write, String> {
    let link = matches!(twin, FileState::Link { .. });
    let full = t.twin_dir.join("filesystem").join(path.trim_start_matches('/'));
    let bytes = read_entry(&full, link).map_err(|e| format!("cannot read the twin's {path}: {e}"))?;
    let oid = match twin {
        FileState::File { oid, .. } | FileState::Link { oid, .. } => oid,
        _ => unreachable!("checked by the caller"),
    };
    if blob_id(&bytes) != *oid {
        return Err(format!("the twin's {path} changed while it was read; run the apply again"));
    }
    let ids = |owner: &str, group: &str| -> Result<(u32, u32), String> {
        let uid = t.accounts.uid(owner).ok_or_else(|| {
            format!("{path}: the owner '{owner}' in the twin's metadata.txt does not exist on this machine")
        })?;
        let gid = t.accounts.gid(group).ok_or_else(|| {
            format!("{path}: the group '{group}' in the twin's metadata.txt does not exist on this machine")
        })?;
        Ok((uid, gid))
    };
    // Missing folders, and the nearest folder that exists (whose owner new things inherit).
    let mut dirs = Vec::new();
    let mut parent = path.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
    let mut missing = Vec::new();
    let existing = loop {
        if parent.is_empty() {
            break t.host.path("/");
        }
        let p = t.host.path(&parent);
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => break p,
            Ok(_) => return Err(format!("{parent} is not a folder on this machine; cannot write {path}")),
            Err(_) => {
                missing.push(parent.clone());
                parent = parent.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            }
        }
    };
    let base = std::fs::symlink_metadata(&existing)
        .map_err(|e| format!("cannot look at {}: {e}", existing.display()))?;
    let (mut puid, mut pgid) = (base.uid(), base.gid());
    for d in missing.into_iter().rev() {
        let (mode, uid, gid) = match t.twin_meta.get(&d).and_then(|m| words(m)) {
            Some(["d", mode, o, g]) => {
                let (u, g) = ids(o, g)?;
                (u32::from_str_radix(mode, 8).unwrap_or(0o755), u, g)
            }
            _ => (0o755, puid, pgid),
        };
        (puid, pgid) = (uid, gid);
        let owner = format!("{}:{}", t.accounts.user(uid), t.accounts.group(gid));
        dirs.push(NewDir { path: d, mode, uid, gid, owner });
    }
    let (mode, uid, gid) = match (twin, live) {
        (FileState::File { meta: Some(m), .. }, _) => {
            let (u, g) = ids(&m.owner, &m.group)?;
            (m.mode, u, g)
        }
        (FileState::Link { owner: Some((o, g)), .. }, _) => {
            let (u, g) = ids(o, g)?;
            (0o777, u, g)
        }
        // No metadata line: a replaced file keeps its mode and owner.
        (_, FileState::File { meta: Some(m), .. }) => {
            let (u, g) = ids(&m.owner, &m.group)?;
            (if link { 0o777 } else { m.mode }, u, g)
        }
        (_, FileState::Link { owner: Some((o, g)), .. }) => {
            let (u, g) = ids(o, g)?;
            (if link { 0o777 } else { 0o644 }, u, g)
        }
        _ => (if link { 0o777 } else { 0o644 }, puid, pgid),
    };
    let (owner, group) = (t.accounts.user(uid).into(), t.accounts.group(gid).into());
    let state = if link {
        FileState::Link { oid: *oid, owner: Some((owner, group)) }
    } else {
        FileState::File { oid: *oid, meta: Some(Meta { mode, owner, group }) }
    };
    Ok(Write { link, bytes, mode, uid, gid, state, dirs })
}

/// One line a person reads before saying yes, and what `--dry-run` prints.
pub(crate) fn describe(step: &Step, backups: &str) -> Vec<String> {
    let mut res = Vec::new();
    if let Some(w) = &step.write {
        for d in &w.dirs {
            res.push(format!("create folder {} (mode {:04o}, owner {})", d.path, d.mode, d.owner));
        }
    }
    if !matches!(step.live, FileState::Absent) {
        res.push(format!("copy {} to {backups}{}", step.path, step.path));
    }
    match (&step.write, step.verb.as_str()) {
        (Some(w), _) => {
            let what = if w.link {
                format!("a symlink to {}", String::from_utf8_lossy(&w.bytes))
            } else {
                format!("{} bytes, mode {:04o}, owner {}", w.bytes.len(), w.mode, owner_text(&w.state))
            };
            res.push(format!("write {} ({what}) through a temporary file and a rename", step.path));
        }
        (None, _) => res.push(format!("delete {}", step.path)),
    }
    res
}

fn owner_text(state: &FileState) -> String {
    match state {
        FileState::File { meta: Some(m), .. } => format!("{}:{}", m.owner, m.group),
        FileState::Link { owner: Some((o, g)), .. } => format!("{o}:{g}"),
        _ => "?".to_string(),
    }
}

/// Runs checked steps in order. The first failure skips the rest. `say` gets one line per step.
pub(crate) fn apply(t: &Target, steps: &[Step], run: &mut Run, say: &mut dyn FnMut(String)) -> Counts {
    let mut counts = Counts::default();
    for (n, step) in steps.iter().enumerate() {
        match apply_one(t, step, n + 1, run) {
            Ok(()) => {
                counts.done += 1;
                say(format!("{} {}", step.verb, step.path));
            }
            Err(why) => {
                counts.failed += 1;
                counts.skipped = steps.len() - n - 1;
                say(format!("FAILED {} {} (plan line {}): {why}", step.verb, step.path, step.line));
                if counts.skipped > 0 {
                    say(format!(
                        "skipped the {} line(s) after it; the machine keeps them as they are",
                        counts.skipped
                    ));
                }
                break;
            }
        }
    }
    counts
}

fn apply_one(t: &Target, step: &Step, n: usize, run: &mut Run) -> Result<(), String> {
    let path = &step.path;
    // The last look: the machine must still be as checked.
    let live = live_state(t.host, t.accounts, path)?;
    if live != step.live {
        return Err("it changed on this machine while applying; left as it is".to_string());
    }
    if let FileState::File { .. } | FileState::Link { .. } = live {
        backup(t.host, path, &live, &run.backup_path(path))?;
    }
    crash_point();
    let new = step.write.as_ref().map(|w| w.state.clone()).unwrap_or(FileState::Absent);
    if let Some(w) = &step.write {
        for d in &w.dirs {
            let full = t.host.path(&d.path);
            // An earlier line of this plan may have made it already.
            if std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            run.record(&format!("mkdir {}", d.path)).map_err(|e| e.message().to_string())?;
            make_dir(&full, d.mode, d.uid, d.gid)
                .map_err(|e| format!("cannot create the folder {}: {e}", d.path))?;
            crash_point();
        }
    }
    run.record(&format!("file {n} {} {} {path}", live.render(), new.render()))
        .map_err(|e| e.message().to_string())?;
    crash_point();
    let full = t.host.path(path);
    match &step.write {
        Some(w) => {
            let temp = beside(&full, &journal::temp_name(&run.id, n, false));
            write_atomic(&full, &temp, w.link, &w.bytes, w.mode, w.uid, w.gid)
                .map_err(|e| format!("cannot write {path}: {e}"))?;
        }
        None => {
            std::fs::remove_file(&full).map_err(|e| format!("cannot delete {path}: {e}"))?;
            crash_point();
            sync_parent(&full).map_err(|e| format!("cannot sync the folder of {path}: {e}"))?;
        }
    }
    Ok(())
}

fn beside(target: &Path, name: &str) -> PathBuf {
    target.parent().unwrap_or(Path::new("/")).join(name)
}

fn sync_parent(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path.parent().unwrap_or(Path::new("/")))?.sync_all()
}

/// Copies a file or symlink into the backups (never next to the target), synced to disk.
fn backup(host: &Host, path: &str, state: &FileState, to: &Path) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot back up {path} to {}: {e}", to.display());
    let full = host.path(path);
    let dir = to.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(err)?;
    let _ = std::fs::remove_file(to);
    match state {
        FileState::Link { .. } => {
            let target = std::fs::read_link(&full).map_err(err)?;
            std::os::unix::fs::symlink(target, to).map_err(err)?;
        }
        _ => {
            let bytes = std::fs::read(&full).map_err(err)?;
            let mut f =
                std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to).map_err(err)?;
            f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(err)?;
        }
    }
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)
}

fn make_dir(full: &Path, mode: u32, uid: u32, gid: u32) -> std::io::Result<()> {
    std::fs::create_dir(full)?;
    std::os::unix::fs::lchown(full, Some(uid), Some(gid))?;
    std::fs::set_permissions(full, std::fs::Permissions::from_mode(mode))?;
    sync_parent(full)
}

/// The atomic write: a temporary file in the same folder, owner and mode set before the
/// rename, fsync of the file and of the folder. A failure removes the temporary file.
fn write_atomic(
    target: &Path,
    temp: &Path,
    link: bool,
    bytes: &[u8],
    mode: u32,
    uid: u32,
    gid: u32,
) -> std::io::Result<()> {
    let _ = std::fs::remove_file(temp);
    let res = (|| {
        if link {
            use std::os::unix::ffi::OsStringExt;
            std::os::unix::fs::symlink(std::ffi::OsString::from_vec(bytes.to_vec()), temp)?;
            crash_point();
            let m = std::fs::symlink_metadata(temp)?;
            if (m.uid(), m.gid()) != (uid, gid) {
                std::os::unix::fs::lchown(temp, Some(uid), Some(gid))?;
            }
        } else {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(temp)?;
            crash_point();
            f.write_all(bytes)?;
            crash_point();
            let m = f.metadata()?;
            if (m.uid(), m.gid()) != (uid, gid) {
                std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
            }
            // After the chown, which clears set-id bits.
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
            f.sync_all()?;
        }
        crash_point();
        std::fs::rename(temp, target)?;
        crash_point();
        sync_parent(target)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(temp);
    }
    res
}

/// What undo will do with one path of a run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Undo {
    /// Put the old version back from the backups (or delete what the run created).
    Restore,
    /// Already as before the run (the step never ran, or an undo already put it back).
    AlreadyBack,
    /// Changed again since the run: left as it is.
    ChangedAgain,
}

/// One `file` line of a journal.
pub(crate) struct Entry {
    n: usize,
    old: FileState,
    new: FileState,
    pub(crate) path: String,
}

pub(crate) enum JournalLine {
    File(Entry),
    Mkdir(String),
}

/// The `file` and `mkdir` lines of a run, in the order they were written.
pub(crate) fn journal_lines(log: &Log) -> Vec<JournalLine> {
    let mut res = Vec::new();
    for line in &log.lines {
        if let Some(p) = line.strip_prefix("mkdir ") {
            res.push(JournalLine::Mkdir(p.to_string()));
        } else if let Some(rest) = line.strip_prefix("file ") {
            let mut it = rest.splitn(4, ' ');
            let (Some(n), Some(old), Some(new), Some(path)) = (it.next(), it.next(), it.next(), it.next())
            else {
                continue;
            };
            if let (Ok(n), Some(old), Some(new)) = (n.parse(), FileState::parse(old), FileState::parse(new)) {
                res.push(JournalLine::File(Entry { n, old, new, path: path.to_string() }));
            }
        }
    }
    res
}

/// What undo would do with one entry, looking at the machine now.
pub(crate) fn undo_kind(host: &Host, accounts: &Accounts, e: &Entry) -> Result<Undo, String> {
    let live = live_state(host, accounts, &e.path)?;
    Ok(if live == e.new && e.new != e.old {
        Undo::Restore
    } else if live == e.old {
        Undo::AlreadyBack
    } else {
        Undo::ChangedAgain
    })
}

/// Verb-like words for the undo preview.
pub(crate) fn undo_text(e: &Entry) -> String {
    match (&e.old, &e.new) {
        (FileState::Absent, _) => format!("remove {} (the run created it)", e.path),
        (_, FileState::Absent) => format!("put back {} (the run deleted it)", e.path),
        _ => format!("put back the old {} (the run replaced it)", e.path),
    }
}

/// Removes temporary files a killed run (or undo) may have left beside its targets.
pub(crate) fn clean_temps(host: &Host, log: &Log) {
    for line in journal_lines(log) {
        if let JournalLine::File(e) = line {
            if let Ok(Found::Here(_) | Found::Absent) = look(host.root(), &e.path) {
                let full = host.path(&e.path);
                for undo in [false, true] {
                    let temp = beside(&full, &journal::temp_name(&log.id, e.n, undo));
                    if std::fs::symlink_metadata(&temp).is_ok() {
                        let _ = std::fs::remove_file(&temp);
                    }
                }
            }
        }
    }
}

/// Puts back what a run changed, newest step first. A path that changed again since the run
/// is left as it is and counted as failed; the rest are still restored.
pub(crate) fn undo(
    host: &Host,
    accounts: &Accounts,
    state_dir: &Path,
    log: &Log,
    say: &mut dyn FnMut(String),
) -> Counts {
    let mut counts = Counts::default();
    for line in journal_lines(log).into_iter().rev() {
        match line {
            JournalLine::Mkdir(p) => {
                // Only an empty folder goes; anything a person put there since stays.
                let full = host.path(&p);
                if let Ok(Found::Here(m)) = look(host.root(), &p) {
                    if m.is_dir() && std::fs::remove_dir(&full).is_ok() {
                        let _ = sync_parent(&full);
                    }
                }
            }
            JournalLine::File(e) => match undo_kind(host, accounts, &e) {
                Ok(Undo::AlreadyBack) => counts.skipped += 1,
                Ok(Undo::ChangedAgain) => {
                    counts.failed += 1;
                    say(format!("NOT UNDONE {}: it changed again since the run; left as it is", e.path));
                }
                Ok(Undo::Restore) => match restore(host, accounts, state_dir, log, &e) {
                    Ok(()) => {
                        counts.done += 1;
                        say(undo_text(&e));
                    }
                    Err(why) => {
                        counts.failed += 1;
                        say(format!("FAILED to undo {}: {why}", e.path));
                    }
                },
                Err(why) => {
                    counts.failed += 1;
                    say(format!("FAILED to undo {}: {why}", e.path));
                }
            },
        }
    }
    counts
}

fn restore(host: &Host, accounts: &Accounts, state_dir: &Path, log: &Log, e: &Entry) -> Result<(), String> {
    let full = host.path(&e.path);
    let (link, oid, mode, owner) = match &e.old {
        FileState::Absent => {
            std::fs::remove_file(&full).map_err(|err| format!("cannot delete {}: {err}", e.path))?;
            return sync_parent(&full).map_err(|err| err.to_string());
        }
        FileState::File { oid, meta: Some(m) } => (false, oid, m.mode, (m.owner.clone(), m.group.clone())),
        FileState::Link { oid, owner: Some(o) } => (true, oid, 0o777, o.clone()),
        _ => return Err("the journal does not say what was there before".to_string()),
    };
    let from = journal::backup_path(state_dir, &log.id, &e.path);
    let bytes =
        read_entry(&from, link).map_err(|err| format!("cannot read the backup {}: {err}", from.display()))?;
    if blob_id(&bytes) != *oid {
        return Err(format!("the backup {} is not what the run replaced; left as it is", from.display()));
    }
    let uid = accounts.uid(&owner.0).ok_or_else(|| format!("the user '{}' no longer exists", owner.0))?;
    let gid = accounts.gid(&owner.1).ok_or_else(|| format!("the group '{}' no longer exists", owner.1))?;
    let temp = beside(&full, &journal::temp_name(&log.id, e.n, true));
    write_atomic(&full, &temp, link, &bytes, mode, uid, gid)
        .map_err(|err| format!("cannot write {}: {err}", e.path))
}
