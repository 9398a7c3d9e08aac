//! `lnedge card …` against a running `lnedge gateway serve` (sandbox node, SQLite): a card is
//! issued programmed (programming JSON and its QR) or pending (deeplink), tapped once (a
//! simulated chip), listed, disabled, enabled, given new limits and wiped; the gateway's
//! refusals come out with their code and message, and a non-zero exit.

use lnedge_device::card::SimulatedCard;
use lnedge_wire::lnurl::WithdrawRequest;
use lnedge_wire::payers::{CardProgramming, CardWipe};

use crate::cli::{lnedge_env, text};
use crate::support::serve;

const TOKEN: &str = "card-cli-test-token";
const UID: &str = "04996c6a926980";

/// The line after the one that starts with `heading`.
fn line_after<'a>(out: &'a str, heading: &str) -> &'a str {
    let mut lines = out.lines();
    lines.find(|l| l.starts_with(heading)).unwrap_or_else(|| panic!("no {heading:?}: {out}"));
    lines.next().unwrap_or_else(|| panic!("nothing after {heading:?}: {out}"))
}

#[test]
fn cards_are_issued_listed_disabled_enabled_limited_and_wiped_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = serve(dir.path(), TOKEN, &runtime);
    let base = gateway.base.as_str();
    let env = [("LNEDGE_ADMIN_TOKEN", TOKEN)];
    let card = |args: &[&str]| {
        let mut all = vec!["card"];
        all.extend_from_slice(&args[..1]);
        all.extend_from_slice(&["--gateway", base]);
        all.extend_from_slice(&args[1..]);
        lnedge_env(&all, &env, "")
    };

    // Programmed at once: the programming JSON, and its QR code.
    let out = card(&[
        "issue",
        "--name",
        "Alice",
        "--per-payment-sat",
        "50000",
        "--per-day-sat",
        "100000",
        "--uid",
        UID,
    ]);
    let issued = text(&out.stdout);
    assert!(out.status.success(), "{issued}{}", text(&out.stderr));
    assert!(issued.contains("\"Alice\" issued: active"), "{issued}");
    assert!(issued.contains("limits 50 000 sat per payment, 100 000 sat per day"), "{issued}");
    let json = line_after(&issued, "programming JSON");
    let programming: CardProgramming = serde_json::from_str(json).expect("programming JSON");
    assert_eq!(programming.protocol_name, "create_bolt_card_response");
    assert_eq!(programming.lnurlw_base, format!("lnurlw://{}/v1/card", &base[7..]));
    assert!(issued.contains('█') || issued.contains('▀'), "a QR code is drawn: {issued}");
    let id = programming.id.clone();

    // The chip taps once (the gateway stores the counter the list shows).
    let mut chip = SimulatedCard::programmed(
        UID,
        &programming.keys.k1,
        &programming.keys.k2,
        &programming.lnurlw_base,
    )
    .expect("chip");
    let url = chip.tap().expect("tap").replacen("lnurlw://", "http://", 1);
    let request: WithdrawRequest = runtime.block_on(async {
        reqwest::get(&url).await.expect("tap").json().await.expect("withdraw request")
    });
    assert_eq!(request.max_withdrawable, 50_000_000);

    // Pending: the programmer app's deeplink and link.
    let out = card(&[
        "issue",
        "--name",
        "Festival card",
        "--pin",
        "1234",
        "--pin-limit-sat",
        "20000",
        "--no-qr",
    ]);
    let pending = text(&out.stdout);
    assert!(out.status.success(), "{pending}{}", text(&out.stderr));
    assert!(pending.contains("\"Festival card\" issued: pending"), "{pending}");
    assert!(pending.contains("PIN asked from 20 000 sat"), "{pending}");
    assert!(pending.contains(&format!("program URL {base}/v1/cards/program/")), "{pending}");
    assert!(
        pending.contains("deeplink    boltcard://program?url=http%3A%2F%2F127.0.0.1"),
        "{pending}"
    );
    assert!(!pending.contains('█'), "--no-qr: {pending}");
    let festival = pending
        .lines()
        .find_map(|l| l.strip_prefix("card ").and_then(|l| l.split_whitespace().next()))
        .expect("the pending card's id")
        .to_owned();

    // The gateway's refusals: code and message, exit 1.
    let out = card(&["issue", "--name", "Bob", "--uid", UID]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("the gateway refused POST /v1/cards (409 uid_taken)"), "{err}");
    let out = card(&["issue", "--name", ""]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("(400 invalid_field)"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("[field name]"), "{}", text(&out.stderr));
    let out = lnedge_env(&["card", "list", "--gateway", base, "--admin-token", "wrong"], &[], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("(401 "), "{}", text(&out.stderr));
    let out = card(&["disable", "0011"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not a card id"), "{}", text(&out.stderr));

    // The table.
    let out = card(&["list"]);
    let list = text(&out.stdout);
    assert!(out.status.success(), "{list}{}", text(&out.stderr));
    let header = list.lines().next().expect("header");
    for column in ["id", "name", "state", "uid", "counter", "per payment", "per day", "spent today"]
    {
        assert!(header.contains(column), "{header}");
    }
    let alice = list.lines().find(|l| l.starts_with(&id)).unwrap_or_else(|| panic!("{list}"));
    for cell in ["Alice", "active", UID, " 1 ", "50 000 sat", "100 000 sat"] {
        assert!(alice.contains(cell), "{cell:?} in {alice}");
    }
    assert!(alice.ends_with(" 0 sat"), "nothing spent yet: {alice}");
    let row = list.lines().find(|l| l.starts_with(&festival)).unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains("pending"), "{row}");
    assert!(list.lines().last().is_some_and(|l| l.ends_with(" card(s)")), "{list}");

    // Disable, enable, limits.
    let out = card(&["disable", &id]);
    assert!(text(&out.stdout).contains("\"Alice\": disabled"), "{}", text(&out.stdout));
    let out = card(&["list"]);
    assert!(text(&out.stdout).lines().any(|l| l.starts_with(&id) && l.contains("disabled")));
    let out = card(&["enable", &id]);
    assert!(text(&out.stdout).contains("\"Alice\": active"), "{}", text(&out.stdout));
    let out = card(&["limits", &id, "--per-payment-sat", "10000", "--per-day-msat", "20000000"]);
    assert!(
        text(&out.stdout).contains("10 000 sat per payment, 20 000 sat per day"),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    // Wipe: the wipe JSON carries the card's own keys; a pending card has nothing to reset.
    let out = card(&["wipe", &id]);
    let wiped = text(&out.stdout);
    assert!(out.status.success(), "{wiped}{}", text(&out.stderr));
    assert!(wiped.contains("\"Alice\": wiped; it never pays again"), "{wiped}");
    let wipe: CardWipe = serde_json::from_str(line_after(&wiped, "wipe JSON")).expect("wipe JSON");
    assert_eq!((wipe.action.as_str(), wipe.uid.as_str()), ("wipe", UID));
    assert_eq!((&wipe.keys.k1, &wipe.keys.k2), (&programming.keys.k1, &programming.keys.k2));
    assert!(wiped.contains('█') || wiped.contains('▀'), "the wipe QR: {wiped}");
    let out = card(&["wipe", &festival, "--no-qr"]);
    assert!(text(&out.stdout).contains("never programmed"), "{}", text(&out.stdout));
    let out = card(&["enable", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("payer_wiped"), "{}", text(&out.stderr));

    // Payer devices: enrolled (the key printed once), listed; `card payments` answers (none
    // were paid here: the served gateway's node has no channels).
    let payer = |args: &[&str]| {
        let mut all = vec!["payer"];
        all.extend_from_slice(&args[..1]);
        all.extend_from_slice(&["--gateway", base]);
        all.extend_from_slice(&args[1..]);
        lnedge_env(&all, &env, "")
    };
    let out = payer(&["enrol", "--name", "Car 7", "--per-payment-sat", "2000"]);
    let enrolled = text(&out.stdout);
    assert!(out.status.success(), "{enrolled}{}", text(&out.stderr));
    assert!(enrolled.contains("\"Car 7\" enrolled: active"), "{enrolled}");
    let key = enrolled
        .lines()
        .find_map(|l| l.strip_prefix("token key "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("{enrolled}"));
    assert_eq!(key.len(), 64, "{enrolled}");
    let out = payer(&["list"]);
    assert!(text(&out.stdout).contains("Car 7"), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("1 payer device(s)"), "{}", text(&out.stdout));
    let out = payer(&["enrol", "--name", "", "--id", "zz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a card id"), "{}", text(&out.stderr));
    let out = card(&["payments"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 payment(s)"), "{}", text(&out.stdout));
}
