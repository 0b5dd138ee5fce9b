//! The scenarios: each is a short list of steps, written against the command line of SPEC §2
//! and the twin layout of SPEC §3, and checked with the real tools inside the machine.

use super::machine::{host_ok, CMD_TIMEOUT};
use super::{tree, tree_difference, Ctx, HOSTNAME, USER};
use std::collections::BTreeMap;
use std::path::Path;

const TWIN: &str = "/root/twin";

fn twin(rel: &str) -> String {
    format!("{TWIN}/{rel}")
}

/// `init` and `snapshot` inside the machine make the twin of SPEC §3 with real content.
pub fn snapshot(ctx: &mut Ctx) {
    ctx.twinsync(&["init", TWIN]);
    ctx.twinsync(&["snapshot"]);
    // Right away, before the journal gains lines: a snapshot that changes nothing says so and
    // makes no commit (so the twin has exactly one commit).
    let again = ctx.twinsync(&["snapshot"]);
    if !says_nothing_changed(&again) {
        ctx.fail(&format!("a second snapshot should say that nothing changed; it printed:\n{again}"));
    }
    // Two commits: the one `init` makes (README, .gitignore) and the snapshot.
    ctx.check_eq(&["git", "-C", TWIN, "rev-list", "--count", "HEAD"], "2");
    ctx.check_eq(&["stat", "-c", "%a", TWIN], "700");

    // OS facts.
    ctx.check_eq(&["cat", &twin("system/hostname")], HOSTNAME);
    ctx.check_eq(&["cat", &twin("system/os-release")], &ctx.run(&["cat", "/etc/os-release"]));

    // Packages: exactly what dpkg says is installed, and apt's manual marks.
    let dpkg_txt = twin("system/packages/dpkg.txt");
    ctx.check_eq(&["cat", &dpkg_txt], &installed_packages(ctx));
    let git = ctx.run(&["dpkg-query", "-W", "-f=${Version}", "git"]);
    ctx.check_line(&["cat", &dpkg_txt], &format!("git\t{git}"));
    ctx.check_eq(
        &["cat", &twin("system/packages/apt-manual.txt")],
        &sorted(&ctx.run(&["apt-mark", "showmanual"])),
    );

    // Services and logs.
    ctx.check_line(&["cat", &twin("system/services/desired-state.txt")], "cron.service enabled active");
    ctx.check_contains(&["cat", &twin("system/services/unit-files.txt")], "cron.service");
    ctx.check_contains(&["cat", &twin("system/services/active-units.txt")], "cron.service");
    if ctx.file(&twin("system/logs/journal-tail.txt")).trim().is_empty() {
        ctx.fail("system/logs/journal-tail.txt is empty");
    }

    // Files: content, metadata as stat sees it, owners as names.
    ctx.check_eq(&["cat", &twin("filesystem/etc/hostname")], &ctx.file("/etc/hostname"));
    let metadata = twin("system/files/metadata.txt");
    for path in ["/etc/hostname", "/etc/apt", "/etc/os-release"] {
        ctx.check_line(&["cat", &metadata], &metadata_line(ctx, path));
    }
    for line in ctx.file(&metadata).lines() {
        let f: Vec<&str> = line.splitn(5, ' ').collect();
        let numeric = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if f.len() < 5 || numeric(f[2]) || numeric(f[3]) {
            ctx.fail(&format!(
                "metadata.txt: owner or group did not resolve to a name (or bad line): {line:?}"
            ));
        }
    }

    // Secrets never enter the twin; the exclusion is listed by reason and path.
    if ctx.exists(&twin("filesystem/etc/shadow")) {
        ctx.fail("/etc/shadow was copied into the twin");
    }
    ctx.check_line(&["cat", &twin("system/files/excluded.txt")], "secret-path /etc/shadow");
}

