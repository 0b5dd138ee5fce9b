//! history, restore, remote, push and pull in-process against a sandbox, with a bare git
//! repository in a temporary folder as the remote; and the token test, which runs its pushes in
//! a child process whose PATH starts with a `git` wrapper that records every argument.

use std::path::{Path, PathBuf};

use super::{Sandbox, TempDir};

/// Runs git in any folder (no global config) and returns its stdout.
#[track_caller]
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "other")
        .env("GIT_AUTHOR_EMAIL", "other@example.org")
        .env("GIT_COMMITTER_NAME", "other")
        .env("GIT_COMMITTER_EMAIL", "other@example.org")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn ctx(sb: &Sandbox) -> crate::Ctx {
    crate::Ctx::new(crate::cli::parse(sb.args(&["history"])).unwrap().global).unwrap()
}

fn history(sb: &Sandbox) -> String {
    let ctx = ctx(sb);
    crate::remote::history_text(&ctx, &ctx.twin().unwrap()).unwrap()
}

fn head(sb: &Sandbox) -> String {
    sb.git(&["rev-parse", "HEAD"]).trim().to_string()
}

/// A twin with two snapshots: /etc/hosts changed between them.
fn two_snapshots() -> Sandbox {
    let sb = Sandbox::new("remote");
    sb.ok(&["init"]);
    sb.ok(&["snapshot", "-m", "first look"]);
    sb.write("/etc/hosts", "127.0.0.1 localhost\n10.0.0.9 printer\n");
    sb.ok(&["snapshot", "-m", "printer added"]);
    sb
}

/// A sandbox whose twin has a bare repository as origin (not yet pushed).
fn with_remote() -> (Sandbox, TempDir, PathBuf) {
    let sb = two_snapshots();
    let dir = TempDir::new("bare");
    let bare = dir.path().join("twin.git");
    git_in(dir.path(), &["init", "--quiet", "--bare", "--initial-branch=main", "twin.git"]);
    sb.ok(&["remote", bare.to_str().unwrap()]);
    (sb, dir, bare)
}

/// A second clone of the remote, as another computer would have it.
fn clone(bare: &Path, dir: &TempDir) -> PathBuf {
    let clone = dir.path().join("clone");
    git_in(dir.path(), &["clone", "--quiet", bare.to_str().unwrap(), "clone"]);
    clone
}

#[test]
fn history_lists_snapshots_newest_first_and_marks_the_baseline() {
    let sb = two_snapshots();
    let text = history(&sb);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("printer added") && lines[0].ends_with("(baseline)"), "{text}");
    assert!(lines[1].contains("first look") && !lines[1].contains("baseline"), "{text}");
    assert!(lines[2].contains("new twin of"), "{text}");
    let short = &head(&sb)[..7];
    assert!(lines[0].starts_with(short), "{text}");
    // short hash, YYYY-MM-DD HH:MM, message
    let date = lines[0].split("  ").nth(1).unwrap();
    assert_eq!(date.len(), 16, "{date}");
    assert_eq!(&date[4..5], "-");
    assert_eq!(&date[10..11], " ");
    assert_eq!(sb.run(&["history"]), Ok(0));
}

