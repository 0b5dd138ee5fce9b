//! The menu (`twinsync` on a terminal, or `twinsync menu`): whiptail dialogs, or a numbered text
//! menu on the terminal when whiptail is missing (a rescue system).
//!
//! The menu is a thin layer: every item runs the same command a person would type, as a child
//! process of this very binary (`std::env::current_exe()`) with the menu's global options, and
//! shows what it printed. It holds no logic of its own beyond building argument lists, so the
//! menu can never do something the command line cannot. The items are a data table (`MAIN`,
//! `SETUP`) with the original labels of the shell version, word for word. The dialogs are behind
//! the `Ui` trait: `Whiptail` and `Text` answer the same questions, so both run the same flow.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::Global;
use crate::error::{Error, Result};
use crate::host::{Cmd, Host};
use crate::Ctx;

/// What a menu item does.
pub(crate) enum Action {
    /// Runs the command and shows its output.
    Show(&'static [&'static str]),
    /// Runs `preview` (a dry run) and shows it, asks (default no), then runs `run` and shows
    /// the report.
    Confirm { preview: &'static [&'static str], question: &'static str, run: &'static [&'static str] },
    /// The "Setup / utilities" submenu.
    Setup,
    /// Asks for the twin folder and the device name, then `init DIR`.
    Init,
    /// Asks for the GitHub user and token, then `github setup --login NAME` (token on stdin).
    Github,
    /// `deps`, and on root with something missing, `deps --install --yes` after asking.
    Deps,
    /// `history`, pick a snapshot, ask, `restore REV --yes`.
    TimeMachine,
}

pub(crate) struct Item {
    pub(crate) label: &'static str,
    pub(crate) action: Action,
}

const fn item(label: &'static str, action: Action) -> Item {
    Item { label, action }
}

const APPLY_QUESTION: &str = "Apply these changes to the system now?";

/// The main menu, in the original order, plus Status, Diff and Undo.
pub(crate) const MAIN: &[Item] = &[
    item("Setup / utilities", Action::Setup),
    item("Take snapshot (update twin + commit + optional push)", Action::Show(&["snapshot"])),
    item("Pull from remote (update twin repo)", Action::Show(&["pull"])),
    item("Plan file changes (twin -> system)", Action::Show(&["plan", "files"])),
    item(
        "Apply file changes (twin -> system)",
        Action::Confirm {
            preview: &["apply", "files", "--dry-run"],
            question: APPLY_QUESTION,
            run: &["apply", "files", "--yes"],
        },
    ),
    item("Plan package changes (apt, twin -> system)", Action::Show(&["plan", "packages"])),
    item(
        "Apply package changes (apt, twin -> system)",
        Action::Confirm {
            preview: &["apply", "packages", "--dry-run"],
            question: APPLY_QUESTION,
            run: &["apply", "packages", "--yes"],
        },
    ),
    item("Plan service changes (systemd, twin -> system)", Action::Show(&["plan", "services"])),
    item(
        "Apply service changes (systemd, twin -> system)",
        Action::Confirm {
            preview: &["apply", "services", "--dry-run"],
            question: APPLY_QUESTION,
            run: &["apply", "services", "--yes"],
        },
    ),
    item("Plan startup changes (user crontab)", Action::Show(&["plan", "startup"])),
    item(
        "Apply startup changes (user crontab)",
        Action::Confirm {
            preview: &["apply", "startup", "--dry-run"],
            question: APPLY_QUESTION,
            run: &["apply", "startup", "--yes"],
        },
    ),
    item("Time Machine / history", Action::TimeMachine),
    item("Status", Action::Show(&["status"])),
    item("Diff", Action::Show(&["diff"])),
    item(
        "Undo last apply",
        Action::Confirm {
            preview: &["undo", "--dry-run"],
            question: "Put back what the last apply changed?",
            run: &["undo", "--yes"],
        },
    ),
];

/// The "Setup / utilities" submenu.
pub(crate) const SETUP: &[Item] = &[
    item("Init / configure local Twin repo (create local Git)", Action::Init),
    item("GitHub setup (remember username/token + per-device repo)", Action::Github),
    item("Install/check dependencies (Debian/Ubuntu)", Action::Deps),
    item("Show current TwinSync config", Action::Show(&["config", "show"])),
];

