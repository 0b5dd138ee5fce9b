//! `github setup` against a fake GitHub: a tiny HTTP/1.1 server on loopback that answers canned
//! responses in order and records every request. curl and git run for real.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::Sandbox;

const TOKEN: &str = "test-token-0123456789abcdef";
const CLONE_URL: &str = "https://github.example/ana/twin-sandbox.git";

#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Serves `answers` (status, JSON body) to the next connections, one each, then stops; gives
/// up after a few seconds so that a test that asks fewer questions does not hang.
fn serve(answers: Vec<(u16, String)>) -> (String, std::thread::JoinHandle<Vec<Request>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        for (status, body) in answers {
            let stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break Some(s),
                    Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => break None,
                }
            };
            let Some(mut stream) = stream else { break };
            let Some(req) = read_request(&mut stream) else { break };
            seen.push(req);
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
        seen
    });
    (url, handle)
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < len {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Request { method, path, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

fn user() -> (u16, String) {
    (200, r#"{"login": "ana", "id": 1, "type": "User"}"#.to_string())
}

fn repo(private: bool) -> String {
    format!(
        r#"{{"id": 7, "name": "twin-sandbox", "full_name": "ana/twin-sandbox",
           "owner": {{"login": "ana", "private": true}}, "private": {private},
           "html_url": "https://github.example/ana/twin-sandbox", "clone_url": "{CLONE_URL}"}}"#
    )
}

fn sandbox(name: &str, api: &str) -> Sandbox {
    let sb = Sandbox::new(name);
    sb.ok(&["init"]);
    sb.ok(&["config", "set", "github_api", api]);
    sb
}

/// Runs twinsync with `stdin` as its (fake, per-thread) standard input.
fn run_with_stdin(sb: &Sandbox, stdin: &str, args: &[&str]) -> Result<u8, (u8, String)> {
    crate::github::FAKE_STDIN.with(|f| *f.borrow_mut() = Some(stdin.to_string()));
    let res = sb.run(args);
    crate::github::FAKE_STDIN.with(|f| *f.borrow_mut() = None);
    res
}

fn config_text(sb: &Sandbox) -> String {
    std::fs::read_to_string(&sb.config).unwrap()
}

fn origin(sb: &Sandbox) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&sb.twin)
        .args(["config", "--get", "remote.origin.url"])
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn assert_nothing_stored(sb: &Sandbox) {
    let cfg = config_text(sb);
    assert!(!cfg.contains("github_token") && !cfg.contains("github_user"), "{cfg}");
    assert_eq!(origin(sb), None);
}

