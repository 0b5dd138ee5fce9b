//! The three-way file planner (SPEC §5), on data only.

use std::collections::BTreeMap;

use super::*;
use crate::planfile::{Domain, FileState, Line, Meta, Plan, Scope};
use crate::twin::BlobId;

const P: &str = "/etc/x";

fn oid(c: char) -> BlobId {
    BlobId::from(c.to_string().repeat(40).as_str())
}

/// A regular file with metadata.
fn file(c: char, mode: u32, owner: &str, group: &str) -> FileState {
    FileState::File { oid: oid(c), meta: Some(Meta { mode, owner: owner.into(), group: group.into() }) }
}

/// The usual `0644 root root` file.
fn f(c: char) -> FileState {
    file(c, 0o644, "root", "root")
}

/// A twin file without a `metadata.txt` line.
fn bare(c: char) -> FileState {
    FileState::File { oid: oid(c), meta: None }
}

fn link(c: char) -> FileState {
    FileState::Link { oid: oid(c), owner: Some(("root".into(), "root".into())) }
}

/// A list of the given paths, sorted; an `Absent` state leaves the path out, as the real
/// lists do.
fn map(entries: &[(&str, FileState)]) -> Vec<(String, FileState)> {
    let sorted: BTreeMap<String, FileState> = entries
        .iter()
        .filter(|(_, s)| !matches!(s, FileState::Absent))
        .map(|(p, s)| (p.to_string(), s.clone()))
        .collect();
    sorted.into_iter().collect()
}

/// One path, three states.
fn three(b: &FileState, t: &FileState, l: &FileState) -> States {
    States {
        baseline: Some(map(&[(P, b.clone())])),
        twin: map(&[(P, t.clone())]),
        live: map(&[(P, l.clone())]),
    }
}

/// One path, no baseline.
fn two(t: &FileState, l: &FileState) -> States {
    States { baseline: None, twin: map(&[(P, t.clone())]), live: map(&[(P, l.clone())]) }
}

/// The single item planned for `states`, if any.
fn only(states: &States) -> Option<Item> {
    let items = plan(states);
    assert!(items.len() <= 1, "more than one item: {items:?}");
    items.into_iter().next()
}

/// Class, verb and letters of the single item for B, T, L.
fn outcome(b: &FileState, t: &FileState, l: &FileState) -> Option<(Class, Option<&'static str>, String)> {
    only(&three(b, t, l)).map(|i| (i.class, i.verb, i.letters(false)))
}

fn desired(verb: &'static str, letters: &str) -> Option<(Class, Option<&'static str>, String)> {
    Some((Class::Desired, Some(verb), letters.to_string()))
}

fn drift(verb: &'static str, letters: &str) -> Option<(Class, Option<&'static str>, String)> {
    Some((Class::Drift, Some(verb), letters.to_string()))
}

fn conflict(verb: &'static str, letters: &str) -> Option<(Class, Option<&'static str>, String)> {
    Some((Class::Conflict, Some(verb), letters.to_string()))
}