/// The dialogs the flow needs; `None` answers are Esc, Cancel or `q`: go back one level.
trait Ui {
    /// The index of the chosen item.
    fn choose(&mut self, title: &str, text: &str, items: &[String], back: &str) -> Result<Option<usize>>;
    /// A command's output, scrollable.
    fn show(&mut self, title: &str, text: &str) -> Result<()>;
    /// A failed command's output.
    fn error(&mut self, title: &str, text: &str) -> Result<()>;
    /// A yes/no question; the default is no.
    fn ask(&mut self, title: &str, question: &str) -> Result<bool>;
    /// A line of text; Enter accepts `default`.
    fn input(&mut self, title: &str, prompt: &str, default: &str) -> Result<Option<String>>;
    /// A line of text that is not shown.
    fn secret(&mut self, title: &str, prompt: &str) -> Result<Option<String>>;
    /// "Working…" while a command runs.
    fn busy(&mut self, text: &str) -> Result<()>;
}

/// `twinsync menu`, and `twinsync` alone on a terminal.
pub(crate) fn run(ctx: &Ctx) -> Result<ExitCode> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::io("find the twinsync binary to run the menu's commands", e))?;
    let on_terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let ui: Box<dyn Ui> = if on_terminal && ctx.host.has_program("whiptail") {
        Box::new(Whiptail { host: ctx.host.clone(), tmp: 0, last: Default::default() })
    } else {
        Box::new(Text { host: ctx.host.clone() })
    };
    let mut menu = Menu { host: ctx.host.clone(), exe, global: ctx.global.clone(), ui };
    menu.main()?;
    Ok(ExitCode::SUCCESS)
}

struct Menu {
    host: Host,
    exe: PathBuf,
    global: Global,
    ui: Box<dyn Ui>,
}

impl Menu {
    /// The context as it is now: the config is read again, since an item may have changed it.
    fn ctx(&self) -> Result<Ctx> {
        Ctx::new(Global { quiet: true, ..self.global.clone() })
    }

    fn main(&mut self) -> Result<()> {
        loop {
            let ctx = self.ctx()?;
            let mut items: Vec<&Item> = Vec::new();
            let text = match ctx.twin_dir() {
                Some(dir) => format!("Twin of {}: {}", ctx.device(), dir.display()),
                None => {
                    // First run: nothing else works before there is a twin.
                    items.push(&SETUP[0]);
                    "No twin repository is set up yet: start with the first item, Init.".to_string()
                }
            };
            items.extend(MAIN);
            let labels: Vec<String> = items.iter().map(|i| i.label.to_string()).collect();
            match self.ui.choose("TwinSync", &text, &labels, "Quit")? {
                None => return Ok(()),
                Some(i) => self.act(items[i])?,
            }
        }
    }

    fn setup(&mut self) -> Result<()> {
        let labels: Vec<String> = SETUP.iter().map(|i| i.label.to_string()).collect();
        while let Some(i) = self.ui.choose("Setup / utilities", "", &labels, "Back")? {
            self.act(&SETUP[i])?;
        }
        Ok(())
    }

    fn act(&mut self, item: &Item) -> Result<()> {
        let title = item.label;
        match &item.action {
            Action::Show(args) => {
                self.show_run(title, args)?;
            }
            Action::Confirm { preview, question, run } => {
                if self.show_run(title, preview)?.is_some() && self.ui.ask(title, question)? {
                    self.show_run(title, run)?;
                }
            }
            Action::Setup => self.setup()?,
            Action::Init => self.init(title)?,
            Action::Github => self.github(title)?,
            Action::Deps => self.deps(title)?,
            Action::TimeMachine => self.time_machine(title)?,
        }
        Ok(())
    }

    /// The global options the menu was started with, for its children.
    fn global_args(&self) -> Vec<OsString> {
        let g = &self.global;
        let mut res = Vec::new();
        for (name, value) in [
            ("--root", g.root.as_ref().map(|p| p.as_os_str().to_os_string())),
            ("--twin", g.twin.as_ref().map(|p| p.as_os_str().to_os_string())),
            ("--config", g.config.as_ref().map(|p| p.as_os_str().to_os_string())),
            ("--state", g.state.as_ref().map(|p| p.as_os_str().to_os_string())),
            ("--home", g.home.as_ref().map(|p| p.as_os_str().to_os_string())),
            ("--user", g.user.as_ref().map(OsString::from)),
        ] {
            if let Some(value) = value {
                res.push(name.into());
                res.push(value);
            }
        }
        res
    }

