//! Facts about the machine for reading: uname, os-release, host name, and the journal tail.
//!
//! None of these is ever planned or applied. The journal is kept for people and AI to read, so
//! it is redacted line by line instead of being left out.

use crate::error::Result;
use crate::host::{Cmd, Host};
use crate::secrets;

pub(crate) const JOURNAL_LINES: &str = "500";

/// `uname -a` of the running kernel; under `--root` the running kernel is the rescue system's,
/// which says nothing about the disk, so it is not collected.
pub(crate) fn uname(host: &Host) -> Result<std::result::Result<String, String>> {
    if !host.is_live() {
        return Ok(Err(
            "system: uname.txt not collected: under --root the running kernel is not the disk's".to_string()
        ));
    }
    match host.run(&Cmd::new("uname", "describe the kernel").arg("-a")) {
        Ok(out) => Ok(Ok(out.stdout_text())),
        Err(e) if e.is_tool_missing() => Ok(Err("system: uname is not installed".to_string())),
        Err(e) => Err(e),
    }
}

/// `<root>/etc/os-release`, following its symlink (to `../usr/lib/os-release`) inside the root.
pub(crate) fn os_release(host: &Host) -> std::result::Result<String, String> {
    let mut machine_path = "/etc/os-release".to_string();
    for _ in 0..8 {
        let path = host.path(&machine_path);
        match fs_err::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs_err::read_link(&path).map_err(|e| e.to_string())?;
                let target = target.to_string_lossy();
                machine_path = if target.starts_with('/') {
                    target.into_owned()
                } else {
                    normalize(&format!("{}/{}", parent(&machine_path), target))
                };
            }
            Ok(_) => return fs_err::read_to_string(&path).map_err(|e| format!("system: os-release: {e}")),
            Err(_) => break,
        }
    }
    Err("system: no /etc/os-release on this system".to_string())
}

/// The host name: `<root>/etc/hostname`, else (live) the kernel's.
pub(crate) fn hostname(host: &Host) -> Option<String> {
    let from_file = fs_err::read_to_string(host.path("/etc/hostname")).ok().map(|s| s.trim().to_string());
    let from_kernel = || {
        host.is_live()
            .then(|| fs_err::read_to_string("/proc/sys/kernel/hostname").ok())
            .flatten()
            .map(|s| s.trim().to_string())
    };
    from_file.filter(|s| !s.is_empty()).or_else(from_kernel).filter(|s| !s.is_empty())
}

/// The last journal lines, each redacted.
pub(crate) fn journal_tail(host: &Host) -> Result<std::result::Result<String, String>> {
    let mut cmd = Cmd::new("journalctl", "read the journal");
    if !host.is_live() {
        cmd = cmd.arg(format!("--root={}", host.root().display()));
    }
    let cmd = cmd.args(["--no-pager", "--quiet", "-n", JOURNAL_LINES, "-o", "short-iso"]);
    match host.run(&cmd) {
        Ok(out) => {
            let text = out.stdout_text();
            let mut res = String::new();
            for line in text.lines() {
                res.push_str(&secrets::redact_line(line));
                res.push('\n');
            }
            if res.is_empty() {
                res.push_str("-- No entries --\n");
            }
            Ok(Ok(res))
        }
        Err(e) if e.is_tool_missing() => {
            Ok(Err("logs: journalctl is not installed; journal not collected".to_string()))
        }
        Err(e) => Ok(Err(format!(
            "logs: the journal could not be read: {}",
            e.message().lines().next().unwrap_or("")
        ))),
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

/// Resolves `.` and `..` of an absolute path, without going above `/`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_follows_its_symlink_inside_the_root() {
        let dir = crate::tests::TempDir::new("osrel");
        let root = dir.path();
        fs_err::create_dir_all(root.join("etc")).unwrap();
        fs_err::create_dir_all(root.join("usr/lib")).unwrap();
        fs_err::write(root.join("usr/lib/os-release"), "ID=debian\n").unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", root.join("etc/os-release")).unwrap();
        let host = Host::new(root);
        assert_eq!(os_release(&host).unwrap(), "ID=debian\n");
        fs_err::remove_file(root.join("etc/os-release")).unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
        assert_eq!(os_release(&host).unwrap(), "ID=debian\n");
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("/etc/../usr/lib/os-release"), "/usr/lib/os-release");
        assert_eq!(normalize("/../../x"), "/x");
    }
}
