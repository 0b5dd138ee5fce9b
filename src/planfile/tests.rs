//! The plan-file grammar (SPEC §6): what a person reading or editing a plan relies on.

use std::collections::BTreeSet;

use super::*;

const A: &str = "d68c31c5adb755948aadb6fd336dec28646d465e";
const B: &str = "838f375a51d00f46ab2883871857014682a924de";

/// The three header lines, as `header()` writes them for a files plan.
const HEAD: &str = "# twinsync plan: files\n\
                    # twin 1a2b3c4 · baseline 9f8e7d6 · system / on laptop · written 2026-11-24T10:05:00Z\n\
                    # Delete a line to skip it. Lines starting with # are notes. Apply: twinsync apply files\n";

fn roots() -> Vec<String> {
    vec!["/etc".to_string(), "/home/ana/.config".to_string()]
}

fn parse_bytes(domain: Domain, bytes: &[u8]) -> Result<Plan, String> {
    let roots = roots();
    parse(domain, bytes, &Scope { roots: &roots })
}

fn parse_in(domain: Domain, text: &str) -> Result<Plan, String> {
    parse_bytes(domain, text.as_bytes())
}

fn accepted(domain: Domain, text: &str) -> Plan {
    parse_in(domain, text).unwrap_or_else(|e| panic!("{text:?} was refused: {e}"))
}

/// Checks that `bytes` is refused with `plan-DOMAIN.txt:LINE: ` and a message holding every
/// one of `words`.
fn assert_refused_bytes(domain: Domain, bytes: &[u8], line: usize, words: &[&str]) {
    let shown = String::from_utf8_lossy(bytes);
    let err = match parse_bytes(domain, bytes) {
        Ok(plan) => panic!("{shown:?} was accepted: {plan:?}"),
        Err(e) => e,
    };
    let prefix = format!("{}:{line}: ", domain.file_name());
    assert!(err.starts_with(&prefix), "error should start with {prefix:?}: {err:?} (for {shown:?})");
    for word in words {
        assert!(err.contains(word), "error should say {word:?}: {err:?} (for {shown:?})");
    }
}

fn assert_refused(domain: Domain, text: &str, line: usize, words: &[&str]) {
    assert_refused_bytes(domain, text.as_bytes(), line, words);
}

/// A files plan: the header, then `body`; the first line of `body` is line 4.
fn files_plan(body: &str) -> String {
    format!("{HEAD}{body}")
}

fn action(verb: &str, arg: &str) -> Line {
    Line::Action { verb: verb.to_string(), arg: arg.to_string() }
}

fn seen(state: &str, arg: &str) -> Line {
    Line::Seen { state: state.to_string(), arg: arg.to_string() }
}

fn wanted(state: &str, arg: &str) -> Line {
    Line::Wanted { state: state.to_string(), arg: arg.to_string() }
}

fn note(text: &str) -> Line {
    Line::Note(text.to_string())
}

fn blank(text: &str) -> Line {
    Line::Blank(text.to_string())
}

// ---------------------------------------------------------------------------------------------
// A realistic files plan
// ---------------------------------------------------------------------------------------------

#[test]
fn files_plan_parses_into_lines_and_renders_back_word_for_word() {
    let spaced = "/home/ana/.config/Code/User/my settings.json";
    let text = [
        "# twinsync plan: files",
        "# twin 1a2b3c4 · baseline 9f8e7d6 · system / on laptop · written 2026-11-24T10:05:00Z",
        "# Delete a line to skip it. Lines starting with # are notes. Apply: twinsync apply files",
        "",
        "REPLACE /etc/hosts",
        &format!("#= sha1:{A}:0644:root:root /etc/hosts"),
        &format!("#+ sha1:{B}:0644:root:root /etc/hosts"),
        &format!("CREATE {spaced}"),
        &format!("#+ sha1:{B}:0600:ana:ana {spaced}"),
        &format!("#= absent {spaced}"),
        "# drift: /etc/motd changed on this machine since the last snapshot; uncomment the next line to overwrite it",
        "#REPLACE /etc/motd",
        &format!("#= sha1:{A}:0644:root:root /etc/motd"),
        &format!("#+ sha1:{B}:0644:root:root /etc/motd"),
        " \t ",
        "DELETE /etc/old.conf",
        "#",
        "",
    ]
    .map(|l| format!("{l}\n"))
    .concat();

    let plan = accepted(Domain::Files, &text);
    assert_eq!(plan.domain, Domain::Files);
    let want = vec![
        note(" twinsync plan: files"),
        note(" twin 1a2b3c4 · baseline 9f8e7d6 · system / on laptop · written 2026-11-24T10:05:00Z"),
        note(" Delete a line to skip it. Lines starting with # are notes. Apply: twinsync apply files"),
        blank(""),
        action("REPLACE", "/etc/hosts"),
        seen(&format!("sha1:{A}:0644:root:root"), "/etc/hosts"),
        wanted(&format!("sha1:{B}:0644:root:root"), "/etc/hosts"),
        action("CREATE", spaced),
        wanted(&format!("sha1:{B}:0600:ana:ana"), spaced),
        seen("absent", spaced),
        note(" drift: /etc/motd changed on this machine since the last snapshot; uncomment the next line to overwrite it"),
        note("REPLACE /etc/motd"),
        seen(&format!("sha1:{A}:0644:root:root"), "/etc/motd"),
        wanted(&format!("sha1:{B}:0644:root:root"), "/etc/motd"),
        blank(" \t "),
        action("DELETE", "/etc/old.conf"),
        note(""),
        blank(""),
    ];
    assert_eq!(plan.lines, want);
    assert_eq!(plan.render(), text, "render(parse(x)) must give x back");

    // The suggestion is not an action, and its records belong to no action (in particular not
    // to the CREATE above it, whose states stay its own).
    let actions = plan.actions();
    assert_eq!(
        actions,
        vec![
            Action {
                line: 5,
                verb: "REPLACE".into(),
                arg: "/etc/hosts".into(),
                seen: Some(format!("sha1:{A}:0644:root:root")),
                wanted: Some(format!("sha1:{B}:0644:root:root")),
            },
            Action {
                line: 8,
                verb: "CREATE".into(),
                arg: spaced.into(),
                seen: Some("absent".into()),
                wanted: Some(format!("sha1:{B}:0600:ana:ana")),
            },
            Action { line: 16, verb: "DELETE".into(), arg: "/etc/old.conf".into(), seen: None, wanted: None },
        ]
    );
    assert!(actions.iter().all(|a| a.arg != "/etc/motd"), "a commented-out suggestion is not an action");
}

