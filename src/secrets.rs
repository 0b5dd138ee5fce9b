//! What must never enter the twin (SPEC §4): the twin may be pushed to a hosting service, so
//! every commit is treated as published.
//!
//! Three tools:
//! - [`secret_path`] / [`SecretPaths`]: built-in path rules for files that hold secrets by
//!   their nature (shadow, host keys, TLS keys, VPN and Wi-Fi secrets, browser profiles, ...),
//!   whatever their content looks like;
//! - [`secret_content`]: a scan of a file's bytes for private-key blocks, known token shapes,
//!   password hashes (crypt `$6$...`, GRUB `grub.pbkdf2...`), passwords in URLs and
//!   credential assignments such as `db_password = hunter2`;
//! - [`redact_line`]: the same detectors used to blank secrets out of a journal line.
//!
//! Choices:
//! - Token shapes, hashes and private-key blocks are unambiguous, so they count everywhere, comments
//!   included (a real token in a comment is still published). Credential assignments and URL
//!   passwords are skipped on comment lines (first non-blank `#`, `;` or `//`), where
//!   documentation examples live. `redact_line` redacts everywhere: it only blanks text out.
//! - A value that is not a value is exempt: empty, `""`, `''`, none, null, nil, `~`, `-`,
//!   true, false, yes, no, on, off, undef, undefined, only `*`s, a reference (`$VAR`, `${VAR}`,
//!   `$(cmd)`, `%(name)s`, `%{macro}`, `{{ var }}`, `{% ... %}`, `{name}`), a `<...>` prompt,
//!   and an unquoted value opening a structure (`{`, `[`, `(`, YAML `|`/`>`) or a comment
//!   (`#`). A quote not closed on the line is the end of a string around the key (`read -p
//!   "Password: " pw`), so no value follows.
//!   `changeme`, `password` and the like are *not* exempt: a default that works is a
//!   password, and publishing that a machine still uses it is a leak.
//! - A value that names where the secret is, not the secret, is exempt too: a file (ends with
//!   a key or certificate extension such as `.key`/`.pem`, or is a `/` or `~/` path with a
//!   second `/` and no trailing `=`), or an upper-case macro or variable that is itself a
//!   credential name (`DB_PASSWORD`, exim's `DKIM_PRIVATE_KEY`).
//! - Known stock lines: `passwd:` (a bare `passwd` key and a colon) is the nsswitch.conf
//!   database line, OpenSSL's `challengePassword` is a prompt text, and `secret = pass:insta`
//!   in openssl.cnf is the published password of OpenSSL's Insta demo CA.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::Range;

use crate::fasthash::Fast;
use crate::glob::Glob;

/// The built-in path rules, in the glob syntax of `crate::glob` (`~` is the user's home).
const SECRET_PATH_RULES: &[&str] = &[
    // Password hashes, including the `-` backups that shadow tools leave.
    "/etc/shadow*",
    "/etc/gshadow*",
    "/etc/security/opasswd",
    // Private host and service keys.
    "/etc/ssh/ssh_host_*_key",
    "/etc/ssh/*_key",
    "/etc/dropbear*/**/*_host_key",
    "/etc/ssl/private/**",
    "/etc/pki/**/private/**",
    "/etc/letsencrypt/{accounts,archive,live,keys}/**",
    "/etc/cups/ssl/**",
    "/etc/docker/key.json",
    "/etc/dkimkeys/**",
    "/etc/opendkim/keys/**",
    "/etc/kubernetes/*.conf",
    "/etc/kubernetes/pki/**/*.key",
    "/etc/rancher/k3s/k3s.yaml",
    "/etc/rancher/node/password",
    "/etc/pve/priv/**",
    "/etc/pve/**/*.key",
    "/etc/ceph/*.keyring",
    "/etc/credstore/**",
    "/etc/credstore.encrypted/**",
    "/etc/cryptsetup-keys.d/**",
    "*.keytab",
    "~/.config/**/private-keys-v1.d/**",
    "id_{rsa,dsa,ecdsa,ed25519,ecdsa_sk,ed25519_sk,xmss}",
    // Network, VPN and dial-up secrets.
    "/etc/NetworkManager/system-connections/**",
    "/etc/wpa_supplicant/**",
    "/etc/hostapd/*psk*",
    "/etc/ppp/*-secrets",
    "/etc/openvpn/**/*.key",
    "/etc/openvpn/**/*pass*",
    "/etc/wireguard/**",
    "/etc/ipsec.secrets",
    "/etc/ipsec.d/private/**",
    "/etc/swanctl/{private,rsa,ecdsa,bliss,pkcs8,pkcs12}/**",
    "*.secret",
    "*.secrets",
    "*credentials*",
    // Service passwords.
    "/etc/apt/auth.conf",
    "/etc/apt/auth.conf.d/**",
    "/etc/samba/smbpasswd",
    "/etc/samba/private/**",
    "/etc/mysql/debian.cnf",
    "/etc/postfix/sasl_passwd*",
    "/etc/exim4/passwd*",
    "/etc/fetchmailrc",
    "/etc/msmtprc",
    "/etc/davfs2/secrets",
    "/etc/rclone.conf",
    "/etc/rclone/**",
    "*htpasswd*",
    // TwinSync's own config holds the GitHub token.
    "~/.config/twinsync/**",
    // Command-line tools that keep tokens in ~/.config.
    "~/.config/gh/hosts.yml",
    "~/.config/git/credentials",
    "~/.config/hub",
    "~/.config/glab-cli/config.yml",
    "~/.config/tea/config.yml",
    "~/.config/github-copilot/**",
    "~/.config/rclone/rclone.conf",
    "~/.config/gcloud/*.db",
    "~/.config/gcloud/legacy_credentials/**",
    "~/.config/doctl/config.yaml",
    "~/.config/netlify/config.json",
    "~/.config/composer/auth.json",
    "~/.config/containers/auth.json",
    "~/.config/helm/registry/**",
    "~/.config/sops/age/**",
    "~/.config/borg/keys/**",
    "~/.config/msmtp/config",
    "~/.config/isyncrc",
    "~/.config/hexchat/servlist.conf",
    "~/.config/filezilla/{sitemanager.xml,recentservers.xml}",
    "~/.config/syncthing/{key.pem,https-key.pem,config.xml}",
    "~/.config/JetBrains/**/c.{kdbx,pwd}",
    // Random cookies that may happen to hold no NUL byte and so look like text.
    "~/.config/pulse/cookie",
    "~/.config/tigervnc/passwd",
    // Password managers and keyrings.
    "~/.config/op/**",
    "~/.config/1Password/**",
    "~/.config/Bitwarden*/**",
    "~/.config/lpass/**",
    "~/.config/Authy Desktop/**",
    "~/.config/keyrings/**",
    // Browser profiles: cookies, saved passwords, session tokens.
    "~/.config/{google-chrome,google-chrome-beta,google-chrome-unstable,chromium,BraveSoftware,\
     microsoft-edge,microsoft-edge-beta,microsoft-edge-dev,vivaldi,vivaldi-snapshot,opera,\
     opera-beta,opera-developer,yandex-browser,thorium,mozilla}/**",
    "~/.config/falkon/profiles/**",
    // Messengers and other Electron apps that keep session tokens in their folder.
    "~/.config/Signal*/**",
    "~/.config/discord*/**",
    "~/.config/Slack/**",
    "~/.config/Element*/**",
    "~/.config/Riot/**",
    "~/.config/skypeforlinux/**",
    "~/.config/teams-for-linux/**",
    "~/.config/Microsoft/Microsoft Teams/**",
    "~/.config/Mailspring/**",
    // Browser storage of any Chromium or Electron app (VS Code, Obsidian, ...): the settings
    // files next to it stay captured.
    "~/.config/**/{Cookies,Cookies-journal,Login Data,Login Data-journal,Web Data,\
     Web Data-journal,Trust Tokens,Trust Tokens-journal}",
    "~/.config/**/{Local Storage,Session Storage,IndexedDB,Network,Partitions,\
     Service Worker,WebStorage,shared_proto_db}/**",
    "~/.config/{Code,Code - OSS,Code - Insiders,VSCodium,Cursor}/User/globalStorage/**",
];

