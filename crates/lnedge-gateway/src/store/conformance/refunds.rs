//! Conformance scenarios of [`RefundStore`](crate::store::refunds::RefundStore).

use std::sync::Arc;

use crate::store::refunds::{
    AuthOutcome, ClaimOutcome, RefundFinish, RefundRecord, RefundState, SessionRecord,
};
use crate::store::{GatewayStore, PaymentRecord};

use super::{enrol, new_device_id, new_pool_id};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    refund_lifecycle(store).await;
    refund_expiry(store).await;
    attestation_flags(store).await;
    sessions(store).await;
    lnurl_auth(store).await;
    purge_expired_auth(store).await;
}

/// A due refund for a random payment hash (no device row needed).
pub fn sample_refund(created_at: u64, expires_at: u64) -> RefundRecord {
    RefundRecord {
        payment_hash: rand::random(),
        device_id: new_device_id(),
        pool_id: new_pool_id(),
        index: 3,
        amount_msat: 1_800_000,
        state: RefundState::Due,
        attested: false,
        created_at,
        expires_at,
        k1: None,
        claim_invoice: None,
        claimed_at: None,
        paid_at: None,
        last_error: None,
    }
}

/// Open (idempotent), bind k1 (first wins), claim (compare-and-set), fail back to due, claim
/// again, pay; a paid refund cannot be claimed again.
pub async fn refund_lifecycle(store: &dyn GatewayStore) {
    let r = sample_refund(1_000, 9_000);
    let opened = store.open_refund(&r).await.expect("open");
    assert_eq!(opened, r);
    let again = store.open_refund(&RefundRecord { amount_msat: 1, ..r.clone() }).await.expect("re");
    assert_eq!(again.amount_msat, r.amount_msat, "the first opening stays");
    assert!(store.recorded_payment(&r.payment_hash).await.expect("payment").is_none());
    store
        .record_payment(&PaymentRecord {
            payment_hash: r.payment_hash,
            amount_msat: 1_800_000,
            paid_at: 900,
            quote: None,
        })
        .await
        .expect("record");
    let paid = store.recorded_payment(&r.payment_hash).await.expect("payment").expect("some");
    assert_eq!(paid.amount_msat, 1_800_000);

    let k1: [u8; 32] = rand::random();
    let bound = store.bind_refund_k1(&r.payment_hash, &k1).await.expect("bind").expect("some");
    assert_eq!(bound.k1, Some(k1));
    let other: [u8; 32] = rand::random();
    let rebound = store.bind_refund_k1(&r.payment_hash, &other).await.expect("bind").expect("s");
    assert_eq!(rebound.k1, Some(k1), "the first k1 stays bound");
    assert!(store.bind_refund_k1(&rand::random(), &other).await.expect("bind").is_none());
    assert_eq!(
        store.refund_by_k1(&k1).await.expect("by k1").map(|r| r.payment_hash),
        Some(r.payment_hash)
    );

    assert_eq!(
        store.claim_refund(&other, "lnbc1x", 2_000).await.expect("claim"),
        ClaimOutcome::UnknownK1
    );
    let ClaimOutcome::Claimed(claimed) = store.claim_refund(&k1, "lnbc1a", 2_000).await.expect("c")
    else {
        panic!("the first claim wins");
    };
    assert_eq!(claimed.state, RefundState::Claimed);
    assert_eq!(claimed.claim_invoice.as_deref(), Some("lnbc1a"));
    assert!(matches!(
        store.claim_refund(&k1, "lnbc1b", 2_001).await.expect("claim"),
        ClaimOutcome::NotDue(r) if r.claim_invoice.as_deref() == Some("lnbc1a")
    ));
    let failed = RefundFinish::Failed { error: "no route".into() };
    assert!(store.finish_refund(&r.payment_hash, &failed).await.expect("finish"));
    let back = store.refund(&r.payment_hash).await.expect("read").expect("some");
    assert_eq!(
        (back.state, back.claim_invoice, back.last_error.as_deref()),
        (RefundState::Due, None, Some("no route"))
    );
    assert!(matches!(
        store.claim_refund(&k1, "lnbc1c", 2_002).await.expect("c"),
        ClaimOutcome::Claimed(_)
    ));
    assert!(store
        .finish_refund(&r.payment_hash, &RefundFinish::Paid { paid_at: 2_003 })
        .await
        .expect("paid"));
    assert!(!store.finish_refund(&r.payment_hash, &failed).await.expect("no-op"), "paid is final");
    let done = store.refund(&r.payment_hash).await.expect("read").expect("some");
    assert_eq!((done.state, done.paid_at), (RefundState::Paid, Some(2_003)));
    assert!(matches!(
        store.claim_refund(&k1, "lnbc1d", 2_004).await.expect("c"),
        ClaimOutcome::NotDue(_)
    ));
    assert!(store.refunds().await.expect("list").iter().any(|x| x.payment_hash == r.payment_hash));
}

/// Expiry: a due refund past its expiry cannot be claimed and is marked expired.
pub async fn refund_expiry(store: &dyn GatewayStore) {
    let r = sample_refund(1_000, 2_000);
    store.open_refund(&r).await.expect("open");
    let k1: [u8; 32] = rand::random();
    store.bind_refund_k1(&r.payment_hash, &k1).await.expect("bind");
    let outcome = store.claim_refund(&k1, "lnbc1late", 2_000).await.expect("claim");
    assert!(
        matches!(outcome, ClaimOutcome::NotDue(ref x) if x.state == RefundState::Expired),
        "{outcome:?}"
    );
    let r2 = sample_refund(1_000, 1_500);
    store.open_refund(&r2).await.expect("open");
    assert!(store.expire_refunds(1_600).await.expect("expire") >= 1);
    let got = store.refund(&r2.payment_hash).await.expect("read").expect("some");
    assert_eq!(got.state, RefundState::Expired);
}