#[test]
fn empty_and_header_only_plans_have_no_actions() {
    for text in ["", "\n", HEAD, "# my own plan\n\n"] {
        let plan = accepted(Domain::Files, text);
        assert!(plan.actions().is_empty(), "{text:?}");
        assert_eq!(plan.render(), text);
    }
}

#[test]
fn a_last_line_without_newline_is_read_and_gets_one_when_written() {
    let plan = accepted(Domain::Files, "DELETE /etc/old.conf");
    assert_eq!(plan.lines, vec![action("DELETE", "/etc/old.conf")]);
    assert_eq!(plan.render(), "DELETE /etc/old.conf\n");
}

#[test]
fn a_hand_added_action_has_no_records() {
    let plan = accepted(Domain::Files, &files_plan("# added by hand\nDELETE /etc/cron.d/old\n"));
    let actions = plan.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!((actions[0].line, actions[0].seen.as_deref(), actions[0].wanted.as_deref()), (5, None, None));
}

#[test]
fn records_may_follow_a_suggestion_and_an_uncommented_suggestion_carries_them() {
    let records = format!("#= sha1:{A}:0644:root:root /etc/motd\n#+ sha1:{B}:0644:root:root /etc/motd\n");
    let suggested =
        accepted(Domain::Files, &files_plan(&format!("# drift: …\n#REPLACE /etc/motd\n{records}")));
    assert!(suggested.actions().is_empty());

    let taken = accepted(Domain::Files, &files_plan(&format!("# drift: …\nREPLACE /etc/motd\n{records}")));
    let actions = taken.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].line, 5);
    assert_eq!(actions[0].seen, Some(format!("sha1:{A}:0644:root:root")));
    assert_eq!(actions[0].wanted, Some(format!("sha1:{B}:0644:root:root")));
}

// ---------------------------------------------------------------------------------------------
// The header
// ---------------------------------------------------------------------------------------------

#[test]
fn system_is_read_from_the_header_that_header_writes() {
    let twin = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b";
    let lines =
        header(Domain::Files, twin, Some("9f8e7d6c5b4a39281706f5e4d3c2b1a098765432"), "/mnt", "laptop");
    let plan = Plan { domain: Domain::Files, lines };
    assert_eq!(plan.system().as_deref(), Some("/mnt"));

    let text = plan.render();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert_eq!(rows[0], "# twinsync plan: files");
    let stamp = rows[1]
        .strip_prefix("# twin 1a2b3c4 · baseline 9f8e7d6 · system /mnt on laptop · written ")
        .unwrap_or_else(|| panic!("second header line: {:?}", rows[1]));
    // Like 2026-11-24T10:05:00Z: seconds, no fraction, UTC.
    assert_eq!(stamp.len(), 20, "{stamp:?}");
    assert!(stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T' && !stamp.contains('.'), "{stamp:?}");
    assert_eq!(
        rows[2],
        "# Delete a line to skip it. Lines starting with # are notes. Apply: twinsync apply files"
    );

    // Written, read back, still the same system.
    let back = accepted(Domain::Files, &text);
    assert_eq!(back, plan);
    assert_eq!(back.system().as_deref(), Some("/mnt"));
}

#[test]
fn system_with_root_spaces_or_no_baseline() {
    let plan = accepted(Domain::Files, HEAD);
    assert_eq!(plan.system().as_deref(), Some("/"));

    let lines = header(Domain::Packages, "abc", None, "/media/ana/My Disk", "rescue");
    assert_eq!(lines[0], note(" twinsync plan: packages"));
    let Line::Note(second) = &lines[1] else { panic!("{lines:?}") };
    assert!(
        second.starts_with(" twin abc · baseline none · system /media/ana/My Disk on rescue · written "),
        "{second}"
    );
    let plan = Plan { domain: Domain::Packages, lines };
    assert_eq!(plan.system().as_deref(), Some("/media/ana/My Disk"));

    let plain = accepted(Domain::Files, "# my own plan\nDELETE /etc/motd\n");
    assert_eq!(plain.system(), None);
}

// ---------------------------------------------------------------------------------------------
// Bad lines in a files plan: `plan-files.txt:LINE: what is wrong`
// ---------------------------------------------------------------------------------------------

#[test]
fn unknown_verb_is_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("COPY /etc/hosts\n"),
        4,
        &["unknown verb 'COPY'", "CREATE, REPLACE, DELETE"],
    );
    assert_refused(Domain::Files, &files_plan("\nreplace /etc/hosts\n"), 5, &["unknown verb 'replace'"]);
}