/// The built-in path rules compiled for one home folder.
pub(crate) struct SecretPaths {
    globs: Vec<Glob>,
    /// Glob indexes by `Glob::prefix`: a path is tried only against the globs whose prefix
    /// is the path or one of its folders (most rules start with `~/.config/NAME`, and a walk
    /// asks for every file).
    by_prefix: HashMap<String, Vec<usize>, Fast>,
    /// The last folder asked about and the globs its folders' prefixes name: a walk asks for
    /// the files of one folder one after the other.
    last: RefCell<(String, Vec<usize>)>,
}

impl SecretPaths {
    /// Compiles the rules; `~` rules are dropped when `home` is not absolute (then no path
    /// can be under it anyway). A test checks that every rule compiles.
    pub(crate) fn new(home: &str) -> SecretPaths {
        let globs: Vec<Glob> =
            SECRET_PATH_RULES.iter().filter_map(|rule| Glob::new(rule, home).ok()).collect();
        let mut by_prefix: HashMap<String, Vec<usize>, Fast> = HashMap::default();
        for (i, g) in globs.iter().enumerate() {
            by_prefix.entry(g.prefix().to_string()).or_default().push(i);
        }
        SecretPaths { globs, by_prefix, last: RefCell::new((String::from("\0"), Vec::new())) }
    }

    /// Whether `path` (absolute) is a secret by its location.
    pub(crate) fn matches(&self, path: &str) -> bool {
        // A folder may be asked about with a trailing slash; the globs ignore it.
        let path = if path.len() > 1 { path.strip_suffix('/').unwrap_or(path) } else { path };
        // The candidate prefixes: none, every folder of the path, and the path itself.
        let dir = &path[..path.rfind('/').unwrap_or(0)];
        let mut last = self.last.borrow_mut();
        if last.0 != dir {
            let folders = dir.match_indices('/').map(|(i, _)| &dir[..i]).chain([dir]);
            let globs = folders
                .filter_map(|p| self.by_prefix.get(p))
                .flatten()
                .copied()
                .filter(|&i| self.globs[i].may_match_inside(dir))
                .collect();
            *last = (dir.to_string(), globs);
        }
        let own = self.by_prefix.get(path).into_iter().flatten();
        let name = path[dir.len()..].trim_start_matches('/');
        last.1.iter().chain(own).any(|&i| {
            let g = &self.globs[i];
            g.matches_name(name).unwrap_or_else(|| g.matches(path))
        })
    }
}

/// Whether `path` is a secret by its location (the built-in rules of SPEC §4). The compiled
/// rules are cached per thread for the last `home` seen, so a walk compiles them once.
pub(crate) fn secret_path(path: &str, home: &str) -> bool {
    thread_local! {
        static CACHE: RefCell<Option<(String, SecretPaths)>> = const { RefCell::new(None) };
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !matches!(&*cache, Some((h, _)) if h == home) {
            *cache = Some((home.to_string(), SecretPaths::new(home)));
        }
        cache.as_ref().is_some_and(|(_, rules)| rules.matches(path))
    })
}

/// What kind of secret `text` holds, or None. `text` is a file's bytes (no NUL, any encoding);
/// it is scanned line by line.
pub(crate) fn secret_content(text: &[u8]) -> Option<&'static str> {
    text.split(|&b| b == b'\n')
        .find_map(|line| Hits::new(line, !is_comment(line)).next().map(|(kind, _)| kind))
}

/// `line` with every secret value replaced by `[REDACTED]` (token shapes, the value of a
/// credential assignment, the password of a URL, a private-key block from its header on);
/// Borrowed when nothing was found. Comment lines are redacted too.
pub(crate) fn redact_line(line: &str) -> Cow<'_, str> {
    let bytes = line.as_bytes();
    let mut hits = Hits::new(bytes, true).peekable();
    if hits.peek().is_none() {
        return Cow::Borrowed(line);
    }
    let mut out = Vec::with_capacity(line.len());
    let mut last = 0;
    for (_, range) in hits {
        out.extend_from_slice(&bytes[last..range.start]);
        out.extend_from_slice(b"[REDACTED]");
        last = range.end;
    }
    out.extend_from_slice(&bytes[last..]);
    // Every range starts and ends next to an ASCII byte or at the line's ends, so this is
    // valid UTF-8; the lossy path only guards against a mistake without panicking.
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Whether the line is a comment: its first non-blank characters are `#`, `;` or `//`.
/// `//` must be followed by a blank, `/`, `!` or the end, because `.npmrc` credential lines
/// start with `//registry.example.org/:_authToken=`.
fn is_comment(line: &[u8]) -> bool {
    let start = line.iter().position(|&b| !is_blank(b)).unwrap_or(line.len());
    match &line[start..] {
        [b'#' | b';', ..] => true,
        [b'/', b'/', rest @ ..] => rest.first().is_none_or(|&b| is_blank(b) || b == b'/' || b == b'!'),
        _ => false,
    }
}

