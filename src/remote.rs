//! The remote and the time machine (SPEC §8): `history`, `restore`, `remote`, `push`, `pull`,
//! the push after a snapshot, and the answer to git's password prompt.
//!
//! History is never rewritten: `restore` adds a commit, `pull` only fast-forwards, so no force
//! push is ever needed. Every push first scans the outgoing commits for secrets again (SPEC §4),
//! because a person may have committed into the twin by hand. The GitHub token reaches git only
//! through the child's environment (`twin::Auth`), never an argument, `.git/config` or a URL.

use std::ffi::OsString;
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::twin::{Auth, LogEntry, Twin, ASKPASS_TOKEN_VAR, ASKPASS_USER_VAR};
use crate::{secrets, workflow, Ctx};

/// `twinsync history`
pub(crate) fn history(ctx: &Ctx, show: Option<&str>) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let text = match show {
        Some(rev) => show_text(ctx, &twin, rev)?,
        None => history_text(ctx, &twin)?,
    };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// One line per snapshot, newest first; the commit the baseline ref points at is marked.
pub(crate) fn history_text(ctx: &Ctx, twin: &Twin) -> Result<String> {
    let baseline = twin.baseline(&ctx.host)?;
    let mut text = String::new();
    for e in twin.log(&ctx.host, &["HEAD"])? {
        let mark = if baseline.as_deref() == Some(e.oid.as_str()) { "  (baseline)" } else { "" };
        text.push_str(&format!("{}  {}  {}{mark}\n", e.short, e.date, e.subject));
    }
    Ok(text)
}

/// What snapshot REV changed.
pub(crate) fn show_text(ctx: &Ctx, twin: &Twin, rev: &str) -> Result<String> {
    let commit = commit_of(ctx, twin, rev)?;
    twin.show(&ctx.host, &commit)
}

/// The commit REV names, or a usage error that says where to find one.
fn commit_of(ctx: &Ctx, twin: &Twin, rev: &str) -> Result<String> {
    twin.resolve(&ctx.host, rev)?.ok_or_else(|| {
        Error::bad_input(format!("'{rev}' names no snapshot of the twin; `twinsync history` lists them"))
    })
}

/// `twinsync restore REV`: a new commit on HEAD with REV's tree. The baseline ref stays, so
/// `plan` then sees the twin changed since the last observation and plans the machine back.
pub(crate) fn restore(ctx: &Ctx, rev: &str) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let _lock = ctx.lock()?;
    let commit = commit_of(ctx, &twin, rev)?;
    refuse_uncommitted(ctx, &twin, "restore")?;
    let target = twin
        .log(&ctx.host, &["-1", &commit])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::failed(format!("cannot read snapshot {rev}")))?;
    let changes = twin.diff_stat(&ctx.host, "HEAD", &commit)?;
    if changes.trim().is_empty() {
        println!(
            "twinsync: the twin already equals {} ({}); nothing to restore",
            target.short, target.subject
        );
        return Ok(ExitCode::SUCCESS);
    }
    if !ctx.global.quiet || !ctx.global.yes {
        println!(
            "twinsync: restore writes a new commit that makes the twin equal to {}  {}  {}",
            target.short, target.date, target.subject
        );
        println!(
            "history is kept; the machine changes only when you plan and apply. The new commit changes:"
        );
        print!("{changes}");
    }
    if !workflow::confirm(ctx, "Restore?")? {
        println!("twinsync: nothing was changed");
        return Ok(ExitCode::SUCCESS);
    }
    let message = format!("restore snapshot {} ({})", target.short, target.subject);
    let new = twin.restore(&ctx.host, &commit, &message)?;
    ctx.fix_ownership(twin.dir())?;
    if !ctx.global.quiet {
        println!("twinsync: the twin now equals {} as new commit {}", target.short, &new[..new.len().min(7)]);
        println!("twinsync: next: `twinsync plan` shows how the machine would follow");
    }
    Ok(ExitCode::SUCCESS)
}

/// Nothing of a person's may be lost: commands that move HEAD refuse a twin with edits.
fn refuse_uncommitted(ctx: &Ctx, twin: &Twin, command: &str) -> Result<()> {
    let changes = twin.uncommitted(&ctx.host)?;
    if changes.is_empty() {
        return Ok(());
    }
    Err(Error::bad_input(format!(
        "the twin has uncommitted changes, so `{command}` changed nothing:\n  {}\ncommit them \
         (`git -C {} commit -a`) or put them aside (`git -C {} stash -u`), then run it again",
        changes.join("\n  "),
        twin.dir().display(),
        twin.dir().display()
    )))
}

