//! The startup planner (SPEC §5): the baseline, the twin's `user-crontab.txt` and the live
//! crontab decide, as one item, whether a startup plan holds an `UPDATE_USER_CRONTAB` line.
//! Pure: no I/O, tested on data.

use super::state;
use crate::planfile::{classify, Class, Planned};
use crate::snapshot::CRONTAB_TXT;

/// The plan's one verb.
pub(super) const VERB: &str = "UPDATE_USER_CRONTAB";

/// The startup item, if any. `base`: None without a baseline or with `--mirror` (every
/// difference is desired); `Some(None)` when the baseline has no crontab file (counted as no
/// crontab); `Some(Some(text))`. `twin`: the twin's file, None when it has none. `live`: the
/// crontab now, "" for none. A live crontab holding a secret is never planned.
pub(crate) fn plan(
    base: Option<Option<&str>>,
    twin: Option<&str>,
    live: &str,
    live_secret: bool,
    user: &str,
) -> Vec<Planned> {
    if live_secret {
        // No state either: not even a hash of a secret goes into a plan.
        let note = format!(
            "the crontab of {user} holds a secret, so it is not in the twin and startup is not planned; \
             move the secret into a file only {user} can read, then run `twinsync snapshot`"
        );
        return vec![note_only(user, String::new(), note)];
    }
    let Some(twin) = twin else {
        let note = format!(
            "the twin has no {CRONTAB_TXT}, so the crontab of {user} is not planned; to remove the \
             crontab, leave that file empty rather than deleting it"
        );
        return vec![note_only(user, state(live), note)];
    };
    let base: Option<&str> = base.map(|b| b.unwrap_or(""));
    let Some(class) = classify(twin == live, base.map(|b| (twin == b, live == b))) else {
        return Vec::new();
    };
    let letters = match base {
        Some(b) => format!("{}{}", letter(twin, b), letter(live, b)),
        None => format!("{} ", letter(twin, live)),
    };
    let note = (twin.is_empty() && !live.is_empty()).then(|| {
        format!("the twin's crontab is empty: this line removes the crontab of {user} (crontab -r)")
    });
    vec![Planned {
        key: user.to_string(),
        class,
        actions: vec![(VERB, CRONTAB_TXT.to_string())],
        seen: state(live),
        wanted: Some(state(twin)),
        note,
        letters,
    }]
}

/// An item that plans nothing and says why.
fn note_only(user: &str, seen: String, note: String) -> Planned {
    Planned {
        key: user.to_string(),
        class: Class::Desired,
        actions: Vec::new(),
        seen,
        wanted: None,
        note: Some(note),
        letters: "  ".to_string(),
    }
}