/// A token recognised by a fixed prefix followed by a run of body characters.
struct Shape {
    prefix: &'static [u8],
    body: fn(u8) -> bool,
    /// Fewest body characters.
    min: usize,
    /// Most body characters: a longer run is some other string (AWS ids are exactly 16).
    max: usize,
    kind: &'static str,
}

const ANY: usize = usize::MAX;

// Ordered so that a more specific prefix comes before a shorter one that shares its start.
const SHAPES: &[Shape] = &[
    shape(b"ghp_", alnum, 36, ANY, "github token"),
    shape(b"gho_", alnum, 36, ANY, "github token"),
    shape(b"ghu_", alnum, 36, ANY, "github token"),
    shape(b"ghs_", alnum, 36, ANY, "github token"),
    shape(b"ghr_", alnum, 36, ANY, "github token"),
    shape(b"github_pat_", word, 22, ANY, "github token"),
    shape(b"glpat-", token, 20, ANY, "gitlab token"),
    shape(b"AKIA", upper_digit, 16, 16, "aws access key"),
    shape(b"ASIA", upper_digit, 16, 16, "aws access key"),
    shape(b"AIza", token, 35, ANY, "google api key"),
    shape(b"AGE-SECRET-KEY-1", upper_digit, 50, ANY, "age secret key"),
    shape(b"PuTTY-User-Key-File-", digit, 1, ANY, "private key"),
    shape(b"xoxb-", alnum_dash, 10, ANY, "slack token"),
    shape(b"xoxp-", alnum_dash, 10, ANY, "slack token"),
    shape(b"xoxa-", alnum_dash, 10, ANY, "slack token"),
    shape(b"xoxr-", alnum_dash, 10, ANY, "slack token"),
    shape(b"xoxs-", alnum_dash, 10, ANY, "slack token"),
    shape(b"xoxe-", alnum_dash, 10, ANY, "slack token"),
    shape(b"hooks.slack.com/services/", url_path, 20, ANY, "slack webhook"),
    shape(b"hooks.slack.com/workflows/", url_path, 20, ANY, "slack webhook"),
    shape(b"hooks.slack.com/triggers/", url_path, 20, ANY, "slack webhook"),
    shape(b"sk_live_", alnum, 16, ANY, "stripe live key"),
    shape(b"rk_live_", alnum, 16, ANY, "stripe live key"),
    // OpenAI and Anthropic style keys. A bare `sk-` needs 32 letters and digits in one run so
    // that names such as `sk-some-long-package-name` are not keys.
    shape(b"sk-proj-", token, 32, ANY, "api key"),
    shape(b"sk-svcacct-", token, 32, ANY, "api key"),
    shape(b"sk-admin-", token, 32, ANY, "api key"),
    shape(b"sk-ant-", token, 32, ANY, "api key"),
    shape(b"sk-", alnum, 32, ANY, "api key"),
    shape(b"npm_", alnum, 36, ANY, "npm token"),
    shape(b"pypi-AgEIcHlwaS5vcmc", token, 16, ANY, "pypi token"),
    shape(b"hf_", alnum, 34, ANY, "hugging face token"),
    shape(b"grub.pbkdf2.", crypt_char, 64, ANY, "password hash"),
];

const fn shape(
    prefix: &'static [u8],
    body: fn(u8) -> bool,
    min: usize,
    max: usize,
    kind: &'static str,
) -> Shape {
    // `end_at` compares the second byte before the rest; checked when SHAPES is built.
    assert!(prefix.len() >= 2, "a shape's prefix has at least two bytes");
    Shape { prefix, body, min, max, kind }
}

/// For each byte, the shapes whose prefix starts with it: bit `k` stands for `SHAPES[k]`, so
/// a position is tried against those few shapes only, still in `SHAPES` order.
const SHAPES_BY_FIRST: [u64; 256] = {
    assert!(SHAPES.len() <= 64, "one bit per shape");
    let mut by_first = [0u64; 256];
    let mut k = 0;
    while k < SHAPES.len() {
        by_first[SHAPES[k].prefix[0] as usize] |= 1 << k;
        k += 1;
    }
    by_first
};

/// Bytes where `hit_at` can find something: a shape's first byte and the bytes its other
/// tests start at. The scan skips every other byte with one look-up (most of a file).
const HIT_STARTS: [bool; 256] = {
    let mut starts = [false; 256];
    let mut b = 0;
    while b < 256 {
        starts[b] = SHAPES_BY_FIRST[b] != 0;
        b += 1;
    }
    starts[b'-' as usize] = true;
    starts[b'$' as usize] = true;
    starts[b'e' as usize] = true;
    starts[b':' as usize] = true;
    starts[b'=' as usize] = true;
    starts
};

impl Shape {
    /// The end of this shape's token starting at `i`, if there is one.
    fn end_at(&self, line: &[u8], i: usize) -> Option<usize> {
        // The first byte is known to match; the second, compared inline, rejects nearly
        // every other shape before the whole prefix is compared.
        if line.get(i + 1) != Some(&self.prefix[1]) || !line[i..].starts_with(self.prefix) {
            return None;
        }
        let body_start = i + self.prefix.len();
        let run = line[body_start..].iter().take_while(|&&b| (self.body)(b)).count();
        (self.min <= run && run <= self.max).then_some(body_start + run)
    }
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}
fn word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
fn token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}
fn alnum_dash(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}
fn upper_digit(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}
fn digit(b: u8) -> bool {
    b.is_ascii_digit()
}
fn crypt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'$' | b'=' | b',' | b'+')
}
fn url_path(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'/' || b == b'_'
}
fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}
fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'' | b'`')
}
fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// The secrets of one line, left to right, as (kind, byte range of the secret value).
/// Ranges never overlap: scanning resumes after each hit.
struct Hits<'a> {
    line: &'a [u8],
    pos: usize,
    /// False on comment lines of a file: only unambiguous shapes count there.
    assignments: bool,
}

impl<'a> Hits<'a> {
    fn new(line: &'a [u8], assignments: bool) -> Hits<'a> {
        Hits { line, pos: 0, assignments }
    }
}

impl Iterator for Hits<'_> {
    type Item = (&'static str, Range<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        let line = self.line;
        while let Some(skip) = line.get(self.pos..)?.iter().position(|&b| HIT_STARTS[b as usize]) {
            let i = self.pos + skip;
            if let Some((kind, range)) = hit_at(line, i, self.assignments) {
                self.pos = range.end.max(i + 1);
                return Some((kind, range));
            }
            self.pos = i + 1;
        }
        self.pos = line.len();
        None
    }
}

