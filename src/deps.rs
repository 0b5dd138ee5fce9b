//! `twinsync deps [--install]`: the programs TwinSync drives, found or missing, and what each is
//! needed for; `--install` puts the missing ones on a Debian/Ubuntu system with apt-get.
//!
//! The table is data (`PROGRAMS`), so adding a program is one line. The check looks at this
//! computer's PATH: that is where TwinSync starts its programs (under `--root`, apt-get, apt-mark
//! and crontab run inside the disk through chroot, so the disk needs them as well).

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::host::{self, Cmd};
use crate::Ctx;

/// A program TwinSync uses: its name, the Debian package that has it, what needs it.
pub(crate) struct Program {
    pub(crate) name: &'static str,
    pub(crate) package: &'static str,
    pub(crate) needed_for: &'static str,
}

pub(crate) const PROGRAMS: &[Program] = &[
    Program { name: "git", package: "git", needed_for: "the twin repository (every command)" },
    Program {
        name: "whiptail",
        package: "whiptail",
        needed_for: "the menu (without it: a numbered text menu)",
    },
    Program { name: "curl", package: "curl", needed_for: "github setup (the GitHub API)" },
    Program { name: "dpkg-query", package: "dpkg", needed_for: "packages: snapshot, plan, apply" },
    Program { name: "apt-get", package: "apt", needed_for: "packages: apply; deps --install" },
    Program { name: "apt-mark", package: "apt", needed_for: "packages: manually installed marks" },
    Program { name: "systemctl", package: "systemd", needed_for: "services: snapshot, plan, apply" },
    Program { name: "crontab", package: "cron", needed_for: "startup: the user crontab" },
    Program { name: "journalctl", package: "systemd", needed_for: "snapshot: the journal tail" },
];

/// One row of the table: the program and where it was found.
pub(crate) struct Row {
    pub(crate) program: &'static Program,
    pub(crate) path: Option<PathBuf>,
}

/// Looks every program up on the given PATH value.
pub(crate) fn check(path: &OsStr) -> Vec<Row> {
    PROGRAMS.iter().map(|p| Row { program: p, path: host::find_program_in(p.name, path) }).collect()
}

/// The table as printed.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut res = format!("{:<12} {:<8} {:<28} {}\n", "PROGRAM", "STATUS", "PATH", "NEEDED FOR");
    for r in rows {
        let (status, path) = match &r.path {
            Some(p) => ("found", p.display().to_string()),
            None => ("missing", "-".to_string()),
        };
        res.push_str(&format!("{:<12} {status:<8} {path:<28} {}\n", r.program.name, r.program.needed_for));
    }
    res
}

/// The Debian packages that hold the missing programs, each once, in table order.
pub(crate) fn missing_packages(rows: &[Row]) -> Vec<&'static str> {
    let mut res: Vec<&'static str> = Vec::new();
    for r in rows.iter().filter(|r| r.path.is_none()) {
        if !res.contains(&r.program.package) {
            res.push(r.program.package);
        }
    }
    res
}

/// The install command for those packages: non-interactive, stdin closed (`Host::run`).
pub(crate) fn install_cmd(packages: &[&str]) -> Cmd {
    Cmd::new("apt-get", "install the programs TwinSync uses")
        .args(["install", "-y", "-q"])
        .arg("--")
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
}

/// `twinsync deps [--install]`: exit 0 when everything is found, 1 when something is missing.
pub(crate) fn run(ctx: &Ctx, install: bool) -> Result<ExitCode> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    let rows = check(&path);
    print!("{}", table(&rows));
    let missing = missing_packages(&rows);
    if missing.is_empty() {
        println!("twinsync: every program TwinSync uses is installed");
        return Ok(ExitCode::SUCCESS);
    }
    if !install {
        eprintln!(
            "twinsync: missing programs; install them with `sudo twinsync deps --install` \
             (Debian packages: {})",
            missing.join(" ")
        );
        return Ok(ExitCode::FAILURE);
    }
    install_missing(ctx, &missing, host::find_program_in("apt-get", &path).is_some())?;
    if ctx.global.dry_run {
        return Ok(ExitCode::FAILURE);
    }
    let after = check(&path);
    print!("{}", table(&after));
    if missing_packages(&after).is_empty() {
        println!("twinsync: every program TwinSync uses is installed now");
        Ok(ExitCode::SUCCESS)
    } else {
        Err(Error::failed("apt-get ran, but some programs are still missing; see the table above"))
    }
}

