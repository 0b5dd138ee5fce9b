//! The stat cache: which blob a file held the last time it was read, so an unchanged file is
//! not read and hashed again (git's index does the same for `git status`).
//!
//! One file per walked tree (the machine under `--root`, a twin's working tree) in the state
//! folder, never inside the twin's tree (so never committed): `<state>/stat-cache-<hash of the
//! tree's folder>`. Each walk loads and saves its own tree's file, in its own thread. Each
//! entry keys a path below the tree's folder by its `lstat`: size, mtime and ctime in
//! nanoseconds, inode, device and mode; and gives the blob id of its content. A file whose
//! `lstat` is unchanged is taken to hold that blob.
//!
//! Why that is safe:
//! - ctime is in the key. Writing a file sets its ctime to the current time, and no user call
//!   can set it back (`touch -d` and `utimensat` set mtime and atime only; setting ctime needs the
//!   system clock changed). So an edit that keeps the size and puts the mtime back is still seen.
//! - The racy-git rule: an entry whose mtime or ctime is not older than the start of the run
//!   that wrote it, less a slack, is not kept, and the file is read again next time. A file
//!   changed after it was read, within the same timestamp tick, would otherwise keep its stat.
//!   The slack is longer than a tick: a write after the run started gets a ctime of at least
//!   the start less one tick, so it differs from every kept entry's. A tick is the file
//!   system's granularity or the kernel's coarse clock, whichever is coarser. Where timestamps
//!   carry fractions of a second (ext4, xfs, btrfs, tmpfs) the clock's tick is at most 10 ms
//!   (HZ=100), and the slack is `RACY_SLACK`, 100 ms. Where a timestamp has none (FAT keeps
//!   mtime to 2 s, ext3 and small-inode ext4 to 1 s; the kernel truncates a time to the file
//!   system's granularity when it sets it), the slack is `COARSE_RACY_SLACK`, 2 s. A
//!   fine-grained time that happens to fall on a whole second only makes the rule stricter.
//! - Only files that passed the content checks (no NUL byte, no secret) are entered for the
//!   machine, and the cache is dropped whole when the content scanner's source changes
//!   (`SCANNER`), so a cached verdict is the verdict the scanner would give. Whatever a snapshot
//!   writes into the twin is read again and scanned again then (`snapshot::observed_bytes`).
//! - Excluded files are never entered: their ids must not be written anywhere.
//! - A lookup compares the whole path, never only its hash.
//!
//! A missing, unreadable or foreign cache file is an empty cache; a cache that cannot be saved
//! costs only time on the next run.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fs_err::os::unix::fs::OpenOptionsExt;

use crate::error::Result;
use crate::fasthash::hash;
use crate::twin::BlobId;

/// The cache file's first line starts with this; a file starting with anything else is ignored.
const FORMAT: &str = "twinsync-stat-cache 2";

/// A fingerprint of the content scanner's source, computed at compile time: a TwinSync whose
/// scanner differs does not trust verdicts an older one cached.
const SCANNER: u64 = fnv1a(include_bytes!("secrets.rs"));

/// How much older than the run that cached it a file's times must be to be trusted, when
/// they carry fractions of a second: ten ticks of the kernel's coarse clock at HZ=100.
const RACY_SLACK: Duration = Duration::from_millis(100);

/// The same, when a time is a whole second: the file system keeps times to 1 s or 2 s.
const COARSE_RACY_SLACK: Duration = Duration::from_secs(2);

