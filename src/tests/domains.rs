//! plan, status, apply and undo across domains, in-process against a sandbox machine: services
//! through the real `systemctl --root=` (offline, so START/STOP are deferred), packages planned
//! from a real dpkg database read by `dpkg-query --root=`, and files and services applied in
//! one run. Installing packages and crontabs needs a running Debian: the e2e suite does that.

use super::Sandbox;

const DEMO: &str = "twinsync-demo.service";
const WANTS: &str = "/etc/systemd/system/multi-user.target.wants/twinsync-demo.service";

/// A sandbox with systemd's files: a unit that can be enabled, and systemd itself (which
/// `services::collect` looks for before it asks systemctl).
fn with_systemd(name: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.write(
        &format!("/usr/lib/systemd/system/{DEMO}"),
        "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
    );
    sb.write("/usr/lib/systemd/systemd", "");
    sb
}

fn dpkg_status(sb: &Sandbox, packages: &[(&str, &str)]) {
    let mut text = String::new();
    for (name, version) in packages {
        text.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {version}\n\
             Maintainer: tests\nDescription: a package\n\n"
        ));
    }
    sb.write("/var/lib/dpkg/status", &text);
}

fn edit_line(sb: &Sandbox, rel: &str, from: &str, to: &str) {
    let text = sb.twin_file(rel).unwrap_or_else(|| panic!("the twin has no {rel}"));
    assert!(text.contains(from), "{rel} has no {from:?}:\n{text}");
    sb.write_twin(rel, &text.replace(from, to));
}

fn status(sb: &Sandbox) -> String {
    let global = crate::cli::parse(sb.args(&["status"])).unwrap().global;
    crate::workflow::status_text(&crate::Ctx::new(global).unwrap()).unwrap()
}

fn exists(sb: &Sandbox, machine_path: &str) -> bool {
    std::fs::symlink_metadata(sb.path(machine_path)).is_ok()
}