/// Every row of the SPEC §5 table for one kind of change: `b` the baseline, `t` the twin's
/// changed version, `l` the machine's changed version (all three different).
fn table(
    b: &FileState,
    t: &FileState,
    l: &FileState,
    want: [Option<(Class, Option<&'static str>, String)>; 3],
) {
    let [want_desired, want_drift, want_conflict] = want;
    // T = L: nothing to do, whether or not they moved away from the baseline together.
    assert_eq!(outcome(b, b, b), None, "nothing changed");
    assert_eq!(outcome(b, t, t), None, "both sides made the same change");
    assert_eq!(outcome(b, l, l), None, "both sides made the same change");
    // T ≠ L, T ≠ B, L = B: a desired change.
    assert_eq!(outcome(b, t, b), want_desired, "desired: B={b:?} T={t:?}");
    // T ≠ L, T = B, L ≠ B: drift.
    assert_eq!(outcome(b, b, l), want_drift, "drift: B={b:?} L={l:?}");
    // T ≠ L, T ≠ B, L ≠ B: conflict.
    assert_eq!(outcome(b, t, l), want_conflict, "conflict: B={b:?} T={t:?} L={l:?}");
}

#[test]
fn table_content_change() {
    table(
        &f('a'),
        &f('b'),
        &f('c'),
        [desired("REPLACE", "M "), drift("REPLACE", " M"), conflict("REPLACE", "MM")],
    );
}

#[test]
fn table_mode_only_change() {
    let (b, t, l) = (
        file('a', 0o644, "root", "root"),
        file('a', 0o640, "root", "root"),
        file('a', 0o600, "root", "root"),
    );
    table(&b, &t, &l, [desired("REPLACE", "M "), drift("REPLACE", " M"), conflict("REPLACE", "MM")]);
    // The brief's example: twin asks for 0640, the machine has 0644, same content.
    let item = only(&three(&b, &t, &b)).expect("a mode change is a change");
    assert_eq!((item.class, item.verb), (Class::Desired, Some("REPLACE")));
    assert_eq!(item.twin, t);
    assert_eq!(item.live, b);
    assert_eq!(item.base, b);
}

#[test]
fn table_owner_only_change() {
    let (b, t, l) =
        (file('a', 0o644, "root", "root"), file('a', 0o644, "ana", "root"), file('a', 0o644, "bob", "root"));
    table(&b, &t, &l, [desired("REPLACE", "M "), drift("REPLACE", " M"), conflict("REPLACE", "MM")]);
    // Group only, too.
    let g = file('a', 0o644, "root", "adm");
    assert_eq!(outcome(&b, &g, &b), desired("REPLACE", "M "));
}

#[test]
fn table_file_symlink_type_change() {
    // The twin turns a file into a symlink; the machine changes the file's content.
    table(
        &f('a'),
        &link('a'),
        &f('b'),
        [desired("REPLACE", "M "), drift("REPLACE", " M"), conflict("REPLACE", "MM")],
    );
    // The other way round: a symlink becomes a file.
    table(
        &link('a'),
        &f('a'),
        &link('b'),
        [desired("REPLACE", "M "), drift("REPLACE", " M"), conflict("REPLACE", "MM")],
    );
}

#[test]
fn table_symlink_target_change() {
    table(
        &link('a'),
        &link('b'),
        &link('c'),
        [desired("REPLACE", "M "), drift("REPLACE", " M"), conflict("REPLACE", "MM")],
    );
}

#[test]
fn table_create() {
    // In the twin, not live, not in the baseline: CREATE. The machine creating it alone is
    // drift (suggested DELETE); both creating it differently is a conflict.
    table(
        &FileState::Absent,
        &f('a'),
        &f('b'),
        [desired("CREATE", "A "), drift("DELETE", " A"), conflict("REPLACE", "AA")],
    );
}

#[test]
fn table_delete() {
    // In the baseline and live, gone from the twin: a desired DELETE (SPEC §5, last sentence).
    table(
        &f('a'),
        &FileState::Absent,
        &f('b'),
        [desired("DELETE", "D "), drift("REPLACE", " M"), conflict("DELETE", "DM")],
    );
}

#[test]
fn created_on_the_machine_only_is_drift_with_delete() {
    let states = States {
        baseline: Some(map(&[("/etc/hosts", f('1'))])),
        twin: map(&[("/etc/hosts", f('1'))]),
        live: map(&[("/etc/hosts", f('1')), (P, f('a'))]),
    };
    let items = plan(&states);
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item.path, P);
    assert_eq!((item.class, item.verb), (Class::Drift, Some("DELETE")));
    assert_eq!(item.letters(false), " A");
    assert_eq!((&item.twin, &item.live, &item.base), (&FileState::Absent, &f('a'), &FileState::Absent));
}

#[test]
fn deleted_on_the_machine_only_is_drift_with_create() {
    assert_eq!(outcome(&f('a'), &f('a'), &FileState::Absent), drift("CREATE", " D"));
    assert_eq!(outcome(&link('a'), &link('a'), &FileState::Absent), drift("CREATE", " D"));
    // Deleted on both sides: nothing to do.
    assert_eq!(outcome(&f('a'), &FileState::Absent, &FileState::Absent), None);
}

#[test]
fn twin_without_metadata_asks_for_no_mode() {
    // Equal content, the twin has no metadata line: nothing to do, whatever the live mode.
    assert_eq!(only(&two(&bare('a'), &file('a', 0o600, "ana", "staff"))), None);
    assert_eq!(outcome(&f('a'), &bare('a'), &file('a', 0o600, "ana", "staff")), None);
    assert_eq!(outcome(&bare('a'), &bare('a'), &f('a')), None);
    // A content change still counts.
    assert_eq!(outcome(&f('a'), &bare('b'), &f('a')), desired("REPLACE", "M "));
    // A symlink without owner is the same as one with.
    let plain = FileState::Link { oid: oid('a'), owner: None };
    assert_eq!(only(&two(&plain, &link('a'))), None);
}

#[test]
fn no_baseline_every_difference_is_desired() {
    let states = States {
        baseline: None,
        twin: map(&[
            ("/etc/both", f('a')),
            ("/etc/new", f('b')),
            ("/etc/same", f('c')),
            ("/etc/mode", file('d', 0o600, "root", "root")),
        ]),
        live: map(&[
            ("/etc/both", f('e')),
            ("/etc/only-live", f('f')),
            ("/etc/same", f('c')),
            ("/etc/mode", f('d')),
        ]),
    };
    let items = plan(&states);
    let got: Vec<(&str, Class, Option<&str>, String)> =
        items.iter().map(|i| (i.path.as_str(), i.class, i.verb, i.letters(true))).collect();
    assert_eq!(
        got,
        vec![
            ("/etc/both", Class::Desired, Some("REPLACE"), "M ".to_string()),
            ("/etc/mode", Class::Desired, Some("REPLACE"), "M ".to_string()),
            ("/etc/new", Class::Desired, Some("CREATE"), "A ".to_string()),
            ("/etc/only-live", Class::Desired, Some("DELETE"), "D ".to_string()),
        ]
    );
    for item in &items {
        assert_eq!(item.base, FileState::Absent);
    }
}

#[test]
fn live_folder_or_special_file() {
    // A folder where the twin has a file: an item TwinSync cannot carry out.
    for states in [
        two(&f('a'), &FileState::Dir),
        three(&FileState::Absent, &f('a'), &FileState::Dir),
        three(&f('a'), &f('b'), &FileState::Dir),
    ] {
        let item = only(&states).expect("a folder in the way is reported");
        assert_eq!(item.verb, None, "{states:?}");
        assert_eq!(item.live, FileState::Dir);
    }
    // A folder and no file in the twin: nothing to do (folders are not planned).
    assert_eq!(only(&two(&FileState::Absent, &FileState::Dir)), None);
    assert_eq!(outcome(&FileState::Absent, &FileState::Absent, &FileState::Dir), None);
    assert_eq!(outcome(&f('a'), &FileState::Absent, &FileState::Dir), None);
    // A fifo, socket or device where the twin has a file.
    for states in [
        two(&f('a'), &FileState::Other),
        three(&f('a'), &f('b'), &FileState::Other),
        three(&f('a'), &f('a'), &FileState::Other),
    ] {
        let item = only(&states).expect("a special file in the way is reported");
        assert_eq!(item.verb, None, "{states:?}");
    }
    // Same for a twin symlink.
    assert_eq!(only(&two(&link('a'), &FileState::Dir)).map(|i| i.verb), Some(None));
}

#[test]
fn letters() {
    let letters = |b: &FileState, t: &FileState, l: &FileState| only(&three(b, t, l)).unwrap().letters(false);
    let a = FileState::Absent;
    assert_eq!(letters(&f('a'), &f('b'), &f('a')), "M ");
    assert_eq!(letters(&a, &f('b'), &a), "A ");
    assert_eq!(letters(&f('a'), &a, &f('a')), "D ");
    assert_eq!(letters(&f('a'), &f('a'), &f('b')), " M");
    assert_eq!(letters(&a, &a, &f('b')), " A");
    assert_eq!(letters(&f('a'), &f('a'), &a), " D");
    assert_eq!(letters(&f('a'), &f('b'), &f('c')), "MM");
    // Two-way: the twin against the live state.
    let two_way = |t: &FileState, l: &FileState| only(&two(t, l)).unwrap().letters(true);
    assert_eq!(two_way(&f('b'), &f('a')), "M ");
    assert_eq!(two_way(&f('b'), &a), "A ");
    assert_eq!(two_way(&a, &f('a')), "D ");
}

fn item(path: &str, class: Class, b: FileState, t: FileState, l: FileState) -> Item {
    let states =
        States { baseline: Some(map(&[(path, b)])), twin: map(&[(path, t)]), live: map(&[(path, l)]) };
    let items = plan(&states);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].class, class);
    items.into_iter().next().unwrap()
}

