//! Path globs for the exclusion rules: the user's exclude file and the built-in secret paths.
//!
//! Matching runs for every file of a walk that may visit 100,000 paths, so a pattern is compiled
//! once into path segments and `matches` never allocates.
//!
//! Syntax (paths are absolute machine paths such as `/etc/ssh/ssh_host_rsa_key`):
//! - `*` matches any run of characters inside one path segment (never `/`), `?` one character
//!   that is not `/`;
//! - `**` as a whole segment matches zero or more segments, so `/etc/ssl/private/**` matches the
//!   folder itself and everything below it; elsewhere `**` means the same as `*`;
//! - `{a,b,c}` matches one of the literal alternatives (no wildcards or nesting inside);
//! - `\` makes the next character literal (`\*`, `\{`, `\#`); everything else is literal;
//! - a pattern starting with `~/` is relative to the user's home; one starting with `**/`
//!   matches at any depth;
//! - a pattern without `/` matches the file name in any folder (like gitignore: `*.dpkg-old`
//!   matches `/etc/x/y.dpkg-old`);
//! - a trailing `/` means "this folder and everything below it".

/// One segment of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    /// `**`: zero or more whole segments.
    AnySegments,
    /// A segment without wildcards, compared as a plain string (the common, fast case).
    Exact(String),
    /// A segment with wildcards.
    Wild(Vec<Tok>),
}

/// One piece of a wildcard segment.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(String),
    /// `?`
    One,
    /// `*`
    Star,
    /// `{a,b}`
    Alt(Vec<String>),
}

/// A compiled path glob; see the module documentation for the syntax.
#[derive(Debug, Clone)]
pub(crate) struct Glob {
    /// The leading literal segments as a path (`/etc/ssh`), so that most paths are rejected
    /// by one string comparison; empty when the pattern starts with a wildcard.
    prefix: String,
    /// The segments after the prefix.
    segs: Vec<Seg>,
}

