//! The docs' command blocks, executed: every fenced `sh` block of `README.md` and `docs/**.md`
//! runs, unless its info string says why it cannot (`sh no-run: <reason>`), so a "Try it" or
//! a curl sequence cannot rot without this test failing.
//!
//! How a file's blocks run:
//! * all runnable blocks of one file, in order, form one bash script (`set -euo pipefail`), so a
//!   later block uses what an earlier one set (`$GW`, a file written); it runs in a fresh
//!   temporary directory, with every background job killed when it ends;
//! * `lnedge` is the binary under test, and `cargo` a shim: `cargo run [options] -- ARGS` runs
//!   `lnedge ARGS`, `cargo build …` has nothing to do (the binary is built), anything else is an
//!   error asking for a `no-run` mark;
//! * the one rewrite: port `18080`, which the docs use for a gateway, becomes a free port;
//! * a file's script fails the test with its output when it exits non-zero or runs past a
//!   generous deadline (600 s: a busy machine builds a sandbox node in seconds);
//!   `LNEDGE_DOCS_TRANSCRIPTS=DIR` keeps every file's output in `DIR/<file>.txt`.
//!
//! It needs `bash`, `curl` and `jq` (the docs use them; `.ci/run` installs them), so it is
//! ignored by the plain test command and run by CI's `--ignored` pass.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one file's blocks may take together.
const DEADLINE: Duration = Duration::from_secs(600);

/// A fenced `sh` block.
#[derive(Debug)]
struct Block {
    /// The file, relative to the repository.
    file: String,
    /// The line of its opening fence (1-based).
    line: usize,
    /// Why it does not run, if it does not.
    no_run: Option<String>,
    /// Its text.
    text: String,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn markdown_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> =
            std::fs::read_dir(dir).expect("docs dir").map(|e| e.expect("entry").path()).collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut files = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut files);
    files
}

/// The shell blocks of `text` (`sh`, `bash`, `shell`, `console`), or an error naming a block
/// marked `no-run` without a reason, or a fence left open.
fn shell_blocks(file: &str, text: &str) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, Option<Option<String>>, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match open.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let mut words = info.trim().splitn(2, char::is_whitespace);
                    let lang = words.next().unwrap_or_default();
                    let rest = words.next().unwrap_or_default().trim();
                    let shell = matches!(lang, "sh" | "bash" | "shell" | "console");
                    let mark = if !shell {
                        None
                    } else if let Some(reason) = rest.strip_prefix("no-run:") {
                        let reason = reason.trim();
                        if reason.is_empty() {
                            return Err(format!("{file}:{}: `no-run:` without a reason", i + 1));
                        }
                        Some(Some(reason.to_owned()))
                    } else if rest.is_empty() {
                        Some(None)
                    } else {
                        return Err(format!(
                            "{file}:{}: unknown mark {rest:?} (only `no-run: <reason>`)",
                            i + 1
                        ));
                    };
                    open = Some((i + 1, mark, String::new()));
                }
            }
            Some((start, mark, mut body)) => {
                if trimmed.starts_with("```") {
                    if let Some(no_run) = mark {
                        blocks.push(Block {
                            file: file.to_owned(),
                            line: start,
                            no_run,
                            text: body,
                        });
                    }
                } else {
                    body.push_str(line);
                    body.push('\n');
                    open = Some((start, mark, body));
                }
            }
        }
    }
    match open {
        Some((start, ..)) => Err(format!("{file}:{start}: fence never closed")),
        None => Ok(blocks),
    }
}

/// A directory holding `lnedge` (the binary under test) and the `cargo` shim.
fn shim_dir(root: &Path) -> PathBuf {
    let dir = root.join("bin");
    std::fs::create_dir_all(&dir).expect("bin dir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_lnedge"), dir.join("lnedge")).expect("link");
    let cargo = r#"#!/bin/sh
# cargo as the docs test runs it (crates/lnedge-cli/tests/it/docs.rs)
case "$1" in
  run) shift
       while [ $# -gt 0 ] && [ "$1" != "--" ]; do shift; done
       [ $# -gt 0 ] && shift
       exec lnedge "$@" ;;
  build) exit 0 ;;
  *) echo "docs test: \`cargo $*\` cannot run here; mark the block \`sh no-run: <reason>\`" >&2
     exit 97 ;;
