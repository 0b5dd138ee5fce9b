//! The stat cache: which blob a file held the last time it was read, so an unchanged file is
//! not read and hashed again (git's index does the same for `git status`).
//!
//! One file, `<state>/stat-cache`, never inside the twin's tree (so never committed). Each line
//! keys a path of this computer (a machine file under `--root`, or a file of the twin's working
//! tree) by its `lstat`: size, mtime and ctime in nanoseconds, inode, device and mode; and gives
//! the blob id of its content. A file whose `lstat` is unchanged is taken to hold that blob.
//!
//! Why that is safe:
//! - ctime is in the key. Writing a file sets its ctime to the current time, and no user call
//!   can set it back (`touch -d` and `utimensat` set mtime and atime only; setting ctime needs the
//!   system clock changed). So an edit that keeps the size and puts the mtime back is still seen.
//! - The racy-git rule: an entry whose mtime or ctime is not older than the start of the run
//!   that wrote it, less `RACY_SLACK`, is not kept, and the file is read again next time. A file
//!   changed after it was read, within the same timestamp tick, would otherwise keep its stat.
//!   The slack covers coarse timestamps (2 s on FAT, the kernel's coarse clock elsewhere).
//! - Only files that passed the content checks (no NUL byte, no secret) are entered for the
//!   machine, and the cache is dropped whole when the content scanner's source changes
//!   (`SCANNER`), so a cached verdict is the verdict the scanner would give. Whatever a snapshot
//!   writes into the twin is read again and scanned again then (`snapshot::observed_bytes`).
//! - Excluded files are never entered: their ids must not be written anywhere.
//!
//! A missing, unreadable or foreign cache file is an empty cache; a cache that cannot be saved
//! costs only time on the next run.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

use fs_err::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::Result;
use crate::twin::Oid;

/// The cache file's first line; a file starting with anything else is ignored.
const FORMAT: &str = "twinsync-stat-cache 1";

/// A fingerprint of the content scanner's source, computed at compile time: a TwinSync whose
/// scanner differs does not trust verdicts an older one cached.
const SCANNER: u64 = fnv1a(include_bytes!("secrets.rs"));

/// How much older than the run that cached it a file's times must be to be trusted.
const RACY_SLACK: Duration = Duration::from_secs(2);

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// What `lstat` says about a file, as far as its content could have changed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Stat {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    ino: u64,
    dev: u64,
    mode: u32,
}

impl Stat {
    pub(crate) fn of(meta: &std::fs::Metadata) -> Stat {
        // i64 nanoseconds reach the year 2262.
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        Stat {
            size: meta.size(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            ino: meta.ino(),
            dev: meta.dev(),
            mode: meta.mode(),
        }
    }
}

/// One entry, kept small (a cache of 100,000 files is held in memory whole): the blob id as
/// 20 bytes, not 40 hex digits.
struct Cached {
    stat: Stat,
    oid: [u8; 20],
    /// Looked up or recorded by this run: only those are saved (a file gone is forgotten).
    seen: bool,
}

/// Paths as raw bytes: hashing a `Path` walks its components, and that showed in profiles.
type Key = Box<[u8]>;

fn key(path: &Path) -> Key {
    path.as_os_str().as_bytes().into()
}

/// The cache of one run: what the last run left, updated with what this run saw. One map,
/// not an old and a new one: at 100,000 files the cache is a large part of the peak memory.
pub(crate) struct StatCache {
    entries: HashMap<Key, Cached>,
    started_ns: i64,
    /// False while the entries are exactly those of the file they were loaded from.
    changed: bool,
}

/// Hex digits by hand: `format!` per byte showed in the no-op snapshot's profile.
fn to_hex(oid: &[u8; 20]) -> Oid {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut res = String::with_capacity(40);
    for b in oid {
        res.push(DIGITS[(b >> 4) as usize] as char);
        res.push(DIGITS[(b & 15) as usize] as char);
    }
    res
}

fn from_hex(hex: &str) -> Option<[u8; 20]> {
    if hex.len() != 40 || !hex.is_ascii() {
        return None;
    }
    let mut res = [0u8; 20];
    for (i, b) in res.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(res)
}

impl StatCache {
    /// An empty cache (nothing is trusted, everything is read).
    pub(crate) fn empty() -> StatCache {
        let started_ns =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        StatCache { entries: HashMap::new(), started_ns, changed: true }
    }