/// Attestation flags per device; unknown devices are refused.
pub async fn attestation_flags(store: &dyn GatewayStore) {
    let device = enrol(store).await;
    assert!(!store.attestation_enabled(device).await.expect("read"));
    store.set_attestation(device, true).await.expect("on");
    store.set_attestation(device, true).await.expect("on twice");
    assert!(store.attestation_enabled(device).await.expect("read"));
    store.set_attestation(device, false).await.expect("off");
    assert!(!store.attestation_enabled(device).await.expect("read"));
    assert!(store.set_attestation(new_device_id(), true).await.is_err());
}

/// Payment sessions: one live session per payment; expiry.
pub async fn sessions(store: &dyn GatewayStore) {
    let payment: [u8; 32] = rand::random();
    let first = SessionRecord {
        token_hash: rand::random(),
        subject: format!("payment:{}", hex::encode(payment)),
        payment_hash: Some(payment),
        created_at: 100,
        expires_at: 200,
    };
    store.issue_payment_session(&first).await.expect("issue");
    assert_eq!(store.session(&first.token_hash, 150).await.expect("read"), Some(first.clone()));
    assert_eq!(store.session(&first.token_hash, 200).await.expect("read"), None, "expired");
    let second = SessionRecord { token_hash: rand::random(), ..first.clone() };
    store.issue_payment_session(&second).await.expect("issue");
    assert_eq!(store.session(&first.token_hash, 150).await.expect("read"), None, "revoked");
    assert!(store.session(&second.token_hash, 150).await.expect("read").is_some());
}

/// LNURL-auth challenges: single use, expiry, unknown k1; concurrent answers: one wins.
pub async fn lnurl_auth(store: &dyn GatewayStore) {
    let (k1, token): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
    store.insert_auth_challenge(&k1, &token, 100, 200).await.expect("insert");
    assert_eq!(store.session(&token, 150).await.expect("read"), None, "not live before login");
    assert_eq!(
        store.complete_auth(&rand::random(), "02ab", 150, 1_000).await.expect("auth"),
        AuthOutcome::Unknown
    );
    assert_eq!(
        store.complete_auth(&k1, "02ab", 150, 1_000).await.expect("auth"),
        AuthOutcome::Completed
    );
    assert_eq!(
        store.complete_auth(&k1, "02cd", 151, 1_000).await.expect("auth"),
        AuthOutcome::Used
    );
    let session = store.session(&token, 500).await.expect("read").expect("live");
    assert_eq!(session.subject, "lnurl-auth:02ab");
    let (k1b, tokenb): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
    store.insert_auth_challenge(&k1b, &tokenb, 100, 200).await.expect("insert");
    assert_eq!(
        store.complete_auth(&k1b, "02ab", 200, 1_000).await.expect("auth"),
        AuthOutcome::Expired
    );
}

/// Expired challenges and sessions are purged; live ones stay and still work.
pub async fn purge_expired_auth(store: &dyn GatewayStore) {
    // Far in the future, so other scenarios' rows (expiring near 200–10 000) are all older.
    let base = 4_000_000_000u64;
    let (old_k1, old_token): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
    store.insert_auth_challenge(&old_k1, &old_token, base, base + 100).await.expect("insert");
    let (live_k1, live_token): ([u8; 32], [u8; 32]) = (rand::random(), rand::random());
    store.insert_auth_challenge(&live_k1, &live_token, base, base + 900).await.expect("insert");
    let payment: [u8; 32] = rand::random();
    let old_session = SessionRecord {
        token_hash: rand::random(),
        subject: "payment:old".into(),
        payment_hash: Some(payment),
        created_at: base,
        expires_at: base + 100,
    };
    store.issue_payment_session(&old_session).await.expect("issue");
    let live_session = SessionRecord {
        token_hash: rand::random(),
        subject: "payment:live".into(),
        payment_hash: None,
        created_at: base,
        expires_at: base + 900,
    };
    store.issue_payment_session(&live_session).await.expect("issue");

    let purged = store.purge_expired_auth(base + 500).await.expect("purge");
    assert!(purged >= 2, "at least this scenario's expired challenge and session: {purged}");
    assert_eq!(store.purge_expired_auth(base + 500).await.expect("purge"), 0, "nothing left");
    assert_eq!(
        store.complete_auth(&old_k1, "02ab", base + 50, base + 1_000).await.expect("auth"),
        AuthOutcome::Unknown,
        "the purged challenge is gone"
    );
    assert_eq!(
        store.complete_auth(&live_k1, "02ab", base + 50, base + 1_000).await.expect("auth"),
        AuthOutcome::Completed,
        "the live challenge still works"
    );
    assert!(store.session(&live_session.token_hash, base + 50).await.expect("read").is_some());
    assert!(store.session(&old_session.token_hash, base + 50).await.expect("read").is_none());
}

/// Concurrent claims of one refund: exactly one wins (run by the PostgreSQL test with many
/// connections, and on SQLite).
pub async fn concurrent_claims(store: Arc<dyn GatewayStore>, claimants: usize) -> usize {
    let r = sample_refund(1_000, u64::MAX / 4);
    store.open_refund(&r).await.expect("open");
    let k1: [u8; 32] = rand::random();
    store.bind_refund_k1(&r.payment_hash, &k1).await.expect("bind");
    let mut tasks = Vec::new();
    for i in 0..claimants {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.claim_refund(&k1, &format!("lnbc1claimant{i}"), 2_000).await.expect("claim")
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if matches!(t.await.expect("task"), ClaimOutcome::Claimed(_)) {
            wins += 1;
        }
    }
    wins
}
