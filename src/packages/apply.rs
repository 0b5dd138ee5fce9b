//! Applying a packages plan (SPEC §7), and the lines that undo an apply run.
//!
//! `check` compares every line with the installed packages (a stale line stops the whole plan),
//! then asks apt itself: `apt-get -s` simulates the installs, and the removals after them, inside
//! the system. The plan is refused when apt would remove a package the plan does not name (a
//! REMOVE can cascade to everything that depends on the package), remove an essential package,
//! downgrade, or change a held package: `apt-get -y` refuses the last three without an
//! `--allow-*` flag, which TwinSync never passes, so they are caught before anything runs.
//!
//! `apply` runs one `apt-get install` for all INSTALL lines (then `apt-mark manual`) and one
//! `apt-get remove` for all REMOVE lines, non-interactively, with every line in the journal
//! first: `package VERB ARG OLDSTATE`, OLDSTATE `installed:VERSION` or `absent`.

use std::collections::{BTreeMap, BTreeSet};

use super::{collect, split_arg, state_text, Installed};
use crate::host::{Cmd, Host, Output};
use crate::journal::{Counts, Log, Run};
use crate::planfile::Plan;

/// Options of every apt-get run that changes the system. dpkg would ask about a configuration
/// file changed on the machine and die on the closed stdin: keep the machine's file, and take the
/// package's default where there is one. apt waits up to five minutes for the dpkg lock (another
/// apt, unattended-upgrades) instead of failing at once; the lock is never broken.
const APT_OPTIONS: [&str; 6] = [
    "-o",
    "Dpkg::Options::=--force-confdef",
    "-o",
    "Dpkg::Options::=--force-confold",
    "-o",
    "DPkg::Lock::Timeout=300",
];

/// What `apt-get -s` says it would do: package → the version it would install, and package →
/// the installed version it would remove.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Simulation {
    pub(crate) installs: BTreeMap<String, String>,
    pub(crate) removes: BTreeMap<String, String>,
}

/// Parses the stdout of `apt-get -s`: `Inst NAME [OLDVER] (NEWVER RELEASE [ARCH])` and
/// `Remv NAME [VER]`; `Conf` and everything else is ignored.
pub(crate) fn parse_simulation(out: &str) -> Simulation {
    let mut sim = Simulation::default();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Inst ") {
            let Some(name) = rest.split_whitespace().next() else { continue };
            let version = rest
                .split_once('(')
                .and_then(|(_, r)| r.split_whitespace().next())
                .map(|v| v.trim_end_matches(')'))
                .unwrap_or("");
            sim.installs.insert(name.to_string(), version.to_string());
        } else if let Some(rest) = line.strip_prefix("Remv ") {
            let Some(name) = rest.split_whitespace().next() else { continue };
            let version = rest.split_once('[').and_then(|(_, r)| r.split_once(']')).map_or("", |(v, _)| v);
            sim.removes.insert(name.to_string(), version.to_string());
        }
    }
    sim
}

/// What apt warns about in a simulation, which `apt-get -y` would refuse.
#[derive(Debug, Default, PartialEq, Eq)]
struct Warnings {
    /// `WARNING: The following essential packages will be removed.` was printed.
    essential_removed: bool,
    /// The packages that warning lists.
    essential: Vec<String>,
    downgraded: Vec<String>,
    held: Vec<String>,
}

const ESSENTIAL_WARNING: &str = "WARNING: The following essential packages will be removed";

fn parse_warnings(out: &str) -> Warnings {
    Warnings {
        essential_removed: out.contains(ESSENTIAL_WARNING),
        essential: listed(out, &["WARNING: The following essential packages will be removed."]),
        // apt < 3 wrote the first title, apt 3 the second.
        downgraded: listed(out, &["The following packages will be DOWNGRADED:", "DOWNGRADING:"]),
        held: listed(out, &["The following held packages will be changed:", "Changing held packages:"]),
    }
}

/// The package names apt lists, indented, under one of `titles`. Words in parentheses are not
/// names (`perl (due to perl-base)`).
fn listed(out: &str, titles: &[&str]) -> Vec<String> {
    let mut lines = out.lines().skip_while(|l| !titles.contains(&l.trim_end()));
    if lines.next().is_none() {
        return Vec::new();
    }
    let mut res = Vec::new();
    for line in lines {
        if !line.starts_with(' ') {
            // The essential warning's title has a second line.
            if res.is_empty() && line.starts_with("This should NOT be done") {
                continue;
            }
            break;
        }
        let mut depth = 0usize;
        let plain: String = line
            .chars()
            .filter(|&c| {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    _ => return depth == 0,
                }
                false
            })
            .collect();
        res.extend(plain.split_whitespace().map(str::to_string));
    }
    res
}

