//! TwinSync keeps a git twin of a Debian/Ubuntu machine — config files, packages, services, the
//! user crontab, the journal tail and OS facts — and changes the machine safely from it.
//!
//! Reading order: `cli` (the command line), `Ctx` below (who, where, which twin), `snapshot`
//! (the three-way collection into the twin), then the domains `files`, `packages`, `services`,
//! `startup`, and `facts`; `twin` owns git; `host` owns every process and every machine path;
//! `secrets` and `glob` decide what never enters the twin. HANDOFF.md has the codemap and the
//! invariants.

mod cli;
mod config;
mod deps;
mod error;
mod facts;
mod fasthash;
mod files;
mod github;
mod glob;
mod host;
mod journal;
mod menu;
mod name;
mod packages;
mod planfile;
mod remote;
mod secrets;
mod services;
mod snapshot;
mod sorted;
mod startup;
mod statcache;
mod twin;
mod walk;
mod workflow;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod e2e;
#[cfg(test)]
mod tests;

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{Command, Global};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::twin::{Identity, Twin};

fn main() -> ExitCode {
    fixed_mmap_threshold();
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // git runs this binary as its GIT_ASKPASS helper (see `remote::askpass_reply`): answer the
    // prompt from the environment `Twin::remote_git` gave it, and do nothing else.
    if let Some(answer) = remote::askpass_reply(&args) {
        println!("{answer}");
        return ExitCode::SUCCESS;
    }
    match run(args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("twinsync: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// The whole program, minus printing the final error: tests drive it in-process.
pub(crate) fn run(args: Vec<OsString>) -> Result<ExitCode> {
    let args = cli::parse(args)?;
    let command = args.command;
    match command {
        Command::Help(None) => {
            print!("{}", cli::HELP);
            return Ok(ExitCode::SUCCESS);
        }
        Command::Help(Some(name)) => {
            let text = cli::command_help(&name)
                .ok_or_else(|| Error::usage(format!("unknown command '{name}'; see `twinsync --help`")))?;
            print!("{text}");
            return Ok(ExitCode::SUCCESS);
        }
        Command::Version => {
            println!("twinsync {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Command::Default if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) => {
            eprint!("{}", cli::HELP);
            return Ok(ExitCode::from(2));
        }
        _ => {}
    }
    let ctx = Ctx::new(args.global)?;
    match command {
        Command::Init { dir } => init(&ctx, dir.as_deref()),
        Command::Snapshot { message, no_push } => {
            let twin = ctx.twin()?;
            let _lock = ctx.lock()?;
            let report = snapshot::run(&ctx, &twin, message.as_deref())?;
            ctx.fix_ownership(twin.dir())?;
            if !ctx.global.quiet {
                print!("{}", snapshot::summary(&report));
            }
            remote::push_after_snapshot(&ctx, &twin, no_push)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::ConfigShow => {
            print!("{}", ctx.config.show());
            Ok(ExitCode::SUCCESS)
        }
        Command::ConfigSet { key, value } => {
            ctx.set_config(&key, &value)?;
            if !ctx.global.quiet {
                println!("twinsync: {key} set in {}", ctx.config.path().display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Default | Command::Menu => menu::run(&ctx),
        Command::Status => workflow::status(&ctx),
        Command::Plan { domains } => workflow::plan(&ctx, &domains),
        Command::Apply { domains } => workflow::apply(&ctx, &domains),
        Command::Diff { paths } => workflow::diff(&ctx, &paths),
        Command::Undo { run } => workflow::undo(&ctx, run.as_deref()),
        Command::History { show } => remote::history(&ctx, show.as_deref()),
        Command::Restore { rev } => remote::restore(&ctx, &rev),
        Command::Pull => remote::pull(&ctx),
        Command::Push => remote::push(&ctx),
        Command::GithubSetup { login, repo } => github::setup(&ctx, login.as_deref(), repo.as_deref()),
        Command::Remote { url } => remote::remote(&ctx, url.as_deref()),
        Command::Deps { install } => deps::run(&ctx, install),
        Command::Help(_) | Command::Version => unreachable!("handled above"),
    }
}

/// `twinsync init [DIR]`: create the twin, or adopt an existing clone, and remember it.
fn init(ctx: &Ctx, dir: Option<&Path>) -> Result<ExitCode> {
    let dir = ctx.default_twin_dir(dir)?;
    let device = ctx.device();
    let verb = if twin::is_repo(&dir) {
        let twin = Twin::open(&dir, ctx.identity())?;
        twin.protect()?;
        "adopted"
    } else {
        let not_empty = fs_err::read_dir(&dir).map(|mut it| it.next().is_some()).unwrap_or(false);
        if not_empty {
            return Err(Error::bad_input(format!(
                "{} is not empty and not a git repository; choose an empty or new folder",
                dir.display()
            )));
        }
        Twin::create(&ctx.host, &dir, ctx.identity(), &device)?;
        "created"
    };
    ctx.fix_ownership(&dir)?;
    ctx.set_config("twin_dir", &dir.to_string_lossy())?;
    if !ctx.global.quiet {
        println!("twinsync: {verb} the twin of {device} in {}", dir.display());
        println!("twinsync: next: `twinsync snapshot` takes the first snapshot");
    }
    Ok(ExitCode::SUCCESS)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
}

/// Everything a command needs to know about who runs it, on which system, with which twin.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub(crate) global: Global,
    pub(crate) host: Host,
    pub(crate) config: Config,
    /// The person behind the command: SUDO_USER under sudo.
    pub(crate) invoking_user: String,
    pub(crate) as_root: bool,
    /// Whose crontab and home.
    pub(crate) user: String,
    /// The user's home as a machine path.
    pub(crate) home: String,
    /// Under sudo, the invoking user's uid and gid: the twin's files belong to them.
    sudo_owner: Option<(u32, u32)>,
}

impl Ctx {
    pub(crate) fn new(global: Global) -> Result<Ctx> {
        let root = match &global.root {
            Some(r) => {
                let r = absolute(r)?;
                if !r.is_dir() {
                    return Err(Error::bad_input(format!("--root {}: no such folder", r.display())));
                }
                r
            }
            None => PathBuf::from("/"),
        };
        let host = Host::new(&root);
        let as_root = host::euid() == 0;
        let local = files::Accounts::read(&Host::new(Path::new("/")));
        let sudo_user = std::env::var("SUDO_USER").ok().filter(|u| as_root && !u.is_empty() && u != "root");
        let invoking_user = sudo_user
            .clone()
            .or_else(|| Some(local.user(host::euid()).into_owned()).filter(|u| u.parse::<u32>().is_err()))
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "root".to_string());
        let sudo_owner = match (sudo_user.as_ref(), std::env::var("SUDO_UID"), std::env::var("SUDO_GID")) {
            (Some(_), Ok(u), Ok(g)) => u.parse().ok().zip(g.parse().ok()),
            _ => None,
        };
        let user = global.user.clone().unwrap_or_else(|| invoking_user.clone());
        if user.is_empty() || user.starts_with('-') || user.contains(['/', ':', '\n']) {
            return Err(Error::bad_input(format!("--user '{user}' is not a valid user name")));
        }
        let home = match &global.home {
            Some(h) => {
                let h = h.to_string_lossy().into_owned();
                if !h.starts_with('/') {
                    return Err(Error::bad_input(format!(
                        "--home {h}: give the home as an absolute path inside the system"
                    )));
                }
                h.trim_end_matches('/').to_string()
            }
            None => home_of(&host, &user).unwrap_or_else(|| "/root".to_string()),
        };
        let config_path = match &global.config {
            Some(p) => absolute(p)?,
            None => match std::env::var_os("TWINSYNC_CONFIG") {
                Some(p) => PathBuf::from(p),
                None => {
                    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|_| sudo_user.is_none()) {
                        Some(x) => PathBuf::from(x),
                        None => PathBuf::from(format!("{}/.config", local_home_of(&invoking_user))),
                    };
                    base.join("twinsync/config")
                }
            },
        };
        let config = Config::load(&config_path)?;
        if !global.quiet {
            for key in config.unknown_keys() {
                eprintln!("twinsync: note: unknown key '{key}' in {} is ignored", config_path.display());
            }
        }
        Ok(Ctx { global, host, config, invoking_user, as_root, user, home, sudo_owner })
    }

    /// The device name: from the config, else the machine's host name.
    pub(crate) fn device(&self) -> String {
        self.config
            .get("device_name")
            .map(str::to_string)
            .or_else(|| facts::hostname(&self.host))
            .unwrap_or_else(|| "machine".to_string())
    }

    pub(crate) fn identity(&self) -> Identity {
        Identity {
            name: self.invoking_user.clone(),
            email: format!("{}@{}", self.invoking_user, self.device()),
        }
    }

    /// The home of the invoking user on this computer (for the config and the default twin).
    pub(crate) fn local_home(&self) -> String {
        local_home_of(&self.invoking_user)
    }

    /// Where `init [DIR]` puts the twin: DIR, else --twin, else the configured one, else
    /// ~/twinsync-twin (the menu proposes the same).
    pub(crate) fn default_twin_dir(&self, dir: Option<&Path>) -> Result<PathBuf> {
        Ok(match dir.map(Path::to_path_buf).or_else(|| self.global.twin.clone()) {
            Some(d) => absolute(&d)?,
            None => match self.config.get("twin_dir") {
                Some(d) => PathBuf::from(d),
                None => PathBuf::from(format!("{}/twinsync-twin", self.local_home())),
            },
        })
    }

    pub(crate) fn twin_dir(&self) -> Option<PathBuf> {
        self.global.twin.clone().or_else(|| self.config.get("twin_dir").map(PathBuf::from))
    }

    pub(crate) fn twin(&self) -> Result<Twin> {
        let dir = self.twin_dir().ok_or_else(Error::no_twin)?;
        Twin::open(&absolute(&dir)?, self.identity())
    }

    /// The captured roots as machine paths, `~` replaced by the user's home.
    pub(crate) fn roots(&self) -> Result<Vec<String>> {
        let mut res = Vec::new();
        for r in self.config.roots().split_whitespace() {
            let path = if r == "~" {
                self.home.clone()
            } else if let Some(rest) = r.strip_prefix("~/") {
                format!("{}/{}", self.home, rest)
            } else {
                r.to_string()
            };
            if !path.starts_with('/') || path.split('/').any(|s| s == "..") {
                return Err(Error::bad_input(format!(
                    "config roots: '{r}' must be an absolute path or start with ~/"
                )));
            }
            // One spelling per folder (`//etc/./` is `/etc`): each root is walked in its own
            // thread with its own cache file, so a folder must not be two roots.
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty() && *s != ".").collect();
            let path = format!("/{}", parts.join("/"));
            if !res.contains(&path) {
                res.push(path);
            }
        }
        Ok(res)
    }

    /// The user's exclusion file, beside the config file.
    pub(crate) fn excludes(&self) -> Result<glob::Excludes> {
        let path = self.config.path().with_file_name("exclude");
        let text = match fs_err::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::io("read the exclude file", e)),
        };
        glob::Excludes::parse(&text, &self.home).map_err(|e| {
            let e = e.strip_prefix("exclude:").unwrap_or(&e);
            Error::bad_input(format!("{}:{e}", path.display()))
        })
    }

    /// The state folder: backups, journal and lock.
    pub(crate) fn state_dir(&self) -> PathBuf {
        if let Some(s) = &self.global.state {
            return s.clone();
        }
        if self.as_root {
            return self.host.path("/var/lib/twinsync");
        }
        match std::env::var_os("XDG_STATE_HOME") {
            Some(x) => PathBuf::from(x).join("twinsync"),
            None => PathBuf::from(format!("{}/.local/state/twinsync", self.local_home())),
        }
    }

    /// One twinsync at a time.
    pub(crate) fn lock(&self) -> Result<Lock> {
        Lock::take(&self.state_dir())
    }

    /// Writes one config key; under sudo the config file in the user's home stays theirs.
    pub(crate) fn set_config(&self, key: &str, value: &str) -> Result<()> {
        self.set_configs(&[(key, value)])
    }

    /// Writes several config keys. One call for all of them: each `set_config` starts from the
    /// config as loaded, so calling it twice would keep only the second key.
    pub(crate) fn set_configs(&self, pairs: &[(&str, &str)]) -> Result<()> {
        let mut config = self.config.clone();
        for (key, value) in pairs {
            config.set(key, value)?;
        }
        let (Some((uid, gid)), Some(dir)) = (self.sudo_owner, config.path().parent()) else { return Ok(()) };
        if dir.starts_with(self.local_home()) {
            for p in [dir, config.path()] {
                std::os::unix::fs::lchown(p, Some(uid), Some(gid))
                    .map_err(|e| Error::io(&format!("give {} to the invoking user", p.display()), e))?;
            }
        }
        Ok(())
    }

    /// Under sudo the twin belongs to the person who ran sudo, not to root.
    pub(crate) fn fix_ownership(&self, dir: &Path) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let Some((uid, gid)) = self.sudo_owner else { return Ok(()) };
        let mut failed = None;
        walk::walk(dir, &mut |path, m| {
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    failed.get_or_insert_with(|| Error::failed(format!("failed to read the twin: {e}")));
                    return false;
                }
            };
            if m.uid() != uid || m.gid() != gid {
                if let Err(e) = std::os::unix::fs::lchown(path, Some(uid), Some(gid)) {
                    failed.get_or_insert_with(|| {
                        Error::io(&format!("give {} to the invoking user", path.display()), e)
                    });
                    return false;
                }
            }
            true
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(())
    }
}

/// Large buffers (a listing of 100,000 paths, a stat cache) always come from and go back to
/// the system. glibc otherwise raises its mmap threshold to the largest buffer freed so far,
/// after which such buffers stay in the heap of the thread that freed them: that was a fifth
/// of the peak memory of a no-op snapshot at 100,000 files, and no time was saved by it.
fn fixed_mmap_threshold() {
    #[cfg(target_env = "gnu")]
    {
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt takes two ints and only changes the allocator's settings; it is
        // called before any other thread exists.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}

fn home_of(host: &Host, user: &str) -> Option<String> {
    let passwd = fs_err::read_to_string(host.path("/etc/passwd")).ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[0] == user && f[5].starts_with('/'))
            .then(|| f[5].trim_end_matches('/').to_string())
    })
}

