//! plan, apply, undo, status and diff of files, in-process against a sandbox machine; and the
//! kill test: an apply stopped by SIGKILL at every crash point leaves each file old or new.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::{is_root, Sandbox};

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn read(sb: &Sandbox, machine_path: &str) -> Option<String> {
    std::fs::read_to_string(sb.path(machine_path)).ok()
}

/// Every name in the sandbox's root that a twinsync run left beside a target.
fn leftovers(sb: &Sandbox) -> Vec<String> {
    let mut res = Vec::new();
    crate::walk::walk(&sb.root, &mut |p, _| {
        let n = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if n.starts_with(".twinsync") || n.ends_with(".bak") || n.ends_with('~') {
            res.push(n);
        }
        true
    });
    res
}

fn set_meta_line(sb: &Sandbox, path: &str, line: &str) {
    let meta = sb.twin_file("system/files/metadata.txt").unwrap();
    let mut lines: Vec<String> =
        meta.lines().filter(|l| !l.ends_with(&format!(" {path}"))).map(str::to_string).collect();
    lines.push(line.to_string());
    lines.sort_by(|a, b| a.splitn(5, ' ').nth(4).cmp(&b.splitn(5, ' ').nth(4)));
    sb.write_twin("system/files/metadata.txt", &(lines.join("\n") + "\n"));
}

fn plan_text(sb: &Sandbox) -> String {
    sb.twin_file("plans/plan-files.txt").expect("a plan file")
}

/// A machine with a few files, snapshotted, and a twin edited in every way apply knows.
fn edited() -> Sandbox {
    let sb = Sandbox::new("apply");
    sb.write("/etc/issue", "Debian 12\n");
    sb.write("/etc/motd", "hello\n");
    sb.write("/etc/cron.daily/job", "#!/bin/sh\necho old\n");
    std::fs::set_permissions(sb.path("/etc/cron.daily/job"), std::fs::Permissions::from_mode(0o755)).unwrap();
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    sb.write_twin("filesystem/etc/hosts", "127.0.0.1 localhost\n10.0.0.2 nas\n");
    std::fs::remove_file(sb.twin.join("filesystem/etc/issue")).unwrap();
    sb.write_twin("filesystem/home/ana/.config/newapp/conf/app.ini", "[app]\ncolor=1\n");
    sb.write_twin("filesystem/etc/cron.daily/job", "#!/bin/sh\necho new\n");
    set_meta_line(&sb, "/etc/motd", "f 0664 root root /etc/motd");
    sb
}