    /// `twinsync ARGS` with the menu's global options; `stdin` (a token) is fed on stdin, so it
    /// never shows in a process list.
    fn command(&self, args: &[&str], stdin: Option<String>) -> Cmd {
        let any_status: Vec<i32> = (0..=255).collect();
        let cmd = Cmd::new(&self.exe.to_string_lossy(), format!("run `twinsync {}`", args.join(" ")))
            .args(args)
            .args(self.global_args())
            .ok_codes(&any_status);
        match stdin {
            Some(text) => cmd.stdin(text.into_bytes()),
            None => cmd,
        }
    }

    /// Runs `twinsync ARGS` as a child: its exit status and what it printed (stdout, then
    /// stderr).
    fn child(&self, args: &[&str], stdin: Option<String>) -> Result<(i32, String)> {
        let out = self.host.run(&self.command(args, stdin))?;
        let mut text = out.stdout_text();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok((out.code, text))
    }

    /// Runs a command and shows its output, or its error; `Some(output)` when it succeeded.
    fn run_with(&mut self, title: &str, args: &[&str], stdin: Option<String>) -> Result<Option<String>> {
        self.ui.busy(&format!("Running: twinsync {}", args.join(" ")))?;
        match self.child(args, stdin) {
            Ok((0, text)) => {
                let shown = if text.trim().is_empty() { "(done; nothing was printed)" } else { &text };
                self.ui.show(title, shown)?;
                Ok(Some(text))
            }
            Ok((_, text)) => {
                self.ui.error(title, &text)?;
                Ok(None)
            }
            Err(e) => {
                self.ui.error(title, e.message())?;
                Ok(None)
            }
        }
    }

    fn show_run(&mut self, title: &str, args: &[&str]) -> Result<Option<String>> {
        self.run_with(title, args, None)
    }

    /// Proposes what `twinsync init` would pick; Enter accepts.
    fn init(&mut self, title: &str) -> Result<()> {
        let ctx = self.ctx()?;
        let proposed = ctx.default_twin_dir(None)?.display().to_string();
        let prompt = "Folder of the local twin repository (Enter accepts):";
        let Some(dir) = self.ui.input(title, prompt, &proposed)? else { return Ok(()) };
        let dir = if dir.trim().is_empty() { proposed } else { dir.trim().to_string() };
        let device = ctx.device();
        let Some(name) = self.ui.input(title, "Name of this device (Enter accepts):", &device)? else {
            return Ok(());
        };
        let name = name.trim();
        if !name.is_empty() && name != device {
            let set = ["config", "set", "device_name", name];
            if self.child(&set, None).map(|(code, _)| code != 0).unwrap_or(true) {
                // Show why, in the same words.
                self.show_run(title, &set)?;
                return Ok(());
            }
        }
        self.show_run(title, &["init", &dir])?;
        Ok(())
    }

    /// The token goes to the child on stdin, never on its command line.
    fn github(&mut self, title: &str) -> Result<()> {
        let user = self.ctx()?.config.get("github_user").unwrap_or_default().to_string();
        let Some(login) = self.ui.input(title, "GitHub user name:", &user)? else { return Ok(()) };
        let login = login.trim().to_string();
        if login.is_empty() {
            return self.ui.error(title, "no user name was given; nothing was changed");
        }
        let prompt = "GitHub token (stored in the config with mode 0600, never shown):";
        let Some(token) = self.ui.secret(title, prompt)? else { return Ok(()) };
        self.run_with(title, &["github", "setup", "--login", &login], Some(format!("{}\n", token.trim())))?;
        Ok(())
    }

    fn deps(&mut self, title: &str) -> Result<()> {
        if self.show_run(title, &["deps"])?.is_none()
            && self.ctx()?.as_root
            && self.ui.ask(title, "Install the missing programs with apt-get?")?
        {
            self.show_run(title, &["deps", "--install", "--yes"])?;
        }
        Ok(())
    }

