//! The device funds its channel from its own coins, and pins what it funded.

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, OutPoint, Txid};
use lightning::ln::chan_utils::make_funding_redeemscript;
use lnedge_cosign::device::{Coin, DeviceKeys, DeviceWallet};
use lnedge_cosign::link::{DeviceAnswer, GatewayRequest};
use lnedge_cosign::policy::Policy;

use crate::fixture::Channel;

fn policy() -> Policy {
    Policy { max_payment_msat: 1, daily_budget_msat: 1, fee_cap_msat: 0, payees: None }
}

#[test]
fn the_device_funds_only_a_2_of_2_with_its_key_and_pins_what_it_funded() {
    let (device, _gateway) = lnedge_cosign::keygen::in_process().unwrap();
    let joint = device.public_key();
    let keys = DeviceKeys::new([7; 32]);
    let mut wallet = DeviceWallet::new(keys.clone(), device, policy());
    let coin = Coin {
        outpoint: OutPoint { txid: Txid::from_byte_array([1; 32]), vout: 3 },
        value_sat: 800_000,
    };
    wallet.add_coin(coin);
    let bridge = SecretKey::from_slice(&[8; 32]).unwrap().public_key(&Secp256k1::new());
    let stranger = SecretKey::from_slice(&[9; 32]).unwrap().public_key(&Secp256k1::new());

    // A 2-of-2 without the device's key (the gateway's own money grab) is refused, and so is
    // more than the device has.
    let theirs = make_funding_redeemscript(&stranger, &bridge);
    let answer = wallet.handle(GatewayRequest::Fund { value_sat: 500_000, redeem_script: theirs });
    assert!(matches!(answer, DeviceAnswer::Refused(r) if r.contains("joint key")));
    let ours = make_funding_redeemscript(&joint, &bridge);
    let answer =
        wallet.handle(GatewayRequest::Fund { value_sat: 800_000, redeem_script: ours.clone() });
    assert!(matches!(answer, DeviceAnswer::Refused(r) if r.contains("no coin")));

    let DeviceAnswer::Funding(tx) =
        wallet.handle(GatewayRequest::Fund { value_sat: 500_000, redeem_script: ours.clone() })
    else {
        panic!("the device funds a 2-of-2 with its joint key");
    };
    assert_eq!(tx.output[0].script_pubkey, ours.to_p2wsh());
    assert_eq!(tx.output[0].value.to_sat(), 500_000);
    assert_eq!(tx.output[1].script_pubkey, keys.deposit_script(), "change to the device");
    assert_eq!(tx.input[0].previous_output, coin.outpoint);
    // Its input's signature is valid for the device's wallet key.
    let sighash = SighashCache::new(&tx)
        .p2wpkh_signature_hash(
            0,
            &keys.deposit_script(),
            Amount::from_sat(800_000),
            EcdsaSighashType::All,
        )
        .unwrap();
    let witness: Vec<&[u8]> = tx.input[0].witness.iter().collect();
    let signature = bitcoin::ecdsa::Signature::from_slice(witness[0]).unwrap();
    let ctx = Secp256k1::new();
    ctx.verify_ecdsa(
        &Message::from_digest(sighash.to_byte_array()),
        &signature.signature,
        &keys.wallet_secret().public_key(&ctx),
    )
    .expect("the device's funding signature verifies");
    // A second channel from the same device is refused.
    let answer = wallet.handle(GatewayRequest::Fund { value_sat: 1_000, redeem_script: ours });
    assert!(matches!(answer, DeviceAnswer::Refused(r) if r.contains("already funded")));

    // Terms that name another outpoint are refused; the funded one is pinned.
    let mut channel = Channel::new(joint, true, false);
    let ctx = Secp256k1::signing_only();
    channel.terms.device_payment_point = keys.payment_secret().public_key(&ctx);
    channel.terms.device_delayed_basepoint = keys.delayed_secret().public_key(&ctx);
    channel.terms.device_close_script = keys.close_script();
    channel.terms.counterparty_funding_key = bridge;
    channel.terms.funding_sat = 500_000;
    let answer = wallet.handle(GatewayRequest::Terms {
        terms: Box::new(channel.terms.clone()),
        opening_balance_sat: 500_000,
    });
    assert!(
        matches!(answer, DeviceAnswer::Refused(r) if r.contains("funding output the device created"))
    );
    channel.terms.funding_outpoint = OutPoint { txid: tx.compute_txid(), vout: 0 };
    let answer = wallet.handle(GatewayRequest::Terms {
        terms: Box::new(channel.terms),
        opening_balance_sat: 500_000,
    });
    assert!(matches!(answer, DeviceAnswer::TermsPinned));
}
