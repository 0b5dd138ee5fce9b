//! The command line: global options anywhere on the line, one command, its own options, and a
//! hand-written help text per command. Parsing does no I/O, so tests drive it with plain lists.

use std::ffi::OsString;
use std::path::PathBuf;

use lexopt::prelude::*;

use crate::error::{Error, Result};

/// Options that apply to every command; they may stand anywhere on the line.
#[derive(Debug, Default, Clone)]
pub(crate) struct Global {
    pub(crate) twin: Option<PathBuf>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) root: Option<PathBuf>,
    pub(crate) home: Option<PathBuf>,
    pub(crate) user: Option<String>,
    pub(crate) state: Option<PathBuf>,
    pub(crate) yes: bool,
    pub(crate) dry_run: bool,
    pub(crate) mirror: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
}

#[derive(Debug, PartialEq)]
pub(crate) enum Command {
    /// No command: the menu on a terminal, else the help text and exit 2.
    Default,
    Help(Option<String>),
    Version,
    Menu,
    Init {
        dir: Option<PathBuf>,
    },
    Snapshot {
        message: Option<String>,
        no_push: bool,
    },
    Status,
    Plan {
        domains: Vec<String>,
    },
    Apply {
        domains: Vec<String>,
    },
    Diff {
        paths: Vec<String>,
    },
    Undo {
        run: Option<String>,
    },
    History {
        show: Option<String>,
    },
    Restore {
        rev: String,
    },
    Pull,
    Push,
    GithubSetup {
        login: Option<String>,
        repo: Option<String>,
    },
    Remote {
        url: Option<String>,
    },
    Deps {
        install: bool,
    },
    ConfigShow,
    ConfigSet {
        key: String,
        value: String,
    },
}

#[derive(Debug)]
pub(crate) struct Args {
    pub(crate) global: Global,
    pub(crate) command: Command,
}

pub(crate) const DOMAINS: &[&str] = &["files", "packages", "services", "startup", "all"];

pub(crate) const HELP: &str = "\
twinsync — keep a git twin of this machine, and change the machine safely from it

Usage: twinsync [OPTIONS] [COMMAND]

Commands:
  menu               the menu (whiptail; a numbered text menu without it)
  init [DIR]         create or adopt the twin repository and remember it
  snapshot           collect config files, packages, services, crontab and logs into the twin
  status             per domain: desired changes, drift and conflicts
  plan [DOMAIN...]   write and print the plan files (files packages services startup all)
  apply [DOMAIN...]  show the plans, ask, apply them, snapshot the result
  diff [PATH...]     twin versus live for files
  undo [RUN]         undo an apply run (default: the last one)
  history            the time machine: snapshots, newest first
  restore REV        make the twin equal to snapshot REV as a new commit
  pull | push        fast-forward the twin from its remote | push it
  github setup       remember GitHub user and token, create or link the private repository
  remote [URL]       show or set a plain git remote
  deps [--install]   check (and install) the programs TwinSync uses
  config [show | set KEY VALUE]
  help [COMMAND]     this text, or a command's

Options (anywhere on the line):
      --twin DIR     the twin repository
      --config FILE  the config file
      --root DIR     the system to read and change (default /)
      --home DIR     the user's home inside that system
      --user NAME    whose crontab (default: the invoking user)
      --state DIR    backups, journal and lock
  -y, --yes          do not ask
  -n, --dry-run      print what would be done and change nothing
      --mirror       plan two-way: make the system equal to the twin
  -q, --quiet        print only errors
  -v, --verbose      print more
  -h, --help         print help (`twinsync COMMAND --help` for a command)
  -V, --version      print the version

Exit status: 0 success, 1 something failed, 2 bad usage or bad input (nothing changed).
";