fn local_home_of(user: &str) -> String {
    home_of(&Host::new(Path::new("/")), user)
        .or_else(|| std::env::var("HOME").ok())
        .unwrap_or_else(|| "/root".to_string())
}

/// The lock file of the state folder, removed when dropped. A lock left by a process that is
/// gone (killed) is taken over.
pub(crate) struct Lock {
    path: PathBuf,
}

impl Lock {
    fn take(state: &Path) -> Result<Lock> {
        use std::os::unix::fs::PermissionsExt;
        fs_err::create_dir_all(state)?;
        fs_err::set_permissions(state, std::fs::Permissions::from_mode(0o700))?;
        let path = state.join("lock");
        for _ in 0..2 {
            match fs_err::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{}", std::process::id())?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let pid = fs_err::read_to_string(&path).unwrap_or_default();
                    let pid = pid.trim();
                    if !pid.is_empty() && Path::new(&format!("/proc/{pid}")).exists() {
                        return Err(Error::failed(format!(
                            "another twinsync is running (pid {pid}); wait for it to finish (lock: {})",
                            path.display()
                        )));
                    }
                    let _ = fs_err::remove_file(&path);
                }
                Err(e) => return Err(Error::io("take the lock", e)),
            }
        }
        Err(Error::failed(format!("could not take the lock {}", path.display())))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
