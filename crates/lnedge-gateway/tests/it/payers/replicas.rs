//! Two gateway replicas on one PostgreSQL database share a card's counter and its daily limit:
//! taps and callbacks spread over both never pay more than the day allows, and a reading used
//! at one replica is a replay at the other.

use std::sync::Arc;

use lnedge_gateway::api::app;
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::GatewayStore;
use serde_json::json;

use super::{gateway_state, world_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn two_replicas_on_postgres_share_a_cards_counter_and_daily_limit() {
    const AMOUNT: u64 = 1_000_000;
    const DAILY: u64 = 6_500_000; // six payments, not seven
    let db = crate::store::TestDatabase::create().await;
    let store: Arc<dyn GatewayStore> =
        Arc::new(PostgresStore::connect(&db.url).await.expect("replica 1"));
    let w = Arc::new(world_on(store, tempfile::tempdir().expect("dir")).await);
    let second: Arc<dyn GatewayStore> =
        Arc::new(PostgresStore::connect(&db.url).await.expect("replica 2"));
    let replica = app(gateway_state(second, w.owner.clone()));
    let (_, mut card) = w.card(json!({"per_payment_msat": AMOUNT, "per_day_msat": DAILY})).await;

    // A reading used at replica 1 is a replay at replica 2.
    let (p, c) = card.tap_reading().expect("tap");
    assert_eq!(w.tap_with(&p, &c).await["tag"], "withdrawRequest");
    let (_, replayed) =
        super::call(&replica, super::get(&format!("/v1/card?p={p}&c={c}"), false)).await;
    super::assert_lnurl_error(&replayed, "replayed_counter");

    // 20 sessions, then every callback at once, alternating replicas.
    let mut sessions = Vec::new();
    for _ in 0..20 {
        let request = w.tap(&mut card).await;
        let invoice = w.invoice(Some(AMOUNT)).await;
        sessions.push((request["k1"].as_str().expect("k1").to_owned(), invoice));
    }
    let mut tasks = Vec::new();
    for (i, (k1, invoice)) in sessions.iter().cloned().enumerate() {
        let router = if i % 2 == 0 { w.router.clone() } else { replica.clone() };
        tasks.push(tokio::spawn(async move {
            let uri = format!("/v1/card/callback?k1={k1}&pr={invoice}");
            super::call(&router, super::get(&uri, false)).await.1
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    let ok = answers.iter().filter(|a| a["status"] == "OK").count();
    assert!(
        answers.iter().filter(|a| a["status"] != "OK").all(|a| a["code"] == "over_daily_limit"),
        "{answers:?}"
    );
    let mut paid = 0;
    for (_, invoice) in &sessions {
        paid += w.received(invoice).await.unwrap_or(0);
    }
    assert!(paid <= DAILY, "paid {paid} over {DAILY}");
    assert_eq!(ok, 6, "{answers:?}");
    w.net.shutdown().await;
}
