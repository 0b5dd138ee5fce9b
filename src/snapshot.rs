//! `twinsync snapshot`: collect the machine into the twin and commit it.
//!
//! Three states meet here (SPEC §3, §5): B, the baseline (what the last snapshot observed, the
//! ref `refs/twinsync/baseline`); T, the twin's working tree, where people propose changes; and
//! O, what this snapshot observes. Every item — a file under `filesystem/`, a line of `dpkg.txt`,
//! `desired-state.txt` or `metadata.txt`, or one of the other files of `system/` — is merged on
//! its own: the twin takes the observation only where the twin did not change the item since
//! the baseline. A change waiting in the twin is kept; a change on both sides is a conflict and
//! the twin keeps its version. The baseline always becomes exactly the observation.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::files::{self, Accounts, Kind, Reason, Rules};
use crate::sorted::{next_key, take};
use crate::statcache::StatCache;
use crate::twin::{blob_id, BlobId, Entry, Oid, Staged, Twin};
use crate::{facts, packages, services, startup, Ctx};

pub(crate) const DPKG_TXT: &str = "system/packages/dpkg.txt";
pub(crate) const APT_MANUAL_TXT: &str = "system/packages/apt-manual.txt";
pub(crate) const UNIT_FILES_TXT: &str = "system/services/unit-files.txt";
pub(crate) const ACTIVE_UNITS_TXT: &str = "system/services/active-units.txt";
pub(crate) const DESIRED_STATE_TXT: &str = "system/services/desired-state.txt";
pub(crate) const JOURNAL_TXT: &str = "system/logs/journal-tail.txt";
pub(crate) const CRONTAB_TXT: &str = "system/startup/user-crontab.txt";
pub(crate) const METADATA_TXT: &str = "system/files/metadata.txt";
pub(crate) const EXCLUDED_TXT: &str = "system/files/excluded.txt";
pub(crate) const UNAME_TXT: &str = "system/uname.txt";
pub(crate) const OS_RELEASE: &str = "system/os-release";
pub(crate) const HOSTNAME: &str = "system/hostname";
pub(crate) const NOTES_TXT: &str = "system/notes.txt";

/// The twin path of a machine path.
pub(crate) fn twin_path(machine_path: &str) -> String {
    format!("filesystem{machine_path}")
}

/// What one item holds: a file's bytes or a symlink's target.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Item {
    link: bool,
    oid: BlobId,
}

/// The result of one snapshot, for the summary and for tests.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) commit: Option<Oid>,
    pub(crate) baseline: Oid,
    pub(crate) captured: usize,
    pub(crate) changed: usize,
    pub(crate) excluded: BTreeMap<&'static str, usize>,
    pub(crate) unreadable: usize,
    pub(crate) packages: Option<usize>,
    pub(crate) services: Option<usize>,
    pub(crate) pending: Vec<String>,
    pub(crate) conflicts: Vec<String>,
    pub(crate) notes: Vec<String>,
    pub(crate) seconds: f64,
}

/// What the collectors observed: whole items by twin path (None: observed absent), and the
/// folders of the twin that the observation covers. Only the small files of `system/` keep
/// their bytes; a captured file is read again from the machine when it is written.
struct Observation {
    items: BTreeMap<String, Option<Item>>,
    bytes: BTreeMap<String, Vec<u8>>,
    /// Twin folders (with a trailing `/`) under which a missing item means "absent".
    scopes: Vec<String>,
    keyed: Vec<Keyed>,
    report: Report,
}

/// What a path of the twin is to become, fetched only when it is written so that a first
/// snapshot never holds every captured file in memory at once.
enum Content {
    /// A merged keyed file.
    Text(String),
    /// The observed item, read again from the machine (or from the observation's bytes).
    Observed(Item),
}

/// A file of the twin merged line by line.
struct Keyed {
    path: &'static str,
    observed: String,
}

