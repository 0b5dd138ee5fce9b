//! `plan`, `status`, `diff`, `apply` and `undo`: the commands that turn an edited twin into
//! changes on the machine, and back.
//!
//! The domain modules do the work (`files::plan` decides, `files::apply` changes); this module
//! gathers their inputs, writes and reads the plan files in `<twin>/plans/`, shows what will
//! happen, asks, takes the lock, keeps the run's journal, and snapshots the result.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::files::apply::{self as fapply, Target};
use crate::files::plan::{self as fplan, Class, Item, States};
use crate::files::{self, Accounts, Kind, Rules};
use crate::journal::{self, Run};
use crate::planfile::{self, Domain, FileState, Meta, Plan, Scope};
use crate::snapshot::{self, METADATA_TXT};
use crate::twin::Twin;
use crate::Ctx;

/// The domains a command names: none or `all` means every domain.
fn domains(names: &[String]) -> Vec<Domain> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Domain::ALL.to_vec();
    }
    let set: BTreeSet<Domain> = names.iter().filter_map(|n| Domain::from_name(n)).collect();
    set.into_iter().collect()
}

/// Domains this version cannot plan yet: asked for by name, an error; as part of `all`, a note.
fn only_files(ctx: &Ctx, command: &str, names: &[String]) -> Result<bool> {
    let asked = domains(names);
    let explicit = !names.is_empty() && !names.iter().any(|n| n == "all");
    for d in &asked {
        if *d != Domain::Files && explicit {
            return Err(Error::not_implemented(&format!("{command} {}", d.name())));
        }
    }
    if !explicit && !ctx.global.quiet {
        eprintln!("twinsync: note: this version plans files only; packages, services and startup come next");
    }
    Ok(asked.contains(&Domain::Files))
}

fn plan_path(twin: &Twin, domain: Domain) -> PathBuf {
    twin.dir().join("plans").join(domain.file_name())
}

/// The twin's `metadata.txt` (working tree), parsed.
fn twin_metadata(twin: &Twin) -> Result<BTreeMap<String, String>> {
    let text = match fs_err::read_to_string(twin.dir().join(METADATA_TXT)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io("read the twin's metadata.txt", e)),
    };
    files::parse_metadata(&text)
        .map_err(|e| Error::bad_input(format!("{METADATA_TXT}{}", e.trim_start_matches("metadata.txt"))))
}

fn under_roots(path: &str, roots: &[String]) -> bool {
    roots.iter().any(|r| path.strip_prefix(r.as_str()).is_some_and(|rest| rest.starts_with('/')))
}

