//! Config files: the captured folders (`/etc` and `~/.config` by default), with their metadata.
//!
//! `collect` walks the folders and reads only; symlinks are recorded as symlinks and never
//! followed. Every file left out is listed with its reason and path — never its content or hash.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::glob::Excludes;
use crate::host::Host;
use crate::name::Name;
use crate::secrets;
use crate::statcache::StatCache;
use crate::twin::{blob_id, BlobId};

pub(crate) mod apply;
pub(crate) mod plan;

/// Why a file was left out of the twin (SPEC §3 `excluded.txt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Reason {
    SecretPath,
    Private,
    SecretContent,
    Binary,
    TooLarge,
    Special,
    UnsafeName,
    UserExclude,
}

impl Reason {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::SecretPath => "secret-path",
            Reason::Private => "private",
            Reason::SecretContent => "secret-content",
            Reason::Binary => "binary",
            Reason::TooLarge => "too-large",
            Reason::Special => "special",
            Reason::UnsafeName => "unsafe-name",
            Reason::UserExclude => "user-exclude",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Link,
    Dir,
}

/// One captured file, symlink or folder.
pub(crate) struct Node {
    pub(crate) path: String,
    pub(crate) kind: Kind,
    pub(crate) mode: u32,
    /// Owner and group as numbers: `Accounts` names them when they are written out (two
    /// strings per file showed in the peak memory at 100,000 files).
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    /// Blob id of the content (a symlink's target); zero for folders.
    pub(crate) oid: BlobId,
}

impl Node {
    /// Appends the `metadata.txt` line: `TYPE MODE OWNER GROUP PATH`.
    pub(crate) fn write_meta(&self, accounts: &Accounts, out: &mut String) {
        use std::fmt::Write;
        let t = match self.kind {
            Kind::File => 'f',
            Kind::Link => 'l',
            Kind::Dir => 'd',
        };
        let (user, group) = (accounts.user(self.uid), accounts.group(self.gid));
        let _ = writeln!(out, "{t} {:04o} {user} {group} {}", self.mode & 0o7777, self.path);
    }
}

#[derive(Default)]
pub(crate) struct Collected {
    pub(crate) nodes: Vec<Node>,
    pub(crate) excluded: Vec<(Reason, String)>,
    pub(crate) unreadable: Vec<String>,
    pub(crate) notes: Vec<String>,
}

/// The rules that decide what is left out, built once per snapshot.
pub(crate) struct Rules {
    home: String,
    excludes: Excludes,
    max_size: u64,
}

impl Rules {
    pub(crate) fn new(home: &str, excludes: Excludes, max_size: u64) -> Rules {
        Rules { home: home.to_string(), excludes, max_size }
    }

    /// The reason a path is left out before anything is read, if any. A `!glob` line of the
    /// user's exclude file re-includes a path the built-in path rules would leave out.
    fn by_path(&self, path: &str) -> Option<Reason> {
        match self.excludes.decide(path) {
            Some(true) => Some(Reason::UserExclude),
            Some(false) => None,
            None if secrets::secret_path(path, &self.home) => Some(Reason::SecretPath),
            None => None,
        }
    }

    fn reincluded(&self, path: &str) -> bool {
        self.excludes.decide(path) == Some(false)
    }
}

/// User and group names of the system being read, from its own `/etc/passwd` and `/etc/group`.
#[derive(Default)]
pub(crate) struct Accounts {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Accounts {
    pub(crate) fn read(host: &Host) -> Accounts {
        let passwd = fs_err::read_to_string(host.path("/etc/passwd")).unwrap_or_default();
        let group = fs_err::read_to_string(host.path("/etc/group")).unwrap_or_default();
        Accounts::parse(&passwd, &group)
    }