#[test]
fn render_desired() {
    let i = item("/etc/hosts", Class::Desired, f('a'), file('b', 0o640, "root", "adm"), f('a'));
    assert_eq!(
        render(&[i]),
        vec![
            Line::Action { verb: "REPLACE".into(), arg: "/etc/hosts".into() },
            Line::Seen { state: format!("sha1:{}:0644:root:root", oid('a')), arg: "/etc/hosts".into() },
            Line::Wanted { state: format!("sha1:{}:0640:root:adm", oid('b')), arg: "/etc/hosts".into() },
        ]
    );
    let i = item("/etc/new", Class::Desired, FileState::Absent, bare('b'), FileState::Absent);
    assert_eq!(
        render(&[i]),
        vec![
            Line::Action { verb: "CREATE".into(), arg: "/etc/new".into() },
            Line::Seen { state: "absent".into(), arg: "/etc/new".into() },
            Line::Wanted { state: format!("sha1:{}", oid('b')), arg: "/etc/new".into() },
        ]
    );
}

#[test]
fn render_drift() {
    let i = item("/etc/motd", Class::Drift, f('a'), f('a'), f('b'));
    let lines = render(&[i]);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        matches!(&lines[0], Line::Note(n) if n.starts_with(" drift:") && n.contains("/etc/motd changed")),
        "{lines:?}"
    );
    assert_eq!(lines[1], Line::Note("REPLACE /etc/motd".into()));
    assert_eq!(lines[2], Line::Seen { state: f('b').render(), arg: "/etc/motd".into() });
    assert_eq!(lines[3], Line::Wanted { state: f('a').render(), arg: "/etc/motd".into() });

    // Created and deleted on the machine say so, and suggest DELETE and CREATE.
    let created = render(&[item("/etc/motd", Class::Drift, FileState::Absent, FileState::Absent, f('b'))]);
    assert!(
        matches!(&created[0], Line::Note(n) if n.starts_with(" drift:") && n.contains("was created")),
        "{created:?}"
    );
    assert_eq!(created[1], Line::Note("DELETE /etc/motd".into()));
    assert_eq!(created[3], Line::Wanted { state: "absent".into(), arg: "/etc/motd".into() });
    let deleted = render(&[item("/etc/motd", Class::Drift, f('a'), f('a'), FileState::Absent)]);
    assert!(
        matches!(&deleted[0], Line::Note(n) if n.starts_with(" drift:") && n.contains("was deleted")),
        "{deleted:?}"
    );
    assert_eq!(deleted[1], Line::Note("CREATE /etc/motd".into()));
    assert_eq!(deleted[2], Line::Seen { state: "absent".into(), arg: "/etc/motd".into() });
}

