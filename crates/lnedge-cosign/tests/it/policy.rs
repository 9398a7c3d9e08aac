//! The device's policy against real LDK transactions: what it co-signs and what it refuses.

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lnedge_cosign::policy::{ChannelSignature, Refusal};

use crate::fixture::{payee, policy, stranger, Channel, DEVICE_SAT};

fn any_key() -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[3; 32]).unwrap())
}

#[test]
fn the_device_reads_commitment_numbers_and_its_balance_from_ldk_transactions() {
    for opener in [true, false] {
        for anchors in [false, true] {
            let channel = Channel::new(any_key(), opener, anchors);
            for number in [0, 1, 77, (1 << 40) + 5] {
                let bridge = channel.bridge_commitment(number, 400_000, &[]);
                assert_eq!(channel.terms.commitment_number(&bridge, false).unwrap(), number);
                let own = channel.own_commitment(number, &any_key(), 400_000);
                assert_eq!(channel.terms.commitment_number(&own, true).unwrap(), number);
            }
            let bridge = channel.bridge_commitment(3, 412_345, &[]);
            let paid = lnedge_cosign::channel::ChannelTerms::paid_to(
                &bridge,
                &channel.terms.device_payment_script(),
            );
            assert_eq!(paid, 412_345, "opener={opener} anchors={anchors}");
        }
    }
}

#[test]
fn an_approved_payment_moves_the_state_and_nothing_more_is_co_signed() {
    let channel = Channel::new(any_key(), true, false);
    let policy = policy();
    let mut book = channel.book();

    // The first commitment may take the commitment fee (within the fee cap) from the opening
    // balance, and no more.
    let greedy = channel.bridge_commitment(0, DEVICE_SAT - 2_001, &[]);
    let err = book.check(&policy, &ChannelSignature::BridgeCommitment(greedy)).unwrap_err();
    assert_eq!(err, Refusal::MovesTooMuch { moves_msat: 2_001_000, allowance_msat: 2_000_000 });
    let opening = channel.bridge_commitment(0, DEVICE_SAT - 183, &[]);
    book.check(&policy, &ChannelSignature::BridgeCommitment(opening)).unwrap();
    let start_sat = DEVICE_SAT - 183;

    // Nothing approved: a state that takes 1 sat from the device is refused, and the book stays.
    let before = format!("{book:?}");
    let err = book
        .check(
            &policy,
            &ChannelSignature::BridgeCommitment(channel.bridge_commitment(1, start_sat - 1, &[])),
        )
        .unwrap_err();
    assert_eq!(err, Refusal::MovesTooMuch { moves_msat: 1_000, allowance_msat: 0 });
    assert_eq!(format!("{book:?}"), before);

    // The device approves 30,000 sat to its payee: the HTLC state and the settled state pass.
    book.approve_payment(&policy, 30_000_000, &payee(), 1).unwrap();
    assert_eq!(book.allowance_msat(), 32_000_000);
    let with_htlc = channel.bridge_commitment(1, start_sat - 30_000, &[30_000_000]);
    let hash = book.check(&policy, &ChannelSignature::BridgeCommitment(with_htlc.clone())).unwrap();
    assert_eq!(hash, channel.terms.sighash(&with_htlc).unwrap());
    let settled = channel.bridge_commitment(2, start_sat - 30_000, &[]);
    book.check(&policy, &ChannelSignature::BridgeCommitment(settled)).unwrap();
    assert_eq!(book.balance_sat(), start_sat - 30_000);
    assert_eq!(book.allowance_msat(), 2_000_000);

    // A gateway that now asks for a second 30,000 sat on its own is refused.
    let theft = channel.bridge_commitment(3, start_sat - 60_000, &[30_000_000]);
    let err = book.check(&policy, &ChannelSignature::BridgeCommitment(theft)).unwrap_err();
    assert_eq!(err, Refusal::MovesTooMuch { moves_msat: 30_000_000, allowance_msat: 2_000_000 });
    assert_eq!(book.balance_sat(), start_sat - 30_000, "the refused state moved nothing");

    // Going back to an older state is refused too.
    let old = channel.bridge_commitment(1, start_sat - 30_000, &[]);
    let err = book.check(&policy, &ChannelSignature::BridgeCommitment(old)).unwrap_err();
    assert_eq!(err, Refusal::OlderState { number: 1, last: 2 });
}

