//! Applying a startup plan (SPEC §7, apply-safety rule 12), and undoing it.
//!
//! The crontab is one object, changed only through `crontab(1)`: cron reloads when `crontab`
//! touches the spool folder, and the spool's owners and modes are cron's business, so the spool
//! file is never written here. `check` re-reads the live crontab and the twin's file (a changed
//! one makes the plan stale) and lets cron's own checker (`crontab -n -`) judge the new text.
//! `apply` copies the old text to the run's backups and writes the journal line
//! `crontab USER OLDSTATE NEWSTATE` before it installs (`crontab [-u USER] -`) or removes
//! (`crontab [-u USER] -r`) anything. Under `--root` every crontab runs inside `chroot ROOT`.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::plan::VERB;
use super::{collect, spool_path, state, Who};
use crate::host::{Cmd, Host, Output};
use crate::journal::{self, Counts, Log, Run};
use crate::planfile::{Action, Plan};
use crate::snapshot::CRONTAB_TXT;

/// A startup plan that passed every check, ready to run.
pub(crate) struct Checked {
    step: Option<Step>,
}

/// The checked `UPDATE_USER_CRONTAB` line.
struct Step {
    line: usize,
    user: String,
    /// The twin's file, for `describe`.
    twin_file: PathBuf,
    /// The crontab when checked ("" for none).
    old: String,
    /// The twin's text as checked; installed as it is, so what cron checked is what goes in.
    new: String,
}

impl Checked {
    /// How many plan lines will run (0 or 1).
    pub(crate) fn len(&self) -> usize {
        usize::from(self.step.is_some())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.step.is_none()
    }
}

/// Checks a startup plan (parsed and syntax-checked) against the live crontab and the twin, then
/// lets cron check the new text. Errors name the plan line; any error means nothing may be
/// applied.
pub(crate) fn check(host: &Host, who: &Who, twin_dir: &Path, plan: &Plan) -> Result<Checked, Vec<String>> {
    let file = plan.domain.file_name();
    let mut errors = Vec::new();
    let mut step = None;
    for a in plan.actions() {
        match check_line(host, who, twin_dir, &a) {
            Ok(s) => step = Some(s),
            Err(why) => errors.push(format!("{file}:{}: {why}", a.line)),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if let Some(s) = step.as_ref().filter(|s| !s.new.is_empty()) {
        validate(host, who, &s.new).map_err(|why| vec![format!("{file}:{}: {why}", s.line)])?;
    }
    Ok(Checked { step })
}

fn check_line(host: &Host, who: &Who, twin_dir: &Path, a: &Action) -> Result<Step, String> {
    let user = who.user;
    if a.verb != VERB {
        return Err(format!("{} is not a startup verb; a startup plan knows only {VERB}", a.verb));
    }
    if a.arg != CRONTAB_TXT {
        return Err(format!(
            "{VERB} takes {CRONTAB_TXT}, where the twin keeps the crontab, not '{}'; change the line",
            a.arg
        ));
    }
    if !valid_user(user) {
        return Err(format!("'{user}' is not a user name crontab can be given"));
    }
    let old = read_live(host, who)?;
    if a.seen.as_ref().is_some_and(|seen| *seen != state(&old)) {
        return Err(format!(
            "the crontab of {user} changed on this machine since the plan was made (the plan is stale); \
             run `twinsync plan startup` again"
        ));
    }
    if let Some(kind) = crate::secrets::secret_content(old.as_bytes()) {
        return Err(format!(
            "the crontab of {user} on this machine holds a secret ({kind}); twinsync does not replace it: \
             move the secret into a file only {user} can read, then run `twinsync snapshot`"
        ));
    }
    let (twin_file, new) = read_twin(twin_dir, &a.arg)?;
    if a.wanted.as_ref().is_some_and(|wanted| *wanted != state(&new)) {
        return Err(format!(
            "the twin's {} changed since the plan was made (the plan is stale); run `twinsync plan \
             startup` again",
            a.arg
        ));
    }
    if new == old {
        return Err(format!("the crontab of {user} is already as the twin has it; delete the line"));
    }
    Ok(Step { line: a.line, user: user.to_string(), twin_file, old, new })
}

/// A name `crontab -u` takes as a user, not as an option, and a journal line can hold.
fn valid_user(user: &str) -> bool {
    !user.is_empty() && !user.starts_with('-') && !user.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The crontab now ("" for none), or why it cannot be read.
fn read_live(host: &Host, who: &Who) -> Result<String, String> {
    let why = match collect(host, who.user, who.as_root, who.invoking_user) {
        Ok(Ok(text)) => return Ok(text),
        Ok(Err(note)) => note.trim_start_matches("startup: ").to_string(),
        Err(e) => e.message().to_string(),
    };
    Err(format!("cannot read the crontab of {}: {why}", who.user))
}

/// The twin's file at `arg`, as UTF-8 text, never through a symlink (on the way or at the end).
fn read_twin(twin_dir: &Path, arg: &str) -> Result<(PathBuf, String), String> {
    let segments: Vec<&str> = arg.split('/').collect();
    let mut path = twin_dir.to_path_buf();
    let mut found = None;
    for (i, seg) in segments.iter().enumerate() {
        path.push(seg);
        let shown = segments[..=i].join("/");
        let m = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "the twin has no {arg}; run `twinsync snapshot` or `twinsync plan startup` again"
                ))
            }
            Err(e) => return Err(format!("cannot read the twin's {shown}: {e}")),
            Ok(m) => m,
        };
        let last = i + 1 == segments.len();
        if m.file_type().is_symlink() {
            return Err(format!(
                "the twin's {shown} is a symlink, which twinsync does not follow; make {arg} a plain file"
            ));
        }
        if last && !m.is_file() {
            return Err(format!("the twin's {arg} is not a plain file; make it one"));
        }
        if !last && !m.is_dir() {
            return Err(format!("the twin's {shown} is not a folder; {arg} cannot be read"));
        }
        found = Some(m);
    }
    let err = |e: std::io::Error| format!("cannot read the twin's {arg}: {e}");
    let mut f = std::fs::File::open(&path).map_err(err)?;
    // What was opened must be what was looked at: a symlink swapped in meanwhile is refused.
    let opened = f.metadata().map_err(err)?;
    if found.is_none_or(|m| m.dev() != opened.dev() || m.ino() != opened.ino()) {
        return Err(format!(
            "the twin's {arg} changed while it was read; run `twinsync apply startup` again"
        ));
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut f, &mut bytes).map_err(err)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("the twin's {arg} is not UTF-8 text; save it as UTF-8"))?;
    Ok((path, text))
}