#[test]
fn history_show_shows_what_a_snapshot_changed_and_a_bad_rev_is_refused() {
    let sb = two_snapshots();
    let ctx = ctx(&sb);
    let text = crate::remote::show_text(&ctx, &ctx.twin().unwrap(), "HEAD").unwrap();
    assert!(text.contains("printer added"), "{text}");
    assert!(text.contains("filesystem/etc/hosts"), "{text}");
    assert!(text.contains("+10.0.0.9 printer"), "{text}");
    let (code, msg) = sb.run(&["history", "show", "nosuchrev"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("nosuchrev") && msg.contains("twinsync history"), "{msg}");
}

#[test]
fn restore_makes_a_new_commit_with_the_old_tree_and_plan_brings_the_machine_back() {
    let sb = two_snapshots();
    let baseline = sb.git(&["rev-parse", "refs/twinsync/baseline"]);
    let old_tree = sb.git(&["rev-parse", "HEAD~1^{tree}"]);
    let commits = sb.commits();
    sb.ok(&["restore", "HEAD~1", "--yes"]);
    assert_eq!(sb.commits(), commits + 1, "history is kept");
    assert_eq!(sb.git(&["rev-parse", "HEAD^{tree}"]), old_tree);
    assert_eq!(sb.git(&["rev-parse", "refs/twinsync/baseline"]), baseline, "the baseline stays");
    assert_eq!(sb.twin_file("filesystem/etc/hosts").unwrap(), "127.0.0.1 localhost\n");
    assert_eq!(sb.git(&["status", "--porcelain"]), "", "index and working tree follow");
    assert!(history(&sb).lines().next().unwrap().contains("restore snapshot"));
    sb.ok(&["plan", "files"]);
    let plan = sb.twin_file("plans/plan-files.txt").unwrap();
    assert!(plan.lines().any(|l| l == "REPLACE /etc/hosts"), "{plan}");
    // Restoring the snapshot the twin already equals does nothing.
    let now = head(&sb);
    sb.ok(&["restore", "HEAD", "--yes"]);
    assert_eq!(head(&sb), now);
}

#[test]
fn restore_with_uncommitted_edits_is_refused_and_changes_nothing() {
    let sb = two_snapshots();
    sb.write_twin("filesystem/etc/motd", "my edit\n");
    let before = head(&sb);
    let (code, msg) = sb.run(&["restore", "HEAD~1", "--yes"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("filesystem/etc/motd"), "{msg}");
    assert_eq!(head(&sb), before);
    assert_eq!(sb.twin_file("filesystem/etc/motd").unwrap(), "my edit\n");
    let (code, _) = sb.run(&["restore", "nosuchrev", "--yes"]).unwrap_err();
    assert_eq!(code, 2);
}

#[test]
fn remote_is_set_and_shown_and_credentials_or_odd_urls_are_refused() {
    let sb = two_snapshots();
    assert_eq!(sb.run(&["remote"]), Ok(0));
    sb.ok(&["remote", "git@github.com:ana/twin.git"]);
    assert_eq!(sb.git(&["remote", "get-url", "origin"]).trim(), "git@github.com:ana/twin.git");
    sb.ok(&["remote", "https://github.com/ana/twin.git"]);
    assert_eq!(sb.git(&["remote", "get-url", "origin"]).trim(), "https://github.com/ana/twin.git");
    assert_eq!(sb.run(&["remote"]), Ok(0));
    for bad in [
        "https://ana:secret@github.com/ana/twin.git",
        "https://ghp_abcdefabcdefabcdefabcdefabcdefabcdef@github.com/ana/twin.git",
        "ssh://ana:pw@host/twin.git",
        "ext::sh -c touch% /tmp/x",
        "ftp://host/twin.git",
        "-uhttps://host/x",
        "twin.git",
    ] {
        let (code, msg) = sb.run(&["remote", bad]).unwrap_err();
        assert_eq!(code, 2, "{bad}: {msg}");
        for secret in ["secret", "ghp_abcdef", ":pw@"] {
            assert!(!msg.contains(secret), "the refusal repeats the credential: {msg}");
        }
    }
    assert_eq!(sb.git(&["remote", "get-url", "origin"]).trim(), "https://github.com/ana/twin.git");
    for good in ["ssh://git@host:22/twin.git", "file:///srv/twin.git", "/srv/twin.git", "http://nas/twin.git"]
    {
        assert_eq!(crate::remote::check_url(good).unwrap(), good);
    }
}

#[test]
fn push_then_pull_fast_forwards_from_another_clone() {
    let (sb, dir, bare) = with_remote();
    sb.ok(&["push"]);
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), sb.git(&["rev-parse", "HEAD"]));
    let other = clone(&bare, &dir);
    std::fs::write(other.join("filesystem/etc/hosts"), "127.0.0.1 localhost\n10.0.0.7 nas\n").unwrap();
    git_in(&other, &["commit", "--quiet", "-am", "nas from elsewhere"]);
    git_in(&other, &["push", "--quiet", "origin", "main"]);
    sb.ok(&["pull"]);
    assert_eq!(sb.git(&["rev-parse", "HEAD"]), git_in(&other, &["rev-parse", "HEAD"]));
    assert_eq!(sb.twin_file("filesystem/etc/hosts").unwrap(), "127.0.0.1 localhost\n10.0.0.7 nas\n");
    assert_eq!(sb.git(&["status", "--porcelain"]), "");
    // Up to date: nothing happens.
    sb.ok(&["pull"]);
}

