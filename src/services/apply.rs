//! Applying a services plan (SPEC §7), and the lines that undo an apply run.
//!
//! `check` compares every line with the units on the machine, read the way the planner read
//! them (`collect`): a stale line, a unit without a unit file, a verb systemctl cannot carry out
//! on that unit stop the whole plan. `apply` runs one `systemctl VERB -- UNIT` per line, in plan
//! order, with the journal line first: `service VERB UNIT OLDSTATE`, OLDSTATE the unit's
//! `ENABLED:RUNNING` just before the step. Where systemd is not running (under `--root`, or no
//! systemd as PID 1) only ENABLE/DISABLE/MASK/UNMASK run, as `systemctl --root=ROOT`; START and
//! STOP are deferred. After every step the unit's state is read again: offline systemctl exits 0
//! also for what it ignored, so only the state says whether a line worked.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    collect, is_template, parse_is_active, parse_is_enabled, parse_state_text, state_text, why_not_planned,
    UnitState, PLANNABLE,
};
use crate::host::{Cmd, Host};
use crate::journal::{Counts, Log, Run};
use crate::planfile::{Action, Domain, Plan};

/// A services plan that passed every check, ready to run.
pub(crate) struct Checked {
    steps: Vec<Step>,
}

/// One checked line.
#[derive(Debug)]
struct Step {
    line: usize,
    /// One of the services verbs, `ENABLE` … `UNMASK`.
    verb: &'static str,
    unit: String,
    /// The unit's state when checked.
    old: UnitState,
}

