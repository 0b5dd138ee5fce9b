//! `twinsync github setup`: remember the GitHub user and token, create or link the private
//! per-device repository, and make its `clone_url` the twin's `origin`.
//!
//! The token is a password to the user's whole account, so it travels only where it must: from
//! the prompt (or stdin) into curl's stdin as a curl config (`curl -K -`), and into the 0600
//! config file once GitHub has accepted it. It is never a process argument, never part of a URL,
//! never in `.git/config`, and every message built here is redacted before it is shown. No JSON
//! crate is allowed, so the few top-level fields read from GitHub's answers are picked out by a
//! small, tested scanner (`json_fields`).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use crate::error::{Error, Result};
use crate::host::{Cmd, Host};
use crate::Ctx;

const DEFAULT_API: &str = "https://api.github.com";

/// `twinsync github setup [--login NAME] [--repo NAME]`.
pub(crate) fn setup(ctx: &Ctx, login: Option<&str>, repo: Option<&str>) -> Result<ExitCode> {
    // The twin must exist before the token is asked for: its origin is what this sets up.
    let twin = ctx.twin()?;
    let api_base = ctx.config.get("github_api").unwrap_or(DEFAULT_API).trim_end_matches('/').to_string();
    let wanted = user_name(ctx, login)?;
    let token = read_token()?;
    let api = Api { host: &ctx.host, base: api_base, token };

    let account = api.account()?;
    if !wanted.eq_ignore_ascii_case(&account) {
        return Err(api.fail(format!(
            "the token belongs to GitHub user '{account}', not '{wanted}'; pass --login {account} \
             or use a token of '{wanted}'; nothing was stored"
        )));
    }
    let repo_name = match repo.or(ctx.config.get("github_repo")) {
        Some(r) => r.to_string(),
        None => format!("twin-{}", ctx.device()),
    };
    check_repo_name(&repo_name)?;

    let (found, created) = api.find_or_create(&account, &repo_name, &ctx.device())?;
    if found.private != Some(true) {
        return Err(api.fail(format!(
            "the GitHub repository {account}/{repo_name} is not private; a twin may hold \
             anything of the machine, so it is never pushed to a public repository: make it \
             private on GitHub (Settings, Danger Zone) or choose another name with --repo; \
             nothing was stored"
        )));
    }
    let clone_url = found.clone_url.as_deref().unwrap_or_default();
    check_clone_url(clone_url).map_err(|e| api.fail(e))?;

    ctx.set_configs(&[("github_user", &account), ("github_token", &api.token), ("github_repo", &repo_name)])?;
    twin.set_remote_url(&ctx.host, clone_url)?;

    if !ctx.global.quiet {
        let verb = if created { "created the private repository" } else { "linked the private repository" };
        let page = found.html_url.as_deref().unwrap_or(clone_url);
        println!("twinsync: {verb} {account}/{repo_name} ({page})");
        println!("twinsync: the twin's origin is {clone_url}");
        println!("twinsync: user, token and repository are stored in {}", ctx.config.path().display());
        println!("twinsync: next: `twinsync push` sends the twin");
    }
    Ok(ExitCode::SUCCESS)
}

/// The user name the person means: `--login`, else the config's github_user, else asked on a
/// terminal. The token must belong to it: a token of another account is a mistake to report,
/// not a reason to switch accounts silently.
fn user_name(ctx: &Ctx, login: Option<&str>) -> Result<String> {
    if let Some(l) = login.or(ctx.config.get("github_user")) {
        check_login(l)?;
        return Ok(l.to_string());
    }
    if !input::is_terminal() {
        return Err(Error::usage(
            "no GitHub user name: pass --login NAME (stdin carries only the token when it is not a terminal)",
        ));
    }
    let name = input::ask("GitHub user name: ")?;
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::usage("no GitHub user name given; run again and type it, or pass --login NAME"));
    }
    check_login(name)?;
    Ok(name.to_string())
}