/// `twinsync remote [URL]`
pub(crate) fn remote(ctx: &Ctx, url: Option<&str>) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let Some(url) = url else {
        match twin.remote_url(&ctx.host)? {
            Some(u) => println!("{u}"),
            None => println!("twinsync: the twin has no remote; set one with `twinsync remote URL`"),
        }
        return Ok(ExitCode::SUCCESS);
    };
    let url = check_url(url)?;
    twin.set_remote_url(&ctx.host, &url)?;
    ctx.fix_ownership(twin.dir())?;
    if !ctx.global.quiet {
        println!("twinsync: origin is now {url}; next: `twinsync push`");
    }
    Ok(ExitCode::SUCCESS)
}

/// Accepts ssh (`git@host:path`, `ssh://`), http(s) and local paths (`/path`, `file://`);
/// refuses credentials in a URL (they would end up in `.git/config`). A relative local path is
/// made absolute, so the remote does not depend on where the command ran.
pub(crate) fn check_url(url: &str) -> Result<String> {
    let bad = |why: &str| Err(Error::bad_input(format!("remote '{}': {why}", redacted(url))));
    if url.is_empty() || url.starts_with('-') || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("not a git URL; give e.g. git@github.com:me/twin.git or https://host/me/twin.git");
    }
    if url.contains("::") {
        return bad("remote helpers (`transport::address`) are not allowed; use ssh, https or a path");
    }
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or("");
        let userinfo = authority.rsplit_once('@').map(|(u, _)| u);
        return match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" if userinfo.is_some() => {
                bad("a user or token in the URL would be stored in .git/config; give the URL without it and \
                 set the token with `twinsync config set github_token TOKEN`")
            }
            "ssh" if userinfo.is_some_and(|u| u.contains(':')) => {
                bad("a password in the URL would be stored in .git/config; use an ssh key")
            }
            "https" | "http" | "ssh" if authority.is_empty() => bad("the URL names no host"),
            "https" | "http" | "ssh" | "file" => Ok(url.to_string()),
            _ => bad("only ssh, https, http and local paths (or file://) are allowed"),
        };
    }
    if url.starts_with('/') {
        return Ok(url.to_string());
    }
    // scp-like ssh: [user@]host:path, with no slash before the colon (git's own rule).
    if let Some((host, _)) = url.split_once(':') {
        if !host.is_empty() && !host.contains('/') {
            return Ok(url.to_string());
        }
    }
    if url.starts_with("./") || url.starts_with("../") {
        return Ok(std::env::current_dir()?.join(url).to_string_lossy().into_owned());
    }
    bad("only ssh, https, http and local paths (or file://) are allowed; a path starts with / or ./")
}

/// The URL as it may be shown: a user or token in it replaced by `***`, so an error never
/// repeats a credential that was pasted into a URL.
fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://***@{host}/{path}"),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

/// The token for git, when the config holds one.
fn auth(ctx: &Ctx) -> Option<Auth> {
    let token = ctx.config.get("github_token").filter(|t| !t.is_empty())?;
    Some(Auth { user: ctx.config.get("github_user").map(str::to_string), token: token.to_string() })
}

fn require_remote(ctx: &Ctx, twin: &Twin) -> Result<String> {
    twin.remote_url(&ctx.host)?.ok_or_else(|| {
        Error::bad_input(
            "the twin has no remote: set one with `twinsync remote URL` (or `twinsync github setup`)",
        )
    })
}

/// `twinsync push`
pub(crate) fn push(ctx: &Ctx) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    push_twin(ctx, &twin)?;
    if !ctx.global.quiet {
        println!("twinsync: pushed the twin to origin");
    }
    Ok(ExitCode::SUCCESS)
}

/// Scans the outgoing commits, then pushes. A secret found stops the push (exit 1).
fn push_twin(ctx: &Ctx, twin: &Twin) -> Result<()> {
    require_remote(ctx, twin)?;
    let hits = scan_outgoing(ctx, twin)?;
    if !hits.is_empty() {
        return Err(Error::failed(format!(
            "nothing was pushed: the commits to push hold secrets:\n  {}\nremoving the file in a new \
             commit is not enough, the history still holds it: `twinsync restore` a snapshot from \
             before it only if that snapshot was never pushed, else rewrite the history by hand \
             (`git -C {} rebase -i`) so no commit holds it; never push it",
            hits.join("\n  "),
            twin.dir().display()
        )));
    }
    twin.push(&ctx.host, auth(ctx).as_ref())?;
    ctx.fix_ownership(twin.dir())
}

/// Blobs read at once: bounds the memory a first push of a large twin needs.
const SCAN_CHUNK: usize = 256;