impl Glob {
    /// Compiles `pattern`; `home` (an absolute path) replaces a leading `~`.
    pub(crate) fn new(pattern: &str, home: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("empty pattern".to_string());
        }
        // A trailing slash means the folder and everything in it, which `/**` says exactly.
        let (body, below) = match pattern.strip_suffix('/') {
            Some(body) => (body, true),
            None => (pattern, false),
        };
        let mut segs = Vec::new();
        let rest = if body == "~" || body.starts_with("~/") {
            if !home.starts_with('/') {
                return Err(format!("{pattern}: ~ needs an absolute home folder, not {home:?}"));
            }
            // The home is a literal path: characters such as `*` in it are not wildcards.
            segs.extend(home.split('/').filter(|s| !s.is_empty()).map(|s| Seg::Exact(s.to_string())));
            &body[1..]
        } else if body.is_empty() || body.starts_with('/') || body.starts_with("**/") {
            body
        } else if !body.contains('/') {
            // No slash: the file name in any folder.
            segs.push(Seg::AnySegments);
            body
        } else {
            return Err(format!("{pattern}: a pattern with / must start with /, ~/ or **/"));
        };
        for text in rest.split('/').filter(|s| !s.is_empty()) {
            let seg = compile_segment(text).map_err(|e| format!("{pattern}: {e}"))?;
            segs.push(seg);
        }
        if below {
            segs.push(Seg::AnySegments);
        }
        let literal = segs.iter().take_while(|s| matches!(s, Seg::Exact(_))).count();
        let mut prefix = String::new();
        for seg in segs.drain(..literal) {
            if let Seg::Exact(text) = seg {
                prefix.push('/');
                prefix.push_str(&text);
            }
        }
        Ok(Glob { prefix, segs })
    }

    /// The literal folders the pattern starts with (`/etc/ssh`; empty when it starts with a
    /// wildcard): a path can match only if this is the path or one of its folders.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether `name` matches, for a pattern that is a file name in any folder (`*.keytab`,
    /// `**/id_rsa`); None for any other pattern.
    pub(crate) fn matches_name(&self, name: &str) -> Option<bool> {
        match (self.prefix.is_empty(), self.segs.as_slice()) {
            (true, [Seg::AnySegments, last]) if *last != Seg::AnySegments => {
                Some(!name.is_empty() && last.matches(name))
            }
            _ => None,
        }
    }

    /// False when no path inside folder `dir` can match, because the pattern's first segment
    /// after its prefix is not `**` and does not match `dir`'s folder at that place. `dir` is
    /// the prefix itself or below it (the caller picked the pattern by its prefix).
    pub(crate) fn may_match_inside(&self, dir: &str) -> bool {
        let Some(rest) = dir.strip_prefix(self.prefix.as_str()).and_then(|r| r.strip_prefix('/')) else {
            // `dir` is the prefix: the first segment is the file's own name.
            return true;
        };
        let first = rest.split('/').next().unwrap_or(rest);
        match self.segs.first() {
            None | Some(Seg::AnySegments) => true,
            Some(seg) => seg.matches(first),
        }
    }

    /// Whether the absolute `path` matches; a relative path never does.
    pub(crate) fn matches(&self, path: &str) -> bool {
        if !path.starts_with('/') {
            return false;
        }
        // `rest` is what follows the literal prefix, without its leading and trailing `/`.
        let Some(rest) = path.strip_prefix(self.prefix.as_str()) else {
            return false;
        };
        let Some(rest) = rest.strip_prefix('/').or(rest.is_empty().then_some("")) else {
            return false;
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        // A pattern ending in a one-segment piece must match the file name: check that first,
        // as it rejects most paths for name patterns such as `*.keytab`.
        if let Some(last) = self.segs.last().filter(|s| **s != Seg::AnySegments) {
            let name = rest.rsplit('/').next().unwrap_or(rest);
            if rest.is_empty() || !last.matches(name) {
                return false;
            }
        }
        // Positions are byte offsets of the next path segment in `rest`; None is the end.
        let mut pos = if rest.is_empty() { None } else { Some(0) };
        let mut p = 0;
        // The classic wildcard algorithm, over segments: remember the last `**` and, when a
        // segment fails, let that `**` swallow one more segment and retry from there. One
        // backtrack point is enough because every other pattern segment eats exactly one
        // path segment.
        let mut retry: Option<(usize, usize)> = None;
        loop {
            let Some(at) = pos else {
                return self.segs[p..].iter().all(|s| *s == Seg::AnySegments);
            };
            let (seg, next) = next_segment(rest, at);
            match self.segs.get(p) {
                Some(Seg::AnySegments) => {
                    retry = Some((p + 1, at));
                    p += 1;
                    continue;
                }
                Some(s) if s.matches(seg) => {
                    p += 1;
                    pos = next;
                    continue;
                }
                _ => {}
            }
            let Some((retry_p, retry_at)) = retry else {
                return false;
            };
            let (_, after) = next_segment(rest, retry_at);
            retry = after.map(|a| (retry_p, a));
            p = retry_p;
            pos = after;
        }
    }
}

/// The segment of `rest` starting at byte `at`, and where the next one starts.
fn next_segment(rest: &str, at: usize) -> (&str, Option<usize>) {
    let s = &rest[at..];
    match s.find('/') {
        Some(j) => (&s[..j], Some(at + j + 1)),
        None => (s, None),
    }
}

impl Seg {
    fn matches(&self, seg: &str) -> bool {
        match self {
            Seg::AnySegments => true,
            Seg::Exact(lit) => lit == seg,
            Seg::Wild(toks) => match_tokens(toks, seg),
        }
    }
}

