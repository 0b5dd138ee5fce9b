//! The plan files (SPEC §6): one grammar for the four domains.
//!
//! A plan file is lines of text. `VERB ARG` is an action (one space; ARG is the rest of the
//! line, so paths may hold spaces). `#= STATE ARG` records what the planner saw live for ARG;
//! `#+ STATE ARG` records the twin's version the plan was made from. Both belong to the action
//! (or the commented-out suggestion `#VERB ARG`) just above them. Every other line starting
//! with `#` is a note, kept word for word; so are blank lines. `render(parse(x)) == x` for every
//! plan `parse` accepts, which is what lets a person edit a plan by hand.
//!
//! `parse` checks the whole file before anything runs: the verbs of the domain, paths and names,
//! the syntax of every state, where record lines stand, and duplicates. Its errors read
//! `plan-files.txt:LINE: what is wrong`. What a state *means* (is it still true?) is for the
//! domain's `apply`.

use std::collections::BTreeMap;

use crate::name::Name;
use crate::twin::BlobId;

/// The four domains, in the order `apply all` runs them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub(crate) enum Domain {
    Packages,
    Files,
    Services,
    Startup,
}

impl Domain {
    pub(crate) const ALL: [Domain; 4] = [Domain::Packages, Domain::Files, Domain::Services, Domain::Startup];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Domain::Files => "files",
            Domain::Packages => "packages",
            Domain::Services => "services",
            Domain::Startup => "startup",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Domain> {
        Domain::ALL.into_iter().find(|d| d.name() == name)
    }

    /// `plan-files.txt`: the file's name inside `<twin>/plans/`, and the prefix of its errors.
    pub(crate) fn file_name(self) -> String {
        format!("plan-{}.txt", self.name())
    }

    pub(crate) fn verbs(self) -> &'static [&'static str] {
        match self {
            Domain::Files => &["CREATE", "REPLACE", "DELETE"],
            Domain::Packages => &["INSTALL", "REMOVE"],
            Domain::Services => &["ENABLE", "DISABLE", "START", "STOP", "MASK", "UNMASK"],
            Domain::Startup => &["UPDATE_USER_CRONTAB"],
        }
    }
}

/// One line of a plan file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum Line {
    /// `VERB ARG`
    Action { verb: String, arg: String },
    /// `#= STATE ARG`: what the planner saw live.
    Seen { state: String, arg: String },
    /// `#+ STATE ARG`: the twin's version the plan was made from.
    Wanted { state: String, arg: String },
    /// Any other line starting with `#`; the text after the `#`.
    Note(String),
    /// An empty line, or one of only spaces and tabs (kept as it was).
    Blank(String),
}

/// A whole plan file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Plan {
    pub(crate) domain: Domain,
    pub(crate) lines: Vec<Line>,
}

/// An action with the records that belong to it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Action {
    /// The 1-based line number, for messages.
    pub(crate) line: usize,
    pub(crate) verb: String,
    pub(crate) arg: String,
    pub(crate) seen: Option<String>,
    pub(crate) wanted: Option<String>,
}

/// What `parse` needs to know beyond the text: the captured roots (machine paths) that a files
/// plan may touch.
pub(crate) struct Scope<'a> {
    pub(crate) roots: &'a [String],
}

/// The header a planner writes first.
pub(crate) fn header(
    domain: Domain,
    twin: &str,
    baseline: Option<&str>,
    system: &str,
    device: &str,
) -> Vec<Line> {
    let written = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "unknown".to_string());
    let written = written.split('.').next().unwrap_or(&written).trim_end_matches('Z').to_string() + "Z";
    let short = |s: &str| s.chars().take(7).collect::<String>();
    let baseline = baseline.map(short).unwrap_or_else(|| "none".to_string());
    vec![
        Line::Note(format!(" twinsync plan: {}", domain.name())),
        Line::Note(format!(
            " twin {} · baseline {baseline} · system {system} on {device} · written {written}",
            short(twin)
        )),
        Line::Note(format!(
            " Delete a line to skip it. Lines starting with # are notes. Apply: twinsync apply {}",
            domain.name()
        )),
    ]
}

