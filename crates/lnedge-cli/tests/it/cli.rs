//! Runs the real `lnedge` binary: flags, errors, pool provisioning and the simulated machine.

use std::io::Write;
use std::process::{Command, Output, Stdio};

pub(crate) fn lnedge(args: &[&str], stdin: &str) -> Output {
    lnedge_env(args, &[], stdin)
}

/// Runs `lnedge args` with the environment variables `env` and `stdin`; a command that exits
/// before reading all of its input is no error here (its output says what happened).
pub(crate) fn lnedge_env(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lnedge"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lnedge runs");
    let written = child.stdin.take().expect("stdin").write_all(stdin.as_bytes());
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "writing stdin: {e}");
    }
    child.wait_with_output().expect("lnedge finishes")
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_reads_well_and_bad_flags_are_named() {
    let out = lnedge(&["--help"], "");
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["demo", "bench", "pool", "device", "card"] {
        assert!(help.contains(word), "help mentions {word}: {help}");
    }
    let out = lnedge(&["demo", "--frobnicate"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--frobnicate'"));
    let out = lnedge(&["pool", "inspect", "/nonexistent/pool.bin"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("reading /nonexistent/pool.bin"), "{}", text(&out.stderr));
}

#[test]
fn provision_inspect_and_run_a_simulated_machine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pool = dir.path().join("pool.bin");
    let key = dir.path().join("pool.key");
    let device = "0123456789abcdef0123456789abcdef";
    let pool_s = pool.to_str().expect("utf-8 path");
    let out = lnedge(
        &[
            "pool",
            "provision",
            "--sandbox",
            "--device",
            device,
            "--product",
            "1:cola:2500sat",
            "--product",
            "2:crisps:1800",
            "--entries",
            "5",
            "--pool-key",
            key.to_str().expect("utf-8"),
            "--out",
            pool_s,
        ],
        "",
    );
    assert!(out.status.success(), "provision: {}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(report.contains("10 invoices"), "{report}");
    assert!(key.exists(), "the pool key file was created");

    // Refuses to overwrite.
    let again = lnedge(
        &[
            "pool",
            "provision",
            "--sandbox",
            "--device",
            device,
            "--product",
            "1:x:1",
            "--out",
            pool_s,
        ],
        "",
    );
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("refusing to overwrite"));

    let out = lnedge(&["pool", "inspect", pool_s, "--show", "2"], "");
    assert!(out.status.success(), "inspect: {}", text(&out.stderr));
    let inspected = text(&out.stdout);
    assert!(inspected.contains("signatures: all 10 recover the owner node id"), "{inspected}");
    assert!(inspected.contains("lnbcrt25u1"), "prints the invoices: {inspected}");
    let owner = inspected
        .lines()
        .find_map(|l| l.trim().strip_prefix("owner").map(|o| o.trim().to_owned()))
        .expect("owner line");

    // A scripted session: products, an offer, garbage, an unknown preimage, a bad command.
    let machine = dir.path().join("machine");
    let script = "products\nbuy 1\nclaim hello\nclaim 0000000000000000000000000000000000000000000000000000000000000000\nbuy 9\nfly\nstatus\nquit\n";
    let out = lnedge(
        &[
            "device",
            "simulate",
            "--dir",
            machine.to_str().expect("utf-8"),
            "--device",
            device,
            "--owner",
            &owner,
            "--pool",
            pool_s,
            "--no-qr",
        ],
        script,
    );
    assert!(out.status.success(), "simulate: {}", text(&out.stderr));
    let session = text(&out.stdout);
    assert!(session.contains("[1] cola"), "{session}");
    assert!(session.contains("invoice 0 for product 1: lnbcrt25u1"), "{session}");
    assert!(session.contains("refused: not a payment proof"), "{session}");
    assert_eq!(
        session.matches("not a bech32 character").count(),
        1,
        "the cause is said once: {session}"
    );
    assert!(
        session.contains("refused: this preimage pays no invoice of this machine"),
        "{session}"
    );
    assert!(session.contains("refused: product 9 is not sold by this machine"), "{session}");
    assert!(session.contains("refused: unknown command \"fly\""), "{session}");
    assert!(session.contains("9 unused, 1 offered"), "{session}");

    // A pool for another owner is refused at install.
    let other_owner = format!("02{}", "11".repeat(32));
    let other = dir.path().join("machine2");
    let out = lnedge(
        &[
            "device",
            "simulate",
            "--dir",
            other.to_str().expect("utf-8"),
            "--device",
            device,
            "--owner",
            &other_owner,
            "--pool",
            pool_s,
            "--no-qr",
        ],
        "quit\n",
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("pool refused"), "{}", text(&out.stderr));
}

#[test]
fn payee_claim_names_what_is_missing() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("payee.json");
    let state_s = state.to_str().expect("utf-8");
    let env = [("LNEDGE_ADMIN_TOKEN", "an-admin-token-of-enough-length")];
    let out = lnedge_env(&["payee", "claim", "--state", state_s], &env, "");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("reading the payee state file") && err.contains("payee.json"), "{err}");

    std::fs::write(
        &state,
        r#"{"gateway":"http://127.0.0.1:9","payee_id":"ab","payee_key":"00000000000000000000000000000000000000000000000000000000000000aa"}"#,
    )
    .expect("state");
    let missing = dir.path().join("nope.json");
    let out = lnedge_env(
        &["payee", "claim", "--state", state_s, "--preimages", missing.to_str().expect("utf-8")],
        &env,
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nope.json: no such preimage file"), "{err}");
}