#[test]
fn render_conflict() {
    let lines = render(&[item(P, Class::Conflict, f('a'), f('b'), f('c'))]);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        matches!(&lines[0], Line::Note(n) if n.contains(" conflict:") && n.contains("`twinsync diff /etc/x`")),
        "{lines:?}"
    );
    assert_eq!(lines[1], Line::Note("REPLACE /etc/x".into()));
    assert_eq!(lines[2], Line::Seen { state: f('c').render(), arg: P.into() });
    assert_eq!(lines[3], Line::Wanted { state: f('b').render(), arg: P.into() });
}

#[test]
fn render_warning_for_a_file_its_reader_skips() {
    let path = "/etc/sudoers.d/admins.conf";
    let lines = render(&[item(path, Class::Desired, FileState::Absent, f('a'), FileState::Absent)]);
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        matches!(&lines[0], Line::Note(n) if n.starts_with(" warning:") && n.contains(path)),
        "{lines:?}"
    );
    assert_eq!(lines[1], Line::Action { verb: "CREATE".into(), arg: path.into() });
    // Deleting such a file needs no warning.
    let lines = render(&[item(path, Class::Desired, f('a'), FileState::Absent, f('a'))]);
    assert_eq!(lines[0], Line::Action { verb: "DELETE".into(), arg: path.into() });
    // A name sudo reads: no warning.
    let lines = render(&[item(
        "/etc/sudoers.d/admins",
        Class::Desired,
        FileState::Absent,
        f('a'),
        FileState::Absent,
    )]);
    assert!(matches!(&lines[0], Line::Action { .. }), "{lines:?}");
}

#[test]
fn render_cannot_plan() {
    for live in [FileState::Dir, FileState::Other] {
        let lines = render(&[only(&two(&f('a'), &live)).unwrap()]);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            matches!(&lines[0], Line::Note(n) if n.contains("cannot plan") && n.contains(P)),
            "{lines:?}"
        );
    }
    let lines = render(&[only(&two(&f('a'), &FileState::Dir)).unwrap()]);
    assert!(matches!(&lines[0], Line::Note(n) if n.contains("folder")), "{lines:?}");
}

