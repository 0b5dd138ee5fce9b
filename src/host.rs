//! The one chokepoint to the outside world.
//!
//! Nothing outside this module starts a process, and nothing outside it turns a machine path
//! (`/etc/hosts`, as the machine itself sees it) into a path on this computer (`<root>/etc/hosts`
//! under `--root`). Every command carries a human summary, runs with `LC_ALL=C` and stdin closed
//! (or fed from memory), and a failure shows the command, its exit status and its stderr tail.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The system TwinSync reads and changes: `/` or a mounted disk (`--root`).
#[derive(Clone)]
pub(crate) struct Host {
    root: PathBuf,
}

/// A command to run: the program, its arguments, and what it is for.
pub(crate) struct Cmd {
    program: String,
    args: Vec<OsString>,
    summary: String,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    ok_codes: Vec<i32>,
}

/// What a finished command printed.
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl Output {
    pub(crate) fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

impl Cmd {
    /// `summary` completes "failed to …", e.g. "list the installed packages".
    pub(crate) fn new(program: &str, summary: impl Into<String>) -> Cmd {
        Cmd {
            program: program.to_string(),
            args: Vec::new(),
            summary: summary.into(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdin: None,
            ok_codes: vec![0],
        }
    }

    pub(crate) fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub(crate) fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub(crate) fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env.push((key.as_ref().to_os_string(), value.as_ref().to_os_string()));
        self
    }

    /// Removes a variable of TwinSync's own environment; a later `env` of the same key wins.
    pub(crate) fn env_remove(mut self, key: &str) -> Cmd {
        self.env_remove.push(key.into());
        self
    }

    pub(crate) fn stdin(mut self, bytes: Vec<u8>) -> Cmd {
        self.stdin = Some(bytes);
        self
    }

    /// Exit codes that are answers rather than failures (`crontab -l` says 1 for "none").
    pub(crate) fn ok_codes(mut self, codes: &[i32]) -> Cmd {
        self.ok_codes = codes.to_vec();
        self
    }

    /// The command line as a person would type it, for messages.
    pub(crate) fn display(&self) -> String {
        let mut res = self.program.clone();
        for arg in &self.args {
            res.push(' ');
            res.push_str(&shell_quote(&arg.to_string_lossy()));
        }
        res
    }
}

impl Host {
    pub(crate) fn new(root: &Path) -> Host {
        Host { root: root.to_path_buf() }
    }

    /// True when TwinSync works on the running system itself, not on a mounted disk.
    pub(crate) fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Maps a machine path (absolute, as the machine sees it) onto this computer.
    pub(crate) fn path(&self, machine_path: &str) -> PathBuf {
        let rel = machine_path.trim_start_matches('/');
        if rel.is_empty() {
            return self.root.clone();
        }
        self.root.join(rel)
    }

    /// systemd is the running init of the machine: only then do start and stop mean anything.
    pub(crate) fn systemd_running(&self) -> bool {
        self.is_live() && Path::new("/run/systemd/system").is_dir()
    }

    /// Whether `program` can be found on PATH.
    pub(crate) fn has_program(&self, program: &str) -> bool {
        find_program(program).is_some()
    }

    /// Runs a dialog program (whiptail, stty) on the person's terminal: stdin and stdout are
    /// inherited, so it draws on the terminal and reads the keys, and stderr is captured,
    /// because that is where whiptail writes the answer (what a shell does with
    /// `3>&1 1>&2 2>&3`). Returns the exit status (whiptail: 0 OK/Yes, 1 Cancel/No, 255 Esc)
    /// and stderr. Unlike `run`, the locale is left as it is: the dialog is for the person.
    pub(crate) fn run_interactive(&self, cmd: &Cmd) -> Result<(i32, String)> {
        use std::process::Stdio;
        let Some(program) = find_program(&cmd.program) else {
            return Err(Error::tool_missing(&cmd.program, &cmd.summary));
        };
        let mut x = std::process::Command::new(program);
        x.args(&cmd.args).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::piped());
        for k in &cmd.env_remove {
            x.env_remove(k);
        }
        for (k, v) in &cmd.env {
            x.env(k, v);
        }
        let out = x.output().map_err(|e| Error::spawn(&cmd.summary, &cmd.display(), e))?;
        Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned()))
    }

    /// Runs a command to completion and captures what it printed. A status outside the
    /// command's ok codes is an error that shows the command, the status and the stderr tail.
    pub(crate) fn run(&self, cmd: &Cmd) -> Result<Output> {
        let Some(program) = find_program(&cmd.program) else {
            return Err(Error::tool_missing(&cmd.program, &cmd.summary));
        };
        let sh = xshell::Shell::new().map_err(|e| Error::spawn(&cmd.summary, &cmd.display(), e))?;
        let mut x =
            sh.cmd(program).args(&cmd.args).env("LC_ALL", "C").env_remove("LANGUAGE").quiet().ignore_status();
        for k in &cmd.env_remove {
            x = x.env_remove(k);
        }
        for (k, v) in &cmd.env {
            x = x.env(k, v);
        }
        if let Some(bytes) = &cmd.stdin {
            x = x.stdin(bytes);
        }
        let out = x.output().map_err(|e| Error::spawn(&cmd.summary, &cmd.display(), e))?;
        finished(cmd, out)
    }

    /// Runs a command like `run`, its stdin written by `feed` while it runs: for input too
    /// large to hold in memory (a snapshot streams every new file into `git fast-import`).
    /// stdout and stderr are read meanwhile, so neither side waits on a full pipe. An error of
    /// `feed` is reported, unless it is the broken pipe of a command that failed: then the
    /// command's failure is.
    pub(crate) fn run_fed(
        &self,
        cmd: &Cmd,
        feed: impl FnOnce(&mut dyn std::io::Write) -> Result<()> + Send,
    ) -> Result<Output> {
        use std::io::Write;
        use std::process::Stdio;
        let Some(program) = find_program(&cmd.program) else {
            return Err(Error::tool_missing(&cmd.program, &cmd.summary));
        };
        let mut x = std::process::Command::new(program);
        x.args(&cmd.args).env("LC_ALL", "C").env_remove("LANGUAGE");
        x.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        for k in &cmd.env_remove {
            x.env_remove(k);
        }
        for (k, v) in &cmd.env {
            x.env(k, v);
        }
        let mut child = x.spawn().map_err(|e| Error::spawn(&cmd.summary, &cmd.display(), e))?;
        let stdin = child.stdin.take();
        let (fed, out) = std::thread::scope(|s| {
            let feeder = s.spawn(move || {
                // Invariant: stdin was set to piped above, so the child has one.
                let Some(stdin) = stdin else {
                    return (Err(Error::failed("no pipe to the command's input")), false);
                };
                let mut w = Pipe { inner: std::io::BufWriter::with_capacity(1 << 18, stdin), broke: false };
                let res = feed(&mut w)
                    .and_then(|_| w.flush().map_err(|e| Error::io(&format!("feed `{}`", cmd.display()), e)));
                (res, w.broke)
            });
            let out = child.wait_with_output();
            (feeder.join(), out)
        });
        let (fed, pipe_broke) = fed.unwrap_or_else(|_| {
            (Err(Error::failed(format!("feeding `{}` stopped in a panic", cmd.display()))), false)
        });
        // The feeder's own failure (a file it could not read) explains a cut-off input better
        // than the command's complaint about it.
        let fed = match (fed, pipe_broke) {
            (Err(e), false) => return Err(e),
            (fed, _) => fed,
        };
        let out = out.map_err(|e| Error::spawn(&cmd.summary, &cmd.display(), e))?;
        let out = finished(cmd, out)?;
        fed?;
        Ok(out)
    }
}