/// A rescue system reads the stopped machine's disk with `--root` and gets the same packages,
/// services and files as the machine saw of itself, except running state (offline: `unknown`).
pub fn rescue(ctx: &mut Ctx) {
    ctx.twinsync(&["init", TWIN]);
    ctx.twinsync(&["snapshot"]);
    let tmp = ctx.tmp();
    let inside = tmp.join("inside-twin");
    let from = ctx.m.host_path(TWIN);
    host_ok(&["cp", "-a", from.to_str().unwrap(), inside.to_str().unwrap()], CMD_TIMEOUT);
    ctx.m.poweroff();

    let (outside, config, state) = (tmp.join("rescue-twin"), tmp.join("config"), tmp.join("state"));
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let (root, outside_s, config, state) = (p(ctx.m.root()), p(&outside), p(&config), p(&state));
    let home = format!("/home/{USER}");
    let opts = [
        "--root", &root, "--twin", &outside_s, "--config", &config, "--state", &state, "--home", &home,
        "--user", USER,
    ];
    ctx.twinsync_outside(&[&opts[..], &["init"]].concat());
    ctx.twinsync_outside(&[&opts[..], &["snapshot"]].concat());

    let read = |dir: &Path, rel: &str| {
        std::fs::read_to_string(dir.join(rel))
            .unwrap_or_else(|e| ctx.fail(&format!("{}/{rel}: {e}", dir.display())))
    };
    for rel in ["system/packages/dpkg.txt", "system/packages/apt-manual.txt"] {
        let (a, b) = (read(&inside, rel), read(&outside, rel));
        if a != b {
            ctx.fail(&format!("{rel} differs inside/outside: {}", super::first_difference(&a, &b)));
        }
    }

    // The same files under /etc, with the same content and metadata. (Only /etc: the ~/.config
    // root is /root's inside and ana's outside.)
    let (a, b) = (tree(&inside.join("filesystem/etc")), tree(&outside.join("filesystem/etc")));
    if let Some(diff) = tree_difference(&a, &b) {
        ctx.fail(&format!("filesystem/etc: inside (first) and outside (second) differ: {diff}"));
    }
    let etc_lines = |text: String| -> Vec<String> {
        text.lines()
            .filter(|l| l.splitn(5, ' ').nth(4).is_some_and(|p| p.starts_with("/etc/")))
            .map(String::from)
            .collect()
    };
    let rel = "system/files/metadata.txt";
    let (a, b) = (etc_lines(read(&inside, rel)), etc_lines(read(&outside, rel)));
    if a != b {
        ctx.fail(&format!(
            "{rel} (/etc lines) differs: {}",
            super::first_difference(&a.join("\n"), &b.join("\n"))
        ));
    }

    // Services: the same units and ENABLED words; RUNNING is `unknown` offline. A unit enabled
    // only at runtime (`enabled-runtime`, links in /run) is not enabled on the stopped disk.
    let rel = "system/services/desired-state.txt";
    let (a, b) = (units(ctx, &read(&inside, rel)), units(ctx, &read(&outside, rel)));
    if a.keys().ne(b.keys()) {
        let only = |x: &BTreeMap<String, (String, String)>, y: &BTreeMap<String, (String, String)>| {
            x.keys().filter(|k| !y.contains_key(*k)).cloned().collect::<Vec<_>>().join(" ")
        };
        ctx.fail(&format!("{rel}: units only inside: [{}]; only outside: [{}]", only(&a, &b), only(&b, &a)));
    }
    for (unit, (enabled, _running)) in &a {
        let (off_enabled, off_running) = &b[unit];
        if off_running != "unknown" {
            ctx.fail(&format!("{rel}: {unit}: RUNNING offline should be `unknown`, is {off_running:?}"));
        }
        if enabled != off_enabled && !enabled.ends_with("-runtime") {
            ctx.fail(&format!("{rel}: {unit}: ENABLED is {enabled:?} inside but {off_enabled:?} outside"));
        }
    }
}