impl Plan {
    pub(crate) fn render(&self) -> String {
        let mut res = String::new();
        for line in &self.lines {
            match line {
                Line::Action { verb, arg } => res.push_str(&format!("{verb} {arg}")),
                Line::Seen { state, arg } => res.push_str(&format!("#= {state} {arg}")),
                Line::Wanted { state, arg } => res.push_str(&format!("#+ {state} {arg}")),
                Line::Note(text) => res.push_str(&format!("#{text}")),
                Line::Blank(text) => res.push_str(text),
            }
            res.push('\n');
        }
        res
    }

    /// The actions, in order, with their records.
    pub(crate) fn actions(&self) -> Vec<Action> {
        let mut res: Vec<Action> = Vec::new();
        let mut current: Option<usize> = None;
        for (idx, line) in self.lines.iter().enumerate() {
            match line {
                Line::Action { verb, arg } => {
                    res.push(Action {
                        line: idx + 1,
                        verb: verb.clone(),
                        arg: arg.clone(),
                        seen: None,
                        wanted: None,
                    });
                    current = Some(res.len() - 1);
                }
                Line::Seen { state, .. } => {
                    if let Some(i) = current {
                        res[i].seen = Some(state.clone());
                    }
                }
                Line::Wanted { state, .. } => {
                    if let Some(i) = current {
                        res[i].wanted = Some(state.clone());
                    }
                }
                Line::Note(_) | Line::Blank(_) => current = None,
            }
        }
        res
    }

    /// The system the plan was made for (`system / on laptop` in the header), if it says.
    pub(crate) fn system(&self) -> Option<String> {
        self.lines.iter().take(5).find_map(|l| match l {
            Line::Note(text) => text
                .split(" · ")
                .find_map(|part| part.strip_prefix("system "))
                .and_then(|s| s.rsplit_once(" on ").map(|(sys, _)| sys.to_string())),
            _ => None,
        })
    }
}

/// Parses and checks a whole plan file. The error is `plan-DOMAIN.txt:LINE: what is wrong`.
pub(crate) fn parse(domain: Domain, bytes: &[u8], scope: &Scope) -> Result<Plan, String> {
    let file = domain.file_name();
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
            return Err(format!("{file}:{line}: not UTF-8 text; save the plan as UTF-8"));
        }
    };
    if text.starts_with('\u{feff}') {
        return Err(format!(
            "{file}:1: the file starts with a byte-order mark; save the plan as UTF-8 without it"
        ));
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    let raw: Vec<&str> = if text.is_empty() { Vec::new() } else { body.split('\n').collect() };

    let mut lines = Vec::new();
    // The line an `#=`/`#+` line may belong to: (its ARG, whether it is a real action).
    let mut owner: Option<(String, bool)> = None;
    let mut seen_record = (false, false);
    let mut keys: BTreeMap<String, usize> = BTreeMap::new();
    for (idx, &l) in raw.iter().enumerate() {
        let n = idx + 1;
        let err = |what: String| format!("{file}:{n}: {what}");
        if l.trim_matches([' ', '\t']).is_empty() {
            lines.push(Line::Blank(l.to_string()));
            owner = None;
            continue;
        }
        if let Some(rest) = l.strip_prefix("#=").or_else(|| l.strip_prefix("#+")) {
            let seen = l.starts_with("#=");
            let mark = if seen { "#=" } else { "#+" };
            let Some(rest) = rest.strip_prefix(' ') else {
                return Err(err(format!("a `{mark}` line is `{mark} STATE ARG`")));
            };
            let Some((state, arg)) = rest.split_once(' ') else {
                return Err(err(format!("a `{mark}` line is `{mark} STATE ARG`; the ARG is missing")));
            };
            let Some((owner_arg, _)) = &owner else {
                return Err(err(format!("a `{mark}` line must follow the action it describes")));
            };
            if arg != owner_arg {
                return Err(err(format!(
                    "this `{mark}` line is for '{}' but the action above is for '{}'",
                    shown(arg),
                    shown(owner_arg)
                )));
            }
            let twice = if seen { seen_record.0 } else { seen_record.1 };
            if twice {
                return Err(err(format!("a second `{mark}` line for '{}'", shown(arg))));
            }
            if seen {
                seen_record.0 = true;
            } else {
                seen_record.1 = true;
            }
            check_state(domain, state).map_err(err)?;
            lines.push(if seen {
                Line::Seen { state: state.to_string(), arg: arg.to_string() }
            } else {
                Line::Wanted { state: state.to_string(), arg: arg.to_string() }
            });
            continue;
        }
        if let Some(text) = l.strip_prefix('#') {
            // A commented-out suggestion (`#REPLACE /etc/motd`) may carry records too, so that
            // uncommenting it gives a checked action.
            owner = match text.split_once(' ') {
                Some((verb, arg)) if domain.verbs().contains(&verb) && !arg.is_empty() => {
                    Some((arg.to_string(), false))
                }
                _ => None,
            };
            seen_record = (false, false);
            lines.push(Line::Note(text.to_string()));
            continue;
        }
        if l.contains('\r') {
            return Err(err(
                "the line ends in a carriage return (CRLF); save the plan with plain Unix lines".into(),
            ));
        }
        let (verb, arg) = match l.split_once(' ') {
            Some((v, a)) => (v, a),
            None => (l, ""),
        };
        if verb.is_empty() {
            return Err(err(
                "a line starts with a space; an action is `VERB ARG` at the start of the line".into()
            ));
        }
        if !domain.verbs().contains(&verb) {
            let hint = if Domain::ALL.iter().any(|d| d.verbs().contains(&verb)) {
                format!("{verb} belongs in another plan file")
            } else {
                format!("unknown verb '{}'", shown(verb))
            };
            return Err(err(format!("{hint}; a {} plan knows {}", domain.name(), domain.verbs().join(", "))));
        }
        if arg.is_empty() {
            return Err(err(format!("{verb} needs an argument: `{verb} {}`", arg_word(domain))));
        }
        check_arg(domain, verb, arg, scope).map_err(err)?;
        let key = conflict_key(domain, verb, arg);
        if let Some(first) = keys.insert(key, n) {
            let what = if domain == Domain::Startup {
                "the crontab".to_string()
            } else {
                format!("'{}'", shown(arg))
            };
            return Err(err(format!("{what} is already planned on line {first}; keep one line for it")));
        }
        lines.push(Line::Action { verb: verb.to_string(), arg: arg.to_string() });
        owner = Some((arg.to_string(), true));
        seen_record = (false, false);
    }
    Ok(Plan { domain, lines })
}

