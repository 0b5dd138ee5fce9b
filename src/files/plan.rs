//! Three-way planning of file changes (SPEC §5). Pure: no I/O, cannot fail, tested on data.
//!
//! Each path is compared in three states: B the baseline (what the last snapshot observed), T
//! the twin's working tree, L the machine now. The twin changed and the machine did not: a
//! desired change, an action line. The machine changed and the twin did not: drift. Both
//! changed: a conflict. Drift and conflicts become commented-out lines with a note, so a
//! person can uncomment them to make the machine equal to the twin anyway. With no baseline (a
//! fresh clone) or `--mirror`, every difference is a desired change.

pub(crate) use crate::planfile::Class;
use crate::planfile::{FileState, Line};
use crate::sorted::{next_key, take};

/// The three states of every path: lists of (machine path, state), each sorted by path with
/// no path twice (lists, not maps: they are built in path order and walked side by side,
/// never searched). A path missing from a list is absent there.
#[derive(Default, Debug)]
pub(crate) struct States {
    /// None: no baseline (or `--mirror`): plan two-way.
    pub(crate) baseline: Option<Vec<(String, FileState)>>,
    pub(crate) twin: Vec<(String, FileState)>,
    pub(crate) live: Vec<(String, FileState)>,
}

/// One path where the twin and the machine differ.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct Item {
    pub(crate) path: String,
    pub(crate) class: Class,
    /// The verb that makes the machine equal to the twin; None when TwinSync cannot (a folder
    /// or a special file stands there).
    pub(crate) verb: Option<&'static str>,
    pub(crate) twin: FileState,
    pub(crate) live: FileState,
    pub(crate) base: FileState,
}

impl Item {
    /// The `git status`-like two letters: what the twin did (vs the baseline), what the
    /// machine did. Two-way items show the twin's side only.
    pub(crate) fn letters(&self, two_way: bool) -> String {
        let side = |now: &FileState, before: &FileState| {
            if same(now, before) {
                ' '
            } else if is_absent(before) {
                'A'
            } else if is_absent(now) {
                'D'
            } else {
                'M'
            }
        };
        if two_way {
            return format!("{} ", side(&self.twin, &self.live));
        }
        format!("{}{}", side(&self.twin, &self.base), side(&self.live, &self.base))
    }
}

fn is_absent(s: &FileState) -> bool {
    matches!(s, FileState::Absent)
}

/// Equal as far as both sides say: content and kind always; mode, owner and group where both
/// sides know them (a twin file without a `metadata.txt` line asks for no particular mode).
pub(crate) fn same(a: &FileState, b: &FileState) -> bool {
    use FileState::*;
    match (a, b) {
        (Absent, Absent) | (Dir, Dir) | (Other, Other) => true,
        (File { oid: x, meta: mx }, File { oid: y, meta: my }) => {
            x == y && (mx.is_none() || my.is_none() || mx == my)
        }
        (Link { oid: x, owner: ox }, Link { oid: y, owner: oy }) => {
            x == y && (ox.is_none() || oy.is_none() || ox == oy)
        }
        _ => false,
    }
}

/// The verb that turns `live` into `twin`.
fn verb(twin: &FileState, live: &FileState) -> Option<&'static str> {
    use FileState::*;
    match (twin, live) {
        (Absent, File { .. } | Link { .. }) => Some("DELETE"),
        (File { .. } | Link { .. }, Absent) => Some("CREATE"),
        (File { .. } | Link { .. }, File { .. } | Link { .. }) => Some("REPLACE"),
        _ => None,
    }
}

/// Every path where the twin and the machine differ, sorted by path.
pub(crate) fn plan(states: &States) -> Vec<Item> {
    let absent = FileState::Absent;
    let sorted = |l: &[(String, FileState)]| l.windows(2).all(|w| w[0].0 < w[1].0);
    debug_assert!(
        sorted(&states.twin) && sorted(&states.live) && states.baseline.as_deref().is_none_or(sorted)
    );
    // The three sorted lists walked side by side; only what is planned is copied.
    let mut ts = pairs(&states.twin).peekable();
    let mut ls = pairs(&states.live).peekable();
    let mut bs = pairs(states.baseline.as_deref().unwrap_or_default()).peekable();
    let mut res = Vec::new();
    while let Some(path) = next_key([ts.peek().map(|e| e.0), ls.peek().map(|e| e.0), bs.peek().map(|e| e.0)])
    {
        let t = take(&mut ts, path).unwrap_or(&absent);
        let l = take(&mut ls, path).unwrap_or(&absent);
        let b = take(&mut bs, path);
        if same(t, l) || (is_absent(t) && matches!(l, FileState::Dir)) {
            continue;
        }
        let b = states.baseline.as_ref().map(|_| b.unwrap_or(&absent));
        let class = match b {
            None => Class::Desired,
            Some(b) => match (same(t, b), same(l, b)) {
                (true, _) => Class::Drift,
                (false, true) => Class::Desired,
                (false, false) => Class::Conflict,
            },
        };
        res.push(Item {
            path: path.clone(),
            class,
            verb: verb(t, l),
            twin: t.clone(),
            live: l.clone(),
            base: b.cloned().unwrap_or(FileState::Absent),
        });
    }
    res
}

/// A sorted list as the (key, value) pairs `sorted::take` walks.
fn pairs(list: &[(String, FileState)]) -> impl Iterator<Item = (&String, &FileState)> {
    list.iter().map(|(p, s)| (p, s))
}

/// The plan file's lines after the header: actions with their `#=`/`#+` records, drift and
/// conflicts as commented-out suggestions with a note, and warnings.
pub(crate) fn render(items: &[Item]) -> Vec<Line> {
    let mut lines = Vec::new();
    for item in items {
        let path = &item.path;
        let Some(verb) = item.verb else {
            let what = match item.live {
                FileState::Dir => "a folder stands there on this machine",
                _ => "something other than a file stands there (or on the way there) on this machine",
            };
            lines.push(Line::Note(format!(
                " cannot plan {path}: {what}; twinsync never writes through it. Fix it by hand, then plan again"
            )));
            continue;
        };
        if verb != "DELETE" {
            if let Some(warning) = super::ignored_by_reader(path) {
                lines.push(Line::Note(format!(" warning: {warning}")));
            }
        }
        let action = Line::Action { verb: verb.to_string(), arg: path.clone() };
        match item.class {
            Class::Desired => lines.push(action),
            Class::Drift => {
                let what = match (&item.base, &item.live) {
                    (FileState::Absent, _) => "was created",
                    (_, FileState::Absent) => "was deleted",
                    _ => "changed",
                };
                lines.push(Line::Note(format!(
                    " drift: {path} {what} on this machine since the last snapshot; uncomment the next \
                     line to make it as the twin has it, or run `twinsync snapshot` to take it into the twin"
                )));
                lines.push(Line::Note(format!("{verb} {path}")));
            }
            Class::Conflict => {
                lines.push(Line::Note(format!(
                    " conflict: {path} changed both in the twin and on this machine since the last \
                     snapshot; see `twinsync diff {path}`, and uncomment the next line to use the twin's version"
                )));
                lines.push(Line::Note(format!("{verb} {path}")));
            }
        }
        lines.push(Line::Seen { state: item.live.render(), arg: path.clone() });
        lines.push(Line::Wanted { state: item.twin.render(), arg: path.clone() });
    }
    lines
}

#[cfg(test)]
mod tests;
