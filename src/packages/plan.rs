//! The packages planner (SPEC §5): the baseline, the twin's `dpkg.txt` and the installed
//! packages decide, package by package, what a packages plan holds. Pure: no I/O, tested on data.

use std::collections::{BTreeMap, BTreeSet};

use super::{state_text, Installed};
use crate::planfile::{self, classify, Class, Domain, Planned};

/// A package list as `dpkg.txt` has it: NAME → version, None for "any version".
type Listed = BTreeMap<String, Option<String>>;

/// One side of a package: None when it is not installed (not listed), else its version (None
/// for "any version").
type Side<'a> = Option<Option<&'a str>>;

/// The plan items of the packages domain, sorted by name: one per package where the twin and the
/// machine differ. `base` is None without a baseline or with `--mirror` (then every difference is
/// desired).
pub(crate) fn plan(base: Option<&Listed>, twin: &Listed, live: &Installed) -> Vec<Planned> {
    let mut names: BTreeSet<&String> = twin.keys().chain(live.keys()).collect();
    if let Some(base) = base {
        names.extend(base.keys());
    }
    let mut items = Vec::new();
    for name in names {
        let t: Side = twin.get(name).map(|v| v.as_deref());
        let l: Side = live.get(name).map(|v| Some(v.as_str()));
        let b: Option<Side> = base.map(|base| base.get(name).map(|v| v.as_deref()));
        let Some(class) = classify(same(t, l), b.map(|b| (same(t, b), same(l, b)))) else {
            continue;
        };
        let letters = match b {
            Some(b) => format!("{}{}", letter(t, b), letter(l, b)),
            None => format!("{} ", letter(t, l)),
        };
        let seen = state_text(live.get(name));
        let action = match t {
            Some(Some(version)) => ("INSTALL", format!("{name}={version}")),
            Some(None) => ("INSTALL", name.clone()),
            None => ("REMOVE", name.clone()),
        };
        items.push(item(name, class, action, seen, letters));
    }
    items
}

/// The item, or, when its line could not be written in a plan (a version outside the plan
/// syntax, such as one that does not start with a digit), the same item with a note instead.
fn item(name: &str, class: Class, action: (&'static str, String), seen: String, letters: String) -> Planned {
    // planfile is the one authority on the plan syntax: ask it rather than repeat its rules.
    let text = format!("{} {}\n#= {seen} {}\n", action.0, action.1, action.1);
    let scope = planfile::Scope { roots: &[] };
    let (actions, note) = match planfile::parse(Domain::Packages, text.as_bytes(), &scope) {
        Ok(_) => (vec![action], None),
        Err(why) => {
            let why = why.split_once(": ").map_or(why.as_str(), |(_, w)| w).to_string();
            let note = format!(
                "{name}: the twin asks for `{} {}` (this machine: {seen}), which a plan cannot \
                 hold: {why}; change it by hand with apt-get",
                action.0, action.1
            );
            (Vec::new(), Some(note))
        }
    };
    Planned { key: name.to_string(), class, actions, seen, wanted: None, note, letters }
}

/// Two sides agree: both absent, or both present with equal versions (a side that names no
/// version matches any).
fn same(a: Side, b: Side) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x.is_none() || y.is_none() || x == y,
        _ => false,
    }
}

