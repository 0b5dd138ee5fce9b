//! `plan`, `status`, `diff`, `apply` and `undo`: the commands that turn an edited twin into
//! changes on the machine, and back.
//!
//! The domain modules do the work (`files::plan`, `packages::plan`, … decide; their `apply`
//! modules change the machine); this module gathers their inputs — the baseline commit, the
//! twin's working tree, the machine now — writes and reads the plan files in `<twin>/plans/`,
//! shows what will happen, asks, takes the lock, keeps the run's journal, and snapshots the
//! result. `apply.rs` holds `apply` and `undo`.

mod apply;

pub(crate) use apply::{apply, undo};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::files::apply as fapply;
use crate::files::plan::{self as fplan, Class, Item, States};
use crate::files::{self, Accounts, Kind, Rules};
use crate::journal;
use crate::name::Name;
use crate::planfile::{self, Domain, FileState, Line, Meta, Plan, Planned};
use crate::snapshot::{self, CRONTAB_TXT, DESIRED_STATE_TXT, DPKG_TXT, METADATA_TXT};
use crate::sorted::{not_in, seek};
use crate::statcache::StatCache;
use crate::twin::{blob_id, Twin};
use crate::{packages, services, startup, Ctx};

/// The domains a command names, in the order `apply all` runs them: none or `all` means every
/// domain.
fn domains(names: &[String]) -> Vec<Domain> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Domain::ALL.to_vec();
    }
    let set: BTreeSet<Domain> = names.iter().filter_map(|n| Domain::from_name(n)).collect();
    set.into_iter().collect()
}

/// The command named domains (rather than none or `all`).
fn explicit(names: &[String]) -> bool {
    !names.is_empty() && !names.iter().any(|n| n == "all")
}

fn plan_path(twin: &Twin, domain: Domain) -> PathBuf {
    twin.dir().join("plans").join(domain.file_name())
}

/// What the planner of one domain decided: the plan lines after the header, the counts, and a
/// status row per item.
struct Planning {
    domain: Domain,
    /// The baseline the plan compares with; None: two-way (no baseline, or `--mirror`).
    baseline: Option<String>,
    /// Why the domain cannot be planned at all (a collector could not run, the twin lacks its
    /// file); then there are no lines.
    not_planned: Option<String>,
    lines: Vec<Line>,
    desired: usize,
    drift: usize,
    conflicts: usize,
    /// `XY name  (what)`, like `git status --short`.
    rows: Vec<String>,
}

impl Planning {
    fn new(domain: Domain, baseline: Option<String>) -> Planning {
        Planning {
            domain,
            baseline,
            not_planned: None,
            lines: Vec::new(),
            desired: 0,
            drift: 0,
            conflicts: 0,
            rows: Vec::new(),
        }
    }

    fn not_planned(domain: Domain, why: String) -> Planning {
        Planning { not_planned: Some(why), ..Planning::new(domain, None) }
    }

    fn counts_text(&self) -> String {
        format!("{} to apply, {} drift, {} conflict(s)", self.desired, self.drift, self.conflicts)
    }

    /// The whole plan file: header, a note for two-way plans, the lines.
    fn plan(&self, ctx: &Ctx, head: &str) -> Plan {
        let d = self.domain;
        let mut lines = planfile::header(d, head, self.baseline.as_deref(), &root_text(ctx), &ctx.device());
        if let Some(why) = &self.not_planned {
            lines.push(Line::Note(format!(" not planned: {why}")));
            return Plan { domain: d, lines };
        }
        if self.baseline.is_none() {
            let why = if ctx.global.mirror { "--mirror" } else { "there is no baseline yet (a fresh clone)" };
            lines.push(Line::Note(format!(
                " planned two-way because {why}: every difference is a change to make the machine equal to the twin"
            )));
        }
        if self.lines.is_empty() {
            lines.push(Line::Note(format!(
                " nothing to do: the {} of the machine are as the twin has them",
                d.name()
            )));
        }
        lines.extend(self.lines.iter().cloned());
        Plan { domain: d, lines }
    }
}

/// HEAD, and the baseline the planners compare with: none with `--mirror` (or before a first
/// snapshot). Resolved once, by whoever asks first: for `plan files` the baseline reader, in
/// its thread, so that this git process runs while the walks do.
struct Refs<'a> {
    ctx: &'a Ctx,
    twin: &'a Twin,
    got: OnceLock<Result<(Option<String>, Option<String>)>>,
}