/// The help text of one command.
pub(crate) fn command_help(name: &str) -> Option<&'static str> {
    Some(match name {
        "menu" => "Usage: twinsync menu\n\nThe menu for people who do not live in a terminal: whiptail when it is installed,\nelse a numbered text menu on the terminal (type a number; q goes back, or quits).\n`twinsync` alone on a terminal opens it too. Each item runs the same command you could\ntype (e.g. \"Plan file changes\" runs `twinsync plan files`, with the menu's --root, --twin,\n--config, --state, --home and --user) and shows what it printed. \"Apply ...\" and \"Undo\nlast apply\" first show the dry run and ask (default no). Esc or Cancel goes back.\n\nExample: sudo twinsync menu\n",
        "init" => "Usage: twinsync init [DIR]\n\nCreates the twin repository in DIR (default: the configured one, else ~/twinsync-twin):\nmode 0700, git init, a README explaining the layout and how to propose a change.\nAn existing clone of a twin is adopted as it is. The location is remembered in the config.\n\nExample: twinsync init ~/twin\n",
        "snapshot" => "Usage: twinsync snapshot [-m MSG] [--no-push]\n\nCollects config files (/etc and ~/.config by default), packages, services, the user crontab,\nthe journal tail and OS facts into the twin and commits them. A change waiting in the twin is\nnever undone; secrets never enter it. Nothing changed: no commit.\n\nOptions:\n  -m, --message MSG  the commit message\n      --no-push      do not push even when auto_push=yes\n\nExample: sudo twinsync snapshot -m \"before the upgrade\"\n",
        "status" => "Usage: twinsync status\n\nPer domain, what plan would find, counted: desired changes (the twin was edited),\ndrift (the machine changed since the last snapshot) and conflicts (both changed). Then one\nline per path, like `git status --short`: the first letter is what the twin did, the second\nwhat the machine did (A added, M modified, D deleted).\n\nExample: twinsync status\n",
        "plan" => "Usage: twinsync plan [DOMAIN...]\n\nWrites <twin>/plans/plan-DOMAIN.txt and prints it. DOMAIN: files packages services startup\nall (the default). Each item (a file, a package, a unit, the crontab) is compared three ways:\nthe baseline (the last snapshot), the twin and the machine. A change made in the twin is an\naction line; a change made on the machine (drift) or on both sides (conflict) is a\ncommented-out line with a note. `#=` lines record what the machine had, `#+` lines the twin's\nversion: apply refuses a stale plan. Delete a line to skip it; uncomment one to do it.\n\nOptions:\n      --mirror   plan two-way: make the machine equal to the twin, ignoring the baseline\n\nExample: twinsync plan files packages\n",
        "apply" => "Usage: twinsync apply [DOMAIN...]\n\nShows the plans (a diff of each file, the package, service and crontab lines), asks (default\nno), checks every line again (a stale or invalid line: exit 2, nothing applied), then applies\nthem in the order packages, files, services, startup, in one run:\n  files     written atomically with owner and mode; replaced or deleted files are first copied\n            to <state>/backups/<run>/\n  packages  one apt-get install and one apt-get remove, simulated first: a removal that would\n            take other packages along is refused\n  services  systemctl enable/disable/mask/unmask/start/stop; on a system that is not running\n            (--root) START and STOP are deferred\n  startup   the twin's crontab, checked with crontab -n, installed with crontab; the old one\n            is kept in the backups\nA journal makes `twinsync undo` exact; a snapshot records the result. With no DOMAIN, every\nplan file there is. Without a terminal, nothing is applied unless --yes is given.\n\nOptions:\n  -y, --yes      do not ask\n  -n, --dry-run  print the exact commands and steps, change nothing\n\nExample: sudo twinsync apply files\n",
        "diff" => "Usage: twinsync diff [PATH...]\n\nTwin versus live for files, as a unified diff (live: the machine, twin: the twin), with a\nline for mode and owner differences. PATH limits it to those files or folders.\n\nExample: twinsync diff /etc/hosts /etc/ssh\n",
        "undo" => "Usage: twinsync undo [RUN]\n\nPuts back what an apply run changed (default: the last run): replaced files from the\nbackups, deleted files restored, created files and folders removed; installed packages\nremoved and removed ones installed again at their old version, units enabled, disabled,\nstarted or stopped back (through plans written to <state>/undo/RUN/ and checked like any\nplan); the old crontab from the backups. Anything that changed again since the run is left\nas it is and named (exit 1); the rest is still put back. Shows what it will do and asks.\n\nOptions:\n  -y, --yes      do not ask\n  -n, --dry-run  show what would be put back, change nothing\n\nExample: sudo twinsync undo 20261124-100500\n",
        "history" => "Usage: twinsync history [show REV]\n\nThe time machine: the twin's snapshots, newest first, one line each (short hash, date,\nmessage); the one the machine was last seen as is marked (baseline). `show REV` shows what\nthat snapshot changed: the files and the patch.\n\nExample: twinsync history show HEAD~2\n",
        "restore" => "Usage: twinsync restore REV\n\nMakes the twin equal to snapshot REV as a new commit on top; history is never rewritten, so\nnothing is lost and no force push is needed. Shows what changes and asks. Refused while the\ntwin has uncommitted changes. The machine changes only through `twinsync plan` and `apply`.\n\nOptions:\n  -y, --yes  do not ask\n\nExample: twinsync restore 3f2a9c1\n",
        "pull" => "Usage: twinsync pull\n\nFetches origin and fast-forwards the twin; never merges. A twin that diverged from origin\nis reported with both sides' commits and what to do. Refused while the twin has uncommitted\nchanges. Then `twinsync plan` shows how the machine would follow.\n",
        "push" => "Usage: twinsync push\n\nPushes the twin's branch to origin. First every outgoing commit is scanned again for secrets\n(by path and content); a hit stops the push and names the commit and path. With\ngithub_token in the config, git gets the token through twinsync itself (GIT_ASKPASS), never\nin a URL or .git/config. `snapshot` pushes by itself when auto_push=yes.\n",
        "github" => "Usage: twinsync github setup [--login NAME] [--repo NAME]\n\nChecks a GitHub token (GET /user), reuses or creates the private repository\n(default twin-<device>, or github_repo) and makes its clone_url the twin's remote origin; a\nrepository that is not private is refused. Then github_user, github_token and github_repo are\nstored in the config (mode 0600). The token is asked with a hidden prompt on a terminal, else\nread as one line from stdin; it never becomes a process argument, a URL or part of .git/config.\nA refused token: exit 1, nothing stored. github_api may point at GitHub Enterprise.\nThe token needs: classic, scope repo; fine-grained, All repositories with Administration and\nContents read and write.\n\nOptions:\n      --login NAME  the GitHub user (default: github_user, else asked)\n      --repo NAME   the repository (default: github_repo, else twin-<device>)\n\nExample: twinsync github setup --login ana < ~/token.txt\n",
        "remote" => "Usage: twinsync remote [URL]\n\nShows the twin's git remote `origin`, or sets it to URL: ssh (git@host:path, ssh://),\nhttps or http, or a local path (file://). A URL with a user or token in it is refused: set\nthe token with `twinsync config set github_token TOKEN` instead.\n\nExample: twinsync remote git@github.com:ana/twin-laptop.git\n",
        "deps" => "Usage: twinsync deps [--install]\n\nChecks the programs TwinSync uses (git whiptail curl dpkg-query apt-get apt-mark systemctl\ncrontab journalctl): found with its path, or missing, and what needs it. Exit 0 when all are\nfound, 1 when something is missing. --install (root) installs the missing ones with\napt-get after asking (Debian packages git whiptail curl dpkg apt systemd cron); without\napt-get it says what to install by hand.\n\nOptions:\n      --install  install the missing programs\n  -y, --yes      do not ask\n  -n, --dry-run  print the apt-get command, install nothing\n\nExample: sudo twinsync deps --install\n",
        "config" => "Usage: twinsync config [show | set KEY VALUE]\n\nShows the config (the token masked) or sets one key. Keys: twin_dir device_name roots\nmax_file_size auto_push github_user github_token github_repo github_api.\n\nExample: twinsync config set roots \"/etc ~/.config /usr/local/etc\"\n",
        "help" => "Usage: twinsync help [COMMAND]\n",
        _ => return None,
    })
}