/// Lets cron's own checker judge the text: `crontab -n -` reads it from stdin, installs nothing.
fn validate(host: &Host, who: &Who, text: &str) -> Result<(), String> {
    let _session = enter(host)?;
    let cmd = check_cmd(host, who).stdin(text.as_bytes().to_vec());
    let out = host.run(&cmd).map_err(|e| e.message().to_string())?;
    if out.code != 0 {
        return Err(format!(
            "cron refuses the twin's {CRONTAB_TXT} (`{} < {CRONTAB_TXT}` said: {}); fix the file, then \
             run `twinsync plan startup` again",
            cmd.display(),
            cron_message(&out)
        ));
    }
    Ok(())
}

/// Prepares `--root` for crontab inside it (nothing live), with the reason in an error.
fn enter(host: &Host) -> Result<crate::host::RootSession<'_>, String> {
    host.enter(false)
        .map_err(|e| format!("cannot prepare {} for crontab: {}", host.root().display(), e.message()))
}

/// Any exit status is an answer: cron's own message says more than "exit status 1".
fn any_status() -> Vec<i32> {
    (0..=255).collect()
}

/// `crontab -n -`: cron's syntax check of the text on stdin.
fn check_cmd(host: &Host, who: &Who) -> Cmd {
    host.cmd_in("crontab", format!("check the new crontab of {}", who.user))
        .args(["-n", "-"])
        .ok_codes(&any_status())
}

/// As root `crontab -u USER ARGS`; a user changing their own crontab `crontab ARGS` (only root
/// may name a user).
fn crontab_cmd(host: &Host, who: &Who, user: &str, summary: &str, args: &[&str]) -> Cmd {
    let cmd = host.cmd_in("crontab", format!("{summary} the crontab of {user}"));
    let cmd = if who.as_root { cmd.args(["-u", user]) } else { cmd };
    cmd.args(args).ok_codes(&any_status())
}

/// Installs the text on stdin as the user's crontab.
fn install_cmd(host: &Host, who: &Who, user: &str) -> Cmd {
    crontab_cmd(host, who, user, "install", &["-"])
}

fn remove_cmd(host: &Host, who: &Who, user: &str) -> Cmd {
    crontab_cmd(host, who, user, "remove", &["-r"])
}

/// What cron printed, one message: every non-empty line of stderr, then stdout, joined by `; `.
fn cron_message(out: &Output) -> String {
    let text = format!("{}\n{}", String::from_utf8_lossy(&out.stderr), out.stdout_text());
    let message = cron_lines(&text).join("; ");
    if message.is_empty() {
        format!("crontab exited with status {}", out.code)
    } else {
        message
    }
}

