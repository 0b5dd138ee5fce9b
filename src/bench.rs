//! The snapshot benchmark (`make bench`, issue 8): compiled only into the test binary, so the
//! shipped program carries none of it.
//!
//! It builds a deterministic machine-like tree in a temporary folder (never inside the
//! repository), runs the release binary named by `TWINSYNC_BIN` against it, and prints one
//! table: each TwinSync operation as the median of `BENCH_RUNS` runs (at least 3), its
//! reference (plain `cp -a` + `git`, and etckeeper when it can run safely) and the ratio, with
//! the peak memory of every TwinSync run (`/usr/bin/time -v`). Sizes: `BENCH_FILES` (default
//! 20,000), split 15% under `/etc` and 85% under `/home/ana/.config`.
//!
//! Like the e2e harness, this is test code and runs processes with `std::process` directly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A small seeded PRNG (splitmix64): the same tree on every machine and every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Words that look like config and never like a secret to the content scanner.
const WORDS: &[&str] = &[
    "enable", "option", "value", "server", "port", "name", "timeout", "path", "mode", "level", "color",
    "font", "size", "window", "layout", "theme", "cache", "limit", "user", "group", "default", "interval",
];

/// A file size: most small (the median under 1 KiB), a tail up to 150 KiB.
fn file_size(rng: &mut Rng) -> usize {
    if rng.below(10) < 8 {
        40 + rng.below(1400) as usize
    } else {
        let u = rng.unit();
        2048 + (u * u * u * (150.0 * 1024.0 - 2048.0)) as usize
    }
}

/// Config-like text of about `size` bytes; with `binary`, NUL bytes in it.
fn content(rng: &mut Rng, size: usize, binary: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 64);
    while out.len() < size {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        let v = WORDS[rng.below(WORDS.len() as u64) as usize];
        out.extend_from_slice(format!("{w}_{} = {v} {}\n", rng.below(100), rng.below(100_000)).as_bytes());
    }
    out.truncate(size);
    if binary {
        for i in (0..out.len()).step_by(97) {
            out[i] = 0;
        }
    }
    out
}

/// The generated tree's files, as machine paths, in creation order.
fn generate(root: &Path, files: usize) -> Vec<String> {
    let mut rng = Rng(0x7717_5EED);
    let etc = files * 15 / 100;
    let mut paths = Vec::with_capacity(files);
    write(root, "/etc/passwd", b"root:x:0:0:root:/root:/bin/bash\nana:x:1000:1000:Ana:/home/ana:/bin/bash\n");
    write(root, "/etc/group", b"root:x:0:\nana:x:1000:\n");
    write(root, "/etc/hostname", b"bench\n");
    for i in 0..files.saturating_sub(3) {
        let top =
            if i < etc.saturating_sub(3) { "/etc".to_string() } else { "/home/ana/.config".to_string() };
        // About 40 files a folder, two levels deep, as package config folders are.
        let dir = i / 40;
        let path = format!("{top}/pkg{}/sub{}/file{i}.conf", dir / 10, dir % 10);
        let size = file_size(&mut rng);
        let binary = rng.below(100) == 0;
        write(root, &path, &content(&mut rng, size, binary));
        paths.push(path);
    }
    paths
}

