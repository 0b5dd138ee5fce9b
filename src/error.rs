//! The one error type of TwinSync.
//!
//! Every error is built by a constructor function below, so all the ways TwinSync can fail are
//! listed in one place. Messages are lower case, say what failed, and say what to do next. The
//! exit code travels with the error: 2 for bad usage or bad input (and then nothing changed), 1
//! for everything else.

use std::fmt;

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Clone)]
pub(crate) struct Error {
    message: String,
    code: u8,
    tool_missing: bool,
}

impl Error {
    /// Bad usage: an unknown option, a missing argument. Exit 2.
    pub(crate) fn usage(message: impl Into<String>) -> Error {
        Error { message: message.into(), code: 2, tool_missing: false }
    }

    /// Bad input: a malformed config value, plan line or exclusion pattern. Exit 2.
    pub(crate) fn bad_input(message: impl Into<String>) -> Error {
        Error { message: message.into(), code: 2, tool_missing: false }
    }

    /// Something failed while doing the work. Exit 1.
    pub(crate) fn failed(message: impl Into<String>) -> Error {
        Error { message: message.into(), code: 1, tool_missing: false }
    }

    /// No twin repository is known: neither `--twin` nor `twin_dir` in the config.
    pub(crate) fn no_twin() -> Error {
        Error::failed("no twin repository is set up: run `twinsync init` (or pass --twin DIR)".to_string())
    }

    /// A program TwinSync needs is not on PATH.
    pub(crate) fn tool_missing(program: &str, summary: &str) -> Error {
        Error {
            message: format!(
                "cannot {summary}: `{program}` is not installed (not found on PATH); \
                 `twinsync deps` lists what TwinSync uses"
            ),
            code: 1,
            tool_missing: true,
        }
    }

    /// A program ran and failed.
    pub(crate) fn command(summary: &str, cmdline: &str, status: &str, stderr: &[u8]) -> Error {
        let mut message = format!("failed to {summary}\n  command: {cmdline}\n  {status}");
        let tail = stderr_tail(stderr);
        if !tail.is_empty() {
            message.push_str("\n  stderr:");
            for line in tail.lines() {
                message.push_str("\n    ");
                message.push_str(line);
            }
        }
        Error::failed(message)
    }

    /// A program could not even be started.
    pub(crate) fn spawn(summary: &str, cmdline: &str, err: impl fmt::Display) -> Error {
        Error::failed(format!("failed to {summary}: could not run `{cmdline}`: {err}"))
    }

    /// An I/O error, with what TwinSync was doing. `fs_err` errors already name the path.
    pub(crate) fn io(doing: &str, err: std::io::Error) -> Error {
        Error::failed(format!("failed to {doing}: {err}"))
    }

    pub(crate) fn exit_code(&self) -> u8 {
        self.code
    }

    pub(crate) fn is_tool_missing(&self) -> bool {
        self.tool_missing
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }
}

/// The last lines of a command's stderr: enough to see why it failed, not a wall of text.
fn stderr_tail(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(12);
    lines[start..].join("\n")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::failed(err.to_string())
    }
}

impl From<lexopt::Error> for Error {
    fn from(err: lexopt::Error) -> Error {
        Error::usage(format!("{err}; see `twinsync --help`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_error_shows_command_status_and_stderr_tail() {
        let stderr = (1..=20).map(|i| format!("line {i}\n")).collect::<String>();
        let err = Error::command("list packages", "dpkg-query --show", "exit status 2", stderr.as_bytes());
        let text = err.to_string();
        assert!(text.starts_with("failed to list packages\n  command: dpkg-query --show\n  exit status 2"));
        assert!(text.contains("line 20") && text.contains("line 9") && !text.contains("line 8\n"));
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn usage_and_input_errors_exit_2() {
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::bad_input("x").exit_code(), 2);
        assert_eq!(Error::failed("x").exit_code(), 1);
    }
}
