//! The services planner (SPEC §5): the baseline, the twin's `desired-state.txt` and the units
//! on the machine decide, unit by unit and column by column (ENABLED, RUNNING), what a services
//! plan holds. Pure: no I/O, tested on data.

use std::collections::{BTreeMap, BTreeSet};

use super::{is_template, state_text, why_not_planned, UnitState, PLANNABLE};
use crate::planfile::{classify, Class, Planned};

type Units = BTreeMap<String, UnitState>;

/// The plan items of the services domain, sorted by unit: where the twin and the machine
/// differ, one item per unit (two when its columns differ in kind, say a desired ENABLE and a
/// drifted RUNNING). `base` is None without a baseline or with `--mirror` (then every
/// difference is desired).
pub(crate) fn plan(base: Option<&Units>, twin: &Units, live: &Units) -> Vec<Planned> {
    let units: BTreeSet<&String> = twin.keys().chain(live.keys()).collect();
    let mut items = Vec::new();
    for unit in units {
        let b = base.map(|base| base.get(unit.as_str()));
        match (twin.get(unit), live.get(unit)) {
            (Some(t), Some(l)) => items.extend(plan_unit(unit, t, l, b)),
            (t, l) => items.extend(missing(unit, t, l, b)),
        }
    }
    items
}

/// One column (ENABLED or RUNNING) of a unit on the three sides.
#[derive(Clone, Copy)]
struct Column<'a> {
    twin: &'a str,
    live: &'a str,
    /// None: compared two-way (no baseline, or the baseline did not know: `unknown`).
    /// Some(None): the baseline had no such unit.
    base: Option<Option<&'a str>>,
}

impl<'a> Column<'a> {
    fn new(twin: &'a str, live: &'a str, base: Option<Option<&'a str>>) -> Column<'a> {
        // A baseline taken offline has RUNNING `unknown`: it says nothing about this column.
        let base = base.filter(|b| *b != Some("unknown"));
        Column { twin, live, base }
    }

    fn class(&self) -> Option<Class> {
        classify(self.twin == self.live, self.base.map(|b| (b == Some(self.twin), b == Some(self.live))))
    }
}

/// What one column asks for: the lines, or why there are none.
struct Part<'a> {
    class: Class,
    column: Column<'a>,
    outcome: Result<Vec<&'static str>, String>,
}

/// A unit on both sides: the ENABLED column, then the RUNNING column.
fn plan_unit(unit: &str, t: &UnitState, l: &UnitState, b: Option<Option<&UnitState>>) -> Vec<Planned> {
    let enabled = Column::new(&t.enabled, &l.enabled, b.map(|b| b.map(|s| s.enabled.as_str())));
    let running = Column::new(&t.running, &l.running, b.map(|b| b.map(|s| s.running.as_str())));
    let mut parts = Vec::new();
    if let Some(class) = enabled.class() {
        parts.push(Part { class, column: enabled, outcome: enabled_lines(unit, &t.enabled, &l.enabled) });
    }
    // `unknown` is no wish and no fact: a machine read offline, or a twin that never saw it run.
    let known = t.running != "unknown" && l.running != "unknown";
    if let Some(class) = running.class().filter(|_| known) {
        // The word the unit has once the ENABLED lines ran (if they run at all).
        let enabled_planned = parts.first().is_some_and(|p| p.outcome.as_ref().is_ok_and(|v| !v.is_empty()));
        let word = if enabled_planned { &t.enabled } else { &l.enabled };
        parts.push(Part { class, column: running, outcome: running_lines(unit, &t.running, word) });
    }
    let seen = state_text(l);
    let mut items: Vec<Planned> = Vec::new();
    let mut columns: Vec<Vec<Column>> = Vec::new();
    for part in parts {
        let (actions, note) = match part.outcome {
            Ok(verbs) => (verbs.into_iter().map(|v| (v, unit.to_string())).collect(), None),
            Err(note) => (Vec::new(), Some(note)),
        };
        // Columns of the same kind share one item (and one drift/conflict note).
        if let Some(i) = items.iter().position(|it| it.class == part.class) {
            items[i].actions.extend(actions);
            items[i].note = join_notes(items[i].note.take(), note);
            columns[i].push(part.column);
        } else {
            items.push(Planned {
                key: unit.to_string(),
                class: part.class,
                actions,
                seen: seen.clone(),
                wanted: None,
                note,
                letters: String::new(),
            });
            columns.push(vec![part.column]);
        }
    }
    for (item, cols) in items.iter_mut().zip(&columns) {
        item.letters = letters(cols);
    }
    items
}