/// A plan with every kind of item.
fn mixed() -> States {
    let a = FileState::Absent;
    let rows = [
        ("/etc/hosts", f('1'), file('2', 0o640, "root", "adm"), f('1')), // desired REPLACE
        ("/etc/new file", a.clone(), bare('3'), a.clone()),              // desired CREATE, a space
        ("/etc/old", f('4'), a.clone(), f('4')),                         // desired DELETE
        ("/etc/localtime", f('5'), link('6'), f('5')),                   // desired REPLACE by a link
        ("/etc/motd", f('7'), f('7'), f('8')),                           // drift
        ("/etc/x", f('9'), f('a'), f('b')),                              // conflict
        ("/etc/sudoers.d/admins.conf", a.clone(), f('c'), a.clone()),    // desired, with a warning
        ("/etc/dir", a.clone(), f('d'), FileState::Dir),                 // cannot plan
        ("/etc/gone", f('e'), f('e'), a.clone()),                        // drift: deleted
        ("/etc/extra", a.clone(), a.clone(), f('f')),                    // drift: created
        ("/etc/same", f('0'), f('0'), f('0')),                           // nothing
    ];
    let (mut b, mut t, mut l) = (Vec::new(), Vec::new(), Vec::new());
    for (path, base, twin, live) in rows {
        b.push((path, base));
        t.push((path, twin));
        l.push((path, live));
    }
    States { baseline: Some(map(&b)), twin: map(&t), live: map(&l) }
}

#[test]
fn round_trip_through_the_plan_file() {
    let items = plan(&mixed());
    assert_eq!(items.len(), 10);
    let plan_ = Plan { domain: Domain::Files, lines: render(&items) };
    let text = plan_.render();
    let roots = ["/etc".to_string()];
    let parsed = crate::planfile::parse(Domain::Files, text.as_bytes(), &Scope { roots: &roots })
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(parsed, plan_, "{text}");
    assert_eq!(parsed.render(), text);
    assert!(text.contains("\n#REPLACE /etc/motd\n"), "{text}");

    let got: Vec<(String, String, Option<String>, Option<String>)> =
        parsed.actions().into_iter().map(|a| (a.verb, a.arg, a.seen, a.wanted)).collect();
    let want: Vec<(String, String, Option<String>, Option<String>)> = items
        .iter()
        .filter(|i| i.class == Class::Desired && i.verb.is_some())
        .map(|i| (i.verb.unwrap().to_string(), i.path.clone(), Some(i.live.render()), Some(i.twin.render())))
        .collect();
    assert_eq!(
        want.iter().map(|w| w.1.as_str()).collect::<Vec<_>>(),
        ["/etc/hosts", "/etc/localtime", "/etc/new file", "/etc/old", "/etc/sudoers.d/admins.conf"]
    );
    assert_eq!(got, want);

    // Uncommenting a suggestion gives a checked action with its records.
    let edited = text.replace("\n#REPLACE /etc/motd\n", "\nREPLACE /etc/motd\n");
    let parsed = crate::planfile::parse(Domain::Files, edited.as_bytes(), &Scope { roots: &roots })
        .unwrap_or_else(|e| panic!("{e}\n{edited}"));
    let motd = parsed.actions().into_iter().find(|a| a.arg == "/etc/motd").expect("the uncommented line");
    assert_eq!(
        (motd.verb.as_str(), motd.seen, motd.wanted),
        ("REPLACE", Some(f('8').render()), Some(f('7').render()))
    );
}

#[test]
fn items_sorted_by_path() {
    let items = plan(&mixed());
    let paths: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    // Paths from all three maps are merged into one order.
    let states = States {
        baseline: Some(map(&[("/etc/m", f('a')), ("/etc/b", f('a'))])),
        twin: map(&[("/etc/z", f('b')), ("/etc/b", f('a'))]),
        live: map(&[("/etc/a", f('c')), ("/etc/z", f('d')), ("/etc/b", f('a')), ("/etc/m", f('a'))]),
    };
    let paths: Vec<String> = plan(&states).into_iter().map(|i| i.path).collect();
    assert_eq!(paths, ["/etc/a", "/etc/m", "/etc/z"]);
}
