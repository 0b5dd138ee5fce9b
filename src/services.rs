//! Services: systemd's unit files and whether each service is enabled and running.
//!
//! `collect` reads only; the parsers are pure and tested on output captured from real Debian.
//! Offline (under `--root`, or where systemd is not PID 1) only the unit files can be read:
//! the running state is `unknown` then — TwinSync never guesses it.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::host::{Cmd, Host};

/// One line of `desired-state.txt`: `UNIT ENABLED RUNNING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UnitState {
    pub(crate) enabled: String,
    pub(crate) running: String,
}

pub(crate) struct Observed {
    /// `systemctl list-unit-files --type=service`, as printed.
    pub(crate) unit_files: String,
    /// `systemctl list-units --type=service --all`, as printed, or a line saying why not.
    pub(crate) active_units: String,
    pub(crate) desired: BTreeMap<String, UnitState>,
    pub(crate) notes: Vec<String>,
}

pub(crate) const NOT_RUNNING: &str = "systemd is not running: the running state of services is unknown\n";

pub(crate) fn collect(host: &Host) -> Result<std::result::Result<Observed, String>> {
    if !host.is_live()
        && !host.path("/lib/systemd/systemd").exists()
        && !host.path("/usr/lib/systemd/systemd").exists()
    {
        return Ok(Err(format!(
            "services: systemd is not installed in {}; services not collected",
            host.root().display()
        )));
    }
    let mut cmd = Cmd::new("systemctl", "list the service unit files");
    if !host.is_live() {
        cmd = cmd.arg(format!("--root={}", host.root().display()));
    }
    let cmd = cmd.args(["list-unit-files", "--type=service", "--no-pager"]);
    let unit_files = match host.run(&cmd) {
        Ok(out) => out.stdout_text(),
        Err(e) if e.is_tool_missing() => {
            return Ok(Err("services: systemctl is not installed; services not collected".to_string()))
        }
        Err(e) => return Err(e),
    };
    let mut notes = Vec::new();
    let (active_units, running) = if host.systemd_running() {
        let out = host.run(&Cmd::new("systemctl", "list the service units").args([
            "list-units",
            "--type=service",
            "--all",
            "--no-pager",
        ]))?;
        let text = out.stdout_text();
        let running = parse_list_units(&text);
        (text, Some(running))
    } else {
        notes.push("services: systemd is not running here; RUNNING is unknown".to_string());
        (NOT_RUNNING.to_string(), None)
    };
    let desired = desired_state(&parse_list_unit_files(&unit_files), running.as_ref());
    Ok(Ok(Observed { unit_files, active_units, desired, notes }))
}

/// `systemctl list-unit-files` (with or without its legend): unit name to its is-enabled word.
pub(crate) fn parse_list_unit_files(out: &str) -> BTreeMap<String, String> {
    let mut res = BTreeMap::new();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        let (Some(unit), Some(state)) = (it.next(), it.next()) else { continue };
        if unit.contains('.') && unit != "UNIT" {
            res.insert(unit.to_string(), state.to_string());
        }
    }
    res
}

/// `systemctl list-units --all` (with or without legend, plain or with the `●` marker of failed
/// units): unit name to its ACTIVE column.
pub(crate) fn parse_list_units(out: &str) -> BTreeMap<String, String> {
    let mut res = BTreeMap::new();
    for line in out.lines() {
        let line = line.trim_start_matches(|c: char| c == '●' || c == '*' || c.is_whitespace());
        let mut it = line.split_whitespace();
        let (Some(unit), Some(_load), Some(active)) = (it.next(), it.next(), it.next()) else { continue };
        if unit.ends_with(".service") {
            res.insert(unit.to_string(), active.to_string());
        }
    }
    res
}