/// A packages plan that passed every check, ready to run.
pub(crate) struct Checked {
    steps: Vec<Step>,
}

/// One checked line.
struct Step {
    line: usize,
    /// `INSTALL` or `REMOVE`.
    verb: &'static str,
    /// `NAME` or `NAME=VERSION`.
    arg: String,
    name: String,
    /// The machine's state when checked, for the journal: `installed:VERSION` or `absent`.
    old: String,
}

impl Checked {
    /// How many plan lines will run.
    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The lines of one verb, in plan order.
    fn group(&self, verb: &str) -> Vec<&Step> {
        self.steps.iter().filter(|s| s.verb == verb).collect()
    }
}

/// Checks every line of a packages plan (parsed and syntax-checked) against the installed
/// packages, then lets apt simulate it inside the system. All errors come back together, each
/// naming its plan line; any error means nothing may be applied.
pub(crate) fn check(host: &Host, plan: &Plan) -> Result<Checked, Vec<String>> {
    let file = plan.domain.file_name();
    let actions = plan.actions();
    if actions.is_empty() {
        return Ok(Checked { steps: Vec::new() });
    }
    let live = read_live(host).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut steps = Vec::new();
    for a in &actions {
        let (name, version) = split_arg(&a.arg);
        let now = live.get(name);
        let old = state_text(now);
        let err = |what: String| format!("{file}:{}: {what}", a.line);
        if a.seen.as_ref().is_some_and(|seen| *seen != old) {
            errors.push(err(format!(
                "{name} changed on this machine since the plan was made (the plan is stale); \
                 run `twinsync plan packages` again"
            )));
            continue;
        }
        let verb = match (a.verb.as_str(), version, now) {
            ("INSTALL", Some(v), Some(cur)) if v == cur => Err(format!(
                "INSTALL {}: {name} is already installed at that version on this machine; delete the line",
                a.arg
            )),
            ("INSTALL", None, Some(cur)) => Err(format!(
                "INSTALL {name}: {name} is already installed on this machine (version {cur}); delete the \
                 line, or name the version to change to: INSTALL {name}=VERSION"
            )),
            ("INSTALL", ..) => Ok("INSTALL"),
            ("REMOVE", _, None) => {
                Err(format!("REMOVE {name}: {name} is not installed on this machine; delete the line"))
            }
            ("REMOVE", ..) => Ok("REMOVE"),
            (other, ..) => {
                Err(format!("{other} is not a packages verb; a packages plan knows INSTALL, REMOVE"))
            }
        };
        match verb {
            Ok(verb) => {
                steps.push(Step { line: a.line, verb, arg: a.arg.clone(), name: name.to_string(), old })
            }
            Err(what) => errors.push(err(what)),
        }
    }
    // A simulation of only the good lines would answer a question nobody asked (and a stale
    // plan is made again anyway): apt is asked once the lines themselves are right.
    if errors.is_empty() {
        errors = simulate_plan(host, &file, &steps, &live);
    }
    if errors.is_empty() {
        Ok(Checked { steps })
    } else {
        Err(errors)
    }
}

/// The installed packages now, or the message that says why they cannot be read.
fn read_live(host: &Host) -> Result<Installed, String> {
    let why = match collect(host) {
        Ok(Ok(observed)) => return Ok(observed.installed),
        Ok(Err(note)) => note.trim_start_matches("packages: ").to_string(),
        Err(e) => e.message().to_string(),
    };
    Err(format!("packages: cannot read the installed packages: {why}"))
}

/// Lets apt simulate the plan inside the system: the INSTALL lines alone (they must remove
/// nothing), then the REMOVE lines as they will run, after the installs.
fn simulate_plan(host: &Host, file: &str, steps: &[Step], live: &Installed) -> Vec<String> {
    let _session = match host.enter(false) {
        Ok(s) => s,
        Err(e) => {
            return vec![format!(
                "packages: cannot prepare {} for apt-get's simulation: {}",
                host.root().display(),
                e.message()
            )]
        }
    };
    let installs: Vec<&Step> = steps.iter().filter(|s| s.verb == "INSTALL").collect();
    let removes: Vec<&Step> = steps.iter().filter(|s| s.verb == "REMOVE").collect();
    let planned_removes: BTreeSet<String> = removes.iter().map(|s| s.name.clone()).collect();
    let ctx = SimContext { host, file, live, planned_removes: &planned_removes };
    let mut errors = Vec::new();
    if !installs.is_empty() {
        errors.extend(ctx.judge(&installs, &[]));
    }
    if !removes.is_empty() {
        let install_args: Vec<&str> = installs.iter().map(|s| s.arg.as_str()).collect();
        errors.extend(ctx.judge(&removes, &install_args));
    }
    errors
}

