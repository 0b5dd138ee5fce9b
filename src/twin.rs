//! The twin repository: its layout on disk and the git plumbing TwinSync uses on it.
//!
//! Nothing outside this module speaks git. Every git command runs with the user's global and
//! system git config switched off (commits never depend on them), with TwinSync naming the author
//! itself, and with the twin marked safe so that root may work in a twin owned by the user.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::host::{Cmd, Host};

pub(crate) const BASELINE_REF: &str = "refs/twinsync/baseline";
/// Where `git fast-import` leaves its scratch commit while a snapshot is committed; deleted
/// with the move of HEAD.
const IMPORT_REF: &str = "refs/twinsync/import";

/// A git object id (a commit or a tree) in hex.
pub(crate) type Oid = String;

/// A blob's id: 20 bytes, shown as the 40 lowercase hex digits git prints. Kept as bytes
/// because a snapshot holds several per file of the machine (memory at 100,000 files).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub(crate) struct BlobId(pub(crate) [u8; 20]);

impl BlobId {
    /// Exactly 40 lowercase hex digits, as git prints an id; anything else is None.
    pub(crate) fn from_hex(hex: &str) -> Option<BlobId> {
        BlobId::from_hex_bytes(hex.as_bytes())
    }

    fn from_hex_bytes(hex: &[u8]) -> Option<BlobId> {
        // A table and one check at the end: a listing parses 20,000 ids, and a branch per
        // digit was most of its time.
        const VALUE: [u8; 256] = {
            let mut t = [0xff; 256];
            let mut i = 0;
            while i < 10 {
                t[b'0' as usize + i] = i as u8;
                i += 1;
            }
            let mut i = 0;
            while i < 6 {
                t[b'a' as usize + i] = 10 + i as u8;
                i += 1;
            }
            t
        };
        let hex: &[u8; 40] = hex.try_into().ok()?;
        let mut res = [0u8; 20];
        let mut bad = 0;
        for (i, b) in res.iter_mut().enumerate() {
            let (hi, lo) = (VALUE[hex[2 * i] as usize], VALUE[hex[2 * i + 1] as usize]);
            bad |= hi | lo;
            *b = hi << 4 | lo;
        }
        (bad & 0xf0 == 0).then_some(BlobId(res))
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 40];
        for (i, b) in self.0.iter().enumerate() {
            hex[2 * i] = DIGITS[(b >> 4) as usize];
            hex[2 * i + 1] = DIGITS[(b & 15) as usize];
        }
        // Hex digits are ASCII.
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// Tests write ids as text.
#[cfg(test)]
impl From<&str> for BlobId {
    fn from(hex: &str) -> BlobId {
        BlobId::from_hex(hex).expect("a blob id is 40 lowercase hex digits")
    }
}

#[cfg(test)]
impl PartialEq<&str> for BlobId {
    fn eq(&self, other: &&str) -> bool {
        BlobId::from_hex(other) == Some(*self)
    }
}

/// The twin repository.
pub(crate) struct Twin {
    dir: PathBuf,
    author: Identity,
}

/// Who TwinSync commits as: the invoking user at the device.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) name: String,
    pub(crate) email: String,
}

/// What a commit takes at one path of the working tree.
pub(crate) enum Staged {
    File {
        exec: bool,
        bytes: Vec<u8>,
    },
    /// A symlink: its target.
    Link(Vec<u8>),
    Removed,
    /// A folder where an item was: the paths named inside it replace what HEAD has there, and
    /// a folder's own entries are never removed by its name.
    Folder,
}

/// What a tree holds at one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) link: bool,
    pub(crate) oid: BlobId,
}

/// A path as `git fast-import` reads it: as it is, or C-quoted when it starts with a quote or
/// holds a backslash or a control character.
fn import_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.starts_with('"') && !path.bytes().any(|b| b == b'\\' || b < 0x20 || b == 0x7f) {
        return path.into();
    }
    let mut q = String::from("\"");
    for c in path.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => q.push_str(&format!("\\{:03o}", c as u32)),
            c => q.push(c),
        }
    }
    q.push('"');
    q.into()
}

/// The git blob id of some bytes: what `git hash-object` would say, without a process.
pub(crate) fn blob_id(bytes: &[u8]) -> BlobId {
    let mut h = sha1_smol::Sha1::new();
    h.update(format!("blob {}\0", bytes.len()).as_bytes());
    h.update(bytes);
    BlobId(h.digest().bytes())
}

pub(crate) fn is_repo(dir: &Path) -> bool {
    dir.join(".git").exists()
}