impl Checked {
    /// How many plan lines will run (or be deferred).
    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// START and STOP need a running systemd; the other verbs change unit files only.
fn needs_systemd(verb: &str) -> bool {
    matches!(verb, "START" | "STOP")
}

/// Checks every line of a services plan (parsed and syntax-checked) against the units on the
/// machine. All errors come back together, each naming its plan line; any error means nothing
/// may be applied.
pub(crate) fn check(host: &Host, plan: &Plan) -> Result<Checked, Vec<String>> {
    let file = Domain::Services.file_name();
    if plan.domain != Domain::Services {
        return Err(vec![format!("{file}: this is a {} plan, not a services plan", plan.domain.name())]);
    }
    let actions = plan.actions();
    if actions.is_empty() {
        return Ok(Checked { steps: Vec::new() });
    }
    let live = read_live(host).map_err(|e| vec![e])?;
    let mut errors = Vec::new();
    let mut steps = Vec::new();
    // Units an earlier line unmasks: ENABLE, DISABLE and START may follow for them.
    let mut unmasked = BTreeSet::new();
    for a in &actions {
        match check_action(a, &live, &unmasked) {
            Ok(step) => {
                if step.verb == "UNMASK" {
                    unmasked.insert(step.unit.clone());
                }
                steps.push(step);
            }
            Err(what) => errors.push(format!("{file}:{}: {what}", a.line)),
        }
    }
    if errors.is_empty() {
        Ok(Checked { steps })
    } else {
        Err(errors)
    }
}

/// The units on the machine now, or the message that says why they cannot be read.
fn read_live(host: &Host) -> Result<BTreeMap<String, UnitState>, String> {
    let why = match collect(host) {
        Ok(Ok(observed)) => return Ok(observed.desired),
        Ok(Err(note)) => note.trim_start_matches("services: ").to_string(),
        Err(e) => one_line(e.message()),
    };
    Err(format!("services: cannot read the units of this machine: {why}"))
}

fn check_action(
    a: &Action,
    live: &BTreeMap<String, UnitState>,
    unmasked: &BTreeSet<String>,
) -> Result<Step, String> {
    let verbs = Domain::Services.verbs();
    let Some(verb) = verbs.iter().copied().find(|v| *v == a.verb) else {
        return Err(format!("{} is not a services verb; a services plan knows {}", a.verb, verbs.join(", ")));
    };
    let unit = a.arg.as_str();
    let Some(now) = live.get(unit) else {
        return Err(format!(
            "{verb} {unit}: this machine has no unit file {unit}; delete the line, or install the package \
             that ships it"
        ));
    };
    let old = state_text(now);
    if let Some(seen) = a.seen.as_ref().filter(|seen| **seen != old) {
        return Err(format!(
            "{unit} changed on this machine since the plan was made (then {seen}, now {old}; the plan is \
             stale); run `twinsync plan services` again"
        ));
    }
    let masked = now.enabled == "masked" && !unmasked.contains(unit);
    match verb {
        "ENABLE" | "DISABLE" if !PLANNABLE.contains(&now.enabled.as_str()) => Err(format!(
            "{verb} {unit}: {unit} is {} on this machine, which `systemctl {}` does not change ({}); \
             delete the line",
            now.enabled,
            verb.to_lowercase(),
            why_not_planned(&now.enabled)
        )),
        "ENABLE" | "DISABLE" | "START" if masked => Err(format!(
            "{verb} {unit}: {unit} is masked on this machine; put `UNMASK {unit}` above this line, or \
             delete it"
        )),
        "START" | "STOP" if is_template(unit) => Err(format!(
            "{verb} {unit}: {unit} is a template, which never runs itself; start or stop an instance \
             (like {}) by hand, or delete the line",
            unit.replacen("@.", "@NAME.", 1)
        )),
        _ => Ok(Step { line: a.line, verb, unit: unit.to_string(), old: now.clone() }),
    }
}

/// `systemctl`, pointed at the system's unit files with `--root=` where systemd does not run it.
fn systemctl(host: &Host, online: bool, summary: String) -> Cmd {
    let cmd = Cmd::new("systemctl", summary);
    if online {
        cmd
    } else {
        cmd.arg(format!("--root={}", host.root().display()))
    }
}

/// `systemctl [--root=ROOT] VERB -- UNIT`; `--` makes the unit a unit, whatever its name.
fn step_cmd(host: &Host, online: bool, step: &Step) -> Cmd {
    let verb = step.verb.to_lowercase();
    systemctl(host, online, format!("{verb} {}", step.unit)).args([verb.as_str(), "--", &step.unit])
}

fn deferred_why(host: &Host) -> String {
    format!(
        "systemd is not running on the system at {}; start or stop it there after boot, or plan again there",
        host.root().display()
    )
}

/// The commands `apply` will run, in order, and the lines it will defer; what `--dry-run`
/// prints.
pub(crate) fn describe(host: &Host, checked: &Checked) -> Vec<String> {
    describe_with(host, checked, host.systemd_running())
}

fn describe_with(host: &Host, checked: &Checked, online: bool) -> Vec<String> {
    checked
        .steps
        .iter()
        .map(|s| {
            if !online && needs_systemd(s.verb) {
                format!("{} {} is deferred: {}", s.verb, s.unit, deferred_why(host))
            } else {
                step_cmd(host, online, s).display()
            }
        })
        .collect()
}

/// Runs a checked plan, line by line in plan order. The first failure skips the rest. `say`
/// gets one line per plan line.
pub(crate) fn apply(host: &Host, checked: &Checked, run: &mut Run, say: &mut dyn FnMut(String)) -> Counts {
    let online = host.systemd_running();
    let mut counts = Counts::default();
    // Each unit's state after the lines that ran so far (UNMASK then ENABLE of one unit).
    let mut now: BTreeMap<&str, UnitState> = BTreeMap::new();
    let mut failed = false;
    for step in &checked.steps {
        let label = format!("{} {}", step.verb, step.unit);
        if failed {
            counts.skipped += 1;
            say(format!("skipped {label} (plan line {}): an earlier line failed", step.line));
            continue;
        }
        if !online && needs_systemd(step.verb) {
            counts.deferred += 1;
            say(format!("deferred {label} (plan line {}): {}", step.line, deferred_why(host)));
            continue;
        }
        let old = now.get(step.unit.as_str()).unwrap_or(&step.old).clone();
        match run_step(host, online, step, &old, run) {
            Ok(new) => {
                counts.done += 1;
                say(label);
                now.insert(&step.unit, new);
            }
            Err(why) => {
                counts.failed += 1;
                failed = true;
                say(format!("FAILED {label} (plan line {}): {why}", step.line));
            }
        }
    }
    counts
}

/// Journals and runs one line, then reads the unit again; Ok with its new state when it is what
/// the verb promises.
fn run_step(
    host: &Host,
    online: bool,
    step: &Step,
    old: &UnitState,
    run: &mut Run,
) -> Result<UnitState, String> {
    run.record(&format!("service {} {} {}", step.verb, step.unit, state_text(old)))
        .map_err(|e| one_line(e.message()))?;
    host.run(&step_cmd(host, online, step)).map_err(|e| one_line(e.message()))?;
    let new = read_unit(host, online, &step.unit, old)?;
    if promised(step.verb, &new) {
        Ok(new)
    } else {
        Err(format!(
            "systemctl reported success, but {} is {} on this machine now; nothing else was changed",
            step.unit,
            state_text(&new)
        ))
    }
}

/// One unit's state as systemctl says it now. Offline only the unit files can be read: RUNNING
/// stays what it was (`unknown`).
fn read_unit(host: &Host, online: bool, unit: &str, old: &UnitState) -> Result<UnitState, String> {
    // is-enabled exits 1 for disabled and masked units, is-active 3 for inactive ones: the
    // printed word is the answer.
    let any: Vec<i32> = (0..=255).collect();
    let ask = |verb: &str| -> Result<String, String> {
        let cmd = systemctl(host, online, format!("read the state of {unit}"))
            .args([verb, "--", unit])
            .ok_codes(&any);
        host.run(&cmd).map(|out| out.stdout_text()).map_err(|e| one_line(e.message()))
    };
    let enabled = parse_is_enabled(&ask("is-enabled")?)
        .ok_or_else(|| format!("systemctl is-enabled no longer knows {unit}"))?;
    let running = if !online {
        old.running.clone()
    } else if is_template(unit) {
        "inactive".to_string()
    } else {
        parse_is_active(&ask("is-active")?)
            .ok_or_else(|| format!("systemctl is-active printed nothing for {unit}"))?
            .to_string()
    };
    Ok(UnitState { enabled, running })
}

/// The state a verb promises. UNMASK promises only "not masked": the unit is then as its unit
/// files say.
fn promised(verb: &str, state: &UnitState) -> bool {
    match verb {
        "ENABLE" => state.enabled == "enabled",
        "DISABLE" => state.enabled == "disabled",
        "MASK" => state.enabled == "masked",
        "UNMASK" => state.enabled != "masked",
        "START" => state.running == "active",
        "STOP" => state.running == "inactive",
        _ => false,
    }
}

/// An error message on one line, for the report.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ")
}

