//! Open routes fill tables: nothing may grow for ever (issue #12 item 4). Found before the fix:
//! `GET /v1/auth/lnurl` inserted a challenge per request and nothing ever deleted expired
//! challenges or sessions.

use std::sync::Arc;

use lnedge_gateway::clock::ManualClock;
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::refunds::PURGE_GRACE_SECS;
use lnedge_gateway::store::refunds::AuthOutcome;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNetwork;

/// The engine purges what expired more than the grace ago, on its clock, and keeps the rest.
#[tokio::test]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn expired_challenges_are_purged_after_the_grace() {
    let net = SandboxNetwork::new().await.expect("sandbox");
    let owner = net.add_node("owner").await.expect("owner");
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory().expect("store"));
    let clock = Arc::new(ManualClock::at(1_000_000));
    let gateway = GatewayBuilder::new(store.clone(), owner, Arc::new(PoolKey::generate()), [1; 32])
        .clock(clock.clone())
        .build();

    // 1 000 challenges from a flood, expiring at 1 000 600; one more that expires later.
    for _ in 0..1_000 {
        store
            .insert_auth_challenge(&rand::random(), &rand::random(), 1_000_000, 1_000_600)
            .await
            .unwrap();
    }
    let (late_k1, late_token): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
    let late_expiry = 1_000_600 + PURGE_GRACE_SECS + 1_000;
    store.insert_auth_challenge(&late_k1, &late_token, 1_000_000, late_expiry).await.unwrap();

    // Expired, but within the grace: kept.
    clock.advance(600 + PURGE_GRACE_SECS - 1);
    assert_eq!(gateway.refunds().purge_expired_auth().await.unwrap(), 0);
    // Past the grace: the flood goes, the later challenge stays and still works.
    clock.advance(2);
    assert_eq!(gateway.refunds().purge_expired_auth().await.unwrap(), 1_000);
    let now = 1_000_000 + 600 + PURGE_GRACE_SECS + 1;
    assert_eq!(
        store.complete_auth(&late_k1, "02ab", now, now + 60).await.unwrap(),
        AuthOutcome::Completed
    );
}