/// The packages dpkg has installed, as dpkg.txt should list them: NAME (NAME:ARCH for a foreign
/// architecture) TAB VERSION, sorted bytewise.
fn installed_packages(ctx: &Ctx) -> String {
    let native = ctx.run(&["dpkg", "--print-architecture"]);
    let query =
        ctx.run(&["dpkg-query", "-W", "-f=${db:Status-Status}\t${Package}\t${Architecture}\t${Version}\n"]);
    let mut lines: Vec<String> = query
        .lines()
        .filter_map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
            ["installed", name, arch, version] if arch == native.trim() || arch == "all" => {
                Some(format!("{name}\t{version}"))
            }
            ["installed", name, arch, version] => Some(format!("{name}:{arch}\t{version}")),
            _ => None,
        })
        .collect();
    lines.sort();
    lines.join("\n")
}

/// The metadata.txt line for a path, from `stat` inside: "f 0644 root root /etc/hostname".
fn metadata_line(ctx: &Ctx, path: &str) -> String {
    let out = ctx.run(&["stat", "-c", "%F|%a|%U|%G", path]);
    let f: Vec<&str> = out.trim().split('|').collect();
    let kind = match f[0] {
        "directory" => "d",
        "symbolic link" => "l",
        _ => "f",
    };
    format!("{kind} {:0>4} {} {} {path}", f[1], f[2], f[3])
}

/// desired-state.txt as UNIT -> (ENABLED, RUNNING); a line that is not three words fails.
fn units(ctx: &Ctx, text: &str) -> BTreeMap<String, (String, String)> {
    text.lines()
        .map(|l| match l.split(' ').collect::<Vec<_>>()[..] {
            [unit, enabled, running] => (unit.to_string(), (enabled.to_string(), running.to_string())),
            _ => ctx.fail(&format!("desired-state.txt: not `UNIT ENABLED RUNNING`: {l:?}")),
        })
        .collect()
}

fn sorted(text: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines.join("\n")
}

/// The product's wording is free; any of these phrases counts as "nothing changed".
fn says_nothing_changed(output: &str) -> bool {
    let o = output.to_lowercase();
    ["nothing changed", "no change", "unchanged", "nothing to commit", "up to date"]
        .iter()
        .any(|p| o.contains(p))
}

/// Ana runs TwinSync through sudo: the twin and everything git writes in it stay hers. She can
/// also take a snapshot as herself, without root (files she cannot read are counted, not fatal).
pub fn sudo_user(ctx: &mut Ctx) {
    ctx.m.write_file("/etc/sudoers.d/ana", "ana ALL=(ALL) NOPASSWD: ALL\n");
    ctx.run(&["chmod", "0440", "/etc/sudoers.d/ana"]);
    ctx.m.write_file("/home/ana/.config/htop/htoprc", "fields=0 48 17\n");
    ctx.run(&["chown", "-R", "ana:ana", "/home/ana/.config"]);
    let bin = super::BIN_INSIDE;
    let twin = "/home/ana/twin";
    ctx.m.ok_as(USER, &["sudo", bin, "init", twin]);
    ctx.m.ok_as(USER, &["sudo", bin, "snapshot"]);
    ctx.check_eq(&["find", twin, "!", "-user", USER, "-print", "-quit"], "");
    ctx.check_eq(&["find", twin, "!", "-group", USER, "-print", "-quit"], "");
    ctx.check_eq(&["cat", &format!("{twin}/filesystem/home/ana/.config/htop/htoprc")], "fields=0 48 17");
    // The config is Ana's, not root's.
    ctx.check_contains(&["cat", "/home/ana/.config/twinsync/config"], &format!("twin_dir={twin}"));
    // Root's work went into the twin; Ana can keep working in it with plain git.
    ctx.m.ok_as(USER, &["git", "-C", twin, "status", "--short"]);
    // As herself: no sudo. Root-only files are left out as private; the snapshot still works.
    let out = ctx.m.ok_as(USER, &[bin, "snapshot", "--state", "/home/ana/.ts-state"]);
    if !out.contains("files captured") {
        ctx.fail(&format!("a snapshot as ana printed no summary:\n{out}"));
    }
    ctx.check_line(&["cat", &format!("{twin}/system/files/excluded.txt")], "secret-path /etc/shadow");
}