#[test]
fn verb_of_another_domain_is_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("REPLACE /etc/hosts\nINSTALL htop\n"),
        5,
        &["INSTALL belongs in another plan file", "a files plan knows CREATE, REPLACE, DELETE"],
    );
    assert_refused(Domain::Packages, "ENABLE cron.service\n", 1, &["ENABLE belongs in another plan file"]);
    assert_refused(Domain::Services, "DELETE /etc/motd\n", 1, &["DELETE belongs in another plan file"]);
}

#[test]
fn verb_without_argument_is_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("DELETE\n"),
        4,
        &["DELETE needs an argument", "/absolute/path"],
    );
    assert_refused(Domain::Files, &files_plan("DELETE \n"), 4, &["DELETE needs an argument"]);
    assert_refused(Domain::Packages, "INSTALL\n", 1, &["INSTALL needs an argument", "NAME[=VERSION]"]);
}

#[test]
fn relative_path_is_refused() {
    assert_refused(Domain::Files, &files_plan("REPLACE etc/hosts\n"), 4, &["'etc/hosts' is a relative path"]);
    assert_refused(Domain::Files, &files_plan("REPLACE ~/.bashrc\n"), 4, &["relative path"]);
}

#[test]
fn path_with_dot_dot_is_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("DELETE /etc/../root/.ssh/authorized_keys\n"),
        4,
        &["'/etc/../root/.ssh/authorized_keys' holds '..'"],
    );
    assert_refused(Domain::Files, &files_plan("DELETE /etc/ssh/..\n"), 4, &["'..'"]);
}

#[test]
fn path_with_empty_or_dot_part_is_refused() {
    for path in ["/etc//hosts", "/etc/./hosts", "/etc/hosts/", "/etc/.", "//etc/hosts"] {
        assert_refused(
            Domain::Files,
            &files_plan(&format!("REPLACE {path}\n")),
            4,
            &[&format!("'{path}' is not a plain path")],
        );
    }
}

#[test]
fn path_outside_the_roots_is_refused() {
    for path in ["/root/.bashrc", "/etcetera/x", "/home/ana/.configx/y", "/home/ana/.bashrc", "/usr/etc/x"] {
        assert_refused(
            Domain::Files,
            &files_plan(&format!("CREATE {path}\n")),
            4,
            &[&format!("'{path}' is outside the captured roots"), "/etc /home/ana/.config"],
        );
    }
}

#[test]
fn a_root_itself_is_refused() {
    for path in ["/etc", "/home/ana/.config", "/home/ana"] {
        assert_refused(
            Domain::Files,
            &files_plan(&format!("DELETE {path}\n")),
            4,
            &["outside the captured roots"],
        );
    }
    // Just below a root is fine.
    accepted(Domain::Files, "DELETE /etc/x\nDELETE /home/ana/.config/x\n");
}

#[test]
fn the_same_path_twice_is_refused() {
    let records = format!("#= sha1:{A}:0644:root:root /etc/hosts\n#+ sha1:{B}:0644:root:root /etc/hosts\n");
    assert_refused(
        Domain::Files,
        &files_plan(&format!("REPLACE /etc/hosts\n{records}\nREPLACE /etc/hosts\n")),
        8,
        &["'/etc/hosts' is already planned on line 4"],
    );
    assert_refused(
        Domain::Files,
        &files_plan(&format!("REPLACE /etc/hosts\n{records}DELETE /etc/hosts\n")),
        7,
        &["'/etc/hosts' is already planned on line 4", "keep one line"],
    );
    // A suggestion for the same path as an action is not a second action.
    accepted(Domain::Files, &files_plan(&format!("REPLACE /etc/hosts\n{records}#DELETE /etc/hosts\n")));
}