/// A finished command's output, or the error that shows its command line, its status and its
/// stderr tail when the status is not one of its ok codes.
fn finished(cmd: &Cmd, out: std::process::Output) -> Result<Output> {
    let code = out.status.code().unwrap_or(-1);
    if !cmd.ok_codes.contains(&code) {
        let status = match out.status.code() {
            Some(c) => format!("exit status {c}"),
            None => "killed by a signal".to_string(),
        };
        return Err(Error::command(&cmd.summary, &cmd.display(), &status, &out.stderr));
    }
    Ok(Output { code, stdout: out.stdout, stderr: out.stderr })
}

/// The input of a `run_fed` command, remembering whether writing to it failed: then the
/// command has stopped reading, and its own error says why.
struct Pipe<W> {
    inner: W,
    broke: bool,
}

impl<W: std::io::Write> std::io::Write for Pipe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let res = self.inner.write(buf);
        self.broke |= res.is_err();
        res
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let res = self.inner.flush();
        self.broke |= res.is_err();
        res
    }
}

impl Host {
    /// A command that runs *in* the system: as it is when live, through `chroot ROOT` under
    /// `--root` (so apt, dpkg and crontab see the disk's own configuration and programs).
    pub(crate) fn cmd_in(&self, program: &str, summary: impl Into<String>) -> Cmd {
        if self.is_live() {
            Cmd::new(program, summary)
        } else {
            Cmd::new("chroot", summary).arg("--").arg(&self.root).arg(program)
        }
    }