fn join_notes(a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    }
}

/// The lines that turn the machine's is-enabled word into the twin's, or the note saying why
/// nothing is planned.
fn enabled_lines(unit: &str, twin: &str, live: &str) -> Result<Vec<&'static str>, String> {
    let not_planned = |why: String| {
        format!(
            "{unit}: the twin has it {twin}, this machine {live}; nothing is planned: {why}; change it \
             by hand with systemctl if you mean it"
        )
    };
    if is_template(unit) {
        return Err(not_planned(
            "it is a template (instances such as getty@tty1.service are enabled, not the template)".into(),
        ));
    }
    if let Some(word) = [twin, live].into_iter().find(|w| !PLANNABLE.contains(w)) {
        return Err(not_planned(why_not_planned(word)));
    }
    Ok(match (twin, live) {
        ("enabled", "disabled") => vec!["ENABLE"],
        ("disabled", "enabled") => vec!["DISABLE"],
        ("masked", _) => vec!["MASK"],
        ("enabled", "masked") => vec!["UNMASK", "ENABLE"],
        ("disabled", "masked") => vec!["UNMASK"],
        _ => Vec::new(),
    })
}

/// START or STOP, or the note saying why not. `word` is the unit's is-enabled word once the
/// plan's ENABLED lines ran.
fn running_lines(unit: &str, twin: &str, word: &str) -> Result<Vec<&'static str>, String> {
    let not_planned = |why: &str| format!("{unit}: the twin has it {twin}; nothing is planned: {why}");
    if is_template(unit) {
        return Err(not_planned("a template never runs itself; start or stop an instance by hand"));
    }
    match twin {
        "active" if word == "masked" => {
            Err(not_planned("a masked unit cannot start; unmask it in the twin (desired-state.txt) first"))
        }
        "active" => Ok(vec!["START"]),
        _ => Ok(vec!["STOP"]),
    }
}

/// `git status --short` style for the columns of one item: each side against the baseline
/// (`M` changed, `A` where the baseline had no such unit), or two-way `M ` without one.
fn letters(cols: &[Column]) -> String {
    if !cols.iter().all(|c| c.base.is_some()) {
        return "M ".to_string();
    }
    let side = |twin: bool| {
        if cols.iter().all(|c| c.base == Some(Some(if twin { c.twin } else { c.live }))) {
            ' '
        } else if cols.iter().any(|c| c.base == Some(None)) {
            'A'
        } else {
            'M'
        }
    };
    format!("{}{}", side(true), side(false))
}

/// A unit on one side only: in the twin without a unit file on the machine, or on the machine
/// without a line in the twin. TwinSync installs and removes no unit files, so only a note.
fn missing(
    unit: &str,
    t: Option<&UnitState>,
    l: Option<&UnitState>,
    b: Option<Option<&UnitState>>,
) -> Option<Planned> {
    let class = classify(same(t, l), b.map(|b| (same(t, b), same(l, b))))?;
    let letters = match b {
        Some(b) => format!("{}{}", letter(t, b), letter(l, b)),
        None => format!("{} ", letter(t, l)),
    };
    let (seen, note) = match (t, l) {
        (Some(t), None) => (
            "absent".to_string(),
            format!(
                "{unit}: the twin has it {}, but this machine has no such unit file; nothing is \
                 planned: install the package that ships it, or delete its line from desired-state.txt",
                state_text(t)
            ),
        ),
        (_, Some(l)) => (
            state_text(l),
            format!(
                "{unit}: this machine has it {}, but the twin's desired-state.txt has no line for it; \
                 nothing is planned (twinsync does not remove unit files): run `twinsync snapshot` to \
                 take it into the twin",
                state_text(l)
            ),
        ),
        (None, None) => return None,
    };
    Some(Planned {
        key: unit.to_string(),
        class,
        actions: Vec::new(),
        seen,
        wanted: None,
        note: Some(note),
        letters,
    })
}

