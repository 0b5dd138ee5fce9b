//! Packages: what dpkg has installed, and which of them were installed on purpose.
//!
//! `collect` reads only. The parsers are pure and tested on output captured from a real Debian
//! system (`testdata/samples/`). `plan` (pure) turns the baseline, twin and live package lists
//! into plan items; `apply` checks a packages plan against the machine and apt's own simulation
//! and runs it with apt-get.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::host::{Cmd, Host};

mod apply;
mod plan;

pub(crate) use apply::{apply, check, describe, reverse, Checked};
pub(crate) use plan::plan;

pub(crate) const DPKG_FORMAT: &str = "${db:Status-Abbrev}\t${Package}\t${Architecture}\t${Version}\n";

/// Installed packages: NAME (with `:ARCH` for a foreign architecture) to version.
pub(crate) type Installed = BTreeMap<String, String>;

/// What the packages collector saw.
pub(crate) struct Observed {
    pub(crate) installed: Installed,
    /// `apt-mark showmanual`, sorted; None when it could not be read (with a note).
    pub(crate) manual: Option<Vec<String>>,
    pub(crate) notes: Vec<String>,
}

/// Reads the installed packages; `Ok(None)` with a note when this system has no dpkg.
pub(crate) fn collect(host: &Host) -> Result<std::result::Result<Observed, String>> {
    if !host.is_live() && !host.path("/var/lib/dpkg/status").exists() {
        return Ok(Err(format!(
            "packages: no dpkg database in {}; packages not collected",
            host.root().display()
        )));
    }
    let mut cmd = Cmd::new("dpkg-query", "list the installed packages");
    if !host.is_live() {
        cmd = cmd.arg(format!("--root={}", host.root().display()));
    }
    let cmd = cmd.args(["--show", &format!("--showformat={DPKG_FORMAT}")]);
    let out = match host.run(&cmd) {
        Ok(out) => out,
        Err(e) if e.is_tool_missing() => {
            return Ok(Err("packages: dpkg-query is not installed; packages not collected".to_string()))
        }
        Err(e) => return Err(e),
    };
    let installed = parse_dpkg_query(&out.stdout_text());
    let mut notes = Vec::new();
    let manual = match collect_manual(host) {
        Ok(m) => Some(m),
        Err(e) => {
            notes.push(format!(
                "packages: apt-manual.txt not collected: {}",
                e.message().lines().next().unwrap_or("")
            ));
            None
        }
    };
    Ok(Ok(Observed { installed, manual, notes }))
}

/// `apt-mark showmanual`; under `--root`, pointed at the disk's own apt and dpkg state with
/// `-o Dir=ROOT/` (checked against the same list read inside the running machine).
fn collect_manual(host: &Host) -> Result<Vec<String>> {
    let mut cmd = Cmd::new("apt-mark", "list the manually installed packages");
    if !host.is_live() {
        cmd = cmd.args(["-o", &format!("Dir={}/", host.root().display())]);
    }
    let out = host.run(&cmd.arg("showmanual"))?;
    Ok(parse_showmanual(&out.stdout_text()))
}

/// `apt-mark showmanual`: one name a line; sorted here.
pub(crate) fn parse_showmanual(out: &str) -> Vec<String> {
    let mut res: Vec<String> =
        out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    res.sort();
    res
}

/// Parses `dpkg-query --show --showformat=DPKG_FORMAT`. Packages whose files are on the system
/// count as installed; "config-files" (removed, conffiles left) and "not-installed" do not. A
/// package of the native architecture (the one dpkg itself is built for) or `all` is named
/// plainly; a foreign one gets `:ARCH`.
pub(crate) fn parse_dpkg_query(out: &str) -> Installed {
    let rows: Vec<(&str, &str, &str, &str)> = out
        .lines()
        .filter_map(|line| {
            let mut it = line.split('\t');
            Some((it.next()?, it.next()?, it.next()?, it.next()?))
        })
        .collect();
    let native = rows.iter().find(|r| r.1 == "dpkg").map(|r| r.2).unwrap_or("");
    let mut res = Installed::new();
    for (status, name, arch, version) in rows {
        let installed = matches!(status.as_bytes().get(1), Some(b'i' | b'U' | b'F' | b'H' | b'W' | b't'));
        if !installed || name.is_empty() {
            continue;
        }
        let key = if arch == native || arch == "all" || arch.is_empty() || native.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{arch}")
        };
        res.insert(key, version.to_string());
    }
    res
}

/// `dpkg.txt`: NAME<TAB>VERSION a line, sorted.
pub(crate) fn render_dpkg_txt(installed: &Installed) -> String {
    installed.iter().map(|(n, v)| format!("{n}\t{v}\n")).collect()
}