/// The token: a hidden prompt on a terminal, else exactly one line of stdin.
fn read_token() -> Result<String> {
    let line =
        if input::is_terminal() { input::ask_hidden("GitHub token (not shown): ")? } else { input::line()? };
    let token = line.trim().to_string();
    if token.is_empty() {
        return Err(Error::usage(
            "no GitHub token given: type it at the prompt, or give it as one line on stdin, e.g. \
             `twinsync github setup --login NAME < token-file`",
        ));
    }
    // The token goes into a quoted curl config value and a one-line config entry; GitHub tokens
    // are letters, digits and `_`, so anything else is a paste accident, not a token.
    if !token.bytes().all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') {
        return Err(Error::bad_input(
            "the GitHub token holds spaces, quotes or other characters no GitHub token has; paste it again",
        ));
    }
    Ok(token)
}

fn check_login(login: &str) -> Result<()> {
    let ok = !login.is_empty()
        && login.len() <= 39
        && !login.starts_with('-')
        && login.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::bad_input(format!("'{login}' is not a GitHub user name (letters, digits and -)")))
    }
}

fn check_repo_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::bad_input(format!(
            "'{name}' is not a GitHub repository name (letters, digits, -, _ and .); pass --repo NAME"
        )))
    }
}

/// The remote must be a plain https URL: credentials in it would end up in `.git/config`.
fn check_clone_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(format!("GitHub answered a clone_url that is not https ('{url}'); nothing was stored"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || url.bytes().any(|b| !b.is_ascii_graphic()) {
        return Err("GitHub answered a clone_url with credentials or odd characters in it; it is not used \
                    as the remote; nothing was stored"
            .to_string());
    }
    Ok(())
}

/// What TwinSync reads of a repository answer.
struct Repo {
    private: Option<bool>,
    clone_url: Option<String>,
    html_url: Option<String>,
}

/// One HTTP answer: the status and the body.
struct Response {
    status: u16,
    body: String,
}

/// The GitHub REST API through curl, the token fed on curl's stdin.
struct Api<'a> {
    host: &'a Host,
    base: String,
    token: String,
}

