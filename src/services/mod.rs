//! Services: systemd's unit files and whether each service is enabled and running.
//!
//! `collect` reads only; the parsers are pure and tested on output captured from real Debian.
//! Offline (under `--root`, or where systemd is not PID 1) only the unit files can be read:
//! the running state is `unknown` then — TwinSync never guesses it. `plan` (pure) turns the
//! baseline, twin and live `desired-state.txt` into plan items; `apply` checks a services plan
//! against the machine and runs it with systemctl.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::host::{Cmd, Host};

mod apply;
mod plan;

pub(crate) use apply::{apply, check, describe, reverse, Checked};
pub(crate) use plan::plan;

/// The is-enabled words a plan can set (with `systemctl enable`, `disable`, `mask`); every
/// other word (static, alias, indirect, enabled-runtime, …) belongs to systemd or a package.
pub(crate) const PLANNABLE: [&str; 3] = ["enabled", "disabled", "masked"];

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
                Some(map) => running_word(map.get(unit).map_or("", String::as_str)),
            };
            (unit.clone(), UnitState { enabled: enabled.clone(), running: running.to_string() })
        })
        .collect()
}

/// The RUNNING word of a unit's ACTIVE state (`systemctl is-active`, or the ACTIVE column of
/// `list-units`): `active` also while activating or reloading, else `inactive` (also failed,
/// or not loaded at all).
pub(crate) fn running_word(active: &str) -> &'static str {
    match active {
        "active" | "activating" | "reloading" | "refreshing" => "active",
        _ => "inactive",
    }
}

/// The state of a unit as plan files (`#=`) and journals write it: `ENABLED:RUNNING`, like
/// `enabled:active`.
pub(crate) fn state_text(state: &UnitState) -> String {
    format!("{}:{}", state.enabled, state.running)
}

/// `ENABLED:RUNNING` back into its words; None when it is not such a state.
pub(crate) fn parse_state_text(text: &str) -> Option<UnitState> {
    let (enabled, running) = text.split_once(':')?;
    Some(UnitState { enabled: enabled.to_string(), running: running.to_string() })
}

/// The stdout of `systemctl is-enabled UNIT`: its word, or None when systemctl printed none
/// (the unit does not exist; the reason is on stderr).
pub(crate) fn parse_is_enabled(out: &str) -> Option<String> {
    out.split_whitespace().next().map(str::to_string)
}

/// The stdout of `systemctl is-active UNIT` as a RUNNING word, or None when systemctl printed
/// nothing (a template has no active state).
pub(crate) fn parse_is_active(out: &str) -> Option<&'static str> {
    out.split_whitespace().next().map(running_word)
}

/// A template (`getty@.service`): a unit for instances (`getty@tty1.service`), never running
/// itself.
pub(crate) fn is_template(unit: &str) -> bool {
    unit.rsplit_once('.').is_some_and(|(name, _)| name.ends_with('@'))
}

/// Why a unit with this is-enabled word is not planned: what the word means, and so who
/// decides it.
pub(crate) fn why_not_planned(word: &str) -> String {
    let why = match word {
        "static" => "a static unit has no [Install] section: it runs when another unit needs it",
        "alias" => "an alias is another name of a unit; plan the unit it points to",
        "indirect" => "an indirect unit is enabled through another unit (Also=) or is a template",
        "generated" => "a generated unit is made at boot by a systemd generator",
        "transient" => "a transient unit exists only while it runs",
        "enabled-runtime" | "masked-runtime" | "linked-runtime" => {
            "this is runtime state under /run, gone at the next boot"
        }
        "linked" => "a linked unit file lives outside systemd's unit folders",
        "bad" => "systemd cannot read the unit file (bad)",
        _ => return format!("`{word}` is not a state twinsync plans (only enabled, disabled, masked)"),
    };
    why.to_string()
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

    /// The `UNIT<TAB>stdout<TAB>exit code` lines of an `is-enabled`/`is-active` sample.
    fn sample_rows(name: &str) -> Vec<(String, String, String)> {
        sample(name)
            .lines()
            .map(|l| {
                let mut it = l.split('\t').map(str::to_string);
                (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
            })
            .collect()
    }

    #[test]
    fn is_enabled_agrees_with_list_unit_files() {
        for (rows, listing) in [
            ("systemctl-is-enabled.txt", "systemctl-list-unit-files.txt"),
            ("systemctl-root-is-enabled.txt", "systemctl-root-list-unit-files.txt"),
        ] {
            let files = parse_list_unit_files(&sample(listing));
            for (unit, out, code) in sample_rows(rows) {
                let word = parse_is_enabled(&out);
                match files.get(&unit) {
                    Some(listed) => assert_eq!(word.as_deref(), Some(listed.as_str()), "{rows}: {unit}"),
                    // Instances are not unit files; a unit that does not exist prints nothing.
                    None if unit == "getty@tty1.service" => assert_eq!(word.as_deref(), Some("enabled")),
                    None => assert!(word.is_none() && code == "1", "{rows}: {unit}"),
                }
            }
        }
        // Exit status 1 is an answer, not a failure: disabled and masked units say so.
        let rows = sample_rows("systemctl-is-enabled.txt");
        assert!(rows.iter().any(|(u, o, c)| u == "e2scrub_reap.service" && o == "masked" && c == "1"));
        assert!(rows.iter().any(|(_, o, _)| o == "enabled-runtime"));
    }

    #[test]
    fn is_active_agrees_with_list_units() {
        let listed = parse_list_units(&sample("systemctl-list-units.txt"));
        for (unit, out, _) in sample_rows("systemctl-is-active.txt") {
            let word = parse_is_active(&out);
            if is_template(&unit) {
                assert_eq!(word, None, "templates have no active state");
                continue;
            }
            let from_list = running_word(listed.get(&unit).map_or("", String::as_str));
            assert_eq!(word, Some(from_list), "{unit}");
        }
        assert_eq!(parse_is_active("failed\n"), Some("inactive"));
        assert_eq!(parse_is_active("activating\n"), Some("active"));
    }

    #[test]
    fn states_and_templates() {
        let st = UnitState { enabled: "enabled-runtime".into(), running: "active".into() };
        assert_eq!(state_text(&st), "enabled-runtime:active");
        assert_eq!(parse_state_text("enabled-runtime:active"), Some(st));
        assert_eq!(parse_state_text("enabled"), None);
        assert!(is_template("getty@.service") && is_template("autovt@.service"));
        assert!(!is_template("getty@tty1.service") && !is_template("cron.service"));
        assert!(why_not_planned("static").contains("[Install]"));
        assert!(why_not_planned("weird").contains("`weird`"));
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