fn arg_word(domain: Domain) -> &'static str {
    match domain {
        Domain::Files => "/absolute/path",
        Domain::Packages => "NAME[=VERSION]",
        Domain::Services => "UNIT",
        Domain::Startup => "PATH",
    }
}

/// Lines that may not stand together: one line per path (files), per package, per unit and
/// pair of opposite verbs (services), one crontab.
fn conflict_key(domain: Domain, verb: &str, arg: &str) -> String {
    match domain {
        Domain::Files => arg.to_string(),
        Domain::Packages => arg.split('=').next().unwrap_or(arg).to_string(),
        Domain::Services => {
            let pair = match verb {
                "ENABLE" | "DISABLE" => "enablement",
                "START" | "STOP" => "running",
                _ => "mask",
            };
            format!("{pair} {arg}")
        }
        Domain::Startup => "crontab".to_string(),
    }
}

/// A shortened, printable form of user input for messages.
fn shown(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().count() > 60 {
        s.chars().take(60).collect::<String>() + "…"
    } else {
        s
    }
}

fn check_arg(domain: Domain, verb: &str, arg: &str, scope: &Scope) -> Result<(), String> {
    if arg.chars().any(|c| c.is_control()) {
        return Err(format!(
            "'{}' holds a control character (a CRLF line ending?); save the plan with plain Unix lines",
            shown(arg)
        ));
    }
    match domain {
        Domain::Files => check_machine_path(arg, scope.roots),
        Domain::Packages => {
            let (name, version) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg, None),
            };
            if !crate::packages::valid_package_name(name) {
                return Err(format!("'{}' is not a valid package name", shown(name)));
            }
            match version {
                Some(v) if verb == "REMOVE" => {
                    Err(format!("REMOVE takes a name without a version, not '={}'", shown(v)))
                }
                Some(v) if !valid_version(v) => Err(format!("'{}' is not a valid package version", shown(v))),
                _ => Ok(()),
            }
        }
        Domain::Services => {
            if crate::services::valid_unit_name(arg) {
                Ok(())
            } else {
                Err(format!("'{}' is not a valid unit name (like cron.service)", shown(arg)))
            }
        }
        Domain::Startup => {
            let bad = arg.starts_with('/')
                || arg.starts_with('-')
                || arg.split('/').any(|s| s.is_empty() || s == "." || s == "..");
            if bad {
                Err(format!(
                    "'{}' must be a path inside the twin, like {}",
                    shown(arg),
                    crate::snapshot::CRONTAB_TXT
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// A machine path a files plan may name: absolute, plain (no `.`, `..` or empty segment), and
/// inside one of the captured roots.
pub(crate) fn check_machine_path(path: &str, roots: &[String]) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("'{}' is a relative path; give the absolute path, like /etc/hosts", shown(path)));
    }
    let segments: Vec<&str> = path[1..].split('/').collect();
    if segments.contains(&"..") {
        return Err(format!("'{}' holds '..'; give the path without it", shown(path)));
    }
    if segments.iter().any(|s| s.is_empty() || *s == ".") {
        return Err(format!("'{}' is not a plain path (an empty or '.' part)", shown(path)));
    }
    let inside = roots.iter().any(|r| {
        let r = r.trim_end_matches('/');
        path.strip_prefix(r).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
    });
    if !inside {
        return Err(format!(
            "'{}' is outside the captured roots ({}); twinsync only changes files it captures",
            shown(path),
            roots.join(" ")
        ));
    }
    Ok(())
}

fn valid_version(v: &str) -> bool {
    !v.is_empty()
        && v.starts_with(|c: char| c.is_ascii_digit())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || ".+~:-".contains(c))
}