fn cron_lines(text: &str) -> Vec<String> {
    text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// The commands `apply` will run, in order; what `--dry-run` prints.
pub(crate) fn describe(host: &Host, who: &Who, checked: &Checked) -> Vec<String> {
    let Some(step) = &checked.step else { return Vec::new() };
    let user = step.user.as_str();
    let mut res = Vec::new();
    if !host.is_live() {
        res.push(format!(
            "mount /proc, /sys and /dev inside {} for crontab; undone afterwards",
            host.root().display()
        ));
    }
    let twin_file = step.twin_file.display();
    if !step.new.is_empty() {
        res.push(format!("{} < {twin_file}", check_cmd(host, who).display()));
    }
    res.push(format!(
        "copy the crontab of {user} ({}) to <state>/backups/<run>{}",
        state(&step.old),
        spool_path(user)
    ));
    if step.new.is_empty() {
        res.push(remove_cmd(host, who, user).display());
    } else {
        res.push(format!("{} < {twin_file}", install_cmd(host, who, user).display()));
    }
    res
}

/// Runs a checked plan. `say` gets one line for the plan line.
pub(crate) fn apply(
    host: &Host,
    who: &Who,
    checked: &Checked,
    run: &mut Run,
    say: &mut dyn FnMut(String),
) -> Counts {
    let mut counts = Counts::default();
    let Some(step) = &checked.step else { return counts };
    match apply_step(host, who, step, run) {
        Ok(what) => {
            counts.done += 1;
            say(format!("{VERB} {CRONTAB_TXT}: {what}"));
        }
        Err(why) => {
            counts.failed += 1;
            say(format!("FAILED {VERB} {CRONTAB_TXT} (plan line {}): {why}", step.line));
        }
    }
    counts
}

fn apply_step(host: &Host, who: &Who, step: &Step, run: &mut Run) -> Result<String, String> {
    let user = step.user.as_str();
    let _session = enter(host)?;
    // Time passed while the person read the plan.
    let now = read_live(host, who)?;
    if now != step.old {
        return Err(format!(
            "the crontab of {user} changed on this machine since the check; nothing was changed, run \
             `twinsync plan startup` again"
        ));
    }
    if step.new.is_empty() && now.is_empty() {
        return Ok(format!("{user} has no crontab; nothing to remove"));
    }
    write_backup(&run.backup_path(&spool_path(user)), &step.old)?;
    run.record(&journal_line(user, &step.old, &step.new)).map_err(|e| e.message().to_string())?;
    let (cmd, done) = if step.new.is_empty() {
        (remove_cmd(host, who, user), format!("removed the crontab of {user}"))
    } else {
        let cmd = install_cmd(host, who, user).stdin(step.new.as_bytes().to_vec());
        (cmd, format!("installed the crontab of {user}"))
    };
    let after = run_and_read_back(host, who, &cmd)?;
    if after != step.new {
        return Err(format!(
            "`{}` succeeded, but the crontab of {user} is now {} instead of {}; see it with `crontab -l`",
            cmd.display(),
            state(&after),
            state(&step.new)
        ));
    }
    Ok(done)
}

/// `crontab USER OLDSTATE NEWSTATE`
fn journal_line(user: &str, old: &str, new: &str) -> String {
    format!("crontab {user} {} {}", state(old), state(new))
}

/// Runs a crontab command that changes the crontab, then reads the crontab back.
fn run_and_read_back(host: &Host, who: &Who, cmd: &Cmd) -> Result<String, String> {
    let out = host.run(cmd).map_err(|e| e.message().to_string())?;
    if out.code != 0 {
        return Err(format!("`{}` failed: {}", cmd.display(), cron_message(&out)));
    }
    read_live(host, who).map_err(|why| format!("`{}` ran, but {why}", cmd.display()))
}

/// The old text into the backups (never next to the spool file), 0600, synced to disk before
/// anything changes. An empty file stands for no crontab.
fn write_backup(to: &Path, text: &str) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot back up the crontab to {}: {e}", to.display());
    let dir = to.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(err)?;
    match std::fs::remove_file(to) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(to).map_err(err)?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(err)?;
    journal::sync_dir(dir).map_err(|e| e.message().to_string())
}

/// A run's `crontab` journal line, read back.
struct Entry {
    user: String,
    old: String,
    new: String,
}

/// The run's `crontab USER OLD NEW` line (an apply writes at most one).
fn entry(log: &Log) -> Option<Entry> {
    log.lines.iter().rev().find_map(|line| {
        let rest = line.strip_prefix("crontab ")?;
        let [user, old, new] = rest.split(' ').collect::<Vec<_>>()[..] else { return None };
        Some(Entry { user: user.to_string(), old: old.to_string(), new: new.to_string() })
    })
}

/// What undo finds, looking at the crontab now.
#[derive(Debug, PartialEq, Eq)]
enum Undo {
    /// As the run left it: put the old one back.
    Restore,
    AlreadyBack,
    /// Changed again since the run: left as it is.
    ChangedAgain,
}