/// Matches one path segment against wildcard tokens (backtracking; segments are short).
fn match_tokens(toks: &[Tok], s: &str) -> bool {
    let Some((tok, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match tok {
        Tok::Lit(lit) => s.strip_prefix(lit.as_str()).is_some_and(|r| match_tokens(rest, r)),
        Tok::One => {
            let mut chars = s.chars();
            chars.next().is_some() && match_tokens(rest, chars.as_str())
        }
        Tok::Star => match rest.split_first() {
            None => true,
            // A star before a literal can only end where that literal occurs (overlapping
            // occurrences included: `*aa` must match `aaa`); `*.ext` is just a suffix test.
            Some((Tok::Lit(lit), [])) => s.ends_with(lit.as_str()),
            // `*word*` is a substring test.
            Some((Tok::Lit(lit), [Tok::Star])) => s.contains(lit.as_str()),
            Some((Tok::Lit(lit), after)) => s
                .char_indices()
                .any(|(i, _)| s[i..].starts_with(lit.as_str()) && match_tokens(after, &s[i + lit.len()..])),
            Some(_) => s
                .char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(s.len()))
                .any(|i| match_tokens(rest, &s[i..])),
        },
        Tok::Alt(alts) => {
            alts.iter().any(|a| s.strip_prefix(a.as_str()).is_some_and(|r| match_tokens(rest, r)))
        }
    }
}

/// Compiles one `/`-free piece of a pattern.
fn compile_segment(text: &str) -> Result<Seg, String> {
    if text == "**" {
        return Ok(Seg::AnySegments);
    }
    let mut toks: Vec<Tok> = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => lit.push(chars.next().ok_or("\\ with nothing after it to escape")?),
            '*' | '?' | '{' => {
                if !lit.is_empty() {
                    toks.push(Tok::Lit(std::mem::take(&mut lit)));
                }
                let tok = match c {
                    '*' => Tok::Star,
                    '?' => Tok::One,
                    _ => Tok::Alt(alternatives(&mut chars)?),
                };
                // `**` inside a segment is just `*`; a second star would only slow matching.
                if !(tok == Tok::Star && toks.last() == Some(&Tok::Star)) {
                    toks.push(tok);
                }
            }
            _ => lit.push(c),
        }
    }
    if toks.is_empty() {
        return Ok(Seg::Exact(lit));
    }
    if !lit.is_empty() {
        toks.push(Tok::Lit(lit));
    }
    Ok(Seg::Wild(toks))
}

/// Reads `a,b,c}` after a `{`: literal alternatives, `\` escapes allowed.
fn alternatives(chars: &mut std::str::Chars<'_>) -> Result<Vec<String>, String> {
    let mut alts = Vec::new();
    let mut current = String::new();
    loop {
        let c = chars.next().ok_or("unclosed { (a {} group cannot hold /)")?;
        match c {
            '}' => {
                alts.push(current);
                return Ok(alts);
            }
            ',' => alts.push(std::mem::take(&mut current)),
            '\\' => current.push(chars.next().ok_or("\\ with nothing after it to escape")?),
            '*' | '?' | '{' => return Err(format!("{c} inside {{}} is not supported")),
            _ => current.push(c),
        }
    }
}

/// The user's exclusion file: one glob a line, `#` comments and blank lines ignored, `!glob`
/// re-includes. Leading and trailing blanks of a line are ignored.
#[derive(Debug, Clone, Default)]
pub(crate) struct Excludes {
    /// The rules in file order, each with `true` for exclude and `false` for `!` re-include.
    rules: Vec<(Glob, bool)>,
}