/// Writes a cache file of the state folder whole or not at all: what `write` writes goes to a
/// temp file of its own (named by process and a per-process count, so two writers at once
/// never mix theirs), mode 0600, renamed over the old file; a failed write removes its temp
/// file. Buffered a MiB at a time: a stat cache of 20,000 files is 2 MiB.
pub(crate) fn write_whole(file: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = file.with_extension(format!("tmp{}-{n}", std::process::id()));
    let res = (|| {
        let f = fs_err::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        write(&mut out)?;
        out.flush()?;
        drop(out);
        fs_err::rename(&tmp, file)?;
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

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
    /// Whether a file's entry may be kept by a run that started at `started_ns` (ns since the
    /// epoch): both its times older than the start less the slack (the module's racy rule).
    fn settled(&self, started_ns: i64) -> bool {
        let whole_second = |ns: i64| ns.rem_euclid(1_000_000_000) == 0;
        let coarse = whole_second(self.mtime_ns) || whole_second(self.ctime_ns);
        let slack = if coarse { COARSE_RACY_SLACK } else { RACY_SLACK };
        let limit = started_ns - slack.as_nanos() as i64;
        self.mtime_ns < limit && self.ctime_ns < limit
    }

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

/// One entry; its path is `keys[key.0..key.0 + key.1]`. Paths live in one buffer, not one
/// allocation each: a cache of 100,000 files is held in memory whole.
struct Cached {
    stat: Stat,
    oid: BlobId,
    key: (u32, u32),
    /// Looked up or recorded by this run: only those are saved (a file gone is forgotten).
    seen: bool,
}

/// The index's hash is already a hash: the map takes it as it is.
#[derive(Default)]
struct Unmixed(u64);

impl Hasher for Unmixed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash(bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The cache of one tree for one run: what the last run left, updated with what this run saw.
pub(crate) struct StatCache {
    /// The tree's folder, with a trailing `/`; paths are keyed below it.
    top: Vec<u8>,
    /// Where it is saved; None for a cache that is never saved.
    file: Option<PathBuf>,
    keys: Vec<u8>,
    entries: Vec<Cached>,
    index: HashMap<u64, u32, BuildHasherDefault<Unmixed>>,
    started_ns: i64,
    /// False while the entries are exactly those of the file they were loaded from.
    changed: bool,
    /// Loaded entries not yet seen by this run.
    unseen: usize,
    /// The entry after the last one found.
    next: std::cell::Cell<usize>,
}

impl StatCache {
    /// An empty cache that is never saved (nothing is trusted, everything is read).
    pub(crate) fn empty() -> StatCache {
        let started_ns =
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0);
        StatCache {
            top: b"/".to_vec(),
            file: None,
            keys: Vec::new(),
            entries: Vec::new(),
            index: HashMap::default(),
            started_ns,
            changed: true,
            unseen: 0,
            next: std::cell::Cell::new(0),
        }
    }

    /// The cache of the tree under folder `top`, kept in the state folder `state_dir`; empty
    /// when there is none or it is not ours.
    pub(crate) fn load(state_dir: &Path, top: &Path) -> StatCache {
        let mut cache = StatCache::empty();
        cache.top = top.as_os_str().as_bytes().to_vec();
        if cache.top.last() != Some(&b'/') {
            cache.top.push(b'/');
        }
        let file = state_dir.join(format!("stat-cache-{:016x}", fnv1a(&cache.top)));
        // The one file of every tree that TwinSync 0.1 kept (format 1), now never read.
        let _ = std::fs::remove_file(state_dir.join("stat-cache"));
        if let Ok(bytes) = std::fs::read(&file) {
            if cache.parse(&bytes).is_none() {
                cache.keys.clear();
                cache.entries.clear();
                cache.index.clear();
            } else {
                cache.changed = false;
                cache.unseen = cache.entries.len();
            }
        }
        cache.file = Some(file);
        cache
    }

    /// The path below the tree's folder, or None for a path elsewhere (never cached).
    fn rel<'a>(&self, path: &'a Path) -> Option<&'a [u8]> {
        path.as_os_str().as_bytes().strip_prefix(self.top.as_slice()).filter(|r| !r.is_empty())
    }

    fn key_is(&self, i: usize, key: &[u8]) -> bool {
        let (off, len) = (self.entries[i].key.0 as usize, self.entries[i].key.1 as usize);
        self.keys[off..off + len] == *key
    }

    fn find(&self, key: &[u8]) -> Option<usize> {
        self.find_hashed(key, || hash(key))
    }

    /// `find`, with the key's hash computed by `h` only when the index is needed.
    fn find_hashed(&self, key: &[u8], h: impl FnOnce() -> u64) -> Option<usize> {
        // Entries are saved in the order the walk met them, and a folder that did not change
        // is listed in the same order again: the entry after the last hit is tried first, so
        // most lookups read the entries in order instead of at random through the index.
        let next = self.next.get();
        let i = if next < self.entries.len() && self.key_is(next, key) {
            next
        } else {
            let i = *self.index.get(&h())? as usize;
            if !self.key_is(i, key) {
                return None;
            }
            i
        };
        self.next.set(i + 1);
        Some(i)
    }

    fn insert(&mut self, key: &[u8], stat: Stat, oid: BlobId, seen: bool) {
        let h = hash(key);
        if let Some(i) = self.find_hashed(key, || h) {
            let c = &mut self.entries[i];
            if seen && !c.seen {
                self.unseen = self.unseen.saturating_sub(1);
            }
            (c.stat, c.oid, c.seen) = (stat, oid, seen);
            return;
        }
        let (Ok(off), Ok(len), Ok(i)) =
            (u32::try_from(self.keys.len()), u32::try_from(key.len()), u32::try_from(self.entries.len()))
        else {
            return;
        };
        self.keys.extend_from_slice(key);
        self.entries.push(Cached { stat, oid, key: (off, len), seen });
        // Another path with the same hash loses its slot: it is only read again.
        self.index.insert(h, i);
    }

    /// How many entries the cache holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The blob `path` holds, when its `lstat` is what it was when it was last read.
    pub(crate) fn lookup(&mut self, path: &Path, meta: &std::fs::Metadata) -> Option<BlobId> {
        let i = self.find(self.rel(path)?)?;
        let hit = &mut self.entries[i];
        if hit.stat != Stat::of(meta) {
            return None;
        }
        if !hit.seen {
            hit.seen = true;
            self.unseen -= 1;
        }
        Some(hit.oid)
    }

    /// Notes that `path`, with this `lstat` (taken before reading it), held blob `oid`.
    pub(crate) fn record(&mut self, path: &Path, meta: &std::fs::Metadata, oid: BlobId) {
        if let Some(key) = self.rel(path) {
            self.insert(key, Stat::of(meta), oid, true);
            self.changed = true;
        }
    }

    /// Whether `path` has an entry (tests look at what a run cached).
    #[cfg(test)]
    pub(crate) fn holds(&self, path: &Path) -> bool {
        self.rel(path).and_then(|k| self.find(k)).is_some()
    }

    /// Writes what this run saw (a temp file renamed over the old one, mode 0600), leaving out
    /// racy entries: those whose mtime or ctime is not clearly older than this run's start.
    pub(crate) fn save(&self) -> Result<()> {
        let Some(file) = &self.file else { return Ok(()) };
        // Nothing recorded and every loaded entry seen again: the file already holds exactly
        // what would be written (its entries were not racy when saved, and this run is later).
        if !self.changed && self.unseen == 0 {
            return Ok(());
        }
        // Two saves may run at once (a plan beside a snapshot, two threads of one run): the
        // last rename wins; every entry checks itself against the file anyway.
        write_whole(file, |out| {
            out.write_all(format!("{FORMAT} {SCANNER:016x}\n").as_bytes())?;
            out.write_all(&self.top)?;
            out.write_all(b"\n")?;
            for c in &self.entries {
                let s = &c.stat;
                if !c.seen || !s.settled(self.started_ns) {
                    continue;
                }
                let (off, len) = (c.key.0 as usize, c.key.1 as usize);
                let mut rec = [0u8; RECORD];
                rec[0..8].copy_from_slice(&s.size.to_le_bytes());
                rec[8..16].copy_from_slice(&s.mtime_ns.to_le_bytes());
                rec[16..24].copy_from_slice(&s.ctime_ns.to_le_bytes());
                rec[24..32].copy_from_slice(&s.ino.to_le_bytes());
                rec[32..40].copy_from_slice(&s.dev.to_le_bytes());
                rec[40..44].copy_from_slice(&s.mode.to_le_bytes());
                rec[44..64].copy_from_slice(&c.oid.0);
                rec[64..68].copy_from_slice(&c.key.1.to_le_bytes());
                out.write_all(&rec)?;
                out.write_all(&self.keys[off..off + len])?;
            }
            Ok(())
        })
    }

    /// Reads a cache file: the header line, the tree's folder line, then records of
    /// `RECORD` bytes (little endian: size, mtime, ctime, inode, device, mode, blob id, path
    /// length) each followed by its path. None when the header or the folder is not this
    /// cache's, or the file is cut short.
    fn parse(&mut self, bytes: &[u8]) -> Option<()> {
        let header = format!("{FORMAT} {SCANNER:016x}\n");
        let rest = bytes.strip_prefix(header.as_bytes())?;
        let rest = rest.strip_prefix(self.top.as_slice())?.strip_prefix(b"\n")?;
        // Sized exactly, from a first pass over the records' lengths: grown entry by entry,
        // the lists held up to twice their size at 100,000 files.
        let (mut count, mut key_bytes, mut at) = (0, 0, 0);
        while let Some(rec) = rest.get(at..at + RECORD) {
            let len = u32::from_le_bytes(rec[64..68].try_into().ok()?) as usize;
            (count, key_bytes, at) = (count + 1, key_bytes + len, at + RECORD + len);
        }
        self.entries.reserve_exact(count);
        self.keys.reserve_exact(key_bytes);
        self.index.reserve(count);
        let mut at = 0;
        let u64_at = |r: &[u8], i: usize| u64::from_le_bytes(r[i..i + 8].try_into().unwrap_or_default());
        while at < rest.len() {
            let rec = rest.get(at..at + RECORD)?;
            let len = u32::from_le_bytes(rec[64..68].try_into().ok()?) as usize;
            let key = rest.get(at + RECORD..at + RECORD + len)?;
            let stat = Stat {
                size: u64_at(rec, 0),
                mtime_ns: u64_at(rec, 8) as i64,
                ctime_ns: u64_at(rec, 16) as i64,
                ino: u64_at(rec, 24),
                dev: u64_at(rec, 32),
                mode: u32::from_le_bytes(rec[40..44].try_into().ok()?),
            };
            let oid = BlobId(rec[44..64].try_into().ok()?);
            if !key.is_empty() {
                self.insert(key, stat, oid, false);
            }
            at += RECORD + len;
        }
        Some(())
    }
}

/// The fixed part of a record in the cache file.
const RECORD: usize = 68;

#[cfg(test)]
mod tests {
    use super::*;

    fn oid() -> BlobId {
        BlobId::from("ce013625030ba8dba906f756967f9e9ca394464a")
    }

    #[test]
    fn an_entry_is_kept_once_its_times_are_older_than_the_start_less_the_slack() {
        let start: i64 = 1_800_000_000_123_456_789;
        let stat = |mtime_ns: i64, ctime_ns: i64| Stat {
            size: 1,
            mtime_ns,
            ctime_ns,
            ino: 1,
            dev: 1,
            mode: 0o100644,
        };
        let ms = 1_000_000;
        // Fine timestamps: 100 ms of slack.
        assert!(stat(start - 101 * ms, start - 101 * ms).settled(start));
        assert!(!stat(start - 99 * ms, start - 500 * ms).settled(start), "a young mtime");
        assert!(!stat(start - 500 * ms, start - 99 * ms).settled(start), "a young ctime");
        assert!(!stat(start - 500 * ms, start + 1).settled(start), "a ctime after the start");
        // A time without a fraction of a second (FAT, ext3): 2 s of slack.
        let second = (start / 1_000_000_000 - 1) * 1_000_000_000;
        assert!(!stat(second, start - 500 * ms).settled(start), "mtime on a whole second, 1.1 s old");
        assert!(!stat(start - 500 * ms, second).settled(start), "ctime on a whole second");
        let older = second - 1_000_000_000;
        assert!(stat(older, older).settled(start), "both 2.1 s old");
    }

    #[test]
    fn entries_round_trip_and_racy_ones_are_dropped() {
        let dir = crate::tests::TempDir::new("statcache");
        let (tree, state) = (dir.path().join("tree"), dir.path().join("state"));
        std::fs::create_dir_all(&tree).unwrap();
        std::fs::create_dir_all(&state).unwrap();
        let old = tree.join("old file");
        let young = tree.join("young");
        std::fs::write(&old, "a").unwrap();
        std::fs::write(&young, "b").unwrap();
        let f = std::fs::File::options().write(true).open(&old).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
        // Pretend the run started later, so the old file's ctime (now) is clearly older.
        let mut cache = StatCache::load(&state, &tree);
        cache.started_ns += 10_000_000_000;
        let (mo, my) = (std::fs::symlink_metadata(&old).unwrap(), std::fs::symlink_metadata(&young).unwrap());
        cache.record(&old, &mo, oid());
        cache.record(&young, &my, oid());
        // A path outside the tree is never cached.
        cache.record(&dir.path().join("elsewhere"), &mo, oid());
        assert_eq!(cache.entries.len(), 2);
        // The young file's mtime is set into the future: racy, not kept.
        let f = std::fs::File::options().write(true).open(&young).unwrap();
        f.set_modified(SystemTime::now() + Duration::from_secs(3600)).unwrap();
        let my = std::fs::symlink_metadata(&young).unwrap();
        cache.record(&young, &my, oid());
        assert_eq!(cache.entries.len(), 2, "a path recorded twice is one entry");
        cache.save().unwrap();
        let mut back = StatCache::load(&state, &tree);
        assert_eq!(back.entries.len(), 1);
        assert_eq!(back.lookup(&old, &mo), Some(oid()));
        assert_eq!(back.lookup(&young, &my), None);
        // Another tree's cache is another file.
        assert_eq!(StatCache::load(&state, &dir.path().join("other")).entries.len(), 0);
    }

    #[test]
    fn an_unchanged_cache_is_not_rewritten_and_a_forgotten_entry_is() {
        let dir = crate::tests::TempDir::new("statcache-keep");
        let tree = dir.path();
        let (a, b) = (tree.join("a"), tree.join("b"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        let mut cache = StatCache::load(tree, tree);
        cache.started_ns += 10_000_000_000;
        let (ma, mb) = (std::fs::symlink_metadata(&a).unwrap(), std::fs::symlink_metadata(&b).unwrap());
        cache.record(&a, &ma, oid());
        cache.record(&b, &mb, oid());
        cache.save().unwrap();
        let file = cache.file.clone().unwrap();
        let ino = || std::fs::metadata(&file).unwrap().ino();
        let first = ino();
        // Every entry seen again, nothing recorded: the file stays as it is (no new inode).
        let mut back = StatCache::load(tree, tree);
        back.started_ns += 10_000_000_000;
        assert!(back.lookup(&a, &ma).is_some() && back.lookup(&b, &mb).is_some());
        back.save().unwrap();
        assert_eq!(ino(), first);
        // An entry not seen (the file is gone) is forgotten: the file is written again.
        let mut back = StatCache::load(tree, tree);
        back.started_ns += 10_000_000_000;
        assert!(back.lookup(&a, &ma).is_some());
        back.save().unwrap();
        let again = StatCache::load(tree, tree);
        assert_eq!(again.entries.len(), 1);
        assert!(again.holds(&a) && !again.holds(&b));
    }

    #[test]
    fn a_foreign_cut_or_moved_file_is_an_empty_cache() {
        let dir = crate::tests::TempDir::new("statcache-bad");
        let tree = dir.path().join("tree");
        let mut cache = StatCache::load(dir.path(), &tree);
        cache.started_ns += 10_000_000_000;
        std::fs::create_dir_all(&tree).unwrap();
        let f = tree.join("f");
        std::fs::write(&f, "x").unwrap();
        let m = std::fs::symlink_metadata(&f).unwrap();
        cache.record(&f, &m, oid());
        cache.save().unwrap();
        let file = cache.file.clone().unwrap();
        let good = std::fs::read(&file).unwrap();
        assert!(StatCache::load(dir.path(), &tree).holds(&f));
        // The header line, the folder line, and the records.
        let mut parts = good.splitn(3, |&b| b == b'\n');
        let (header, top, records) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let with = |header: &[u8], top: &[u8]| [header, b"\n", top, b"\n", records].concat();
        let other_top = dir.path().join("else/");
        for bad in [
            b"something else\n".to_vec(),
            good[..good.len() - 1].to_vec(),
            with(format!("twinsync-stat-cache 1 {SCANNER:016x}").as_bytes(), top),
            with(format!("{FORMAT} {:016x}", SCANNER ^ 1).as_bytes(), top),
            with(header, other_top.as_os_str().as_bytes()),
        ] {
            std::fs::write(&file, bad).unwrap();
            let back = StatCache::load(dir.path(), &tree);
            assert_eq!((back.entries.len(), back.holds(&f)), (0, false));
        }
    }

    #[test]
    fn a_lookup_compares_the_path_not_its_hash() {
        let mut cache = StatCache::empty();
        let meta = std::fs::symlink_metadata("/").unwrap();
        cache.record(Path::new("/a"), &meta, oid());
        // Force a collision: the index slot of /b points at /a's entry.
        let i = cache.index[&hash(b"a")];
        cache.index.insert(hash(b"b"), i);
        assert_eq!(cache.lookup(Path::new("/b"), &meta), None);
        assert_eq!(cache.lookup(Path::new("/a"), &meta), Some(oid()));
    }
}