/// An edit to /etc made in the twin (content, a new file in a new folder, a deletion, mode and
/// group) is planned, applied with its owner and mode, and undone, with the real tools.
pub fn files_apply(ctx: &mut Ctx) {
    ctx.m.write_file("/etc/motd", "Welcome\n");
    ctx.twinsync(&["init", TWIN]);
    ctx.twinsync(&["snapshot"]);
    let hosts = ctx.file("/etc/hosts");
    ctx.edit_twin("filesystem/etc/hosts", &format!("{hosts}10.0.0.2 nas\n"), "add the nas");
    ctx.edit_twin("filesystem/etc/twinsync-e2e/app.conf", "color=1\n", "a new app config");
    ctx.delete_in_twin("filesystem/etc/motd", "no motd");
    let metadata = ctx.file(&twin("system/files/metadata.txt"));
    let edited = metadata.replace("f 0644 root root /etc/hosts\n", "f 0664 root adm /etc/hosts\n");
    if edited == metadata {
        ctx.fail(&format!("metadata.txt has no line 'f 0644 root root /etc/hosts':\n{metadata}"));
    }
    ctx.edit_twin("system/files/metadata.txt", &edited, "hosts: group adm may write");

    let plan = ctx.twinsync(&["plan", "files"]);
    for line in ["REPLACE /etc/hosts", "CREATE /etc/twinsync-e2e/app.conf", "DELETE /etc/motd"] {
        if !plan.lines().any(|l| l == line) {
            ctx.fail(&format!("the plan has no line {line:?}:\n{plan}"));
        }
    }
    ctx.check_contains(&["twinsync", "status"], "M  /etc/hosts  (REPLACE)");
    ctx.check_contains(&["twinsync", "diff", "/etc/hosts"], "+10.0.0.2 nas");
    // No terminal and no --yes: nothing is applied.
    ctx.twinsync_fails(&["apply", "files"], 2);
    ctx.check_eq(&["cat", "/etc/motd"], "Welcome");

    let out = ctx.twinsync(&["apply", "files", "--yes"]);
    if !out.contains("3 done, 0 failed, 0 skipped") {
        ctx.fail(&format!("apply did not report 3 done:\n{out}"));
    }
    ctx.check_eq(&["stat", "-c", "%a %U %G", "/etc/hosts"], "664 root adm");
    ctx.check_contains(&["cat", "/etc/hosts"], "10.0.0.2 nas");
    ctx.check_eq(&["stat", "-c", "%a %U %G", "/etc/twinsync-e2e/app.conf"], "644 root root");
    ctx.check_eq(&["cat", "/etc/twinsync-e2e/app.conf"], "color=1");
    if ctx.exists("/etc/motd") {
        ctx.fail("/etc/motd is still there after DELETE");
    }
    // Backups and temporary files never stay next to a target.
    ctx.check_eq(&["find", "/etc", "-name", ".twinsync-*"], "");
    ctx.check_eq(&["sh", "-c", "cat /var/lib/twinsync/backups/*/etc/motd"], "Welcome");
    // The result is committed; nothing is left to plan.
    ctx.check_eq(&["git", "-C", TWIN, "status", "--porcelain", "--", "filesystem", "system/files"], "");
    ctx.check_contains(&["git", "-C", TWIN, "log", "-1", "--format=%s"], "apply run");
    ctx.check_contains(&["twinsync", "status"], "## files: 0 to apply");

    ctx.twinsync(&["undo", "--yes"]);
    ctx.check_eq(&["cat", "/etc/hosts"], hosts.trim_end());
    ctx.check_eq(&["stat", "-c", "%a %U %G", "/etc/hosts"], "644 root root");
    ctx.check_eq(&["cat", "/etc/motd"], "Welcome");
    if ctx.exists("/etc/twinsync-e2e") {
        ctx.fail("undo left the folder /etc/twinsync-e2e that the apply created");
    }
    ctx.check_eq(&["find", "/etc", "-name", ".twinsync-*"], "");
}