impl Api<'_> {
    /// `GET /user`: the token's account. A refused token stops everything before it is stored.
    fn account(&self) -> Result<String> {
        let res = self.call("GET", "/user", None)?;
        match res.status {
            200 => field_str(&res.body, "login").ok_or_else(|| {
                self.fail("GitHub's answer to GET /user has no login; check github_api".into())
            }),
            401 | 403 => Err(self.fail(format!(
                "the token was refused by GitHub (HTTP {}: {}); make a new token (classic: scope repo; \
                 fine-grained: All repositories, Administration and Contents read and write) and \
                 run `twinsync github setup` again; nothing was stored",
                res.status,
                message(&res.body)
            ))),
            _ => Err(self.unexpected("GET /user", &res)),
        }
    }

    /// The repository `login/name`, created private when missing. True when it was created.
    fn find_or_create(&self, login: &str, name: &str, device: &str) -> Result<(Repo, bool)> {
        if let Some(repo) = self.get_repo(login, name)? {
            return Ok((repo, false));
        }
        let body = format!(
            "{{\"name\": {}, \"private\": true, \"auto_init\": false, \"description\": {}}}",
            json_string(name),
            json_string(&format!("TwinSync twin of {device}"))
        );
        let res = self.call("POST", "/user/repos", Some(&body))?;
        match res.status {
            200 | 201 => Ok((repo_of(&res.body), true)),
            // "name already exists on this account": made meanwhile, or not visible to the first
            // GET; it is adopted only if it can now be read (and, by the caller, if private).
            422 => match self.get_repo(login, name)? {
                Some(repo) => Ok((repo, false)),
                None => Err(self.unexpected("POST /user/repos", &res)),
            },
            _ => Err(self.unexpected("POST /user/repos", &res)),
        }
    }

    /// `GET /repos/{login}/{name}`: 200 is the repository, 404 is missing (or not visible).
    fn get_repo(&self, login: &str, name: &str) -> Result<Option<Repo>> {
        let path = format!("/repos/{login}/{name}");
        let res = self.call("GET", &path, None)?;
        match res.status {
            200 => Ok(Some(repo_of(&res.body))),
            404 => Ok(None),
            _ => Err(self.unexpected(&format!("GET {path}"), &res)),
        }
    }

    /// One request. Everything, the token included, goes to curl as a config on stdin; the
    /// arguments hold nothing secret. No `-L`: the token must not follow a redirect elsewhere.
    fn call(&self, method: &str, path: &str, body: Option<&str>) -> Result<Response> {
        let url = format!("{}{path}", self.base);
        let mut conf = String::new();
        conf.push_str(&format!("url = {}\n", curl_quote(&url)));
        conf.push_str(&format!("request = {}\n", curl_quote(method)));
        for header in [
            "User-Agent: twinsync".to_string(),
            "Accept: application/vnd.github+json".to_string(),
            "X-GitHub-Api-Version: 2022-11-28".to_string(),
            format!("Authorization: Bearer {}", self.token),
        ] {
            conf.push_str(&format!("header = {}\n", curl_quote(&header)));
        }
        if let Some(body) = body {
            conf.push_str(&format!("header = {}\n", curl_quote("Content-Type: application/json")));
            conf.push_str(&format!("data-binary = {}\n", curl_quote(body)));
        }
        let cmd = Cmd::new("curl", format!("ask GitHub ({method} {url})"))
            .args(["--silent", "--show-error", "--connect-timeout", "20", "--max-time", "60"])
            .args(["--noproxy", "127.0.0.1,localhost,::1", "--write-out", "\\n%{http_code}", "--config", "-"])
            .stdin(conf.into_bytes());
        let out = self.host.run(&cmd).map_err(|e| {
            self.fail(format!("{}\n  check the network and github_api; nothing was stored", e.message()))
        })?;
        let text = out.stdout_text();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
        let status = status.trim().parse::<u16>().unwrap_or(0);
        if status == 0 {
            return Err(self.fail(format!(
                "no HTTP answer from {url}; check the network and github_api ({})",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(Response { status, body: body.to_string() })
    }

    fn unexpected(&self, what: &str, res: &Response) -> Error {
        self.fail(format!(
            "GitHub answered {what} with HTTP {}: {}; nothing was stored",
            res.status,
            message(&res.body)
        ))
    }

    /// A failure, with the token taken out wherever it shows up (curl's stderr, an echoed body).
    fn fail(&self, message: String) -> Error {
        Error::failed(redact(&message, &self.token))
    }
}

fn repo_of(body: &str) -> Repo {
    Repo {
        private: field_bool(body, "private"),
        clone_url: field_str(body, "clone_url"),
        html_url: field_str(body, "html_url"),
    }
}

/// GitHub's `message`, else the start of the body, for an error.
fn message(body: &str) -> String {
    match field_str(body, "message") {
        Some(m) => m,
        None => body.trim().chars().take(300).collect(),
    }
}

pub(crate) fn redact(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_string();
    }
    text.replace(token, "[token]")
}

/// A value of curl's config file: double quotes, with `\` and `"` escaped (curl(1), -K).
fn curl_quote(value: &str) -> String {
    let mut res = String::from("\"");
    for c in value.chars() {
        match c {
            '\\' => res.push_str("\\\\"),
            '"' => res.push_str("\\\""),
            '\n' => res.push_str("\\n"),
            '\r' => res.push_str("\\r"),
            '\t' => res.push_str("\\t"),
            c => res.push(c),
        }
    }
    res.push('"');
    res
}

/// A JSON string literal.
fn json_string(value: &str) -> String {
    let mut res = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => res.push_str("\\\""),
            '\\' => res.push_str("\\\\"),
            '\n' => res.push_str("\\n"),
            '\r' => res.push_str("\\r"),
            '\t' => res.push_str("\\t"),
            c if (c as u32) < 0x20 => res.push_str(&format!("\\u{:04x}", c as u32)),
            c => res.push(c),
        }
    }
    res.push('"');
    res
}