#[test]
fn malformed_states_are_refused() {
    let long = format!("sha1:{A}0");
    let bad = [
        "sha1:zz".to_string(),
        format!("sha1:{A}:644:root:root"),
        format!("sha1:{A}:+644:root:root"),
        format!("sha1:{A}:0648:root:root"),
        format!("sha1:{A}:0644:root"),
        format!("sha1:{A}:0644::root"),
        format!("sha1:{}", A.to_uppercase()),
        format!("sha1:{}", &A[..39]),
        long,
        format!("link:{A}:0777:root:root"),
        "Absent".to_string(),
        "present".to_string(),
    ];
    for state in bad {
        assert_refused(
            Domain::Files,
            &files_plan(&format!("REPLACE /etc/hosts\n#= {state} /etc/hosts\n")),
            5,
            &[&format!("'{state}' is not a state"), "absent, sha1:ID:MODE:OWNER:GROUP"],
        );
        assert_refused(
            Domain::Files,
            &files_plan(&format!("REPLACE /etc/hosts\n#= absent /etc/hosts\n#+ {state} /etc/hosts\n")),
            6,
            &["is not a state"],
        );
    }
}

#[test]
fn record_without_an_action_above_is_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("#= absent /etc/hosts\n"),
        4,
        &["a `#=` line must follow the action"],
    );
    assert_refused(Domain::Files, "#+ absent /etc/hosts\n", 1, &["a `#+` line must follow the action"]);
    // A blank line or a note cuts a record off from the action above.
    assert_refused(
        Domain::Files,
        &files_plan("CREATE /etc/x\n\n#= absent /etc/x\n"),
        6,
        &["must follow the action"],
    );
    assert_refused(
        Domain::Files,
        &files_plan("CREATE /etc/x\n# hm\n#= absent /etc/x\n"),
        6,
        &["must follow the action"],
    );
}

#[test]
fn record_for_another_arg_is_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("REPLACE /etc/hosts\n#= absent /etc/hostname\n"),
        5,
        &["this `#=` line is for '/etc/hostname' but the action above is for '/etc/hosts'"],
    );
    assert_refused(
        Domain::Files,
        &files_plan("#REPLACE /etc/motd\n#= absent /etc/motd\n#+ absent /etc/motd.d\n"),
        6,
        &["`#+` line is for '/etc/motd.d'", "'/etc/motd'"],
    );
}

#[test]
fn two_records_of_one_kind_are_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("REPLACE /etc/hosts\n#= absent /etc/hosts\n#= dir /etc/hosts\n"),
        6,
        &["a second `#=` line for '/etc/hosts'"],
    );
    assert_refused(
        Domain::Files,
        &files_plan(&format!(
            "REPLACE /etc/hosts\n#+ sha1:{A} /etc/hosts\n#= absent /etc/hosts\n#+ dir /etc/hosts\n"
        )),
        7,
        &["a second `#+` line"],
    );
}

#[test]
fn record_without_state_or_arg_is_refused() {
    assert_refused(Domain::Files, &files_plan("CREATE /etc/x\n#=absent /etc/x\n"), 5, &["`#= STATE ARG`"]);
    assert_refused(Domain::Files, &files_plan("CREATE /etc/x\n#+ absent\n"), 5, &["the ARG is missing"]);
}

#[test]
fn line_starting_with_a_space_is_refused() {
    assert_refused(Domain::Files, &files_plan(" REPLACE /etc/hosts\n"), 4, &["starts with a space"]);
    assert_refused(
        Domain::Files,
        &files_plan("DELETE /etc/a\n  # indented note\n"),
        5,
        &["starts with a space"],
    );
}

#[test]
fn crlf_line_ends_are_refused() {
    assert_refused(
        Domain::Files,
        &files_plan("REPLACE /etc/hosts\r\n"),
        4,
        &["carriage return (CRLF)", "plain Unix lines"],
    );
    // A blank line of a CRLF file gets the same hint, and so does a byte-order mark.
    assert_refused(Domain::Files, "\r\n", 1, &["CRLF"]);
    assert_refused(Domain::Files, "\u{feff}# twinsync plan: files\n", 1, &["byte-order mark"]);
    // A whole file saved with CRLF: the notes pass, the first action is refused.
    let crlf = format!("{}DELETE /etc/motd\r\n", HEAD.replace('\n', "\r\n"));
    assert_refused(Domain::Files, &crlf, 4, &["CRLF"]);
}

#[test]
fn non_utf8_bytes_are_refused_with_their_line() {
    assert_refused_bytes(Domain::Files, b"# a\nDELETE /etc/a\nDELETE /etc/caf\xe9\n", 3, &["not UTF-8"]);
    assert_refused_bytes(
        Domain::Files,
        b"# a\n\n# caf\xe9\nDELETE /etc/a\n",
        3,
        &["not UTF-8", "save the plan as UTF-8"],
    );
    assert_refused_bytes(Domain::Files, b"\xff", 1, &["not UTF-8"]);
}

// ---------------------------------------------------------------------------------------------
// Packages, services, startup
// ---------------------------------------------------------------------------------------------