/// A local apt repository inside the machine, so package scenarios need no network: three
/// small packages, `twinsync-demo-app` depending on `twinsync-demo-lib`.
fn local_repo(ctx: &Ctx) {
    const REPO: &str = "/srv/twinsync-repo";
    ctx.run(&["mkdir", "-p", REPO]);
    for (name, depends) in
        [("twinsync-demo-lib", ""), ("twinsync-demo-app", "twinsync-demo-lib"), ("twinsync-demo-tool", "")]
    {
        let dir = format!("/root/build/{name}");
        let mut control = format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: TwinSync tests <tests@example.invalid>\n\
             Description: a package for the tests of TwinSync\n"
        );
        if !depends.is_empty() {
            control.push_str(&format!("Depends: {depends}\n"));
        }
        ctx.m.write_file(&format!("{dir}/DEBIAN/control"), &control);
        ctx.m.write_file(&format!("{dir}/usr/share/doc/{name}/README"), "a test package\n");
        ctx.run(&["dpkg-deb", "--root-owner-group", "--build", &dir, &format!("{REPO}/{name}_1.0_all.deb")]);
    }
    let index = r#"cd /srv/twinsync-repo && for f in *.deb; do dpkg-deb -f "$f"; echo "Filename: ./$f"; echo "Size: $(stat -c %s "$f")"; echo "SHA256: $(sha256sum "$f" | cut -d' ' -f1)"; echo; done > Packages"#;
    ctx.run(&["sh", "-c", index]);
    ctx.m.write_file(
        "/etc/apt/sources.list.d/twinsync-test.list",
        &format!("deb [trusted=yes] file:{REPO} ./\n"),
    );
    ctx.run(&[
        "apt-get",
        "update",
        "-qq",
        "-o",
        "Dir::Etc::sourcelist=/etc/apt/sources.list.d/twinsync-test.list",
        "-o",
        "Dir::Etc::sourceparts=-",
        "-o",
        "APT::Get::List-Cleanup=0",
    ]);
}

fn dpkg_txt_with(ctx: &Ctx, add: &[&str], drop: &[&str]) -> String {
    let text = ctx.file(&twin("system/packages/dpkg.txt"));
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !drop.iter().any(|d| l.split('\t').next() == Some(*d)))
        .map(str::to_string)
        .collect();
    lines.extend(add.iter().map(|a| a.to_string()));
    lines.sort();
    lines.join("\n") + "\n"
}

fn installed(ctx: &Ctx, name: &str) -> bool {
    ctx.run(&["sh", "-c", &format!("dpkg-query -W -f='${{db:Status-Abbrev}}' {name} 2>/dev/null || true")])
        .starts_with("ii")
}