impl<'a> Refs<'a> {
    fn new(ctx: &'a Ctx, twin: &'a Twin) -> Refs<'a> {
        Refs { ctx, twin, got: OnceLock::new() }
    }

    fn get(&self) -> Result<(Option<String>, Option<String>)> {
        let got = self.got.get_or_init(|| {
            let (head, baseline) = self.twin.head_and_baseline(&self.ctx.host)?;
            Ok((head, baseline.filter(|_| !self.ctx.global.mirror)))
        });
        got.clone()
    }

    fn baseline(&self) -> Result<Option<String>> {
        self.get().map(|(_, b)| b)
    }
}

/// Plans one domain: reads its three states and lets its pure planner decide, comparing with
/// the baseline of `refs` (None: two-way).
fn planning(ctx: &Ctx, twin: &Twin, refs: &Refs, domain: Domain) -> Result<Planning> {
    match domain {
        Domain::Files => {
            let states = file_states(ctx, twin, refs)?;
            let baseline = refs.baseline()?;
            let items = fplan::plan(&states);
            let mut p = Planning::new(domain, baseline.filter(|_| states.baseline.is_some()));
            // Freeing every path's three states takes milliseconds; nothing waits for it.
            std::thread::spawn(move || drop(states));
            let n = |c: Class| {
                items.iter().filter(|i| i.class == c && (i.verb.is_some() || c != Class::Desired)).count()
            };
            (p.desired, p.drift, p.conflicts) = (n(Class::Desired), n(Class::Drift), n(Class::Conflict));
            p.rows = items.iter().map(|i| file_row(i, p.baseline.is_none())).collect();
            p.lines = fplan::render(&items);
            Ok(p)
        }
        Domain::Packages => {
            let baseline = refs.baseline()?;
            let Some(twin_text) = twin_text(twin, DPKG_TXT)? else {
                return Ok(Planning::not_planned(domain, missing(DPKG_TXT)));
            };
            let wanted = packages::parse_dpkg_txt(&twin_text).map_err(|e| in_twin(DPKG_TXT, &e))?;
            let live = match packages::collect(&ctx.host)? {
                Ok(observed) => observed.installed,
                Err(note) => return Ok(Planning::not_planned(domain, note)),
            };
            let base = baseline_text(ctx, twin, baseline.as_deref(), DPKG_TXT)?
                .map(|text| packages::parse_dpkg_txt(&text).map_err(|e| in_baseline(DPKG_TXT, &e)))
                .transpose()?;
            let items = packages::plan(base.as_ref(), &wanted, &live);
            Ok(keyed(domain, baseline.filter(|_| base.is_some()), &items))
        }
        Domain::Services => {
            let baseline = refs.baseline()?;
            let Some(twin_text) = twin_text(twin, DESIRED_STATE_TXT)? else {
                return Ok(Planning::not_planned(domain, missing(DESIRED_STATE_TXT)));
            };
            let wanted =
                services::parse_desired_state(&twin_text).map_err(|e| in_twin(DESIRED_STATE_TXT, &e))?;
            let live = match services::collect(&ctx.host)? {
                Ok(observed) => observed.desired,
                Err(note) => return Ok(Planning::not_planned(domain, note)),
            };
            let base = baseline_text(ctx, twin, baseline.as_deref(), DESIRED_STATE_TXT)?
                .map(|t| services::parse_desired_state(&t).map_err(|e| in_baseline(DESIRED_STATE_TXT, &e)))
                .transpose()?;
            let items = services::plan(base.as_ref(), &wanted, &live);
            Ok(keyed(domain, baseline.filter(|_| base.is_some()), &items))
        }
        Domain::Startup => {
            let baseline = refs.baseline()?;
            let wanted = twin_text(twin, CRONTAB_TXT)?;
            let who = who(ctx);
            let live = match startup::collect(&ctx.host, who.user, who.as_root, who.invoking_user)? {
                Ok(text) => text,
                Err(note) => return Ok(Planning::not_planned(domain, note)),
            };
            let secret = crate::secrets::secret_content(live.as_bytes()).is_some();
            // A baseline without the crontab file (it held a secret then) is a baseline all the same.
            let base = match baseline.as_deref() {
                Some(b) => Some(read_at(ctx, twin, b, CRONTAB_TXT)?),
                None => None,
            };
            let base_ref = base.as_ref().map(|b| b.as_deref());
            let items = startup::plan(base_ref, wanted.as_deref(), &live, secret, &ctx.user);
            Ok(keyed(domain, baseline.filter(|_| base.is_some()), &items))
        }
    }
}

