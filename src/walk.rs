//! The one folder walk: depth first, never through a symlink (the starting folder included),
//! each entry's `lstat` taken relative to its open folder.
//!
//! Why not `walkdir`: it follows a starting path that is a symlink (`/mnt/etc -> /etc` under
//! `--root` would walk the rescue system's `/etc`), and it takes every `lstat` by full path,
//! which made the kernel's path lookup a tenth of a no-op snapshot. `DirEntry::metadata` on
//! Linux is `statx(dirfd, name, AT_SYMLINK_NOFOLLOW)`: no lookup of the folders above.
//!
//! A folder's entries are read and closed before its subfolders are walked, so a deep tree
//! holds one open folder at a time. The order is the file system's; callers that need an
//! order sort.

use std::fs::Metadata;
use std::io;
use std::path::{Path, PathBuf};

/// Calls `visit(path, lstat)` for `top` and everything below it. For a folder, `visit`
/// returning true walks into it; a folder that cannot be listed is then visited again with
/// the error. An entry that cannot be `lstat`ed (removed meanwhile, say) is visited with the
/// error.
pub(crate) fn walk(top: &Path, visit: &mut dyn FnMut(&Path, io::Result<&Metadata>) -> bool) {
    match std::fs::symlink_metadata(top) {
        Ok(meta) => {
            if visit(top, Ok(&meta)) && meta.is_dir() {
                descend(&mut top.to_path_buf(), visit);
            }
        }
        Err(e) => {
            visit(top, Err(e));
        }
    }
}

fn descend(dir: &mut PathBuf, visit: &mut dyn FnMut(&Path, io::Result<&Metadata>) -> bool) {
    let listed = match std::fs::read_dir(&*dir) {
        Ok(rd) => rd,
        Err(e) => {
            visit(dir, Err(e));
            return;
        }
    };
    let mut entries = Vec::new();
    for entry in listed {
        match entry {
            Ok(e) => {
                let meta = e.metadata();
                entries.push((e.file_name(), meta));
            }
            Err(e) => {
                visit(dir, Err(e));
                return;
            }
        }
    }
    for (name, meta) in entries {
        dir.push(&name);
        match meta {
            Ok(meta) => {
                if visit(dir, Ok(&meta)) && meta.is_dir() {
                    descend(dir, visit);
                }
            }
            Err(e) => {
                visit(dir, Err(e));
            }
        }
        dir.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(top: &Path) -> Vec<String> {
        let mut res = Vec::new();
        walk(top, &mut |p, m| {
            let kind = match m {
                Ok(m) if m.is_dir() => "d",
                Ok(m) if m.file_type().is_symlink() => "l",
                Ok(_) => "f",
                Err(_) => "!",
            };
            let rel = p.strip_prefix(top).unwrap().to_str().unwrap().to_string();
            res.push(format!("{kind} {rel}"));
            !rel.ends_with("skipped")
        });
        res.sort();
        res
    }

    #[test]
    fn walks_every_entry_and_never_through_a_symlink() {
        let dir = crate::tests::TempDir::new("walk");
        let (top, outside) = (dir.path().join("top"), dir.path().join("outside"));
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::create_dir_all(top.join("skipped")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(top.join("a/b/f"), "x").unwrap();
        std::fs::write(top.join("skipped/hidden"), "x").unwrap();
        std::fs::write(outside.join("secret"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, top.join("a/link")).unwrap();
        assert_eq!(walked(&top), ["d ", "d a", "d a/b", "d skipped", "f a/b/f", "l a/link"]);
        // The starting path itself a symlink: it is the one entry, and it is not followed.
        let link = dir.path().join("linked-top");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        assert_eq!(walked(&link), ["l "]);
        assert_eq!(walked(&dir.path().join("missing")), ["! "]);
    }
}
