//! `lnedge device sync` against a running `lnedge gateway serve` (sandbox node, SQLite): the
//! simulated machine's ledger reaches the gateway signed by `lnedge-device` itself, a wrong key
//! is refused, and a pool provisioned meanwhile is installed with `--install`.

use serde_json::{json, Value};

use crate::cli::{lnedge, text};
use crate::support::serve;

const TOKEN: &str = "device-sync-test-token";
const DEVICE: &str = "00112233445566778899aabbccddeeff";

async fn admin(http: &reqwest::Client, method: &str, url: &str, body: Option<Value>) -> Value {
    let mut request = match method {
        "POST" => http.post(url),
        _ => http.get(url),
    }
    .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert!(status.is_success(), "{method} {url} → {status}: {body}");
    body
}

#[test]
fn a_simulated_machine_syncs_and_tops_up_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = serve(dir.path(), TOKEN, &runtime);
    let base = gateway.base.clone();
    let http = reqwest::Client::new();

    // Enrol, provision, download.
    let (pool_file, owner, sync_key) = runtime.block_on(async {
        let enrol = json!({"device_id": DEVICE, "name": "cli test",
            "products": [{"id": 1, "description": "cola", "price_msat": 2_500_000}]});
        admin(&http, "POST", &format!("{base}/v1/devices"), Some(enrol)).await;
        let ask = json!({"entries_per_product": 3, "expiry_days": 30});
        let pools = format!("{base}/v1/devices/{DEVICE}/pools");
        let pool = admin(&http, "POST", &pools, Some(ask)).await;
        let file = pool["file"].as_str().expect("file link");
        let bytes = http
            .get(format!("{base}{file}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("file")
            .bytes()
            .await
            .expect("bytes");
        let key = admin(&http, "GET", &format!("{base}/v1/devices/{DEVICE}/sync-key"), None).await;
        (
            bytes.to_vec(),
            pool["owner_node_id"].as_str().expect("owner").to_owned(),
            key["sync_key"].as_str().expect("sync key").to_owned(),
        )
    });
    let pool_path = dir.path().join("pool.bin");
    std::fs::write(&pool_path, pool_file).expect("pool file");
    let machine = dir.path().join("machine");
    let machine_s = machine.to_str().expect("utf-8");

    // The machine, offline, shows an invoice: that entry is now `offered` in its ledger.
    let out = lnedge(
        &[
            "device",
            "simulate",
            "--dir",
            machine_s,
            "--device",
            DEVICE,
            "--owner",
            &owner,
            "--pool",
            pool_path.to_str().expect("utf-8"),
            "--no-qr",
        ],
        "buy 1\nquit\n",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // A wrong key is refused by the gateway, and the command says so.
    let wrong = "00".repeat(32);
    let out = lnedge(
        &["device", "sync", "--dir", machine_s, "--gateway", &base, "--sync-key", &wrong],
        "",
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("401"), "{}", text(&out.stderr));

    // The right key: the offered entry is applied.
    let sync = ["device", "sync", "--dir", machine_s, "--gateway", &base, "--sync-key", &sync_key];
    let out = lnedge(&sync, "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("1 applied"), "{}", text(&out.stdout));

    // A second pool provisioned meanwhile: announced, then installed with --install.
    runtime.block_on(async {
        let ask = json!({"entries_per_product": 2, "expiry_days": 30});
        admin(&http, "POST", &format!("{base}/v1/devices/{DEVICE}/pools"), Some(ask)).await;
    });
    let out = lnedge(&sync, "");
    assert!(text(&out.stdout).contains("run again with --install"), "{}", text(&out.stdout));
    let out = lnedge(&[&sync[..], &["--install"]].concat(), "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("installed new pool"), "{}", text(&out.stdout));
}