/// Who owns the crontab, and who runs twinsync.
fn who(ctx: &Ctx) -> startup::Who<'_> {
    startup::Who { user: &ctx.user, as_root: ctx.as_root, invoking_user: &ctx.invoking_user }
}

fn missing(rel: &str) -> String {
    format!("the twin has no {rel}; take a snapshot first (`twinsync snapshot`)")
}

fn in_twin(rel: &str, err: &str) -> Error {
    let at = err.split_once(':').map_or(err, |(_, rest)| rest);
    Error::bad_input(format!("the twin's {rel}:{at}; fix the line in the twin, then plan again"))
}

fn in_baseline(rel: &str, err: &str) -> Error {
    Error::failed(format!("the baseline's {rel} cannot be read ({err}); take a snapshot to renew it"))
}

/// A file of the twin's working tree as text; None when it is not there.
fn twin_text(twin: &Twin, rel: &str) -> Result<Option<String>> {
    match fs_err::read(twin.dir().join(rel)) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Error::bad_input(format!("the twin's {rel} is not UTF-8 text; save it as UTF-8"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&format!("read the twin's {rel}"), e)),
    }
}

/// A file of a commit as text; None when the commit does not have it.
fn read_at(ctx: &Ctx, twin: &Twin, rev: &str, rel: &str) -> Result<Option<String>> {
    let files = twin.read_files(&ctx.host, rev, &[rel])?;
    Ok(files.get(rel).map(|bytes| String::from_utf8_lossy(bytes).into_owned()))
}

/// The baseline's version of a keyed file; None without a baseline, or when the baseline does
/// not have the file (its collector could not run then): the domain is planned two-way.
fn baseline_text(ctx: &Ctx, twin: &Twin, baseline: Option<&str>, rel: &str) -> Result<Option<String>> {
    match baseline {
        Some(b) => read_at(ctx, twin, b, rel),
        None => Ok(None),
    }
}

/// The planning of a keyed domain (packages, services, startup) from its planner's items.
fn keyed(domain: Domain, baseline: Option<String>, items: &[Planned]) -> Planning {
    let mut p = Planning::new(domain, baseline);
    for item in items {
        let what = match item.class {
            _ if item.actions.is_empty() => "not planned; see the note in the plan".to_string(),
            Class::Desired => {
                p.desired += 1;
                item.actions.iter().map(|(v, a)| format!("{v} {a}")).collect::<Vec<_>>().join(", ")
            }
            Class::Drift => {
                p.drift += 1;
                "drift".to_string()
            }
            Class::Conflict => {
                p.conflicts += 1;
                "conflict".to_string()
            }
        };
        p.rows.push(format!("{} {}  ({what})", item.letters, item.key));
    }
    p.lines = planfile::render_planned(items);
    p
}

fn file_row(item: &Item, two_way: bool) -> String {
    let what = match (item.class, item.verb) {
        (_, None) => "cannot be planned (a folder or special file is in the way)".to_string(),
        (Class::Desired, Some(v)) => v.to_string(),
        (Class::Drift, _) => "drift".to_string(),
        (Class::Conflict, _) => "conflict".to_string(),
    };
    format!("{} {}  ({what})", item.letters(two_way), item.path)
}