/// A package added in the twin is installed (and marked manual), one dropped is removed, a
/// removal that would cascade is refused with nothing removed, an option-shaped line exits 2,
/// and undo reverses the run.
pub fn packages_apply(ctx: &mut Ctx) {
    local_repo(ctx);
    ctx.run(&["apt-get", "install", "-y", "-qq", "twinsync-demo-app"]);
    ctx.twinsync(&["init", TWIN]);
    ctx.twinsync(&["snapshot"]);
    ctx.check_line(&["cat", &twin("system/packages/dpkg.txt")], "twinsync-demo-app\t1.0");

    // A cascade: dropping the library would also remove the app, which the plan does not name.
    let edited = dpkg_txt_with(ctx, &[], &["twinsync-demo-lib"]);
    ctx.edit_twin("system/packages/dpkg.txt", &edited, "drop the lib");
    let plan = ctx.twinsync(&["plan", "packages"]);
    if !plan.lines().any(|l| l == "REMOVE twinsync-demo-lib") {
        ctx.fail(&format!("the plan has no REMOVE line:\n{plan}"));
    }
    let out = ctx.twinsync_fails(&["apply", "packages", "--yes"], 2);
    if !out.contains("twinsync-demo-app") {
        ctx.fail(&format!("the refusal does not name the package the cascade would remove:\n{out}"));
    }
    if !installed(ctx, "twinsync-demo-lib") || !installed(ctx, "twinsync-demo-app") {
        ctx.fail("a refused removal removed something");
    }

    // Add the tool and drop the app (the lib stays, as the twin has it again).
    let edited = dpkg_txt_with(
        ctx,
        &["twinsync-demo-lib\t1.0", "twinsync-demo-tool"],
        &["twinsync-demo-app", "twinsync-demo-lib"],
    );
    ctx.edit_twin("system/packages/dpkg.txt", &edited, "tool in, app out");
    let plan = ctx.twinsync(&["plan", "packages"]);
    for line in ["INSTALL twinsync-demo-tool", "REMOVE twinsync-demo-app"] {
        if !plan.lines().any(|l| l == line) {
            ctx.fail(&format!("the plan has no line {line:?}:\n{plan}"));
        }
    }
    let dry = ctx.twinsync(&["apply", "packages", "--dry-run"]);
    for needle in ["apt-get install -y", "--force-confold", "apt-get remove -y"] {
        if !dry.contains(needle) {
            ctx.fail(&format!("the dry run does not show {needle:?}:\n{dry}"));
        }
    }
    if dry.contains("--allow") {
        ctx.fail(&format!("an --allow-* override in:\n{dry}"));
    }
    if installed(ctx, "twinsync-demo-tool") {
        ctx.fail("the dry run installed the package");
    }
    ctx.twinsync(&["apply", "packages", "--yes"]);
    if !installed(ctx, "twinsync-demo-tool") || installed(ctx, "twinsync-demo-app") {
        ctx.fail("apply did not install the tool and remove the app");
    }
    ctx.check_line(&["apt-mark", "showmanual"], "twinsync-demo-tool");
    ctx.check_line(&["cat", &twin("system/packages/dpkg.txt")], "twinsync-demo-tool\t1.0");

    // A plan line shaped like an option is bad input.
    ctx.m.write_file(&twin("plans/plan-packages.txt"), "INSTALL -oAPT::Get::Trivial-Only=1\n");
    ctx.twinsync_fails(&["apply", "packages", "--yes"], 2);

    // Undo reverses the run: the tool goes, the app comes back.
    ctx.run(&["rm", "-f", &twin("plans/plan-packages.txt")]);
    ctx.twinsync(&["undo", "--yes"]);
    if installed(ctx, "twinsync-demo-tool") || !installed(ctx, "twinsync-demo-app") {
        ctx.fail("undo did not reverse the packages run");
    }
}