/// A top-level JSON value as far as TwinSync cares.
#[derive(Debug, PartialEq)]
enum Value {
    Str(String),
    Bool(bool),
    /// A number, null, object or array: skipped.
    Other,
}

fn field_str(body: &str, key: &str) -> Option<String> {
    json_fields(body)?.into_iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
        Value::Str(s) => Some(s),
        _ => None,
    })
}

fn field_bool(body: &str, key: &str) -> Option<bool> {
    json_fields(body)?.into_iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
        Value::Bool(b) => Some(b),
        _ => None,
    })
}

/// The top-level fields of a JSON object, in order; `None` when the text is not one. Nested
/// objects (`owner.login`) are skipped, so a nested field never passes for a top-level one.
fn json_fields(text: &str) -> Option<Vec<(String, Value)>> {
    let mut p = Scanner { s: text.as_bytes(), i: 0 };
    p.ws();
    p.eat(b'{')?;
    let mut res = Vec::new();
    p.ws();
    if p.peek() == Some(b'}') {
        return Some(res);
    }
    loop {
        p.ws();
        let key = p.string()?;
        p.ws();
        p.eat(b':')?;
        p.ws();
        let value = match p.peek()? {
            b'"' => Value::Str(p.string()?),
            b't' => p.word("true").map(|()| Value::Bool(true))?,
            b'f' => p.word("false").map(|()| Value::Bool(false))?,
            _ => p.skip_value().map(|()| Value::Other)?,
        };
        res.push((key, value));
        p.ws();
        match p.next()? {
            b',' => continue,
            b'}' => return Some(res),
            _ => return None,
        }
    }
}

struct Scanner<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.next()? == b).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn word(&mut self, w: &str) -> Option<()> {
        let end = self.i + w.len();
        (self.s.get(self.i..end)? == w.as_bytes()).then(|| self.i = end)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A string literal, escapes decoded.
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            match self.next()? {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let c = match self.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b => out.push(b),
            }
        }
    }

    /// After `\u`: one code point, a surrogate pair joined; a lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.s.get(self.i..self.i + 2) == Some(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
            }
            self.i = save;
        }
        Some(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    /// Any other value: a number or null, or a whole object or array (strings inside honoured).
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.string()?;
                }
                b'{' | b'[' => {
                    depth += 1;
                    self.i += 1;
                }
                b'}' | b']' if depth > 0 => {
                    depth -= 1;
                    self.i += 1;
                }
                b',' | b'}' | b']' if depth == 0 => return Some(()),
                _ => self.i += 1,
            }
            if depth == 0 && matches!(self.peek(), Some(b',' | b'}')) {
                return Some(());
            }
        }
    }
}

/// Reading from the person: stdin, a terminal or not. Tests replace stdin per thread, because
/// the in-process program shares the test binary's real stdin (often a terminal).
mod input {
    use super::*;

    #[cfg(test)]
    thread_local! {
        pub(crate) static FAKE_STDIN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    }

    #[cfg(test)]
    fn fake() -> Option<String> {
        FAKE_STDIN.with(|f| f.borrow().clone())
    }

    #[cfg(not(test))]
    fn fake() -> Option<String> {
        None
    }

    pub(super) fn is_terminal() -> bool {
        fake().is_none() && std::io::stdin().is_terminal()
    }

    /// One line of stdin (without its newline).
    pub(super) fn line() -> Result<String> {
        if let Some(text) = fake() {
            return Ok(text.lines().next().unwrap_or_default().to_string());
        }
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }

    pub(super) fn ask(question: &str) -> Result<String> {
        eprint!("{question}");
        std::io::stderr().flush()?;
        line()
    }