/// `COMMIT PATH (reason)` of every secret the outgoing commits add, by path rule or content.
fn scan_outgoing(ctx: &Ctx, twin: &Twin) -> Result<Vec<String>> {
    let changes = twin.outgoing_blobs(&ctx.host)?;
    let mut hits = Vec::new();
    for chunk in changes.chunks(SCAN_CHUNK) {
        let oids: Vec<&str> = chunk.iter().map(|(_, _, oid)| oid.as_str()).collect();
        let blobs = twin.read_blobs(&ctx.host, &oids)?;
        for (commit, path, oid) in chunk {
            let by_path = path
                .strip_prefix("filesystem")
                .filter(|p| p.starts_with('/'))
                .is_some_and(|machine| secrets::secret_path(machine, &ctx.home));
            let reason = if by_path {
                Some("secret-path")
            } else {
                blobs.get(oid).and_then(|b| secrets::secret_content(b))
            };
            if let Some(reason) = reason {
                let hit = format!("{} {path} ({reason})", &commit[..commit.len().min(7)]);
                if !hits.contains(&hit) {
                    hits.push(hit);
                }
            }
        }
    }
    Ok(hits)
}

/// After a snapshot: push when a remote is set, `auto_push=yes` and not `--no-push`. A failed
/// push is a warning; the snapshot's commit stays and the next push sends it.
pub(crate) fn push_after_snapshot(ctx: &Ctx, twin: &Twin, no_push: bool) -> Result<()> {
    if no_push || ctx.config.get("auto_push") != Some("yes") || twin.remote_url(&ctx.host)?.is_none() {
        return Ok(());
    }
    match push_twin(ctx, twin) {
        Ok(()) if !ctx.global.quiet => println!("twinsync: pushed the twin to origin"),
        Ok(()) => {}
        Err(e) => eprintln!(
            "twinsync: warning: the twin was not pushed (the snapshot stays committed here); `twinsync push` tries again:\n{e}"
        ),
    }
    Ok(())
}

/// `twinsync pull`: fetch, then fast-forward only.
pub(crate) fn pull(ctx: &Ctx) -> Result<ExitCode> {
    let twin = ctx.twin()?;
    let _lock = ctx.lock()?;
    require_remote(ctx, &twin)?;
    refuse_uncommitted(ctx, &twin, "pull")?;
    twin.fetch(&ctx.host, auth(ctx).as_ref())?;
    let upstream = twin.upstream(&ctx.host)?;
    let Some(theirs) = twin.resolve(&ctx.host, &upstream)? else {
        println!(
            "twinsync: the remote has no {upstream} yet; nothing to pull (`twinsync push` sends the twin)"
        );
        return Ok(ExitCode::SUCCESS);
    };
    let incoming = twin.log(&ctx.host, &[&format!("HEAD..{theirs}")])?;
    let outgoing = twin.log(&ctx.host, &[&format!("{theirs}..HEAD")])?;
    if incoming.is_empty() {
        if !ctx.global.quiet {
            println!("twinsync: the twin is up to date with origin");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !outgoing.is_empty() {
        return Err(diverged(&twin, &upstream, &incoming, &outgoing));
    }
    twin.fast_forward(&ctx.host, &theirs)?;
    ctx.fix_ownership(twin.dir())?;
    if !ctx.global.quiet {
        println!("twinsync: fast-forwarded the twin by {} commit(s) from origin", incoming.len());
        println!("twinsync: next: `twinsync plan` shows how the machine would follow");
    }
    Ok(ExitCode::SUCCESS)
}

fn diverged(twin: &Twin, upstream: &str, incoming: &[LogEntry], outgoing: &[LogEntry]) -> Error {
    let list = |entries: &[LogEntry]| {
        entries.iter().map(|e| format!("    {} {}", e.short, e.subject)).collect::<Vec<_>>().join("\n")
    };
    let short = upstream.strip_prefix("refs/remotes/").unwrap_or(upstream);
    Error::failed(format!(
        "nothing was changed: the twin and origin have diverged (pull only fast-forwards)\n  \
         only on origin:\n{}\n  only in the twin:\n{}\nput the twin's commits on top by hand \
         (`git -C {dir} rebase {short}`, then `twinsync push`), or keep one side with \
         `twinsync restore`",
        list(incoming),
        list(outgoing),
        dir = twin.dir().display(),
    ))
}

/// What to print when git runs twinsync as its `GIT_ASKPASS` helper: git calls the helper with
/// one argument, its prompt (`Username for 'https://host': ` or `Password for '…': `), and reads
/// the answer from stdout. Only when the token variable is set (by `Twin::remote_git`).
pub(crate) fn askpass_reply(args: &[OsString]) -> Option<String> {
    let token = std::env::var(ASKPASS_TOKEN_VAR).ok()?;
    let [prompt] = args else { return None };
    let user = std::env::var(ASKPASS_USER_VAR).ok();
    askpass_answer(&prompt.to_string_lossy(), user.as_deref(), &token)
}

/// The answer to one prompt: the user (GitHub accepts `x-access-token` with a token) or the token.
pub(crate) fn askpass_answer(prompt: &str, user: Option<&str>, token: &str) -> Option<String> {
    let user = user.filter(|u| !u.is_empty()).unwrap_or("x-access-token");
    if prompt.starts_with("Username for '") {
        Some(user.to_string())
    } else if prompt.starts_with("Password for '") {
        Some(token.to_string())
    } else {
        None
    }
}