/// A service disabled and stopped in the twin is disabled and stopped; a crontab edited in the
/// twin is installed; an invalid one is refused with cron's message.
pub fn services_startup_apply(ctx: &mut Ctx) {
    ctx.twinsync(&["init", TWIN]);
    ctx.twinsync(&["snapshot"]);
    ctx.check_line(&["cat", &twin("system/services/desired-state.txt")], "cron.service enabled active");
    let states = ctx.file(&twin("system/services/desired-state.txt"));
    let edited = states.replace("cron.service enabled active\n", "cron.service disabled inactive\n");
    ctx.edit_twin("system/services/desired-state.txt", &edited, "no cron");
    ctx.edit_twin("system/startup/user-crontab.txt", "*/5 * * * * /usr/bin/true\n", "a job");
    let plan = ctx.twinsync(&["plan", "services", "startup"]);
    for line in
        ["DISABLE cron.service", "STOP cron.service", "UPDATE_USER_CRONTAB system/startup/user-crontab.txt"]
    {
        if !plan.lines().any(|l| l == line) {
            ctx.fail(&format!("the plan has no line {line:?}:\n{plan}"));
        }
    }
    ctx.twinsync(&["apply", "services", "startup", "--yes"]);
    ctx.check_eq(&["sh", "-c", "systemctl is-enabled cron.service || true"], "disabled");
    ctx.check_eq(&["sh", "-c", "systemctl is-active cron.service || true"], "inactive");
    ctx.check_eq(&["crontab", "-l"], "*/5 * * * * /usr/bin/true");

    // An invalid crontab is refused with cron's own message; the installed one stays.
    ctx.edit_twin("system/startup/user-crontab.txt", "61 * * * * /usr/bin/true\n", "a bad minute");
    ctx.twinsync(&["plan", "startup"]);
    let out = ctx.twinsync_fails(&["apply", "startup", "--yes"], 2);
    if !out.contains("bad minute") {
        ctx.fail(&format!("the refusal does not show cron's message:\n{out}"));
    }
    ctx.check_eq(&["crontab", "-l"], "*/5 * * * * /usr/bin/true");

    // Undo of the first run: cron enabled and running again, the old (empty) crontab back.
    let runs = ctx.run(&["ls", "/var/lib/twinsync/journal"]);
    let first = runs.lines().next().unwrap_or_default().to_string();
    ctx.twinsync(&["undo", "--yes", &first]);
    ctx.check_eq(&["sh", "-c", "systemctl is-enabled cron.service || true"], "enabled");
    ctx.check_eq(&["sh", "-c", "systemctl is-active cron.service || true"], "active");
    ctx.check_eq(&["sh", "-c", "crontab -l 2>&1 || true"], "no crontab for root");
}

/// From a rescue system, with `--root` on the powered-off disk: the twin enables and disables
/// units and installs a package; START and STOP are reported as deferred.
pub fn rescue_apply(ctx: &mut Ctx) {
    local_repo(ctx);
    ctx.m.poweroff();
    let tmp = ctx.tmp();
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    let (root, twin_dir) = (p(ctx.m.root()), p(&tmp.join("rescue-twin")));
    let (config, state) = (p(&tmp.join("config")), p(&tmp.join("state")));
    let home = format!("/home/{USER}");
    let opts = [
        "--root", &root, "--twin", &twin_dir, "--config", &config, "--state", &state, "--home", &home,
        "--user", USER,
    ];
    let run = |args: &[&str]| ctx.twinsync_outside(&[&opts[..], args].concat());
    run(&["init"]);
    run(&["snapshot"]);
    let dir = Path::new(&twin_dir);
    let edit = |rel: &str, f: &dyn Fn(&str) -> String| {
        let path = dir.join(rel);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| ctx.fail(&format!("{rel}: {e}")));
        std::fs::write(&path, f(&text)).unwrap();
    };
    edit("system/packages/dpkg.txt", &|t| format!("{t}twinsync-demo-tool\n"));
    let states = std::fs::read_to_string(dir.join("system/services/desired-state.txt")).unwrap();
    if !states.contains("systemd-networkd.service disabled unknown\n") {
        ctx.fail(&format!("the disk has no disabled systemd-networkd.service:\n{states}"));
    }
    edit("system/services/desired-state.txt", &|t| {
        t.replace("cron.service enabled unknown\n", "cron.service disabled unknown\n").replace(
            "systemd-networkd.service disabled unknown\n",
            "systemd-networkd.service enabled unknown\n",
        )
    });
    let plan = run(&["plan", "packages", "services"]);
    for line in ["INSTALL twinsync-demo-tool", "DISABLE cron.service", "ENABLE systemd-networkd.service"] {
        if !plan.lines().any(|l| l == line) {
            ctx.fail(&format!("the plan has no line {line:?}:\n{plan}"));
        }
    }
    // A START cannot be planned from unknown; add one by hand: it is deferred.
    let services_plan = dir.join("plans/plan-services.txt");
    let text = std::fs::read_to_string(&services_plan).unwrap();
    std::fs::write(&services_plan, format!("{text}START cron.service\n")).unwrap();
    let out = run(&["apply", "--yes"]);
    if !out.contains("deferred") {
        ctx.fail(&format!("START was not reported as deferred:\n{out}"));
    }
    let state_of = |unit: &str| {
        let out = std::process::Command::new("systemctl")
            .args(["--root", &root, "is-enabled", unit])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    if state_of("cron.service") != "disabled" {
        ctx.fail(&format!("cron.service is {} on the disk, not disabled", state_of("cron.service")));
    }
    if state_of("systemd-networkd.service") != "enabled" {
        ctx.fail(&format!(
            "systemd-networkd.service is {} on the disk",
            state_of("systemd-networkd.service")
        ));
    }
    let q = std::process::Command::new("dpkg-query")
        .args([&format!("--root={root}"), "-W", "-f=${db:Status-Abbrev}", "twinsync-demo-tool"])
        .output()
        .unwrap();
    if !String::from_utf8_lossy(&q.stdout).starts_with("ii") {
        ctx.fail("twinsync-demo-tool is not installed on the disk");
    }
    // Nothing stays mounted inside the disk, and its policy-rc.d is gone again.
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    if mounts.lines().any(|l| l.split(' ').nth(1).is_some_and(|m| m.starts_with(&format!("{root}/")))) {
        ctx.fail("a mount inside the disk was left after the apply");
    }
    if Path::new(&root).join("usr/sbin/policy-rc.d").exists() {
        ctx.fail("the temporary policy-rc.d was left on the disk");
    }
}

