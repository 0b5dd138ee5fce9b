//! `apply` and `undo` over the four domains.
//!
//! `apply` reads every plan file it is asked for, parses them whole, checks every line of every
//! domain against the machine (and the twin, and apt's simulation), shows it all, asks once,
//! checks again, and then runs the domains in SPEC §7's order — packages, files, services,
//! startup — in one journalled run, followed by one snapshot. A failure skips the rest of its
//! domain; the other domains still run.
//!
//! `undo` reads a run's journal back: files are restored from the backups, packages and
//! services get plans that reverse the run (written to `<state>/undo/<run>/`, checked like any
//! plan), the crontab comes back from its backup. All of it is shown before anything is done.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{confirm, diff_one, plan_path, recover, root_text, snapshot_after, twin_metadata, who};
use crate::error::{Error, Result};
use crate::files::apply::{self as fapply, Target};
use crate::files::Accounts;
use crate::journal::{self, Counts, Log, Run};
use crate::name::Name;
use crate::planfile::{self, Domain, FileState, Line, Plan, Scope};
use crate::twin::Twin;
use crate::{packages, services, startup, Ctx};

/// A domain's plan, checked against the machine: what apply will run.
enum Ready {
    Files(Vec<fapply::Step>),
    Packages(packages::Checked),
    Services(services::Checked),
    Startup(startup::Checked),
}

impl Ready {
    fn len(&self) -> usize {
        match self {
            Ready::Files(steps) => steps.len(),
            Ready::Packages(c) => c.len(),
            Ready::Services(c) => c.len(),
            Ready::Startup(c) => c.len(),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Ready::Files(steps) => steps.is_empty(),
            Ready::Packages(c) => c.is_empty(),
            Ready::Services(c) => c.is_empty(),
            Ready::Startup(c) => c.is_empty(),
        }
    }
}

/// What the domains' checks and applies read besides the plan.
struct World<'a> {
    ctx: &'a Ctx,
    twin: &'a Twin,
    accounts: Accounts,
    twin_meta: BTreeMap<String, Name>,
}