#[test]
fn packages_plan_lines() {
    let plan = accepted(
        Domain::Packages,
        "# twinsync plan: packages\nINSTALL htop\n#= absent htop\n#+ installed:3.2.2-2 htop\n\
         INSTALL ripgrep=14.1.0-1\nREMOVE nano\n#= installed:1.2-3 nano\n#+ absent nano\n\
         INSTALL libc6:i386\nINSTALL vim=2:9.0.1378-2\n",
    );
    let got: Vec<(usize, String, String, Option<String>)> =
        plan.actions().into_iter().map(|a| (a.line, a.verb, a.arg, a.seen)).collect();
    assert_eq!(
        got,
        vec![
            (2, "INSTALL".into(), "htop".into(), Some("absent".into())),
            (5, "INSTALL".into(), "ripgrep=14.1.0-1".into(), None),
            (6, "REMOVE".into(), "nano".into(), Some("installed:1.2-3".into())),
            (9, "INSTALL".into(), "libc6:i386".into(), None),
            (10, "INSTALL".into(), "vim=2:9.0.1378-2".into(), None),
        ]
    );
    accepted(Domain::Packages, "INSTALL htop=3.2.2-2\n");
}

#[test]
fn packages_plan_bad_lines() {
    let p = Domain::Packages;
    assert_refused(p, "REMOVE nano=1.0\n", 1, &["REMOVE takes a name without a version, not '=1.0'"]);
    assert_refused(p, "INSTALL -y\n", 1, &["'-y' is not a valid package name"]);
    assert_refused(p, "INSTALL Htop\n", 1, &["not a valid package name"]);
    assert_refused(p, "INSTALL htop=\n", 1, &["'' is not a valid package version"]);
    assert_refused(p, "INSTALL htop=latest\n", 1, &["not a valid package version"]);
    assert_refused(p, "INSTALL htop\nREMOVE htop\n", 2, &["'htop' is already planned on line 1"]);
    assert_refused(p, "INSTALL htop\nINSTALL htop=3.2.2-2\n", 2, &["already planned on line 1"]);
    assert_refused(
        p,
        "INSTALL htop\n#= installed: htop\n",
        2,
        &["'installed:' is not a state", "installed:VERSION"],
    );
    assert_refused(p, "INSTALL htop\n#= Installed:1.0 htop\n", 2, &["is not a state"]);
    assert_refused(p, "INSTALL htop\n#= removed htop\n", 2, &["is not a state"]);
}

#[test]
fn services_plan_lines() {
    let plan = accepted(
        Domain::Services,
        "ENABLE cron.service\n#= disabled:inactive cron.service\n#+ enabled:active cron.service\n\
         START cron.service\n#= enabled-runtime:active cron.service\nMASK bluetooth.service\nSTOP fstrim.timer\n",
    );
    let verbs: Vec<(usize, String, String)> =
        plan.actions().into_iter().map(|a| (a.line, a.verb, a.arg)).collect();
    assert_eq!(
        verbs,
        vec![
            (1, "ENABLE".into(), "cron.service".into()),
            (4, "START".into(), "cron.service".into()),
            (6, "MASK".into(), "bluetooth.service".into()),
            (7, "STOP".into(), "fstrim.timer".into()),
        ]
    );
}

#[test]
fn services_plan_bad_lines() {
    let s = Domain::Services;
    assert_refused(
        s,
        "ENABLE x.service\nDISABLE x.service\n",
        2,
        &["'x.service' is already planned on line 1"],
    );
    assert_refused(s, "START x.service\n\nSTOP x.service\n", 3, &["already planned on line 1"]);
    assert_refused(s, "MASK x.service\nUNMASK x.service\n", 2, &["already planned on line 1"]);
    assert_refused(s, "ENABLE --now\n", 1, &["'--now' is not a valid unit name"]);
    assert_refused(s, "ENABLE -x.service\n", 1, &["not a valid unit name"]);
    assert_refused(s, "ENABLE cron\n", 1, &["'cron' is not a valid unit name (like cron.service)"]);
    assert_refused(
        s,
        "ENABLE x.service\n#= Enabled:active x.service\n",
        2,
        &["'Enabled:active' is not a state"],
    );
    assert_refused(s, "ENABLE x.service\n#= enabled x.service\n", 2, &["is not a state", "enabled:active"]);
    assert_refused(s, "ENABLE x.service\n#= enabled: x.service\n", 2, &["is not a state"]);
    assert_refused(s, "ENABLE x.service\n#= enabled:active:x x.service\n", 2, &["is not a state"]);
}

#[test]
fn startup_plan_lines() {
    let t = Domain::Startup;
    let plan = accepted(
        t,
        &format!(
            "UPDATE_USER_CRONTAB system/startup/user-crontab.txt\n\
             #= absent system/startup/user-crontab.txt\n#+ sha1:{A} system/startup/user-crontab.txt\n"
        ),
    );
    let actions = plan.actions();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].wanted, Some(format!("sha1:{A}")));
    for arg in ["/abs", "../x", "-x", "system//x", "./x", "system/startup/"] {
        assert_refused(t, &format!("UPDATE_USER_CRONTAB {arg}\n"), 1, &["must be a path inside the twin"]);
    }
    assert_refused(
        t,
        "UPDATE_USER_CRONTAB system/startup/user-crontab.txt\nUPDATE_USER_CRONTAB system/startup/user-crontab.txt\n",
        2,
        &["already planned on line 1"],
    );
    assert_refused(
        t,
        "UPDATE_USER_CRONTAB a.txt\nUPDATE_USER_CRONTAB b.txt\n",
        2,
        &["already planned on line 1"],
    );
    assert_refused(
        t,
        &format!("UPDATE_USER_CRONTAB a.txt\n#= sha1:{A}:0644:root:root a.txt\n"),
        2,
        &["not a state"],
    );
}