/// Every service unit file with its is-enabled word and whether it runs: `active` (also while
/// activating or reloading), `inactive` (also failed, or not loaded at all), or `unknown`.
pub(crate) fn desired_state(
    unit_files: &BTreeMap<String, String>,
    running: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, UnitState> {
    unit_files
        .iter()
        .map(|(unit, enabled)| {
            let running = match running {
                None => "unknown",
                Some(map) => match map.get(unit).map(String::as_str) {
                    Some("active" | "activating" | "reloading" | "refreshing") => "active",
                    _ => "inactive",
                },
            };
            (unit.clone(), UnitState { enabled: enabled.clone(), running: running.to_string() })
        })
        .collect()
}

pub(crate) fn render_desired_state(desired: &BTreeMap<String, UnitState>) -> String {
    desired.iter().map(|(u, s)| format!("{u} {} {}\n", s.enabled, s.running)).collect()
}

/// Reads the twin's `desired-state.txt`; errors carry the line number.
pub(crate) fn parse_desired_state(text: &str) -> std::result::Result<BTreeMap<String, UnitState>, String> {
    let mut res = BTreeMap::new();
    for (idx, line) in text.lines().enumerate() {
        let line_number = idx + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let [unit, enabled, running] = words[..] else {
            return Err(format!("desired-state.txt:{line_number}: expected `UNIT ENABLED RUNNING`"));
        };
        if !valid_unit_name(unit) {
            return Err(format!("desired-state.txt:{line_number}: '{unit}' is not a valid unit name"));
        }
        if !matches!(running, "active" | "inactive" | "unknown") {
            return Err(format!(
                "desired-state.txt:{line_number}: RUNNING is active, inactive or unknown, not '{running}'"
            ));
        }
        let state = UnitState { enabled: enabled.to_string(), running: running.to_string() };
        if res.insert(unit.to_string(), state).is_some() {
            return Err(format!("desired-state.txt:{line_number}: '{unit}' is listed twice"));
        }
    }
    Ok(res)
}

/// A systemd unit name: `name.type`, the name of ASCII letters, digits and `:-_.\@`, not
/// starting with `-` (so it can never be read as an option).
pub(crate) fn valid_unit_name(unit: &str) -> bool {
    let Some((name, kind)) = unit.rsplit_once('.') else { return false };
    let kinds = [
        "service",
        "socket",
        "target",
        "timer",
        "path",
        "mount",
        "automount",
        "swap",
        "slice",
        "scope",
        "device",
    ];
    !name.is_empty()
        && unit.len() <= 255
        && !name.starts_with('-')
        && kinds.contains(&kind)
        && name.chars().all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::sample;

    #[test]
    fn parses_real_list_unit_files_with_and_without_legend() {
        let printed = parse_list_unit_files(&sample("systemctl-list-unit-files.txt"));
        let plain = parse_list_unit_files(&sample("systemctl-list-unit-files-nolegend.txt"));
        assert_eq!(printed, plain);
        assert_eq!(printed["cron.service"], "enabled");
        assert!(printed.values().any(|v| v == "masked"));
        assert!(printed.values().any(|v| v == "static"));
        assert!(printed.keys().all(|u| u.ends_with(".service")));
    }

    #[test]
    fn offline_root_listing_matches_the_running_one() {
        let live = parse_list_unit_files(&sample("systemctl-list-unit-files-nolegend.txt"));
        let offline = parse_list_unit_files(&sample("systemctl-root-list-unit-files.txt"));
        assert_eq!(live.keys().collect::<Vec<_>>(), offline.keys().collect::<Vec<_>>());
    }

    #[test]
    fn parses_real_list_units() {
        let printed = parse_list_units(&sample("systemctl-list-units.txt"));
        let plain = parse_list_units(&sample("systemctl-list-units-nolegend.txt"));
        assert_eq!(printed, plain);
        assert_eq!(printed["cron.service"], "active");
        assert!(printed.values().any(|v| v == "inactive"));
    }

    #[test]
    fn desired_state_from_real_samples() {
        let files = parse_list_unit_files(&sample("systemctl-list-unit-files.txt"));
        let units = parse_list_units(&sample("systemctl-list-units.txt"));
        let desired = desired_state(&files, Some(&units));
        assert_eq!(
            desired["cron.service"],
            UnitState { enabled: "enabled".into(), running: "active".into() }
        );
        let text = render_desired_state(&desired);
        assert!(text.contains("cron.service enabled active\n"));
        assert_eq!(parse_desired_state(&text).unwrap(), desired);
        let offline = desired_state(&files, None);
        assert!(offline.values().all(|s| s.running == "unknown"));
    }

    #[test]
    fn bad_desired_state_lines() {
        assert!(parse_desired_state("cron.service enabled\n")
            .unwrap_err()
            .starts_with("desired-state.txt:1:"));
        assert!(parse_desired_state("x\n-bad.service enabled active\n")
            .unwrap_err()
            .starts_with("desired-state.txt:1:"));
        assert!(parse_desired_state("cron.service enabled running\n").unwrap_err().contains("RUNNING"));
        assert!(parse_desired_state("a.service enabled active\na.service disabled active\n")
            .unwrap_err()
            .contains("twice"));
    }

    #[test]
    fn unit_names() {
        for ok in [
            "cron.service",
            "getty@tty1.service",
            "getty@.service",
            "systemd-fsck@dev-disk-by\\x2duuid.service",
            "a.timer",
        ] {
            assert!(valid_unit_name(ok), "{ok}");
        }
        for bad in ["cron", "-x.service", "a b.service", "x.exe", ".service", "a;b.service"] {
            assert!(!valid_unit_name(bad), "{bad}");
        }
    }
}