struct SimContext<'a> {
    host: &'a Host,
    file: &'a str,
    live: &'a Installed,
    planned_removes: &'a BTreeSet<String>,
}

impl SimContext<'_> {
    /// Simulates a group of lines of one verb (REMOVE lines after `installs`) and returns the
    /// errors, each on the line that causes it: when the group together is refused, each line is
    /// simulated alone to find which.
    fn judge(&self, group: &[&Step], installs: &[&str]) -> Vec<String> {
        let Some(first) = group.first() else { return Vec::new() };
        let install = first.verb == "INSTALL";
        let args = |steps: &[&Step]| -> (Vec<String>, Vec<String>) {
            let own: Vec<String> =
                steps.iter().map(|s| if install { s.arg.clone() } else { s.name.clone() }).collect();
            if install {
                (own, Vec::new())
            } else {
                (installs.iter().map(|s| s.to_string()).collect(), own)
            }
        };
        let after = if !install && !installs.is_empty() { " (after the plan's INSTALL lines)" } else { "" };
        let subject = |steps: &[&Step]| -> String {
            let what: Vec<&str> =
                steps.iter().map(|s| if install { s.arg.as_str() } else { s.name.as_str() }).collect();
            let verb = if install { "installing" } else { "removing" };
            if steps.len() == 1 {
                format!("{verb} {}{after}", what.join(", "))
            } else {
                format!("{verb} {} together{after}", what.join(", "))
            }
        };
        let (ins, rem) = args(group);
        match simulate(self.host, &ins, &rem) {
            Err(said) => {
                // apt names the packages it cannot handle: each line gets what apt said about
                // it, and what apt said about no line in particular.
                let about = |step: &Step| -> Vec<&str> {
                    said.iter()
                        .filter(|l| mentions(l, &step.name) || !group.iter().any(|s| mentions(l, &s.name)))
                        .map(String::as_str)
                        .collect()
                };
                let named: Vec<&&Step> = if group.len() == 1 {
                    group.iter().collect()
                } else {
                    group.iter().filter(|s| said.iter().any(|l| mentions(l, &s.name))).collect()
                };
                if named.is_empty() {
                    let lines: Vec<String> = group.iter().map(|s| s.line.to_string()).collect();
                    let cmd = simulation_cmd(self.host, &ins, &rem).display();
                    return vec![format!(
                        "{}:{}: the simulation `{cmd}` failed (plan lines {}): {}; nothing was changed",
                        self.file,
                        first.line,
                        lines.join(", "),
                        said.join("; ")
                    )];
                }
                let verb = if install { "install" } else { "remove" };
                named
                    .iter()
                    .map(|s| {
                        let what = if install { &s.arg } else { &s.name };
                        format!(
                            "{}:{}: apt-get cannot {verb} {what}{after}: {}; nothing was changed",
                            self.file,
                            s.line,
                            about(s).join("; ")
                        )
                    })
                    .collect()
            }
            Ok(outcome) => {
                let reasons = self.refusals(&outcome, install);
                if reasons.is_empty() {
                    return Vec::new();
                }
                let line_errors = |step: &Step, reasons: &[String], subject: &str| -> Vec<String> {
                    reasons
                        .iter()
                        .map(|r| format!("{}:{}: {subject} {r}; nothing was changed", self.file, step.line))
                        .collect::<Vec<_>>()
                };
                if group.len() == 1 {
                    return line_errors(first, &reasons, &subject(group));
                }
                let mut errors = Vec::new();
                for step in group {
                    let (ins, rem) = args(&[step]);
                    if let Ok(alone) = simulate(self.host, &ins, &rem) {
                        errors.extend(line_errors(step, &self.refusals(&alone, install), &subject(&[step])));
                    }
                }
                if errors.is_empty() {
                    // Only the lines together do it.
                    errors = line_errors(first, &reasons, &subject(group));
                }
                errors
            }
        }
    }

    /// Why a simulation must not run for real; empty when it may.
    fn refusals(&self, (sim, warn): &(Simulation, Warnings), install: bool) -> Vec<String> {
        let names = |list: Vec<String>| -> String {
            let set: BTreeSet<String> = list.into_iter().map(|n| canonical(&n, self.live)).collect();
            set.into_iter().collect::<Vec<_>>().join(", ")
        };
        let removed: Vec<String> = sim.removes.keys().map(|n| canonical(n, self.live)).collect();
        let mut res = Vec::new();
        if install {
            if !removed.is_empty() {
                let hint = if removed.iter().all(|n| self.planned_removes.contains(n)) {
                    "; the REMOVE lines run after the installs: apply them first, in a plan of their own"
                } else {
                    ""
                };
                res.push(format!("would remove {}; an install never removes packages{hint}", names(removed)));
            }
        } else {
            let extra: Vec<String> =
                removed.into_iter().filter(|n| !self.planned_removes.contains(n)).collect();
            if !extra.is_empty() {
                res.push(format!("would also remove {}, which the plan does not name", names(extra)));
            }
        }
        if warn.essential_removed {
            let list = if warn.essential.is_empty() {
                "essential packages".to_string()
            } else {
                format!("the essential package(s) {}", names(warn.essential.clone()))
            };
            res.push(format!("would remove {list}; twinsync never removes essential packages"));
        }
        if install && !warn.downgraded.is_empty() {
            res.push(format!(
                "would downgrade {}; apt-get refuses a downgrade without --allow-downgrades, which twinsync \
                 never passes (downgrade by hand with apt-get if you mean it)",
                names(warn.downgraded.clone())
            ));
        }
        // The installs' held packages were reported with them; a removal reports its own.
        let held: Vec<String> =
            warn.held.iter().filter(|h| install || sim.removes.contains_key(h.as_str())).cloned().collect();
        if !held.is_empty() {
            res.push(format!(
                "would change the held package(s) {}; release the hold first (apt-mark unhold NAME) or \
                 delete the line",
                names(held)
            ));
        }
        res
    }
}