impl<'a> World<'a> {
    fn new(ctx: &'a Ctx, twin: &'a Twin) -> Result<World<'a>> {
        Ok(World { ctx, twin, accounts: Accounts::read(&ctx.host), twin_meta: twin_metadata(twin)? })
    }

    fn target(&self) -> Target<'_> {
        Target {
            host: &self.ctx.host,
            accounts: &self.accounts,
            twin_dir: self.twin.dir(),
            twin_meta: &self.twin_meta,
        }
    }

    fn check(&self, plan: &Plan) -> Result<Ready, Vec<String>> {
        let host = &self.ctx.host;
        Ok(match plan.domain {
            Domain::Files => Ready::Files(fapply::check(&self.target(), plan)?),
            Domain::Packages => Ready::Packages(packages::check(host, plan)?),
            Domain::Services => Ready::Services(services::check(host, plan)?),
            Domain::Startup => Ready::Startup(startup::check(host, &who(self.ctx), self.twin.dir(), plan)?),
        })
    }

    /// Checks every plan; every error of every domain comes back together.
    fn check_all(&self, plans: &[(Plan, PathBuf)]) -> Result<Vec<Ready>, Vec<String>> {
        let mut ready = Vec::new();
        let mut errors = Vec::new();
        for (plan, _) in plans {
            match self.check(plan) {
                Ok(r) => ready.push(r),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() {
            Ok(ready)
        } else {
            Err(errors)
        }
    }

    /// What a person reads before saying yes: the file diffs, the other domains' lines.
    fn show(&self, ready: &Ready, plan: &Plan, color: bool) -> Result<String> {
        let mut out = String::new();
        match ready {
            Ready::Files(steps) => {
                for step in steps {
                    out.push_str(&format!("{} {}\n", step.verb, step.path));
                    let want = step.write.as_ref().map(|w| w.state.clone()).unwrap_or(FileState::Absent);
                    out.push_str(&diff_one(self.ctx, self.twin, &step.path, &step.live, &want, color)?);
                }
            }
            _ => {
                for a in plan.actions() {
                    out.push_str(&format!("{} {}\n", a.verb, a.arg));
                }
            }
        }
        if matches!(ready, Ready::Startup(_)) && !ready.is_empty() {
            out.push_str(&crontab_preview(self.twin)?);
        }
        Ok(out)
    }

    /// The exact steps and commands; what `--dry-run` prints.
    fn describe(&self, ready: &Ready, backups: &str) -> Vec<String> {
        let host = &self.ctx.host;
        match ready {
            Ready::Files(steps) => steps.iter().flat_map(|s| fapply::describe(s, backups)).collect(),
            Ready::Packages(c) => packages::describe(host, c),
            Ready::Services(c) => services::describe(host, c),
            Ready::Startup(c) => startup::describe(host, &who(self.ctx), c),
        }
    }

    fn apply(&self, ready: &Ready, run: &mut Run, say: &mut dyn FnMut(String)) -> Counts {
        let host = &self.ctx.host;
        match ready {
            Ready::Files(steps) => fapply::apply(&self.target(), steps, run, say),
            Ready::Packages(c) => packages::apply(host, c, run, say),
            Ready::Services(c) => services::apply(host, c, run, say),
            Ready::Startup(c) => startup::apply(host, &who(self.ctx), c, run, say),
        }
    }
}

/// The twin's crontab, as the person will get it.
fn crontab_preview(twin: &Twin) -> Result<String> {
    let text = super::twin_text(twin, crate::snapshot::CRONTAB_TXT)?.unwrap_or_default();
    if text.trim().is_empty() {
        return Ok("  the crontab will be removed (the twin's crontab is empty)\n".to_string());
    }
    let mut out = "  the crontab will be:\n".to_string();
    for line in text.lines() {
        out.push_str(&format!("  | {line}\n"));
    }
    Ok(out)
}

/// The plan files apply uses, parsed whole: each named domain's must exist; with none named
/// (or `all`), those that exist.
fn read_plans(ctx: &Ctx, twin: &Twin, names: &[String]) -> Result<Vec<(Plan, PathBuf)>> {
    let roots = ctx.roots()?;
    let mut plans = Vec::new();
    for domain in super::domains(names) {
        let path = plan_path(twin, domain);
        let bytes = match fs_err::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if super::explicit(names) {
                    return Err(Error::bad_input(format!(
                        "there is no {} plan ({}): run `twinsync plan {}`, read it, then apply",
                        domain.name(),
                        path.display(),
                        domain.name()
                    )));
                }
                continue;
            }
            Err(e) => return Err(Error::io("read the plan", e)),
        };
        let plan = planfile::parse(domain, &bytes, &Scope { roots: &roots }).map_err(Error::bad_input)?;
        if let Some(system) = plan.system() {
            if system != root_text(ctx) {
                return Err(Error::bad_input(format!(
                    "{}: this plan was made for the system {system}, not {}; plan again for this system",
                    domain.file_name(),
                    root_text(ctx)
                )));
            }
        }
        plans.push((plan, path));
    }
    if plans.is_empty() {
        return Err(Error::bad_input(
            "there is no plan to apply: run `twinsync plan`, read the plans, then apply",
        ));
    }
    Ok(plans)
}

fn stale(errors: Vec<String>) -> Error {
    Error::bad_input(format!("nothing was applied:\n  {}", errors.join("\n  ")))
}