#[test]
fn apply_writes_every_verb_with_backups_then_undo_puts_everything_back() {
    let sb = edited();
    sb.ok(&["plan", "files"]);
    let plan = plan_text(&sb);
    for line in [
        "REPLACE /etc/hosts",
        "DELETE /etc/issue",
        "REPLACE /etc/motd",
        "REPLACE /etc/cron.daily/job",
        "CREATE /home/ana/.config/newapp/conf/app.ini",
    ] {
        assert!(plan.lines().any(|l| l == line), "no line {line:?} in\n{plan}");
    }
    let commits = sb.commits();
    sb.ok(&["apply", "files", "--yes"]);

    assert_eq!(read(&sb, "/etc/hosts").unwrap(), "127.0.0.1 localhost\n10.0.0.2 nas\n");
    assert_eq!(read(&sb, "/etc/issue"), None);
    assert_eq!(mode(&sb.path("/etc/motd")), 0o664, "mode from metadata.txt");
    assert_eq!(read(&sb, "/etc/motd").unwrap(), "hello\n");
    assert_eq!(mode(&sb.path("/etc/cron.daily/job")), 0o755, "a replaced file keeps its mode");
    assert_eq!(read(&sb, "/home/ana/.config/newapp/conf/app.ini").unwrap(), "[app]\ncolor=1\n");
    assert_eq!(mode(&sb.path("/home/ana/.config/newapp/conf/app.ini")), 0o644, "a new file is 0644");
    assert_eq!(mode(&sb.path("/home/ana/.config/newapp")), 0o755);
    assert!(leftovers(&sb).is_empty(), "left beside targets: {:?}", leftovers(&sb));

    // Backups outside the machine's folders, and a journal.
    let runs: Vec<_> =
        std::fs::read_dir(sb.state.join("journal")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(runs.len(), 1);
    let run = runs[0].to_string_lossy().into_owned();
    let backups = sb.state.join("backups").join(&run);
    assert_eq!(std::fs::read_to_string(backups.join("etc/hosts")).unwrap(), "127.0.0.1 localhost\n");
    assert_eq!(std::fs::read_to_string(backups.join("etc/issue")).unwrap(), "Debian 12\n");

    // The result is committed, the plan is used up, and nothing is left to do.
    assert_eq!(sb.commits(), commits + 1);
    assert!(sb.git(&["log", "-1", "--format=%s"]).contains(&format!("apply run {run}")));
    assert_eq!(sb.git(&["status", "--porcelain", "--", "filesystem", "system/files"]), "");
    assert!(sb.twin_file("plans/plan-files.txt").is_none());
    sb.ok(&["plan", "files"]);
    assert!(!plan_text(&sb).lines().any(|l| !l.starts_with('#')), "{}", plan_text(&sb));

    sb.ok(&["undo", "--yes"]);
    assert_eq!(read(&sb, "/etc/hosts").unwrap(), "127.0.0.1 localhost\n");
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n");
    assert_eq!(mode(&sb.path("/etc/issue")), 0o644);
    assert_eq!(mode(&sb.path("/etc/motd")), 0o644);
    assert_eq!(read(&sb, "/etc/cron.daily/job").unwrap(), "#!/bin/sh\necho old\n");
    assert_eq!(mode(&sb.path("/etc/cron.daily/job")), 0o755);
    assert!(!sb.path("/home/ana/.config/newapp").exists(), "created folders go too");
    assert!(leftovers(&sb).is_empty(), "{:?}", leftovers(&sb));
    assert!(sb.git(&["log", "-1", "--format=%s"]).contains(&format!("undo of apply run {run}")));
    // A second undo of the same run is refused, changing nothing.
    let (code, msg) = sb.run(&["undo", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("already undone"), "{msg}");
}

#[test]
fn owners_come_from_metadata_or_the_folder() {
    if !is_root() {
        eprintln!("owners_come_from_metadata_or_the_folder: needs root to chown; skipped");
        return;
    }
    let sb = Sandbox::new("owners");
    sb.write("/etc/app/conf", "a=1\n");
    std::os::unix::fs::chown(sb.path("/etc/app"), Some(1000), Some(1000)).unwrap();
    std::os::unix::fs::chown(sb.path("/etc/app/conf"), Some(1000), Some(1000)).unwrap();
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    sb.write_twin("filesystem/etc/app/conf", "a=2\n");
    sb.write_twin("filesystem/etc/app/new", "b=1\n");
    sb.write_twin("filesystem/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
    set_meta_line(&sb, "/etc/hosts", "f 0644 ana root /etc/hosts");
    sb.ok(&["plan"]);
    sb.ok(&["apply", "--yes"]);
    let owner = |p: &str| {
        let m = std::fs::metadata(sb.path(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("/etc/app/conf"), (1000, 1000), "a replaced file keeps its owner");
    assert_eq!(owner("/etc/app/new"), (1000, 1000), "a new file belongs to its folder's owner");
    assert_eq!(owner("/etc/hosts"), (1000, 0), "metadata.txt names the owner");
    sb.ok(&["undo", "--yes"]);
    assert_eq!(owner("/etc/hosts"), (0, 0));
}

#[test]
fn a_stale_plan_is_refused_and_nothing_is_applied() {
    let sb = edited();
    sb.ok(&["plan", "files"]);
    sb.write("/etc/hosts", "127.0.0.1 changed-by-someone\n");
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    let line = plan_text(&sb).lines().position(|l| l == "REPLACE /etc/hosts").unwrap() + 1;
    assert!(msg.contains(&format!("plan-files.txt:{line}: /etc/hosts changed on this machine")), "{msg}");
    assert!(msg.contains("stale"), "{msg}");
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n", "no other line ran");
    assert!(!sb.state.join("journal").exists());

    // The twin's version changed after planning: stale too.
    sb.write("/etc/hosts", "127.0.0.1 localhost\n");
    sb.write_twin("filesystem/etc/motd", "edited after the plan\n");
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("the twin's /etc/motd changed since the plan was made"), "{msg}");
    assert_eq!(read(&sb, "/etc/motd").unwrap(), "hello\n");
}

#[test]
fn a_broken_metadata_txt_in_the_twin_is_bad_input_and_no_plan_is_written() {
    let sb = edited();
    let meta = sb.twin_file("system/files/metadata.txt").unwrap();
    sb.write_twin("system/files/metadata.txt", &format!("{meta}f 644 root root /etc/broken\n"));
    let line = meta.lines().count() + 1;
    let (code, msg) = sb.run(&["plan", "files"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains(&format!("system/files/metadata.txt:{line}: MODE is four octal digits")), "{msg}");
    assert!(sb.twin_file("plans/plan-files.txt").is_none(), "nothing was written");
}

#[test]
fn bad_plans_exit_2_and_change_nothing() {
    let sb = edited();
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("twinsync plan files"), "no plan yet: {msg}");
    for (text, expect) in [
        ("REPLACE /etc/hosts\nFROB /etc/hosts\n", "plan-files.txt:2: unknown verb 'FROB'"),
        ("REPLACE etc/hosts\n", "plan-files.txt:1: 'etc/hosts' is a relative path"),
        ("DELETE /etc/../etc/passwd\n", "plan-files.txt:1: '/etc/../etc/passwd' holds '..'"),
        ("DELETE /usr/bin/ls\n", "plan-files.txt:1: '/usr/bin/ls' is outside the captured roots"),
        (
            "DELETE /etc/issue\nDELETE /etc/issue\n",
            "plan-files.txt:2: '/etc/issue' is already planned on line 1",
        ),
        ("DELETE /etc/issue\n#= sha1:nothex /etc/issue\n", "plan-files.txt:2: 'sha1:nothex' is not a state"),
        ("INSTALL htop\n", "plan-files.txt:1: INSTALL belongs in another plan file"),
    ] {
        sb.write_twin("plans/plan-files.txt", text);
        let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
        assert_eq!(code, 2, "{text:?}: {msg}");
        assert!(msg.contains(expect), "{text:?}: {msg}");
        assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n");
        assert_eq!(read(&sb, "/etc/hosts").unwrap(), "127.0.0.1 localhost\n");
    }
    // A hand-added line without records is checked for validity against the machine.
    sb.write_twin("plans/plan-files.txt", "CREATE /etc/hosts\n");
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("already exists on this machine; use REPLACE"), "{msg}");
    // A plan made for another system.
    sb.write_twin("plans/plan-files.txt", "# twinsync plan: files\n# twin abc · baseline none · system /mnt on x · written now\nDELETE /etc/issue\n");
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("made for the system /mnt"), "{msg}");
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n");
}

#[test]
fn a_hand_added_line_is_applied_and_dry_run_changes_nothing() {
    let sb = edited();
    sb.write_twin("plans/plan-files.txt", "# my own plan\nDELETE /etc/motd\n");
    sb.ok(&["apply", "files", "--dry-run"]);
    assert_eq!(read(&sb, "/etc/motd").unwrap(), "hello\n");
    assert!(!sb.state.join("journal").exists(), "a dry run keeps no journal");
    sb.ok(&["apply", "files", "--yes"]);
    assert_eq!(read(&sb, "/etc/motd"), None);
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n", "only the plan's lines run");
}

#[test]
fn without_a_terminal_and_without_yes_nothing_is_applied() {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        eprintln!("without_a_terminal…: stdin is a terminal here; skipped");
        return;
    }
    let sb = edited();
    sb.ok(&["plan", "files"]);
    let (code, msg) = sb.run(&["apply", "files"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("--yes"), "{msg}");
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n");
}

#[test]
fn symlinks_are_never_read_or_written_through() {
    let sb = Sandbox::new("links");
    let outside = sb.dir().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), "outside the root\n").unwrap();
    std::os::unix::fs::symlink(outside.join("secret"), sb.path("/etc/resolv.conf")).unwrap();
    std::os::unix::fs::symlink(&outside, sb.path("/etc/conf.d")).unwrap();
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    // The twin makes the symlink a file: the symlink is replaced, its target untouched.
    std::fs::remove_file(sb.twin.join("filesystem/etc/resolv.conf")).unwrap();
    sb.write_twin("filesystem/etc/resolv.conf", "nameserver 10.0.0.1\n");
    // A symlink in the twin is written as a symlink, never read through.
    std::os::unix::fs::symlink("/etc/shadow", sb.twin.join("filesystem/etc/shadow-link")).unwrap();
    sb.ok(&["plan", "files"]);
    sb.ok(&["apply", "files", "--yes"]);
    assert!(!std::fs::symlink_metadata(sb.path("/etc/resolv.conf")).unwrap().file_type().is_symlink());
    assert_eq!(read(&sb, "/etc/resolv.conf").unwrap(), "nameserver 10.0.0.1\n");
    assert_eq!(std::fs::read_to_string(outside.join("secret")).unwrap(), "outside the root\n");
    assert_eq!(std::fs::read_link(sb.path("/etc/shadow-link")).unwrap(), Path::new("/etc/shadow"));
    // A folder on the way that is a symlink: nothing is written through it.
    std::fs::remove_file(sb.twin.join("filesystem/etc/conf.d")).unwrap();
    sb.write_twin("filesystem/etc/conf.d/x", "through a symlinked folder\n");
    sb.write_twin("plans/plan-files.txt", "CREATE /etc/conf.d/x\n");
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("never writes through it"), "{msg}");
    assert!(!outside.join("x").exists());
    sb.ok(&["plan", "files"]);
    assert!(plan_text(&sb).contains("# cannot plan /etc/conf.d/x"), "{}", plan_text(&sb));
    std::fs::remove_file(sb.twin.join("plans/plan-files.txt")).unwrap();
    sb.ok(&["undo", "--yes"]);
    assert!(std::fs::symlink_metadata(sb.path("/etc/resolv.conf")).unwrap().file_type().is_symlink());
    assert!(
        !sb.path("/etc/shadow-link").exists()
            && std::fs::symlink_metadata(sb.path("/etc/shadow-link")).is_err()
    );
}