fn judge(e: &Entry, now: &str) -> Undo {
    let now = state(now);
    if now == e.new {
        Undo::Restore
    } else if now == e.old {
        Undo::AlreadyBack
    } else {
        Undo::ChangedAgain
    }
}

/// The journal's user, with the rights of the one who runs undo.
fn who_for<'a>(who: &Who<'a>, e: &'a Entry) -> Who<'a> {
    Who { user: &e.user, as_root: who.as_root, invoking_user: who.invoking_user }
}

/// What undo of this run would do for the crontab, for showing before it acts: None if the run
/// did not touch it.
pub(crate) fn undo_preview(host: &Host, who: &Who, log: &Log) -> Result<Option<String>, String> {
    let Some(e) = entry(log) else { return Ok(None) };
    let who = who_for(who, &e);
    let now = read_live(host, &who)?;
    let user = &e.user;
    Ok(Some(match judge(&e, &now) {
        Undo::Restore if e.old == "absent" => {
            format!(
                "remove the crontab of {user}, which it had not before the run: {}",
                remove_cmd(host, &who, user).display()
            )
        }
        Undo::Restore => format!(
            "put back the crontab of {user} from the run's backup: {} < <state>/backups/{}{}",
            install_cmd(host, &who, user).display(),
            log.id,
            spool_path(user)
        ),
        Undo::AlreadyBack => format!("the crontab of {user} is already as before the run; nothing to do"),
        Undo::ChangedAgain => {
            format!("the crontab of {user} changed again since the run; it will not be undone")
        }
    }))
}

/// Puts the crontab back from the run's backup (`state`: the state folder). Counts: done 1 when
/// put back, failed 1 when it changed again since the run (refused) or could not be put back,
/// skipped 1 when already as before; nothing when the run did not touch the crontab.
pub(crate) fn undo(host: &Host, who: &Who, state: &Path, log: &Log, say: &mut dyn FnMut(String)) -> Counts {
    let mut counts = Counts::default();
    let Some(e) = entry(log) else { return counts };
    let user = e.user.clone();
    match undo_entry(host, &who_for(who, &e), state, log, &e) {
        Ok(Undo::Restore) => {
            counts.done += 1;
            say(format!("put back the crontab of {user} as before the run"));
        }
        Ok(Undo::AlreadyBack) => {
            counts.skipped += 1;
            say(format!("the crontab of {user} is already as before the run"));
        }
        Ok(Undo::ChangedAgain) => {
            counts.failed += 1;
            say(format!(
                "NOT UNDONE: the crontab of {user} changed again since the run; not undone, left as it is"
            ));
        }
        Err(why) => {
            counts.failed += 1;
            say(format!("FAILED to undo the crontab of {user}: {why}"));
        }
    }
    counts
}