    /// Prepares `--root` for programs run inside it (`cmd_in`) until the session is dropped:
    /// `/proc`, `/sys`, `/dev` and `/dev/pts` mounted, and, with `no_daemons`, a temporary
    /// `/usr/sbin/policy-rc.d` that exits 101 so that packages start no daemons. Dropping the
    /// session undoes all of it, also after a failure. Live, it does nothing.
    pub(crate) fn enter(&self, no_daemons: bool) -> Result<RootSession<'_>> {
        let mut session = RootSession { host: self, mounted: Vec::new(), policy: None };
        if self.is_live() {
            return Ok(session);
        }
        let mounts: [(&str, &[&str]); 4] = [
            ("/proc", &["-t", "proc", "proc"]),
            ("/sys", &["-t", "sysfs", "sysfs"]),
            ("/dev", &["--bind", "/dev"]),
            ("/dev/pts", &["--bind", "/dev/pts"]),
        ];
        for (dir, how) in mounts {
            let target = self.path(dir);
            if !target.is_dir() {
                continue;
            }
            self.run(
                &Cmd::new("mount", format!("mount {dir} inside {}", self.root.display()))
                    .args(how)
                    .arg(&target),
            )?;
            session.mounted.push(target);
        }
        if no_daemons {
            let path = self.path("/usr/sbin/policy-rc.d");
            let old = match fs_err::read(&path) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("read the disk's policy-rc.d", e)),
            };
            let old_mode = std::fs::metadata(&path)
                .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()))
                .ok();
            session.policy = Some((path.clone(), old.zip(old_mode)));
            fs_err::write(
                &path,
                "#!/bin/sh\n# written by twinsync for the time of an apply: start no daemons\nexit 101\n",
            )?;
            fs_err::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
        }
        Ok(session)
    }
}

/// A file's content and mode, to put back.
type OldFile = (Vec<u8>, u32);

/// `--root` made ready for `chroot` (see `Host::enter`); undone when dropped.
pub(crate) struct RootSession<'a> {
    host: &'a Host,
    mounted: Vec<PathBuf>,
    /// policy-rc.d's path and what was there before (content and mode), if anything.
    policy: Option<(PathBuf, Option<OldFile>)>,
}

impl Drop for RootSession<'_> {
    fn drop(&mut self) {
        if let Some((path, old)) = self.policy.take() {
            let res = match old {
                Some((bytes, mode)) => std::fs::write(&path, bytes).and_then(|()| {
                    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(mode))
                }),
                None => std::fs::remove_file(&path),
            };
            if let Err(e) = res {
                eprintln!("twinsync: warning: could not restore {}: {e}; check it by hand", path.display());
            }
        }
        for target in self.mounted.drain(..).rev() {
            let cmd = Cmd::new("umount", format!("unmount {}", target.display())).arg(&target);
            if self.host.run(&cmd).is_err() {
                // Busy (a daemon started anyway): detach it, so the disk can still be unmounted later.
                let lazy =
                    Cmd::new("umount", format!("unmount {}", target.display())).arg("--lazy").arg(&target);
                if let Err(e) = self.host.run(&lazy) {
                    eprintln!("twinsync: warning: {}", e.message());
                }
            }
        }
    }
}

/// The effective user id of this process (the owner of `/proc/self`).
pub(crate) fn euid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    find_program_in(program, &path)
}