#[test]
fn undo_refuses_a_file_changed_again_and_restores_the_rest() {
    let sb = edited();
    sb.ok(&["plan", "files"]);
    sb.ok(&["apply", "files", "--yes"]);
    sb.write("/etc/hosts", "127.0.0.1 edited after the apply\n");
    let (code, msg) = sb.run(&["undo", "--yes"]).map(|c| (c, String::new())).unwrap_or_else(|e| e);
    assert_eq!(code, 1, "{msg}");
    assert_eq!(read(&sb, "/etc/hosts").unwrap(), "127.0.0.1 edited after the apply\n", "left as it is");
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n", "the rest is restored");
    assert!(!sb.path("/home/ana/.config/newapp").exists());
}

#[test]
fn a_second_twinsync_is_kept_out() {
    let sb = edited();
    sb.ok(&["plan", "files"]);
    std::fs::create_dir_all(&sb.state).unwrap();
    std::fs::write(sb.state.join("lock"), format!("{}\n", std::process::id())).unwrap();
    let (code, msg) = sb.run(&["apply", "files", "--yes"]).unwrap_err();
    assert_eq!(code, 1);
    assert!(msg.contains("another twinsync is running"), "{msg}");
    assert_eq!(read(&sb, "/etc/issue").unwrap(), "Debian 12\n");
}

