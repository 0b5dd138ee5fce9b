//! The config file: `key=value` lines, `#` comments, mode 0600.
//!
//! Lines are kept as written so that `config set` changes one line and leaves comments, order and
//! unknown keys alone. Unknown keys are reported, never dropped.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use fs_err::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) const KEYS: &[&str] = &[
    "twin_dir",
    "device_name",
    "roots",
    "max_file_size",
    "auto_push",
    "github_user",
    "github_token",
    "github_repo",
    "github_api",
];

pub(crate) const DEFAULT_ROOTS: &str = "/etc ~/.config";
pub(crate) const DEFAULT_MAX_FILE_SIZE: u64 = 1_048_576;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    path: PathBuf,
    lines: Vec<String>,
}

impl Config {
    /// Reads the config; a missing file is an empty config (it is created on first write).
    pub(crate) fn load(path: &Path) -> Result<Config> {
        let lines = match fs_err::read_to_string(path) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(Error::io("read the config", e)),
        };
        Ok(Config { path: path.to_path_buf(), lines })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The value of a key; the last line wins, as in a shell file.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.entries().filter(|(k, _)| *k == key).map(|(_, v)| v).last()
    }

    pub(crate) fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.lines.iter().filter_map(|line| parse_line(line))
    }

    pub(crate) fn unknown_keys(&self) -> Vec<&str> {
        self.entries().map(|(k, _)| k).filter(|k| !KEYS.contains(k)).collect()
    }

    pub(crate) fn roots(&self) -> String {
        self.get("roots").unwrap_or(DEFAULT_ROOTS).to_string()
    }

    pub(crate) fn max_file_size(&self) -> Result<u64> {
        match self.get("max_file_size") {
            None => Ok(DEFAULT_MAX_FILE_SIZE),
            Some(v) => v.parse().map_err(|_| {
                Error::bad_input(format!(
                    "config {}: max_file_size must be a number of bytes, not '{v}'",
                    self.path.display()
                ))
            }),
        }
    }

    /// Sets a key after checking its value, and writes the file (mode 0600).
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        validate(key, value)?;
        let new_line = format!("{key}={value}");
        let is_key = |line: &String| parse_line(line).is_some_and(|(k, _)| k == key);
        match self.lines.iter().position(is_key) {
            Some(first) => {
                self.lines[first] = new_line;
                // Later lines for the same key would win on reading; drop them.
                let mut idx = 0;
                self.lines.retain(|line| {
                    idx += 1;
                    idx - 1 <= first || !is_key(line)
                });
            }
            None => self.lines.push(new_line),
        }
        self.save()
    }

    fn save(&self) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                fs_err::create_dir_all(dir)?;
                fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        let mut text = self.lines.join("\n");
        text.push('\n');
        // Written to a temp file with mode 0600 from the start, so the token is never readable
        // by others, not even for a moment; then renamed over the old file.
        let tmp = self.path.with_extension("twinsync-tmp");
        let mut f =
            fs_err::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs_err::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        fs_err::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// The config as `config show` prints it: every line, the token masked, unknown keys marked.
    pub(crate) fn show(&self) -> String {
        let mut res = format!("# {}\n", self.path.display());
        if self.lines.is_empty() {
            res.push_str("# (empty: every key has its default)\n");
        }
        for line in &self.lines {
            match parse_line(line) {
                Some(("github_token", v)) => res.push_str(&format!("github_token={}\n", mask(v))),
                Some((k, _)) if !KEYS.contains(&k) => {
                    res.push_str(&format!("{line}    # unknown key, ignored\n"))
                }
                _ => {
                    res.push_str(line);
                    res.push('\n');
                }
            }
        }
        res
    }
}

fn parse_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (k, v) = line.split_once('=')?;
    Some((k.trim(), v.trim()))
}

fn mask(token: &str) -> String {
    if token.is_empty() {
        return String::new();
    }
    let tail: String = token.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    if token.chars().count() <= 8 {
        "********".to_string()
    } else {
        format!("********{tail}")
    }
}

fn validate(key: &str, value: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::bad_input(format!("config {key}: {why}")));
    if !KEYS.contains(&key) {
        return Err(Error::bad_input(format!("unknown config key '{key}'; known keys: {}", KEYS.join(" "))));
    }
    if value.contains('\n') {
        return bad("a value is one line");
    }
    match key {
        "max_file_size" if value.parse::<u64>().is_err() => bad("must be a number of bytes, e.g. 1048576"),
        "auto_push" if !matches!(value, "yes" | "no") => bad("must be yes or no"),
        "roots" => {
            if value.split_whitespace().next().is_none() {
                return bad("give at least one folder, e.g. \"/etc ~/.config\"");
            }
            for r in value.split_whitespace() {
                let ok = (r.starts_with('/') || r == "~" || r.starts_with("~/"))
                    && !r.split('/').any(|s| s == "..");
                if !ok {
                    return bad(&format!("'{r}' must be an absolute path or start with ~/"));
                }
            }
            Ok(())
        }
        "twin_dir" if !value.starts_with('/') => bad("must be an absolute path"),
        "github_api" if !(value.starts_with("https://") || value.starts_with("http://")) => {
            bad("must be an http(s) URL")
        }
        "device_name" if value.is_empty() || value.contains('/') || value.contains(char::is_whitespace) => {
            bad("must be a non-empty name without spaces or /")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_keeps_comments_and_unknown_keys_and_writes_0600() {
        let dir = crate::tests::TempDir::new("config");
        let path = dir.path().join("sub/config");
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, "# mine\nroots=/etc\nfavourite=blue\n").unwrap();
        let mut cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.unknown_keys(), vec!["favourite"]);
        cfg.set("roots", "/etc ~/.config /usr/local/etc").unwrap();
        cfg.set("github_token", "ghp_secretsecretsecret1234").unwrap();
        let text = fs_err::read_to_string(&path).unwrap();
        assert_eq!(text, "# mine\nroots=/etc ~/.config /usr/local/etc\nfavourite=blue\ngithub_token=ghp_secretsecretsecret1234\n");
        let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let shown = Config::load(&path).unwrap().show();
        assert!(shown.contains("github_token=********1234"), "{shown}");
        assert!(!shown.contains("secretsecret"));
        assert!(shown.contains("favourite=blue    # unknown key"));
    }

    #[test]
    fn bad_values_are_refused_with_exit_2() {
        let dir = crate::tests::TempDir::new("config-bad");
        let path = dir.path().join("config");
        let mut cfg = Config::load(&path).unwrap();
        for (k, v) in [
            ("max_file_size", "big"),
            ("auto_push", "sometimes"),
            ("roots", "etc"),
            ("roots", "/etc/../root"),
            ("twin_dir", "twin"),
            ("colour", "red"),
            ("device_name", "my laptop"),
        ] {
            let err = cfg.set(k, v).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{k}={v}");
        }
        assert!(!path.exists(), "nothing written for bad input");
    }
}