impl Twin {
    pub(crate) fn open(dir: &Path, author: Identity) -> Result<Twin> {
        if !is_repo(dir) {
            return Err(Error::failed(format!(
                "{} is not a twin repository (no .git): run `twinsync init {}`",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Twin { dir: dir.to_path_buf(), author })
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates a new twin: mode 0700, `git init`, the generated README and .gitignore, and a
    /// first commit holding them.
    pub(crate) fn create(host: &Host, dir: &Path, author: Identity, device: &str) -> Result<Twin> {
        fs_err::create_dir_all(dir)?;
        fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let twin = Twin { dir: dir.to_path_buf(), author };
        host.run(&twin.git("create the twin repository").args(["init", "--quiet", "--initial-branch=main"]))?;
        twin.protect()?;
        fs_err::write(dir.join("README.md"), readme(device))?;
        fs_err::write(dir.join(".gitignore"), GITIGNORE)?;
        let paths = vec!["README.md".to_string(), ".gitignore".to_string()];
        twin.commit_paths(host, &paths, &format!("twinsync: new twin of {device}"))?;
        Ok(twin)
    }

    /// Settings an adopted clone needs too: the twin stays private, and no attribute in the
    /// captured files (an /etc/.gitattributes) may change what git stores.
    pub(crate) fn protect(&self) -> Result<()> {
        fs_err::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700))?;
        let info = self.dir.join(".git/info");
        fs_err::create_dir_all(&info)?;
        fs_err::write(
            info.join("attributes"),
            "* -text -filter -ident -working-tree-encoding -export-subst\n",
        )?;
        Ok(())
    }

    /// A git command on this twin.
    pub(crate) fn git(&self, summary: &str) -> Cmd {
        let safe = self.dir.to_string_lossy().into_owned();
        Cmd::new("git", summary)
            .arg("-C")
            .arg(&self.dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_COUNT", "4")
            .env("GIT_CONFIG_KEY_0", "safe.directory")
            .env("GIT_CONFIG_VALUE_0", safe)
            .env("GIT_CONFIG_KEY_1", "core.autocrlf")
            .env("GIT_CONFIG_VALUE_1", "false")
            .env("GIT_CONFIG_KEY_2", "core.symlinks")
            .env("GIT_CONFIG_VALUE_2", "true")
            .env("GIT_CONFIG_KEY_3", "core.quotePath")
            .env("GIT_CONFIG_VALUE_3", "false")
            .env("GIT_AUTHOR_NAME", &self.author.name)
            .env("GIT_AUTHOR_EMAIL", &self.author.email)
            .env("GIT_COMMITTER_NAME", &self.author.name)
            .env("GIT_COMMITTER_EMAIL", &self.author.email)
            .env("GIT_TERMINAL_PROMPT", "0")
            // A person's GIT_DIR or GIT_INDEX_FILE must not redirect TwinSync's git commands.
            .env_remove("GIT_DIR")
            .env_remove("GIT_INDEX_FILE")
            .env_remove("GIT_WORK_TREE")
    }

    /// The commit a ref points at, if it exists.
    pub(crate) fn resolve(&self, host: &Host, rev: &str) -> Result<Option<Oid>> {
        let out = host.run(
            &self
                .git("read a git ref")
                .args(["rev-parse", "--quiet", "--verify", "--end-of-options"])
                .arg(format!("{rev}^{{commit}}"))
                .ok_codes(&[0, 1]),
        )?;
        let text = out.stdout_text();
        Ok(if out.code == 0 { Some(text.trim().to_string()) } else { None })
    }

    pub(crate) fn head(&self, host: &Host) -> Result<Option<Oid>> {
        self.resolve(host, "HEAD")
    }

    pub(crate) fn baseline(&self, host: &Host) -> Result<Option<Oid>> {
        self.resolve(host, BASELINE_REF)
    }

    /// HEAD and the baseline, each None when it does not exist, from one git process (a
    /// snapshot and a plan need both, and each process start is time on a no-op run).
    pub(crate) fn head_and_baseline(&self, host: &Host) -> Result<(Option<Oid>, Option<Oid>)> {
        let input = format!("HEAD^{{commit}}\n{BASELINE_REF}^{{commit}}\n");
        let out = host.run(
            &self
                .git("read HEAD and the baseline")
                .args(["cat-file", "--batch-check=%(objectname)"])
                .stdin(input.into_bytes()),
        )?;
        Ok(parse_two_ids(&out.stdout_text()))
    }

    /// Every file and symlink of a commit's tree, under the given folders.
    pub(crate) fn ls_tree(&self, host: &Host, rev: &str, under: &[&str]) -> Result<BTreeMap<String, Entry>> {
        Ok(self.ls_tree_list(host, rev, under)?.into_iter().collect())
    }

    /// `ls_tree` as a list sorted by path, for a caller that walks it once.
    pub(crate) fn ls_tree_list(
        &self,
        host: &Host,
        rev: &str,
        under: &[&str],
    ) -> Result<Vec<(String, Entry)>> {
        let out = host.run(&self.ls_tree_cmd(rev, under))?;
        Ok(parse_ls_tree(&out.stdout))
    }

    /// `ls_tree_list` of a commit named by its full id, kept in the file `cache` for the next
    /// call with the same commit and folders. A commit's tree never changes, so git lists it
    /// once: a `plan` or `status` after the first reads the listing of the baseline here
    /// instead of from a second git process. The file holds git's own output after a header
    /// naming the commit, the folders and the output's length; a file that says anything else
    /// is ignored, and one that cannot be written only costs the listing next time.
    pub(crate) fn ls_tree_list_cached(
        &self,
        host: &Host,
        cache: &Path,
        commit: &str,
        under: &[&str],
    ) -> Result<Vec<(String, Entry)>> {
        // Only a full id names one tree for good; a ref or a short id is listed every time.
        let full = BlobId::from_hex(commit).is_some();
        let header = |len: usize| format!("{LISTING_FORMAT} {commit} {len} {}\n", under.join("\0"));
        if full {
            if let Some(body) = read_listing(cache, header) {
                return Ok(parse_ls_tree(&body));
            }
        }
        let out = host.run(&self.ls_tree_cmd(commit, under))?;
        if full {
            let _ = write_listing(cache, &header(out.stdout.len()), &out.stdout);
        }
        Ok(parse_ls_tree(&out.stdout))
    }

    fn ls_tree_cmd(&self, rev: &str, under: &[&str]) -> Cmd {
        self.git("list the files of a snapshot")
            .args(["ls-tree", "-r", "-z", "--full-tree", rev, "--"])
            .args(under)
    }

    /// The contents of several files of a commit, by path; missing paths are left out.
    pub(crate) fn read_files(
        &self,
        host: &Host,
        rev: &str,
        paths: &[&str],
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut input = String::new();
        for p in paths {
            input.push_str(&format!("{rev}:{p}\n"));
        }
        let out = host.run(
            &self.git("read files of a snapshot").args(["cat-file", "--batch"]).stdin(input.into_bytes()),
        )?;
        Ok(parse_cat_file_batch(&out.stdout, paths))
    }

    /// Writes blobs into the object database (for a tree TwinSync builds itself).
    pub(crate) fn write_blobs(&self, host: &Host, blobs: &[&[u8]]) -> Result<()> {
        if blobs.is_empty() {
            return Ok(());
        }
        let tmp = self.dir.join(".git/twinsync-blobs");
        let _ = fs_err::remove_dir_all(&tmp);
        fs_err::create_dir_all(&tmp)?;
        let mut list = String::new();
        for (i, b) in blobs.iter().enumerate() {
            let p = tmp.join(i.to_string());
            fs_err::write(&p, b)?;
            list.push_str(&p.to_string_lossy());
            list.push('\n');
        }
        let res = host.run(
            &self
                .git("store file contents in the twin")
                .args(["hash-object", "-w", "--no-filters", "--stdin-paths"])
                .stdin(list.into_bytes()),
        );
        let _ = fs_err::remove_dir_all(&tmp);
        res.map(|_| ())
    }

    /// Commits exactly `paths` as they are in the working tree (added, changed or deleted),
    /// on top of HEAD, leaving everything else — a person's staged or unstaged edits — alone.
    /// Returns the new commit.
    pub(crate) fn commit_paths(&self, host: &Host, paths: &[String], message: &str) -> Result<Oid> {
        self.commit_with(host, paths, message, |path| self.staged(path))
    }

    /// `commit_paths` where `entry` gives each path's content, in order, while git stores
    /// the ones before: a snapshot writes each file into the working tree there and hands
    /// over the bytes it has, so writing the twin and git's compression run side by side and
    /// no file is read back. What `entry` gives must be what the working tree then holds.
    pub(crate) fn commit_with(
        &self,
        host: &Host,
        paths: &[String],
        message: &str,
        entry: impl FnMut(&str) -> Result<Staged> + Send,
    ) -> Result<Oid> {
        let head = self.head(host)?;
        let scratch = self.import(host, head.as_deref(), paths, entry)?;
        let commit = self.commit_tree(host, &format!("{scratch}^{{tree}}"), head.as_deref(), message)?;
        // HEAD moves only if it is still where it was read; the scratch ref goes in the same
        // transaction.
        let old = head.as_deref().map(|h| format!(" {h}")).unwrap_or_default();
        let moves = format!("update HEAD {commit}{old}\ndelete {IMPORT_REF}\n");
        host.run(
            &self
                .git("move the twin's branch to the snapshot")
                .args(["update-ref", "-m", message, "--stdin"])
                .stdin(moves.into_bytes()),
        )?;
        // The real index learns the same paths, so `git status` does not show them as changed.
        self.update_index_paths(host, paths)?;
        Ok(commit)
    }

    /// What the working tree holds at `path`, as a commit takes it.
    pub(crate) fn staged(&self, path: &str) -> Result<Staged> {
        let full = self.dir.join(path);
        let meta = match fs_err::symlink_metadata(&full) {
            Ok(m) => m,
            // Not there, or a file stands where a folder on the way would be.
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) =>
            {
                return Ok(Staged::Removed);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(if meta.is_dir() {
            Staged::Folder
        } else if meta.file_type().is_symlink() {
            Staged::Link(fs_err::read_link(&full)?.into_os_string().into_encoded_bytes())
        } else if meta.is_file() {
            Staged::File { exec: meta.permissions().mode() & 0o111 != 0, bytes: fs_err::read(&full)? }
        } else {
            return Err(Error::failed(format!(
                "{} in the twin is not a file, a symlink or a folder; move it away and run the snapshot again",
                full.display()
            )));
        })
    }

    /// Writes the entries of `paths` into the object database with one `git fast-import` and
    /// returns a scratch commit: HEAD's tree (or none) with those paths replaced or removed.
    /// The contents are streamed one at a time into one pack file, trees included: git's own
    /// `update-index` would create a file per new object, or, with bulk check-in, probe the
    /// object database once per object, and read every file a second time to stage it.
    /// Contents go in as they are, without git's filters, as `write_blobs` stores them and
    /// `blob_id` hashes them. Level-1 compression and no deltas (`--depth=0`: fast-import
    /// would try each blob against the one before it, unrelated files here, for a third of
    /// its time); `git gc` repacks later with a real delta search. Only the tree of the
    /// scratch commit is used: `commit_tree` writes the real commit, with git's identity and
    /// settings.
    fn import(
        &self,
        host: &Host,
        head: Option<&str>,
        paths: &[String],
        mut entry: impl FnMut(&str) -> Result<Staged> + Send,
    ) -> Result<Oid> {
        let cmd = self.git("store the snapshot's files in the twin").args([
            "-c",
            "pack.compression=1",
            "fast-import",
            "--depth=0",
            "--quiet",
            "--force",
            "--done",
        ]);
        let out = host.run_fed(&cmd, |w| {
            let io = |e| Error::io("stream the snapshot's files into git", e);
            let mut entries = Vec::new();
            for (i, path) in paths.iter().enumerate() {
                let (mode, bytes) = match entry(path)? {
                    Staged::File { exec: false, bytes } => ("100644", bytes),
                    Staged::File { exec: true, bytes } => ("100755", bytes),
                    Staged::Link(target) => ("120000", target),
                    Staged::Removed => {
                        entries.push(format!("D {}\n", import_path(path)));
                        continue;
                    }
                    Staged::Folder => continue,
                };
                let mark = i + 1;
                write!(w, "blob\nmark :{mark}\ndata {}\n", bytes.len()).map_err(io)?;
                w.write_all(&bytes).map_err(io)?;
                w.write_all(b"\n").map_err(io)?;
                entries.push(format!("M {mode} :{mark} {}\n", import_path(path)));
            }
            let commit = paths.len() + 1;
            write!(w, "reset {IMPORT_REF}\ncommit {IMPORT_REF}\nmark :{commit}\n").map_err(io)?;
            w.write_all(b"committer twinsync <twinsync> 0 +0000\ndata 0\n").map_err(io)?;
            if let Some(h) = head {
                writeln!(w, "from {h}").map_err(io)?;
            }
            for e in &entries {
                w.write_all(e.as_bytes()).map_err(io)?;
            }
            write!(w, "\nget-mark :{commit}\ndone\n").map_err(io)
        })?;
        let scratch = out.stdout_text().trim().to_string();
        if scratch.len() != 40 || !scratch.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::failed(format!(
                "git fast-import answered {scratch:?} instead of a commit id; the twin was not changed"
            )));
        }
        Ok(scratch)
    }

    /// Stages `paths` from the working tree into the twin's own index in one `update-index`.
    /// Their objects already exist (`import`), so files are only hashed, not written.
    /// `--replace`: a file that now stands where a folder was (or the reverse) replaces the
    /// old entries, which come later in path order.
    fn update_index_paths(&self, host: &Host, paths: &[String]) -> Result<()> {
        let mut input = Vec::new();
        for p in paths {
            input.extend_from_slice(p.as_bytes());
            input.push(0);
        }
        host.run(
            &self
                .git("record the snapshot's files")
                .args([
                    "update-index",
                    "--add",
                    "--remove",
                    "--replace",
                    "--ignore-skip-worktree-entries",
                    "-z",
                    "--stdin",
                ])
                .stdin(input),
        )?;
        Ok(())
    }

    /// Builds a tree from commit `base` with some paths replaced (`Some`) or removed (`None`).
    /// The blobs must already be in the object database.
    pub(crate) fn tree_with(
        &self,
        host: &Host,
        base: &str,
        changes: &[(String, Option<Entry>)],
    ) -> Result<Oid> {
        let index = self.dir.join(".git/twinsync-index-baseline");
        let _ = fs_err::remove_file(&index);
        let with_index = |cmd: Cmd| cmd.env("GIT_INDEX_FILE", &index);
        let res = (|| {
            host.run(&with_index(self.git("prepare the baseline").args(["read-tree", base])))?;
            let mut input = Vec::new();
            for (path, entry) in changes {
                let line = match entry {
                    Some(e) => format!("{} {}\t{}", if e.link { "120000" } else { "100644" }, e.oid, path),
                    None => format!("0 {}\t{}", "0".repeat(40), path),
                };
                input.extend_from_slice(line.as_bytes());
                input.push(0);
            }
            host.run(&with_index(
                self.git("record the baseline").args(["update-index", "-z", "--index-info"]).stdin(input),
            ))?;
            let tree = host.run(&with_index(self.git("write the baseline tree").arg("write-tree")))?;
            Ok(tree.stdout_text().trim().to_string())
        })();
        let _ = fs_err::remove_file(&index);
        res
    }

    pub(crate) fn tree_of(&self, host: &Host, commit: &str) -> Result<Oid> {
        let out = host.run(&self.git("read a snapshot's tree").args([
            "rev-parse",
            "--verify",
            &format!("{commit}^{{tree}}"),
        ]))?;
        Ok(out.stdout_text().trim().to_string())
    }

    pub(crate) fn commit_tree(
        &self,
        host: &Host,
        tree: &str,
        parent: Option<&str>,
        message: &str,
    ) -> Result<Oid> {
        let mut cmd = self.git("write the snapshot commit").args(["commit-tree", tree]);
        if let Some(p) = parent {
            cmd = cmd.args(["-p", p]);
        }
        let out = host.run(&cmd.stdin(message.as_bytes().to_vec()))?;
        Ok(out.stdout_text().trim().to_string())
    }

    pub(crate) fn set_ref(&self, host: &Host, name: &str, commit: &str, message: &str) -> Result<()> {
        host.run(&self.git("move a twinsync ref").args(["update-ref", "-m", message, name, commit]))?;
        Ok(())
    }
}

impl Twin {
    /// A unified diff of two files on disk (`git diff --no-index`), the old side labelled
    /// `live:` and the new one `twin:`. `/dev/null` stands for a missing side.
    pub(crate) fn diff_files(&self, host: &Host, old: &Path, new: &Path, color: bool) -> Result<Vec<u8>> {
        let out = host.run(
            &self
                .git("compare a file of the twin with the machine")
                .args(["diff", "--no-index", "--src-prefix=live:", "--dst-prefix=twin:"])
                .arg(if color { "--color=always" } else { "--color=never" })
                .arg("--")
                .arg(old)
                .arg(new)
                .ok_codes(&[0, 1]),
        )?;
        Ok(out.stdout)
    }
}

/// One commit of the twin's history.
pub(crate) struct LogEntry {
    pub(crate) oid: Oid,
    pub(crate) short: String,
    /// `YYYY-MM-DD HH:MM`, in local time.
    pub(crate) date: String,
    pub(crate) subject: String,
}

/// What git needs to log in to an https remote: the token reaches git only through the
/// environment of the child (`GIT_ASKPASS` answered by twinsync itself), never an argument,
/// `.git/config` or a URL.
pub(crate) struct Auth {
    pub(crate) user: Option<String>,
    pub(crate) token: String,
}

/// The environment variables `main` answers git's askpass prompt from.
pub(crate) const ASKPASS_TOKEN_VAR: &str = "TWINSYNC_ASKPASS_TOKEN";
pub(crate) const ASKPASS_USER_VAR: &str = "TWINSYNC_ASKPASS_USER";

/// The remote and the time machine: history, restore, remote, fetch, push, fast-forward.
impl Twin {
    /// Commits reachable from `revs` (git rev-list syntax, e.g. `HEAD` or `A..B`), newest first.
    pub(crate) fn log(&self, host: &Host, revs: &[&str]) -> Result<Vec<LogEntry>> {
        let out = host.run(
            &self
                .git("list the snapshots")
                .args(["log", "--format=%H%x1f%h%x1f%ad%x1f%s", "--date=format-local:%Y-%m-%d %H:%M"])
                .args(revs)
                .arg("--"),
        )?;
        Ok(out.stdout_text().lines().filter_map(parse_log_line).collect())
    }

    /// What one commit changed: its header, the stat, then the patch.
    pub(crate) fn show(&self, host: &Host, commit: &str) -> Result<String> {
        let out = host.run(&self.git("show a snapshot").args([
            "show",
            "--no-color",
            "--stat",
            "--patch",
            "--format=commit %H%nDate:   %ad%n%n    %s%n",
            "--date=format-local:%Y-%m-%d %H:%M",
            commit,
            "--",
        ]))?;
        Ok(out.stdout_text())
    }

    /// `git diff --stat FROM TO`: what going from one commit to the other changes.
    pub(crate) fn diff_stat(&self, host: &Host, from: &str, to: &str) -> Result<String> {
        let out = host.run(&self.git("compare two snapshots").args([
            "diff",
            "--no-color",
            "--stat",
            from,
            to,
            "--",
        ]))?;
        Ok(out.stdout_text())
    }

    /// The twin's uncommitted changes (staged, unstaged, untracked), as `git status --short`.
    pub(crate) fn uncommitted(&self, host: &Host) -> Result<Vec<String>> {
        let out = host.run(&self.git("read the twin's uncommitted changes").args([
            "status",
            "--porcelain=v1",
            "--untracked-files=all",
        ]))?;
        Ok(out.stdout_text().lines().map(str::to_string).collect())
    }

    /// A new commit on HEAD whose tree is `rev`'s; the index and working tree follow. The
    /// caller checked that nothing is uncommitted; `read-tree -m` refuses anyway rather than
    /// overwrite a change. Returns the new commit.
    pub(crate) fn restore(&self, host: &Host, rev: &str, message: &str) -> Result<Oid> {
        let head = self.head(host)?.ok_or_else(|| Error::failed("the twin has no commit yet"))?;
        let tree = self.tree_of(host, rev)?;
        let commit = self.commit_tree(host, &tree, Some(&head), message)?;
        host.run(&self.git("update the twin's files to the restored snapshot").args([
            "read-tree",
            "-u",
            "-m",
            &head,
            &commit,
        ]))?;
        host.run(&self.git("move the twin's branch to the restored snapshot").args([
            "update-ref",
            "-m",
            message,
            "HEAD",
            &commit,
            &head,
        ]))?;
        Ok(commit)
    }

    /// The URL of `origin`, if set.
    pub(crate) fn remote_url(&self, host: &Host) -> Result<Option<String>> {
        let out = host.run(
            &self
                .git("read the twin's remote")
                .args(["config", "--get", "remote.origin.url"])
                .ok_codes(&[0, 1]),
        )?;
        let url = out.stdout_text().trim().to_string();
        Ok(Some(url).filter(|u| out.code == 0 && !u.is_empty()))
    }

    /// Sets `origin` (adds it the first time). The URL was checked by the caller.
    pub(crate) fn set_remote_url(&self, host: &Host, url: &str) -> Result<()> {
        let verb = if self.remote_url(host)?.is_some() { "set-url" } else { "add" };
        host.run(&self.git("set the twin's remote").args(["remote", verb, "--", "origin", url]))?;
        Ok(())
    }

    /// The branch HEAD is on (`main` for a twin TwinSync made).
    pub(crate) fn branch(&self, host: &Host) -> Result<String> {
        let out = host.run(
            &self
                .git("read the twin's branch")
                .args(["symbolic-ref", "--quiet", "--short", "HEAD"])
                .ok_codes(&[0, 1]),
        )?;
        if out.code != 0 {
            return Err(Error::bad_input(
                "the twin is not on a branch (detached HEAD); check out its branch with `git -C TWIN switch main`",
            ));
        }
        Ok(out.stdout_text().trim().to_string())
    }

    /// The ref HEAD's branch follows: its upstream, else `refs/remotes/origin/BRANCH`.
    pub(crate) fn upstream(&self, host: &Host) -> Result<String> {
        let out = host.run(
            &self
                .git("read the twin's upstream")
                .args(["rev-parse", "--quiet", "--symbolic-full-name", "@{upstream}"])
                .ok_codes(&[0, 1, 128]),
        )?;
        let name = out.stdout_text().trim().to_string();
        if out.code == 0 && name.starts_with("refs/") {
            return Ok(name);
        }
        Ok(format!("refs/remotes/origin/{}", self.branch(host)?))
    }

    /// Every blob the commits of HEAD that no `origin` ref holds add or change:
    /// (commit, path, blob), oldest commit first. A merge is compared with each parent.
    pub(crate) fn outgoing_blobs(&self, host: &Host) -> Result<Vec<(Oid, String, Oid)>> {
        let commits = host.run(&self.git("list the commits to push").args([
            "rev-list",
            "--reverse",
            "HEAD",
            "--not",
            "--remotes=origin",
        ]))?;
        let commits = commits.stdout_text();
        if commits.trim().is_empty() {
            return Ok(Vec::new());
        }
        let out = host.run(
            &self
                .git("list what the commits to push change")
                .args(["diff-tree", "--stdin", "-r", "-m", "--root", "-z", "--no-renames"])
                .stdin(commits.into_bytes()),
        )?;
        Ok(parse_diff_tree(&out.stdout))
    }

    /// The contents of blobs by id; missing ones are left out.
    pub(crate) fn read_blobs(&self, host: &Host, oids: &[&str]) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut input = String::new();
        for oid in oids {
            input.push_str(oid);
            input.push('\n');
        }
        let out = host.run(
            &self.git("read the commits to push").args(["cat-file", "--batch"]).stdin(input.into_bytes()),
        )?;
        Ok(parse_cat_file_batch(&out.stdout, oids))
    }

    /// A git command that talks to the remote. With a token, git asks the running twinsync
    /// binary for it (GIT_ASKPASS); the token travels in this child's environment only.
    fn remote_git(&self, summary: &str, auth: Option<&Auth>) -> Result<Cmd> {
        // Only transports we know; `ext::` and friends could run commands.
        let mut cmd = self
            .git(summary)
            .env("GIT_ALLOW_PROTOCOL", "file:http:https:ssh")
            .env_remove(ASKPASS_TOKEN_VAR)
            .env_remove(ASKPASS_USER_VAR);
        if let Some(auth) = auth {
            let exe = std::env::current_exe()
                .map_err(|e| Error::io("find the twinsync program to answer git's password prompt", e))?;
            cmd = cmd
                .env("GIT_ASKPASS", exe)
                .env("GIT_TERMINAL_PROMPT", "0")
                .env(ASKPASS_TOKEN_VAR, &auth.token);
            if let Some(user) = &auth.user {
                cmd = cmd.env(ASKPASS_USER_VAR, user);
            }
        }
        Ok(cmd)
    }

    pub(crate) fn fetch(&self, host: &Host, auth: Option<&Auth>) -> Result<()> {
        host.run(
            &self.remote_git("fetch from the twin's remote", auth)?.args(["fetch", "--quiet", "origin"]),
        )?;
        Ok(())
    }

    /// Pushes HEAD's branch to `origin` and makes it the branch's upstream.
    pub(crate) fn push(&self, host: &Host, auth: Option<&Auth>) -> Result<()> {
        host.run(&self.remote_git("push the twin", auth)?.args([
            "push",
            "--quiet",
            "--set-upstream",
            "origin",
            "HEAD",
        ]))?;
        Ok(())
    }

    /// Fast-forwards HEAD, the index and the working tree to `target`; git refuses anything else.
    pub(crate) fn fast_forward(&self, host: &Host, target: &str) -> Result<()> {
        host.run(&self.git("fast-forward the twin").args(["merge", "--ff-only", "--quiet", target]))?;
        Ok(())
    }
}

/// Two lines of `cat-file --batch-check=%(objectname)`: an id, or `NAME missing`.
fn parse_two_ids(out: &str) -> (Option<Oid>, Option<Oid>) {
    let mut ids = out.lines().map(|l| {
        let l = l.trim();
        (l.len() == 40 && l.bytes().all(|b| b.is_ascii_hexdigit())).then(|| l.to_string())
    });
    (ids.next().flatten(), ids.next().flatten())
}

fn parse_log_line(line: &str) -> Option<LogEntry> {
    let mut it = line.splitn(4, '\x1f');
    Some(LogEntry {
        oid: it.next()?.to_string(),
        short: it.next()?.to_string(),
        date: it.next()?.to_string(),
        subject: it.next()?.to_string(),
    })
}

/// `diff-tree --stdin -r -z` output: a commit id record, then `:MODES OIDS STATUS` and path
/// records. Deletions and submodules carry no content.
fn parse_diff_tree(out: &[u8]) -> Vec<(Oid, String, Oid)> {
    let mut res = Vec::new();
    let mut commit = String::new();
    let mut records = out.split(|&b| b == 0).map(|r| String::from_utf8_lossy(r).into_owned());
    while let Some(rec) = records.next() {
        let Some(meta) = rec.strip_prefix(':') else {
            if let Some(id) = rec.split_whitespace().next() {
                commit = id.to_string();
            }
            continue;
        };
        let Some(path) = records.next() else { break };
        let f: Vec<&str> = meta.split(' ').collect();
        let [_, new_mode, _, new_oid, status] = f.as_slice() else { continue };
        if status.starts_with('D') || *new_mode == "160000" {
            continue;
        }
        res.push((commit.clone(), path, new_oid.to_string()));
    }
    res
}

/// The first line of a listing cache file starts with this.
const LISTING_FORMAT: &str = "twinsync-listing 1";

/// The listing a cache file holds, when its header is the one `header(length of the rest)`
/// gives.
fn read_listing(cache: &Path, header: impl Fn(usize) -> String) -> Option<Vec<u8>> {
    let mut bytes = std::fs::read(cache).ok()?;
    let nl = bytes.iter().position(|&b| b == b'\n')?;
    let body_len = bytes.len() - nl - 1;
    if bytes[..=nl] != *header(body_len).as_bytes() {
        return None;
    }
    bytes.drain(..=nl);
    Some(bytes)
}

/// Writes a listing cache file whole or not at all (`statcache::write_whole`).
fn write_listing(cache: &Path, header: &str, body: &[u8]) -> Result<()> {
    if let Some(dir) = cache.parent() {
        fs_err::create_dir_all(dir)?;
    }
    crate::statcache::write_whole(cache, |out| {
        out.write_all(header.as_bytes())?;
        out.write_all(body)?;
        Ok(())
    })
}

/// The listing sorted by path (git lists in that order already; it is checked, not assumed).
fn parse_ls_tree(out: &[u8]) -> Vec<(String, Entry)> {
    let mut res = Vec::with_capacity(out.len() / 100);
    let mut rest = out;
    while !rest.is_empty() {
        // `CStr` finds the NUL a word at a time; the records are 100 bytes each, 20,000 of
        // them in a listing of the machine.
        let rec = match std::ffi::CStr::from_bytes_until_nul(rest) {
            Ok(c) => c.to_bytes(),
            Err(_) => rest,
        };
        rest = rest.get(rec.len() + 1..).unwrap_or_default();
        // `<mode> <type> <id>\t<path>`
        let Some(tab) = rec.iter().position(|&b| b == b'\t') else { continue };
        let (meta, path) = (&rec[..tab], &rec[tab + 1..]);
        let mut it = meta.split(|&b| b == b' ');
        let (Some(mode), Some(kind), Some(oid)) = (it.next(), it.next(), it.next()) else { continue };
        // A SHA-256 twin's longer ids are not read (such twins are not supported).
        let Some(oid) = BlobId::from_hex_bytes(oid).filter(|_| kind == b"blob") else { continue };
        let Ok(path) = String::from_utf8(path.to_vec()) else { continue };
        res.push((path, Entry { link: mode == b"120000", oid }));
    }
    if !res.windows(2).all(|w| w[0].0 < w[1].0) {
        res.sort_by(|a, b| a.0.cmp(&b.0));
        res.dedup_by(|a, b| a.0 == b.0);
    }
    res
}

fn parse_cat_file_batch(out: &[u8], paths: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut res = BTreeMap::new();
    let mut rest = out;
    for path in paths {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else { break };
        let header = String::from_utf8_lossy(&rest[..nl]).into_owned();
        rest = &rest[nl + 1..];
        if header.ends_with(" missing") {
            continue;
        }
        let size: usize = header.rsplit(' ').next().and_then(|s| s.parse().ok()).unwrap_or(0);
        if rest.len() < size {
            break;
        }
        res.insert(path.to_string(), rest[..size].to_vec());
        rest = &rest[size..];
        if rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
    }
    res
}

const GITIGNORE: &str =
    "# Plans are local to this machine and this moment: they are not shared.\nplans/plan-*.txt\n";

fn readme(device: &str) -> String {
    format!(
        "# Twin of `{device}`

This repository is a **twin** of the Linux machine `{device}`, kept by
[TwinSync](https://github.com/). Every commit is a snapshot of the machine, or a change a person
proposes for it. Secrets never enter it: files that look secret are left out and listed by path
in `system/files/excluded.txt`.

## Layout

| path | what it holds |
|---|---|
| `filesystem/<absolute path>` | the machine's config files (`/etc`, `~/.config`), symlinks as symlinks |
| `system/files/metadata.txt` | `TYPE MODE OWNER GROUP PATH` of every captured file, folder and symlink |
| `system/files/excluded.txt` | `REASON PATH` of every file left out (secret, private, binary, too large, …) |
| `system/packages/dpkg.txt` | installed packages, `NAME<TAB>VERSION`; a line of just `NAME` means any version |
| `system/packages/apt-manual.txt` | packages installed on purpose (`apt-mark showmanual`) |
| `system/services/desired-state.txt` | `UNIT ENABLED RUNNING`, e.g. `cron.service enabled active` |
| `system/services/unit-files.txt`, `active-units.txt` | systemd's own listings, for reading |
| `system/startup/user-crontab.txt` | the user's crontab |
| `system/logs/journal-tail.txt` | the last journal lines, secrets redacted, for reading |
| `system/uname.txt`, `system/os-release`, `system/hostname` | what the machine is |
| `system/notes.txt` | what could not be collected, and why |

## Proposing a change

Edit the files above and commit: change a config file under `filesystem/`, its mode or owner in
`metadata.txt`, add or drop a line in `dpkg.txt`, change a word in `desired-state.txt`, edit the
crontab. Nothing happens to the machine until its owner runs `twinsync plan`, reads the plan
and says yes to `twinsync apply`. A snapshot never undoes a change waiting here.
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::TempDir;

    fn new_twin(tmp: &TempDir) -> (Host, Twin) {
        let host = Host::new(Path::new("/"));
        let who = Identity { name: "ana".into(), email: "ana@test".into() };
        let twin = Twin::create(&host, &tmp.path().join("twin"), who, "test").unwrap();
        (host, twin)
    }

    /// `git ls-tree -r -z` of HEAD as "mode path", the paths as they are.
    fn head_listing(host: &Host, twin: &Twin) -> Vec<String> {
        let out = host.run(&twin.git("list").args(["ls-tree", "-r", "-z", "HEAD"])).unwrap();
        let mode_path = |e: &str| {
            let (head, path) = e.split_once('\t').unwrap();
            format!("{} {path}", &head[..6])
        };
        out.stdout_text().split_terminator('\0').map(mode_path).collect()
    }

    #[test]
    fn a_commit_is_listed_by_git_once_then_read_from_the_cache() {
        let tmp = TempDir::new("listing-cache");
        let (host, twin) = new_twin(&tmp);
        fs_err::create_dir_all(twin.dir().join("filesystem/etc")).unwrap();
        fs_err::write(twin.dir().join("filesystem/etc/hosts"), "127.0.0.1 localhost\n").unwrap();
        let first = twin.commit_paths(&host, &["filesystem/etc/hosts".to_string()], "first").unwrap();
        let cache = tmp.path().join("state/listing-cache");
        let under = ["filesystem"];
        let listed = twin.ls_tree_list(&host, &first, &under).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(twin.ls_tree_list_cached(&host, &cache, &first, &under).unwrap(), listed);
        assert!(fs_err::read(&cache).unwrap().starts_with(format!("{LISTING_FORMAT} {first} ").as_bytes()));

        // What the cache holds is what the next call gets: git is not asked again.
        let other = format!("100644 blob {}\tfilesystem/etc/cached\0", "e".repeat(40));
        let header =
            |commit: &str, len: usize, under: &str| format!("{LISTING_FORMAT} {commit} {len} {under}\n");
        fs_err::write(&cache, format!("{}{other}", header(&first, other.len(), "filesystem"))).unwrap();
        let got = twin.ls_tree_list_cached(&host, &cache, &first, &under).unwrap();
        assert_eq!(got.iter().map(|e| e.0.as_str()).collect::<Vec<_>>(), ["filesystem/etc/cached"]);

        // A file cut short, for another commit or other folders, or not a cache at all, is not
        // read: git lists the commit, and its listing replaces the file.
        for bad in [
            format!("{}{}", header(&first, other.len() + 1, "filesystem"), other),
            format!("{}{other}", header(&"0".repeat(40), other.len(), "filesystem")),
            format!("{}{other}", header(&first, other.len(), "system")),
            format!("{}{other}", header(&first, other.len(), "filesystem\0system")),
            other.clone(),
            String::new(),
        ] {
            fs_err::write(&cache, &bad).unwrap();
            assert_eq!(twin.ls_tree_list_cached(&host, &cache, &first, &under).unwrap(), listed, "{bad:?}");
            assert_ne!(fs_err::read_to_string(&cache).unwrap(), bad);
        }

        // A name that can move (a ref, a short id) is listed every time and never cached.
        fs_err::remove_file(&cache).unwrap();
        assert_eq!(twin.ls_tree_list_cached(&host, &cache, "HEAD", &under).unwrap(), listed);
        assert_eq!(twin.ls_tree_list_cached(&host, &cache, &first[..12], &under).unwrap(), listed);
        assert!(!cache.exists());
        // A cache that cannot be written costs nothing but time.
        let blocked = tmp.path().join("state/file/listing-cache");
        fs_err::write(tmp.path().join("state/file"), "a file where a folder should be").unwrap();
        assert_eq!(twin.ls_tree_list_cached(&host, &blocked, &first, &under).unwrap(), listed);
    }

    #[test]
    fn commit_paths_records_exactly_the_named_paths_as_the_working_tree_has_them() {
        let tmp = TempDir::new("commit-paths");
        let (host, twin) = new_twin(&tmp);
        let dir = twin.dir().to_path_buf();
        let odd = ["\"lead", "back\\slash", "new\nline", "tab\there", "sp ace", "ünï"];
        fs_err::create_dir_all(dir.join("f")).unwrap();
        for name in odd {
            fs_err::write(dir.join("f").join(name), name).unwrap();
        }
        fs_err::write(dir.join("f/run.sh"), "#!/bin/sh\n").unwrap();
        fs_err::set_permissions(dir.join("f/run.sh"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("../README.md", dir.join("f/link")).unwrap();
        // Not named: stays out of the commit.
        fs_err::write(dir.join("f/unnamed"), "x").unwrap();
        let mut paths: Vec<String> = odd.iter().map(|n| format!("f/{n}")).collect();
        paths.extend(["f/run.sh".to_string(), "f/link".to_string()]);
        let first = twin.commit_paths(&host, &paths, "first").unwrap();
        assert_eq!(twin.head(&host).unwrap(), Some(first.clone()));
        let listing = head_listing(&host, &twin);
        for want in [
            "100644 f/\"lead",
            "100644 f/back\\slash",
            "100644 f/new\nline",
            "100644 f/tab\there",
            "100644 f/sp ace",
            "100644 f/ünï",
            "100755 f/run.sh",
            "120000 f/link",
            "100644 README.md",
        ] {
            assert!(listing.iter().any(|l| l == want), "{want} not in {listing:#?}");
        }
        assert!(!listing.iter().any(|l| l.ends_with("unnamed")), "{listing:#?}");
        let bytes = twin.read_files(&host, "HEAD", &["f/back\\slash", "f/link"]).unwrap();
        assert_eq!(bytes["f/back\\slash"], b"back\\slash");
        assert_eq!(bytes["f/link"], b"../README.md");

        // A file turned into a folder, a deletion, an edit; the parent is the old HEAD, and the
        // twin's own index knows the committed paths, so git sees them unchanged.
        fs_err::remove_file(dir.join("f/sp ace")).unwrap();
        fs_err::write(dir.join("f/run.sh"), "changed").unwrap();
        fs_err::remove_file(dir.join("f/link")).unwrap();
        fs_err::create_dir_all(dir.join("f/link")).unwrap();
        fs_err::write(dir.join("f/link/inside"), "in").unwrap();
        let paths = ["f/sp ace", "f/run.sh", "f/link", "f/link/inside"].map(String::from);
        let second = twin.commit_paths(&host, &paths, "second").unwrap();
        let parent = host.run(&twin.git("parent").args(["rev-parse", "HEAD^"])).unwrap();
        assert_eq!(parent.stdout_text().trim(), first);
        assert_eq!(twin.head(&host).unwrap(), Some(second));
        let listing = head_listing(&host, &twin);
        assert!(listing.iter().any(|l| l == "100755 f/run.sh"), "{listing:#?}");
        assert!(listing.iter().any(|l| l == "100644 f/link/inside"), "{listing:#?}");
        assert!(!listing.iter().any(|l| l.ends_with("sp ace") || l == "120000 f/link"), "{listing:#?}");
        let status = host.run(&twin.git("status").args(["status", "--porcelain"])).unwrap();
        assert_eq!(status.stdout_text(), "?? f/unnamed\n");
        let refs = host.run(&twin.git("refs").args(["for-each-ref", "--format=%(refname)"])).unwrap();
        assert_eq!(refs.stdout_text(), "refs/heads/main\n", "the scratch ref is gone");

        // And back: the folder becomes a file again; its old entry is named after it.
        fs_err::remove_dir_all(dir.join("f/link")).unwrap();
        fs_err::write(dir.join("f/link"), "file").unwrap();
        twin.commit_paths(&host, &["f/link", "f/link/inside"].map(String::from), "third").unwrap();
        let listing = head_listing(&host, &twin);
        assert!(listing.iter().any(|l| l == "100644 f/link"), "{listing:#?}");
        assert!(!listing.iter().any(|l| l.contains("inside")), "{listing:#?}");
        let status = host.run(&twin.git("status").args(["status", "--porcelain"])).unwrap();
        assert_eq!(status.stdout_text(), "?? f/unnamed\n");
    }

    #[test]
    fn commit_paths_refuses_a_socket_at_a_named_path_and_leaves_head_and_refs() {
        let tmp = TempDir::new("commit-paths-sock");
        let (host, twin) = new_twin(&tmp);
        let head = twin.head(&host).unwrap();
        fs_err::write(twin.dir().join("a"), "a").unwrap();
        let _socket = std::os::unix::net::UnixListener::bind(twin.dir().join("s")).unwrap();
        let err = twin.commit_paths(&host, &["a".to_string(), "s".to_string()], "x").unwrap_err().to_string();
        assert!(err.contains("/s in the twin is not a file, a symlink or a folder"), "{err}");
        assert_eq!(twin.head(&host).unwrap(), head);
        let refs = host.run(&twin.git("refs").args(["for-each-ref", "--format=%(refname)"])).unwrap();
        assert_eq!(refs.stdout_text(), "refs/heads/main\n");
    }

    #[test]
    fn blob_id_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        assert_eq!(blob_id(b"hello\n"), "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(blob_id(b""), "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
    }

    #[test]
    fn parses_two_ids_or_missing() {
        let (a, b) = ("a".repeat(40), "b".repeat(40));
        assert_eq!(parse_two_ids(&format!("{a}\n{b}\n")), (Some(a.clone()), Some(b)));
        let missing = format!("{a}\nrefs/twinsync/baseline^{{commit}} missing\n");
        assert_eq!(parse_two_ids(&missing), (Some(a), None));
        assert_eq!(parse_two_ids("HEAD^{commit} missing\nx missing\n"), (None, None));
    }

    #[test]
    fn blob_ids_are_exactly_forty_lowercase_hex_digits() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(BlobId::from_hex(hex).map(|id| id.to_string()).as_deref(), Some(hex));
        for bad in [&hex[..39], &format!("{hex}8"), &hex.to_uppercase(), &hex.replace('7', "g"), ""] {
            assert_eq!(BlobId::from_hex(bad), None, "{bad}");
        }
        // Every byte that is not a digit is refused, wherever it stands.
        for b in (0..=255u8).filter(|b| !b.is_ascii_digit() && !(b'a'..=b'f').contains(b)) {
            let mut odd = hex.as_bytes().to_vec();
            odd[b as usize % 40] = b;
            assert_eq!(BlobId::from_hex_bytes(&odd), None, "byte {b}");
        }
    }

    #[test]
    fn parses_ls_tree_and_cat_file() {
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let ls = format!(
            "100644 blob {a}\tfilesystem/etc/hosts\x00120000 blob {b}\tfilesystem/etc/localtime\x00\
             160000 commit {c}\tsub\x00100644 blob {}\tfilesystem/etc/sha256\x00",
            "d".repeat(64)
        );
        let map: BTreeMap<String, Entry> = parse_ls_tree(ls.as_bytes()).into_iter().collect();
        assert_eq!(map.len(), 2, "{map:?}");
        assert!(map["filesystem/etc/localtime"].link);
        assert_eq!(map["filesystem/etc/hosts"].oid, a.as_str());
        let batch = b"aaaa blob 3\nabc\nHEAD:x missing\nbbbb blob 0\n\n";
        let files = parse_cat_file_batch(batch, &["a", "x", "b"]);
        assert_eq!(files["a"], b"abc");
        assert!(!files.contains_key("x"));
        assert_eq!(files["b"], b"");
    }
}
