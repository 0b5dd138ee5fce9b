//! The one folder walk: depth first, never through a symlink (the starting folder included),
//! each entry's `lstat` taken relative to its open folder.
//!
//! Why not `walkdir`: it follows a starting path that is a symlink (`/mnt/etc -> /etc` under
//! `--root` would walk the rescue system's `/etc`), and it takes every `lstat` by full path,
//! which made the kernel's path lookup a tenth of a no-op snapshot. `DirEntry::metadata` on
//! Linux is `statx(dirfd, name, AT_SYMLINK_NOFOLLOW)`: no lookup of the folders above.
//!
//! A folder's entries are read and closed before its subfolders are walked, so a deep tree
//! holds one open folder at a time.
//!
//! The order is git's index order: a folder's entries are sorted by name, a folder's name
//! taken with a `/` after it. So the files and symlinks met come in the byte order of their
//! paths, and a caller that keeps only those has a sorted list without sorting it: a sort of
//! each folder's few names, in cache, instead of one of every path at the end, whose strings
//! lie all over the heap. (A folder itself can come after a sibling whose name extends its
//! own with a byte below `/`: `a-b` before `a`, which is walked as `a/`. A caller that keeps
//! folders checks the order.)

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
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
    entries.sort_unstable_by(walk_order);
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

/// The part of `path` below the folder `top`, without a leading `/` (empty for `top`
/// itself), when it is UTF-8. Called for every path a walk meets: the bytes are compared
/// first, and `Path::strip_prefix`, which compares component by component, only settles
/// what they do not (a `top` spelled with `//` or `/.`).
pub(crate) fn below<'a>(top: &Path, path: &'a Path) -> Option<&'a str> {
    let (top_bytes, p) = (top.as_os_str().as_bytes(), path.as_os_str().as_bytes());
    let t = top_bytes.strip_suffix(b"/").unwrap_or(top_bytes);
    let rel = match p.strip_prefix(t) {
        Some([]) => Some(&[][..]),
        Some([b'/', rest @ ..]) if rest.first() != Some(&b'/') => Some(rest),
        _ => None,
    };
    match rel {
        Some(rel) if top_bytes.starts_with(b"/") && !t.ends_with(b"/.") => std::str::from_utf8(rel).ok(),
        _ => path.strip_prefix(top).ok()?.to_str(),
    }
}

/// Names as git orders them in its index: a folder's name as if a `/` followed it.
fn walk_order(a: &(OsString, io::Result<Metadata>), b: &(OsString, io::Result<Metadata>)) -> Ordering {
    fn key(e: &(OsString, io::Result<Metadata>)) -> impl Iterator<Item = &u8> {
        let slash = e.1.as_ref().is_ok_and(|m| m.is_dir()).then_some(&b'/');
        e.0.as_bytes().iter().chain(slash)
    }
    key(a).cmp(key(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

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

    #[test]
    fn below_is_the_path_under_the_folder() {
        let p = |s: &str| PathBuf::from(s);
        for (top, path, want) in [
            ("/mnt", "/mnt/etc/hosts", Some("etc/hosts")),
            ("/mnt/", "/mnt/etc/hosts", Some("etc/hosts")),
            ("/mnt", "/mnt", Some("")),
            ("/", "/etc/hosts", Some("etc/hosts")),
            ("/", "/", Some("")),
            ("/", "//etc", Some("etc")),
            ("/mnt", "/mnt2/etc", None),
            ("/mnt", "/etc", None),
            ("/mnt//", "/mnt/etc", Some("etc")),
            ("/mnt/.", "/mnt/etc", Some("etc")),
            ("/mnt", "/mnt//etc", Some("etc")),
        ] {
            assert_eq!(below(&p(top), &p(path)), want, "{top} {path}");
            // The same answer as `Path::strip_prefix`, component by component.
            assert_eq!(want, p(path).strip_prefix(p(top)).ok().and_then(|r| r.to_str()), "{top} {path}");
        }
        let odd = PathBuf::from(std::ffi::OsString::from_vec(b"/mnt/\xff".to_vec()));
        assert_eq!(below(&p("/mnt"), &odd), None);
    }

    #[test]
    fn files_come_in_the_byte_order_of_their_paths() {
        let dir = crate::tests::TempDir::new("walk-order");
        let top = dir.path();
        // `a` is a folder, and `a-b`, `a.c`, `a0` sort around `a/` byte by byte.
        for f in ["a/x", "a/b/y", "a-b", "a.c", "a0", "B", "a/b-c/z", "a/b.d", "ä", " sp"] {
            let p = top.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let mut files = Vec::new();
        walk(top, &mut |p, m| {
            let m = m.unwrap();
            if !m.is_dir() {
                files.push(p.strip_prefix(top).unwrap().to_str().unwrap().to_string());
            }
            true
        });
        let mut sorted = files.clone();
        sorted.sort();
        assert_eq!(files, sorted);
        assert_eq!(files.len(), 10);
    }
}