    /// Asks with echo off: `stty -F /dev/tty` (through host.rs, like every process) saves the
    /// terminal's settings, turns echo off, and puts the settings back afterwards, also when
    /// reading fails.
    pub(super) fn ask_hidden(question: &str) -> Result<String> {
        let host = Host::new(std::path::Path::new("/"));
        let saved = host
            .run(&Cmd::new("stty", "read the terminal settings").args(["-F", "/dev/tty", "-g"]))?
            .stdout_text()
            .trim()
            .to_string();
        host.run(&Cmd::new("stty", "turn off echo for the token").args(["-F", "/dev/tty", "-echo"]))?;
        let answer = ask(question);
        eprintln!();
        let restored = host.run(&Cmd::new("stty", "turn echo back on").args(["-F", "/dev/tty"]).arg(&saved));
        if let Err(e) = restored {
            eprintln!("twinsync: warning: {}; run `stty sane` if typing shows nothing", e.message());
        }
        answer
    }
}

#[cfg(test)]
pub(crate) use input::FAKE_STDIN;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_fields_reads_top_level_strings_and_bools_only() {
        let body = r#" {
          "id" : 1296269, "owner": {"login": "nested", "private": false, "x": [1, {"y": "}"}]},
          "name":"twin-laptop" ,"private" :true, "description": null,
          "login": "an\"a\\b\/c\u00e9\ud83d\ude00", "clone_url": "https://github.com/ana/twin-laptop.git",
          "topics": ["a", "b,}"], "score": -1.5e3, "fork": false
        } "#;
        assert_eq!(field_str(body, "login").as_deref(), Some("an\"a\\b/cé😀"));
        assert_eq!(field_bool(body, "private"), Some(true));
        assert_eq!(field_bool(body, "fork"), Some(false));
        assert_eq!(field_str(body, "clone_url").as_deref(), Some("https://github.com/ana/twin-laptop.git"));
        assert_eq!(field_str(body, "description"), None);
        assert_eq!(field_str(body, "missing"), None);
        let fields = json_fields(body).unwrap();
        assert_eq!(
            fields.iter().filter(|(k, _)| k == "login").count(),
            1,
            "the nested login is not top-level"
        );
        assert_eq!(json_fields("{}"), Some(vec![]));
        assert_eq!(json_fields("[1]"), None);
        assert_eq!(json_fields("{\"a\": \"unterminated}"), None);
        assert_eq!(json_fields("not json"), None);
        assert_eq!(
            field_str(r#"{"message":"Bad credentials"}"#, "message").as_deref(),
            Some("Bad credentials")
        );
    }

    #[test]
    fn json_string_escapes_and_round_trips() {
        let nasty = "a\"b\\c\nd\te\u{1}é";
        let lit = json_string(nasty);
        assert_eq!(lit, "\"a\\\"b\\\\c\\nd\\te\\u0001é\"");
        assert_eq!(field_str(&format!("{{\"k\": {lit}}}"), "k").as_deref(), Some(nasty));
    }

    #[test]
    fn curl_quote_escapes_quotes_and_backslashes() {
        assert_eq!(curl_quote(r#"{"a": "b\c"}"#), r#""{\"a\": \"b\\c\"}""#);
    }

    #[test]
    fn clone_urls_with_credentials_or_not_https_are_refused() {
        assert!(check_clone_url("https://github.com/ana/twin-laptop.git").is_ok());
        for bad in [
            "https://x-access-token:secret@github.com/ana/t.git",
            "https://ana@github.com/ana/t.git",
            "http://github.com/ana/t.git",
            "git@github.com:ana/t.git",
            "https://github.com/ana/t .git",
            "https:///x",
        ] {
            assert!(check_clone_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(check_login("ana-b1").is_ok());
        assert!(check_login("-ana").is_err() && check_login("a/b").is_err() && check_login("").is_err());
        assert!(check_repo_name("twin-laptop.home_1").is_ok());
        assert!(
            check_repo_name("..").is_err()
                && check_repo_name("a/b").is_err()
                && check_repo_name("a b").is_err()
        );
    }

    #[test]
    fn redact_removes_the_token() {
        assert_eq!(redact("x tok123 y tok123", "tok123"), "x [token] y [token]");
        assert_eq!(redact("x", ""), "x");
    }
}