/// Parses the arguments after the program name.
pub(crate) fn parse(args: Vec<OsString>) -> Result<Args> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut global = Global::default();
    let mut name: Option<String> = None;
    let mut positional: Vec<String> = Vec::new();
    let mut message = None;
    let mut no_push = false;
    let mut install = false;
    let mut login = None;
    let mut repo = None;
    let mut help = false;

    while let Some(arg) = parser.next()? {
        match arg {
            Long("twin") => global.twin = Some(parser.value()?.into()),
            Long("config") => global.config = Some(parser.value()?.into()),
            Long("root") => global.root = Some(parser.value()?.into()),
            Long("home") => global.home = Some(parser.value()?.into()),
            Long("user") => global.user = Some(string(parser.value()?)?),
            Long("state") => global.state = Some(parser.value()?.into()),
            Short('y') | Long("yes") => global.yes = true,
            Short('n') | Long("dry-run") => global.dry_run = true,
            Long("mirror") => global.mirror = true,
            Short('q') | Long("quiet") => global.quiet = true,
            Short('v') | Long("verbose") => global.verbose = true,
            Short('h') | Long("help") => help = true,
            Short('V') | Long("version") => {
                return Ok(Args { global, command: Command::Version });
            }
            Short('m') | Long("message") if name.as_deref() == Some("snapshot") => {
                message = Some(string(parser.value()?)?)
            }
            Long("no-push") if name.as_deref() == Some("snapshot") => no_push = true,
            Long("install") if name.as_deref() == Some("deps") => install = true,
            Long("login") if name.as_deref() == Some("github") => login = Some(string(parser.value()?)?),
            Long("repo") if name.as_deref() == Some("github") => repo = Some(string(parser.value()?)?),
            Value(value) => {
                let value = string(value)?;
                if name.is_none() {
                    name = Some(value);
                } else {
                    positional.push(value);
                }
            }
            _ => {
                let err = arg.unexpected();
                let hint = match &name {
                    Some(n) if command_help(n).is_some() => format!("see `twinsync {n} --help`"),
                    _ => "see `twinsync --help`".to_string(),
                };
                return Err(Error::usage(format!("{err}; {hint}")));
            }
        }
    }

    if help {
        return Ok(Args { global, command: Command::Help(name) });
    }
    let command = match name {
        None => Command::Default,
        Some(name) => command(&name, positional, message, no_push, install, login, repo)?,
    };
    Ok(Args { global, command })
}