#[test]
fn a_diverged_pull_exits_1_and_changes_nothing() {
    let (sb, dir, bare) = with_remote();
    sb.ok(&["push"]);
    let other = clone(&bare, &dir);
    std::fs::write(other.join("filesystem/etc/motd"), "theirs\n").unwrap();
    git_in(&other, &["add", "-A"]);
    git_in(&other, &["commit", "--quiet", "-m", "their change"]);
    git_in(&other, &["push", "--quiet", "origin", "main"]);
    sb.write_twin("filesystem/etc/issue", "ours\n");
    sb.git(&["add", "-A"]);
    sb.git(&["commit", "--quiet", "-m", "our change"]);
    let before = head(&sb);
    let (code, msg) = sb.run(&["pull"]).unwrap_err();
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("their change") && msg.contains("our change") && msg.contains("rebase"), "{msg}");
    assert_eq!(head(&sb), before);
    assert_eq!(sb.twin_file("filesystem/etc/motd"), None);
    assert_eq!(sb.git(&["status", "--porcelain"]), "");
}

#[test]
fn pull_with_uncommitted_edits_or_without_a_remote_is_refused() {
    let sb = two_snapshots();
    let (code, msg) = sb.run(&["pull"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("no remote"), "{msg}");
    let (code, _) = sb.run(&["push"]).unwrap_err();
    assert_eq!(code, 2);
    let (sb, _dir, _bare) = with_remote();
    sb.ok(&["push"]);
    sb.write_twin("filesystem/etc/hosts", "edited\n");
    let (code, msg) = sb.run(&["pull"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("filesystem/etc/hosts") && msg.contains("changed nothing"), "{msg}");
    assert_eq!(sb.twin_file("filesystem/etc/hosts").unwrap(), "edited\n");
}

#[test]
fn a_secret_committed_by_hand_stops_the_push() {
    let (sb, _dir, bare) = with_remote();
    sb.ok(&["push"]);
    let pushed = git_in(&bare, &["rev-parse", "main"]);
    sb.write_twin(
        "filesystem/etc/app.conf",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\nQyNTUxOQAAACDx3m0Pn2sH8Z5n0u5l5p1bXq2q0vK9p8m0Yl7v1Q3aAAAAAJg1c2Vy\n-----END OPENSSH PRIVATE KEY-----\n",
    );
    sb.git(&["add", "-A"]);
    sb.git(&["commit", "--quiet", "-m", "oops"]);
    // A later commit removing it does not help: history still holds it.
    std::fs::remove_file(sb.twin.join("filesystem/etc/app.conf")).unwrap();
    sb.git(&["commit", "--quiet", "-am", "removed again"]);
    let oops = sb.git(&["rev-parse", "--short=7", "HEAD~1"]);
    let (code, msg) = sb.run(&["push"]).unwrap_err();
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("filesystem/etc/app.conf") && msg.contains(oops.trim()), "{msg}");
    assert!(msg.contains("never push"), "{msg}");
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), pushed, "the remote is unchanged");
    // A secret by path: /etc/shadow.
    sb.git(&["reset", "--quiet", "--hard", "HEAD~2"]);
    sb.write_twin("filesystem/etc/shadow", "root:*:19000:0:99999:7:::\n");
    sb.git(&["add", "-A"]);
    sb.git(&["commit", "--quiet", "-m", "shadow"]);
    let (code, msg) = sb.run(&["push"]).unwrap_err();
    assert_eq!(code, 1);
    assert!(msg.contains("filesystem/etc/shadow (secret-path)"), "{msg}");
}