    fn time_machine(&mut self, title: &str) -> Result<()> {
        self.ui.busy("Running: twinsync history")?;
        let text = match self.child(&["history"], None) {
            Ok((0, text)) => text,
            Ok((_, text)) => return self.ui.error(title, &text),
            Err(e) => return self.ui.error(title, e.message()),
        };
        let lines: Vec<String> = snapshots(&text);
        if lines.is_empty() {
            return self.ui.show(title, "There are no snapshots yet: take one first.");
        }
        let Some(i) = self.ui.choose(title, "Pick a snapshot to go back to:", &lines, "Back")? else {
            return Ok(());
        };
        let Some(rev) = lines[i].split_whitespace().next() else { return Ok(()) };
        let question = format!(
            "Restore snapshot {rev}?\n\nThe twin becomes equal to that snapshot as a NEW commit: \
             nothing is lost, every snapshot stays in the history. The system is not changed yet: \
             afterwards, Plan and Apply bring it back towards the snapshot."
        );
        if self.ui.ask(title, &question)? {
            self.show_run(title, &["restore", rev, "--yes"])?;
        }
        Ok(())
    }
}

/// The snapshot lines of `twinsync history` (hash, date, message), without its notes.
fn snapshots(history: &str) -> Vec<String> {
    history
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty() && !l.starts_with("twinsync:"))
        .map(str::to_string)
        .collect()
}

/// whiptail on the person's terminal (`Host::run_interactive`: the answer comes on stderr).
struct Whiptail {
    host: Host,
    /// Counts the temporary files of text boxes.
    tmp: usize,
    /// The last item chosen in each menu (by title), so a menu comes back where the person was.
    last: std::collections::HashMap<String, usize>,
}

impl Whiptail {
    fn dialog(&self, args: &[&str]) -> Result<(i32, String)> {
        self.host.run_interactive(&Cmd::new("whiptail", "show the menu (whiptail)").args(args))
    }

    /// The terminal's rows and columns (24x80 when it cannot be asked).
    fn size(&self) -> (usize, usize) {
        let cmd = Cmd::new("stty", "read the terminal size").args(["size", "-F", "/dev/tty"]);
        let out = self.host.run(&cmd).map(|o| o.stdout_text()).unwrap_or_default();
        let mut it = out.split_whitespace().filter_map(|n| n.parse::<usize>().ok());
        match (it.next(), it.next()) {
            (Some(r), Some(c)) if r >= 10 && c >= 40 => (r, c),
            _ => (24, 80),
        }
    }

    /// A box as big as the text, at most the terminal: (height, width) as whiptail arguments.
    /// whiptail wraps long lines, so the height counts wrapped lines.
    fn fit(&self, text: &str) -> (String, String) {
        let (rows, cols) = self.size();
        let longest = text.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        let width = (longest + 6).max(60).min(cols - 4);
        let inner = width - 6;
        let lines: usize = text.lines().map(|l| l.chars().count().max(1).div_ceil(inner)).sum();
        let height = (lines + 8).max(10).min(rows - 2);
        (height.to_string(), width.to_string())
    }

    fn text_box(&mut self, title: &str, text: &str) -> Result<()> {
        self.tmp += 1;
        let path =
            std::env::temp_dir().join(format!("twinsync-menu-{}-{}.txt", std::process::id(), self.tmp));
        write_private(&path, text)?;
        let (h, w) = self.fit(text);
        let path_text = path.to_string_lossy().into_owned();
        let res = self.dialog(&["--title", title, "--scrolltext", "--textbox", &path_text, &h, &w]);
        let _ = std::fs::remove_file(&path);
        res.map(|_| ())
    }
}

/// A temporary file only its owner can read (an output may name private things).
fn write_private(path: &std::path::Path, text: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::io(&format!("write {}", path.display()), e))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