fn command(
    name: &str,
    pos: Vec<String>,
    message: Option<String>,
    no_push: bool,
    install: bool,
    login: Option<String>,
    repo: Option<String>,
) -> Result<Command> {
    let at_most = |n: usize| -> Result<()> {
        if pos.len() > n {
            return Err(Error::usage(format!(
                "unexpected argument '{}' for `{name}`; see `twinsync {name} --help`",
                pos[n]
            )));
        }
        Ok(())
    };
    let res = match name {
        "help" => {
            at_most(1)?;
            Command::Help(pos.into_iter().next())
        }
        "menu" => {
            at_most(0)?;
            Command::Menu
        }
        "init" => {
            at_most(1)?;
            Command::Init { dir: pos.into_iter().next().map(PathBuf::from) }
        }
        "snapshot" => {
            at_most(0)?;
            Command::Snapshot { message, no_push }
        }
        "status" => {
            at_most(0)?;
            Command::Status
        }
        "plan" | "apply" => {
            for d in &pos {
                if !DOMAINS.contains(&d.as_str()) {
                    return Err(Error::usage(format!(
                        "unknown domain '{d}'; pick from: {}",
                        DOMAINS.join(", ")
                    )));
                }
            }
            if name == "plan" {
                Command::Plan { domains: pos }
            } else {
                Command::Apply { domains: pos }
            }
        }
        "diff" => Command::Diff { paths: pos },
        "undo" => {
            at_most(1)?;
            Command::Undo { run: pos.into_iter().next() }
        }
        "history" => match pos.as_slice() {
            [] => Command::History { show: None },
            [show, rev] if show == "show" => Command::History { show: Some(rev.clone()) },
            _ => return Err(Error::usage("usage: twinsync history [show REV]")),
        },
        "restore" => match pos.as_slice() {
            [rev] => Command::Restore { rev: rev.clone() },
            _ => return Err(Error::usage("usage: twinsync restore REV; see `twinsync history`")),
        },
        "pull" => {
            at_most(0)?;
            Command::Pull
        }
        "push" => {
            at_most(0)?;
            Command::Push
        }
        "github" => match pos.as_slice() {
            [setup] if setup == "setup" => Command::GithubSetup { login, repo },
            _ => return Err(Error::usage("usage: twinsync github setup [--login NAME] [--repo NAME]")),
        },
        "remote" => {
            at_most(1)?;
            Command::Remote { url: pos.into_iter().next() }
        }
        "deps" => {
            at_most(0)?;
            Command::Deps { install }
        }
        "config" => match pos.as_slice() {
            [] => Command::ConfigShow,
            [show] if show == "show" => Command::ConfigShow,
            [set, key, value] if set == "set" => {
                Command::ConfigSet { key: key.clone(), value: value.clone() }
            }
            _ => return Err(Error::usage("usage: twinsync config [show | set KEY VALUE]")),
        },
        _ => return Err(Error::usage(format!("unknown command '{name}'; see `twinsync --help`"))),
    };
    Ok(res)
}