/// The name as the installed list has it: apt may add the native architecture (`:amd64`) where
/// dpkg-query names the package plainly.
fn canonical(name: &str, live: &Installed) -> String {
    if !live.contains_key(name) {
        if let Some((plain, _)) = name.split_once(':') {
            if live.contains_key(plain) {
                return plain.to_string();
            }
        }
    }
    name.to_string()
}

/// Any exit status is an answer here: apt's own message says more than "exit status 100".
fn any_status() -> Vec<i32> {
    (0..=255).collect()
}

/// `apt-get -s install INSTALLS REMOVES-` (a trailing `-` asks apt to remove the package in the
/// same run: the state after both), or `apt-get -s remove REMOVES` alone. Simulating takes no
/// lock and changes nothing.
fn simulation_cmd(host: &Host, installs: &[String], removes: &[String]) -> Cmd {
    let cmd = host.cmd_in("apt-get", "simulate the packages plan with apt-get").ok_codes(&any_status());
    if installs.is_empty() {
        cmd.args(["-s", "remove", "--"]).args(removes)
    } else {
        cmd.args(["-s", "install", "--"]).args(installs).args(removes.iter().map(|r| format!("{r}-")))
    }
}

/// The simulation's answer, or what apt (or the attempt to run it) said, a line per message.
fn simulate(
    host: &Host,
    installs: &[String],
    removes: &[String],
) -> Result<(Simulation, Warnings), Vec<String>> {
    let out =
        host.run(&simulation_cmd(host, installs, removes)).map_err(|e| vec![e.message().to_string()])?;
    if out.code != 0 {
        return Err(apt_lines(&out));
    }
    let text = out.stdout_text();
    Ok((parse_simulation(&text), parse_warnings(&text)))
}

/// The lines of a failed apt-get run that say why, a message each: dpkg's errors (with the line
/// before them, often a maintainer script's last word, and the one after, which says what failed),
/// the unmet dependencies, and the `E:` lines; else the last lines it printed. Never empty.
fn apt_lines(out: &Output) -> Vec<String> {
    let stdout = out.stdout_text();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut lines: Vec<String> = Vec::new();
    // Under a terminal-less apt, dpkg's output (and its scripts') goes to stdout or stderr
    // depending on the apt version and /dev/pts: look in both.
    for text in [&*stderr, &*stdout] {
        let all: Vec<&str> = text.lines().collect();
        for (i, l) in all.iter().enumerate() {
            if !l.starts_with("dpkg: error") {
                continue;
            }
            let before = all[..i].iter().rev().map(|b| b.trim()).find(|b| !b.is_empty());
            if let Some(before) = before.filter(|b| !b.starts_with("dpkg: ") && !b.starts_with("E: ")) {
                lines.push(format!("the package said: {before}"));
            }
            let after = all.get(i + 1).filter(|a| a.starts_with(' ')).map_or("", |a| a.trim());
            lines.push(format!("{} {after}", l.trim()).trim_end().to_string());
        }
    }
    let mut unmet = false;
    for l in stdout.lines() {
        if l.starts_with("The following packages have unmet dependencies:") {
            unmet = true;
        } else if unmet && l.starts_with(' ') && !l.trim().is_empty() {
            lines.push(l.trim().to_string());
        } else {
            unmet = false;
        }
    }
    lines.extend(stderr.lines().chain(stdout.lines()).filter(|l| l.starts_with("E: ")).map(str::to_string));
    if lines.is_empty() {
        let text = if stderr.trim().is_empty() { stdout.as_str() } else { &stderr };
        let all: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        lines = all[all.len().saturating_sub(3)..].iter().map(|l| l.to_string()).collect();
    }
    let mut seen = BTreeSet::new();
    lines.retain(|l| seen.insert(l.clone()));
    lines.truncate(8);
    if lines.is_empty() {
        lines.push(format!("apt-get exited with status {}", out.code));
    }
    lines
}