/// Where `program` is on the given PATH value (tests pass their own instead of changing the
/// process's environment).
pub(crate) fn find_program_in(program: &str, path: &OsStr) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    std::env::split_paths(path).map(|dir| dir.join(program)).find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

fn shell_quote(arg: &str) -> String {
    let plain =
        !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@+%^".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_paths_map_onto_the_root() {
        let host = Host::new(Path::new("/mnt"));
        assert_eq!(host.path("/etc/hosts"), PathBuf::from("/mnt/etc/hosts"));
        assert_eq!(host.path("/"), PathBuf::from("/mnt"));
        assert!(!host.is_live());
        let live = Host::new(Path::new("/"));
        assert_eq!(live.path("/etc/hosts"), PathBuf::from("/etc/hosts"));
        assert!(live.is_live());
    }

    #[test]
    fn failing_command_reports_command_status_and_stderr() {
        let host = Host::new(Path::new("/"));
        let cmd = Cmd::new("sh", "test a failure").args(["-c", "echo oops >&2; exit 3", "x y"]);
        let err = host.run(&cmd).err().expect("must fail");
        let text = err.to_string();
        assert!(text.contains("failed to test a failure"), "{text}");
        assert!(text.contains("command: sh -c 'echo oops >&2; exit 3' 'x y'"), "{text}");
        assert!(text.contains("exit status 3") && text.contains("oops"), "{text}");
    }

    #[test]
    fn run_fed_streams_more_than_a_pipe_holds_and_reports_failures() {
        let host = Host::new(Path::new("/"));
        // 4 MiB through `cat`: far more than the 64 KiB a pipe buffers either way.
        let chunk = vec![b'x'; 1 << 16];
        let out = host
            .run_fed(&Cmd::new("cat", "copy"), |w| {
                for _ in 0..64 {
                    w.write_all(&chunk).map_err(|e| Error::io("feed", e))?;
                }
                Ok(())
            })
            .unwrap();
        assert_eq!(out.stdout.len(), 64 << 16);
        assert!(out.stdout.iter().all(|&b| b == b'x'));

        // The command's own failure wins over the broken pipe it leaves the feeder.
        let fails = Cmd::new("sh", "fail on purpose").args(["-c", "echo nope >&2; exit 3"]);
        let err = host
            .run_fed(&fails, |w| {
                for _ in 0..64 {
                    w.write_all(&chunk).map_err(|e| Error::io("feed", e))?;
                }
                Ok(())
            })
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("fail on purpose") && err.contains("exit status 3") && err.contains("nope"),
            "{err}"
        );

        // A feeder that gives up is an error even when the command is content with what it got.
        let err = host.run_fed(&Cmd::new("cat", "copy"), |_| Err(Error::failed("gave up"))).err().unwrap();
        assert!(err.to_string().contains("gave up"), "{err}");
    }

    #[test]
    fn ok_codes_stdin_and_locale() {
        let host = Host::new(Path::new("/"));
        let out = host
            .run(
                &Cmd::new("sh", "t")
                    .args(["-c", "cat; echo $LC_ALL; exit 1"])
                    .stdin(b"in\n".to_vec())
                    .ok_codes(&[0, 1]),
            )
            .unwrap();
        assert_eq!(out.code, 1);
        assert_eq!(out.stdout_text(), "in\nC\n");
    }

    #[test]
    fn interactive_commands_give_their_status_and_stderr() {
        // whiptail's answer comes on stderr; a non-zero status (Cancel) is an answer, not an error.
        let host = Host::new(Path::new("/"));
        let cmd = Cmd::new("sh", "t").args(["-c", "printf 'tag 3' >&2; exit 1"]);
        assert_eq!(host.run_interactive(&cmd).unwrap(), (1, "tag 3".to_string()));
        let err = host.run_interactive(&Cmd::new("no-such-dialog-twinsync", "ask")).unwrap_err();
        assert!(err.is_tool_missing());
    }

    #[test]
    fn missing_program_is_a_clear_error() {
        let host = Host::new(Path::new("/"));
        let err = host.run(&Cmd::new("no-such-program-twinsync", "do a thing")).err().unwrap();
        assert!(err.is_tool_missing());
        assert!(err.to_string().contains("`no-such-program-twinsync` is not installed"));
    }
}