    /// The cache left in `file`; empty when there is none or it is not ours.
    pub(crate) fn load(file: &Path) -> StatCache {
        let mut cache = StatCache::empty();
        if let Ok(f) = std::fs::File::open(file) {
            if let Some(entries) = parse(std::io::BufReader::new(f)) {
                cache.entries = entries;
                cache.changed = false;
            }
        }
        cache
    }

    /// Moves the entries under folder `dir` into a cache of their own, so two walks can use
    /// the cache in parallel threads; `absorb` puts them back before `save`.
    pub(crate) fn split(&mut self, dir: &Path) -> StatCache {
        let mut prefix = dir.as_os_str().as_bytes().to_vec();
        prefix.push(b'/');
        let keys: Vec<Key> = self.entries.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
        let mut res = StatCache {
            entries: HashMap::with_capacity(keys.len()),
            started_ns: self.started_ns,
            changed: false,
        };
        for k in keys {
            if let Some((k, v)) = self.entries.remove_entry(&k) {
                res.entries.insert(k, v);
            }
        }
        res
    }

    pub(crate) fn absorb(&mut self, other: StatCache) {
        self.changed |= other.changed;
        self.entries.extend(other.entries);
    }

    /// The blob `path` holds, when its `lstat` is what it was when it was last read.
    pub(crate) fn lookup(&mut self, path: &Path, meta: &std::fs::Metadata) -> Option<Oid> {
        let stat = Stat::of(meta);
        let hit = self.entries.get_mut(path.as_os_str().as_bytes()).filter(|c| c.stat == stat)?;
        hit.seen = true;
        Some(to_hex(&hit.oid))
    }

    /// Notes that `path`, with this `lstat` (taken before reading it), held blob `oid`.
    pub(crate) fn record(&mut self, path: &Path, meta: &std::fs::Metadata, oid: &Oid) {
        // An id that is not 40 hex digits (never, from `blob_id`) is simply not cached.
        if let Some(oid) = from_hex(oid) {
            self.entries.insert(key(path), Cached { stat: Stat::of(meta), oid, seen: true });
            self.changed = true;
        }
    }