impl Excludes {
    /// Parses the file's text; an error names the 1-based line: `exclude:3: ...`.
    pub(crate) fn parse(text: &str, home: &str) -> Result<Excludes, String> {
        let mut rules = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (pattern, exclude) = match line.strip_prefix('!') {
                Some(p) => (p, false),
                None => (line, true),
            };
            let glob = Glob::new(pattern, home).map_err(|e| format!("exclude:{}: {e}", n + 1))?;
            rules.push((glob, exclude));
        }
        Ok(Excludes { rules })
    }

    /// The last matching line wins: Some(true) excluded, Some(false) re-included by a `!` line,
    /// None when no line matched.
    pub(crate) fn decide(&self, path: &str) -> Option<bool> {
        self.rules.iter().rev().find(|(glob, _)| glob.matches(path)).map(|(_, exclude)| *exclude)
    }

    /// Whether any `!` line exists: then a folder the built-in rules leave out is still walked,
    /// so that a file below it can be re-included.
    pub(crate) fn has_reincludes(&self) -> bool {
        self.rules.iter().any(|(_, exclude)| !exclude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "/home/ana";

    fn glob(p: &str) -> Glob {
        Glob::new(p, HOME).unwrap()
    }

    #[test]
    fn literal_and_single_segment_wildcards() {
        let g = glob("/etc/ssh/ssh_host_*_key");
        assert!(g.matches("/etc/ssh/ssh_host_rsa_key"));
        assert!(g.matches("/etc/ssh/ssh_host_ed25519_key"));
        assert!(!g.matches("/etc/ssh/ssh_host_rsa_key.pub"));
        assert!(!g.matches("/etc/ssh/sub/ssh_host_rsa_key"));
        assert!(!g.matches("/etc/ssh"));
        assert!(glob("/etc/hosts").matches("/etc/hosts"));
        assert!(!glob("/etc/hosts").matches("/etc/hosts.allow"));
        assert!(!glob("/etc/hosts").matches("etc/hosts"));
        assert!(!glob("*").matches("hosts"));
        assert!(!glob("/etc/ssh/*").matches("/etc/sshd/x"));
        assert!(glob("/etc/host?").matches("/etc/hosts"));
        assert!(!glob("/etc/host?").matches("/etc/host/"));
        assert!(glob("/etc/h?st?").matches("/etc/hést!"));
        // `*` never crosses a slash.
        assert!(!glob("/etc/*").matches("/etc/a/b"));
        assert!(glob("/etc/*").matches("/etc/a b"));
        assert!(glob("/etc/a*b*c").matches("/etc/aXbYbZc"));
        assert!(!glob("/etc/a*b*c").matches("/etc/aXbYbZ"));
        assert!(glob("/etc/*aa").matches("/etc/aaa"), "overlapping literal after *");
        assert!(glob("/etc/*é?").matches("/etc/éé!"));
        assert!(glob("/etc/*?x").matches("/etc/éx"));
        assert!(!glob("/etc/*?x").matches("/etc/x"));
        assert!(glob("/etc/*{a,b}c").matches("/etc/xbc"));
        assert!(glob("/etc/*pass*").matches("/etc/pass") && glob("/etc/*pass*").matches("/etc/a-passwd"));
        assert!(!glob("/etc/*pass*").matches("/etc/pas") && !glob("/etc/*pass*").matches("/etc/pass/x"));
    }

    #[test]
    fn double_star_spans_zero_or_more_segments() {
        let g = glob("/etc/ssl/private/**");
        assert!(g.matches("/etc/ssl/private"));
        assert!(g.matches("/etc/ssl/private/"));
        assert!(g.matches("/etc/ssl/private/a.key"));
        assert!(g.matches("/etc/ssl/private/x/y/z"));
        assert!(!g.matches("/etc/ssl/privateer"));
        assert!(!g.matches("/etc/ssl"));
        let g = glob("/etc/pki/**/private/**");
        assert!(g.matches("/etc/pki/private/k"));
        assert!(g.matches("/etc/pki/tls/private/k"));
        assert!(g.matches("/etc/pki/a/b/private/c/d"));
        assert!(!g.matches("/etc/pki/tls/certs/k"));
        let g = glob("/etc/**/x/**/y");
        assert!(g.matches("/etc/x/y"));
        assert!(g.matches("/etc/a/x/b/x/c/y"));
        assert!(!g.matches("/etc/a/x/b/y/c"));
        assert!(glob("**/foo").matches("/a/b/foo"));
        assert!(glob("/**").matches("/"));
        assert!(glob("/a**b").matches("/axxb"), "** inside a segment is *");
        assert!(!glob("/a**b").matches("/ax/xb"));
    }

    #[test]
    fn alternatives_and_escapes() {
        let g = glob("/etc/letsencrypt/{archive,live,keys}/**");
        assert!(g.matches("/etc/letsencrypt/live/example.org/privkey.pem"));
        assert!(g.matches("/etc/letsencrypt/keys/0000_key-certbot.pem"));
        assert!(!g.matches("/etc/letsencrypt/renewal/example.org.conf"));
        let g = glob("/etc/x{,.bak}");
        assert!(g.matches("/etc/x") && g.matches("/etc/x.bak") && !g.matches("/etc/x.old"));
        assert!(glob("/etc/a\\*b").matches("/etc/a*b"));
        assert!(!glob("/etc/a\\*b").matches("/etc/axb"));
        assert!(glob("\\#x").matches("/etc/#x"));
        assert!(glob("/etc/[ab]").matches("/etc/[ab]"), "brackets are literal");
    }

    #[test]
    fn name_only_patterns_match_in_any_folder() {
        let g = glob("*.dpkg-old");
        assert!(g.matches("/etc/x/y.dpkg-old"));
        assert!(g.matches("/y.dpkg-old"));
        assert!(!g.matches("/etc/y.dpkg-old/z"));
        // The name alone answers for such patterns, and only for them.
        assert_eq!(g.matches_name("y.dpkg-old"), Some(true));
        assert_eq!(g.matches_name("y.dpkg-new"), Some(false));
        assert_eq!(glob("/etc/*.conf").matches_name("a.conf"), None);
        assert_eq!(glob("cache/").matches_name("cache"), None);
        // A folder whose first segment a pattern rules out holds nothing it can match.
        let g = glob("~/.config/Signal*/**");
        assert!(!g.may_match_inside("/home/ana/.config/pkg1/sub"));
        assert!(g.may_match_inside("/home/ana/.config/Signal Beta/sub"));
        assert!(g.may_match_inside("/home/ana/.config"));
        assert!(glob("~/.config/**/Cookies").may_match_inside("/home/ana/.config/pkg1"));
        let g = glob("cache/");
        assert!(g.matches("/home/ana/.config/app/cache"));
        assert!(g.matches("/home/ana/.config/app/cache/a/b"));
        assert!(!g.matches("/home/ana/.config/app/cached"));
    }

    #[test]
    fn home_and_trailing_slash() {
        let g = glob("~/.config/gh/hosts.yml");
        assert!(g.matches("/home/ana/.config/gh/hosts.yml"));
        assert!(!g.matches("/home/bob/.config/gh/hosts.yml"));
        let g = Glob::new("~/.config/x/", "/home/we*rd/").unwrap();
        assert!(g.matches("/home/we*rd/.config/x"));
        assert!(g.matches("/home/we*rd/.config/x/y/z"));
        assert!(!g.matches("/home/weXrd/.config/x"), "the home is literal");
        assert!(glob("~").matches("/home/ana"));
        assert!(glob("/etc/apt/").matches("/etc/apt/sources.list.d/a.list"));
        assert!(glob("/").matches("/anything/at/all"));
    }

    #[test]
    fn bad_patterns_say_what_is_wrong() {
        for (p, want) in [
            ("", "empty"),
            ("etc/x", "must start with"),
            ("/etc/{a,b", "unclosed {"),
            ("/etc/{a/b}", "unclosed {"),
            ("/etc/{a,*}", "not supported"),
            ("/etc/x\\", "nothing after it"),
        ] {
            let e = Glob::new(p, HOME).unwrap_err();
            assert!(e.contains(want), "{p:?}: {e}");
            assert_eq!(e, e.to_lowercase(), "{e}");
        }
        assert!(Glob::new("~/.config", "").unwrap_err().contains("absolute home"));
    }

    #[test]
    fn excludes_last_match_wins() {
        let text = "\
# noise
*.dpkg-*

/etc/ssl/**
!/etc/ssl/certs/**
  ~/.config/app/cache/  
/etc/ssl/certs/bad.pem
";
        let ex = Excludes::parse(text, HOME).unwrap();
        assert_eq!(ex.decide("/etc/apt/sources.list.dpkg-old"), Some(true));
        assert_eq!(ex.decide("/etc/ssl/openssl.cnf"), Some(true));
        assert_eq!(ex.decide("/etc/ssl/certs/ca.pem"), Some(false));
        assert_eq!(ex.decide("/etc/ssl/certs/bad.pem"), Some(true));
        assert_eq!(ex.decide("/home/ana/.config/app/cache/x"), Some(true));
        assert_eq!(ex.decide("/home/ana/.config/app/settings"), None);
        assert_eq!(ex.decide("/etc/hosts"), None);
        assert_eq!(ex.decide("# noise"), None);
        assert_eq!(Excludes::default().decide("/etc/hosts"), None);
    }

    #[test]
    fn excludes_errors_carry_the_line_number() {
        let e = Excludes::parse("# c\n/etc/a\n/etc/{b\n", HOME).unwrap_err();
        assert!(e.starts_with("exclude:3: "), "{e}");
        let e = Excludes::parse("\n\n\n!\n", HOME).unwrap_err();
        assert!(e.starts_with("exclude:4: empty pattern"), "{e}");
        let e = Excludes::parse("a\r\nrelative/path\r\n", HOME).unwrap_err();
        assert!(e.starts_with("exclude:2: "), "{e}");
    }
}