/// The plan lines that undo a run's services, newest first: each unit's ENABLED word and
/// RUNNING state back as the journal recorded them before the run changed them. Undoing a MASK
/// unmasks first (an ENABLE of a masked unit fails). Where two journal lines of one unit would
/// each restore its ENABLED word (ENABLE, then MASK), the older one's word wins: that is the
/// word before the run.
pub(crate) fn reverse(log: &Log) -> Vec<(&'static str, String)> {
    let mut res: Vec<(&'static str, String)> = Vec::new();
    for line in log.lines.iter().rev() {
        let Some(rest) = line.strip_prefix("service ") else { continue };
        let [verb, unit, old] = rest.split(' ').collect::<Vec<_>>()[..] else { continue };
        let Some(old) = parse_state_text(old) else { continue };
        let word = match old.enabled.as_str() {
            "enabled" => Some("ENABLE"),
            "disabled" => Some("DISABLE"),
            "masked" => Some("MASK"),
            _ => None,
        };
        let lines: Vec<&'static str> = match verb {
            "ENABLE" | "DISABLE" => word.into_iter().collect(),
            "MASK" if old.enabled == "masked" => Vec::new(),
            "MASK" => std::iter::once("UNMASK").chain(word).collect(),
            "UNMASK" if old.enabled == "masked" => vec!["MASK"],
            "START" | "STOP" => match old.running.as_str() {
                "active" => vec!["START"],
                "inactive" => vec!["STOP"],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        for verb in lines {
            let taken = res.iter().position(|(v, u)| u == unit && same_kind(v, verb));
            match taken {
                Some(i) => res[i].0 = verb,
                None => res.push((verb, unit.to_string())),
            }
        }
    }
    res
}

/// Verbs a plan allows only one of per unit (planfile's duplicate rule): ENABLE/DISABLE,
/// START/STOP, MASK/UNMASK.
fn same_kind(a: &str, b: &str) -> bool {
    let kind = |v: &str| match v {
        "ENABLE" | "DISABLE" => 0,
        "START" | "STOP" => 1,
        _ => 2,
    };
    kind(a) == kind(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::{self, Line};
    use crate::tests::TempDir;
    use std::path::{Path, PathBuf};

    fn state(enabled: &str, running: &str) -> UnitState {
        UnitState { enabled: enabled.to_string(), running: running.to_string() }
    }

    fn step(line: usize, verb: &'static str, unit: &str, old: UnitState) -> Step {
        Step { line, verb, unit: unit.to_string(), old }
    }

    #[test]
    fn describe_shows_the_exact_commands() {
        let checked = Checked {
            steps: vec![
                step(4, "UNMASK", "e2scrub_reap.service", state("masked", "inactive")),
                step(6, "ENABLE", "e2scrub_reap.service", state("masked", "inactive")),
                step(8, "START", "e2scrub_reap.service", state("masked", "inactive")),
                step(10, "DISABLE", "getty@tty1.service", state("enabled", "active")),
            ],
        };
        let live = Host::new(Path::new("/"));
        assert_eq!(
            describe_with(&live, &checked, true),
            vec![
                "systemctl unmask -- e2scrub_reap.service",
                "systemctl enable -- e2scrub_reap.service",
                "systemctl start -- e2scrub_reap.service",
                "systemctl disable -- getty@tty1.service",
            ]
        );
        let disk = Host::new(Path::new("/mnt/disk"));
        let lines = describe(&disk, &checked);
        assert_eq!(lines[0], "systemctl --root=/mnt/disk unmask -- e2scrub_reap.service");
        assert_eq!(lines[1], "systemctl --root=/mnt/disk enable -- e2scrub_reap.service");
        assert!(
            lines[2].starts_with("START e2scrub_reap.service is deferred: systemd is not running")
                && lines[2].contains("/mnt/disk"),
            "{lines:?}"
        );
        assert_eq!(lines[3], "systemctl --root=/mnt/disk disable -- getty@tty1.service");
        assert!(describe(&disk, &Checked { steps: Vec::new() }).is_empty());
    }

    #[test]
    fn promised_states() {
        assert!(promised("ENABLE", &state("enabled", "unknown")));
        // Offline systemctl exits 0 for a static unit's enable and changes nothing.
        assert!(!promised("ENABLE", &state("static", "unknown")));
        assert!(promised("UNMASK", &state("disabled", "inactive")));
        assert!(!promised("UNMASK", &state("masked", "inactive")));
        assert!(promised("STOP", &state("enabled", "inactive")));
        assert!(!promised("START", &state("enabled", "inactive")));
    }

    fn log(lines: &[&str]) -> Log {
        Log { id: "20261124-100500".to_string(), lines: lines.iter().map(|l| l.to_string()).collect() }
    }

    #[test]
    fn reverse_undoes_newest_first() {
        let log = log(&[
            "system /",
            "service UNMASK e2scrub_reap.service masked:inactive",
            "service ENABLE e2scrub_reap.service disabled:inactive",
            "package INSTALL htop absent",
            "service START e2scrub_reap.service disabled:inactive",
            "file 1 absent sha1:0000000000000000000000000000000000000000 /etc/x",
            "service DISABLE cron.service enabled:active",
            "service STOP cron.service enabled:active",
            "service MASK ssh.service enabled:active",
            "service START offline.service enabled:unknown",
            "service UNMASK plain.service disabled:inactive",
            "end 8 0 0",
        ]);
        let s = |v: &'static str, u: &str| (v, u.to_string());
        assert_eq!(
            reverse(&log),
            vec![
                s("UNMASK", "ssh.service"),
                s("ENABLE", "ssh.service"),
                s("START", "cron.service"),
                s("ENABLE", "cron.service"),
                s("STOP", "e2scrub_reap.service"),
                s("DISABLE", "e2scrub_reap.service"),
                s("MASK", "e2scrub_reap.service"),
            ]
        );
    }

    #[test]
    fn reverse_restores_the_word_from_before_the_run() {
        // Enabled, then masked in the same run: undo unmasks and disables.
        let log = log(&[
            "service ENABLE cron.service disabled:inactive",
            "service MASK cron.service enabled:inactive",
        ]);
        let undo = reverse(&log);
        assert_eq!(
            undo,
            vec![("UNMASK", "cron.service".to_string()), ("DISABLE", "cron.service".to_string())]
        );
        // The undo lines are a plan planfile accepts (one line per unit and kind).
        let text: String = undo.iter().map(|(v, u)| format!("{v} {u}\n")).collect();
        assert!(planfile::parse(Domain::Services, text.as_bytes(), &planfile::Scope { roots: &[] }).is_ok());
    }

    fn plan_of(text: &str) -> Plan {
        planfile::parse(Domain::Services, text.as_bytes(), &planfile::Scope { roots: &[] })
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// A system folder with systemd's files, for `systemctl --root=`.
    struct Machine {
        dir: TempDir,
    }

    const DEMO: &str = "twinsync-demo.service";
    const WANTS: &str = "etc/systemd/system/multi-user.target.wants/twinsync-demo.service";

    impl Machine {
        fn new(name: &str) -> Machine {
            let m = Machine { dir: TempDir::new(name) };
            m.unit(DEMO, "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
            m.unit("twinsync-static.service", "[Service]\nExecStart=/bin/true\n");
            m.unit(
                "twinsync-tpl@.service",
                "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
            );
            // `collect` looks for systemd itself before it asks systemctl.
            std::fs::write(m.root().join("usr/lib/systemd/systemd"), "").unwrap();
            m
        }

        fn root(&self) -> PathBuf {
            self.dir.path().join("root")
        }

        fn unit(&self, name: &str, text: &str) {
            let dir = self.root().join("usr/lib/systemd/system");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(name), text).unwrap();
        }

        fn host(&self) -> Host {
            Host::new(&self.root())
        }

        fn state(&self) -> PathBuf {
            self.dir.path().join("state")
        }

        /// Checks and applies a plan in a new run; the counts, what was said, and the journal.
        fn apply(&self, text: &str) -> (Counts, Vec<String>, Vec<String>) {
            let host = self.host();
            let checked = check(&host, &plan_of(text)).unwrap_or_else(|e| panic!("{e:?}"));
            let mut run = Run::start(&self.state(), "ROOT").unwrap();
            let mut said = Vec::new();
            let counts = apply(&host, &checked, &mut run, &mut |l| said.push(l));
            let journal = crate::journal::read(&self.state(), &run.id).unwrap().lines;
            (counts, said, journal)
        }
    }

    /// systemctl is needed (it works on a plain folder with `--root=`); without it the test says so.
    fn have_systemctl() -> bool {
        let ok = Host::new(Path::new("/")).has_program("systemctl");
        if !ok {
            eprintln!("systemctl is not installed: skipping");
        }
        ok
    }

    #[test]
    fn apply_enables_and_disables_under_a_root_and_defers_start() {
        if !have_systemctl() {
            return;
        }
        let m = Machine::new("svc-apply");
        let plan = format!("ENABLE {DEMO}\n#= disabled:unknown {DEMO}\nSTART {DEMO}\n");
        let (counts, said, journal) = m.apply(&plan);
        assert_eq!(counts, Counts { done: 1, failed: 0, skipped: 0, deferred: 1 }, "{said:?}");
        assert!(m.root().join(WANTS).symlink_metadata().is_ok_and(|md| md.file_type().is_symlink()));
        assert_eq!(said[0], format!("ENABLE {DEMO}"));
        assert!(said[1].starts_with(&format!("deferred START {DEMO} (plan line 3): systemd is not running")));
        // The journal line came first; the deferred START changed nothing and is not there.
        assert_eq!(
            journal,
            vec!["system ROOT".to_string(), format!("service ENABLE {DEMO} disabled:unknown")]
        );
        assert_eq!(
            reverse(&log(&journal.iter().map(String::as_str).collect::<Vec<_>>())),
            vec![("DISABLE", DEMO.to_string())]
        );

        // The same plan again is stale now.
        let errors = check(&m.host(), &plan_of(&plan)).err().unwrap_or_default();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("plan-services.txt:1: ") && errors[0].contains("the plan is stale"),
            "{errors:?}"
        );

        let (counts, said, journal) = m.apply(&format!("DISABLE {DEMO}\n#= enabled:unknown {DEMO}\n"));
        assert_eq!(counts, Counts { done: 1, ..Counts::default() }, "{said:?}");
        assert!(m.root().join(WANTS).symlink_metadata().is_err());
        assert_eq!(journal[1], format!("service DISABLE {DEMO} enabled:unknown"));
    }

    #[test]
    fn apply_masks_then_unmasks_and_enables() {
        if !have_systemctl() {
            return;
        }
        let m = Machine::new("svc-mask");
        let (counts, said, _) = m.apply(&format!("MASK {DEMO}\n"));
        assert_eq!(counts.done, 1, "{said:?}");
        let mask = m.root().join("etc/systemd/system").join(DEMO);
        assert_eq!(std::fs::read_link(&mask).unwrap(), Path::new("/dev/null"));
        let (counts, said, journal) = m.apply(&format!(
            "UNMASK {DEMO}\n#= masked:unknown {DEMO}\nENABLE {DEMO}\n#= masked:unknown {DEMO}\n"
        ));
        assert_eq!(counts.done, 2, "{said:?}");
        assert!(mask.symlink_metadata().is_err() && m.root().join(WANTS).symlink_metadata().is_ok());
        // ENABLE's old state is the one after the UNMASK: undo disables, then masks again.
        assert_eq!(
            &journal[1..],
            [
                format!("service UNMASK {DEMO} masked:unknown"),
                format!("service ENABLE {DEMO} disabled:unknown")
            ]
        );
        let undo = reverse(&log(&journal.iter().map(String::as_str).collect::<Vec<_>>()));
        assert_eq!(undo, vec![("DISABLE", DEMO.to_string()), ("MASK", DEMO.to_string())]);
    }

    #[test]
    fn a_failed_line_skips_the_rest() {
        if !have_systemctl() {
            return;
        }
        let m = Machine::new("svc-fail");
        let plan = plan_of(&format!("ENABLE {DEMO}\nMASK twinsync-static.service\n"));
        let host = m.host();
        let checked = check(&host, &plan).unwrap_or_else(|e| panic!("{e:?}"));
        // The unit file goes away between the check and the apply.
        std::fs::remove_file(m.root().join("usr/lib/systemd/system").join(DEMO)).unwrap();
        let mut run = Run::start(&m.state(), "ROOT").unwrap();
        let mut said = Vec::new();
        let counts = apply(&host, &checked, &mut run, &mut |l| said.push(l));
        assert_eq!(counts, Counts { done: 0, failed: 1, skipped: 1, deferred: 0 }, "{said:?}");
        assert!(said[0].starts_with(&format!("FAILED ENABLE {DEMO} (plan line 1): ")), "{said:?}");
        assert!(said[1].starts_with("skipped MASK twinsync-static.service (plan line 2)"), "{said:?}");
        assert!(m.root().join("etc/systemd/system/twinsync-static.service").symlink_metadata().is_err());
    }

    #[test]
    fn check_refuses_bad_lines_all_together() {
        if !have_systemctl() {
            return;
        }
        let m = Machine::new("svc-check");
        let text = format!(
            "ENABLE {DEMO}\n#= enabled:active {DEMO}\n\
             START no-such.service\n\
             ENABLE twinsync-static.service\n\
             START twinsync-tpl@.service\n\
             MASK twinsync-static.service\n"
        );
        let errors = check(&m.host(), &plan_of(&text)).err().unwrap_or_default();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("plan-services.txt:1: ") && errors[0].contains("the plan is stale"));
        assert!(errors[0].contains("then enabled:active, now disabled:unknown"), "{errors:?}");
        assert!(errors[1].starts_with("plan-services.txt:3: ") && errors[1].contains("no unit file"));
        assert!(
            errors[2].starts_with("plan-services.txt:4: ") && errors[2].contains("is static"),
            "{errors:?}"
        );
        assert!(
            errors[3].starts_with("plan-services.txt:5: ") && errors[3].contains("template"),
            "{errors:?}"
        );

        // A masked unit needs its UNMASK first.
        m.apply(&format!("MASK {DEMO}\n"));
        let errors = check(&m.host(), &plan_of(&format!("ENABLE {DEMO}\n"))).err().unwrap_or_default();
        assert!(errors.len() == 1 && errors[0].contains(&format!("put `UNMASK {DEMO}` above")), "{errors:?}");
        assert!(check(&m.host(), &plan_of(&format!("UNMASK {DEMO}\nENABLE {DEMO}\n"))).is_ok());

        // A line of another domain's verb (parse refuses it; check does too).
        let foreign = Plan {
            domain: Domain::Services,
            lines: vec![Line::Action { verb: "INSTALL".into(), arg: "htop".into() }],
        };
        let errors = check(&m.host(), &foreign).err().unwrap_or_default();
        assert!(errors.len() == 1 && errors[0].contains("INSTALL is not a services verb"), "{errors:?}");
        // Nothing to check needs no machine.
        assert!(check(&Host::new(Path::new("/nonexistent")), &plan_of("# only notes\n"))
            .is_ok_and(|c| c.is_empty()));
    }

    #[test]
    fn check_says_when_the_units_cannot_be_read() {
        let dir = TempDir::new("svc-nosystemd");
        let errors =
            check(&Host::new(dir.path()), &plan_of(&format!("ENABLE {DEMO}\n"))).err().unwrap_or_default();
        assert!(errors.len() == 1 && errors[0].contains("systemd is not installed"), "{errors:?}");
    }
}