impl Ui for Whiptail {
    fn choose(&mut self, title: &str, text: &str, items: &[String], back: &str) -> Result<Option<usize>> {
        let (rows, cols) = self.size();
        let list = items.len().min(rows.saturating_sub(9).max(4));
        let (h, w, l) = ((list + 8).to_string(), (cols - 4).min(90).to_string(), list.to_string());
        let tags: Vec<String> = (1..=items.len()).map(|n| n.to_string()).collect();
        let default = self.last.get(title).map(|n| (n + 1).to_string()).unwrap_or_else(|| "1".to_string());
        let mut args = vec!["--title", title, "--notags", "--ok-button", "Select", "--cancel-button", back];
        args.extend(["--default-item", &default, "--menu", text, &h, &w, &l]);
        for (tag, label) in tags.iter().zip(items) {
            args.push(tag);
            args.push(label);
        }
        let (code, answer) = self.dialog(&args)?;
        let chosen = match code {
            0 => answer.trim().parse::<usize>().ok().filter(|n| (1..=items.len()).contains(n)).map(|n| n - 1),
            _ => None,
        };
        if let Some(n) = chosen {
            self.last.insert(title.to_string(), n);
        }
        Ok(chosen)
    }

    fn show(&mut self, title: &str, text: &str) -> Result<()> {
        self.text_box(title, text)
    }

    fn error(&mut self, title: &str, text: &str) -> Result<()> {
        self.text_box(&format!("Error: {title}"), text)
    }

    fn ask(&mut self, title: &str, question: &str) -> Result<bool> {
        let (code, _) = self.dialog(&["--title", title, "--defaultno", "--yesno", question, "0", "0"])?;
        Ok(code == 0)
    }

    fn input(&mut self, title: &str, prompt: &str, default: &str) -> Result<Option<String>> {
        let (code, answer) = self.dialog(&["--title", title, "--inputbox", prompt, "10", "78", default])?;
        Ok((code == 0).then_some(answer))
    }

    fn secret(&mut self, title: &str, prompt: &str) -> Result<Option<String>> {
        let (code, answer) = self.dialog(&["--title", title, "--passwordbox", prompt, "10", "78"])?;
        Ok((code == 0).then_some(answer))
    }

    fn busy(&mut self, text: &str) -> Result<()> {
        self.dialog(&["--title", "TwinSync", "--infobox", text, "7", "78"]).map(|_| ())
    }
}

/// The numbered text menu on stdin/stdout, for a system without whiptail.
struct Text {
    host: Host,
}

impl Text {
    /// One line from stdin without its newline; `None` at the end of input.
    fn line(&self) -> Result<Option<String>> {
        std::io::stdout().flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        Ok(Some(line.trim_end_matches(['\n', '\r']).to_string()))
    }

    fn pause(&self) -> Result<()> {
        print!("-- press Enter to go on --");
        self.line().map(|_| ())
    }

    /// `stty echo` / `stty -echo` on the terminal, for the hidden token.
    fn echo(&self, on: bool) -> bool {
        let cmd = Cmd::new("stty", "hide the typed token").arg(if on { "echo" } else { "-echo" });
        matches!(self.host.run_interactive(&cmd), Ok((0, _)))
    }
}

impl Ui for Text {
    fn choose(&mut self, title: &str, text: &str, items: &[String], back: &str) -> Result<Option<usize>> {
        loop {
            println!("\n== {title} ==");
            if !text.is_empty() {
                println!("{text}");
            }
            for (n, label) in items.iter().enumerate() {
                println!("{:>3}) {label}", n + 1);
            }
            println!("  q) {back}");
            print!("choose 1-{} or q: ", items.len());
            let Some(answer) = self.line()? else { return Ok(None) };
            let answer = answer.trim();
            if answer.eq_ignore_ascii_case("q") {
                return Ok(None);
            }
            match answer.parse::<usize>() {
                Ok(n) if (1..=items.len()).contains(&n) => return Ok(Some(n - 1)),
                _ => println!(
                    "twinsync: '{answer}' is not on the menu; type a number from 1 to {}, or q",
                    items.len()
                ),
            }
        }
    }

    fn show(&mut self, title: &str, text: &str) -> Result<()> {
        println!("\n-- {title} --");
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
        self.pause()
    }

    fn error(&mut self, title: &str, text: &str) -> Result<()> {
        self.show(&format!("Error: {title}"), text)
    }

    fn ask(&mut self, _title: &str, question: &str) -> Result<bool> {
        print!("{question} [y/N] ");
        let answer = self.line()?.unwrap_or_default();
        Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
    }