/// The time machine: the machine changes (a file, a package, a service) and is snapshotted;
/// `restore` of the older snapshot, then plan and apply, bring the machine back to it.
pub fn restore_apply(ctx: &mut Ctx) {
    local_repo(ctx);
    ctx.m.write_file("/etc/motd", "Welcome\n");
    ctx.twinsync(&["init", TWIN]);
    ctx.twinsync(&["snapshot", "-m", "before"]);
    let before = ctx.run(&["git", "-C", TWIN, "rev-parse", "--short", "HEAD"]).trim().to_string();

    ctx.m.write_file("/etc/motd", "Welcome to the new motd\n");
    ctx.run(&["apt-get", "install", "-y", "-qq", "twinsync-demo-tool"]);
    ctx.run(&["systemctl", "disable", "--now", "cron.service"]);
    ctx.twinsync(&["snapshot", "-m", "after"]);
    ctx.check_line(&["cat", &twin("system/services/desired-state.txt")], "cron.service disabled inactive");

    let history = ctx.twinsync(&["history"]);
    if !history.lines().any(|l| l.starts_with(&before) && l.contains("before")) {
        ctx.fail(&format!("history does not list the snapshot {before}:\n{history}"));
    }
    ctx.twinsync(&["restore", &before, "--yes"]);
    ctx.check_eq(&["cat", &twin("filesystem/etc/motd")], "Welcome");
    let plan = ctx.twinsync(&["plan"]);
    for line in
        ["REPLACE /etc/motd", "REMOVE twinsync-demo-tool", "ENABLE cron.service", "START cron.service"]
    {
        if !plan.lines().any(|l| l == line) {
            ctx.fail(&format!("the plan after restore has no line {line:?}:\n{plan}"));
        }
    }
    ctx.twinsync(&["apply", "--yes"]);
    ctx.check_eq(&["cat", "/etc/motd"], "Welcome");
    if installed(ctx, "twinsync-demo-tool") {
        ctx.fail("the package installed after the snapshot is still there");
    }
    ctx.check_eq(&["sh", "-c", "systemctl is-enabled cron.service || true"], "enabled");
    ctx.check_eq(&["sh", "-c", "systemctl is-active cron.service || true"], "active");
    // Nothing is left to do: the machine is as the restored snapshot.
    let status = ctx.twinsync(&["status"]);
    for d in ["files", "packages", "services"] {
        if !status.contains(&format!("## {d}: 0 to apply")) {
            ctx.fail(&format!("after the apply, {d} still has changes:\n{status}"));
        }
    }
}