/// `apt_lines` as one line, for a message.
fn apt_message(out: &Output) -> String {
    apt_lines(out).join("; ")
}

/// Whether apt's message names the package (`'htop'`, `package htop`, ` htop : Depends: …`).
fn mentions(message: &str, name: &str) -> bool {
    message
        .split(|c: char| c.is_whitespace() || c == ';')
        .map(|w| w.trim_matches(|c: char| "'\"`,.()".contains(c)).trim_end_matches(':'))
        .any(|w| w == name)
}

/// `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-remove … -- ARGS`. `--no-remove`
/// makes apt abort rather than remove anything, should the machine have changed since the
/// simulation; `--` makes every argument a package.
fn install_cmd(host: &Host, args: &[&str]) -> Cmd {
    host.cmd_in("apt-get", "install the packages of the plan")
        .args(["install", "-y", "--no-remove"])
        .args(APT_OPTIONS)
        .arg("--")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
}

fn mark_cmd(host: &Host, names: &[&str]) -> Cmd {
    host.cmd_in("apt-mark", "mark the installed packages as installed on purpose")
        .args(["manual", "--"])
        .args(names)
}

fn remove_cmd(host: &Host, names: &[&str]) -> Cmd {
    host.cmd_in("apt-get", "remove the packages of the plan")
        .args(["remove", "-y"])
        .args(APT_OPTIONS)
        .arg("--")
        .args(names)
        .env("DEBIAN_FRONTEND", "noninteractive")
}

/// An apt-get command as a person would type it, with the environment it runs with.
fn shown_apt(cmd: &Cmd) -> String {
    format!("DEBIAN_FRONTEND=noninteractive {}", cmd.display())
}

/// The commands `apply` will run, in order; what `--dry-run` prints.
pub(crate) fn describe(host: &Host, checked: &Checked) -> Vec<String> {
    let mut res = Vec::new();
    if checked.is_empty() {
        return res;
    }
    if !host.is_live() {
        res.push(format!(
            "mount /proc, /sys and /dev inside {} and write a temporary /usr/sbin/policy-rc.d there that \
             exits 101, so that no daemon starts; both undone afterwards",
            host.root().display()
        ));
    }
    let installs = checked.group("INSTALL");
    if !installs.is_empty() {
        let args: Vec<&str> = installs.iter().map(|s| s.arg.as_str()).collect();
        let names: Vec<&str> = installs.iter().map(|s| s.name.as_str()).collect();
        res.push(shown_apt(&install_cmd(host, &args)));
        res.push(mark_cmd(host, &names).display());
    }
    let removes = checked.group("REMOVE");
    if !removes.is_empty() {
        let names: Vec<&str> = removes.iter().map(|s| s.name.as_str()).collect();
        res.push(shown_apt(&remove_cmd(host, &names)));
    }
    res
}

/// Runs a checked plan: the INSTALL lines in one apt-get, then the REMOVE lines in another. A
/// failure fails every line of its apt-get and skips the rest. `say` gets one line per plan line.
pub(crate) fn apply(host: &Host, checked: &Checked, run: &mut Run, say: &mut dyn FnMut(String)) -> Counts {
    let mut counts = Counts::default();
    if checked.is_empty() {
        return counts;
    }
    let session = host.enter(true);
    // What goes wrong before any apt-get runs fails the first group of lines.
    let mut early = match &session {
        Err(e) => {
            Some(format!("cannot prepare {} for apt-get: {}", host.root().display(), first_line(e.message())))
        }
        Ok(_) => last_look(host, checked).err(),
    };
    let mut failed = false;
    for group in [checked.group("INSTALL"), checked.group("REMOVE")] {
        if group.is_empty() {
            continue;
        }
        if failed {
            counts.skipped += group.len();
            continue;
        }
        let outcome = match early.take() {
            Some(why) => Err(why),
            None => run_group(host, &group, run),
        };
        let results = match outcome {
            Ok(results) => results,
            Err(why) => vec![Some(why); group.len()],
        };
        for (step, result) in group.iter().zip(results) {
            match result {
                None => {
                    counts.done += 1;
                    say(format!("{} {}", step.verb, step.arg));
                }
                Some(why) => {
                    counts.failed += 1;
                    failed = true;
                    say(format!("FAILED {} {} (plan line {}): {why}", step.verb, step.arg, step.line));
                }
            }
        }
    }
    if counts.skipped > 0 {
        say(format!(
            "skipped the {} REMOVE line(s) after the failed install; those packages stay installed",
            counts.skipped
        ));
    }
    drop(session);
    counts
}