fn write(root: &Path, machine_path: &str, bytes: &[u8]) {
    let p = root.join(machine_path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// Changes 1% of the files under `base` (every 100th, shifted by `round`) by appending a line.
fn change_one_percent(base: &Path, paths: &[String], round: usize) {
    for p in paths.iter().skip(round % 100).step_by(100) {
        let full = base.join(p.trim_start_matches('/'));
        let Ok(mut bytes) = std::fs::read(&full) else { continue };
        bytes.extend_from_slice(format!("changed_{round} = yes\n").as_bytes());
        std::fs::write(full, bytes).unwrap();
    }
}

/// Waits, untimed, until the disk has caught up (`sync`): no timed run pays for the writeback
/// of what an earlier one wrote (the kernel writes dirty pages back 30 s after, on the same
/// two CPUs), whichever of TwinSync and its reference that was.
fn settle() {
    let ok = Command::new("sync").status().is_ok_and(|s| s.success());
    assert!(ok, "sync failed");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Runs a shell command line, timed; panics when it fails.
fn sh(cwd: &Path, line: &str) -> f64 {
    sh_try(cwd, line).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs a shell command line, timed; Err: the command and its stderr.
fn sh_try(cwd: &Path, line: &str) -> Result<f64, String> {
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(line)
        .current_dir(cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // No background `git gc --auto` of the reference copies during later measurements.
        .env("GIT_CONFIG_COUNT", "2")
        .env("GIT_CONFIG_KEY_0", "gc.auto")
        .env("GIT_CONFIG_VALUE_0", "0")
        .env("GIT_CONFIG_KEY_1", "maintenance.auto")
        .env("GIT_CONFIG_VALUE_1", "false")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.org")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.org")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("{line}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(secs)
}

/// One TwinSync installation in the bench folder: its twin, config and state.
struct Ts {
    bin: PathBuf,
    root: PathBuf,
    dir: PathBuf,
}

impl Ts {
    fn twin(&self) -> PathBuf {
        self.dir.join("twin")
    }

    /// Runs twinsync under `/usr/bin/time -v`: (seconds, peak resident MiB).
    fn run(&self, args: &[&str]) -> (f64, f64) {
        let mem = self.dir.join("time.txt");
        let started = Instant::now();
        let out = Command::new("/usr/bin/time")
            .arg("-v")
            .arg("-o")
            .arg(&mem)
            .arg(&self.bin)
            .arg("--root")
            .arg(&self.root)
            .args(["--home", "/home/ana", "--user", "ana", "-q", "--twin"])
            .arg(self.twin())
            .arg("--config")
            .arg(self.dir.join("config"))
            .arg("--state")
            .arg(self.dir.join("state"))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert!(
            out.status.success(),
            "twinsync {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&mem).unwrap();
        let kib: f64 = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0);
        (secs, kib / 1024.0)
    }

    fn fresh(bin: &Path, root: &Path, dir: PathBuf) -> Ts {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ts = Ts { bin: bin.to_path_buf(), root: root.to_path_buf(), dir };
        let twin = ts.twin();
        ts.run(&["init", twin.to_str().unwrap()]);
        ts
    }
}

/// A row of the table: the TwinSync median against its reference's median.
struct Row {
    what: String,
    secs: f64,
    mib: f64,
    reference: String,
    ref_secs: Option<f64>,
}

/// etckeeper from its .deb, extracted into `dir` and never installed (its postinst would turn
/// this machine's /etc into a repository). Its script reads `$ETCKEEPER_CONF_DIR`, so it is
/// pointed at the extracted configuration, and `-d` at the copy. Err: why it cannot run.
fn etckeeper(dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    std::fs::create_dir_all(dir).unwrap();
    let got = Command::new("apt-get").arg("download").arg("etckeeper").current_dir(dir).output();
    if !matches!(&got, Ok(o) if o.status.success()) {
        return Err("`apt-get download etckeeper` failed".into());
    }
    let deb = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or("no etckeeper .deb was downloaded")?;
    let x = dir.join("x");
    let ok = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x).status();
    if !matches!(ok, Ok(s) if s.success()) {
        return Err("`dpkg-deb -x` of etckeeper failed".into());
    }
    let conf = x.join("etc/etckeeper");
    if Command::new("perl").arg("-v").stdout(Stdio::null()).status().is_err() {
        return Err("etckeeper's scripts need perl".into());
    }
    Ok((x.join("usr/bin/etckeeper"), conf))
}

/// `etckeeper COMMAND -d COPY ARGS`. The script takes `-d` only right after the command and
/// falls back to /etc otherwise, so `ETCKEEPER_DIR` is set to the copy as well: no mistake in
/// the arguments can make it work on this machine's /etc.
fn etckeeper_cmd(script: &Path, conf: &Path, command: &str, args: &str, copy: &Path) -> String {
    assert!(copy.starts_with(std::env::temp_dir()) && copy != Path::new("/etc"), "{}", copy.display());
    let (conf, script, copy) = (conf.display(), script.display(), copy.display());
    format!("ETCKEEPER_CONF_DIR='{conf}' ETCKEEPER_DIR='{copy}' '{script}' {command} -d '{copy}' {args}")
}

#[test]
#[ignore = "the benchmark: make bench"]
fn snapshot_benchmark() {
    let bin = PathBuf::from(std::env::var("TWINSYNC_BIN").expect("TWINSYNC_BIN: the release binary"));
    let files: usize = std::env::var("BENCH_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(3);
    let base = std::env::temp_dir().join(format!("twinsync-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    let started = Instant::now();
    let paths = generate(&root, files);
    eprintln!(
        "bench: {files} files generated in {:.1} s under {}",
        started.elapsed().as_secs_f64(),
        base.display()
    );
    let mut rows = Vec::new();

    // First snapshot, against cp -a + git add -A + git commit of the same tree. Both write the
    // whole tree; each starts with the disk caught up, as every timed run does (`settle`):
    // neither pays for the other's writeback. They take turns at going first, and nothing is deleted until
    // all runs are done, because ext4 makes whoever creates files right after a mass delete
    // skip the freshly freed inodes (seconds at 20,000 files).
    let (mut ts_first, mut mem_first, mut ref_first) = (Vec::new(), 0f64, Vec::new());
    let mut leftovers = Vec::new();
    for i in 0..runs {
        let copy = base.join(format!("copy{i}"));
        let _ = std::fs::remove_dir_all(&copy);
        std::fs::create_dir_all(&copy).unwrap();
        sh(&copy, "git init -q .");
        let reference = || {
            settle();
            sh(
                &copy,
                &format!(
                    "cp -a '{}/etc' '{}/home' . && git add -A && git commit -qm first",
                    root.display(),
                    root.display()
                ),
            )
        };
        if i % 2 == 1 {
            ref_first.push(reference());
        }
        let ts = Ts::fresh(&bin, &root, base.join(format!("first{i}")));
        settle();
        let (s, m) = ts.run(&["snapshot"]);
        ts_first.push(s);
        mem_first = mem_first.max(m);
        if i % 2 == 0 {
            ref_first.push(reference());
        }
        if i > 0 {
            leftovers.push(copy);
            leftovers.push(ts.dir);
        }
    }
    for dir in leftovers {
        let _ = std::fs::remove_dir_all(dir);
    }
    rows.push(Row {
        what: "first snapshot".into(),
        secs: median(ts_first),
        mib: mem_first,
        reference: "cp -a + git add -A + git commit".into(),
        ref_secs: Some(median(ref_first)),
    });

    // No-op snapshot, against the git floor and etckeeper.
    let ts = Ts::fresh(&bin, &root, base.join("ts"));
    ts.run(&["snapshot"]);
    let copy = base.join("copy0");
    let (mut noop, mut mem_noop, mut floor) = (Vec::new(), 0f64, Vec::new());
    for _ in 0..runs {
        settle();
        let (s, m) = ts.run(&["snapshot"]);
        noop.push(s);
        mem_noop = mem_noop.max(m);
        settle();
        floor.push(sh(&copy, "git add -A && git status --porcelain"));
    }
    let noop = median(noop);
    rows.push(Row {
        what: "no-op snapshot".into(),
        secs: noop,
        mib: mem_noop,
        reference: "git add -A && git status --porcelain".into(),
        ref_secs: Some(median(floor)),
    });
    let ek_copy = base.join("ek-copy");
    std::fs::create_dir_all(&ek_copy).unwrap();
    let ek = etckeeper(&base.join("etckeeper")).and_then(|(script, conf)| {
        sh(&ek_copy, &format!("cp -a '{}/etc' '{}/home' .", root.display(), root.display()));
        sh_try(&ek_copy, &etckeeper_cmd(&script, &conf, "init", "", &ek_copy))?;
        sh_try(&ek_copy, &etckeeper_cmd(&script, &conf, "commit", "first", &ek_copy))?;
        let mut times = Vec::new();
        for _ in 0..runs {
            // With nothing to commit, git commit (and so etckeeper) exits 1.
            let line = format!("{}; [ $? -le 1 ]", etckeeper_cmd(&script, &conf, "commit", "noop", &ek_copy));
            settle();
            times.push(sh_try(&ek_copy, &line)?);
        }
        Ok(median(times))
    });
    rows.push(Row {
        what: "no-op snapshot".into(),
        secs: noop,
        mib: mem_noop,
        reference: match &ek {
            Ok(_) => "etckeeper commit (extracted .deb, -d copy)".into(),
            Err(why) => format!("etckeeper: not measured ({why})"),
        },
        ref_secs: ek.ok(),
    });

    // 1% of the machine's files changed, against the same change committed by git.
    let (mut changed, mut mem_changed, mut ref_changed) = (Vec::new(), 0f64, Vec::new());
    for round in 1..=runs {
        change_one_percent(&root, &paths, round);
        settle();
        let (s, m) = ts.run(&["snapshot"]);
        changed.push(s);
        mem_changed = mem_changed.max(m);
        change_one_percent(&copy, &paths, round);
        settle();
        ref_changed.push(sh(&copy, "git add -A && git commit -qm changed"));
    }
    rows.push(Row {
        what: "snapshot, 1% changed".into(),
        secs: median(changed),
        mib: mem_changed,
        reference: "git add -A + git commit, same change".into(),
        ref_secs: Some(median(ref_changed)),
    });

    // `plan files` with 1% of the twin's files edited, against the no-op snapshot; then the
    // same as the first plan after a snapshot moved the baseline: its listing is not in the
    // state folder yet, and git lists it.
    for (what, shift, cold) in [
        ("plan files, 1% changed in twin", 50, false),
        ("plan files, the baseline's listing not kept yet", 60, true),
    ] {
        let (mut plan, mut mem_plan) = (Vec::new(), 0f64);
        for round in 1..=runs {
            change_one_percent(&ts.twin().join("filesystem"), &paths, shift + round);
            if cold {
                let _ = std::fs::remove_file(ts.dir.join("state/listing-cache"));
            }
            settle();
            let (s, m) = ts.run(&["plan", "files"]);
            plan.push(s);
            mem_plan = mem_plan.max(m);
        }
        rows.push(Row {
            what: what.into(),
            secs: median(plan),
            mib: mem_plan,
            reference: "the no-op snapshot above".into(),
            ref_secs: Some(noop),
        });
    }

    println!("\nTwinSync benchmark: {files} files ({} under /etc, the rest under ~/.config), median of {runs} runs", files * 15 / 100);
    println!("| operation | twinsync s | peak MiB | reference | reference s | ratio |");
    println!("|---|---:|---:|---|---:|---:|");
    for r in &rows {
        let (rs, ratio) = match r.ref_secs {
            Some(v) => (format!("{v:.3}"), format!("{:.2}×", r.secs / v)),
            None => ("—".into(), "—".into()),
        };
        println!("| {} | {:.3} | {:.1} | {} | {rs} | {ratio} |", r.what, r.secs, r.mib, r.reference);
    }
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&base);
    }
}