#[test]
fn files_and_services_apply_in_one_run_and_undo_reverses_both() {
    let sb = with_systemd("one-run");
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    let states = "system/services/desired-state.txt";
    edit_line(&sb, states, &format!("{DEMO} disabled unknown"), &format!("{DEMO} enabled unknown"));
    sb.write_twin("filesystem/etc/hosts", "127.0.0.1 localhost\n10.0.0.2 nas\n");
    assert!(status(&sb).contains(&format!("M  {DEMO}  (ENABLE {DEMO})")), "{}", status(&sb));

    sb.ok(&["plan"]);
    let plan = sb.twin_file("plans/plan-services.txt").unwrap();
    assert!(plan.contains(&format!("\nENABLE {DEMO}\n#= disabled:unknown {DEMO}\n")), "{plan}");
    // A START added by hand cannot run on a system that is not running: it is deferred.
    sb.write_twin("plans/plan-services.txt", &format!("{plan}START {DEMO}\n"));
    sb.ok(&["apply", "--yes"]);

    assert!(exists(&sb, WANTS), "ENABLE made no symlink");
    assert_eq!(
        std::fs::read_to_string(sb.path("/etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n10.0.0.2 nas\n"
    );
    let runs: Vec<String> = std::fs::read_dir(sb.state.join("journal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(runs.len(), 1, "one run for both domains: {runs:?}");
    let journal = std::fs::read_to_string(sb.state.join("journal").join(&runs[0])).unwrap();
    assert!(journal.contains(&format!("service ENABLE {DEMO} disabled:unknown\n")), "{journal}");
    assert!(journal.lines().any(|l| l.starts_with("file ") && l.ends_with(" /etc/hosts")), "{journal}");
    assert!(!journal.contains("service START"), "a deferred line changes nothing: {journal}");
    // The used plans are gone; the snapshot after the run took the machine in.
    assert!(
        sb.twin_file("plans/plan-services.txt").is_none() && sb.twin_file("plans/plan-files.txt").is_none()
    );
    assert!(sb.twin_file(states).unwrap().contains(&format!("{DEMO} enabled unknown\n")));
    assert!(sb.git(&["log", "-1", "--format=%s"]).starts_with(&format!("apply run {}: files", runs[0])));

    sb.ok(&["undo", "--yes"]);
    assert!(!exists(&sb, WANTS), "undo left the unit enabled");
    assert_eq!(std::fs::read_to_string(sb.path("/etc/hosts")).unwrap(), "127.0.0.1 localhost\n");
    let reverse =
        std::fs::read_to_string(sb.state.join("undo").join(&runs[0]).join("plan-services.txt")).unwrap();
    assert!(reverse.lines().any(|l| l == format!("DISABLE {DEMO}")), "{reverse}");
    assert!(sb.twin_file(states).unwrap().contains(&format!("{DEMO} disabled unknown\n")));
    let (code, msg) = sb.run(&["undo", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "a second undo of the same run is refused: {msg}");
}

#[test]
fn one_stale_domain_stops_every_domain() {
    let sb = with_systemd("stale-all");
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    edit_line(
        &sb,
        "system/services/desired-state.txt",
        &format!("{DEMO} disabled"),
        &format!("{DEMO} masked"),
    );
    sb.write_twin("filesystem/etc/hosts", "127.0.0.1 localhost\n10.0.0.2 nas\n");
    sb.ok(&["plan", "files", "services"]);
    // The unit changes on the machine after the plan was made.
    let out = std::process::Command::new("systemctl")
        .arg(format!("--root={}", sb.root.display()))
        .args(["enable", DEMO])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let (code, msg) = sb.run(&["apply", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("plan-services.txt:4:") && msg.contains("stale"), "{msg}");
    assert_eq!(std::fs::read_to_string(sb.path("/etc/hosts")).unwrap(), "127.0.0.1 localhost\n");
    assert!(!sb.state.join("journal").exists(), "a refused apply starts no run");
    assert!(sb.twin_file("plans/plan-files.txt").is_some(), "a refused plan stays for the person to read");
}

#[test]
fn packages_are_planned_three_way_from_the_dpkg_database() {
    let sb = Sandbox::new("pkg-plan");
    dpkg_status(&sb, &[("dpkg", "1.21.22"), ("nano", "7.2-1")]);
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    let dpkg = sb.twin_file("system/packages/dpkg.txt").unwrap();
    assert_eq!(dpkg, "dpkg\t1.21.22\nnano\t7.2-1\n");
    // The twin drops nano and asks for htop; the machine got less since the snapshot.
    sb.write_twin("system/packages/dpkg.txt", "dpkg\t1.21.22\nhtop\n");
    dpkg_status(&sb, &[("dpkg", "1.21.22"), ("less", "590-2"), ("nano", "7.2-1")]);

    sb.ok(&["plan", "packages"]);
    let plan = sb.twin_file("plans/plan-packages.txt").unwrap();
    assert!(plan.contains("\nINSTALL htop\n#= absent htop\n"), "{plan}");
    assert!(plan.contains("\nREMOVE nano\n#= installed:7.2-1 nano\n"), "{plan}");
    assert!(plan.contains("\n#REMOVE less\n#= installed:590-2 less\n"), "drift is commented out: {plan}");
    let status = status(&sb);
    assert!(status.contains("## packages: 2 to apply, 1 drift, 0 conflict(s)\n"), "{status}");
    assert!(status.contains(" A less  (drift)\n") && status.contains("D  nano  (REMOVE nano)\n"), "{status}");
    // With --mirror the machine's extra package is a removal to make too.
    sb.ok(&["plan", "packages", "--mirror"]);
    let plan = sb.twin_file("plans/plan-packages.txt").unwrap();
    assert!(plan.contains("\nREMOVE less\n") && plan.contains("planned two-way because --mirror"), "{plan}");
}

#[test]
fn a_bad_line_in_the_twin_is_bad_input_and_no_plan_is_written() {
    let sb = Sandbox::new("bad-twin");
    dpkg_status(&sb, &[("dpkg", "1.21.22")]);
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    sb.write_twin("system/packages/dpkg.txt", "dpkg\t1.21.22\n-oAPT::Get::Trivial-Only=1\n");
    let (code, msg) = sb.run(&["plan"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("system/packages/dpkg.txt:2:") && msg.contains("not a valid package name"), "{msg}");
    assert!(!sb.twin.join("plans").exists(), "no plan file is written when one domain has bad input");
}

#[test]
fn apply_without_a_plan_is_bad_input() {
    let sb = Sandbox::new("no-plan");
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    let (code, msg) = sb.run(&["apply", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("twinsync plan"), "{msg}");
    let (code, msg) = sb.run(&["apply", "services", "--yes"]).unwrap_err();
    assert_eq!(code, 2, "{msg}");
    assert!(msg.contains("no services plan"), "{msg}");
}

#[test]
fn domains_that_cannot_be_collected_are_not_planned_and_say_why() {
    // A sandbox without dpkg, systemd or cron.
    let sb = Sandbox::new("bare");
    sb.ok(&["init"]);
    sb.ok(&["snapshot"]);
    sb.ok(&["plan"]);
    let plan = sb.twin_file("plans/plan-packages.txt").unwrap();
    assert!(plan.contains("# not planned:") && !plan.lines().any(|l| l.starts_with("INSTALL")), "{plan}");
    let status = status(&sb);
    for d in ["packages", "services", "startup"] {
        assert!(status.contains(&format!("## {d}: not planned: ")), "{status}");
    }
}
