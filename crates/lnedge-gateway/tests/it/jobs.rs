//! Provisioning jobs (large pools answer 202 and run in the background) and the pool top-up at
//! sync, through `oneshot` with a sandbox owner node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use lnedge_gateway::api::{app, AppState, MAX_SYNC_PROVISION_ENTRIES};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sync::{SignedUpload, SyncReport, SyncRequest};
use serde_json::{json, Value};

const TOKEN: &str = "jobs-test-admin-token";
const MASTER: [u8; 32] = [9; 32];

use crate::support::call_bytes as call;

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

async fn admin(
    router: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(body.map_or(Body::empty(), |b| Body::from(b.to_string())))
        .expect("request");
    call(router, request).await
}

async fn sync(router: &Router, device: &DeviceId, request: SyncRequest) -> Value {
    let SignedUpload { body, signature: sig } = request.signed(&device_sync_key(&MASTER, device));
    let request = Request::builder()
        .method("POST")
        .uri(format!("/v1/devices/{device}/sync"))
        .header("content-type", "application/json")
        .header("x-lnedge-signature", sig)
        .body(Body::from(body))
        .expect("request");
    let (status, body) = call(router, request).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    json_of(&body)
}

async fn setup(products: u16) -> (SandboxNetwork, Router, DeviceId) {
    let net = SandboxNetwork::new().await.expect("sandbox network");
    let owner = net.add_node("owner").await.expect("owner node");
    let router = app(AppState::new(
        Arc::new(SqliteStore::in_memory().expect("sqlite")),
        owner,
        Arc::new(PoolKey::generate()),
        MASTER,
        TOKEN,
    ));
    let device = DeviceId(rand::random());
    let products: Vec<Value> = (1..=products)
        .map(|id| json!({"id": id, "description": format!("product {id}"), "price_msat": 1_000 * u64::from(id)}))
        .collect();
    let (status, body) = admin(
        &router,
        "POST",
        "/v1/devices",
        Some(json!({"device_id": device.to_string(), "name": "jobs", "products": products})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    (net, router, device)
}

/// Provisions a small pool synchronously (201) and returns its JSON.
async fn small_pool(router: &Router, device: &DeviceId) -> Value {
    let uri = format!("/v1/devices/{device}/pools");
    let (status, body) =
        admin(router, "POST", &uri, Some(json!({"entries_per_product": 2, "expiry_days": 30})))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    json_of(&body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_pool_is_a_job_with_monotone_progress() {
    let (net, router, device) = setup(3).await;
    let uri = format!("/v1/devices/{device}/pools");
    // Validation still answers synchronously.
    let (status, _) =
        admin(&router, "POST", &uri, Some(json!({"entries_per_product": 0, "expiry_days": 30})))
            .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) =
        admin(&router, "POST", &uri, Some(json!({"entries_per_product": 100, "expiry_days": 30})))
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
    let started = json_of(&body);
    const { assert!(300 > MAX_SYNC_PROVISION_ENTRIES) };
    assert_eq!((started["status"].as_str(), started["done"].as_u64()), (Some("running"), Some(0)));
    assert_eq!(started["total"], 300);
    let job_uri = started["job"].as_str().expect("job link").to_owned();
    assert_eq!(job_uri, format!("/v1/jobs/{}", started["job_id"].as_str().expect("job id")));

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last_done = 0;
    let job = loop {
        let (status, body) = admin(&router, "GET", &job_uri, None).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let job = json_of(&body);
        let done = job["done"].as_u64().expect("done");
        assert!(done >= last_done, "progress went backwards: {last_done} → {done}");
        assert!(done <= 300 && job["total"] == 300, "{job}");
        last_done = done;
        match job["status"].as_str() {
            Some("running") => {}
            Some("done") => break job,
            other => panic!("job {other:?}: {job}"),
        }
        assert!(Instant::now() < deadline, "the job did not finish in time: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(job["done"], 300);
    let pool = &job["pool"];
    assert_eq!(
        (pool["entries"].as_u64(), pool["device_id"].as_str()),
        (Some(300), Some(&*device.to_string()))
    );

    // Listed under the device, and downloadable.
    let (_, body) = admin(&router, "GET", &format!("/v1/devices/{device}"), None).await;
    let shown = json_of(&body);
    let listed = shown["pools"].as_array().expect("pools");
    assert!(
        listed.iter().any(|p| p["pool_id"] == pool["pool_id"] && p["entries"] == 300),
        "{shown}"
    );
    let (status, file) = admin(&router, "GET", pool["file"].as_str().expect("file"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(file.len() as u64, pool["bytes"].as_u64().expect("bytes"));
    assert_eq!(lnedge_proto::pool::Pool::parse(&file).expect("parses").len(), 300);

    // An unknown job is a JSON 404.
    let (status, body) = admin(&router, "GET", "/v1/jobs/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(json_of(&body)["error"]["code"], "unknown_job");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_lists_the_pools_the_device_has_not_reported() {
    let (net, router, device) = setup(1).await;
    let a = small_pool(&router, &device).await;
    let a_id = PoolId(
        hex::decode(a["pool_id"].as_str().expect("id")).expect("hex").try_into().expect("8 bytes"),
    );

    // Nothing reported yet: every pool is new.
    let r = sync(&router, &device, SyncRequest::new(1, [])).await;
    let pools = r["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 1, "{r}");
    assert_eq!(
        (&pools[0]["pool_id"], &pools[0]["file"], &pools[0]["entries"]),
        (&a["pool_id"], &a["file"], &json!(2))
    );
    assert!(pools[0].get("hex").is_none(), "{r}");

    // Reporting A: nothing newer.
    let r = sync(
        &router,
        &device,
        SyncRequest::new(2, [SyncReport { pool_id: a_id, index: 0, state: EntryState::Offered }]),
    )
    .await;
    assert_eq!(r["pools"], json!([]), "{r}");

    // B provisioned: listed at the next sync, with its bytes when asked.
    let b = small_pool(&router, &device).await;
    let r = sync(&router, &device, SyncRequest::new(3, [])).await;
    let pools = r["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 1, "{r}");
    assert_eq!(pools[0]["pool_id"], b["pool_id"]);
    let r = sync(&router, &device, SyncRequest::new(4, []).with_pool_files()).await;
    let pools = r["pools"].as_array().expect("pools");
    assert_eq!((pools.len(), &pools[0]["pool_id"]), (1, &b["pool_id"]), "{r}");
    let (_, file) = admin(&router, "GET", b["file"].as_str().expect("file"), None).await;
    assert_eq!(hex::decode(pools[0]["hex"].as_str().expect("hex")).expect("hex"), file);
    net.shutdown().await;
}

/// Two replicas on one database: a job started on one is followed on the other (running, then
/// done with its pool) — what a load balancer without sticky sessions does to the progress
/// page; a job whose replica stopped writing is reported failed, `job_lost`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_replica_follows_the_job_and_a_silent_one_is_lost() {
    use lnedge_gateway::store::jobs::{JobRecord, JobState, JobStore};
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("gateway.sqlite3");
    let net = SandboxNetwork::new().await.expect("sandbox network");
    let owner = net.add_node("owner").await.expect("owner node");
    let pool_key = Arc::new(PoolKey::generate());
    let replica = |owner: Arc<lnedge_node::sandbox::SandboxNode>| {
        let store = Arc::new(SqliteStore::open(&path).expect("store"));
        app(AppState::new(store, owner, pool_key.clone(), MASTER, TOKEN))
    };
    let (a, b) = (replica(owner.clone()), replica(owner));
    let device = DeviceId(rand::random());
    let products = json!([{"id": 1, "description": "tea", "price_msat": 1_000}]);
    let enrol = json!({"device_id": device.to_string(), "name": "replicas", "products": products});
    let (status, _) = admin(&a, "POST", "/v1/devices", Some(enrol)).await;
    assert_eq!(status, StatusCode::CREATED);
    let uri = format!("/v1/devices/{device}/pools");
    let (status, body) =
        admin(&a, "POST", &uri, Some(json!({"entries_per_product": 300, "expiry_days": 30}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{}", String::from_utf8_lossy(&body));
    let job_uri = json_of(&body)["job"].as_str().expect("job").to_owned();

    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen_running = false;
    let job = loop {
        let (status, body) = admin(&b, "GET", &job_uri, None).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "replica b knows a's job: {}",
            String::from_utf8_lossy(&body)
        );
        let job = json_of(&body);
        match job["status"].as_str() {
            Some("running") => seen_running = true,
            Some("done") => break job,
            other => panic!("job {other:?}: {job}"),
        }
        assert!(Instant::now() < deadline, "the job did not finish in time: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(seen_running, "b saw it running first");
    assert_eq!((job["done"].as_u64(), job["pool"]["entries"].as_u64()), (Some(300), Some(300)));

    // A replica that died mid-job: its record stops being written.
    let store = SqliteStore::open(&path).expect("store");
    let id = hex::encode([0x77u8; 16]);
    let then = crate::support::now_secs() - 3_600;
    let lost = JobRecord {
        id: id.clone(),
        state: JobState::Running,
        done: 17,
        total: 200,
        outcome_json: None,
        created_at: then,
        updated_at: then,
    };
    store.put_job(&lost).await.expect("write");
    let (status, body) = admin(&b, "GET", &format!("/v1/jobs/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    let job = json_of(&body);
    assert_eq!((job["status"].as_str(), job["done"].as_u64()), (Some("failed"), Some(17)), "{job}");
    assert_eq!(job["error"]["code"], "job_lost", "{job}");
    net.shutdown().await;
}