// ---------------------------------------------------------------------------------------------
// File states
// ---------------------------------------------------------------------------------------------

#[test]
fn file_states_parse_and_render_back() {
    let meta = |mode: u32, o: &str, g: &str| Some(Meta { mode, owner: o.into(), group: g.into() });
    let cases = [
        ("absent".to_string(), FileState::Absent),
        ("dir".to_string(), FileState::Dir),
        ("other".to_string(), FileState::Other),
        (format!("sha1:{A}"), FileState::File { oid: A.into(), meta: None }),
        (
            format!("sha1:{A}:0644:root:root"),
            FileState::File { oid: A.into(), meta: meta(0o644, "root", "root") },
        ),
        (
            format!("sha1:{A}:4755:root:adm"),
            FileState::File { oid: A.into(), meta: meta(0o4755, "root", "adm") },
        ),
        (format!("sha1:{A}:0000:ana:ana"), FileState::File { oid: A.into(), meta: meta(0, "ana", "ana") }),
        (format!("link:{B}"), FileState::Link { oid: B.into(), owner: None }),
        (
            format!("link:{B}:root:root"),
            FileState::Link { oid: B.into(), owner: Some(("root".into(), "root".into())) },
        ),
    ];
    for (text, state) in cases {
        assert_eq!(FileState::parse(&text), Some(state.clone()), "{text}");
        assert_eq!(state.render(), text);
    }
}

#[test]
fn file_states_that_are_not_states() {
    let upper = A.to_uppercase();
    let bad = [
        format!("sha1:{upper}"),
        format!("sha1:{}", &A[..39]),
        format!("sha1:{A}a"),
        format!("sha1:{A}:0648:root:root"),
        format!("sha1:{A}:644:root:root"),
        format!("sha1:{A}:07777:root:root"),
        format!("sha1:{A}:0644:root"),
        format!("sha1:{A}:0644:root:root:x"),
        format!("sha1:{A}:0644::root"),
        format!("link:{}", &A[..39]),
        format!("link:{A}:root"),
        format!("link:{A}:0777:root:root"),
        format!("link:{upper}:root:root"),
        format!("blob:{A}"),
        "sha1:".to_string(),
        "Absent".to_string(),
        "absent ".to_string(),
        String::new(),
    ];
    for text in bad {
        assert_eq!(FileState::parse(&text), None, "{text:?} should not be a state");
    }
}

// ---------------------------------------------------------------------------------------------
// Properties, with a tiny PRNG (xorshift64*) instead of a dependency
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ALPHABET: &[u8] = b"#=+ /\n\retcRPLACEDLTsha1:0123456789abcdef.-\xff";

/// Pieces of real plan lines, so that random texts often get past the first checks.
const PIECES: &[&str] = &[
    "\n",
    "\n",
    " ",
    "#",
    "#= ",
    "#+ ",
    "# note",
    "CREATE ",
    "REPLACE ",
    "DELETE ",
    "#REPLACE ",
    "INSTALL ",
    "REMOVE ",
    "ENABLE ",
    "START ",
    "MASK ",
    "UPDATE_USER_CRONTAB ",
    "/etc/hosts",
    "/etc/",
    "/home/ana/.config/a b",
    "/../",
    "//",
    "htop",
    "=3.2-1",
    "cron.service",
    "system/startup/user-crontab.txt",
    "absent ",
    "dir ",
    "sha1:",
    "link:",
    "d68c31c5adb755948aadb6fd336dec28646d465e",
    ":0644:root:root ",
    "installed:1.2-3 ",
    "enabled:active ",
    "\r",
    "\t",
    "é",
    "\u{b7}",
];

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(301);
    let mut res = Vec::with_capacity(len);
    let by_pieces = rng.chance(50);
    while res.len() < len {
        if by_pieces && rng.chance(70) {
            res.extend_from_slice(rng.pick(PIECES).as_bytes());
        } else if rng.chance(85) {
            res.push(*rng.pick(ALPHABET));
        } else {
            res.push(rng.next() as u8);
        }
    }
    res
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let byte = if rng.chance(80) { *rng.pick(ALPHABET) } else { rng.next() as u8 };
        match rng.below(3) {
            0 => {
                let at = rng.below(bytes.len() + 1);
                bytes.insert(at, byte);
            }
            1 if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes.remove(at);
            }
            _ if !bytes.is_empty() => {
                let at = rng.below(bytes.len());
                bytes[at] = byte;
            }
            _ => bytes.push(byte),
        }
    }
}