/// Reads the three states of every file path: baseline, twin, machine.
fn file_states(ctx: &Ctx, twin: &Twin) -> Result<States> {
    let host = &ctx.host;
    let roots = ctx.roots()?;
    let accounts = Accounts::read(host);
    let twin_meta = twin_metadata(twin)?;

    let baseline = match (ctx.global.mirror, twin.baseline(host)?) {
        (false, Some(b)) => {
            let entries = twin.ls_tree(host, &b, &["filesystem"])?;
            let meta_text = twin.read_files(host, &b, &[METADATA_TXT])?;
            let meta_text = meta_text.get(METADATA_TXT).map(|v| String::from_utf8_lossy(v).into_owned());
            let meta = files::parse_metadata(&meta_text.unwrap_or_default()).unwrap_or_default();
            let mut map = BTreeMap::new();
            for (tpath, e) in entries {
                let Some(path) = tpath.strip_prefix("filesystem") else { continue };
                if !under_roots(path, &roots) {
                    continue;
                }
                let words: Vec<&str> = meta.get(path).map(|m| m.split(' ').collect()).unwrap_or_default();
                let state = if e.link {
                    let owner = match words.as_slice() {
                        ["l", _, o, g] => Some((o.to_string(), g.to_string())),
                        _ => None,
                    };
                    FileState::Link { oid: e.oid, owner }
                } else {
                    let meta = match words.as_slice() {
                        ["f", mode, o, g] => u32::from_str_radix(mode, 8).ok().map(|mode| Meta {
                            mode,
                            owner: o.to_string(),
                            group: g.to_string(),
                        }),
                        _ => None,
                    };
                    FileState::File { oid: e.oid, meta }
                };
                map.insert(path.to_string(), state);
            }
            Some(map)
        }
        _ => None,
    };

    let mut twin_map = BTreeMap::new();
    for root in &roots {
        let top = twin.dir().join(snapshot::twin_path(root).trim_start_matches('/'));
        if !top.is_dir() || fs_err::symlink_metadata(&top)?.file_type().is_symlink() {
            continue;
        }
        for entry in walkdir::WalkDir::new(&top).follow_links(false) {
            let entry = entry.map_err(|e| Error::failed(format!("failed to read the twin: {e}")))?;
            if entry.file_type().is_dir() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(twin.dir().join("filesystem")) else { continue };
            let Some(rel) = rel.to_str() else { continue };
            let path = format!("/{rel}");
            let state = fapply::twin_state(twin.dir(), &twin_meta, &path).map_err(Error::failed)?;
            if !matches!(state, FileState::Absent) {
                twin_map.insert(path, state);
            }
        }
    }

    let rules = Rules::new(&ctx.home, ctx.excludes()?, ctx.config.max_file_size()?);
    let never = |_: &str, _: &String| false;
    let walked = files::collect(host, &roots, &rules, &accounts, &never, !ctx.global.quiet);
    let mut live = BTreeMap::new();
    for n in walked.nodes {
        let state = match n.kind {
            Kind::Dir => continue,
            Kind::Link => FileState::Link { oid: n.oid, owner: Some((n.owner, n.group)) },
            Kind::File => FileState::File {
                oid: n.oid,
                meta: Some(Meta { mode: n.mode & 0o7777, owner: n.owner, group: n.group }),
            },
        };
        live.insert(n.path, state);
    }
    let others: BTreeSet<String> = twin_map
        .keys()
        .chain(baseline.iter().flat_map(|b| b.keys()))
        .filter(|p| !live.contains_key(*p))
        .cloned()
        .collect();
    for path in others {
        let state = fapply::live_state(host, &accounts, &path).map_err(Error::failed)?;
        if !matches!(state, FileState::Absent) {
            live.insert(path, state);
        }
    }
    Ok(States { baseline, twin: twin_map, live })
}

fn counts(items: &[Item]) -> (usize, usize, usize) {
    let n =
        |c: Class| items.iter().filter(|i| i.class == c && (i.verb.is_some() || c != Class::Desired)).count();
    (n(Class::Desired), n(Class::Drift), n(Class::Conflict))
}