    fn input(&mut self, _title: &str, prompt: &str, default: &str) -> Result<Option<String>> {
        print!("{prompt} [{default}] ");
        Ok(self.line()?.map(|a| if a.trim().is_empty() { default.to_string() } else { a }))
    }

    fn secret(&mut self, _title: &str, prompt: &str) -> Result<Option<String>> {
        print!("{prompt} ");
        let hidden = self.echo(false);
        let answer = self.line();
        if hidden {
            self.echo(true);
        }
        println!();
        answer
    }

    fn busy(&mut self, text: &str) -> Result<()> {
        println!("{text} ...");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The labels of the shell version's menu, word for word (seed "Menu layout").
    const ORIGINAL: &[&str] = &[
        "Setup / utilities",
        "Take snapshot (update twin + commit + optional push)",
        "Pull from remote (update twin repo)",
        "Plan file changes (twin -> system)",
        "Apply file changes (twin -> system)",
        "Plan package changes (apt, twin -> system)",
        "Apply package changes (apt, twin -> system)",
        "Plan service changes (systemd, twin -> system)",
        "Apply service changes (systemd, twin -> system)",
        "Plan startup changes (user crontab)",
        "Apply startup changes (user crontab)",
        "Time Machine / history",
    ];

    #[test]
    fn the_menus_keep_the_original_labels_in_order() {
        let main: Vec<&str> = MAIN.iter().map(|i| i.label).collect();
        assert_eq!(&main[..ORIGINAL.len()], ORIGINAL);
        assert_eq!(&main[ORIGINAL.len()..], ["Status", "Diff", "Undo last apply"]);
        let setup: Vec<&str> = SETUP.iter().map(|i| i.label).collect();
        assert_eq!(
            setup,
            [
                "Init / configure local Twin repo (create local Git)",
                "GitHub setup (remember username/token + per-device repo)",
                "Install/check dependencies (Debian/Ubuntu)",
                "Show current TwinSync config",
            ]
        );
    }

    #[test]
    fn every_item_runs_a_command_the_cli_accepts() {
        for item in MAIN.iter().chain(SETUP) {
            let lists: Vec<&[&str]> = match &item.action {
                Action::Show(a) => vec![a],
                Action::Confirm { preview, run, .. } => {
                    assert!(preview.contains(&"--dry-run") && run.contains(&"--yes"), "{}", item.label);
                    vec![preview, run]
                }
                _ => continue,
            };
            for args in lists {
                let parsed = crate::cli::parse(args.iter().map(OsString::from).collect());
                assert!(parsed.is_ok(), "{}: {args:?}", item.label);
            }
        }
    }

    #[test]
    fn children_get_the_menus_global_options() {
        let global = Global {
            root: Some("/mnt".into()),
            twin: Some("/t".into()),
            user: Some("ana".into()),
            yes: true,
            ..Global::default()
        };
        let menu = Menu {
            host: Host::new(std::path::Path::new("/")),
            exe: "/bin/twinsync".into(),
            global,
            ui: Box::new(Text { host: Host::new(std::path::Path::new("/")) }),
        };
        let args: Vec<String> = menu.global_args().iter().map(|a| a.to_string_lossy().into_owned()).collect();
        // --yes is not passed: each item says itself whether its command may act without asking.
        assert_eq!(args, ["--root", "/mnt", "--twin", "/t", "--user", "ana"]);
        let cmd = menu.command(&["github", "setup", "--login", "ana"], Some("tok-123\n".into()));
        assert_eq!(cmd.display(), "/bin/twinsync github setup --login ana --root /mnt --twin /t --user ana");
        // The token travels on stdin: shown here, `sh` reads it back.
        let menu = Menu { exe: "/bin/sh".into(), global: Global::default(), ..menu };
        assert_eq!(
            menu.child(&["-c", "read t; echo got $t; exit 3"], Some("tok-123\n".into())).unwrap(),
            (3, "got tok-123\n".to_string())
        );
    }

    #[test]
    fn history_lines_become_snapshots() {
        let text =
            "abc1234 2026-12-01 10:00 snapshot\n\ntwinsync: 2 snapshots\ndef5678 2026-11-30 09:00 first\n";
        assert_eq!(snapshots(text), ["abc1234 2026-12-01 10:00 snapshot", "def5678 2026-11-30 09:00 first"]);
    }
}