    pub(crate) fn parse(passwd: &str, group: &str) -> Accounts {
        let ids = |text: &str| {
            let mut map = HashMap::new();
            for line in text.lines() {
                let mut it = line.split(':');
                if let (Some(name), Some(_), Some(id)) = (it.next(), it.next(), it.next()) {
                    if let Ok(id) = id.parse() {
                        map.entry(id).or_insert_with(|| name.to_string());
                    }
                }
            }
            map
        };
        Accounts { users: ids(passwd), groups: ids(group) }
    }

    /// The user's name, or the number when the system has no name for it.
    pub(crate) fn user(&self, uid: u32) -> std::borrow::Cow<'_, str> {
        self.users.get(&uid).map_or_else(|| uid.to_string().into(), |n| n.as_str().into())
    }

    pub(crate) fn group(&self, gid: u32) -> std::borrow::Cow<'_, str> {
        self.groups.get(&gid).map_or_else(|| gid.to_string().into(), |n| n.as_str().into())
    }

    /// The id of a user name (or of a number written as a name) on that system.
    pub(crate) fn uid(&self, name: &str) -> Option<u32> {
        self.users.iter().find(|(_, n)| *n == name).map(|(id, _)| *id).or_else(|| name.parse().ok())
    }

    pub(crate) fn gid(&self, name: &str) -> Option<u32> {
        self.groups.iter().find(|(_, n)| *n == name).map(|(id, _)| *id).or_else(|| name.parse().ok())
    }
}

