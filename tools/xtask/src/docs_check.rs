//! `cargo xtask docs-check`: runs the commands of every guide in `docs/guides/` as written, so a guide
//! cannot drift from the product. Rules of a guide:
//!
//! - every ```` ```sh ```` block is run, line by line (a trailing `\` joins lines; `#` lines are comments),
//!   in a scratch folder `target/docs-check/<guide>/` that holds a link to the repository's `models/`;
//!   blocks of any other kind (` ```text `, steps on real hardware) are not;
//! - `m3rt` is this checkout's CLI (built first, `cargo build -p m3rt-cli`) and `python` the exporter's
//!   venv, as the guides tell a reader to set up;
//! - a command ending in ` &` is a server: it is started, and the check goes on once its output shows a
//!   line with `127.0.0.1:` (the address it listens on); it is stopped when the guide ends.
//!
//! The first failing command fails the check, naming the guide, its line and the command's output. Without
//! a filter it also checks that `docs/architecture.svg` is what `docs/diagrams/architecture.py` draws.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::{models, steps};

/// How long a server may take to say where it listens (a QEMU board builds its firmware first).
const SERVER_START: Duration = Duration::from_secs(600);

/// One command of a guide and the line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub struct GuideCommand {
    /// 1-based line in the guide.
    pub line: usize,
    /// The shell text (continuations joined, ` &` removed for servers).
    pub text: String,
    /// Whether it is a server started in the background.
    pub background: bool,
}

/// The commands of the ```` ```sh ```` blocks of `markdown`, in order.
pub fn commands(markdown: &str) -> Vec<GuideCommand> {
    let mut out = Vec::new();
    let (mut in_sh, mut in_other) = (false, false);
    let mut pending: Option<GuideCommand> = None;
    for (i, raw) in markdown.lines().enumerate() {
        let line = raw.trim();
        if let Some(info) = line.strip_prefix("```") {
            if in_sh || in_other {
                (in_sh, in_other) = (false, false);
            } else if info.trim() == "sh" {
                in_sh = true;
            } else {
                in_other = true;
            }
            continue;
        }
        if !in_sh || (pending.is_none() && (line.is_empty() || line.starts_with('#'))) {
            continue;
        }
        let (body, continued) = match line.strip_suffix('\\') {
            Some(b) => (b.trim_end(), true),
            None => (line, false),
        };
        let cmd = pending.get_or_insert(GuideCommand { line: i + 1, text: String::new(), background: false });
        if !cmd.text.is_empty() {
            cmd.text.push(' ');
        }
        cmd.text.push_str(body);
        if !continued {
            let mut cmd = pending.take().expect("a command is pending");
            if let Some(t) = cmd.text.strip_suffix('&') {
                cmd.text = t.trim_end().to_string();
                cmd.background = true;
            }
            out.push(cmd);
        }
    }
    out
}

/// Runs every guide (or those whose file stem contains `filter`).
pub fn run(filter: Option<&str>) -> Result<()> {
    let py = models::venv()?;
    steps::cargo(&["build", "-p", "m3rt-cli"], &[])?;
    let root = steps::root();
    let bin = steps::target_dir().join("debug");
    let venv_bin = py.parent().context("the venv's python has no folder")?.to_path_buf();
    let path = format!("{}:{}:{}", bin.display(), venv_bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs/guides"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .filter(|p| filter.is_none_or(|f| p.file_stem().is_some_and(|s| s.to_string_lossy().contains(f))))
        .collect();
    guides.sort();
    if guides.is_empty() {
        bail!("no guide in docs/guides matches {filter:?}");
    }
    for guide in &guides {
        check_guide(guide, &root, &path)?;
    }
    if filter.is_none() {
        steps::run(Command::new(&py).arg(root.join("docs/diagrams/architecture.py")).arg("--check"))?;
    }
    println!("docs-check: {} guides, every command ran", guides.len());
    Ok(())
}

fn check_guide(guide: &Path, root: &Path, path: &str) -> Result<()> {
    let name = guide.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(guide).with_context(|| format!("reading {}", guide.display()))?;
    let scratch = steps::target_dir().join("docs-check").join(&name);
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    std::os::unix::fs::symlink(root.join("models"), scratch.join("models"))?;
    let mut servers = Servers(Vec::new());
    for cmd in commands(&text) {
        println!("docs-check {name}:{}: {}", cmd.line, cmd.text);
        let mut shell = Command::new("bash");
        shell.args(["-o", "pipefail", "-c", &cmd.text]).current_dir(&scratch).env("PATH", path);
        let failed = |why: String| anyhow::anyhow!("docs/guides/{name}.md line {}: `{}` {why}", cmd.line, cmd.text);
        if cmd.background {
            servers.start(shell).map_err(|e| failed(format!("did not come up: {e:#}")))?;
            continue;
        }
        let out = shell.output()?;
        if !out.status.success() {
            let tail = |b: &[u8]| String::from_utf8_lossy(b).lines().rev().take(20).collect::<Vec<_>>().join("\n");
            return Err(failed(format!("failed ({}):\n{}\n{}", out.status, tail(&out.stdout), tail(&out.stderr))));
        }
    }
    Ok(())
}

/// The guide's servers, stopped when dropped.
struct Servers(Vec<Child>);

impl Servers {
    /// Starts `cmd` and waits for a line of its output naming `127.0.0.1:`.
    fn start(&mut self, mut cmd: Command) -> Result<()> {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).process_group(0).spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        self.0.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("  | {line}");
                if line.contains("127.0.0.1:") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(SERVER_START).map_err(|_| anyhow::anyhow!("no `127.0.0.1:` line within {SERVER_START:?}"))
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            // The whole process group: `bash -c` and what it started (QEMU under `m3rt flash`).
            let _ = Command::new("kill").arg("--").arg(format!("-{}", child.id())).status();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sh_blocks_count_with_continuations_comments_and_servers() {
        let md =
            "intro\n```sh\n# a comment\nm3rt convert a.onnx \\\n  -o a.m3b\n\nm3rt serve --tcp 127.0.0.1:7000 &\n```\n\
                  ```text\nsudo dd if=boot.bin\n```\n```sh\nm3rt board --tcp 127.0.0.1:7000 info\n```\n";
        let got = commands(md);
        assert_eq!(
            got,
            vec![
                GuideCommand { line: 4, text: "m3rt convert a.onnx -o a.m3b".into(), background: false },
                GuideCommand { line: 7, text: "m3rt serve --tcp 127.0.0.1:7000".into(), background: true },
                GuideCommand { line: 13, text: "m3rt board --tcp 127.0.0.1:7000 info".into(), background: false },
            ]
        );
    }
}