/// The machine must still be as checked (time passed while the person read the plan).
fn last_look(host: &Host, checked: &Checked) -> Result<(), String> {
    let live = read_live(host)?;
    let changed: Vec<&str> = checked
        .steps
        .iter()
        .filter(|s| state_text(live.get(&s.name)) != s.old)
        .map(|s| s.name.as_str())
        .collect();
    if changed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} changed on this machine since the check; nothing was changed, run `twinsync plan packages` again",
            changed.join(", ")
        ))
    }
}

/// Journals and runs one group of lines of the same verb. Err fails every line; Ok has, per
/// line, why it failed (dpkg's database disagrees with apt's success), or None.
fn run_group(host: &Host, group: &[&Step], run: &mut Run) -> Result<Vec<Option<String>>, String> {
    for s in group {
        run.record(&format!("package {} {} {}", s.verb, s.arg, s.old))
            .map_err(|e| e.message().to_string())?;
    }
    let install = group.first().is_some_and(|s| s.verb == "INSTALL");
    let names: Vec<&str> = group.iter().map(|s| s.name.as_str()).collect();
    let cmd = if install {
        let args: Vec<&str> = group.iter().map(|s| s.arg.as_str()).collect();
        install_cmd(host, &args)
    } else {
        remove_cmd(host, &names)
    };
    let out = host.run(&cmd.ok_codes(&any_status())).map_err(|e| first_line(e.message()))?;
    if out.code != 0 {
        return Err(apt_message(&out));
    }
    if install {
        host.run(&mark_cmd(host, &names)).map_err(|e| {
            format!("installed, but could not mark them as installed on purpose: {}", first_line(e.message()))
        })?;
    }
    // apt-get said it worked; dpkg's database says what is there.
    let Ok(live) = read_live(host) else { return Ok(vec![None; group.len()]) };
    Ok(group
        .iter()
        .map(|s| {
            let now = live.get(&s.name);
            let ok = match (s.verb, split_arg(&s.arg).1) {
                ("INSTALL", Some(v)) => now.is_some_and(|n| n == v),
                ("INSTALL", None) => now.is_some(),
                _ => now.is_none(),
            };
            (!ok).then(|| format!("apt-get succeeded, but {} is {} on this machine", s.name, state_text(now)))
        })
        .collect())
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or("").to_string()
}

