//! Conformance scenarios of [`PayerStore`](crate::store::payers::PayerStore).

use lnedge_proto::DeviceId;

use crate::store::payers::{
    PayerKind, PayerPaymentRecord, PayerPaymentState, PayerRecord, PayerState, TapRecord,
};
use crate::store::{GatewayStore, StoreError};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    payer_compare_and_set(store).await;
    taps_are_taken_once(store).await;
    payments_are_recorded_once(store).await;
}

/// A sample card (pending, no UID).
pub fn sample_card() -> PayerRecord {
    PayerRecord {
        id: DeviceId(rand::random()),
        kind: PayerKind::Card,
        name: "Conformance card".into(),
        state: PayerState::Pending,
        uid: None,
        key_version: 0,
        program_code_hash: Some(rand::random()),
        program_expires_at: 2_000_000_000,
        counter: None,
        per_payment_msat: 1_000_000,
        per_day_msat: 5_000_000,
        pin_limit_msat: Some(0),
        pin_hash: Some([7; 32]),
        pin_failures: 0,
        day: 0,
        day_spent_msat: 0,
        created_at: 1_700_000_000,
        version: 1,
    }
}

/// A payer is created once, then changed only from the version read; a UID binds one card.
pub async fn payer_compare_and_set(store: &dyn GatewayStore) {
    let card = sample_card();
    store.put_payer(&card).await.expect("create");
    assert_eq!(store.payer(card.id).await.expect("read"), Some(card.clone()));
    assert!(matches!(store.put_payer(&card).await, Err(StoreError::Conflict)), "created twice");
    let code = card.program_code_hash.expect("code");
    assert_eq!(store.payer_by_program_code(&code).await.expect("by code"), Some(card.clone()));

    let uid: [u8; 7] = rand::random();
    let programmed = PayerRecord {
        state: PayerState::Active,
        uid: Some(uid),
        key_version: 1,
        counter: Some(3),
        day: 19_700,
        day_spent_msat: 1_500_000,
        version: 2,
        ..card.clone()
    };
    store.put_payer(&programmed).await.expect("update from version 1");
    let stale = PayerRecord { day_spent_msat: 0, ..programmed.clone() };
    assert!(matches!(store.put_payer(&stale).await, Err(StoreError::Conflict)), "stale");
    assert_eq!(store.payer_by_uid(&uid).await.expect("by uid"), Some(programmed.clone()));

    // Another card cannot take the UID, neither at creation nor by update.
    let other = PayerRecord { uid: Some(uid), ..sample_card() };
    assert!(
        matches!(store.put_payer(&other).await, Err(StoreError::UidTaken)),
        "a UID binds one card"
    );
    let other = sample_card();
    store.put_payer(&other).await.expect("create other");
    let steal = PayerRecord { uid: Some(uid), version: 2, ..other.clone() };
    assert!(matches!(store.put_payer(&steal).await, Err(StoreError::UidTaken)));
    assert_eq!(store.payer(other.id).await.expect("read"), Some(other.clone()), "unchanged");
    let listed = store.payers().await.expect("list");
    assert!(listed.contains(&programmed) && listed.contains(&other), "both listed");
}

/// A tap session is answered to exactly one taker; expired ones are purged.
pub async fn taps_are_taken_once(store: &dyn GatewayStore) {
    let card = sample_card();
    store.put_payer(&card).await.expect("card");
    let tap = TapRecord {
        k1_hash: rand::random(),
        payer_id: card.id,
        counter: 9,
        expires_at: 1_000,
        used: false,
    };
    store.insert_tap(&tap).await.expect("insert");
    assert_eq!(store.take_tap(&tap.k1_hash).await.expect("take"), Some(tap.clone()));
    assert_eq!(store.take_tap(&tap.k1_hash).await.expect("take again"), None, "once");
    assert_eq!(store.take_tap(&rand::random()).await.expect("unknown"), None);
    assert!(store.purge_taps(1_001).await.expect("purge") >= 1);
}

/// A payment is recorded once per hash and changed only from the version read.
pub async fn payments_are_recorded_once(store: &dyn GatewayStore) {
    let card = sample_card();
    store.put_payer(&card).await.expect("card");
    let first = PayerPaymentRecord {
        payment_hash: rand::random(),
        payer_id: card.id,
        kind: PayerKind::Card,
        counter: 4,
        amount_msat: 21_000,
        fee_msat: None,
        state: PayerPaymentState::Pending,
        invoice: "lnbcrt210n1…".into(),
        failure: None,
        created_at: 100,
        settled_at: None,
        version: 1,
    };
    store.insert_payer_payment(&first).await.expect("insert");
    let pending = store.pending_payer_payments(u32::MAX).await.expect("pending");
    assert!(pending.contains(&first), "a pending payment is listed as pending");
    assert!(
        matches!(store.insert_payer_payment(&first).await, Err(StoreError::HashTaken)),
        "an invoice is paid at most once"
    );
    let paid = PayerPaymentRecord {
        state: PayerPaymentState::Paid,
        fee_msat: Some(1_000),
        settled_at: Some(101),
        version: 2,
        ..first.clone()
    };
    store.put_payer_payment(&paid).await.expect("finish");
    let pending = store.pending_payer_payments(u32::MAX).await.expect("pending");
    assert!(pending.iter().all(|p| p.payment_hash != first.payment_hash), "paid: not pending");
    let stale = PayerPaymentRecord { state: PayerPaymentState::Failed, ..paid.clone() };
    assert!(matches!(store.put_payer_payment(&stale).await, Err(StoreError::Conflict)));
    assert_eq!(store.payer_payment(&first.payment_hash).await.expect("read"), Some(paid.clone()));
    let second =
        PayerPaymentRecord { payment_hash: rand::random(), created_at: 200, ..first.clone() };
    store.insert_payer_payment(&second).await.expect("second");
    let mine = store.payer_payments(Some(card.id), 10).await.expect("list");
    assert_eq!(mine, vec![paid.clone(), second.clone()], "oldest first");
    let newest = store.payer_payments(Some(card.id), 1).await.expect("list");
    assert_eq!(newest, vec![second], "the newest `limit`");
    assert!(store.payer_payments(None, 10_000).await.expect("all").contains(&paid));
}