esac
"#;
    let path = dir.join("cargo");
    std::fs::write(&path, cargo).expect("cargo shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

/// Kills process group `pgid`. The `--` matters: procps-ng 4.0.2's `kill -KILL -<n>` does not
/// read `-<n>` as a process group, and signals every process it may (as `-1` would).
fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// Runs one file's blocks as one script; `Err` holds its output.
fn run_file(blocks: &[&Block], bin: &Path) -> Result<Duration, String> {
    let work = tempfile::tempdir().expect("work dir");
    let port = crate::support::free_addr().port().to_string();
    let mut script = String::from(
        "set -euo pipefail\n\
         trap 'rc=$?; set +e; p=$(jobs -p); [ -z \"$p\" ] || kill $p 2>/dev/null; wait; exit $rc' EXIT\n",
    );
    for block in blocks {
        script.push_str(&format!(
            "echo '::: {}:{}' >&2\n{}\n",
            block.file,
            block.line,
            block.text.replace("18080", &port)
        ));
    }
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let log = work.path().join("output.txt");
    let output = std::fs::File::create(&log).expect("log");
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env("PATH", path)
        .env_remove("LNEDGE_GATEWAY_URL")
        .env_remove("LNEDGE_ADMIN_TOKEN")
        .env_remove("LNEDGE_PUBLIC_URL")
        .env_remove("LNEDGE_LOG")
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("log"))
        .stderr(output);
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let started = Instant::now();
    let mut child = command.spawn().expect("bash runs");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > DEADLINE {
            kill_group(child.id());
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // Whatever a block left running in the background goes with the group.
    kill_group(child.id());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Some(dir) = std::env::var_os("LNEDGE_DOCS_TRANSCRIPTS") {
        let name = blocks.first().map_or("none".into(), |b| b.file.replace('/', "_"));
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(format!("{name}.txt")), &text);
    }
    match status {
        Some(s) if s.success() => Ok(started.elapsed()),
        Some(s) => Err(format!("exited with {s}:\n{text}")),
        None => Err(format!("still running after {} s:\n{text}", DEADLINE.as_secs())),
    }
}

#[test]
fn the_block_parser_reads_marks_and_refuses_what_it_cannot_read() {
    let text =
        "x\n```sh\necho a\n```\n```sh no-run: needs a node\nlnedge x\n```\n```toml\na=1\n```\n";
    let blocks = shell_blocks("f.md", text).expect("parsed");
    assert_eq!(blocks.len(), 2);
    assert_eq!((blocks[0].line, blocks[0].no_run.as_deref()), (2, None));
    assert_eq!(blocks[0].text, "echo a\n");
    assert_eq!(blocks[1].no_run.as_deref(), Some("needs a node"));
    let err = shell_blocks("f.md", "```sh no-run:\nx\n```\n").expect_err("no reason");
    assert!(err.contains("f.md:1") && err.contains("without a reason"), "{err}");
    let err = shell_blocks("f.md", "```sh skip\nx\n```\n").expect_err("unknown mark");
    assert!(err.contains("unknown mark"), "{err}");
    let err = shell_blocks("f.md", "```sh\nx\n").expect_err("open fence");
    assert!(err.contains("never closed"), "{err}");
}

#[test]
#[ignore = "needs bash, curl and jq (CI installs them): runs every command block of the docs"]
fn every_command_block_of_the_docs_runs() {
    let root = repo_root();
    let mut blocks = Vec::new();
    for path in markdown_files(&root) {
        let name = path.strip_prefix(&root).expect("in repo").display().to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        blocks.extend(shell_blocks(&name, &text).unwrap_or_else(|e| panic!("{e}")));
    }
    let scratch = tempfile::tempdir().expect("scratch");
    let bin = shim_dir(scratch.path());
    let mut files: Vec<&str> = blocks.iter().map(|b| b.file.as_str()).collect();
    files.dedup();
    let (mut ran, mut skipped, mut failures) = (0usize, 0usize, Vec::new());
    for file in files {
        let runnable: Vec<&Block> =
            blocks.iter().filter(|b| b.file == file && b.no_run.is_none()).collect();
        skipped += blocks.iter().filter(|b| b.file == file && b.no_run.is_some()).count();
        if runnable.is_empty() {
            continue;
        }
        match run_file(&runnable, &bin) {
            Ok(took) => {
                ran += runnable.len();
                eprintln!("{file}: {} blocks ran in {:.1} s", runnable.len(), took.as_secs_f64());
            }
            Err(output) => failures.push(format!("{file}: {output}")),
        }
    }
    eprintln!("docs command blocks: {ran} executed, {skipped} marked no-run");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 10, "only {ran} blocks ran: did the parser lose them?");
}