/// The lines that undo a run's packages, newest first: what was installed goes, what was
/// removed or changed comes back at its old version.
pub(crate) fn reverse(log: &Log) -> Vec<(&'static str, String)> {
    let mut res = Vec::new();
    for line in log.lines.iter().rev() {
        let Some(rest) = line.strip_prefix("package ") else { continue };
        let [verb, arg, old] = rest.split(' ').collect::<Vec<_>>()[..] else { continue };
        let name = split_arg(arg).0;
        match (verb, old.strip_prefix("installed:")) {
            ("INSTALL", None) if old == "absent" => res.push(("REMOVE", name.to_string())),
            ("INSTALL" | "REMOVE", Some(version)) => res.push(("INSTALL", format!("{name}={version}"))),
            _ => {}
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sample(name: &str) -> String {
        crate::tests::sample(name)
    }

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn simulation_of_an_install() {
        let sim = parse_simulation(&sample("apt-get-s-install.txt"));
        assert_eq!(sim, Simulation { installs: map(&[("htop", "3.2.2-2")]), removes: map(&[]) });
        assert_eq!(parse_warnings(&sample("apt-get-s-install.txt")), Warnings::default());
    }

    #[test]
    fn simulation_of_an_upgrade_names_the_new_version() {
        let out = "Inst libapt-pkg6.0 [2.6.1] (2.6.2 Debian-Security:12/oldstable-security [amd64])\n\
                   Conf libapt-pkg6.0 (2.6.2 Debian-Security:12/oldstable-security [amd64])\n\
                   Inst zlib1g:i386 (1:1.2.13.dfsg-1 Debian:12.15/oldstable [i386])\n";
        let sim = parse_simulation(out);
        assert_eq!(sim.installs, map(&[("libapt-pkg6.0", "2.6.2"), ("zlib1g:i386", "1:1.2.13.dfsg-1")]));
        assert!(sim.removes.is_empty());
    }

    #[test]
    fn simulation_of_a_cascading_remove() {
        let text = sample("apt-get-s-remove-cascade.txt");
        let sim = parse_simulation(&text);
        assert!(sim.installs.is_empty());
        let v = "1.14.10-1~deb12u1";
        assert_eq!(sim.removes, map(&[("dbus", v), ("dbus-bin", v), ("dbus-daemon", v), ("libdbus-1-3", v)]));
        assert_eq!(parse_warnings(&text), Warnings::default());
    }

    #[test]
    fn simulation_of_removing_an_essential_package() {
        let text = sample("apt-get-s-remove-essential.txt");
        let sim = parse_simulation(&text);
        let names: Vec<&str> = sim.removes.keys().map(String::as_str).collect();
        assert_eq!(names, ["git", "liberror-perl", "libperl5.36", "perl", "perl-base", "perl-modules-5.36"]);
        assert_eq!(sim.removes["git"], "1:2.39.5-0+deb12u3");
        let warn = parse_warnings(&text);
        assert!(warn.essential_removed);
        assert_eq!(warn.essential, ["perl-base"]);
        // The real run with -y refuses it too (without --allow-remove-essential).
        assert!(parse_warnings(&sample("apt-get-remove-essential-y.txt")).essential_removed);
    }

    #[test]
    fn simulation_of_a_downgrade() {
        // `apt-get -s install -- curl=7.88.1-10+deb12u5 libcurl4=7.88.1-10+deb12u5` on Debian 12
        // (apt 2.6.1); with -y the real run ends in "E: Packages were downgraded and -y was used
        // without --allow-downgrades."
        let out = "The following packages will be DOWNGRADED:\n  curl libcurl4\n\
                   0 upgraded, 0 newly installed, 2 downgraded, 0 to remove and 123 not upgraded.\n\
                   Inst curl [7.88.1-10+deb12u15] (7.88.1-10+deb12u5 Debian-Security:12/oldstable-security [amd64]) []\n\
                   Inst libcurl4 [7.88.1-10+deb12u15] (7.88.1-10+deb12u5 Debian-Security:12/oldstable-security [amd64])\n\
                   Conf curl (7.88.1-10+deb12u5 Debian-Security:12/oldstable-security [amd64])\n";
        let sim = parse_simulation(out);
        assert_eq!(sim.installs, map(&[("curl", "7.88.1-10+deb12u5"), ("libcurl4", "7.88.1-10+deb12u5")]));
        assert_eq!(parse_warnings(out).downgraded, ["curl", "libcurl4"]);
    }

    #[test]
    fn warnings_list_names_without_their_reasons() {
        let out = "The following packages will be DOWNGRADED:\n  curl libcurl4\n\
                   The following held packages will be changed:\n  htop\n\
                   WARNING: The following essential packages will be removed.\n\
                   This should NOT be done unless you know exactly what you are doing!\n\
                   \x20 perl-base perl (due to perl-base)\n\
                   0 upgraded, 0 newly installed, 2 downgraded, 2 to remove and 0 not upgraded.\n";
        let warn = parse_warnings(out);
        assert_eq!(warn.downgraded, ["curl", "libcurl4"]);
        assert_eq!(warn.held, ["htop"]);
        assert_eq!(warn.essential, ["perl-base", "perl"]);
    }

    #[test]
    fn apt_messages_keep_the_reason_and_name_the_packages() {
        let out = Output {
            code: 100,
            stdout: b"Reading package lists...\nSome packages could not be installed.\n\
                      The following packages have unmet dependencies:\n \
                      htop : Depends: libnl-3-200 (>= 3.2.7) but it is not going to be installed\n"
                .to_vec(),
            stderr: b"E: Unable to correct problems, you have held broken packages.\n".to_vec(),
        };
        let msg = apt_message(&out);
        assert_eq!(
            msg,
            "htop : Depends: libnl-3-200 (>= 3.2.7) but it is not going to be installed; \
             E: Unable to correct problems, you have held broken packages."
        );
        assert!(mentions(&msg, "htop") && mentions(&msg, "libnl-3-200") && !mentions(&msg, "libnl"));
        let out = Output {
            code: 100,
            stdout: b"Reading package lists...\n".to_vec(),
            stderr: b"E: Unable to locate package no-such-pkg\nE: Version '9.9' for 'htop' was not found\n"
                .to_vec(),
        };
        let msg = apt_message(&out);
        assert!(mentions(&msg, "no-such-pkg") && mentions(&msg, "htop") && !mentions(&msg, "9"));
        // A maintainer script refuses (captured from `apt-get remove -y sudo` in a chroot).
        let out = Output {
            code: 100,
            stdout: b"Removing sudo (1.9.13p3-1+deb12u4) ...\n(export SUDO_FORCE_REMOVE=yes).\n\n\
                      Refusing to remove sudo.\n\
                      dpkg: error processing package sudo (--remove):\n \
                      installed sudo package pre-removal script subprocess returned error exit status 1\n\
                      dpkg: too many errors, stopping\nErrors were encountered while processing:\n sudo\n"
                .to_vec(),
            stderr: b"E: Sub-process /usr/bin/dpkg returned an error code (1)\n".to_vec(),
        };
        assert_eq!(
            apt_lines(&out),
            [
                "the package said: Refusing to remove sudo.",
                "dpkg: error processing package sudo (--remove): installed sudo package pre-removal script \
                 subprocess returned error exit status 1",
                "E: Sub-process /usr/bin/dpkg returned an error code (1)",
            ]
        );
        let quiet = Output { code: 100, stdout: Vec::new(), stderr: Vec::new() };
        assert_eq!(apt_message(&quiet), "apt-get exited with status 100");
    }

    #[test]
    fn names_from_apt_match_the_installed_list() {
        let live = map(&[("zlib1g", "1"), ("zlib1g:i386", "1"), ("dbus", "1")]);
        assert_eq!(canonical("dbus:amd64", &live), "dbus");
        assert_eq!(canonical("zlib1g:i386", &live), "zlib1g:i386");
        assert_eq!(canonical("zlib1g", &live), "zlib1g");
        assert_eq!(canonical("htop", &live), "htop");
    }

    fn step(line: usize, verb: &'static str, arg: &str, old: &str) -> Step {
        Step { line, verb, arg: arg.to_string(), name: split_arg(arg).0.to_string(), old: old.to_string() }
    }

    #[test]
    fn describe_shows_the_exact_commands() {
        let checked = Checked {
            steps: vec![
                step(4, "INSTALL", "htop", "absent"),
                step(6, "REMOVE", "nano", "installed:7.2-1"),
                step(8, "INSTALL", "curl=7.88.1-10+deb12u15", "installed:7.88.1-10"),
            ],
        };
        let lines = describe(&Host::new(Path::new("/")), &checked);
        let opts = "-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
                    -o DPkg::Lock::Timeout=300";
        assert_eq!(
            lines,
            vec![
                format!(
                    "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-remove {opts} -- htop \
                     curl=7.88.1-10+deb12u15"
                ),
                "apt-mark manual -- htop curl".to_string(),
                format!("DEBIAN_FRONTEND=noninteractive apt-get remove -y {opts} -- nano"),
            ]
        );
        assert!(lines.iter().all(|l| !l.contains("--allow")), "{lines:?}");

        let lines = describe(&Host::new(Path::new("/mnt/disk")), &checked);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].contains("policy-rc.d") && lines[0].contains("/mnt/disk"), "{lines:?}");
        assert!(lines[1].starts_with("DEBIAN_FRONTEND=noninteractive chroot -- /mnt/disk apt-get install -y"));
        assert_eq!(lines[2], "chroot -- /mnt/disk apt-mark manual -- htop curl");
        assert!(describe(&Host::new(Path::new("/")), &Checked { steps: Vec::new() }).is_empty());
    }

    #[test]
    fn simulation_commands() {
        let host = Host::new(Path::new("/"));
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            simulation_cmd(&host, &s(&["htop=3.2.2-2"]), &[]).display(),
            "apt-get -s install -- htop=3.2.2-2"
        );
        assert_eq!(
            simulation_cmd(&host, &[], &s(&["nano", "less"])).display(),
            "apt-get -s remove -- nano less"
        );
        assert_eq!(
            simulation_cmd(&host, &s(&["htop"]), &s(&["nano"])).display(),
            "apt-get -s install -- htop nano-"
        );
    }

    #[test]
    fn reverse_undoes_newest_first() {
        let log = Log {
            id: "20261124-100500".to_string(),
            lines: vec![
                "system /".to_string(),
                "package INSTALL htop absent".to_string(),
                "package INSTALL curl=7.88.1-10+deb12u15 installed:7.88.1-10".to_string(),
                "package INSTALL less installed:590-2".to_string(),
                "package INSTALL zlib1g:i386=1:1.2.13.dfsg-1 absent".to_string(),
                "file 1 absent sha1:0000000000000000000000000000000000000000 /etc/x".to_string(),
                "package REMOVE nano installed:7.2-1".to_string(),
                "package REMOVE odd absent".to_string(),
                "end 6 0 0".to_string(),
            ],
        };
        assert_eq!(
            reverse(&log),
            vec![
                ("INSTALL", "nano=7.2-1".to_string()),
                ("REMOVE", "zlib1g:i386".to_string()),
                ("INSTALL", "less=590-2".to_string()),
                ("INSTALL", "curl=7.88.1-10".to_string()),
                ("REMOVE", "htop".to_string()),
            ]
        );
    }
}