fn undo_entry(host: &Host, who: &Who, state_dir: &Path, log: &Log, e: &Entry) -> Result<Undo, String> {
    let _session = enter(host)?;
    let now = read_live(host, who)?;
    let kind = judge(e, &now);
    if kind != Undo::Restore {
        return Ok(kind);
    }
    let (cmd, want) = if e.old == "absent" {
        (remove_cmd(host, who, who.user), String::new())
    } else {
        let from = journal::backup_path(state_dir, &log.id, &spool_path(who.user));
        let text = std::fs::read_to_string(&from)
            .map_err(|err| format!("cannot read the backup {}: {err}", from.display()))?;
        if state(&text) != e.old {
            return Err(format!("the backup {} is not what the run replaced; left as it is", from.display()));
        }
        (install_cmd(host, who, who.user).stdin(text.as_bytes().to_vec()), text)
    };
    let after = run_and_read_back(host, who, &cmd)?;
    if after != want {
        return Err(format!(
            "`{}` succeeded, but the crontab is now {} instead of {}",
            cmd.display(),
            state(&after),
            e.old
        ));
    }
    Ok(Undo::Restore)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::{self, Domain};
    use crate::tests::{sample, TempDir};

    const OLD: &str = "15 3 * * * /usr/bin/true\n";
    const NEW: &str = "*/10 * * * * /usr/bin/true\n";
    const OTHER: &str = "@reboot echo booted\n";
    const ROOT: Who = Who { user: "ana", as_root: true, invoking_user: "root" };
    const HEADER: &str = "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n\
                          # (- installed on Tue Nov 24 10:05:00 2026)\n\
                          # (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)\n";

    /// A mounted disk made of files: `usr/bin/crontab` (a stand-in that cannot run, so nothing
    /// of this computer's cron is ever used), ana's spool file, and a twin and state folder.
    /// collect reads the spool file directly under `--root`.
    struct Sandbox {
        root: TempDir,
        twin: TempDir,
        state: TempDir,
    }

    impl Sandbox {
        fn new(live: &str, twin: Option<&str>) -> Sandbox {
            let sb = Sandbox {
                root: TempDir::new("startup-root"),
                twin: TempDir::new("startup-twin"),
                state: TempDir::new("startup-state"),
            };
            let bin = sb.root.path().join("usr/bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("crontab"), "").unwrap();
            std::fs::create_dir_all(sb.root.path().join("var/spool/cron/crontabs")).unwrap();
            sb.set_live(live);
            if let Some(text) = twin {
                std::fs::create_dir_all(sb.twin.path().join("system/startup")).unwrap();
                std::fs::write(sb.twin_file(), text).unwrap();
            }
            sb
        }

        fn spool(&self) -> PathBuf {
            self.root.path().join("var/spool/cron/crontabs/ana")
        }

        fn set_live(&self, text: &str) {
            if text.is_empty() {
                let _ = std::fs::remove_file(self.spool());
            } else {
                std::fs::write(self.spool(), format!("{HEADER}{text}")).unwrap();
            }
        }

        fn twin_file(&self) -> PathBuf {
            self.twin.path().join(CRONTAB_TXT)
        }

        fn host(&self) -> Host {
            Host::new(self.root.path())
        }

        fn check(&self, plan: &str) -> Result<Checked, Vec<String>> {
            let plan = planfile::parse(Domain::Startup, plan.as_bytes(), &planfile::Scope { roots: &[] })
                .unwrap_or_else(|e| panic!("{e}\n{plan}"));
            check(&self.host(), &ROOT, self.twin.path(), &plan)
        }

        fn check_err(&self, plan: &str) -> String {
            match self.check(plan) {
                Ok(_) => panic!("the check passed:\n{plan}"),
                Err(errors) => {
                    assert_eq!(errors.len(), 1, "{errors:?}");
                    errors[0].clone()
                }
            }
        }
    }

    /// A plan of the one line, with its records when given.
    fn plan_text(arg: &str, seen: Option<&str>, wanted: Option<&str>) -> String {
        let mut text = format!("# twinsync plan: startup\n{VERB} {arg}\n");
        if let Some(s) = seen {
            text.push_str(&format!("#= {} {arg}\n", state(s)));
        }
        if let Some(w) = wanted {
            text.push_str(&format!("#+ {} {arg}\n", state(w)));
        }
        text
    }

    fn step(old: &str, new: &str, twin_file: &str) -> Checked {
        Checked {
            step: Some(Step {
                line: 2,
                user: "ana".to_string(),
                twin_file: PathBuf::from(twin_file),
                old: old.to_string(),
                new: new.to_string(),
            }),
        }
    }

    #[test]
    fn check_refuses_a_path_other_than_the_twins_crontab() {
        let sb = Sandbox::new(OLD, Some(NEW));
        let err = sb.check_err(&plan_text("system/startup/other.txt", None, None));
        assert!(
            err.starts_with("plan-startup.txt:2: UPDATE_USER_CRONTAB takes system/startup/user-crontab.txt"),
            "{err}"
        );
    }

    #[test]
    fn check_refuses_a_stale_live_crontab() {
        let sb = Sandbox::new(OLD, Some(NEW));
        let plan = plan_text(CRONTAB_TXT, Some(OLD), Some(NEW));
        sb.set_live(OTHER);
        let err = sb.check_err(&plan);
        assert!(err.starts_with("plan-startup.txt:2: the crontab of ana changed on this machine"), "{err}");
        assert!(err.contains("(the plan is stale); run `twinsync plan startup` again"), "{err}");
        // Removed on the machine since the plan: stale too.
        sb.set_live("");
        assert!(sb.check_err(&plan).contains("the plan is stale"));
    }

    #[test]
    fn check_refuses_a_changed_twin_file() {
        let sb = Sandbox::new(OLD, Some(OTHER));
        let err = sb.check_err(&plan_text(CRONTAB_TXT, Some(OLD), Some(NEW)));
        assert!(
            err.starts_with("plan-startup.txt:2: the twin's system/startup/user-crontab.txt changed"),
            "{err}"
        );
        assert!(err.contains("the plan is stale"), "{err}");
    }

    #[test]
    fn check_never_reads_the_twin_through_a_symlink() {
        let sb = Sandbox::new(OLD, Some(NEW));
        let elsewhere = sb.twin.path().join("elsewhere.txt");
        std::fs::write(&elsewhere, NEW).unwrap();
        std::fs::remove_file(sb.twin_file()).unwrap();
        std::os::unix::fs::symlink(&elsewhere, sb.twin_file()).unwrap();
        let plan = plan_text(CRONTAB_TXT, Some(OLD), Some(NEW));
        let err = sb.check_err(&plan);
        assert!(err.contains("the twin's system/startup/user-crontab.txt is a symlink"), "{err}");
        // A symlinked folder on the way.
        let dir = sb.twin.path().join("system/startup");
        std::fs::rename(&dir, sb.twin.path().join("real")).unwrap();
        std::fs::remove_file(sb.twin.path().join("real/user-crontab.txt")).unwrap();
        std::fs::write(sb.twin.path().join("real/user-crontab.txt"), NEW).unwrap();
        std::os::unix::fs::symlink(sb.twin.path().join("real"), &dir).unwrap();
        let err = sb.check_err(&plan);
        assert!(err.contains("the twin's system/startup is a symlink"), "{err}");
    }

    #[test]
    fn check_wants_a_plain_utf8_twin_file() {
        let sb = Sandbox::new(OLD, None);
        let plan = plan_text(CRONTAB_TXT, Some(OLD), None);
        assert!(sb.check_err(&plan).contains("the twin has no system/startup/user-crontab.txt"));
        std::fs::create_dir_all(sb.twin_file()).unwrap();
        assert!(sb.check_err(&plan).contains("is not a plain file"));
        std::fs::remove_dir(sb.twin_file()).unwrap();
        std::fs::write(sb.twin_file(), b"* * * * * echo \xff\n").unwrap();
        assert!(sb.check_err(&plan).contains("is not UTF-8 text; save it as UTF-8"));
    }

    #[test]
    fn check_refuses_a_live_crontab_holding_a_secret() {
        let secret = format!("* * * * * curl -H 'x: {}{}' https://x\n", "ghp_", "aB3".repeat(12));
        let sb = Sandbox::new(&secret, Some(NEW));
        let err = sb.check_err(&plan_text(CRONTAB_TXT, None, None));
        assert!(err.contains("the crontab of ana on this machine holds a secret"), "{err}");
        assert!(!err.contains("ghp_"), "{err}");
    }

    #[test]
    fn check_refuses_a_line_with_nothing_to_do_and_a_missing_cron() {
        let sb = Sandbox::new(OLD, Some(OLD));
        let err = sb.check_err(&plan_text(CRONTAB_TXT, None, None));
        assert!(err.contains("already as the twin has it; delete the line"), "{err}");
        std::fs::remove_file(sb.root.path().join("usr/bin/crontab")).unwrap();
        let err = sb.check_err(&plan_text(CRONTAB_TXT, None, None));
        assert!(
            err.starts_with("plan-startup.txt:2: cannot read the crontab of ana: cron is not installed"),
            "{err}"
        );
    }

    #[test]
    fn check_refuses_a_user_that_looks_like_an_option() {
        let sb = Sandbox::new(OLD, Some(NEW));
        let plan = planfile::parse(
            Domain::Startup,
            plan_text(CRONTAB_TXT, None, None).as_bytes(),
            &planfile::Scope { roots: &[] },
        )
        .unwrap();
        let who = Who { user: "-r", as_root: true, invoking_user: "root" };
        let errors = check(&sb.host(), &who, sb.twin.path(), &plan).err().unwrap();
        assert!(errors[0].contains("'-r' is not a user name"), "{errors:?}");
    }

    #[test]
    fn an_empty_twin_crontab_passes_without_crons_checker() {
        let sb = Sandbox::new(OLD, Some(""));
        let checked =
            sb.check(&plan_text(CRONTAB_TXT, Some(OLD), Some(""))).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(checked.len(), 1);
        let root = sb.root.path().display().to_string();
        let lines = describe(&sb.host(), &ROOT, &checked);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[2], format!("chroot -- {root} crontab -u ana -r"));
        // A plan without lines checks to nothing.
        let none = sb.check("# twinsync plan: startup\n").unwrap_or_else(|e| panic!("{e:?}"));
        assert!(none.is_empty() && describe(&sb.host(), &ROOT, &none).is_empty());
    }

    #[test]
    fn a_new_text_goes_to_crons_checker_inside_the_root() {
        // The stand-in crontab cannot run, so the check fails: chroot's exit status, or a closed
        // stdin, whichever comes first.
        let sb = Sandbox::new(OLD, Some(NEW));
        let err = sb.check_err(&plan_text(CRONTAB_TXT, Some(OLD), Some(NEW)));
        let root = sb.root.path().display().to_string();
        assert!(err.starts_with("plan-startup.txt:2: "), "{err}");
        assert!(err.contains(&format!("chroot -- {root} crontab -n -")), "{err}");
    }

    #[test]
    fn crons_messages_are_quoted_whole() {
        let without_code = |name: &str| {
            sample(name).lines().filter(|l| !l.starts_with("exit code:")).collect::<Vec<_>>().join("\n")
        };
        assert_eq!(
            cron_lines(&without_code("crontab-n-bad.txt")),
            ["\"/root/bad.cron\":1: bad minute", "errors in crontab file, can't install."]
        );
        assert_eq!(
            cron_lines(&without_code("crontab-n-good.txt")),
            ["The syntax of the crontab file was successfully checked."]
        );
        let out = Output {
            code: 1,
            stdout: Vec::new(),
            stderr: b"\"-\":0: bad minute\nerrors in crontab file, can't install.\n".to_vec(),
        };
        assert_eq!(cron_message(&out), "\"-\":0: bad minute; errors in crontab file, can't install.");
        let quiet = Output { code: 1, stdout: Vec::new(), stderr: Vec::new() };
        assert_eq!(cron_message(&quiet), "crontab exited with status 1");
    }

    #[test]
    fn describe_shows_the_exact_commands() {
        let live = Host::new(Path::new("/"));
        let twin = "/home/ana/twin/system/startup/user-crontab.txt";
        assert_eq!(
            describe(&live, &ROOT, &step(OLD, NEW, twin)),
            vec![
                format!("crontab -n - < {twin}"),
                format!(
                    "copy the crontab of ana ({}) to <state>/backups/<run>/var/spool/cron/crontabs/ana",
                    state(OLD)
                ),
                format!("crontab -u ana - < {twin}"),
            ]
        );
        // A user changing their own crontab may not name a user.
        let own = Who { user: "ana", as_root: false, invoking_user: "ana" };
        let lines = describe(&live, &own, &step("", NEW, twin));
        assert_eq!(
            lines[1],
            "copy the crontab of ana (absent) to <state>/backups/<run>/var/spool/cron/crontabs/ana"
        );
        assert_eq!(lines[2], format!("crontab - < {twin}"));
        assert_eq!(describe(&live, &own, &step(OLD, "", twin))[1], "crontab -r");
        assert_eq!(describe(&live, &ROOT, &step(OLD, "", twin))[1], "crontab -u ana -r");
        // On a mounted disk: crontab runs inside it.
        let disk = Host::new(Path::new("/mnt/disk"));
        let lines = describe(&disk, &ROOT, &step(OLD, NEW, twin));
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert!(lines[0].starts_with("mount /proc, /sys and /dev inside /mnt/disk"), "{lines:?}");
        assert_eq!(lines[1], format!("chroot -- /mnt/disk crontab -n - < {twin}"));
        assert_eq!(lines[3], format!("chroot -- /mnt/disk crontab -u ana - < {twin}"));
    }

    #[test]
    fn apply_backs_up_and_journals_before_running_crontab() {
        let sb = Sandbox::new(OLD, Some(NEW));
        let mut run = Run::start(sb.state.path(), &sb.root.path().display().to_string()).unwrap();
        let mut said = Vec::new();
        // The stand-in crontab cannot run: the install fails, after the backup and the journal.
        let counts = apply(&sb.host(), &ROOT, &step(OLD, NEW, "x"), &mut run, &mut |l| said.push(l));
        assert_eq!((counts.done, counts.failed), (0, 1), "{said:?}");
        assert!(
            said[0].starts_with("FAILED UPDATE_USER_CRONTAB system/startup/user-crontab.txt (plan line 2): "),
            "{said:?}"
        );
        let log = journal::read(sb.state.path(), &run.id).unwrap();
        assert_eq!(log.lines[1], format!("crontab ana {} {}", state(OLD), state(NEW)));
        let backup = sb.state.path().join("backups").join(&run.id).join("var/spool/cron/crontabs/ana");
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), OLD);
        assert_eq!(std::fs::metadata(&backup).unwrap().mode() & 0o777, 0o600);
        // The spool file was never written.
        assert_eq!(std::fs::read_to_string(sb.spool()).unwrap(), format!("{HEADER}{OLD}"));
    }

    #[test]
    fn apply_changes_nothing_when_the_crontab_changed_since_the_check() {
        let sb = Sandbox::new(OTHER, Some(NEW));
        let mut run = Run::start(sb.state.path(), "/").unwrap();
        let mut said = Vec::new();
        let counts = apply(&sb.host(), &ROOT, &step(OLD, NEW, "x"), &mut run, &mut |l| said.push(l));
        assert_eq!(counts.failed, 1);
        assert!(said[0].contains("changed on this machine since the check; nothing was changed"), "{said:?}");
        let log = journal::read(sb.state.path(), &run.id).unwrap();
        assert!(!log.lines.iter().any(|l| l.starts_with("crontab ")), "{:?}", log.lines);
        assert!(!sb.state.path().join("backups").exists());
        let empty = apply(&sb.host(), &ROOT, &Checked { step: None }, &mut run, &mut |l| said.push(l));
        assert_eq!(empty, Counts::default());
    }

    fn log_of(old: &str, new: &str) -> Log {
        Log {
            id: "20261124-100500".to_string(),
            lines: vec!["system /".to_string(), journal_line("ana", old, new), "end 1 0 0".to_string()],
        }
    }

    fn undo_said(sb: &Sandbox, log: &Log) -> (Counts, Vec<String>) {
        let mut said = Vec::new();
        let counts = undo(&sb.host(), &ROOT, sb.state.path(), log, &mut |l| said.push(l));
        (counts, said)
    }

    #[test]
    fn journal_lines_read_back() {
        assert_eq!(journal_line("ana", "", NEW), format!("crontab ana absent {}", state(NEW)));
        let e = entry(&log_of(OLD, "")).unwrap();
        assert_eq!((e.user.as_str(), e.old, e.new.as_str()), ("ana", state(OLD), "absent"));
        let files_only =
            Log { id: "x".to_string(), lines: vec!["system /".to_string(), "end 0 0 0".to_string()] };
        assert!(entry(&files_only).is_none());
    }

    #[test]
    fn undo_of_a_run_that_did_not_touch_the_crontab_does_nothing() {
        let sb = Sandbox::new(OLD, None);
        let log = Log { id: "x".to_string(), lines: vec!["system /".to_string()] };
        assert_eq!(undo_preview(&sb.host(), &ROOT, &log), Ok(None));
        assert_eq!(undo_said(&sb, &log), (Counts::default(), Vec::new()));
    }

    #[test]
    fn undo_when_already_back_or_changed_again() {
        let sb = Sandbox::new(OLD, None);
        let log = log_of(OLD, NEW);
        let preview = undo_preview(&sb.host(), &ROOT, &log).unwrap().unwrap();
        assert!(preview.contains("already as before the run"), "{preview}");
        let (counts, said) = undo_said(&sb, &log);
        assert_eq!((counts.done, counts.failed, counts.skipped), (0, 0, 1), "{said:?}");

        sb.set_live(OTHER);
        let preview = undo_preview(&sb.host(), &ROOT, &log).unwrap().unwrap();
        assert!(preview.contains("changed again since the run; it will not be undone"), "{preview}");
        let (counts, said) = undo_said(&sb, &log);
        assert_eq!((counts.done, counts.failed, counts.skipped), (0, 1, 0));
        assert_eq!(
            said,
            ["NOT UNDONE: the crontab of ana changed again since the run; not undone, left as it is"]
        );
        assert_eq!(std::fs::read_to_string(sb.spool()).unwrap(), format!("{HEADER}{OTHER}"));
    }

    #[test]
    fn undo_puts_back_only_the_backup_the_run_made() {
        let sb = Sandbox::new(NEW, None);
        let log = log_of(OLD, NEW);
        let root = sb.root.path().display().to_string();
        let preview = undo_preview(&sb.host(), &ROOT, &log).unwrap().unwrap();
        assert_eq!(
            preview,
            format!(
                "put back the crontab of ana from the run's backup: chroot -- {root} crontab -u ana - < \
                 <state>/backups/20261124-100500/var/spool/cron/crontabs/ana"
            )
        );
        let (counts, said) = undo_said(&sb, &log);
        assert_eq!(counts.failed, 1);
        assert!(said[0].starts_with("FAILED to undo the crontab of ana: cannot read the backup"), "{said:?}");
        let backup = journal::backup_path(sb.state.path(), &log.id, "/var/spool/cron/crontabs/ana");
        std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
        std::fs::write(&backup, OTHER).unwrap();
        let (counts, said) = undo_said(&sb, &log);
        assert_eq!(counts.failed, 1);
        assert!(said[0].contains("is not what the run replaced; left as it is"), "{said:?}");
        // With the right backup it runs crontab inside the root (the stand-in fails there).
        std::fs::write(&backup, OLD).unwrap();
        let (counts, said) = undo_said(&sb, &log);
        assert_eq!(counts.failed, 1);
        assert!(said[0].starts_with("FAILED to undo the crontab of ana: "), "{said:?}");
        assert!(said[0].contains(&format!("chroot -- {root} crontab -u ana -")), "{said:?}");
        assert_eq!(std::fs::read_to_string(sb.spool()).unwrap(), format!("{HEADER}{NEW}"));

        // A crontab the run created goes again.
        let log = log_of("", NEW);
        let preview = undo_preview(&sb.host(), &ROOT, &log).unwrap().unwrap();
        assert_eq!(preview, format!("remove the crontab of ana, which it had not before the run: chroot -- {root} crontab -u ana -r"));
    }
}
