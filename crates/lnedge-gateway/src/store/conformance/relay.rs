//! Conformance scenarios of [`RelayStore`](crate::store::relay::RelayStore).

use crate::store::relay::{PayeeRecord, RelayFilter, RelayPayment, RelayState};
use crate::store::{GatewayStore, StoreError};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    payees_and_hashes(store).await;
    hashes_are_used_once(store).await;
    updates_are_compare_and_set(store).await;
}

/// Enrols a fresh payee and returns its id.
pub async fn new_payee(store: &dyn GatewayStore) -> String {
    let id = hex::encode(rand::random::<[u8; 16]>());
    let payee =
        PayeeRecord { id: id.clone(), name: "sensor".into(), webhook_url: None, created_at: 5 };
    store.insert_payee(&payee).await.expect("insert payee");
    id
}

fn template(payee: &str) -> RelayPayment {
    RelayPayment::offered([0; 32], payee, 21_000, "a reading", 100, 200)
}

/// Payees, webhooks, committed hashes and their ownership.
pub async fn payees_and_hashes(store: &dyn GatewayStore) {
    let who = store.name();
    let id = new_payee(store).await;
    let dup =
        PayeeRecord { id: id.clone(), name: "again".into(), webhook_url: None, created_at: 6 };
    assert!(store.insert_payee(&dup).await.is_err(), "{who}: a duplicate payee is refused");
    let payee = store.payee(&id).await.expect("read").expect("exists");
    assert_eq!(
        (payee.name.as_str(), payee.webhook_url.as_deref(), payee.created_at),
        ("sensor", None, 5)
    );
    assert!(store.set_payee_webhook(&id, Some("http://x/hook")).await.expect("set"));
    let payee = store.payee(&id).await.expect("read").expect("exists");
    assert_eq!(payee.webhook_url.as_deref(), Some("http://x/hook"), "{who}");
    assert!(!store.set_payee_webhook("00", None).await.expect("set"), "{who}: unknown payee");
    assert!(store.payee("nobody").await.expect("read").is_none());

    let hashes: Vec<[u8; 32]> = (0..3).map(|_| rand::random()).collect();
    assert_eq!(store.commit_hashes(&id, &hashes, 10).await.expect("commit"), 3, "{who}");
    assert_eq!(store.commit_hashes(&id, &hashes[..2], 11).await.expect("again"), 0, "{who}");
    assert_eq!(store.unused_hash_count(&id).await.expect("count"), 3, "{who}");
    let other = new_payee(store).await;
    let stolen = [hashes[0], rand::random()];
    assert!(
        matches!(store.commit_hashes(&other, &stolen, 12).await, Err(StoreError::HashTaken)),
        "{who}: a hash committed by another payee is refused, as HashTaken"
    );
    assert_eq!(
        store.unused_hash_count(&other).await.expect("count"),
        0,
        "{who}: a refused commit adds nothing"
    );
}

/// Each committed hash is taken by one payment, once.
pub async fn hashes_are_used_once(store: &dyn GatewayStore) {
    let who = store.name();
    let id = new_payee(store).await;
    let hashes: Vec<[u8; 32]> = (0..2).map(|_| rand::random()).collect();
    store.commit_hashes(&id, &hashes, 10).await.expect("commit");
    let a = store.take_unused_hash(&template(&id)).await.expect("take").expect("one");
    let b = store.take_unused_hash(&template(&id)).await.expect("take").expect("two");
    assert_ne!(a.payment_hash, b.payment_hash, "{who}: two payments, two hashes");
    assert!(hashes.contains(&a.payment_hash) && hashes.contains(&b.payment_hash), "{who}");
    assert!(store.take_unused_hash(&template(&id)).await.expect("take").is_none(), "{who}");
    assert_eq!(store.unused_hash_count(&id).await.expect("count"), 0, "{who}");
    // Re-committing a used hash does not make it usable again.
    assert_eq!(store.commit_hashes(&id, &hashes, 11).await.expect("commit"), 0, "{who}");
    assert!(store.take_unused_hash(&template(&id)).await.expect("take").is_none(), "{who}");
    let stored = store.relay_payment(&a.payment_hash).await.expect("read").expect("exists");
    assert_eq!(stored, a, "{who}: stored as taken");
    assert_eq!(stored.state, RelayState::Offered);
}

/// Updates are optimistic compare-and-set on the version; lists filter by payee and activity.
pub async fn updates_are_compare_and_set(store: &dyn GatewayStore) {
    let who = store.name();
    let id = new_payee(store).await;
    store.commit_hashes(&id, &[rand::random(), rand::random()], 10).await.expect("commit");
    let first = store.take_unused_hash(&template(&id)).await.expect("take").expect("one");
    let second = store.take_unused_hash(&template(&id)).await.expect("take").expect("two");

    let mut held = first.clone();
    held.state = RelayState::Held;
    held.held_amount_msat = Some(21_000);
    held.claim_deadline_height = Some(4_000_000_000);
    held.held_at = Some(150);
    held.fee_msat = Some(21);
    held.reason = Some("why".into());
    let held = store.update_relay_payment(&held).await.expect("update").expect("won");
    assert_eq!(held.version, 1, "{who}");
    assert_eq!(store.relay_payment(&first.payment_hash).await.expect("read"), Some(held.clone()));

    // A writer that read version 0 loses.
    let mut stale = first.clone();
    stale.state = RelayState::Expired;
    assert!(store.update_relay_payment(&stale).await.expect("update").is_none(), "{who}: stale");

    let mut fwd = held.clone();
    fwd.state = RelayState::Forwarding;
    fwd.claim_bolt11 = Some("lnbcrt1...".into());
    fwd.attempts = 1;
    fwd.preimage = Some([9; 32]);
    fwd.notified = true;
    fwd.notify_attempts = 2;
    fwd.next_notify_at = 999;
    let fwd = store.update_relay_payment(&fwd).await.expect("update").expect("won");
    let mut settled = fwd.clone();
    settled.state = RelayState::Settled;
    let settled = store.update_relay_payment(&settled).await.expect("update").expect("won");
    assert_eq!(store.relay_payment(&first.payment_hash).await.expect("read"), Some(settled));

    let all = RelayFilter { payee_id: Some(id.clone()), active_only: false };
    let active = RelayFilter { payee_id: Some(id.clone()), active_only: true };
    let listed = store.relay_payments(&all).await.expect("list");
    assert_eq!(listed.len(), 2, "{who}");
    let listed = store.relay_payments(&active).await.expect("list");
    assert_eq!(listed.len(), 1, "{who}: the settled one is not active");
    assert_eq!(listed[0].payment_hash, second.payment_hash);
    let everyone = store.relay_payments(&RelayFilter::default()).await.expect("list");
    assert!(everyone.iter().any(|p| p.payment_hash == second.payment_hash), "{who}");
    let mut ghost = template(&id);
    ghost.payment_hash = rand::random();
    assert!(store.update_relay_payment(&ghost).await.expect("update").is_none(), "{who}: unknown");
}