pub(crate) fn run(ctx: &Ctx, twin: &Twin, message: Option<&str>) -> Result<Report> {
    let started = Instant::now();
    let host = &ctx.host;
    let roots = ctx.roots()?;
    // The twin's working tree and the machine are walked at the same time, each with its own
    // stat cache, loaded, saved and freed in its own thread; git lists HEAD meanwhile.
    let (twin_files, obs, refs) = std::thread::scope(|s| {
        let refs = s.spawn(|| read_refs(twin, host));
        let walk = s.spawn(|| {
            let mut cache = StatCache::load(&ctx.state_dir(), twin.dir());
            let res = read_twin_tree(twin, &roots, &mut cache);
            // It only saves time: one that cannot be written makes the next run read every file.
            let _ = cache.save();
            res
        });
        let obs = observe(ctx, &roots);
        (joined(walk.join()), obs, joined(refs.join()))
    });
    let twin_files = twin_files??;
    let mut obs = obs?;
    // What HEAD holds: an item the working tree already has as observed (a change that was
    // just applied to the machine) is committed too, though nothing is written.
    let Refs { baseline, head: head_before, head_items, head_texts } = refs??;

    // Keyed files: merge line by line into the text the twin should hold.
    let keyed_paths: Vec<&str> = obs.keyed.iter().map(|k| k.path).collect();
    // With nothing pending the baseline is HEAD itself (the usual case): its tree and files
    // were just read, so they are not listed and read a second time.
    let base_is_head = baseline.is_some() && baseline == head_before;
    let base_own = match &baseline {
        Some(b) if !base_is_head => twin.ls_tree(host, b, &["filesystem", "system"])?,
        _ => BTreeMap::new(),
    };
    let base_entries = if base_is_head { &head_items } else { &base_own };
    let mut record: Vec<String> = Vec::new();
    let base_texts_own = match &baseline {
        Some(b) if !base_is_head => twin.read_files(host, b, &keyed_paths)?,
        _ => BTreeMap::new(),
    };
    let base_texts = if base_is_head { &head_texts } else { &base_texts_own };
    let mut wanted: BTreeMap<String, Option<Content>> = BTreeMap::new();
    let mut pending = Vec::new();
    let mut conflicts = Vec::new();
    for k in &obs.keyed {
        let b = base_texts.get(k.path).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
        let t_path = twin.dir().join(k.path);
        let t = fs_err::read_to_string(&t_path).ok();
        let merged = match &t {
            None if baseline.is_none() => Ok(k.observed.clone()),
            None => merge_text(k.path, &b, "", &k.observed, &mut pending, &mut conflicts),
            Some(t) => merge_text(k.path, &b, t, &k.observed, &mut pending, &mut conflicts),
        };
        match merged {
            Ok(text) => {
                let head_text = head_texts.get(k.path).map(Vec::as_slice);
                if t.as_deref() == Some(k.observed.as_str()) && head_text != Some(k.observed.as_bytes()) {
                    record.push(k.path.to_string());
                }
                if t.as_deref() != Some(text.as_str()) {
                    wanted.insert(k.path.to_string(), Some(Content::Text(text)));
                }
            }
            Err(why) => conflicts.push(format!("{}: {why}; the twin's file was left as it is", k.path)),
        }
    }

    // Whole items: every path the observation covers or the twin or the baseline holds there.
    let in_scope =
        |p: &str| obs.scopes.iter().any(|s| p.starts_with(s.as_str())) || obs.items.contains_key(p);
    let whole_item = |p: &&String| in_scope(p) && !keyed_paths.contains(&p.as_str());
    // The sorted maps are walked side by side: every path once, in order, with its versions.
    let mut os = obs.items.iter().peekable();
    let mut ts = twin_files.iter().filter(|(p, _)| in_scope(p)).peekable();
    let mut bs = base_entries.iter().filter(|(p, _)| whole_item(p)).peekable();
    let mut hs = head_items.iter().filter(|(p, _)| whole_item(p)).peekable();
    loop {
        let h_next = if base_is_head { None } else { hs.peek().map(|e| e.0) };
        let next = [os.peek().map(|e| e.0), ts.peek().map(|e| e.0), bs.peek().map(|e| e.0), h_next];
        let Some(path) = next_key(next) else { break };
        let o = take(&mut os, path).copied().flatten();
        let t = take(&mut ts, path).copied();
        let b = take(&mut bs, path).map(Item::of);
        let head = if base_is_head { b } else { take(&mut hs, path).map(Item::of) };
        match decide(b.as_ref(), t.as_ref(), o.as_ref()) {
            Decision::Same => {
                if head != o {
                    record.push(path.to_string());
                }
            }
            Decision::Observed => {
                wanted.insert(path.to_string(), o.map(Content::Observed));
            }
            Decision::Pending => pending.push(path.to_string()),
            Decision::Conflict => conflicts.push(path.to_string()),
        }
    }

    // The journal moves on every time (a snapshot itself logs lines): alone, it is not a change
    // worth a commit, so it is refreshed only together with something else.
    let journal_only = !wanted.is_empty() && wanted.keys().all(|p| p == JOURNAL_TXT) && record.is_empty();
    if journal_only {
        wanted.clear();
    }

    // Write what changed into the twin, one file at a time, and commit exactly that (and what
    // is recorded as it is): each file is handed to git as it is written. A file that changed
    // on the machine since it was hashed stops the snapshot before the commit; what was
    // written by then equals what was observed, so the next snapshot commits it.
    let mut written: Vec<String> = wanted.keys().cloned().chain(record).collect();
    written.sort();
    written.dedup();
    obs.report.changed = written.iter().filter(|p| p.starts_with("filesystem/")).count();
    let commit = if written.is_empty() {
        None
    } else {
        let msg = commit_message(ctx, message, &obs.report, &written);
        let kept = &obs.bytes;
        let write = |path: &str| {
            let Some(content) = wanted.get(path) else { return twin.staged(path) };
            let bytes = match content {
                None => None,
                Some(Content::Text(text)) => Some((false, text.clone().into_bytes())),
                Some(Content::Observed(item)) => Some((item.link, observed_bytes(ctx, kept, path, item)?)),
            };
            write_twin(twin, path, bytes.as_ref())?;
            Ok(match bytes {
                None => Staged::Removed,
                Some((true, target)) => Staged::Link(target),
                // Written anew, so without an executable bit.
                Some((false, bytes)) => Staged::File { exec: false, bytes },
            })
        };
        Some(twin.commit_with(host, &written, &msg, write)?)
    };
    drop(wanted);
    let head = commit
        .clone()
        .or(head_before)
        .ok_or_else(|| Error::failed("the twin has no commit; run `twinsync init`"))?;

    // The baseline: HEAD with every item set to what was observed. Without a new commit HEAD
    // is what was listed above.
    drop(base_own);
    drop(base_texts_own);
    let head_entries = match &commit {
        Some(_) => twin.ls_tree(host, &head, &["filesystem", "system"])?,
        None => head_items,
    };
    let mut changes = Vec::new();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let mut os = obs.items.iter().peekable();
    let mut hs = head_entries.iter().filter(|(p, _)| whole_item(p)).peekable();
    while let Some(path) = next_key([os.peek().map(|e| e.0), hs.peek().map(|e| e.0)]) {
        let o = take(&mut os, path).copied().flatten();
        let h = take(&mut hs, path).map(Item::of);
        if o == h || (journal_only && path == JOURNAL_TXT) {
            continue;
        }
        match o {
            None => changes.push((path.clone(), None)),
            Some(item) => {
                if let Some(bytes) = twin_or_observed_bytes(ctx, twin, &obs.bytes, &twin_files, path, &item)?
                {
                    blobs.push(bytes);
                }
                changes.push((path.clone(), Some(Entry { link: item.link, oid: item.oid })));
            }
        }
    }
    // The keyed files as observed (in path order, as a map gave them), copied only where HEAD
    // differs.
    let mut keyed_obs: Vec<&Keyed> = obs.keyed.iter().collect();
    keyed_obs.sort_by_key(|k| k.path);
    keyed_obs.dedup_by_key(|k| k.path);
    for k in keyed_obs {
        let oid = blob_id(k.observed.as_bytes());
        if head_entries.get(k.path).map(|e| &e.oid) != Some(&oid) {
            changes.push((k.path.to_string(), Some(Entry { link: false, oid })));
            blobs.push(k.observed.clone().into_bytes());
        }
    }
    let baseline_commit = if changes.is_empty() {
        head.clone()
    } else {
        let blob_refs: Vec<&[u8]> = blobs.iter().map(Vec::as_slice).collect();
        twin.write_blobs(host, &blob_refs)?;
        let tree = twin.tree_with(host, &head, &changes)?;
        let old_tree = match &baseline {
            Some(b) => Some(twin.tree_of(host, b)?),
            None => None,
        };
        match (&baseline, old_tree) {
            (Some(b), Some(t)) if t == tree => b.clone(),
            _ => twin.commit_tree(
                host,
                &tree,
                Some(&head),
                &format!("twinsync baseline: {} as observed", ctx.device()),
            )?,
        }
    };
    if baseline.as_ref() != Some(&baseline_commit) {
        twin.set_ref(host, crate::twin::BASELINE_REF, &baseline_commit, "twinsync snapshot")?;
    }
    let mut report = obs.report;
    report.commit = commit;
    report.baseline = baseline_commit;
    report.pending = pending;
    report.conflicts = conflicts;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

impl Item {
    fn of(e: &Entry) -> Item {
        Item { link: e.link, oid: e.oid }
    }
}

/// The baseline and HEAD, with HEAD's items and keyed files.
struct Refs {
    baseline: Option<Oid>,
    head: Option<Oid>,
    head_items: BTreeMap<String, Entry>,
    head_texts: BTreeMap<String, Vec<u8>>,
}

fn read_refs(twin: &Twin, host: &crate::host::Host) -> Result<Refs> {
    let (head, baseline) = twin.head_and_baseline(host)?;
    let (head_items, head_texts) = match &head {
        Some(h) => (
            twin.ls_tree(host, h, &["filesystem", "system"])?,
            twin.read_files(host, h, &[METADATA_TXT, DPKG_TXT, DESIRED_STATE_TXT])?,
        ),
        None => (BTreeMap::new(), BTreeMap::new()),
    };
    Ok(Refs { baseline, head, head_items, head_texts })
}

enum Decision {
    /// The twin already holds the observation.
    Same,
    /// The twin takes the observation.
    Observed,
    /// The twin changed the item and the machine did not: a desired change, kept.
    Pending,
    /// Both changed, differently: the twin keeps its version.
    Conflict,
}

fn decide<V: PartialEq>(b: Option<&V>, t: Option<&V>, o: Option<&V>) -> Decision {
    if t == o {
        Decision::Same
    } else if t == b {
        Decision::Observed
    } else if o == b {
        Decision::Pending
    } else {
        Decision::Conflict
    }
}

/// Merges a keyed file (`dpkg.txt`, `desired-state.txt`, `metadata.txt`) line by line.
fn merge_text(
    path: &str,
    b: &str,
    t: &str,
    o: &str,
    pending: &mut Vec<String>,
    conflicts: &mut Vec<String>,
) -> std::result::Result<String, String> {
    fn go<V: Clone + PartialEq>(
        what: &str,
        b: BTreeMap<String, V>,
        t: BTreeMap<String, V>,
        o: BTreeMap<String, V>,
        same: impl Fn(&V, &V) -> bool,
        pending: &mut Vec<String>,
        conflicts: &mut Vec<String>,
    ) -> BTreeMap<String, V> {
        let keys: BTreeSet<&String> = b.keys().chain(t.keys()).chain(o.keys()).collect();
        let mut res = BTreeMap::new();
        for key in keys {
            let (bv, tv, ov) = (b.get(key), t.get(key), o.get(key));
            let equivalent = match (tv, ov) {
                (Some(x), Some(y)) => same(x, y),
                (None, None) => true,
                _ => false,
            };
            let keep = if equivalent {
                ov
            } else {
                match decide(bv, tv, ov) {
                    Decision::Same | Decision::Observed => ov,
                    Decision::Pending => {
                        pending.push(format!("{what} {key}"));
                        tv
                    }
                    Decision::Conflict => {
                        conflicts.push(format!("{what} {key}"));
                        tv
                    }
                }
            };
            if let Some(v) = keep {
                res.insert(key.clone(), v.clone());
            }
        }
        res
    }
    // The twin holds exactly the observation (a no-op snapshot): every line is the same on
    // both sides, so the merge keeps the observation as it is, with nothing pending or in
    // conflict. The observed text is rendered by TwinSync, so it is already in merged form.
    if t == o {
        return Ok(o.to_string());
    }
    match path {
        DPKG_TXT => {
            let parse = |s: &str| packages::parse_dpkg_txt(s);
            let b = parse(b).unwrap_or_default();
            let t = parse(t)?;
            let o = parse(o)?;
            // A line of just NAME in the twin means any version: an installed package matches it.
            let same = |t: &Option<String>, o: &Option<String>| t.is_none() || t == o;
            let merged = go("package", b, t, o, same, pending, conflicts);
            Ok(merged
                .iter()
                .map(|(n, v)| match v {
                    Some(v) => format!("{n}\t{v}\n"),
                    None => format!("{n}\n"),
                })
                .collect())
        }
        DESIRED_STATE_TXT => {
            let b = services::parse_desired_state(b).unwrap_or_default();
            let t = services::parse_desired_state(t)?;
            let o = services::parse_desired_state(o)?;
            let merged = go("service", b, t, o, |x, y| x == y, pending, conflicts);
            Ok(services::render_desired_state(&merged))
        }
        _ => {
            let b = files::parse_metadata(b).unwrap_or_default();
            let t = files::parse_metadata(t)?;
            let o = files::parse_metadata(o)?;
            let merged = go("metadata of", b, t, o, |x, y| x == y, pending, conflicts);
            Ok(files::render_metadata_map(&merged))
        }
    }
}

/// Runs every collector, the independent ones in parallel threads.
fn observe(ctx: &Ctx, roots: &[String]) -> Result<Observation> {
    let host = &ctx.host;
    let excludes = ctx.excludes()?;
    let rules = Rules::new(&ctx.home, excludes, ctx.config.max_file_size()?);
    let accounts = Accounts::read(host);
    let progress = !ctx.global.quiet;

    let (fs, pkgs, svcs, journal, cron, uname) = std::thread::scope(|s| {
        let fs = s.spawn(|| files::collect(host, roots, &rules, &ctx.state_dir(), progress));
        let pkgs = s.spawn(|| packages::collect(host));
        let svcs = s.spawn(|| services::collect(host));
        let journal = s.spawn(|| facts::journal_tail(host));
        let cron = startup::collect(host, &ctx.user, ctx.as_root, &ctx.invoking_user);
        let uname = facts::uname(host);
        Ok::<_, Error>((
            joined(fs.join())?,
            joined(pkgs.join())?,
            joined(svcs.join())?,
            joined(journal.join())?,
            cron,
            uname,
        ))
    })?;

    let mut obs = Observation {
        items: BTreeMap::new(),
        bytes: BTreeMap::new(),
        scopes: Vec::new(),
        keyed: Vec::new(),
        report: Report::default(),
    };
    let mut notes = Vec::new();
    let whole = |obs: &mut Observation, path: &str, text: Option<String>| {
        let item = text.map(|t| {
            let bytes = t.into_bytes();
            let item = Item { link: false, oid: blob_id(&bytes) };
            obs.bytes.insert(path.to_string(), bytes);
            item
        });
        obs.items.insert(path.to_string(), item);
    };

    // Files. `metadata.txt` is rendered straight from the nodes, which `collect` sorted by
    // path, each path once.
    let mut excluded = fs.excluded;
    let mut metadata = String::new();
    let mut file_items = Vec::with_capacity(fs.nodes.len());
    for n in &fs.nodes {
        if n.kind != Kind::Dir {
            let path = twin_path(&n.path);
            file_items.push((path, Some(Item { link: n.kind == Kind::Link, oid: n.oid })));
            obs.report.captured += 1;
        }
        n.write_meta(&accounts, &mut metadata);
    }
    // The nodes are sorted, so the map is built in one pass.
    obs.items = file_items.into_iter().collect();
    for root in roots {
        if host.path(root).is_dir() && !fs.notes.iter().any(|n| n.contains(&format!(" {root} is a symlink")))
        {
            obs.scopes.push(format!("{}/", twin_path(root)));
        }
    }
    notes.extend(fs.notes);
    if !fs.unreadable.is_empty() {
        let shown: Vec<&str> = fs.unreadable.iter().take(5).map(String::as_str).collect();
        notes.push(format!(
            "files: {} could not be read and were skipped: {}{}",
            fs.unreadable.len(),
            shown.join(", "),
            if fs.unreadable.len() > 5 { ", …" } else { "" }
        ));
    }
    obs.report.unreadable = fs.unreadable.len();
    obs.keyed.push(Keyed { path: METADATA_TXT, observed: metadata });

    // Packages.
    match pkgs? {
        Ok(p) => {
            obs.report.packages = Some(p.installed.len());
            obs.keyed.push(Keyed { path: DPKG_TXT, observed: packages::render_dpkg_txt(&p.installed) });
            if let Some(manual) = p.manual {
                whole(&mut obs, APT_MANUAL_TXT, Some(manual.iter().map(|m| format!("{m}\n")).collect()));
            }
            notes.extend(p.notes);
        }
        Err(note) => notes.push(note),
    }

    // Services.
    match svcs? {
        Ok(s) => {
            obs.report.services = Some(s.desired.len());
            whole(&mut obs, UNIT_FILES_TXT, Some(s.unit_files));
            whole(&mut obs, ACTIVE_UNITS_TXT, Some(s.active_units));
            obs.keyed.push(Keyed {
                path: DESIRED_STATE_TXT,
                observed: services::render_desired_state(&s.desired),
            });
            notes.extend(s.notes);
        }
        Err(note) => notes.push(note),
    }

    // Startup: a crontab holding a secret is left out, and then startup is not planned.
    match cron? {
        Ok(text) if crate::secrets::secret_content(text.as_bytes()).is_some() => {
            excluded.push((Reason::SecretContent, format!("/var/spool/cron/crontabs/{}", ctx.user)));
            notes.push(format!(
                "startup: the crontab of {} holds a secret; it was left out and startup is not planned",
                ctx.user
            ));
        }
        Ok(text) => whole(&mut obs, CRONTAB_TXT, Some(text)),
        Err(note) => notes.push(note),
    }

    // Logs and facts.
    match journal? {
        Ok(text) => whole(&mut obs, JOURNAL_TXT, Some(text)),
        Err(note) => notes.push(note),
    }
    match uname? {
        Ok(text) => whole(&mut obs, UNAME_TXT, Some(text)),
        Err(note) => notes.push(note),
    }
    match facts::os_release(host) {
        Ok(text) => whole(&mut obs, OS_RELEASE, Some(text)),
        Err(note) => notes.push(note),
    }
    whole(&mut obs, HOSTNAME, facts::hostname(host).map(|h| format!("{h}\n")));

    excluded.sort_by(|a, b| a.1.cmp(&b.1));
    for (reason, _) in &excluded {
        *obs.report.excluded.entry(reason.as_str()).or_default() += 1;
    }
    whole(&mut obs, EXCLUDED_TXT, Some(files::render_excluded(&excluded)));
    whole(&mut obs, NOTES_TXT, (!notes.is_empty()).then(|| notes.iter().map(|n| format!("{n}\n")).collect()));
    obs.report.notes = notes;
    Ok(obs)
}

fn joined<T>(res: std::thread::Result<T>) -> Result<T> {
    res.map_err(|_| Error::failed("a collector thread panicked; please report this as a bug"))
}

/// The twin's working tree under the captured roots and `system/`: path → item. A file whose
/// `lstat` the cache knows is not read again.
fn read_twin_tree(twin: &Twin, roots: &[String], cache: &mut StatCache) -> Result<BTreeMap<String, Item>> {
    // A list sorted once is cheaper than a map grown one path at a time; about as long as
    // the cache.
    let mut res = Vec::with_capacity(cache.len());
    let mut tops: Vec<String> = roots.iter().map(|r| twin_path(r)).collect();
    tops.push("system".to_string());
    for top in tops {
        let dir = twin.dir().join(&top);
        if !dir.exists() {
            continue;
        }
        let mut failed = None;
        crate::walk::walk(&dir, &mut |path, meta| {
            let meta = match meta {
                Ok(m) => m,
                Err(e) => {
                    failed
                        .get_or_insert_with(|| format!("failed to read the twin's {}: {e}", path.display()));
                    return false;
                }
            };
            if meta.is_dir() {
                return true;
            }
            let Some(rel) = crate::walk::below(twin.dir(), path) else { return false };
            let link = meta.file_type().is_symlink();
            let oid = match cache.lookup(path, meta) {
                Some(oid) => oid,
                None => match read_entry(path, link) {
                    Ok(bytes) => {
                        let oid = blob_id(&bytes);
                        cache.record(path, meta, oid);
                        oid
                    }
                    Err(e) => {
                        failed.get_or_insert_with(|| e.to_string());
                        return false;
                    }
                },
            };
            res.push((rel.to_string(), Item { link, oid }));
            false
        });
        if let Some(why) = failed {
            return Err(Error::failed(why));
        }
    }
    Ok(res.into_iter().collect())
}

/// The bytes git stores for an entry: a file's content, or a symlink's target (never followed).
fn read_entry(path: &std::path::Path, link: bool) -> Result<Vec<u8>> {
    Ok(if link {
        fs_err::read_link(path)?.into_os_string().into_encoded_bytes()
    } else {
        fs_err::read(path)?
    })
}

/// The observed bytes of an item, re-read from the machine when they were not kept.
fn observed_bytes(ctx: &Ctx, kept: &BTreeMap<String, Vec<u8>>, path: &str, item: &Item) -> Result<Vec<u8>> {
    if let Some(b) = kept.get(path) {
        return Ok(b.clone());
    }
    let machine = path.strip_prefix("filesystem").unwrap_or(path);
    let live = ctx.host.path(machine);
    let bytes = read_entry(&live, item.link)?;
    // The same blob id means the very bytes the collector hashed and found free of secrets,
    // so they are not scanned again.
    if blob_id(&bytes) != item.oid {
        return Err(Error::failed(format!(
            "{machine} changed while the snapshot was taken; run the snapshot again"
        )));
    }
    Ok(bytes)
}

/// Bytes for a baseline blob that may not be in the object database yet; None when the twin's
/// own copy will be committed anyway (HEAD has it).
fn twin_or_observed_bytes(
    ctx: &Ctx,
    twin: &Twin,
    kept: &BTreeMap<String, Vec<u8>>,
    twin_files: &BTreeMap<String, Item>,
    path: &str,
    item: &Item,
) -> Result<Option<Vec<u8>>> {
    if let Some(b) = kept.get(path) {
        return Ok(Some(b.clone()));
    }
    if twin_files.get(path) == Some(item) {
        return read_entry(&twin.dir().join(path), item.link).map(Some);
    }
    observed_bytes(ctx, kept, path, item).map(Some)
}

/// Puts one item into the twin's working tree (or removes it), replacing whatever kind of
/// entry was there; empty folders left behind are removed.
fn write_twin(twin: &Twin, path: &str, content: Option<&(bool, Vec<u8>)>) -> Result<()> {
    let full = twin.dir().join(path);
    if let Ok(m) = fs_err::symlink_metadata(&full) {
        if m.is_dir() {
            fs_err::remove_dir_all(&full)?;
        } else {
            fs_err::remove_file(&full)?;
        }
    }
    match content {
        None => {
            let mut dir = full.parent();
            while let Some(d) = dir {
                if d == twin.dir() || std::fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
        }
        Some((link, bytes)) => {
            if let Some(parent) = full.parent() {
                make_dirs(twin, parent)?;
            }
            if *link {
                let target = std::ffi::OsString::from_vec(bytes.clone());
                std::os::unix::fs::symlink(&target, &full)
                    .map_err(|e| Error::io(&format!("write {}", full.display()), e))?;
            } else {
                fs_err::write(&full, bytes)?;
            }
        }
    }
    Ok(())
}

use std::os::unix::ffi::OsStringExt;

/// Creates a folder of the twin, replacing a file or symlink that stands where a folder must.
fn make_dirs(twin: &Twin, dir: &std::path::Path) -> Result<()> {
    if dir.is_dir() && !fs_err::symlink_metadata(dir)?.file_type().is_symlink() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent != twin.dir() {
            make_dirs(twin, parent)?;
        }
    }
    if let Ok(m) = fs_err::symlink_metadata(dir) {
        if !m.is_dir() {
            fs_err::remove_file(dir)?;
        }
    }
    if !dir.exists() {
        fs_err::create_dir(dir)?;
    }
    Ok(())
}

fn commit_message(ctx: &Ctx, message: Option<&str>, report: &Report, written: &[String]) -> String {
    let title = message.map(str::to_string).unwrap_or_else(|| format!("snapshot of {}", ctx.device()));
    let mut body = String::new();
    let files: Vec<&String> = written.iter().filter(|p| p.starts_with("filesystem/")).collect();
    body.push_str(&format!("\n\n{} files captured, {} changed", report.captured, files.len()));
    for p in files.iter().take(20) {
        body.push_str(&format!("\n  {}", p.trim_start_matches("filesystem")));
    }
    if files.len() > 20 {
        body.push_str(&format!("\n  … and {} more", files.len() - 20));
    }
    let system: Vec<&String> = written.iter().filter(|p| p.starts_with("system/")).collect();
    if !system.is_empty() {
        body.push_str("\nupdated:");
        for p in system {
            body.push_str(&format!(" {p}"));
        }
    }
    format!("{title}{body}\n")
}

/// The one-line summary and the notes, as printed after a snapshot.
pub(crate) fn summary(report: &Report) -> String {
    let mut res = String::new();
    match &report.commit {
        Some(c) => res.push_str(&format!("twinsync: snapshot {}: ", &c[..7.min(c.len())])),
        None => res.push_str("twinsync: nothing changed, no commit: "),
    }
    let excluded: usize = report.excluded.values().sum();
    res.push_str(&format!(
        "{} files captured ({} changed), {} excluded",
        report.captured, report.changed, excluded
    ));
    if excluded > 0 {
        let parts: Vec<String> = report.excluded.iter().map(|(r, n)| format!("{r} {n}")).collect();
        res.push_str(&format!(" ({})", parts.join(", ")));
    }
    if let Some(p) = report.packages {
        res.push_str(&format!(", {p} packages"));
    }
    if let Some(s) = report.services {
        res.push_str(&format!(", {s} services"));
    }
    res.push_str(&format!(", {:.1} s\n", report.seconds));
    for note in &report.notes {
        res.push_str(&format!("twinsync: note: {note}\n"));
    }
    if !report.pending.is_empty() {
        res.push_str(&format!(
            "twinsync: {} change(s) waiting in the twin were kept (see `twinsync plan`)\n",
            report.pending.len()
        ));
    }
    for c in &report.conflicts {
        res.push_str(&format!(
            "twinsync: conflict: {} changed both in the twin and on this machine; the twin keeps its version\n",
            c.trim_start_matches("filesystem")
        ));
    }
    res
}