/// `twinsync plan [DOMAIN...]`
pub(crate) fn plan(ctx: &Ctx, names: &[String]) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let refs = Refs::new(ctx, &twin);
    // Every domain is planned before any plan file is written: bad input in one writes none.
    let mut plannings = Vec::new();
    for domain in domains(names) {
        plannings.push(planning(ctx, &twin, &refs, domain)?);
    }
    let head = refs.get()?.0.unwrap_or_else(|| "none".to_string());
    let mut any_desired = false;
    for p in &plannings {
        let text = p.plan(ctx, &head).render();
        let path = plan_path(&twin, p.domain);
        fs_err::create_dir_all(path.parent().unwrap_or(twin.dir()))?;
        fs_err::write(&path, &text)?;
        any_desired |= p.desired > 0;
        if !ctx.global.quiet {
            print!("{text}");
            match &p.not_planned {
                Some(why) => println!("twinsync: {}: not planned: {why}", p.domain.name()),
                None => println!(
                    "twinsync: {}: {}; written to {}",
                    p.domain.name(),
                    p.counts_text(),
                    path.display()
                ),
            }
        }
    }
    ctx.fix_ownership(&twin.dir().join("plans"))?;
    if any_desired && !ctx.global.quiet {
        let names: Vec<&str> = plannings.iter().filter(|p| p.desired > 0).map(|p| p.domain.name()).collect();
        println!(
            "twinsync: next: read the plan (edit it if you like), then `twinsync apply {}`",
            names.join(" ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `twinsync status`
pub(crate) fn status(ctx: &Ctx) -> Result<ExitCode> {
    print!("{}", status_text(ctx)?);
    Ok(ExitCode::SUCCESS)
}

/// The status report: per domain, counts, then a row per item like `git status --short`.
pub(crate) fn status_text(ctx: &Ctx) -> Result<String> {
    let twin = ctx.twin()?;
    let refs = Refs::new(ctx, &twin);
    let mut out = String::new();
    for domain in [Domain::Files, Domain::Packages, Domain::Services, Domain::Startup] {
        let p = planning(ctx, &twin, &refs, domain)?;
        match &p.not_planned {
            Some(why) => out.push_str(&format!("## {}: not planned: {why}\n", domain.name())),
            None => {
                out.push_str(&format!("## {}: {}", domain.name(), p.counts_text()));
                if p.baseline.is_none() {
                    out.push_str(" (two-way: no baseline or --mirror)");
                }
                out.push('\n');
            }
        }
        for row in &p.rows {
            out.push_str(row);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The twin's `metadata.txt` (working tree), parsed.
fn twin_metadata(twin: &Twin) -> Result<BTreeMap<String, Name>> {
    let text = twin_metadata_text(twin)?;
    let lines = twin_metadata_lines(&text)?;
    Ok(lines.into_iter().map(|(path, fields)| (path.to_string(), Name::from(fields))).collect())
}

/// The twin's `metadata.txt`: its blob id and its lines.
fn twin_metadata_text(twin: &Twin) -> Result<String> {
    match fs_err::read_to_string(twin.dir().join(METADATA_TXT)) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::io("read the twin's metadata.txt", e)),
    }
}

/// The lines of the twin's `metadata.txt` text, sorted by path; bad lines are bad input.
fn twin_metadata_lines(text: &str) -> Result<Vec<(&str, &str)>> {
    files::parse_metadata_lines(text).map_err(|e| twin_metadata_error(&e))
}

fn twin_metadata_error(e: &str) -> Error {
    Error::bad_input(format!("{METADATA_TXT}{}", e.trim_start_matches("metadata.txt")))
}

/// The twin's `metadata.txt` lines, parsed once by whichever reader thread needs them first.
type SharedLines<'a> = OnceLock<std::result::Result<Vec<(&'a str, &'a str)>, String>>;

fn under_roots(path: &str, roots: &[String]) -> bool {
    roots.iter().any(|r| path.strip_prefix(r.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

/// The state folder's file that keeps the listing of the last baseline planned with
/// (`Twin::ls_tree_list_cached`).
const LISTING_CACHE: &str = "listing-cache";

/// The state in baseline commit `b` of every file path under the captured roots.
fn baseline_states<'t>(
    ctx: &Ctx,
    twin: &Twin,
    b: &str,
    roots: &[String],
    twin_text: &'t str,
    twin_lines: &SharedLines<'t>,
) -> Result<Vec<(String, FileState)>> {
    let host = &ctx.host;
    let cache = ctx.state_dir().join(LISTING_CACHE);
    let mut entries = twin.ls_tree_list_cached(host, &cache, b, &["filesystem", METADATA_TXT])?;
    let meta_entry = entries.iter().position(|(p, _)| p == METADATA_TXT).map(|i| entries.remove(i).1);
    // Usually the twin's metadata.txt is the baseline's (the same blob): it is then neither
    // read nor parsed again. (A twin's that does not parse is the twin walk's error to report.)
    let (own_text, own_lines);
    let meta: &[(&str, &str)] = match meta_entry {
        Some(e) if e.oid == blob_id(twin_text.as_bytes()) => {
            twin_lines.get_or_init(|| files::parse_metadata_lines(twin_text)).as_deref().unwrap_or_default()
        }
        _ => {
            let text = twin.read_files(host, b, &[METADATA_TXT])?;
            own_text =
                text.get(METADATA_TXT).map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
            own_lines = files::parse_metadata_lines(&own_text).unwrap_or_default();
            &own_lines
        }
    };
    let mut states = Vec::new();
    // Both are in path order: the metadata lines are walked alongside the listing.
    let mut metas = meta.iter().peekable();
    for (mut path, e) in entries {
        // `filesystem/etc/x` becomes `/etc/x` in the same string.
        if !path.starts_with("filesystem/") {
            continue;
        }
        path.drain(.."filesystem".len());
        if !under_roots(&path, roots) {
            continue;
        }
        let fields = seek(&mut metas, &path);
        let state = match e.link {
            true => FileState::Link { oid: e.oid, owner: None },
            false => FileState::File { oid: e.oid, meta: None },
        };
        states.push((path, fapply::with_meta(state, fields)));
    }
    // In the listing's order, which is path order, each path once.
    Ok(states)
}

/// Reads the three states of every file path: baseline, twin, machine.
fn file_states(ctx: &Ctx, twin: &Twin, refs: &Refs) -> Result<States> {
    let host = &ctx.host;
    let roots = ctx.roots()?;
    let roots = &roots;
    let accounts = Accounts::read(host);
    let rules = Rules::new(&ctx.home, ctx.excludes()?, ctx.config.max_file_size()?);
    // The machine and the twin's working tree are walked at the same time, and git lists the
    // baseline meanwhile. Each walk has its own stat cache; a cache that cannot be saved only
    // costs time on the next run.
    let twin_text = twin_metadata_text(twin)?;
    let twin_lines = SharedLines::new();
    let (baseline, twin_map, mut live) = std::thread::scope(|s| {
        let base = s.spawn(|| {
            let baseline = refs.baseline()?;
            baseline.map(|b| baseline_states(ctx, twin, &b, roots, &twin_text, &twin_lines)).transpose()
        });
        let walk = s.spawn(|| {
            let mut cache = StatCache::load(&ctx.state_dir(), twin.dir());
            let states = twin_states(twin, roots, &mut cache);
            // Saved (after an edit of the twin) and freed beside the merge below.
            s.spawn(move || {
                let _ = cache.save();
            });
            // The walk met the files in path order (each root's, and the roots are apart in
            // path order): they are walked alongside the metadata lines, which are sorted too,
            // and make the list in one pass.
            let mut states = states?;
            if !states.is_sorted_by(|a, b| a.0 < b.0) {
                // Roots out of path order, or one inside another (`/etc /etc/ssh`).
                states.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                states.dedup_by(|a, b| a.0 == b.0);
            }
            let meta = twin_lines.get_or_init(|| files::parse_metadata_lines(&twin_text));
            let mut metas = meta.as_ref().map_err(|e| twin_metadata_error(e))?.iter().peekable();
            let with = states.into_iter().map(|(p, st)| {
                let fields = seek(&mut metas, &p);
                (p, fapply::with_meta(st, fields))
            });
            Ok::<_, Error>(with.collect::<Vec<(String, FileState)>>())
        });
        let walked = files::collect(host, roots, &rules, &ctx.state_dir(), !ctx.global.quiet);
        // The machine's states, built while the other readers may still run; `collect` sorted
        // the nodes by path, each path once, so the list is too.
        let mut live = Vec::with_capacity(walked.nodes.len());
        // Most files share an owner and a group: the last names are reused.
        let (mut last_user, mut last_group) = ((u32::MAX, Name::from("")), (u32::MAX, Name::from("")));
        for n in walked.nodes {
            if n.kind == Kind::Dir {
                continue;
            }
            if last_user.0 != n.uid {
                last_user = (n.uid, accounts.user(n.uid).into());
            }
            if last_group.0 != n.gid {
                last_group = (n.gid, accounts.group(n.gid).into());
            }
            let (owner, group) = (last_user.1.clone(), last_group.1.clone());
            let state = match n.kind {
                Kind::Link => FileState::Link { oid: n.oid, owner: Some((owner, group)) },
                _ => FileState::File { oid: n.oid, meta: Some(Meta { mode: n.mode & 0o7777, owner, group }) },
            };
            live.push((n.path, state));
        }
        (base.join(), walk.join(), live)
    });
    let panicked = |_| Error::failed("a reader thread panicked; please report this as a bug");
    // The twin's own errors (a bad metadata.txt is bad input) come before the baseline's.
    let twin_map = twin_map.map_err(panicked)??;
    let baseline = baseline.map_err(panicked)??;
    // The paths the twin or the baseline has and the walk did not meet, found by walking the
    // sorted lists side by side.
    fn paths(list: &[(String, FileState)]) -> impl Iterator<Item = &String> {
        list.iter().map(|(p, _)| p)
    }
    let mut others: Vec<String> = not_in(paths(&twin_map), paths(&live));
    if let Some(b) = &baseline {
        others.extend(not_in(paths(b), paths(&live)));
        others.sort();
        others.dedup();
    }
    let walked = live.len();
    for path in others {
        let state = fapply::live_state(host, &accounts, &path).map_err(Error::failed)?;
        if !matches!(state, FileState::Absent) {
            live.push((path, state));
        }
    }
    if live.len() > walked {
        // None of them was walked: no path is there twice.
        live.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }
    Ok(States { baseline, twin: twin_map, live })
}

fn color(ctx: &Ctx) -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && !ctx.global.quiet
}

/// The diff of one path: a line for mode and owner differences, then the content diff.
fn diff_one(
    ctx: &Ctx,
    twin: &Twin,
    path: &str,
    live: &FileState,
    want: &FileState,
    color: bool,
) -> Result<String> {
    let mut res = String::new();
    let meta = |s: &FileState| match s {
        FileState::File { meta: Some(m), .. } => {
            Some((format!("{:04o}", m.mode), format!("{}:{}", m.owner, m.group)))
        }
        FileState::Link { owner: Some((o, g)), .. } => Some(("0777".to_string(), format!("{o}:{g}"))),
        _ => None,
    };
    if let (Some((lm, lo)), Some((tm, to))) = (meta(live), meta(want)) {
        let mut parts = Vec::new();
        if lm != tm && matches!(want, FileState::File { .. }) && matches!(live, FileState::File { .. }) {
            parts.push(format!("mode {lm} → {tm}"));
        }
        if lo != to {
            parts.push(format!("owner {lo} → {to}"));
        }
        if !parts.is_empty() {
            res.push_str(&format!("{path}: {} (live → twin)\n", parts.join(", ")));
        }
    }
    let oid = |s: &FileState| match s {
        FileState::File { oid, .. } | FileState::Link { oid, .. } => Some(*oid),
        _ => None,
    };
    let kind_differs = std::mem::discriminant(live) != std::mem::discriminant(want);
    if oid(live) != oid(want) || kind_differs {
        let side = |s: &FileState, p: PathBuf| if oid(s).is_some() { p } else { PathBuf::from("/dev/null") };
        let live_path = side(live, ctx.host.path(path));
        let twin_path = side(want, twin.dir().join(snapshot::twin_path(path)));
        let out = twin.diff_files(&ctx.host, &live_path, &twin_path, color)?;
        let root = ctx.host.root().to_string_lossy().trim_start_matches('/').to_string();
        let root = if root.is_empty() { root } else { format!("{root}/") };
        let twin_rel = format!("{}/filesystem/", twin.dir().to_string_lossy().trim_start_matches('/'));
        for line in String::from_utf8_lossy(&out).lines() {
            let header = ["diff --git", "--- ", "+++ "].iter().any(|h| {
                let plain = line
                    .trim_start_matches(|c: char| c == '\x1b' || c == '[' || c.is_ascii_digit() || c == 'm');
                plain.starts_with(h)
            });
            if header {
                // git names both sides after the one that exists when the other is /dev/null.
                let mut l = line.to_string();
                for side in ["live:", "twin:"] {
                    for base in [&root, &twin_rel] {
                        l = l.replacen(&format!("{side}{base}"), &format!("{side}/"), 1);
                    }
                }
                res.push_str(&l);
            } else {
                res.push_str(line);
            }
            res.push('\n');
        }
    }
    Ok(res)
}

/// `twinsync diff [PATH...]`
pub(crate) fn diff(ctx: &Ctx, paths: &[String]) -> Result<ExitCode> {
    print!("{}", diff_text(ctx, paths, color(ctx))?);
    Ok(ExitCode::SUCCESS)
}

/// Twin versus live for the files under PATHs (all when none), as a unified diff.
pub(crate) fn diff_text(ctx: &Ctx, paths: &[String], color: bool) -> Result<String> {
    let twin = ctx.twin()?;
    for p in paths {
        if !p.starts_with('/') {
            return Err(Error::bad_input(format!(
                "diff {p}: give machine paths as absolute paths, like /etc/hosts"
            )));
        }
    }
    let states = file_states(ctx, &twin, &Refs::new(ctx, &twin))?;
    let items = fplan::plan(&states);
    let wanted = |path: &str| {
        paths.is_empty()
            || paths.iter().any(|p| {
                let p = p.trim_end_matches('/');
                path == p || path.strip_prefix(p).is_some_and(|r| r.starts_with('/')) || p.is_empty()
            })
    };
    let mut out = String::new();
    for item in items.iter().filter(|i| wanted(&i.path)) {
        out.push_str(&diff_one(ctx, &twin, &item.path, &item.live, &item.twin, color)?);
    }
    Ok(out)
}

/// Asks a yes/no question on the terminal; the default is no. Without a terminal (and without
/// `--yes`), nothing is done.
pub(crate) fn confirm(ctx: &Ctx, question: &str) -> Result<bool> {
    if ctx.global.yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "nothing was changed: there is no terminal to ask on; read the plan, then run again with --yes",
        ));
    }
    print!("{question} [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Removes temporary files left by runs that were killed (apply or undo).
fn recover(ctx: &Ctx, state: &Path) -> Result<()> {
    for id in journal::runs(state)? {
        let log = journal::read(state, &id)?;
        if log.interrupted() {
            fapply::clean_temps(&ctx.host, &log);
        }
    }
    Ok(())
}

fn root_text(ctx: &Ctx) -> String {
    ctx.host.root().display().to_string()
}

/// After changing the machine, a snapshot records the result, so the baseline follows it.
fn snapshot_after(ctx: &Ctx, twin: &Twin, message: &str) -> Result<()> {
    let report = snapshot::run(ctx, twin, Some(message)).map_err(|e| {
        Error::failed(format!(
            "the machine was changed, but the snapshot after it failed: {}; run `twinsync snapshot`",
            e.message()
        ))
    })?;
    ctx.fix_ownership(twin.dir())?;
    if !ctx.global.quiet {
        print!("{}", snapshot::summary(&report));
    }
    Ok(())
}

/// The twin's version of every file under the captured roots (the working tree, walked
/// without following symlinks), blob ids from the stat cache where the file is unchanged;
/// in the walk's order, without their `metadata.txt` fields (`fapply::with_meta` adds them).
fn twin_states(twin: &Twin, roots: &[String], cache: &mut StatCache) -> Result<Vec<(String, FileState)>> {
    let mut twin_map = Vec::with_capacity(cache.len());
    for root in roots {
        let top = twin.dir().join(snapshot::twin_path(root).trim_start_matches('/'));
        // Every folder on the way to the root's folder is looked at once; below it the walk
        // follows no symlink, so each entry's own lstat is all that is needed.
        if !fapply::twin_root_is_dir(twin.dir(), root).map_err(Error::failed)? {
            continue;
        }
        let fs_dir = twin.dir().join("filesystem");
        let mut failed = None;
        crate::walk::walk(&top, &mut |fs_path, m| {
            let rel = crate::walk::below(&fs_dir, fs_path);
            let mut path = String::with_capacity(rel.map_or(1, |r| r.len() + 1));
            path.push('/');
            path.push_str(rel.unwrap_or_default());
            let m = match m {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return false,
                Err(e) => {
                    failed.get_or_insert_with(|| format!("cannot read the twin's {path}: {e}"));
                    return false;
                }
            };
            if m.is_dir() {
                return true;
            }
            if rel.is_none() {
                return false;
            }
            match fapply::twin_state_walked(fs_path, m, None, &path, cache) {
                Ok(FileState::Absent) => {}
                Ok(state) => twin_map.push((path, state)),
                Err(why) => {
                    failed.get_or_insert(why);
                }
            }
            false
        });
        if let Some(why) = failed {
            return Err(Error::failed(why));
        }
    }

    Ok(twin_map)
}