/// Parses `bytes` (which must not panic) and checks what holds either way: an accepted text
/// renders back as it was (with a final newline), a refused one names a line of the file.
fn check_any_text(domain: Domain, bytes: &[u8]) {
    match parse_bytes(domain, bytes) {
        Ok(plan) => {
            let text = std::str::from_utf8(bytes).expect("an accepted plan is UTF-8");
            let mut want = text.to_string();
            if !want.is_empty() && !want.ends_with('\n') {
                want.push('\n');
            }
            let rendered = plan.render();
            assert_eq!(rendered, want, "render(parse(x)) for {text:?}");
            assert_eq!(parse_in(domain, &rendered).as_ref(), Ok(&plan), "parse(render(p)) for {text:?}");
            let lines = plan.lines.len();
            for a in plan.actions() {
                assert!(a.line >= 1 && a.line <= lines);
                assert!(
                    matches!(&plan.lines[a.line - 1], Line::Action { verb, arg } if *verb == a.verb && *arg == a.arg)
                );
            }
        }
        Err(e) => {
            let prefix = format!("{}:", domain.file_name());
            let rest = e.strip_prefix(&prefix).unwrap_or_else(|| panic!("{e:?} lacks {prefix:?}"));
            let (n, what) = rest.split_once(": ").unwrap_or_else(|| panic!("{e:?} lacks ': '"));
            let n: usize = n.parse().unwrap_or_else(|_| panic!("{e:?}: no line number"));
            let count = bytes.split(|b| *b == b'\n').count();
            assert!(
                n >= 1 && n <= count,
                "{e:?}: line {n} of {count} in {:?}",
                String::from_utf8_lossy(bytes)
            );
            assert!(!what.is_empty(), "{e:?} says nothing");
        }
    }
}

/// A few valid plans of every domain, to mutate.
fn seed_plans() -> Vec<(Domain, String)> {
    vec![
        (
            Domain::Files,
            files_plan(&format!(
                "REPLACE /etc/hosts\n#= sha1:{A}:0644:root:root /etc/hosts\n#+ sha1:{B}:0644:root:root /etc/hosts\n\
                 \n# drift: /etc/motd changed\n#REPLACE /etc/motd\n#= sha1:{A} /etc/motd\n#+ link:{B}:root:root /etc/motd\n\
                 CREATE /home/ana/.config/a b/c\n#= absent /home/ana/.config/a b/c\nDELETE /etc/x\n"
            )),
        ),
        (
            Domain::Packages,
            "# twinsync plan: packages\nINSTALL htop=3.2.2-2\n#= absent htop=3.2.2-2\n#+ installed:3.2.2-2 htop=3.2.2-2\nREMOVE nano\n#= installed:1.2-3 nano\n".to_string(),
        ),
        (
            Domain::Services,
            "# twinsync plan: services\nENABLE cron.service\n#= disabled:inactive cron.service\nSTART cron.service\n\nMASK x.timer\n".to_string(),
        ),
        (
            Domain::Startup,
            format!("# twinsync plan: startup\nUPDATE_USER_CRONTAB system/startup/user-crontab.txt\n#+ sha1:{A} system/startup/user-crontab.txt\n"),
        ),
    ]
}

#[test]
fn property_parse_never_panics_and_accepted_text_renders_back() {
    let mut rng = Rng::new(0x7417_5e4c);
    for _ in 0..20_000 {
        let bytes = random_bytes(&mut rng);
        for domain in Domain::ALL {
            check_any_text(domain, &bytes);
        }
    }
    // Valid plans with a few bytes inserted, deleted or replaced.
    let seeds = seed_plans();
    let mut accepted_count = 0;
    for i in 0..20_000 {
        let (domain, text) = if i % 2 == 0 {
            seeds[rng.below(seeds.len())].clone()
        } else {
            let (plan, _) = random_files_plan(&mut rng);
            (Domain::Files, plan.render())
        };
        let mut bytes = text.into_bytes();
        mutate(&mut rng, &mut bytes);
        check_any_text(domain, &bytes);
        check_any_text(*rng.pick(&Domain::ALL), &bytes);
        accepted_count += usize::from(parse_bytes(domain, &bytes).is_ok());
    }
    // The mutations test both sides: some still parse, most do not.
    assert!(accepted_count > 500 && accepted_count < 19_500, "{accepted_count} mutated plans accepted");
}

const HEX: &[u8] = b"0123456789abcdef";
const SEGMENT: &[char] =
    &['a', 'b', 'z', 'Q', '0', '9', ' ', ' ', '-', '_', '.', '~', ',', 'é', '·', '#', '='];
const TEXT: &[char] =
    &['a', 'Z', '0', ' ', ' ', '#', '=', '+', ':', '/', '.', '-', '\t', '\'', '`', 'é', '·', '→'];
const ACCOUNTS: &[&str] = &["root", "ana", "www-data", "_apt", "systemd-network", "1000", "a.b"];

fn random_oid(rng: &mut Rng) -> BlobId {
    let hex: String = (0..40).map(|_| *rng.pick(HEX) as char).collect();
    BlobId::from(hex.as_str())
}

fn random_account(rng: &mut Rng) -> crate::name::Name {
    (*rng.pick(ACCOUNTS)).into()
}

fn random_state(rng: &mut Rng) -> FileState {
    match rng.below(5) {
        0 => FileState::Absent,
        1 => FileState::Dir,
        2 => FileState::Other,
        3 => {
            let meta = rng.chance(70).then(|| Meta {
                mode: rng.below(0o10000) as u32,
                owner: random_account(rng),
                group: random_account(rng),
            });
            FileState::File { oid: random_oid(rng), meta }
        }
        _ => {
            let owner = rng.chance(70).then(|| (random_account(rng), random_account(rng)));
            FileState::Link { oid: random_oid(rng), owner }
        }
    }
}