#[test]
fn status_and_diff_show_desired_changes_drift_and_metadata() {
    let sb = edited();
    sb.write("/etc/hostname", "renamed\n");
    let global = crate::cli::parse(sb.args(&["status"])).unwrap().global;
    let ctx = crate::Ctx::new(global).unwrap();
    let status = crate::workflow::status_text(&ctx).unwrap();
    assert!(status.starts_with("## files: 5 to apply, 1 drift, 0 conflict(s)\n"), "{status}");
    for line in [
        "M  /etc/hosts  (REPLACE)",
        "D  /etc/issue  (DELETE)",
        "A  /home/ana/.config/newapp/conf/app.ini  (CREATE)",
        " M /etc/hostname  (drift)",
    ] {
        assert!(status.lines().any(|l| l == line), "no {line:?} in\n{status}");
    }
    let diff = crate::workflow::diff_text(&ctx, &["/etc/hosts".into(), "/etc/motd".into()], false).unwrap();
    assert!(diff.contains("--- live:/etc/hosts\n+++ twin:/etc/hosts\n"), "{diff}");
    assert!(diff.contains("\n+10.0.0.2 nas\n"), "{diff}");
    assert!(diff.contains("/etc/motd: mode 0644 → 0664 (live → twin)"), "{diff}");
    assert!(!diff.contains("issue"), "only the paths asked for: {diff}");
    let all = crate::workflow::diff_text(&ctx, &[], false).unwrap();
    assert!(all.contains("--- live:/etc/issue\n+++ /dev/null\n"), "{all}");
}