/// `twinsync apply [DOMAIN...]`
pub(crate) fn apply(ctx: &Ctx, names: &[String]) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let plans = read_plans(ctx, &twin, names)?;
    let dry = ctx.global.dry_run;
    let _lock = if dry { None } else { Some(ctx.lock()?) };
    let state = ctx.state_dir();
    if !dry {
        recover(ctx, &state)?;
    }
    let world = World::new(ctx, &twin)?;
    let ready = world.check_all(&plans).map_err(stale)?;
    let total: usize = ready.iter().map(Ready::len).sum();
    if total == 0 {
        let names: Vec<&str> = plans.iter().map(|(p, _)| p.domain.name()).collect();
        println!("twinsync: {}: the plan has no action lines; nothing to apply", names.join(", "));
        return Ok(ExitCode::SUCCESS);
    }

    let color = super::color(ctx);
    let mut shown = String::new();
    for (r, (plan, _)) in ready.iter().zip(&plans) {
        if !r.is_empty() {
            shown.push_str(&format!("## {}\n", plan.domain.name()));
            shown.push_str(&world.show(r, plan, color)?);
        }
    }
    if dry {
        let backups = format!("{}/<run>", state.join("backups").display());
        print!("{shown}");
        println!("twinsync: dry run: nothing is changed. Apply would:");
        for r in &ready {
            for line in world.describe(r, &backups) {
                println!("  {line}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !ctx.global.yes {
        print!("{shown}");
    }
    if !confirm(ctx, &format!("Apply these {total} change(s) to {}?", ctx.device()))? {
        println!("twinsync: nothing applied");
        return Ok(ExitCode::SUCCESS);
    }
    // Time passed while the person read: check everything again.
    let ready = world.check_all(&plans).map_err(stale)?;

    let mut run = Run::start(&state, &root_text(ctx))?;
    let quiet = ctx.global.quiet;
    let mut all = Counts::default();
    let mut report = Vec::new();
    for (r, (plan, path)) in ready.iter().zip(&plans) {
        if r.is_empty() {
            continue;
        }
        let name = plan.domain.name();
        let counts = world.apply(r, &mut run, &mut |line| {
            if !quiet || line.starts_with("FAILED") {
                println!("  {name}: {line}");
            }
        });
        if counts.done > 0 || counts.failed > 0 {
            // Used: a second apply of the same plan would only be refused as stale.
            fs_err::remove_file(path)?;
        }
        println!("twinsync: {name}: {}", counts.summary());
        report.push(format!("{name} {}", counts.summary()));
        all.done += counts.done;
        all.failed += counts.failed;
        all.skipped += counts.skipped;
        all.deferred += counts.deferred;
    }
    run.record(&format!("end {} {} {}", all.done, all.failed, all.skipped))?;
    println!(
        "twinsync: run {} (backups in {}; `twinsync undo {}` puts it back)",
        run.id,
        journal::backup_dir(&state, &run.id).display(),
        run.id
    );
    snapshot_after(ctx, &twin, &format!("apply run {}: {}", run.id, report.join("; ")))?;
    Ok(if all.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The part of a run's journal that the apply wrote (an undo appends its own lines after
/// `undo`).
fn applied_part(log: &Log) -> Log {
    let end = log.lines.iter().position(|l| l == "undo").unwrap_or(log.lines.len());
    Log { id: log.id.clone(), lines: log.lines[..end].to_vec() }
}

/// A plan that reverses a run's lines of one domain.
fn reverse_plan(domain: Domain, id: &str, lines: Vec<(&'static str, String)>) -> Option<Plan> {
    if lines.is_empty() {
        return None;
    }
    let mut plan_lines = vec![
        Line::Note(format!(" twinsync plan: {}", domain.name())),
        Line::Note(format!(" written by `twinsync undo {id}`: these lines put back what run {id} changed")),
    ];
    plan_lines.extend(lines.into_iter().map(|(verb, arg)| Line::Action { verb: verb.to_string(), arg }));
    Some(Plan { domain, lines: plan_lines })
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
    let dry = ctx.global.dry_run;
    let _lock = if dry { None } else { Some(ctx.lock()?) };
    if !dry {
        recover(ctx, &state)?;
    }
    let applied = applied_part(&log);
    let host = &ctx.host;
    let accounts = Accounts::read(host);

    // Files: what comes back from the backups, what changed again.
    let mut restore = Vec::new();
    // Files that changed again (files::undo counts them when it runs), and undo plans refused.
    let mut changed_again = Vec::new();
    let mut refused = Vec::new();
    for line in fapply::journal_lines(&applied).iter().rev() {
        if let fapply::JournalLine::File(e) = line {
            match fapply::undo_kind(host, &accounts, e).map_err(Error::failed)? {
                fapply::Undo::Restore => restore.push(fapply::undo_text(e)),
                fapply::Undo::ChangedAgain => changed_again.push(e.path.clone()),
                fapply::Undo::AlreadyBack => {}
            }
        }
    }
    // Packages and services: plans that reverse the run, checked like any plan.
    let world = World::new(ctx, &twin)?;
    let mut reverse = Vec::new();
    let undo_dir = state.join("undo").join(&id);
    for (domain, lines) in
        [(Domain::Services, services::reverse(&applied)), (Domain::Packages, packages::reverse(&applied))]
    {
        let Some(plan) = reverse_plan(domain, &id, lines) else { continue };
        if !dry {
            fs_err::create_dir_all(&undo_dir)?;
            fs_err::write(undo_dir.join(domain.file_name()), plan.render())?;
        }
        match world.check(&plan) {
            Ok(ready) => reverse.push((plan, ready)),
            Err(errors) => {
                for e in errors {
                    refused.push(format!("{}: {e}", domain.name()));
                }
            }
        }
    }
    let crontab = startup::undo_preview(host, &who(ctx), &applied).map_err(Error::failed)?;

    let nothing = restore.is_empty() && reverse.is_empty() && crontab.is_none();
    if !(ctx.global.quiet && ctx.global.yes) {
        println!("twinsync: undo of run {id}:");
        if let Some(c) = &crontab {
            println!("  {c}");
        }
        for (plan, _) in &reverse {
            for a in plan.actions() {
                println!("  {} {}", a.verb, a.arg);
            }
        }
        for r in &restore {
            println!("  {r}");
        }
        for path in &changed_again {
            println!("  will NOT undo {path}: it changed again since the run");
        }
        for r in &refused {
            println!("  will NOT undo {r}");
        }
        if nothing && refused.is_empty() && changed_again.is_empty() {
            println!("  nothing to put back: the machine is as it was before the run");
        }
    }
    if dry {
        println!("twinsync: dry run: nothing is changed. Undo would run:");
        let backups = journal::backup_dir(&state, &id).display().to_string();
        for (_, ready) in &reverse {
            for line in world.describe(ready, &backups) {
                println!("  {line}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !nothing && !confirm(ctx, &format!("Undo run {id} on {}?", ctx.device()))? {
        println!("twinsync: nothing undone");
        return Ok(ExitCode::SUCCESS);
    }
    let mut journal = Run::reopen(&state, &id)?;
    journal.record("undo")?;
    let mut all = Counts { failed: refused.len(), ..Counts::default() };
    let mut add = |c: Counts| {
        all.done += c.done;
        all.failed += c.failed;
        all.skipped += c.skipped;
    };
    // The reverse of apply's order: startup, services, files, packages. The preview above
    // named every step; here only what went wrong.
    let say = &mut |line: String| {
        if line.starts_with("NOT") || line.starts_with("FAILED") {
            println!("  {line}");
        }
    };
    add(startup::undo(host, &who(ctx), &state, &applied, say));
    let (services_undo, packages_undo): (Vec<_>, Vec<_>) =
        reverse.iter().partition(|(p, _)| p.domain == Domain::Services);
    for (_, ready) in &services_undo {
        add(world.apply(ready, &mut journal, say));
    }
    add(fapply::undo(host, &accounts, &state, &applied, say));
    for (_, ready) in &packages_undo {
        add(world.apply(ready, &mut journal, say));
    }
    if all.failed == 0 {
        journal.record("undone")?;
    }
    println!(
        "twinsync: undo of run {id}: {} put back, {} not undone, {} already as before",
        all.done, all.failed, all.skipped
    );
    if all.done > 0 {
        snapshot_after(ctx, &twin, &format!("undo of apply run {id}"))?;
    }
    Ok(if all.failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