/// A secret found by looking at position `i` of `line`.
fn hit_at(line: &[u8], i: usize, assignments: bool) -> Option<(&'static str, Range<usize>)> {
    let b = line[i];
    // A token must not start in the middle of a word (`xghp_...`, `TASKIA...`).
    let word_start = i == 0 || !line[i - 1].is_ascii_alphanumeric();
    let mut shapes = SHAPES_BY_FIRST[b as usize];
    while shapes != 0 && word_start {
        let s = &SHAPES[shapes.trailing_zeros() as usize];
        shapes &= shapes - 1;
        if let Some(end) = s.end_at(line, i) {
            return Some((s.kind, i..end));
        }
    }
    match b {
        b'-' => private_key_at(line, i).map(|r| ("private key", r)),
        b'$' if word_start => crypt_hash_at(line, i).map(|r| ("password hash", r)),
        b'e' if word_start && line.get(i + 1) == Some(&b'y') => jwt_at(line, i).map(|r| ("jwt", r)),
        b':' if assignments && line[i + 1..].starts_with(b"//") => {
            url_password_at(line, i).map(|r| ("password in url", r))
        }
        b'=' | b':' if assignments => assignment_at(line, i).map(|r| ("credential assignment", r)),
        _ => None,
    }
}

/// `-----BEGIN ... PRIVATE KEY-----` (also `PGP PRIVATE KEY BLOCK`, `ENCRYPTED PRIVATE KEY`
/// and OpenVPN static keys): the range runs to the matching END line on the same line (a key
/// logged as one line), else to the end of the line.
fn private_key_at(line: &[u8], i: usize) -> Option<Range<usize>> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let after = line[i..].strip_prefix(BEGIN)?;
    let label_len = find(after, b"-----").filter(|&n| n <= 64)?;
    let label = &after[..label_len];
    let private = label.ends_with(b"PRIVATE KEY")
        || label.ends_with(b"PRIVATE KEY BLOCK")
        || label.starts_with(b"OpenVPN Static key");
    if !private {
        return None;
    }
    let body = i + BEGIN.len() + label_len + 5;
    let end = find(&line[body..], b"-----END ")
        .and_then(|e| {
            let tail = body + e + 9;
            find(&line[tail..], b"-----").map(|f| tail + f + 5)
        })
        .unwrap_or(line.len());
    Some(i..end)
}

/// A crypt(3) password hash such as `$6$salt$hash` or `$y$j9T$salt$hash` (preseed files,
/// cloud-init, mosquitto): offline cracking makes a published hash nearly a password. The
/// second `$` and the length keep shell text such as `"$1$HOME"` out.
fn crypt_hash_at(line: &[u8], i: usize) -> Option<Range<usize>> {
    const PREFIXES: &[&[u8]] = &[
        b"$1$",
        b"$5$",
        b"$6$",
        b"$7$",
        b"$y$",
        b"$gy$",
        b"$2a$",
        b"$2b$",
        b"$2y$",
        b"$argon2i$",
        b"$argon2d$",
        b"$argon2id$",
    ];
    let prefix = PREFIXES.iter().find(|p| line[i..].starts_with(p))?;
    let body = i + prefix.len();
    let run = line[body..].iter().take_while(|&&b| crypt_char(b)).count();
    (run >= 28 && line[body..body + run].contains(&b'$')).then_some(i..body + run)
}

/// A JSON Web Token: three base64url parts separated by dots, the first two JSON objects.
fn jwt_at(line: &[u8], i: usize) -> Option<Range<usize>> {
    let mut end = i;
    for part in 0..3 {
        if part > 0 {
            if line.get(end) != Some(&b'.') {
                return None;
            }
            end += 1;
        }
        if part < 2 && !line[end..].starts_with(b"eyJ") {
            return None;
        }
        let run = line[end..].iter().take_while(|&&b| token(b)).count();
        if run < 10 {
            return None;
        }
        end += run;
    }
    Some(i..end)
}

/// `scheme://user:password@host`, at the `:` of `://`: the password's range. Not when the
/// password is empty or a placeholder (`$VAR`, `${VAR}`, `***`, ...).
fn url_password_at(line: &[u8], i: usize) -> Option<Range<usize>> {
    if i == 0 || !line[i - 1].is_ascii_alphabetic() {
        return None;
    }
    let start = i + 3;
    let len = line[start..]
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'"' | b'\'' | b'<' | b'>') || is_blank(b))?;
    if line[start + len] != b'@' {
        return None;
    }
    let userinfo = &line[start..start + len];
    let colon = userinfo.iter().position(|&b| b == b':')?;
    let password = start + colon + 1..start + len;
    (!is_placeholder(&line[password.clone()])).then_some(password)
}

/// At `=` or `:`: when the key before it names a credential and a real value follows, the
/// value's range.
fn assignment_at(line: &[u8], i: usize) -> Option<Range<usize>> {
    let op = line[i];
    let prev = if i > 0 { line[i - 1] } else { b' ' };
    let next = line.get(i + 1).copied().unwrap_or(b' ');
    // Comparisons (`==`, `!=`, `<=`, `=~`), paths (`::`) and shell expansions (`${X:-y}`,
    // `${X:+y}`, `${X:?y}`) are not assignments; `:=` is handled at its `=`.
    let not_assignment = match op {
        b'=' => matches!(prev, b'=' | b'!' | b'<' | b'>') || matches!(next, b'=' | b'~'),
        _ => prev == b':' || matches!(next, b':' | b'=' | b'-' | b'+' | b'?'),
    };
    if not_assignment {
        return None;
    }
    // The key: back over blanks, one closing quote, then key characters.
    let mut k = i;
    if op == b'=' && prev == b':' {
        k -= 1;
    }
    while k > 0 && is_blank(line[k - 1]) {
        k -= 1;
    }
    if k > 0 && is_quote(line[k - 1]) {
        k -= 1;
    }
    let key_end = k;
    while k > 0 && is_key_char(line[k - 1]) {
        k -= 1;
    }
    let key = &line[k..key_end];
    // `passwd:` is the nsswitch.conf database line; OpenSSL's `challengePassword` is the
    // prompt text of a certificate request attribute (in every Debian /etc/ssl/openssl.cnf).
    let benign =
        (op == b':' && key.eq_ignore_ascii_case(b"passwd")) || key.eq_ignore_ascii_case(b"challengePassword");
    if benign || !credential_key(key) {
        return None;
    }
    // The value: quoted up to the closing quote, else up to a blank or separator. A quote
    // that is not closed on the line is the end of a string the key was inside, as in
    // `read -p "Password: " pw`, so there is no value.
    let mut v = i + 1;
    while v < line.len() && is_blank(line[v]) {
        v += 1;
    }
    let value = match line.get(v) {
        Some(&q) if is_quote(q) => {
            let start = v + 1;
            let len = line[start..].iter().position(|&b| b == q)?;
            start..start + len
        }
        Some(b'{' | b'[' | b'(' | b'|' | b'>' | b'#') | None => return None,
        Some(_) => {
            let len = line[v..]
                .iter()
                .position(|&b| is_blank(b) || matches!(b, b',' | b';' | b'&' | b'"' | b'\''))
                .unwrap_or(line.len() - v);
            v..v + len
        }
    };
    let text = &line[value.clone()];
    // The one public value in a stock Debian file: the documented password of OpenSSL's
    // Insta Demo CA in /etc/ssl/openssl.cnf (`secret = pass:insta`).
    let public = text == b"pass:insta";
    let secret = !(public || is_placeholder(text) || names_variable(text) || names_file(text));
    secret.then_some(value)
}