#[test]
fn mirror_and_no_baseline_plan_two_way() {
    let sb = edited();
    sb.write("/etc/hostname", "renamed\n");
    sb.ok(&["plan", "files", "--mirror"]);
    let plan = plan_text(&sb);
    assert!(plan.lines().any(|l| l == "REPLACE /etc/hostname"), "{plan}");
    assert!(plan.contains("planned two-way because --mirror"), "{plan}");
    // A fresh clone has no baseline.
    sb.git(&["update-ref", "-d", "refs/twinsync/baseline"]);
    sb.ok(&["plan", "files"]);
    let plan = plan_text(&sb);
    assert!(plan.lines().any(|l| l == "REPLACE /etc/hostname"), "{plan}");
    assert!(plan.contains("no baseline yet"), "{plan}");
}

/// The kill test's child: runs `apply files --yes` on a sandbox the parent made, with the crash
/// hook armed by the parent (TWINSYNC_TEST_CRASH_AT). Does nothing in a normal test run.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("TWINSYNC_TEST_CRASH_SANDBOX") else { return };
    let sb = Sandbox::at(Path::new(&dir));
    assert_eq!(sb.run(&["apply", "files", "--yes"]), Ok(0));
}

#[test]
fn apply_killed_at_any_point_leaves_every_file_old_or_new_and_undo_still_works() {
    let exe = std::env::current_exe().unwrap();
    for at in 1.. {
        assert!(at < 400, "the apply never finished; is the crash hook counting right?");
        let sb = edited();
        for i in 0..4 {
            sb.write_twin(&format!("filesystem/etc/many/f{i}"), &format!("new {i}\n"));
        }
        std::os::unix::fs::symlink("/usr/share/zoneinfo/UTC", sb.twin.join("filesystem/etc/localtime"))
            .unwrap();
        sb.ok(&["plan", "files"]);
        let paths = [
            "/etc/hosts",
            "/etc/issue",
            "/etc/motd",
            "/etc/cron.daily/job",
            "/home/ana/.config/newapp/conf/app.ini",
            "/etc/many/f0",
            "/etc/many/f3",
            "/etc/localtime",
        ];
        let snap = |sb: &Sandbox| -> Vec<Option<(bool, Vec<u8>, u32)>> {
            paths
                .iter()
                .map(|p| {
                    let full = sb.path(p);
                    let m = std::fs::symlink_metadata(&full).ok()?;
                    let link = m.file_type().is_symlink();
                    let bytes = if link {
                        std::fs::read_link(&full).unwrap().into_os_string().into_encoded_bytes()
                    } else {
                        std::fs::read(&full).unwrap()
                    };
                    Some((link, bytes, if link { 0 } else { m.mode() & 0o7777 }))
                })
                .collect()
        };
        let old = snap(&sb);
        let status = std::process::Command::new(&exe)
            .args(["--exact", "tests::apply::crash_child", "--nocapture", "--test-threads=1", "-q"])
            .env("TWINSYNC_TEST_CRASH_AT", at.to_string())
            .env("TWINSYNC_TEST_CRASH_SANDBOX", sb.dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let new = snap(&sb);
        if status.success() {
            // Every point before this one killed the apply.
            assert!(at > 20, "only {} crash points were passed", at - 1);
            eprintln!("the apply was killed at each of its {} crash points", at - 1);
            // The full apply: every file new.
            assert!(old.iter().zip(&new).all(|(o, n)| o != n), "{old:?} {new:?}");
            break;
        }
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9), "killed at point {at}");
        // Every file is either as before or as the twin has it: never partial.
        for (i, p) in paths.iter().enumerate() {
            let twin = sb.twin.join(format!("filesystem{p}"));
            let expect_new = std::fs::symlink_metadata(&twin).ok().map(|m| {
                let link = m.file_type().is_symlink();
                let bytes = if link {
                    std::fs::read_link(&twin).unwrap().into_os_string().into_encoded_bytes()
                } else {
                    std::fs::read(&twin).unwrap()
                };
                (link, bytes)
            });
            let now = new[i].as_ref().map(|(l, b, _)| (*l, b.clone()));
            let was = old[i].as_ref().map(|(l, b, _)| (*l, b.clone()));
            assert!(
                now == was || now == expect_new,
                "killed at point {at}: {p} is neither old nor new: {now:?}"
            );
        }
        // Undo after the crash: everything as before, and no temporary file left anywhere.
        match sb.run(&["undo", "--yes"]) {
            Ok(_) => {}
            Err((code, msg)) if msg.contains("nothing to undo") => assert_eq!(code, 2),
            Err((code, msg)) => panic!("killed at point {at}: undo failed with {code}: {msg}"),
        }
        assert_eq!(snap(&sb), old, "killed at point {at}: undo did not put everything back");
        assert!(leftovers(&sb).is_empty(), "killed at point {at}: left {:?}", leftovers(&sb));
    }
}