fn check_state(domain: Domain, state: &str) -> Result<(), String> {
    let ok = match domain {
        Domain::Files => FileState::parse(state).is_some(),
        Domain::Packages => state == "absent" || state.strip_prefix("installed:").is_some_and(valid_version),
        Domain::Services => state.split_once(':').is_some_and(|(a, b)| {
            let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            word(a) && word(b)
        }),
        Domain::Startup => {
            state == "absent" || state.strip_prefix("sha1:").and_then(BlobId::from_hex).is_some()
        }
    };
    if ok {
        Ok(())
    } else {
        let expected = match domain {
            Domain::Files => "absent, sha1:ID:MODE:OWNER:GROUP, sha1:ID or link:ID:OWNER:GROUP",
            Domain::Packages => "absent or installed:VERSION",
            Domain::Services => "ENABLED:RUNNING, like enabled:active",
            Domain::Startup => "absent or sha1:ID",
        };
        Err(format!("'{}' is not a state; expected {expected}", shown(state)))
    }
}

/// How a difference between the twin and the machine came about (SPEC §5).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Class {
    /// The twin was edited: an action line.
    Desired,
    /// The machine changed since the snapshot: a commented-out suggestion.
    Drift,
    /// Both changed: a commented-out suggestion.
    Conflict,
}

/// SPEC §5 for one item: None when the twin and the machine agree. `base` is None without a
/// baseline (or with `--mirror`): then every difference is desired. Otherwise it says whether
/// the twin, and the machine, are as the baseline has the item.
pub(crate) fn classify(twin_is_live: bool, base: Option<(bool, bool)>) -> Option<Class> {
    if twin_is_live {
        return None;
    }
    Some(match base {
        None => Class::Desired,
        Some((true, _)) => Class::Drift,
        Some((false, true)) => Class::Desired,
        Some((false, false)) => Class::Conflict,
    })
}

/// `git status --short`'s letter for one side of an item against its base: `A` added, `D`
/// deleted, `M` modified, a space when they are the same.
pub(crate) fn status_letter(now: bool, before: bool, same: bool) -> char {
    match (now, before) {
        _ if same => ' ',
        (true, false) => 'A',
        (false, true) => 'D',
        _ => 'M',
    }
}

/// One difference of a keyed domain (a package, a unit, the crontab), as a planner decided it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Planned {
    /// The package, unit, or user whose crontab it is.
    pub(crate) key: String,
    pub(crate) class: Class,
    /// The lines that make the machine as the twin has it (`("ENABLE", "cron.service")`); empty
    /// when TwinSync cannot or will not do it (then `note` says why).
    pub(crate) actions: Vec<(&'static str, String)>,
    /// The machine's state of the item, for the `#=` line under each action.
    pub(crate) seen: String,
    /// The twin's version, for a `#+` line (startup only).
    pub(crate) wanted: Option<String>,
    /// A note shown above the lines: why nothing is planned, or a warning.
    pub(crate) note: Option<String>,
    /// Two letters for `status`, like `git status --short`: the twin's side, the machine's side.
    pub(crate) letters: String,
}