/// Whether a key names a credential: it is or ends with password, passwd, passphrase, secret,
/// token, api_key, access_key, private_key or secret_key (case and `_ - .` separators
/// ignored: `MYSQL_ROOT_PASSWORD`, `client.secret`, `apiKey`), or ends with a separated `_pwd`,
/// `_pass` or `_psk` (`psk` alone too). The short words need the separator because `OLDPWD`,
/// `bypass` and the like are not credentials.
fn credential_key(key: &[u8]) -> bool {
    const LONG: &[&[u8]] = &[
        b"password",
        b"passwd",
        b"passphrase",
        b"secret",
        b"token",
        b"apikey",
        b"accesskey",
        b"privatekey",
        b"secretkey",
    ];
    const SHORT: &[&[u8]] = &[b"pwd", b"pass", b"psk"];
    if LONG.iter().any(|word| normalized_ends_with(key, word)) {
        return true;
    }
    if key.eq_ignore_ascii_case(b"psk") {
        return true;
    }
    SHORT.iter().any(|word| {
        key.len() > word.len()
            && key[key.len() - word.len()..].eq_ignore_ascii_case(word)
            && matches!(key[key.len() - word.len() - 1], b'_' | b'-' | b'.')
    })
}

/// Whether `key`, lower-cased and without `_ - .`, ends with `word` (lower case).
fn normalized_ends_with(key: &[u8], word: &[u8]) -> bool {
    let mut letters =
        key.iter().rev().filter(|&&b| !matches!(b, b'_' | b'-' | b'.')).map(|b| b.to_ascii_lowercase());
    word.iter().rev().all(|&w| letters.next() == Some(w))
}

/// Whether a value only stands in for a secret (see the module documentation).
fn is_placeholder(value: &[u8]) -> bool {
    const WORDS: &[&[u8]] = &[
        b"none",
        b"null",
        b"nil",
        b"~",
        b"-",
        b"true",
        b"false",
        b"yes",
        b"no",
        b"on",
        b"off",
        b"undef",
        b"undefined",
    ];
    let reference = match value {
        [b'$', c, ..] => c.is_ascii_alphabetic() || matches!(c, b'_' | b'{' | b'('),
        [b'%', b'(' | b'{', ..] | [b'{', b'{' | b'%', ..] | [b'{', .., b'}'] | [b'<', ..] => true,
        _ => false,
    };
    value.is_empty()
        || reference
        || value.iter().all(|&b| b == b'*')
        || WORDS.iter().any(|w| value.eq_ignore_ascii_case(w))
}

/// Whether a value is the name of a macro or variable that holds the credential, such as
/// exim's `dkim_private_key = DKIM_PRIVATE_KEY`: upper case, with an underscore, and itself a
/// credential name.
fn names_variable(value: &[u8]) -> bool {
    value.first().is_some_and(u8::is_ascii_uppercase)
        && value.contains(&b'_')
        && value.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && credential_key(value)
}

/// Whether a value names a file rather than holding the secret (`tls_privatekey =
/// CONFDIR/exim.key`, `private_key: /etc/ssl/private/x.pem`): it ends with a key or certificate
/// file extension, or it is a path (`/` or `~/`, a second `/`) that does not end with `=` as
/// base64 keys do.
fn names_file(value: &[u8]) -> bool {
    const EXTENSIONS: &[&[u8]] =
        &[b".key", b".pem", b".crt", b".cer", b".der", b".p12", b".pfx", b".jks", b".gpg", b".asc"];
    let lower =
        |ext: &&[u8]| value.len() > ext.len() && value[value.len() - ext.len()..].eq_ignore_ascii_case(ext);
    let path = (value.starts_with(b"/") || value.starts_with(b"~/"))
        && value[1..].contains(&b'/')
        && !value.ends_with(b"=");
    path || EXTENSIONS.iter().any(lower)
}