/// Installs the packages with apt-get after asking; refuses without root or without apt-get.
fn install_missing(ctx: &Ctx, packages: &[&str], has_apt: bool) -> Result<()> {
    if !has_apt {
        return Err(Error::failed(format!(
            "there is no apt-get on this system; install these programs by hand: {} \
             (Debian package names: {})",
            PROGRAMS
                .iter()
                .filter(|p| packages.contains(&p.package))
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(" "),
            packages.join(" ")
        )));
    }
    let cmd = install_cmd(packages);
    if ctx.global.dry_run {
        println!("twinsync: would run: DEBIAN_FRONTEND=noninteractive {}", cmd.display());
        return Ok(());
    }
    if !ctx.as_root {
        return Err(Error::usage(format!(
            "installing needs root; run `sudo twinsync deps --install` (it runs: {})",
            cmd.display()
        )));
    }
    if !crate::workflow::confirm(ctx, &format!("twinsync: run `{}`?", cmd.display()))? {
        println!("twinsync: nothing was installed");
        return Ok(());
    }
    let out = ctx.host.run(&cmd)?;
    print!("{}", out.stdout_text());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TempDir;

    fn fake_exe(dir: &std::path::Path, name: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join(name);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn table_shows_found_and_missing_on_a_path_we_control() {
        let dir = TempDir::new("deps");
        for name in ["git", "curl", "systemctl"] {
            fake_exe(dir.path(), name);
        }
        // Not executable: does not count.
        std::fs::write(dir.path().join("crontab"), "").unwrap();
        let rows = check(dir.path().as_os_str());
        let text = table(&rows);
        let git = dir.path().join("git");
        assert!(text.contains(&format!("git          found    {}", git.display())), "{text}");
        assert!(text.contains("whiptail     missing  -"), "{text}");
        assert!(text.contains("crontab      missing"), "{text}");
        assert!(text.lines().count() == PROGRAMS.len() + 1);
        // journalctl is missing but systemctl found: systemd is still needed, once.
        assert_eq!(missing_packages(&rows), vec!["whiptail", "dpkg", "apt", "cron", "systemd"]);
    }

    #[test]
    fn every_program_maps_to_its_debian_package() {
        let map: Vec<(&str, &str)> = PROGRAMS.iter().map(|p| (p.name, p.package)).collect();
        assert_eq!(
            map,
            vec![
                ("git", "git"),
                ("whiptail", "whiptail"),
                ("curl", "curl"),
                ("dpkg-query", "dpkg"),
                ("apt-get", "apt"),
                ("apt-mark", "apt"),
                ("systemctl", "systemd"),
                ("crontab", "cron"),
                ("journalctl", "systemd"),
            ]
        );
        let empty = TempDir::new("deps-empty");
        assert_eq!(
            missing_packages(&check(empty.path().as_os_str())),
            vec!["git", "whiptail", "curl", "dpkg", "apt", "systemd", "cron"]
        );
        assert_eq!(install_cmd(&["git", "cron"]).display(), "apt-get install -y -q -- git cron");
    }

    fn ctx(as_root: bool, dry_run: bool) -> Ctx {
        let sb = crate::tests::Sandbox::new("deps-ctx");
        let args = crate::cli::parse(sb.args(&["deps"])).unwrap();
        let mut ctx = Ctx::new(args.global).unwrap();
        ctx.as_root = as_root;
        ctx.global.dry_run = dry_run;
        ctx
    }

    #[test]
    fn install_dry_run_prints_and_non_root_is_refused() {
        // --dry-run: only prints (checked by the child test below for the text), changes nothing.
        assert!(install_missing(&ctx(false, true), &["whiptail"], true).is_ok());
        let err = install_missing(&ctx(false, false), &["whiptail"], true).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().contains("installing needs root; run `sudo twinsync deps --install`"),
            "{err}"
        );
        let err = install_missing(&ctx(true, false), &["cron"], false).unwrap_err();
        assert!(err.to_string().contains("install these programs by hand: crontab"), "{err}");
    }
}