#[test]
fn plan_never_reads_the_twin_through_a_symlinked_folder() {
    let sb = Sandbox::new("twin-links");
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    let outside = sb.dir().join("outside");
    std::fs::create_dir_all(outside.join("ana/.config")).unwrap();
    std::fs::write(outside.join("ana/.config/planted"), "from outside the twin\n").unwrap();
    std::fs::write(outside.join("planted-etc"), "from outside the twin\n").unwrap();
    // A folder above a captured root, and a folder below one, made symlinks in the twin.
    let home = sb.twin.join("filesystem/home");
    if home.exists() {
        std::fs::remove_dir_all(&home).unwrap();
    }
    std::os::unix::fs::symlink(&outside, &home).unwrap();
    std::os::unix::fs::symlink(&outside, sb.twin.join("filesystem/etc/linked.d")).unwrap();
    sb.ok(&["plan", "files"]);
    let plan = plan_text(&sb);
    assert!(!plan.contains("planted"), "{plan}");
}

#[test]
fn a_plan_compares_with_the_baseline_of_now_whatever_listing_the_state_folder_kept() {
    let sb = Sandbox::new("listing");
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    sb.ok(&["plan", "files"]);
    let cache = sb.state.join("listing-cache");
    let first = std::fs::read(&cache).expect("the plan kept the baseline's listing");
    // The machine changes and a snapshot takes it in: a new baseline.
    sb.write("/etc/hosts", "127.0.0.1 localhost\n10.0.0.9 printer\n");
    sb.ok(&["snapshot"]);
    // Then the twin is edited: against the new baseline a desired change; against the old
    // one (which had the old /etc/hosts) it would read as a conflict.
    sb.write_twin("filesystem/etc/hosts", "127.0.0.1 localhost\n10.0.0.9 printer\n10.0.0.2 nas\n");
    sb.ok(&["plan", "files"]);
    let body =
        |plan: String| plan.lines().filter(|l| !l.starts_with("# twin ")).collect::<Vec<_>>().join("\n");
    let plan = body(plan_text(&sb));
    assert!(plan.lines().any(|l| l == "REPLACE /etc/hosts"), "{plan}");
    assert!(!plan.contains("conflict"), "{plan}");
    assert_ne!(std::fs::read(&cache).unwrap(), first, "the new baseline's listing replaced the old one");
    // The next plan reads that listing from the state folder, and plans the same.
    sb.ok(&["plan", "files"]);
    assert_eq!(body(plan_text(&sb)), plan);
}