    /// Writes what this run saw (a temp file renamed over the old one, mode 0600), leaving out
    /// racy entries: those whose mtime or ctime is not clearly older than this run's start.
    pub(crate) fn save(&self, file: &Path) -> Result<()> {
        let limit = self.started_ns - RACY_SLACK.as_nanos() as i64;
        // Nothing recorded and every loaded entry seen again: the file already holds exactly
        // what would be written (its entries were not racy when saved, and this run is later).
        if !self.changed && self.entries.values().all(|c| c.seen) {
            return Ok(());
        }
        // Two runs may save at once (a plan beside a snapshot): each writes its own temp file,
        // and the last rename wins; every entry checks itself against the file anyway.
        let tmp = file.with_extension(format!("tmp{}", std::process::id()));
        let f = fs_err::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        let mut out = std::io::BufWriter::new(f);
        writeln!(out, "{FORMAT} {SCANNER:016x}")?;
        for (path, c) in &self.entries {
            let s = &c.stat;
            let raw: &[u8] = path;
            if !c.seen || s.mtime_ns >= limit || s.ctime_ns >= limit || raw.contains(&b'\n') {
                continue;
            }
            let oid = to_hex(&c.oid);
            write!(out, "{} {} {} {} {} {} {oid} ", s.size, s.mtime_ns, s.ctime_ns, s.ino, s.dev, s.mode)?;
            out.write_all(raw)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        drop(out);
        fs_err::rename(&tmp, file)?;
        Ok(())
    }
}

/// The entries of a cache file; None when its header is not this build's.
fn parse(input: impl std::io::BufRead) -> Option<HashMap<Key, Cached>> {
    let mut lines = input.split(b'\n');
    let header = format!("{FORMAT} {SCANNER:016x}");
    if lines.next()?.ok()? != header.as_bytes() {
        return None;
    }
    let mut res = HashMap::new();
    for line in lines {
        if let Some((path, cached)) = parse_line(&line.ok()?) {
            res.insert(path, cached);
        }
    }
    Some(res)
}

/// `SIZE MTIME CTIME INO DEV MODE OID PATH`; None for a damaged line (that file is read again).
fn parse_line(line: &[u8]) -> Option<(Key, Cached)> {
    let mut it = line.splitn(8, |&b| b == b' ');
    let mut field = || std::str::from_utf8(it.next()?).ok();
    let (size, mtime, ctime, ino, dev, mode, oid) =
        (field()?, field()?, field()?, field()?, field()?, field()?, field()?);
    let path = it.next().filter(|p| !p.is_empty())?;
    let stat = Stat {
        size: size.parse().ok()?,
        mtime_ns: mtime.parse().ok()?,
        ctime_ns: ctime.parse().ok()?,
        ino: ino.parse().ok()?,
        dev: dev.parse().ok()?,
        mode: mode.parse().ok()?,
    };
    Some((path.into(), Cached { stat, oid: from_hex(oid)?, seen: false }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_racy_ones_are_dropped() {
        let dir = crate::tests::TempDir::new("statcache");
        let old = dir.path().join("old file");
        let young = dir.path().join("young");
        std::fs::write(&old, "a").unwrap();
        std::fs::write(&young, "b").unwrap();
        let f = std::fs::File::options().write(true).open(&old).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
        let oid = "ce013625030ba8dba906f756967f9e9ca394464a".to_string();
        // Pretend the run started later, so the old file's ctime (now) is clearly older.
        let mut cache = StatCache::empty();
        cache.started_ns += 10_000_000_000;
        let (mo, my) = (std::fs::symlink_metadata(&old).unwrap(), std::fs::symlink_metadata(&young).unwrap());
        cache.record(&old, &mo, &oid);
        cache.record(&young, &my, &oid);
        // The young file's mtime is set into the future: racy, not kept.
        let f = std::fs::File::options().write(true).open(&young).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(3600)).unwrap();
        let my = std::fs::symlink_metadata(&young).unwrap();
        cache.record(&young, &my, &oid);
        let file = dir.path().join("cache");
        cache.save(&file).unwrap();
        let mut back = StatCache::load(&file);
        assert_eq!(back.entries.len(), 1);
        assert_eq!(back.lookup(&old, &mo), Some(oid));
        assert_eq!(back.lookup(&young, &my), None);
    }

    #[test]
    fn an_unchanged_cache_is_not_rewritten_and_a_forgotten_entry_is() {
        use std::os::unix::fs::MetadataExt;
        let dir = crate::tests::TempDir::new("statcache-keep");
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let oid = "ce013625030ba8dba906f756967f9e9ca394464a".to_string();
        let mut cache = StatCache::empty();
        cache.started_ns += 10_000_000_000;
        let (ma, mb) = (std::fs::symlink_metadata(&a).unwrap(), std::fs::symlink_metadata(&b).unwrap());
        cache.record(&a, &ma, &oid);
        cache.record(&b, &mb, &oid);
        let file = dir.path().join("cache");
        cache.save(&file).unwrap();
        let ino = || std::fs::metadata(&file).unwrap().ino();
        let first = ino();
        // Every entry seen again, nothing recorded: the file stays as it is (no new inode).
        let mut back = StatCache::load(&file);
        back.started_ns += 10_000_000_000;
        assert!(back.lookup(&a, &ma).is_some() && back.lookup(&b, &mb).is_some());
        back.save(&file).unwrap();
        assert_eq!(ino(), first);
        // An entry not seen (the file is gone) is forgotten: the file is written again.
        let mut back = StatCache::load(&file);
        back.started_ns += 10_000_000_000;
        assert!(back.lookup(&a, &ma).is_some());
        back.save(&file).unwrap();
        let again = StatCache::load(&file);
        assert_eq!(again.entries.len(), 1);
        assert!(again.entries.contains_key(a.as_os_str().as_bytes()));
    }

    #[test]
    fn a_foreign_or_damaged_file_is_an_empty_cache() {
        assert!(parse(&b"something else\n1 2 3\n"[..]).is_none());
        let header = format!("{FORMAT} {SCANNER:016x}\n");
        let text = format!("{header}1 2 3 4 5 6 nothex /x\n1 2 3 4 5 6 {} /y\n", "a".repeat(40));
        let map = parse(text.as_bytes()).unwrap();
        assert_eq!(map.len(), 1);
        assert!(map.contains_key(&b"/y"[..]));
    }
}