/// Walks the captured folders, each in its own thread with its own stat cache (one file per
/// root in `state_dir`), and returns the nodes sorted by path, each path once. Only blob ids are kept, never
/// contents: whoever writes a file into the twin reads it again and checks its blob id. A
/// file whose `lstat` the cache knows is not read: it passed the content checks when it was
/// cached, with that very content.
pub(crate) fn collect(
    host: &Host,
    roots: &[String],
    rules: &Rules,
    state_dir: &Path,
    progress: bool,
) -> Collected {
    let progress = progress && std::io::stderr().is_terminal();
    let seen = AtomicUsize::new(0);
    let parts: Vec<Collected> = std::thread::scope(|s| {
        let walks: Vec<_> = roots
            .iter()
            .map(|root| {
                let seen = &seen;
                s.spawn(move || {
                    let mut cache = StatCache::load(state_dir, &host.path(root));
                    let mut part = collect_root(host, root, rules, &mut cache, seen, progress);
                    // It only saves time: one that cannot be written makes the next run read
                    // every file.
                    let _ = cache.save();
                    drop(cache);
                    // The walk's order is path order but for a folder after a sibling like
                    // `a-b`. Unstable: no buffer of half the list.
                    if !part.nodes.is_sorted_by(|a, b| a.path < b.path) {
                        part.nodes.sort_unstable_by(|a, b| a.path.cmp(&b.path));
                    }
                    part
                })
            })
            .collect();
        // A root that came back empty would read as every file deleted: a panic goes on.
        walks.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    if progress && seen.load(Ordering::Relaxed) >= 1000 {
        eprintln!("\rtwinsync: reading files: {}", seen.load(Ordering::Relaxed));
    }
    let mut res = Collected::default();
    res.nodes.reserve_exact(parts.iter().map(|p| p.nodes.len()).sum());
    let mut parts: Vec<(&String, Collected)> = roots.iter().zip(parts).collect();
    parts.sort_by(|a, b| a.0.cmp(b.0));
    for (_, part) in parts {
        res.nodes.extend(part.nodes);
        res.excluded.extend(part.excluded);
        res.unreadable.extend(part.unreadable);
        res.notes.extend(part.notes);
    }
    // Each part is sorted, and so is the whole when the roots are apart in path order (the
    // usual case). Overlapping roots (`/etc /etc/ssh`) meet some paths twice, as equal nodes:
    // each is kept once, here rather than by every caller.
    if !res.nodes.is_sorted_by(|a, b| a.path < b.path) {
        res.nodes.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        res.nodes.dedup_by(|a, b| a.path == b.path);
    }
    res.excluded.sort_by(|a, b| a.1.cmp(&b.1));
    res.excluded.dedup();
    res
}

/// One root of `collect`.
fn collect_root(
    host: &Host,
    root: &str,
    rules: &Rules,
    cache: &mut StatCache,
    seen: &AtomicUsize,
    progress: bool,
) -> Collected {
    let mut res = Collected::default();
    // About as many entries as the cache knows (files) and a tenth more (folders): a list
    // grown by doubling can hold twice what it needs at the peak.
    res.nodes.reserve(cache.len() + cache.len() / 10);
    let top = host.path(root);
    match fs_err::symlink_metadata(&top) {
        Err(_) => {
            res.notes.push(format!("files: {root} does not exist; nothing captured there"));
            return res;
        }
        Ok(m) if m.file_type().is_symlink() => {
            res.notes.push(format!("files: {root} is a symlink; it is recorded, never followed"));
        }
        Ok(_) => {}
    }
    crate::walk::walk(&top, &mut |fs_path, meta| {
        let n = seen.fetch_add(1, Ordering::Relaxed) + 1;
        if progress && n.is_multiple_of(1000) {
            eprint!("\rtwinsync: reading files: {n}");
        }
        let meta = match meta {
            Ok(m) => m,
            Err(_) => {
                res.unreadable.push(fs_path.display().to_string());
                return false;
            }
        };
        let ft = meta.file_type();
        let Some(path) = machine_path(host, fs_path) else {
            let shown = fs_path.to_string_lossy().replace(['\n', '\r'], "?");
            res.excluded.push((Reason::UnsafeName, shown));
            return false;
        };
        // A nested repository (etckeeper keeps /etc/.git) cannot live inside the twin's own.
        if ft.is_dir() && fs_path.file_name().is_some_and(|n| n == ".git") {
            res.excluded.push((Reason::UnsafeName, path));
            return false;
        }
        if let Some(reason) = rules.by_path(&path) {
            let walk_on = ft.is_dir() && reason == Reason::SecretPath && rules.excludes.has_reincludes();
            if !walk_on {
                res.excluded.push((reason, path));
                return false;
            }
        }
        let mut node = Node {
            path,
            kind: Kind::Dir,
            mode: meta.mode(),
            uid: meta.uid(),
            gid: meta.gid(),
            oid: BlobId::default(),
        };
        if ft.is_dir() {
            res.nodes.push(node);
            return true;
        } else if ft.is_symlink() {
            let Ok(target) = fs_err::read_link(fs_path) else {
                res.unreadable.push(node.path);
                return false;
            };
            let bytes = target.into_os_string().into_encoded_bytes();
            node.kind = Kind::Link;
            node.oid = blob_id(&bytes);
            res.nodes.push(node);
        } else if ft.is_file() {
            node.kind = Kind::File;
            if meta.mode() & 0o004 == 0 && !rules.reincluded(&node.path) {
                res.excluded.push((Reason::Private, node.path));
                return false;
            }
            if meta.len() > rules.max_size {
                res.excluded.push((Reason::TooLarge, node.path));
                return false;
            }
            if let Some(oid) = cache.lookup(fs_path, meta) {
                node.oid = oid;
                res.nodes.push(node);
                return false;
            }
            let bytes = match read_limited(fs_path, rules.max_size) {
                Some(b) => b,
                None => {
                    res.unreadable.push(node.path);
                    return false;
                }
            };
            if bytes.len() as u64 > rules.max_size {
                res.excluded.push((Reason::TooLarge, node.path));
                return false;
            }
            if bytes.contains(&0) {
                res.excluded.push((Reason::Binary, node.path));
                return false;
            }
            if secrets::secret_content(&bytes).is_some() {
                res.excluded.push((Reason::SecretContent, node.path));
                return false;
            }
            node.oid = blob_id(&bytes);
            cache.record(fs_path, meta, node.oid);
            res.nodes.push(node);
        } else if ft.is_fifo() || ft.is_socket() || ft.is_block_device() || ft.is_char_device() {
            res.excluded.push((Reason::Special, node.path));
        }
        false
    });
    res
}

/// Reads at most `limit + 1` bytes: a file that grew past the limit while being read is seen
/// as too large rather than read whole.
fn read_limited(path: &std::path::Path, limit: u64) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    let mut buf = Vec::new();
    f.take(limit + 1).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The machine path of a path under the root, or None when the name cannot be kept safely:
/// not UTF-8, or holding a newline or another control character (it would break the
/// line-based files of the twin).
fn machine_path(host: &Host, path: &std::path::Path) -> Option<String> {
    let rel = crate::walk::below(host.root(), path)?;
    // Bytes below 0x80 are the ASCII controls; a control above (U+0080 to U+009F) takes two.
    let ascii_control = rel.bytes().any(|b| b < 0x20 || b == 0x7f);
    if ascii_control || (!rel.is_ascii() && rel.chars().any(char::is_control)) {
        return None;
    }
    let mut res = String::with_capacity(rel.len() + 1);
    res.push('/');
    res.push_str(rel);
    Some(res)
}

/// Reads `metadata.txt` into PATH → `TYPE MODE OWNER GROUP`; errors carry the line number.
pub(crate) fn parse_metadata(text: &str) -> Result<BTreeMap<String, Name>, String> {
    // A sorted list makes the map in one pass (the file is written in path order).
    let lines = parse_metadata_lines(text)?;
    Ok(lines.into_iter().map(|(path, fields)| (path.to_string(), Name::from(fields))).collect())
}

/// `parse_metadata` without a copy: (PATH, `TYPE MODE OWNER GROUP`) borrowed from the text,
/// sorted by path.
pub(crate) fn parse_metadata_lines(text: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut res = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let line_number = idx + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.splitn(5, ' ');
        let (Some(t), Some(mode), Some(_owner), Some(_group), Some(path)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return Err(format!("metadata.txt:{line_number}: expected `TYPE MODE OWNER GROUP PATH`"));
        };
        if !matches!(t, "f" | "l" | "d") {
            return Err(format!("metadata.txt:{line_number}: TYPE is f, l or d, not '{t}'"));
        }
        if mode.len() != 4 || u32::from_str_radix(mode, 8).is_err() {
            return Err(format!(
                "metadata.txt:{line_number}: MODE is four octal digits like 0644, not '{mode}'"
            ));
        }
        if !path.starts_with('/') {
            return Err(format!("metadata.txt:{line_number}: PATH must be absolute, not '{path}'"));
        }
        let fields = &line[..line.len() - path.len() - 1];
        res.push((path, fields, line_number));
    }
    res.sort_by_key(|&(path, _, _)| path);
    // The first line, in the file's order, that repeats a path named above it.
    let twice = res.windows(2).filter(|w| w[0].0 == w[1].0).map(|w| w[0].2.max(w[1].2)).min();
    if let Some(line_number) = twice {
        let path = res.iter().find(|r| r.2 == line_number).map(|r| r.0).unwrap_or_default();
        return Err(format!("metadata.txt:{line_number}: '{path}' is listed twice"));
    }
    Ok(res.into_iter().map(|(path, fields, _)| (path, fields)).collect())
}

pub(crate) fn render_metadata_map(map: &BTreeMap<String, Name>) -> String {
    map.iter().map(|(p, m)| format!("{m} {p}\n")).collect()
}

/// `excluded.txt`: `REASON PATH` a line, sorted by path.
pub(crate) fn render_excluded(excluded: &[(Reason, String)]) -> String {
    excluded.iter().map(|(r, p)| format!("{} {p}\n", r.as_str())).collect()
}

/// Why the program that reads a file's folder would skip a file of this name, if it would:
/// include folders load only names of a certain shape (sudoers(5), cron(8), sources.list(5),
/// apt.conf(5), systemd.unit(5), …). A plan that writes such a file gets a warning.
pub(crate) fn ignored_by_reader(path: &str) -> Option<String> {
    let (dir, name) = path.rsplit_once('/')?;
    let plain =
        |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let suffix = |sfx: &[&str]| sfx.iter().any(|s| name.ends_with(s) && name.len() > s.len());
    let skipped = |reader: &str, rule: &str| {
        Some(format!("{reader} skips {rule} in {dir}, so {path} would have no effect"))
    };
    match dir {
        "/etc/sudoers.d" if name.contains('.') || name.ends_with('~') => {
            skipped("sudo", "names that hold a '.' or end in '~'")
        }
        "/etc/cron.d" | "/etc/cron.hourly" | "/etc/cron.daily" | "/etc/cron.weekly" | "/etc/cron.monthly"
            if !plain(name) =>
        {
            skipped("cron", "names with anything but letters, digits, '_' and '-' (no dots)")
        }
        "/etc/apt/sources.list.d" if !suffix(&[".list", ".sources"]) => {
            skipped("apt", "files not ending in .list or .sources")
        }
        "/etc/apt/apt.conf.d" if name.contains('.') && !suffix(&[".conf"]) => {
            skipped("apt", "names with an extension other than .conf")
        }
        "/etc/apt/preferences.d" if name.contains('.') && !suffix(&[".pref"]) => {
            skipped("apt", "names with an extension other than .pref")
        }
        "/etc/logrotate.d"
            if name.ends_with('~')
                || [
                    ".bak",
                    ".dpkg-old",
                    ".dpkg-dist",
                    ".dpkg-new",
                    ".ucf-old",
                    ".ucf-dist",
                    ".disabled",
                    ".rpmsave",
                    ".rpmorig",
                ]
                .iter()
                .any(|s| name.ends_with(s)) =>
        {
            skipped("logrotate", "backup-like names")
        }
        "/etc/profile.d" if !suffix(&[".sh"]) => skipped("/etc/profile", "files not ending in .sh"),
        "/etc/ssh/sshd_config.d"
        | "/etc/ssh/ssh_config.d"
        | "/etc/sysctl.d"
        | "/etc/modprobe.d"
        | "/etc/tmpfiles.d"
        | "/etc/sysusers.d"
        | "/etc/environment.d"
        | "/etc/nginx/conf.d"
        | "/etc/apache2/sites-enabled"
        | "/etc/apache2/conf-enabled"
        | "/etc/apache2/sites-available"
        | "/etc/apache2/conf-available"
            if !suffix(&[".conf"]) =>
        {
            skipped("its reader", "files not ending in .conf")
        }
        d if d.starts_with("/etc/systemd/") && d.ends_with(".d") && !suffix(&[".conf"]) => {
            skipped("systemd", "drop-in files not ending in .conf")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_are_walked_apart_each_with_its_cache_and_the_nodes_come_out_sorted() {
        let tmp = crate::tests::TempDir::new("collect-roots");
        let (root, state) = (tmp.path().join("root"), tmp.path().join("state"));
        for p in ["etc/b.conf", "etc/a/x.conf", "etc-old/c.conf", "home/ana/.config/app/rc"] {
            let full = root.join(p);
            fs_err::create_dir_all(full.parent().unwrap()).unwrap();
            fs_err::write(&full, p).unwrap();
        }
        fs_err::create_dir_all(&state).unwrap();
        let host = Host::new(&root);
        let rules = Rules::new("/home/ana", Excludes::default(), 1 << 20);
        // Out of order, and "/etc-old" sorts between "/etc" and "/etc/a" path by path.
        // "/etc/a" inside "/etc": its files come once.
        let roots = ["/home/ana/.config", "/etc", "/etc-old", "/missing", "/etc/a"].map(String::from);
        let got = collect(&host, &roots, &rules, &state, false);
        let paths: Vec<&str> =
            got.nodes.iter().filter(|n| n.kind == Kind::File).map(|n| n.path.as_str()).collect();
        assert_eq!(paths, ["/etc-old/c.conf", "/etc/a/x.conf", "/etc/b.conf", "/home/ana/.config/app/rc"]);
        assert!(got.nodes.is_sorted_by(|a, b| a.path <= b.path));
        assert!(got.nodes.is_sorted_by(|a, b| a.path < b.path), "each path once");
        let x = got.nodes.iter().find(|n| n.path == "/etc/a/x.conf").unwrap();
        assert_eq!(x.oid, blob_id(b"etc/a/x.conf"));
        assert_eq!(got.notes, ["files: /missing does not exist; nothing captured there"]);
        // The racy rule keeps files this fresh out of a cache, so only the cache files are
        // checked here: one per root (the missing root's holds nothing).
        let caches = fs_err::read_dir(&state).unwrap().count();
        assert_eq!(caches, roots.len(), "one stat cache per walked root");
    }

    #[test]
    fn files_their_folder_would_skip_get_a_warning() {
        let warned = |p: &str| ignored_by_reader(p).is_some();
        assert!(warned("/etc/sudoers.d/admins.conf"));
        assert!(warned("/etc/sudoers.d/admins~"));
        assert!(!warned("/etc/sudoers.d/admins"));
        assert!(warned("/etc/cron.d/backup.sh"));
        assert!(!warned("/etc/cron.d/backup-nightly_2"));
        assert!(warned("/etc/cron.daily/job.bak"));
        assert!(warned("/etc/apt/sources.list.d/extra"));
        assert!(!warned("/etc/apt/sources.list.d/extra.list"));
        assert!(!warned("/etc/apt/sources.list.d/debian.sources"));
        assert!(!warned("/etc/apt/apt.conf.d/50unattended-upgrades"));
        assert!(warned("/etc/apt/apt.conf.d/50foo.txt"));
        assert!(warned("/etc/profile.d/path"));
        assert!(warned("/etc/systemd/system/cron.service.d/override"));
        assert!(!warned("/etc/systemd/system/cron.service.d/override.conf"));
        assert!(warned("/etc/ssh/sshd_config.d/hardening"));
        assert!(warned("/etc/logrotate.d/app.bak"));
        assert!(!warned("/etc/hosts"));
        let text = ignored_by_reader("/etc/sudoers.d/admins.conf").unwrap();
        assert!(text.contains("sudo") && text.contains("/etc/sudoers.d/admins.conf"), "{text}");
    }

    #[test]
    fn accounts_resolve_names_and_fall_back_to_numbers() {
        let acc = Accounts::parse(
            "root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000::/home/ana:/bin/bash\n",
            "root:x:0:\nadm:x:4:ana\n",
        );
        assert_eq!(acc.user(0), "root");
        assert_eq!(acc.user(1000), "ana");
        assert_eq!(acc.user(1234), "1234");
        assert_eq!(acc.group(4), "adm");
        assert_eq!(acc.group(1000), "1000");
    }

    #[test]
    fn metadata_round_trips_and_rejects_bad_lines() {
        let text = "d 0755 root root /etc\nf 0644 root root /etc/my file\nl 0777 root root /etc/localtime\n";
        let map = parse_metadata(text).unwrap();
        assert_eq!(map["/etc/my file"], "f 0644 root root");
        assert_eq!(
            render_metadata_map(&map),
            "d 0755 root root /etc\nl 0777 root root /etc/localtime\nf 0644 root root /etc/my file\n"
        );
        assert!(parse_metadata("x 0644 root root /etc/a\n").unwrap_err().starts_with("metadata.txt:1:"));
        assert!(parse_metadata("f 644 root root /etc/a\n").unwrap_err().contains("MODE"));
        assert!(parse_metadata("f 0644 root root etc/a\n").unwrap_err().contains("absolute"));
        assert!(parse_metadata("f 0644 root\n").unwrap_err().contains("expected"));
        let twice = "f 0644 root root /etc/b\nf 0644 root root /etc/a\nf 0600 root root /etc/b\nl 0777 root root /etc/a\n";
        assert_eq!(parse_metadata(twice).unwrap_err(), "metadata.txt:3: '/etc/b' is listed twice");
    }
}