/// `git status --short` style: how `side` differs from `base` (an empty text is no crontab).
fn letter(side: &str, base: &str) -> char {
    crate::planfile::status_letter(!side.is_empty(), !base.is_empty(), side == base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planfile::{self, render_planned, Domain, Line, Plan};

    const A: &str = "15 3 * * * /usr/bin/true\n";
    const B: &str = "*/10 * * * * /usr/bin/true\n";
    const C: &str = "@reboot echo booted\n";

    /// (class, actions, seen, wanted, letters) of the one item.
    fn one(items: &[Planned]) -> (Class, Vec<String>, String, Option<String>, String) {
        assert_eq!(items.len(), 1, "{items:?}");
        let i = &items[0];
        assert_eq!(i.key, "ana");
        let actions = i.actions.iter().map(|(v, a)| format!("{v} {a}")).collect();
        (i.class, actions, i.seen.clone(), i.wanted.clone(), i.letters.clone())
    }

    fn line() -> Vec<String> {
        vec![format!("UPDATE_USER_CRONTAB {CRONTAB_TXT}")]
    }

    fn w(text: &str) -> Option<String> {
        Some(state(text))
    }

    #[test]
    fn equal_twin_and_machine_plan_nothing() {
        // Row 1 of the table: T = L, whatever the baseline says.
        for base in [None, Some(None), Some(Some(A)), Some(Some(B))] {
            assert!(plan(base, Some(A), A, false, "ana").is_empty(), "{base:?}");
        }
        assert!(plan(Some(None), Some(""), "", false, "ana").is_empty());
    }

    #[test]
    fn a_twin_edit_is_desired() {
        assert_eq!(
            one(&plan(Some(Some(A)), Some(B), A, false, "ana")),
            (Class::Desired, line(), state(A), w(B), "M ".to_string())
        );
        // A crontab the baseline did not have: added in the twin.
        assert_eq!(
            one(&plan(Some(Some("")), Some(A), "", false, "ana")),
            (Class::Desired, line(), "absent".to_string(), w(A), "A ".to_string())
        );
        assert_eq!(
            one(&plan(Some(None), Some(A), "", false, "ana")),
            (Class::Desired, line(), "absent".to_string(), w(A), "A ".to_string())
        );
    }

    #[test]
    fn a_machine_change_is_drift() {
        assert_eq!(
            one(&plan(Some(Some(A)), Some(A), B, false, "ana")),
            (Class::Drift, line(), state(B), w(A), " M".to_string())
        );
        // The crontab was removed on the machine.
        assert_eq!(
            one(&plan(Some(Some(A)), Some(A), "", false, "ana")),
            (Class::Drift, line(), "absent".to_string(), w(A), " D".to_string())
        );
    }

    #[test]
    fn both_changed_is_a_conflict() {
        assert_eq!(
            one(&plan(Some(Some(A)), Some(B), C, false, "ana")),
            (Class::Conflict, line(), state(C), w(B), "MM".to_string())
        );
        // The baseline had none; the twin and the machine each got a different one.
        assert_eq!(
            one(&plan(Some(None), Some(B), C, false, "ana")),
            (Class::Conflict, line(), state(C), w(B), "AA".to_string())
        );
    }

    #[test]
    fn without_a_baseline_every_difference_is_desired() {
        assert_eq!(
            one(&plan(None, Some(B), A, false, "ana")),
            (Class::Desired, line(), state(A), w(B), "M ".to_string())
        );
        assert_eq!(
            one(&plan(None, Some(A), "", false, "ana")),
            (Class::Desired, line(), "absent".to_string(), w(A), "A ".to_string())
        );
        // The drift case above, seen two-way, is a desired change back to the twin.
        assert_eq!(one(&plan(None, Some(A), B, false, "ana")).0, Class::Desired);
    }

    #[test]
    fn an_empty_twin_crontab_removes_the_users_crontab() {
        let items = plan(Some(Some(A)), Some(""), A, false, "ana");
        assert_eq!(one(&items), (Class::Desired, line(), state(A), w(""), "D ".to_string()));
        let note = items[0].note.as_deref().unwrap_or("");
        assert!(note.contains("removes the crontab of ana"), "{note}");
    }

    #[test]
    fn a_secret_in_the_live_crontab_plans_nothing() {
        for (base, twin) in [(None, Some(B)), (Some(Some(A)), Some(A)), (Some(Some(A)), None)] {
            let items = plan(base, twin, A, true, "ana");
            assert_eq!(items.len(), 1);
            assert!(items[0].actions.is_empty() && items[0].seen.is_empty(), "{items:?}");
            assert!(items[0].note.as_deref().is_some_and(|n| n.contains("holds a secret")));
        }
    }

    #[test]
    fn a_missing_twin_file_plans_nothing() {
        let items = plan(Some(Some(A)), None, A, false, "ana");
        assert_eq!(items.len(), 1);
        assert!(items[0].actions.is_empty());
        assert!(items[0].note.as_deref().is_some_and(|n| n.contains("leave that file empty")));
    }

    fn parse(text: &str) -> Plan {
        planfile::parse(Domain::Startup, text.as_bytes(), &planfile::Scope { roots: &[] })
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn render(items: &[Planned]) -> String {
        let mut lines = planfile::header(Domain::Startup, "1a2b3c4d", Some("9f8e7d6c"), "/", "laptop");
        lines.extend(render_planned(items));
        Plan { domain: Domain::Startup, lines }.render()
    }

    #[test]
    fn rendered_items_are_a_valid_plan_carrying_both_states() {
        let text = render(&plan(Some(Some(A)), Some(B), A, false, "ana"));
        let parsed = parse(&text);
        assert_eq!(parsed.render(), text);
        let actions = parsed.actions();
        assert_eq!(actions.len(), 1, "{text}");
        assert_eq!((actions[0].verb.as_str(), actions[0].arg.as_str()), (VERB, CRONTAB_TXT));
        assert_eq!(actions[0].seen, Some(state(A)));
        assert_eq!(actions[0].wanted, Some(state(B)));

        // Removal: `#+ absent`.
        let text = render(&plan(Some(Some(A)), Some(""), A, false, "ana"));
        let actions = parse(&text).actions();
        assert_eq!(actions[0].wanted.as_deref(), Some("absent"), "{text}");

        // Drift is offered commented out, with its records, so uncommenting it gives a checked line.
        let text = render(&plan(Some(Some(A)), Some(A), B, false, "ana"));
        let parsed = parse(&text);
        assert!(parsed.actions().is_empty(), "{text}");
        assert!(parsed.lines.iter().any(|l| matches!(l, Line::Note(n) if n.starts_with(" drift: ana"))));
        let uncommented = text.replace(&format!("#{VERB} "), &format!("{VERB} "));
        let actions = parse(&uncommented).actions();
        assert_eq!(actions.len(), 1);
        assert_eq!(actions[0].seen, Some(state(B)));

        // Notes only: still a valid plan, with nothing to do.
        for items in [plan(None, Some(B), A, true, "ana"), plan(None, None, A, false, "ana")] {
            let text = render(&items);
            assert!(parse(&text).actions().is_empty(), "{text}");
            assert!(!text.contains("#="), "{text}");
        }
    }
}