/// The offset of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOME: &str = "/home/ana";

    // Secret-shaped strings are built at run time so that this file never holds a contiguous
    // token that a push-protection scanner would block.
    fn ghp() -> String {
        format!("ghp_{}", "aB3".repeat(12))
    }

    fn begin(label: &str) -> String {
        format!("-----{} {label}-----", "BEGIN")
    }

    #[test]
    fn every_builtin_rule_compiles() {
        for rule in SECRET_PATH_RULES {
            assert!(Glob::new(rule, HOME).is_ok(), "{rule}");
        }
        assert_eq!(SecretPaths::new(HOME).globs.len(), SECRET_PATH_RULES.len());
    }

    #[test]
    fn the_prefix_index_answers_as_trying_every_rule_would() {
        // A path made from each rule (wildcards filled in), its folders and a file below it,
        // and the same under another home and another root folder.
        let rules = SecretPaths::new(HOME);
        let mut paths = vec!["/".to_string(), "/etc".to_string(), HOME.to_string()];
        for rule in SECRET_PATH_RULES {
            let mut sample = rule.replacen('~', HOME, 1).replace("**", "a/b").replace(['*', '?'], "x");
            while let (Some(open), Some(close)) = (sample.find('{'), sample.find('}')) {
                let first = sample[open + 1..close].split(',').next().unwrap_or_default().to_string();
                sample.replace_range(open..=close, &first);
            }
            for p in [sample.clone(), format!("{sample}/below.conf"), sample.replace(HOME, "/home/bob")] {
                let folders: Vec<String> = p.match_indices('/').map(|(i, _)| p[..i].to_string()).collect();
                paths.extend(folders);
                paths.push(p);
            }
        }
        let mut secret = 0;
        paths.extend(paths.clone().into_iter().map(|p| format!("{p}/")));
        for p in paths.iter().filter(|p| p.starts_with('/')) {
            let every = rules.globs.iter().any(|g| g.matches(p));
            assert_eq!(rules.matches(p), every, "{p}");
            secret += every as usize;
        }
        assert!(secret > SECRET_PATH_RULES.len(), "the samples reach the rules: {secret}");
    }

    #[test]
    fn secret_paths_match_the_builtin_rules() {
        for path in [
            "/etc/shadow",
            "/etc/shadow-",
            "/etc/gshadow",
            "/etc/gshadow-",
            "/etc/security/opasswd",
            "/etc/ssh/ssh_host_rsa_key",
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_ecdsa_key",
            "/etc/dropbear/initramfs/dropbear_ed25519_host_key",
            "/etc/ssl/private/ssl-cert-snakeoil.key",
            "/etc/pki/tls/private/server.key",
            "/etc/letsencrypt/live/example.org/privkey.pem",
            "/etc/letsencrypt/archive/example.org/privkey1.pem",
            "/etc/letsencrypt/keys/0000_key-certbot.pem",
            "/etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/x/private_key.json",
            "/etc/cups/ssl/server.key",
            "/etc/docker/key.json",
            "/etc/krb5.keytab",
            "/etc/apache2/http.keytab",
            "/etc/NetworkManager/system-connections/Home WiFi.nmconnection",
            "/etc/wpa_supplicant/wpa_supplicant.conf",
            "/etc/ppp/chap-secrets",
            "/etc/ppp/pap-secrets",
            "/etc/openvpn/client/ta.key",
            "/etc/openvpn/server.key",
            "/etc/wireguard/wg0.conf",
            "/etc/ipsec.secrets",
            "/etc/ipsec.d/private/host.pem",
            "/etc/libnss-ldap.secret",
            "/etc/samba/smbpasswd",
            "/etc/samba/credentials",
            "/etc/apt/auth.conf",
            "/etc/apt/auth.conf.d/vendor.conf",
            "/etc/mysql/debian.cnf",
            "/etc/postfix/sasl_passwd",
            "/etc/postfix/sasl_passwd.db",
            "/etc/exim4/passwd.client",
            "/etc/fetchmailrc",
            "/etc/rclone/rclone.conf",
            "/etc/apache2/.htpasswd",
            "/etc/kubernetes/admin.conf",
            "/etc/credstore/db.pass",
            "/home/ana/.config/twinsync/config",
            "/home/ana/.config/twinsync/exclude",
            "/home/ana/.config/gh/hosts.yml",
            "/home/ana/.config/git/credentials",
            "/home/ana/.config/hub",
            "/home/ana/.config/rclone/rclone.conf",
            "/home/ana/.config/gcloud/application_default_credentials.json",
            "/home/ana/.config/gcloud/access_tokens.db",
            "/home/ana/.config/google-chrome/Default/Preferences",
            "/home/ana/.config/chromium/Default/Login Data",
            "/home/ana/.config/BraveSoftware/Brave-Browser/Default/Cookies",
            "/home/ana/.config/mozilla/firefox/abc.default/logins.json",
            "/home/ana/.config/vivaldi/Default/Bookmarks",
            "/home/ana/.config/op/config",
            "/home/ana/.config/Bitwarden/data.json",
            "/home/ana/.config/Bitwarden CLI/data.json",
            "/home/ana/.config/Signal/config.json",
            "/home/ana/.config/discord/Local Storage/leveldb/000003.log",
            "/home/ana/.config/Slack/storage/root-state.json",
            "/home/ana/.config/keyrings/login.keyring",
            "/home/ana/.config/Code/User/globalStorage/storage.json",
            "/home/ana/.config/obsidian/Local Storage/leveldb/LOG",
            "/home/ana/.config/sops/age/keys.txt",
            "/home/ana/.config/gnupg/private-keys-v1.d/ABCD.key",
            "/home/ana/.config/app/id_ed25519",
            "/home/ana/.config/pulse/cookie",
        ] {
            assert!(secret_path(path, HOME), "{path} should be a secret path");
        }
    }

    #[test]
    fn public_and_ordinary_paths_are_not_secret() {
        for path in [
            "/etc/ssh/ssh_host_rsa_key.pub",
            "/etc/ssh/ssh_host_ed25519_key.pub",
            "/etc/ssh/sshd_config",
            "/etc/ssh/ssh_config",
            "/etc/apt/trusted.gpg.d/debian-archive-bookworm-stable.gpg",
            "/etc/apt/trusted.gpg.d/debian.gpg",
            "/etc/apt/keyrings/docker.asc",
            "/etc/apt/sources.list",
            "/etc/ssl/certs/ca-certificates.crt",
            "/etc/ssl/openssl.cnf",
            "/etc/letsencrypt/renewal/example.org.conf",
            "/etc/passwd",
            "/etc/passwd-",
            "/etc/group-",
            "/etc/sudoers",
            "/etc/machine-id",
            "/etc/pam.d/common-password",
            "/etc/NetworkManager/NetworkManager.conf",
            "/etc/openvpn/server.conf",
            "/home/ana/.config/git/config",
            "/home/ana/.config/gh/config.yml",
            "/home/ana/.config/Code/User/settings.json",
            "/home/ana/.config/keepassxc/keepassxc.ini",
            "/home/ana/.config/htop/htoprc",
            "/home/bob/.config/twinsync/config",
            "/usr/share/keyrings/debian-archive-keyring.gpg",
        ] {
            assert!(!secret_path(path, HOME), "{path} should not be a secret path");
        }
        // The cache follows the home it is asked about.
        assert!(secret_path("/home/bob/.config/twinsync/config", "/home/bob"));
        assert!(!secret_path("/home/ana/.config/twinsync/config", "/home/bob"));
    }

    /// Lines that hold a secret, each with the kind it must be reported as.
    fn planted() -> Vec<(String, &'static str)> {
        let a36 = "Ab1".repeat(12);
        vec![
            (begin("OPENSSH PRIVATE KEY"), "private key"),
            (begin("RSA PRIVATE KEY"), "private key"),
            (begin("EC PRIVATE KEY"), "private key"),
            (begin("PRIVATE KEY"), "private key"),
            (begin("ENCRYPTED PRIVATE KEY"), "private key"),
            (begin("PGP PRIVATE KEY BLOCK"), "private key"),
            (begin("OpenVPN Static key V1"), "private key"),
            (format!("{}-2: ssh-ed25519", "PuTTY-User-Key-File"), "private key"),
            (format!("{}{}", "AGE-SECRET-KEY-1", "QX7".repeat(20)), "age secret key"),
            (format!("token {}", ghp()), "github token"),
            (format!("x=gho_{a36}"), "github token"),
            (format!("url: https://ghu_{a36}@x"), "github token"),
            (format!("ghs_{a36}"), "github token"),
            (format!("ghr_{a36}"), "github token"),
            (format!("{}_pat_{}", "github", "A1_b".repeat(20)), "github token"),
            (format!("id {}{}", "AKIA", "ABCDEFGH12345678"), "aws access key"),
            (format!("\"{}{}\"", "ASIA", "ABCDEFGH12345678"), "aws access key"),
            (
                format!("aws_secret_access_key = {}", "wJalr/K7MDENG+bPxRfiCY".repeat(2)),
                "credential assignment",
            ),
            (format!("SLACK={}-{}", "xoxb", "1234-5678-abcdEFGH"), "slack token"),
            (format!("{}-{}", "xoxp", "1234567890-abc"), "slack token"),
            (format!("{}-{}", "xoxa", "1234567890-abc"), "slack token"),
            (format!("{}-{}", "xoxr", "1234567890-abc"), "slack token"),
            (format!("{}-{}", "xoxs", "1234567890-abc"), "slack token"),
            (
                format!("# hook https://hooks.{}/services/T000/B000/{}", "slack.com", "x".repeat(24)),
                "slack webhook",
            ),
            (format!("key={}{}", "AIza", "Sy-_".repeat(9)), "google api key"),
            (format!("{}_live_{}", "sk", "a1".repeat(12)), "stripe live key"),
            (format!("{}_live_{}", "rk", "a1".repeat(12)), "stripe live key"),
            (format!("OPENAI={}-proj-{}", "sk", "a1-_".repeat(12)), "api key"),
            (format!("{}-{}", "sk", "a1B2".repeat(12)), "api key"),
            (format!("{}-ant-api03-{}", "sk", "a1B2".repeat(12)), "api key"),
            (format!("{}-{}", "glpat", "a1B2_".repeat(4)), "gitlab token"),
            (format!("//registry/:_authToken={}_{a36}", "npm"), "credential assignment"),
            (format!("{}_{a36}", "npm"), "npm token"),
            (format!("{}-AgEIcHlwaS5vcmc{}", "pypi", "Abc_".repeat(10)), "pypi token"),
            (format!("{}_{}", "hf", "aB1".repeat(12)), "hugging face token"),
            (format!("Bearer eyJ{}.eyJ{}.{}", "hbGciOiJIUzI1NiJ9", "zdWIiOiIxIn0", "s1g_n4tur3x"), "jwt"),
            (
                format!(
                    "password_pbkdf2 root grub.pbkdf2.sha512.10000.{}.{}",
                    "A1B2".repeat(16),
                    "C3D4".repeat(32)
                ),
                "password hash",
            ),
            (
                format!(
                    "d-i passwd/root-password-crypted password ${}${}${}",
                    "y",
                    "j9T",
                    "aB3./x".repeat(10)
                ),
                "password hash",
            ),
            (format!("# admin:${}$rounds=5000$saltsalt${}", "6", "Zz9/".repeat(20)), "password hash"),
            (format!("hash = '${}$12${}'", "2b", "Ab1.".repeat(14)), "password hash"),
            ("db = postgres://app:s3cret@db.local/app".to_string(), "password in url"),
            ("proxy=http://u:p@proxy:3128".to_string(), "password in url"),
            ("db_password=hunter2".to_string(), "credential assignment"),
            ("MYSQL_ROOT_PASSWORD: \"hunter2\"".to_string(), "credential assignment"),
            ("export API_TOKEN='abc def'".to_string(), "credential assignment"),
            ("api-token = abc".to_string(), "credential assignment"),
            ("client.secret=abc".to_string(), "credential assignment"),
            ("  \"apiKey\": \"abc\",".to_string(), "credential assignment"),
            ("{\"a\":1,\"password\":\"x\"}".to_string(), "credential assignment"),
            ("password = changeme".to_string(), "credential assignment"),
            ("Password=123456".to_string(), "credential assignment"),
            ("psk=\"correct horse\"".to_string(), "credential assignment"),
            ("wpa_passphrase=correcthorse".to_string(), "credential assignment"),
            ("set smtp_pass = \"x\"".to_string(), "credential assignment"),
            ("host=a user=b password=c".to_string(), "credential assignment"),
            ("DB_PWD := abc".to_string(), "credential assignment"),
            ("private_key: abc".to_string(), "credential assignment"),
            ("access_key = AK".to_string(), "credential assignment"),
            (
                "PrivateKey = /Ab+cd/ef12ghIJkl34mnOPqr56stUVwx78yzAB90cdEF=".to_string(),
                "credential assignment",
            ),
            ("password = Hunter_2".to_string(), "credential assignment"),
            ("password = /hunter2".to_string(), "credential assignment"),
            ("auth_token=abc".to_string(), "credential assignment"),
            ("client_secret = abc".to_string(), "credential assignment"),
        ]
    }

    #[test]
    fn planted_secrets_are_found() {
        for (line, kind) in planted() {
            assert_eq!(secret_content(line.as_bytes()), Some(kind), "{line}");
            // Also as the middle line of a file, with non-UTF-8 bytes around it.
            let mut file = b"# header\n\xff\xfe latin1 \xe9\n".to_vec();
            file.extend_from_slice(line.as_bytes());
            file.extend_from_slice(b"\r\nend\n");
            assert_eq!(secret_content(&file), Some(kind), "{line}");
        }
    }

    #[test]
    fn every_token_shape_is_found_and_only_at_the_start_of_a_word() {
        for shape in SHAPES {
            let body = [b'A', b'7', b'a'].into_iter().find(|&c| (shape.body)(c)).unwrap();
            let mut token = shape.prefix.to_vec();
            token.extend(std::iter::repeat_n(body, shape.min));
            let text = String::from_utf8(token).unwrap();
            // On a comment line only token shapes count, so the shape itself found it.
            assert_eq!(secret_content(format!("# key: {text} end").as_bytes()), Some(shape.kind), "{text}");
            assert_eq!(secret_content(format!("# key: x{text} end").as_bytes()), None, "x{text}");
        }
    }

    #[test]
    fn the_byte_skipping_scan_finds_what_trying_every_position_finds() {
        let mut lines: Vec<String> = planted().into_iter().map(|(l, _)| l).collect();
        lines.extend(
            ["a=b password=hunter2 x", "-----BEGIN RSA PRIVATE KEY----- abc", "eyJ.eyJ", "=:$-e"]
                .map(String::from),
        );
        for line in &lines {
            let bytes = line.as_bytes();
            for assignments in [true, false] {
                let mut slow = Vec::new();
                let mut i = 0;
                while i < bytes.len() {
                    match hit_at(bytes, i, assignments) {
                        Some((kind, range)) => {
                            i = range.end.max(i + 1);
                            slow.push((kind, range));
                        }
                        None => i += 1,
                    }
                }
                let fast: Vec<_> = Hits::new(bytes, assignments).collect();
                assert_eq!(fast, slow, "{line}");
            }
        }
    }

    #[test]
    fn ordinary_config_lines_are_not_secrets() {
        for line in [
            "PasswordAuthentication yes",
            "#PasswordAuthentication no",
            "PermitEmptyPasswords no",
            "password\trequired\tpam_unix.so",
            "password [success=1 default=ignore] pam_unix.so obscure yescrypt",
            "password\trequisite\t\t\tpam_deny.so",
            "PASS_MAX_DAYS\t99999",
            "#password=secret",
            "  # db_password = hunter2",
            "; password = x",
            "// token: abc",
            "# db = postgres://app:s3cret@db.local/app",
            "passwd:         files systemd",
            "shadow:         files systemd",
            "password_file = /etc/app/pw",
            "token_ttl = 3600",
            "max_tokens: 4096",
            "OLDPWD=/root",
            "bypass = 1",
            "password =",
            "password = \"\"",
            "password = ''",
            "password: none",
            "password: null",
            "secret = nil",
            "token: ~",
            "use_token = true",
            "use_token = false",
            "password = yes",
            "password = no",
            "password = *",
            "password = ***",
            "password=$DB_PASSWORD",
            "password=${DB_PASSWORD}",
            "password=\"$(cat /run/secrets/db)\"",
            "password = %(db_password)s",
            "password: {{ vault_db_password }}",
            "password: \"{{ vault_db_password }}\"",
            "password = <your password here>",
            "password: |",
            "credentials: {",
            "if password == \"\" {",
            "if token != x",
            "Password::Helper",
            "url = https://user:$TOKEN@example.org/x.git",
            "url = https://user:${TOKEN}@example.org/x.git",
            "url = https://user:@example.org/",
            "proxy_url = 'http://{}:{}@{}:{}/'",
            "index = https://key:{password}@pkg.example/simple/",
            "url = https://user@example.org/",
            "url = http://[::1]:8080/path@x",
            "disk-0123456789abcdef0123456789abcdef0123",
            "sk-some-long-package-name-that-is-not-a-key",
            "XAKIA0123456789ABCDEF",
            "AKIA0123456789ABCDEF0123",
            "ghp_short",
            "-----BEGIN CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "Reject-Type: password",
            "read -p \"Password: \" pw",
            "print \"Password: \";",
            "wget ${PRIVATEKEY:+\"$PRIVATEKEY\"} -O x",
            "echo ${DB_PASSWORD:-}",
            "exec \"$1$HOME/.config/some/long/path/to/a/file\"",
            "price: $5$ or $6$",
            "   passwd chat = *Enter\\snew\\s*\\spassword:* %n\\n *Retype\\snew\\s*\\spassword:* %n\\n .",
            "   unix password sync = yes",
            "secret = pass:insta # can be used for both client and server side",
            "challengePassword\t\t= A challenge password",
            "MAIN_TLS_PRIVATEKEY = CONFDIR/exim.key",
            "dkim_private_key = DKIM_PRIVATE_KEY",
            "tls_privatekey = REMOTE_SMTP_SMARTHOST_PRIVATEKEY",
            "ssl_private_key: /etc/ssl/private/server.pem",
            "secret = ~/.config/app/secret",
            "password_command = DB_PASSWORD",
            "Name: passwords",
        ] {
            assert_eq!(secret_content(line.as_bytes()), None, "{line}");
        }
    }

    #[test]
    fn redaction_keeps_the_rest_of_the_line() {
        let line = format!("app[12]: pushing with {} to origin", ghp());
        assert_eq!(redact_line(&line), "app[12]: pushing with [REDACTED] to origin");
        assert_eq!(
            redact_line("mysql --user=root --password=hunter2 -e 'select 1'"),
            "mysql --user=root --password=[REDACTED] -e 'select 1'"
        );
        assert_eq!(
            redact_line("conf: {\"token\": \"abc def\", \"user\": \"ana\"}"),
            "conf: {\"token\": \"[REDACTED]\", \"user\": \"ana\"}"
        );
        assert_eq!(
            redact_line("fetch postgres://app:s3cret@db.local/app failed"),
            "fetch postgres://app:[REDACTED]@db.local/app failed"
        );
        let key = format!("{}\\nMIIEvQIB\\n{} tail", begin("PRIVATE KEY"), "-----END PRIVATE KEY-----");
        assert_eq!(redact_line(&key), "[REDACTED] tail");
        let header = format!("x: {}", begin("RSA PRIVATE KEY"));
        assert_eq!(redact_line(&header), "x: [REDACTED]");
        let two = format!("a={} b={}{}", ghp(), "AKIA", "ABCDEFGH12345678");
        assert_eq!(redact_line(&two), "a=[REDACTED] b=[REDACTED]");
        // Comment lines are redacted too: the journal has no comments.
        assert_eq!(redact_line("# password=hunter2 é"), "# password=[REDACTED] é");
    }

    #[test]
    fn clean_lines_are_borrowed() {
        for line in [
            "Nov 24 10:00:01 host sshd[1]: Accepted password for ana from 10.0.0.2 port 22 ssh2",
            "Nov 24 10:00:02 host systemd[1]: Started cron.service - Regular background program.",
            "pam_unix(sudo:session): session opened for user root(uid=0) by ana(uid=1000)",
            "sudo: ana : TTY=pts/0 ; PWD=/home/ana ; USER=root ; COMMAND=/usr/bin/apt update",
            "kernel: audit: type=1400 apparmor=\"DENIED\" operation=\"open\" name=\"/etc/shadow\"",
            "",
            "héllo wörld",
        ] {
            assert!(matches!(redact_line(line), Cow::Borrowed(_)), "{line}");
        }
    }
}