#[test]
fn snapshot_pushes_with_auto_push_and_a_failed_push_is_only_a_warning() {
    let (sb, dir, bare) = with_remote();
    sb.ok(&["config", "set", "auto_push", "yes"]);
    sb.write("/etc/motd", "welcome\n");
    sb.ok(&["snapshot"]);
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), sb.git(&["rev-parse", "HEAD"]));
    // --no-push: the commit stays local.
    sb.write("/etc/motd", "welcome back\n");
    sb.ok(&["snapshot", "--no-push"]);
    assert_ne!(git_in(&bare, &["rev-parse", "main"]), sb.git(&["rev-parse", "HEAD"]));
    // The remote is gone: the snapshot still succeeds.
    std::fs::remove_dir_all(&bare).unwrap();
    sb.write("/etc/motd", "welcome again\n");
    let commits = sb.commits();
    assert_eq!(sb.run(&["snapshot"]), Ok(0));
    assert_eq!(sb.commits(), commits + 1);
    drop(dir);
}

#[test]
fn askpass_answers_git_prompts() {
    use crate::remote::askpass_answer;
    assert_eq!(
        askpass_answer("Username for 'https://github.com': ", Some("ana"), "tok").as_deref(),
        Some("ana")
    );
    assert_eq!(
        askpass_answer("Username for 'https://github.com': ", None, "tok").as_deref(),
        Some("x-access-token")
    );
    assert_eq!(
        askpass_answer("Password for 'https://ana@github.com': ", Some("ana"), "tok").as_deref(),
        Some("tok")
    );
    assert_eq!(askpass_answer("Are you sure (yes/no)? ", Some("ana"), "tok"), None);
    // Without the token variable set (as in this test process), twinsync is not an askpass.
    if std::env::var_os("TWINSYNC_ASKPASS_TOKEN").is_none() {
        assert_eq!(crate::remote::askpass_reply(&["Password for 'x': ".into()]), None);
    }
}

const TOKEN: &str = "ghp_TokenTestTokenTestTokenTestTokenTest";

/// The token test's child: pushes and pulls a sandbox the parent made, with the parent's
/// recording `git` first on PATH. Does nothing in a normal test run.
#[test]
fn token_child() {
    let Some(dir) = std::env::var_os("TWINSYNC_TEST_REMOTE_SANDBOX") else { return };
    let sb = Sandbox::at(Path::new(&dir));
    assert_eq!(sb.run(&["push"]), Ok(0));
    assert_eq!(sb.run(&["pull"]), Ok(0));
}

#[test]
fn the_token_reaches_git_only_through_the_environment() {
    let (sb, dir, bare) = with_remote();
    sb.ok(&["config", "set", "github_token", TOKEN]);
    sb.ok(&["config", "set", "github_user", "ana"]);
    let real_git = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
        .unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.path().join("git.log");
    let script = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf 'arg %s\\n' \"$a\" >> '{log}'; done\n\
         [ -n \"$TWINSYNC_ASKPASS_TOKEN\" ] && printf 'env token-set askpass=%s\\n' \"$GIT_ASKPASS\" >> '{log}'\n\
         exec '{git}' \"$@\"\n",
        log = log.display(),
        git = real_git.display()
    );
    std::fs::write(bin.join("git"), script).unwrap();
    std::fs::set_permissions(bin.join("git"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = std::env::join_paths(
        std::iter::once(bin.clone()).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap())),
    )
    .unwrap();
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::remote::token_child", "--nocapture", "--test-threads=1", "-q"])
        .env("PATH", path)
        .env("TWINSYNC_TEST_REMOTE_SANDBOX", sb.dir())
        .env_remove("TWINSYNC_ASKPASS_TOKEN")
        .stdin(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the child failed");
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("arg push") && log.contains("arg fetch"), "the wrapper saw no push/fetch:\n{log}");
    assert!(!log.contains(TOKEN), "the token was an argument:\n{log}");
    // The remote commands had the token in their environment, and twinsync as askpass.
    assert!(log.lines().any(|l| l.starts_with("env token-set askpass=/")), "{log}");
    let config = std::fs::read_to_string(sb.twin.join(".git/config")).unwrap();
    assert!(!config.contains(TOKEN), "{config}");
    let url = sb.git(&["remote", "get-url", "origin"]);
    assert!(!url.contains(TOKEN) && url.trim() == bare.to_str().unwrap(), "{url}");
    assert_eq!(git_in(&bare, &["rev-parse", "main"]), sb.git(&["rev-parse", "HEAD"]));
}