/// `twinsync plan [DOMAIN...]`
pub(crate) fn plan(ctx: &Ctx, names: &[String]) -> Result<ExitCode> {
    if !only_files(ctx, "plan", names)? {
        return Ok(ExitCode::SUCCESS);
    }
    let twin = ctx.twin()?;
    let states = file_states(ctx, &twin)?;
    let items = fplan::plan(&states);
    let head = twin.head(&ctx.host)?.unwrap_or_else(|| "none".to_string());
    let baseline = if states.baseline.is_some() { twin.baseline(&ctx.host)? } else { None };
    let mut lines = planfile::header(
        Domain::Files,
        &head,
        baseline.as_deref(),
        &ctx.host.root().display().to_string(),
        &ctx.device(),
    );
    if states.baseline.is_none() {
        let why = if ctx.global.mirror { "--mirror" } else { "there is no baseline yet (a fresh clone)" };
        lines.push(planfile::Line::Note(format!(
            " planned two-way because {why}: every difference is a change to make the machine equal to the twin"
        )));
    }
    if items.is_empty() {
        lines.push(planfile::Line::Note(
            " nothing to do: the files of the machine are as the twin has them".into(),
        ));
    }
    lines.extend(fplan::render(&items));
    let plan = Plan { domain: Domain::Files, lines };
    let text = plan.render();
    let path = plan_path(&twin, Domain::Files);
    fs_err::create_dir_all(path.parent().unwrap_or(twin.dir()))?;
    fs_err::write(&path, &text)?;
    ctx.fix_ownership(&twin.dir().join("plans"))?;
    if !ctx.global.quiet {
        print!("{text}");
        let (desired, drift, conflicts) = counts(&items);
        println!(
            "twinsync: files: {desired} to apply, {drift} drift, {conflicts} conflict(s); written to {}",
            path.display()
        );
        if desired > 0 {
            println!("twinsync: next: read it (edit it if you like), then `twinsync apply files`");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `twinsync status`
pub(crate) fn status(ctx: &Ctx) -> Result<ExitCode> {
    print!("{}", status_text(ctx)?);
    Ok(ExitCode::SUCCESS)
}

/// The status report: per domain, counts, then a line per path like `git status --short`.
pub(crate) fn status_text(ctx: &Ctx) -> Result<String> {
    let twin = ctx.twin()?;
    let states = file_states(ctx, &twin)?;
    let items = fplan::plan(&states);
    let two_way = states.baseline.is_none();
    let (desired, drift, conflicts) = counts(&items);
    let mut out = format!("## files: {desired} to apply, {drift} drift, {conflicts} conflict(s)");
    if two_way {
        out.push_str(" (two-way: no baseline or --mirror)");
    }
    out.push('\n');
    for item in &items {
        let what = match (item.class, item.verb) {
            (_, None) => "cannot be planned (a folder or special file is in the way)".to_string(),
            (Class::Desired, Some(v)) => v.to_string(),
            (Class::Drift, _) => "drift".to_string(),
            (Class::Conflict, _) => "conflict".to_string(),
        };
        out.push_str(&format!("{} {}  ({what})\n", item.letters(two_way), item.path));
    }
    for d in [Domain::Packages, Domain::Services, Domain::Startup] {
        out.push_str(&format!("## {}: not planned by this version yet\n", d.name()));
    }
    Ok(out)
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
        FileState::File { oid, .. } | FileState::Link { oid, .. } => Some(oid.clone()),
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
    let states = file_states(ctx, &twin)?;
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
fn confirm(ctx: &Ctx, question: &str) -> Result<bool> {
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

/// `twinsync apply [DOMAIN...]`
pub(crate) fn apply(ctx: &Ctx, names: &[String]) -> Result<ExitCode> {
    if !only_files(ctx, "apply", names)? {
        return Ok(ExitCode::SUCCESS);
    }
    let twin = ctx.twin()?;
    let path = plan_path(&twin, Domain::Files);
    let bytes = match fs_err::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::bad_input(format!(
                "there is no files plan ({}): run `twinsync plan files`, read it, then apply",
                path.display()
            )))
        }
        Err(e) => return Err(Error::io("read the plan", e)),
    };
    let roots = ctx.roots()?;
    let plan = planfile::parse(Domain::Files, &bytes, &Scope { roots: &roots }).map_err(Error::bad_input)?;
    if let Some(system) = plan.system() {
        if system != root_text(ctx) {
            return Err(Error::bad_input(format!(
                "{}: this plan was made for the system {system}, not {}; plan again for this system",
                Domain::Files.file_name(),
                root_text(ctx)
            )));
        }
    }
    let _lock = if ctx.global.dry_run { None } else { Some(ctx.lock()?) };
    let state = ctx.state_dir();
    if !ctx.global.dry_run {
        recover(ctx, &state)?;
    }
    let accounts = Accounts::read(&ctx.host);
    let twin_meta = twin_metadata(&twin)?;
    let target = Target { host: &ctx.host, accounts: &accounts, twin_dir: twin.dir(), twin_meta: &twin_meta };
    let stale =
        |errors: Vec<String>| Error::bad_input(format!("nothing was applied:\n  {}", errors.join("\n  ")));
    let steps = fapply::check(&target, &plan).map_err(stale)?;
    if steps.is_empty() {
        println!("twinsync: files: the plan has no action lines; nothing to apply");
        return Ok(ExitCode::SUCCESS);
    }

    // Show what will happen, with a diff of each file.
    let color = color(ctx);
    let backups = format!("{}/<run>", state.join("backups").display());
    let mut shown = String::new();
    for step in &steps {
        shown.push_str(&format!("{} {}\n", step.verb, step.path));
        let want = step.write.as_ref().map(|w| w.state.clone()).unwrap_or(FileState::Absent);
        shown.push_str(&diff_one(ctx, &twin, &step.path, &step.live, &want, color)?);
    }
    if ctx.global.dry_run {
        print!("{shown}");
        println!("twinsync: dry run: nothing is changed. Apply would:");
        for step in &steps {
            for line in fapply::describe(step, &backups) {
                println!("  {line}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !ctx.global.yes {
        print!("{shown}");
    }
    if !confirm(ctx, &format!("Apply these {} file change(s) to {}?", steps.len(), ctx.device()))? {
        println!("twinsync: nothing applied");
        return Ok(ExitCode::SUCCESS);
    }
    // Time passed while the person read: check everything again.
    let steps = fapply::check(&target, &plan).map_err(stale)?;

    let mut run = Run::start(&state, &root_text(ctx))?;
    let quiet = ctx.global.quiet;
    let counts = fapply::apply(&target, &steps, &mut run, &mut |line| {
        if !quiet || line.starts_with("FAILED") {
            println!("  {line}");
        }
    });
    run.record(&format!("end {} {} {}", counts.done, counts.failed, counts.skipped))?;
    if counts.done > 0 || counts.failed > 0 {
        fs_err::remove_file(&path)?;
    }
    println!(
        "twinsync: files: {}; run {} (backups in {}; `twinsync undo {}` puts it back)",
        counts.summary(),
        run.id,
        journal::backup_dir(&state, &run.id).display(),
        run.id
    );
    let message = format!("apply run {}: files {}", run.id, counts.summary());
    snapshot_after(ctx, &twin, &message)?;
    Ok(if counts.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
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

/// `twinsync undo [RUN]`
pub(crate) fn undo(ctx: &Ctx, run: Option<&str>) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let state = ctx.state_dir();
    let runs = journal::runs(&state)?;
    let listed = || {
        let last: Vec<&str> = runs.iter().rev().take(5).map(String::as_str).collect();
        if last.is_empty() {
            "there are no apply runs".to_string()
        } else {
            format!("the latest runs: {}", last.join(" "))
        }
    };
    let id = match run {
        Some(r) if runs.iter().any(|x| x == r) => r.to_string(),
        Some(r) => return Err(Error::bad_input(format!("there is no apply run '{r}'; {}", listed()))),
        None => match runs.last() {
            Some(r) => r.clone(),
            None => return Err(Error::bad_input("there is nothing to undo: no apply run yet")),
        },
    };
    let log = journal::read(&state, &id)?;
    if let Some(system) = log.system() {
        if system != root_text(ctx) {
            return Err(Error::bad_input(format!(
                "run {id} changed the system {system}; to undo it pass --root {system}"
            )));
        }
    }
    if log.undone() {
        return Err(Error::bad_input(format!("run {id} was already undone; {}", listed())));
    }
    let _lock = if ctx.global.dry_run { None } else { Some(ctx.lock()?) };
    if !ctx.global.dry_run {
        recover(ctx, &state)?;
    }
    let accounts = Accounts::read(&ctx.host);
    let mut restore = Vec::new();
    let mut refused = Vec::new();
    for line in fapply::journal_lines(&log).iter().rev() {
        if let fapply::JournalLine::File(e) = line {
            match fapply::undo_kind(&ctx.host, &accounts, e).map_err(Error::failed)? {
                fapply::Undo::Restore => restore.push(fapply::undo_text(e)),
                fapply::Undo::ChangedAgain => refused.push(e.path.clone()),
                fapply::Undo::AlreadyBack => {}
            }
        }
    }
    if !(ctx.global.quiet && ctx.global.yes) {
        println!("twinsync: undo of run {id}:");
        for r in &restore {
            println!("  {r}");
        }
        for r in &refused {
            println!("  will NOT undo {r}: it changed again since the run");
        }
        if restore.is_empty() && refused.is_empty() {
            println!("  nothing to put back: every file is as it was before the run");
        }
    }
    if ctx.global.dry_run {
        println!("twinsync: dry run: nothing is changed");
        return Ok(ExitCode::SUCCESS);
    }
    if !restore.is_empty() && !confirm(ctx, &format!("Undo run {id} on {}?", ctx.device()))? {
        println!("twinsync: nothing undone");
        return Ok(ExitCode::SUCCESS);
    }
    let mut journal = Run::reopen(&state, &id)?;
    journal.record("undo")?;
    let counts = fapply::undo(&ctx.host, &accounts, &state, &log, &mut |line| {
        // The preview above named every path; here only what went wrong.
        if line.starts_with("NOT") || line.starts_with("FAILED") {
            println!("  {line}");
        }
    });
    if counts.failed == 0 {
        journal.record("undone")?;
    }
    println!(
        "twinsync: undo of run {id}: {} put back, {} not undone, {} already as before",
        counts.done, counts.failed, counts.skipped
    );
    if counts.done > 0 {
        snapshot_after(ctx, &twin, &format!("undo of apply run {id}"))?;
    }
    Ok(if counts.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