#[test]
fn payments_outside_the_policy_are_refused_before_any_signature() {
    let channel = Channel::new(any_key(), true, false);
    let policy = policy();
    let mut book = channel.book();
    let err = book.approve_payment(&policy, 50_000_001, &payee(), 1).unwrap_err();
    assert_eq!(err, Refusal::OverPaymentLimit { amount_msat: 50_000_001, limit_msat: 50_000_000 });
    let err = book.approve_payment(&policy, 1_000, &stranger(), 1).unwrap_err();
    assert_eq!(err, Refusal::PayeeNotAllowed { payee: stranger() });

    // The daily budget: 50 + 50 pass, 30 more does not; the next day it does.
    book.approve_payment(&policy, 50_000_000, &payee(), 1).unwrap();
    book.approve_payment(&policy, 50_000_000, &payee(), 1).unwrap();
    let err = book.approve_payment(&policy, 30_000_000, &payee(), 1).unwrap_err();
    assert_eq!(err, Refusal::OverDailyBudget { amount_msat: 30_000_000, left_msat: 20_000_000 });
    assert_eq!(book.allowance_msat(), 104_000_000, "a refused payment adds no allowance");
    book.approve_payment(&policy, 30_000_000, &payee(), 2).unwrap();
}

#[test]
fn a_revoked_own_commitment_is_never_co_signed() {
    let channel = Channel::new(any_key(), true, false);
    let policy = policy();
    let mut book = channel.book();
    // The device released the secrets of its commitments 0..=4: they are revoked.
    for number in 0..=4 {
        let secret = book.release_secret(number).unwrap();
        let point = SecretKey::from_slice(&secret).unwrap().public_key(&Secp256k1::new());
        assert_eq!(point, book.per_commitment_point(number));
    }
    for number in [0, 3, 4] {
        let revoked =
            channel.own_commitment(number, &book.per_commitment_point(number), DEVICE_SAT);
        let err = book.check(&policy, &ChannelSignature::OwnCommitment(revoked)).unwrap_err();
        assert_eq!(err, Refusal::Revoked { number, revoked_below: 5 });
    }
    // A revoked commitment passed off as a newer number (as if the gateway had lied about the
    // bridge's payment point, which obscures the numbers) is caught by its to_local output.
    let revoked = channel.own_commitment(7, &book.per_commitment_point(3), DEVICE_SAT);
    let err = book.check(&policy, &ChannelSignature::OwnCommitment(revoked)).unwrap_err();
    assert_eq!(err, Refusal::UnprovenNumber { number: 7 });
    // The current one is co-signed for a force close…
    let current = channel.own_commitment(5, &book.per_commitment_point(5), DEVICE_SAT);
    book.check(&policy, &ChannelSignature::OwnCommitment(current)).unwrap();
    // …after which its secret is never released (that would hand the bridge everything) and no
    // new state is co-signed.
    assert_eq!(book.release_secret(5).unwrap_err(), Refusal::RevokeBroadcast { number: 5 });
    let next = channel.bridge_commitment(6, DEVICE_SAT, &[]);
    let err = book.check(&policy, &ChannelSignature::BridgeCommitment(next)).unwrap_err();
    assert_eq!(err, Refusal::Closed);
}

#[test]
fn a_cooperative_close_pays_the_device_its_balance() {
    let channel = Channel::new(any_key(), true, false);
    let policy = policy();
    let mut book = channel.book();
    // A close that keeps 2,001 sat of the device's balance is above the 2,000 sat fee cap.
    let greedy = channel.closing(DEVICE_SAT - 2_001);
    let err = book.check(&policy, &ChannelSignature::Closing(greedy)).unwrap_err();
    assert!(
        matches!(err, Refusal::CloseUnderpays { paid_sat, .. } if paid_sat == DEVICE_SAT - 2_001)
    );
    let fair = channel.closing(DEVICE_SAT - 700);
    book.check(&policy, &ChannelSignature::Closing(fair)).unwrap();
    assert_eq!(book.approve_payment(&policy, 1, &payee(), 1).unwrap_err(), Refusal::Closed);
}

#[test]
fn a_transaction_of_another_channel_is_refused() {
    let channel = Channel::new(any_key(), true, false);
    let policy = policy();
    let mut book = channel.book();
    let mut tx = channel.bridge_commitment(1, DEVICE_SAT, &[]);
    tx.input[0].previous_output.vout = 1;
    let err = book.check(&policy, &ChannelSignature::BridgeCommitment(tx.clone())).unwrap_err();
    assert!(err.to_string().contains("not the channel's funding output"), "{err}");
    tx.input.push(tx.input[0].clone());
    let err = book.check(&policy, &ChannelSignature::Closing(tx)).unwrap_err();
    assert!(err.to_string().contains("2 inputs"), "{err}");
}