/// The plan lines of a keyed domain: actions (or commented-out suggestions for drift and
/// conflicts) with a `#=` (and `#+`) record under each.
pub(crate) fn render_planned(items: &[Planned]) -> Vec<Line> {
    let mut lines = Vec::new();
    for item in items {
        if let Some(note) = &item.note {
            lines.push(Line::Note(format!(" {note}")));
        }
        if item.actions.is_empty() {
            continue;
        }
        let key = &item.key;
        match item.class {
            Class::Desired => {}
            Class::Drift => lines.push(Line::Note(format!(
                " drift: {key} changed on this machine since the last snapshot; uncomment the line(s) \
                 below to make it as the twin has it, or run `twinsync snapshot` to take it into the twin"
            ))),
            Class::Conflict => lines.push(Line::Note(format!(
                " conflict: {key} changed both in the twin and on this machine since the last snapshot; \
                 uncomment the line(s) below to make it as the twin has it"
            ))),
        }
        for (verb, arg) in &item.actions {
            let action = format!("{verb} {arg}");
            lines.push(match item.class {
                Class::Desired => Line::Action { verb: verb.to_string(), arg: arg.clone() },
                _ => Line::Note(action),
            });
            lines.push(Line::Seen { state: item.seen.clone(), arg: arg.clone() });
            if let Some(w) = &item.wanted {
                lines.push(Line::Wanted { state: w.clone(), arg: arg.clone() });
            }
        }
    }
    lines
}

/// The state of one file path, as the `#=` and `#+` lines of a files plan write it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) enum FileState {
    Absent,
    /// A regular file: the blob id of its content and, when known, its mode, owner and group.
    File {
        oid: BlobId,
        meta: Option<Meta>,
    },
    /// A symlink: the blob id of its target and, when known, its owner and group.
    Link {
        oid: BlobId,
        owner: Option<(Name, Name)>,
    },
    /// A folder stands there.
    Dir,
    /// A fifo, socket or device stands there.
    Other,
}

/// Mode, owner and group of a file.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Meta {
    pub(crate) mode: u32,
    pub(crate) owner: Name,
    pub(crate) group: Name,
}

fn is_mode(s: &str) -> bool {
    s.len() == 4 && s.bytes().all(|b| (b'0'..=b'7').contains(&b))
}

fn valid_account(name: &str) -> bool {
    !name.is_empty() && !name.contains([':', ' ']) && !name.chars().any(char::is_control)
}

impl FileState {
    pub(crate) fn parse(s: &str) -> Option<FileState> {
        match s {
            "absent" => return Some(FileState::Absent),
            "dir" => return Some(FileState::Dir),
            "other" => return Some(FileState::Other),
            _ => {}
        }
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["sha1", oid] => Some(FileState::File { oid: BlobId::from_hex(oid)?, meta: None }),
            ["sha1", oid, mode, owner, group]
                if is_mode(mode) && valid_account(owner) && valid_account(group) =>
            {
                let mode = u32::from_str_radix(mode, 8).ok()?;
                Some(FileState::File {
                    oid: BlobId::from_hex(oid)?,
                    meta: Some(Meta { mode, owner: Name::from(*owner), group: Name::from(*group) }),
                })
            }
            ["link", oid] => Some(FileState::Link { oid: BlobId::from_hex(oid)?, owner: None }),
            ["link", oid, owner, group] if valid_account(owner) && valid_account(group) => {
                Some(FileState::Link {
                    oid: BlobId::from_hex(oid)?,
                    owner: Some((Name::from(*owner), Name::from(*group))),
                })
            }
            _ => None,
        }
    }

    pub(crate) fn render(&self) -> String {
        match self {
            FileState::Absent => "absent".to_string(),
            FileState::Dir => "dir".to_string(),
            FileState::Other => "other".to_string(),
            FileState::File { oid, meta: None } => format!("sha1:{oid}"),
            FileState::File { oid, meta: Some(m) } => {
                format!("sha1:{oid}:{:04o}:{}:{}", m.mode, m.owner, m.group)
            }
            FileState::Link { oid, owner: None } => format!("link:{oid}"),
            FileState::Link { oid, owner: Some((o, g)) } => format!("link:{oid}:{o}:{g}"),
        }
    }
}

#[cfg(test)]
mod tests;