/// Two sides of a unit agree: both absent, or the same words (`unknown` matches any RUNNING).
fn same(a: Option<&UnitState>, b: Option<&UnitState>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => {
            x.enabled == y.enabled
                && (x.running == y.running || x.running == "unknown" || y.running == "unknown")
        }
        _ => false,
    }
}

fn letter(side: Option<&UnitState>, base: Option<&UnitState>) -> char {
    crate::planfile::status_letter(side.is_some(), base.is_some(), same(side, base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::{self, render_planned, Domain, Line, Plan};
    use crate::tests::{one_planned as one, planned_summary as summary};

    fn units(items: &[(&str, &str, &str)]) -> Units {
        items
            .iter()
            .map(|(u, e, r)| (u.to_string(), UnitState { enabled: e.to_string(), running: r.to_string() }))
            .collect()
    }

    fn one_unit(enabled: &str, running: &str) -> Units {
        units(&[("cron.service", enabled, running)])
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    fn cron(
        class: Class,
        actions: &[&str],
        seen: &str,
        letters: &str,
    ) -> (String, Class, Vec<String>, String, String) {
        let actions = actions.iter().map(|v| format!("{v} cron.service")).collect();
        (s("cron.service"), class, actions, s(seen), s(letters))
    }

    #[test]
    fn equal_everywhere_plans_nothing() {
        let all = units(&[("cron.service", "enabled", "active"), ("dbus.service", "static", "active")]);
        assert!(plan(Some(&all), &all, &all).is_empty());
        assert!(plan(None, &all, &all).is_empty());
    }

    #[test]
    fn desired_changes_of_every_verb() {
        // (base = live, twin, the lines)
        type Case<'a> = ((&'a str, &'a str), (&'a str, &'a str), &'a [&'a str]);
        let cases: [Case; 7] = [
            (("disabled", "inactive"), ("enabled", "inactive"), &["ENABLE"]),
            (("enabled", "inactive"), ("disabled", "inactive"), &["DISABLE"]),
            (("enabled", "inactive"), ("masked", "inactive"), &["MASK"]),
            (("disabled", "inactive"), ("masked", "inactive"), &["MASK"]),
            (("masked", "inactive"), ("enabled", "inactive"), &["UNMASK", "ENABLE"]),
            (("masked", "inactive"), ("disabled", "inactive"), &["UNMASK"]),
            (("disabled", "inactive"), ("enabled", "active"), &["ENABLE", "START"]),
        ];
        for ((le, lr), (te, tr), verbs) in cases {
            let live = one_unit(le, lr);
            let twin = one_unit(te, tr);
            let seen = format!("{le}:{lr}");
            assert_eq!(one(&plan(Some(&live), &twin, &live)), cron(Class::Desired, verbs, &seen, "M "));
            assert_eq!(one(&plan(None, &twin, &live)), cron(Class::Desired, verbs, &seen, "M "), "two-way");
        }
        let live = one_unit("enabled", "active");
        let twin = one_unit("enabled", "inactive");
        assert_eq!(
            one(&plan(Some(&live), &twin, &live)),
            cron(Class::Desired, &["STOP"], "enabled:active", "M ")
        );
        let live = one_unit("static", "inactive");
        let twin = one_unit("static", "active");
        assert_eq!(
            one(&plan(Some(&live), &twin, &live)),
            cron(Class::Desired, &["START"], "static:inactive", "M "),
            "a static unit can still be started"
        );
    }

    #[test]
    fn drift_keeps_its_lines_to_uncomment() {
        let base = one_unit("enabled", "active");
        let live = one_unit("disabled", "inactive");
        assert_eq!(
            one(&plan(Some(&base), &base, &live)),
            cron(Class::Drift, &["ENABLE", "START"], "disabled:inactive", " M")
        );
    }

    #[test]
    fn conflict_when_both_changed() {
        let base = one_unit("enabled", "active");
        let twin = one_unit("masked", "inactive");
        let live = one_unit("disabled", "inactive");
        // ENABLED changed on both sides; RUNNING on both sides the same way: nothing to do there.
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            cron(Class::Conflict, &["MASK"], "disabled:inactive", "MM")
        );
    }

    #[test]
    fn columns_are_decided_separately() {
        // The twin was edited to enable it; the machine stopped it since the snapshot.
        let base = one_unit("disabled", "active");
        let twin = one_unit("enabled", "active");
        let live = one_unit("disabled", "inactive");
        assert_eq!(
            summary(&plan(Some(&base), &twin, &live)),
            vec![
                cron(Class::Desired, &["ENABLE"], "disabled:inactive", "M "),
                cron(Class::Drift, &["START"], "disabled:inactive", " M"),
            ]
        );
    }

    #[test]
    fn an_unknown_baseline_column_compares_two_way() {
        // The snapshot was taken offline: RUNNING unknown in the baseline.
        let base = one_unit("enabled", "unknown");
        let twin = one_unit("enabled", "active");
        let live = one_unit("enabled", "inactive");
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            cron(Class::Desired, &["START"], "enabled:inactive", "M ")
        );
    }

    #[test]
    fn unknown_running_plans_nothing() {
        let twin = one_unit("enabled", "active");
        let offline = one_unit("enabled", "unknown");
        assert!(plan(Some(&twin), &twin, &offline).is_empty());
        assert!(plan(None, &twin, &offline).is_empty());
        assert!(plan(None, &offline, &one_unit("enabled", "inactive")).is_empty());
        // Offline the ENABLED column is still planned.
        let twin = one_unit("disabled", "active");
        assert_eq!(
            one(&plan(None, &twin, &offline)),
            cron(Class::Desired, &["DISABLE"], "enabled:unknown", "M ")
        );
    }

    #[test]
    fn words_twinsync_does_not_plan_become_notes() {
        for (t, l) in [
            ("enabled", "static"),
            ("static", "disabled"),
            ("disabled", "alias"),
            ("enabled", "indirect"),
            ("enabled", "generated"),
            ("enabled", "transient"),
            ("disabled", "enabled-runtime"),
            ("enabled", "linked"),
            ("enabled", "linked-runtime"),
            ("enabled", "masked-runtime"),
            ("enabled", "bad"),
        ] {
            let twin = one_unit(t, "inactive");
            let live = one_unit(l, "inactive");
            let items = plan(Some(&live), &twin, &live);
            assert_eq!(items.len(), 1, "{t} {l}");
            assert!(items[0].actions.is_empty(), "{t} {l}: {items:?}");
            let note = items[0].note.as_deref().unwrap_or("");
            assert!(note.contains("nothing is planned") && note.contains("systemctl"), "{note}");
        }
        let live = one_unit("static", "inactive");
        let note = plan(None, &one_unit("enabled", "inactive"), &live).remove(0).note.unwrap_or_default();
        assert!(note.contains("no [Install] section"), "{note}");
    }

    #[test]
    fn templates_are_never_planned() {
        let live = units(&[("getty@.service", "enabled", "inactive")]);
        let twin = units(&[("getty@.service", "disabled", "active")]);
        let items = plan(Some(&live), &twin, &live);
        assert_eq!(items.len(), 1, "{items:?}");
        assert!(items[0].actions.is_empty());
        let note = items[0].note.as_deref().unwrap_or("");
        assert!(note.contains("template") && note.contains("never runs itself"), "{note}");
    }

    #[test]
    fn a_masked_unit_is_not_started() {
        let live = one_unit("disabled", "inactive");
        let twin = one_unit("masked", "active");
        let items = plan(None, &twin, &live);
        assert_eq!(one(&items), cron(Class::Desired, &["MASK"], "disabled:inactive", "M "));
        assert!(items[0].note.as_deref().is_some_and(|n| n.contains("masked unit cannot start")));
    }

    #[test]
    fn units_on_one_side_only_are_notes() {
        let base = units(&[("old.service", "enabled", "active")]);
        let twin = units(&[("old.service", "enabled", "active"), ("htop.service", "enabled", "active")]);
        let live = units(&[("new.service", "disabled", "inactive")]);
        let items = plan(Some(&base), &twin, &live);
        assert_eq!(
            summary(&items),
            vec![
                (s("htop.service"), Class::Desired, vec![], s("absent"), s("A ")),
                (s("new.service"), Class::Drift, vec![], s("disabled:inactive"), s(" A")),
                (s("old.service"), Class::Drift, vec![], s("absent"), s(" D")),
            ]
        );
        assert!(items[0].note.as_deref().is_some_and(|n| n.contains("no such unit file")));
        assert!(items[1].note.as_deref().is_some_and(|n| n.contains("has no line for it")));
        let two_way = plan(None, &twin, &live);
        assert_eq!(two_way.len(), 3);
        assert!(two_way.iter().all(|i| i.class == Class::Desired && i.actions.is_empty()));
        assert_eq!(two_way[1].letters, "D ");
        assert_eq!(two_way[0].letters, "A ");
    }

    #[test]
    fn a_unit_new_on_both_sides_is_a_conflict() {
        let base = units(&[]);
        let twin = one_unit("enabled", "active");
        let live = one_unit("disabled", "active");
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            cron(Class::Conflict, &["ENABLE"], "disabled:active", "AA")
        );
    }

    #[test]
    fn rendered_items_are_a_valid_plan_carrying_the_seen_state() {
        let base = units(&[
            ("cron.service", "enabled", "active"),
            ("e2scrub_reap.service", "masked", "inactive"),
            ("ssh.service", "enabled", "active"),
        ]);
        let twin = units(&[
            ("cron.service", "enabled", "active"),
            ("e2scrub_reap.service", "enabled", "active"),
            ("ssh.service", "enabled", "active"),
        ]);
        let live = units(&[
            ("cron.service", "disabled", "inactive"),
            ("e2scrub_reap.service", "masked", "inactive"),
            ("ssh.service", "enabled", "active"),
            ("dbus.service", "static", "active"),
        ]);
        let items = plan(Some(&base), &twin, &live);
        let mut lines = planfile::header(Domain::Services, "1a2b3c4d", Some("9f8e7d6c"), "/", "laptop");
        lines.extend(render_planned(&items));
        let text = Plan { domain: Domain::Services, lines }.render();
        let scope = planfile::Scope { roots: &[] };
        let parsed = planfile::parse(Domain::Services, text.as_bytes(), &scope)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(parsed.render(), text);
        let actions: Vec<(String, String, Option<String>)> =
            parsed.actions().into_iter().map(|a| (a.verb, a.arg, a.seen)).collect();
        let m = Some(s("masked:inactive"));
        assert_eq!(
            actions,
            vec![
                (s("UNMASK"), s("e2scrub_reap.service"), m.clone()),
                (s("ENABLE"), s("e2scrub_reap.service"), m.clone()),
                (s("START"), s("e2scrub_reap.service"), m),
            ],
            "{text}"
        );
        assert!(text.contains("\n#ENABLE cron.service\n#= disabled:inactive cron.service\n"), "{text}");
        assert!(text.contains("\n#START cron.service\n#= disabled:inactive cron.service\n"), "{text}");
        assert!(parsed
            .lines
            .iter()
            .any(|l| matches!(l, Line::Note(n) if n.starts_with(" drift: cron.service"))));
        assert!(text.contains("dbus.service: this machine has it static:active"), "{text}");
        let uncommented = text.replace("#ENABLE cron", "ENABLE cron");
        let parsed = planfile::parse(Domain::Services, uncommented.as_bytes(), &scope)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.actions().iter().any(|a| a.verb == "ENABLE"
            && a.arg == "cron.service"
            && a.seen.as_deref() == Some("disabled:inactive")));
    }
}