/// Reads the twin's `dpkg.txt`: a line of just NAME means "installed, any version" (None).
/// Errors carry the line number.
pub(crate) fn parse_dpkg_txt(text: &str) -> std::result::Result<BTreeMap<String, Option<String>>, String> {
    let mut res = BTreeMap::new();
    for (idx, line) in text.lines().enumerate() {
        let line_number = idx + 1;
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, version) = match line.split_once(['\t', ' ']) {
            Some((n, v)) => (n, Some(v.trim().to_string()).filter(|v| !v.is_empty())),
            None => (line, None),
        };
        if !valid_package_name(name) {
            return Err(format!("dpkg.txt:{line_number}: '{name}' is not a valid package name"));
        }
        if res.insert(name.to_string(), version).is_some() {
            return Err(format!("dpkg.txt:{line_number}: '{name}' is listed twice"));
        }
    }
    Ok(res)
}

/// The state of a package as plan files (`#=`) and journals write it: `installed:VERSION` or
/// `absent`.
fn state_text(version: Option<&String>) -> String {
    match version {
        Some(v) => format!("installed:{v}"),
        None => "absent".to_string(),
    }
}

/// `NAME=VERSION` or `NAME` (a plan's INSTALL argument) into its parts.
fn split_arg(arg: &str) -> (&str, Option<&str>) {
    match arg.split_once('=') {
        Some((name, version)) => (name, Some(version)),
        None => (arg, None),
    }
}

/// Debian package names: lower case letters, digits, `+ - .`, at least two characters,
/// starting with a letter or digit; an optional `:ARCH`.
pub(crate) fn valid_package_name(name: &str) -> bool {
    let (pkg, arch) = match name.split_once(':') {
        Some((p, a)) => (p, Some(a)),
        None => (name, None),
    };
    let pkg_ok = pkg.len() >= 2
        && pkg.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && pkg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    let arch_ok = arch.is_none_or(|a| {
        !a.is_empty() && a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    });
    pkg_ok && arch_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        crate::tests::sample(name)
    }

    #[test]
    fn parses_real_dpkg_query_output() {
        let installed = parse_dpkg_query(&sample("dpkg-query-show.txt"));
        assert!(installed.len() > 50, "a minbase system has many packages");
        assert!(
            installed.contains_key("dpkg") && installed.contains_key("git") && installed.contains_key("cron")
        );
        let foreign: Vec<&String> = installed.keys().filter(|k| k.contains(':')).collect();
        assert!(foreign.iter().any(|k| k.ends_with(":i386")), "foreign packages carry :ARCH: {foreign:?}");
        assert!(!installed.contains_key("htop"), "a removed package (config files left) is not installed");
        for (name, version) in &installed {
            assert!(valid_package_name(name), "{name}");
            assert!(!version.is_empty(), "{name}");
        }
    }

    #[test]
    fn root_output_matches_live_output() {
        let live = parse_dpkg_query(&sample("dpkg-query-show.txt"));
        let offline = parse_dpkg_query(&sample("dpkg-query-root-show.txt"));
        assert_eq!(live, offline);
    }

    #[test]
    fn showmanual_lists_installed_packages() {
        let installed = parse_dpkg_query(&sample("dpkg-query-show.txt"));
        let manual = parse_showmanual(&sample("apt-mark-showmanual.txt"));
        assert!(manual.len() > 50 && manual.windows(2).all(|w| w[0] < w[1]));
        assert!(manual.iter().all(|m| installed.contains_key(m)), "every manual package is installed");
        assert!(manual.iter().any(|m| m == "zlib1g:i386"));
    }

    #[test]
    fn dpkg_txt_round_trips_and_any_version_lines() {
        let mut installed = Installed::new();
        installed.insert("cron".into(), "3.0pl1-162".into());
        installed.insert("zlib1g:i386".into(), "1:1.2.13.dfsg-1".into());
        let text = render_dpkg_txt(&installed);
        assert_eq!(text, "cron\t3.0pl1-162\nzlib1g:i386\t1:1.2.13.dfsg-1\n");
        let parsed = parse_dpkg_txt(&format!("{text}htop\n")).unwrap();
        assert_eq!(parsed["cron"], Some("3.0pl1-162".to_string()));
        assert_eq!(parsed["htop"], None);
        assert_eq!(
            parse_dpkg_txt("cron\nBad_Name\n").unwrap_err(),
            "dpkg.txt:2: 'Bad_Name' is not a valid package name"
        );
        assert_eq!(
            parse_dpkg_txt("cron\n-oops\n").unwrap_err(),
            "dpkg.txt:2: '-oops' is not a valid package name"
        );
        assert!(parse_dpkg_txt("cron\ncron 1\n").unwrap_err().contains("listed twice"));
    }

    #[test]
    fn package_names() {
        for ok in ["git", "libc6:i386", "g++", "libstdc++6", "0ad", "python3.11"] {
            assert!(valid_package_name(ok), "{ok}");
        }
        for bad in ["", "a", "-o", "Git", "a b", "git:", "git;rm", "--purge"] {
            assert!(!valid_package_name(bad), "{bad}");
        }
    }
}