fn string(value: OsString) -> Result<String> {
    value.into_string().map_err(|v| Error::usage(format!("argument {v:?} is not valid UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Args> {
        parse(args.iter().map(OsString::from).collect())
    }

    #[test]
    fn global_options_stand_anywhere() {
        let a = parse_strs(&["snapshot", "--root", "/mnt", "-m", "hi", "--twin=/t", "-q"]).unwrap();
        assert_eq!(a.command, Command::Snapshot { message: Some("hi".into()), no_push: false });
        assert_eq!(a.global.root, Some(PathBuf::from("/mnt")));
        assert_eq!(a.global.twin, Some(PathBuf::from("/t")));
        assert!(a.global.quiet);
        let b = parse_strs(&["--root", "/mnt", "snapshot", "--no-push"]).unwrap();
        assert_eq!(b.command, Command::Snapshot { message: None, no_push: true });
    }

    #[test]
    fn help_for_every_command() {
        for name in [
            "menu", "init", "snapshot", "status", "plan", "apply", "diff", "undo", "history", "restore",
            "pull", "push", "github", "remote", "deps", "config", "help",
        ] {
            assert!(command_help(name).is_some(), "{name}");
            let a = parse_strs(&[name, "--help"]).unwrap();
            assert_eq!(a.command, Command::Help(Some(name.to_string())));
        }
        assert_eq!(parse_strs(&["-h"]).unwrap().command, Command::Help(None));
    }

    #[test]
    fn bad_usage_is_exit_2_with_a_hint() {
        for args in [
            &["--frobnicate"][..],
            &["snapshot", "--install"],
            &["frob"],
            &["plan", "everything"],
            &["config", "set", "x"],
            &["init", "a", "b"],
            &["--twin"],
        ] {
            let err = parse_strs(args).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{args:?}");
            assert!(err.to_string().contains("twinsync") || err.to_string().contains("pick from"), "{err}");
        }
    }

    #[test]
    fn commands_and_arguments() {
        assert_eq!(parse_strs(&[]).unwrap().command, Command::Default);
        assert_eq!(parse_strs(&["-V"]).unwrap().command, Command::Version);
        assert_eq!(
            parse_strs(&["config", "set", "auto_push", "yes"]).unwrap().command,
            Command::ConfigSet { key: "auto_push".into(), value: "yes".into() }
        );
        assert_eq!(parse_strs(&["config"]).unwrap().command, Command::ConfigShow);
        assert_eq!(
            parse_strs(&["plan", "files", "packages"]).unwrap().command,
            Command::Plan { domains: vec!["files".into(), "packages".into()] }
        );
        assert_eq!(
            parse_strs(&["github", "setup", "--login", "ana"]).unwrap().command,
            Command::GithubSetup { login: Some("ana".into()), repo: None }
        );
        assert_eq!(
            parse_strs(&["init", "/tmp/t"]).unwrap().command,
            Command::Init { dir: Some("/tmp/t".into()) }
        );
        let a = parse_strs(&["-y", "-n", "--mirror", "apply", "all"]).unwrap();
        assert!(a.global.yes && a.global.dry_run && a.global.mirror);
    }
}