#[test]
fn creates_a_private_repository_and_sets_origin() {
    let (api, server) = serve(vec![user(), (404, r#"{"message": "Not Found"}"#.into()), (201, repo(true))]);
    let sb = sandbox("gh-create", &api);
    assert_eq!(run_with_stdin(&sb, &format!("{TOKEN}\n"), &["github", "setup", "--login", "ana"]), Ok(0));
    let reqs = server.join().unwrap();
    let seen: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(seen, ["GET /user", "GET /repos/ana/twin-sandbox", "POST /user/repos"]);
    for r in &reqs {
        assert_eq!(r.header("user-agent"), Some("twinsync"), "{r:?}");
        assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
        assert_eq!(r.header("x-github-api-version"), Some("2022-11-28"));
        assert_eq!(r.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()));
    }
    let post = &reqs[2];
    assert_eq!(post.header("content-type"), Some("application/json"));
    assert!(post.body.contains(r#""name": "twin-sandbox""#), "{}", post.body);
    assert!(post.body.contains(r#""private": true"#), "{}", post.body);
    assert!(post.body.contains(r#""description": "TwinSync twin of sandbox""#), "{}", post.body);

    assert_eq!(origin(&sb).as_deref(), Some(CLONE_URL));
    let cfg = config_text(&sb);
    for line in ["github_user=ana", &format!("github_token={TOKEN}"), "github_repo=twin-sandbox"] {
        assert!(cfg.lines().any(|l| l == line), "{line} in {cfg}");
    }
    assert!(cfg.contains(&format!("github_api={api}")), "the earlier key stays: {cfg}");
    let mode = std::fs::metadata(&sb.config).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let git_config = std::fs::read_to_string(sb.twin.join(".git/config")).unwrap();
    assert!(!git_config.contains(TOKEN), "{git_config}");
}

#[test]
fn reuses_an_existing_private_repository_and_the_configured_user() {
    let (api, server) = serve(vec![user(), (200, repo(true))]);
    let sb = sandbox("gh-reuse", &api);
    sb.ok(&["config", "set", "github_user", "ana"]);
    // A second run changes the existing origin.
    sb.git(&["remote", "add", "origin", "https://old.example/x.git"]);
    assert_eq!(run_with_stdin(&sb, &format!("{TOKEN}\n"), &["github", "setup"]), Ok(0));
    let reqs = server.join().unwrap();
    assert_eq!(reqs.len(), 2, "no POST: {reqs:?}");
    assert_eq!(origin(&sb).as_deref(), Some(CLONE_URL));
    assert!(config_text(&sb).contains("github_repo=twin-sandbox"));
}

#[test]
fn name_already_exists_on_create_is_looked_up_again_and_reused() {
    let exists = r#"{"message":"Repository creation failed.","errors":[{"resource":"Repository","code":"custom","field":"name","message":"name already exists on this account"}],"status":"422"}"#;
    let (api, server) = serve(vec![
        user(),
        (404, r#"{"message": "Not Found"}"#.into()),
        (422, exists.into()),
        (200, repo(true)),
    ]);
    let sb = sandbox("gh-422", &api);
    let res = run_with_stdin(&sb, TOKEN, &["github", "setup", "--login", "ana", "--repo", "twin-sandbox"]);
    assert_eq!(res, Ok(0));
    let reqs = server.join().unwrap();
    let seen: Vec<String> = reqs.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        seen,
        ["GET /user", "GET /repos/ana/twin-sandbox", "POST /user/repos", "GET /repos/ana/twin-sandbox"]
    );
    assert_eq!(origin(&sb).as_deref(), Some(CLONE_URL));
}

#[test]
fn a_repository_that_is_not_private_is_refused() {
    let (api, server) = serve(vec![user(), (200, repo(false))]);
    let sb = sandbox("gh-public", &api);
    let (code, msg) = run_with_stdin(&sb, TOKEN, &["github", "setup", "--login", "ana"]).unwrap_err();
    server.join().unwrap();
    assert_eq!(code, 1);
    assert!(msg.contains("not private"), "{msg}");
    assert_nothing_stored(&sb);
}

#[test]
fn a_clone_url_with_credentials_is_refused() {
    let body = repo(true).replace(CLONE_URL, "https://ana:hunter2@github.example/ana/twin-sandbox.git");
    let (api, server) = serve(vec![user(), (200, body)]);
    let sb = sandbox("gh-creds", &api);
    let (code, msg) = run_with_stdin(&sb, TOKEN, &["github", "setup", "--login", "ana"]).unwrap_err();
    server.join().unwrap();
    assert_eq!(code, 1);
    assert!(msg.contains("credentials"), "{msg}");
    assert_nothing_stored(&sb);
}

#[test]
fn a_refused_token_stores_nothing_and_is_not_shown() {
    // GitHub does not echo the token, but a proxy or a test server might: it must not show.
    let body = format!(r#"{{"message": "Bad credentials for {TOKEN}", "status": "401"}}"#);
    let (api, server) = serve(vec![(401, body)]);
    let sb = sandbox("gh-401", &api);
    let (code, msg) = run_with_stdin(&sb, TOKEN, &["github", "setup", "--login", "ana"]).unwrap_err();
    server.join().unwrap();
    assert_eq!(code, 1);
    assert!(msg.contains("the token was refused by GitHub") && msg.contains("401"), "{msg}");
    assert!(msg.contains("Bad credentials"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
    assert_nothing_stored(&sb);
}

#[test]
fn a_token_of_another_user_is_refused() {
    let (api, server) = serve(vec![user()]);
    let sb = sandbox("gh-other", &api);
    let (code, msg) = run_with_stdin(&sb, TOKEN, &["github", "setup", "--login", "bob"]).unwrap_err();
    server.join().unwrap();
    assert_eq!(code, 1);
    assert!(msg.contains("belongs to GitHub user 'ana', not 'bob'"), "{msg}");
    assert_nothing_stored(&sb);
}

#[test]
fn missing_token_or_user_name_is_bad_input() {
    // No server: nothing must be asked of GitHub.
    let sb = sandbox("gh-empty", "http://127.0.0.1:9");
    let (code, msg) = run_with_stdin(&sb, "\n", &["github", "setup", "--login", "ana"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("no GitHub token given"), "{msg}");
    let (code, msg) = run_with_stdin(&sb, TOKEN, &["github", "setup"]).unwrap_err();
    assert_eq!(code, 2);
    assert!(msg.contains("pass --login NAME"), "{msg}");
    assert_nothing_stored(&sb);
}

#[test]
fn a_failing_connection_names_the_problem_without_the_token() {
    // Port 9 (discard) on loopback: nothing listens there in a test environment.
    let sb = sandbox("gh-down", "http://127.0.0.1:9");
    let (code, msg) = run_with_stdin(&sb, TOKEN, &["github", "setup", "--login", "ana"]).unwrap_err();
    assert_eq!(code, 1);
    assert!(msg.contains("curl") || msg.contains("no HTTP answer"), "{msg}");
    assert!(!msg.contains(TOKEN), "{msg}");
    assert_nothing_stored(&sb);
}

/// The argument test's child: runs `github setup` in a sandbox the parent made, with the
/// recording `curl` and `git` first on PATH and the token on the real stdin. Does nothing in a
/// normal test run.
#[test]
fn token_child() {
    let Some(dir) = std::env::var_os("TWINSYNC_TEST_GITHUB_SANDBOX") else { return };
    let sb = Sandbox::at(Path::new(&dir));
    assert_eq!(sb.run(&["github", "setup", "--login", "ana"]), Ok(0));
}

fn real(program: &str) -> String {
    let path = std::env::var_os("PATH").unwrap();
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not installed"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_token_is_never_a_process_argument_nor_in_the_twin() {
    let (api, server) = serve(vec![user(), (404, r#"{"message": "Not Found"}"#.into()), (201, repo(true))]);
    let sb = sandbox("gh-argv", &api);
    let bin = sb.dir().join("bin");
    let log = sb.dir().join("argv.log");
    std::fs::create_dir_all(&bin).unwrap();
    for program in ["curl", "git"] {
        let script = format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '{}'\necho '-- {program} end' >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            log.display(),
            real(program)
        );
        let path = bin.join(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "tests::github::token_child", "--nocapture", "--test-threads=1", "-q"])
        .env("PATH", path)
        .env("TWINSYNC_TEST_GITHUB_SANDBOX", sb.dir())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{TOKEN}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let reqs = server.join().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[0].header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "sent via stdin");

    let argv = std::fs::read_to_string(&log).unwrap();
    assert_eq!(argv.matches("-- curl end").count(), 3, "{argv}");
    assert!(argv.contains("-- git end"), "{argv}");
    assert!(!argv.contains(TOKEN), "the token is in an argument:\n{argv}");
    assert!(!argv.lines().any(|a| a == "-L" || a == "--location"), "{argv}");
    let git_config = std::fs::read_to_string(sb.twin.join(".git/config")).unwrap();
    assert!(!git_config.contains(TOKEN), "{git_config}");
    let url = origin(&sb).unwrap();
    assert_eq!(url, CLONE_URL);
    assert!(!url.contains('@'));
    assert!(config_text(&sb).contains(&format!("github_token={TOKEN}")));
}