/// `git status --short` style: how `side` differs from `base`.
fn letter(side: Side, base: Side) -> char {
    planfile::status_letter(side.is_some(), base.is_some(), same(side, base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::{render_planned, Line, Plan};
    use crate::tests::{one_planned as one, planned_summary as summary};

    fn listed(items: &[(&str, Option<&str>)]) -> Listed {
        items.iter().map(|(n, v)| (n.to_string(), v.map(str::to_string))).collect()
    }

    fn installed(items: &[(&str, &str)]) -> Installed {
        items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn equal_everywhere_plans_nothing() {
        let base = listed(&[("cron", Some("3.0")), ("git", Some("1:2.39"))]);
        let live = installed(&[("cron", "3.0"), ("git", "1:2.39")]);
        assert!(plan(Some(&base), &base, &live).is_empty());
        assert!(plan(None, &base, &live).is_empty());
    }

    #[test]
    fn desired_install() {
        let base = listed(&[("cron", Some("3.0"))]);
        let twin = listed(&[("cron", Some("3.0")), ("htop", Some("3.2.2-2"))]);
        let live = installed(&[("cron", "3.0")]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("htop"), Class::Desired, vec![s("INSTALL htop=3.2.2-2")], s("absent"), s("A "))
        );
    }

    #[test]
    fn desired_install_of_any_version() {
        let base = listed(&[]);
        let twin = listed(&[("htop", None)]);
        let live = installed(&[]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("htop"), Class::Desired, vec![s("INSTALL htop")], s("absent"), s("A "))
        );
    }

    #[test]
    fn desired_remove() {
        let base = listed(&[("cron", Some("3.0")), ("nano", Some("7.2-1"))]);
        let twin = listed(&[("cron", Some("3.0"))]);
        let live = installed(&[("cron", "3.0"), ("nano", "7.2-1")]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("nano"), Class::Desired, vec![s("REMOVE nano")], s("installed:7.2-1"), s("D "))
        );
    }

    #[test]
    fn desired_version_change() {
        let base = listed(&[("curl", Some("7.88.1-10"))]);
        let twin = listed(&[("curl", Some("7.88.1-10+deb12u15"))]);
        let live = installed(&[("curl", "7.88.1-10")]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (
                s("curl"),
                Class::Desired,
                vec![s("INSTALL curl=7.88.1-10+deb12u15")],
                s("installed:7.88.1-10"),
                s("M ")
            )
        );
    }

    #[test]
    fn drift_installed_on_the_machine() {
        let base = listed(&[("cron", Some("3.0"))]);
        let live = installed(&[("cron", "3.0"), ("htop", "3.2.2-2")]);
        assert_eq!(
            one(&plan(Some(&base), &base, &live)),
            (s("htop"), Class::Drift, vec![s("REMOVE htop")], s("installed:3.2.2-2"), s(" A"))
        );
    }

    #[test]
    fn drift_removed_on_the_machine() {
        let base = listed(&[("cron", Some("3.0")), ("htop", Some("3.2.2-2"))]);
        let live = installed(&[("cron", "3.0")]);
        assert_eq!(
            one(&plan(Some(&base), &base, &live)),
            (s("htop"), Class::Drift, vec![s("INSTALL htop=3.2.2-2")], s("absent"), s(" D"))
        );
    }

    #[test]
    fn drift_upgraded_on_the_machine() {
        let base = listed(&[("curl", Some("7.88.1-10"))]);
        let live = installed(&[("curl", "7.88.1-10+deb12u15")]);
        assert_eq!(
            one(&plan(Some(&base), &base, &live)),
            (
                s("curl"),
                Class::Drift,
                vec![s("INSTALL curl=7.88.1-10")],
                s("installed:7.88.1-10+deb12u15"),
                s(" M")
            )
        );
    }

    #[test]
    fn conflict_when_both_changed() {
        let base = listed(&[("curl", Some("1.0"))]);
        let twin = listed(&[("curl", Some("2.0"))]);
        let live = installed(&[("curl", "3.0")]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("curl"), Class::Conflict, vec![s("INSTALL curl=2.0")], s("installed:3.0"), s("MM"))
        );
        // Dropped from the twin, upgraded on the machine.
        let twin = listed(&[]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("curl"), Class::Conflict, vec![s("REMOVE curl")], s("installed:3.0"), s("DM"))
        );
        // Added to both, in different versions.
        let base = listed(&[]);
        let twin = listed(&[("curl", Some("2.0"))]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("curl"), Class::Conflict, vec![s("INSTALL curl=2.0")], s("installed:3.0"), s("AA"))
        );
    }

    #[test]
    fn a_name_only_twin_line_matches_any_version() {
        let base = listed(&[("curl", Some("1.0"))]);
        let twin = listed(&[("curl", None)]);
        // Live upgraded since the baseline: the twin does not care, so nothing to do.
        let live = installed(&[("curl", "2.0")]);
        assert!(plan(Some(&base), &twin, &live).is_empty());
        assert!(plan(None, &twin, &live).is_empty());
        // Removed on the machine: the twin still wants it, and did not change (drift).
        let live = installed(&[]);
        assert_eq!(
            one(&plan(Some(&base), &twin, &live)),
            (s("curl"), Class::Drift, vec![s("INSTALL curl")], s("absent"), s(" D"))
        );
    }

    #[test]
    fn without_a_baseline_every_difference_is_desired() {
        let twin = listed(&[("cron", Some("3.0")), ("curl", Some("2.0")), ("htop", None)]);
        let live =
            installed(&[("cron", "3.0"), ("curl", "1.0"), ("nano", "7.2-1"), ("zlib1g:i386", "1:1.2")]);
        assert_eq!(
            summary(&plan(None, &twin, &live)),
            vec![
                (s("curl"), Class::Desired, vec![s("INSTALL curl=2.0")], s("installed:1.0"), s("M ")),
                (s("htop"), Class::Desired, vec![s("INSTALL htop")], s("absent"), s("A ")),
                (s("nano"), Class::Desired, vec![s("REMOVE nano")], s("installed:7.2-1"), s("D ")),
                (
                    s("zlib1g:i386"),
                    Class::Desired,
                    vec![s("REMOVE zlib1g:i386")],
                    s("installed:1:1.2"),
                    s("D ")
                ),
            ]
        );
    }

    #[test]
    fn a_version_the_plan_cannot_hold_becomes_a_note() {
        let twin = listed(&[("odd", Some("v1.0"))]);
        let items = plan(None, &twin, &installed(&[]));
        assert_eq!(items.len(), 1);
        assert!(items[0].actions.is_empty());
        let note = items[0].note.as_deref().unwrap_or("");
        assert!(
            note.contains("`INSTALL odd=v1.0`") && note.contains("not a valid package version"),
            "{note}"
        );
        let text = Plan { domain: Domain::Packages, lines: render_planned(&items) }.render();
        let parsed = planfile::parse(Domain::Packages, text.as_bytes(), &planfile::Scope { roots: &[] });
        assert!(parsed.is_ok_and(|p| p.actions().is_empty()), "{text}");
    }

    #[test]
    fn rendered_items_are_a_valid_plan_carrying_the_seen_state() {
        let base = listed(&[("cron", Some("3.0")), ("curl", Some("1.0")), ("nano", Some("7.2-1"))]);
        let twin = listed(&[("cron", Some("3.0")), ("htop", Some("3.2.2-2")), ("nano", Some("7.2-1"))]);
        let live = installed(&[
            ("cron", "3.0"),
            ("curl", "1.0"),
            ("less", "590-2"),
            ("zlib1g:i386", "1:1.2.13.dfsg-1"),
        ]);
        let items = plan(Some(&base), &twin, &live);
        let mut lines = planfile::header(Domain::Packages, "1a2b3c4d", Some("9f8e7d6c"), "/", "laptop");
        lines.extend(render_planned(&items));
        let text = Plan { domain: Domain::Packages, lines }.render();
        let plan = planfile::parse(Domain::Packages, text.as_bytes(), &planfile::Scope { roots: &[] })
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(plan.render(), text);
        let actions: Vec<(String, String, Option<String>)> =
            plan.actions().into_iter().map(|a| (a.verb, a.arg, a.seen)).collect();
        assert_eq!(
            actions,
            vec![
                (s("REMOVE"), s("curl"), Some(s("installed:1.0"))),
                (s("INSTALL"), s("htop=3.2.2-2"), Some(s("absent"))),
            ],
            "{text}"
        );
        // Drift is offered commented out, with its record, so uncommenting it gives a checked line.
        assert!(text.contains("\n#INSTALL nano=7.2-1\n#= absent nano=7.2-1\n"), "{text}");
        assert!(text.contains("\n#REMOVE less\n#= installed:590-2 less\n"), "{text}");
        assert!(text.contains("\n#REMOVE zlib1g:i386\n#= installed:1:1.2.13.dfsg-1 zlib1g:i386\n"), "{text}");
        assert!(plan.lines.iter().any(|l| matches!(l, Line::Note(n) if n.starts_with(" drift: less"))));
        let uncommented = text.replace("#INSTALL nano", "INSTALL nano");
        let plan = planfile::parse(Domain::Packages, uncommented.as_bytes(), &planfile::Scope { roots: &[] })
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.actions().iter().any(|a| a.arg == "nano=7.2-1" && a.seen.as_deref() == Some("absent")));
    }
}