fn random_text(rng: &mut Rng, chars: &[char], max: usize) -> String {
    let len = rng.below(max + 1);
    (0..len).map(|_| *rng.pick(chars)).collect()
}

/// A plain path under one of the roots: no empty, `.` or `..` part.
fn random_path(rng: &mut Rng) -> String {
    let mut path = rng.pick(&roots()).clone();
    for _ in 0..1 + rng.below(4) {
        let mut segment = random_text(rng, SEGMENT, 10);
        if segment.is_empty() || segment == "." || segment == ".." {
            segment.push('x');
        }
        path.push('/');
        path.push_str(&segment);
    }
    path
}

/// A valid files plan, built line by line, and the actions it holds.
fn random_files_plan(rng: &mut Rng) -> (Plan, Vec<Action>) {
    let mut lines = Vec::new();
    let mut actions = Vec::new();
    let mut used = BTreeSet::new();
    for _ in 0..rng.below(30) {
        match rng.below(6) {
            0 => {
                let mut text = random_text(rng, TEXT, 40);
                if text.starts_with(['=', '+']) {
                    text.insert(0, ' ');
                }
                lines.push(Line::Note(text));
            }
            1 => lines.push(Line::Blank(random_text(rng, &[' ', '\t'], 3))),
            n => {
                let verb = rng.pick(Domain::Files.verbs()).to_string();
                let suggestion = n == 2;
                let path = random_path(rng);
                if suggestion {
                    lines.push(Line::Note(format!("{verb} {path}")));
                } else if used.insert(path.clone()) {
                    lines.push(Line::Action { verb: verb.clone(), arg: path.clone() });
                } else {
                    continue;
                }
                let mut action =
                    Action { line: lines.len(), verb, arg: path.clone(), seen: None, wanted: None };
                let order: &[bool] = match rng.below(5) {
                    0 => &[],
                    1 => &[true],
                    2 => &[false],
                    3 => &[true, false],
                    _ => &[false, true],
                };
                for &is_seen in order {
                    let state = random_state(rng).render();
                    if is_seen {
                        action.seen = Some(state.clone());
                        lines.push(Line::Seen { state, arg: path.clone() });
                    } else {
                        action.wanted = Some(state.clone());
                        lines.push(Line::Wanted { state, arg: path.clone() });
                    }
                }
                if !suggestion {
                    actions.push(action);
                }
            }
        }
    }
    (Plan { domain: Domain::Files, lines }, actions)
}

#[test]
fn property_valid_plans_survive_render_and_parse() {
    let mut rng = Rng::new(0x0dd_ba11);
    for _ in 0..5_000 {
        let (plan, actions) = random_files_plan(&mut rng);
        let text = plan.render();
        let back = parse_in(Domain::Files, &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(back, plan, "parse(render(p)) == p for\n{text}");
        assert_eq!(back.render(), text, "render(parse(x)) == x");
        assert_eq!(back.actions(), actions, "actions of\n{text}");
    }
}

#[test]
fn random_file_states_render_and_parse_back() {
    let mut rng = Rng::new(42);
    for _ in 0..5_000 {
        let state = random_state(&mut rng);
        assert_eq!(FileState::parse(&state.render()), Some(state.clone()), "{}", state.render());
    }
}

// ---------------------------------------------------------------------------------------------
// The annotated examples in plans/
// ---------------------------------------------------------------------------------------------

#[test]
fn examples_in_plans_folder_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let mut found = BTreeSet::new();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.expect("a folder entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(domain_name) = name.strip_prefix("plan-").and_then(|n| n.strip_suffix(".txt")) else {
            continue;
        };
        let domain =
            Domain::from_name(domain_name).unwrap_or_else(|| panic!("{name}: no domain {domain_name:?}"));
        let text = std::fs::read_to_string(entry.path()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let plan = parse_in(domain, &text).unwrap_or_else(|e| panic!("{e}"));
        assert!(!plan.actions().is_empty(), "{name} shows no action");
        assert_eq!(plan.render(), text, "{name}: render(parse(x)) == x");
        assert_eq!(plan.system().as_deref(), Some("/"), "{name}");

        // The header is in the shape `header()` writes.
        let head = header(domain, "1a2b3c4", Some("9f8e7d6"), "/", "laptop");
        assert_eq!(plan.lines[0], head[0], "{name}");
        assert_eq!(plan.lines[2], head[2], "{name}");
        let Line::Note(second) = &plan.lines[1] else { panic!("{name}: second line is not a note") };
        assert!(
            second.starts_with(" twin 1a2b3c4 · baseline 9f8e7d6 · system / on laptop · written "),
            "{name}: {second}"
        );
        found.insert(domain);
    }
    assert_eq!(
        found,
        Domain::ALL.into_iter().collect::<BTreeSet<_>>(),
        "one example per domain in {}",
        dir.display()
    );
}
