//! The payer device: counter on flash before the token leaves, local budgets, receipts.

use bitcoin::hashes::{sha256, Hash};
use lnedge_proto::payer::{PayerKey, TokenError};
use lnedge_proto::DeviceId;

use super::*;
use crate::flash::{BitOrder, MemFlash, PowerCut};

const MASTER: [u8; 32] = [0x33; 32];
const DEVICE: DeviceId = DeviceId([0xCA; 16]);
const PAYEE: [u8; 33] = [0x02; 33];
const LIMITS: PayerLimits =
    PayerLimits { max_per_payment_msat: 5_000_000, budget_msat: 12_000_000 };

fn device() -> PayerDevice<MemFlash> {
    let flash = MemFlash::from_bytes(vec![0xFF; FLASH_LEN]);
    PayerDevice::open(DEVICE, PayerKey::derive(&MASTER, &DEVICE), LIMITS, flash).expect("open")
}

fn reopen(d: PayerDevice<MemFlash>) -> PayerDevice<MemFlash> {
    let flash = d.into_flash().reboot();
    PayerDevice::open(DEVICE, PayerKey::derive(&MASTER, &DEVICE), LIMITS, flash).expect("reopen")
}

fn invoice(n: u8) -> ([u8; 32], [u8; 32]) {
    let preimage = [n; 32];
    (preimage, sha256::Hash::hash(&preimage).to_byte_array())
}

#[test]
fn a_token_verifies_at_the_gateway_and_binds_its_invoice() {
    let mut d = device();
    let (_, hash) = invoice(1);
    let token = d.authorize(hash, 2_000_000, PAYEE, 1_900_000_000).expect("token");
    // The gateway derives the same key from its master key and nothing else.
    let gateway_key = PayerKey::derive(&MASTER, &DEVICE);
    let a = token.verify(&gateway_key).expect("verifies");
    assert_eq!((a.counter, a.amount_msat, a.payment_hash), (1, 2_000_000, hash));
    assert_eq!(a.check_invoice(&hash, 2_000_000, &PAYEE, 1_800_000_000), Ok(()));
    assert_eq!(
        a.check_invoice(&invoice(2).1, 2_000_000, &PAYEE, 1_800_000_000),
        Err(TokenError::WrongInvoice)
    );
}

#[test]
fn counters_only_go_up_and_survive_a_reboot() {
    let mut d = device();
    for n in 1..=3u8 {
        let t = d.authorize(invoice(n).1, 1_000, PAYEE, 1_900_000_000).unwrap();
        assert_eq!(t.authorization.counter, u32::from(n));
    }
    let mut d = reopen(d);
    assert_eq!(d.counter(), 3);
    let t = d.authorize(invoice(4).1, 1_000, PAYEE, 1_900_000_000).unwrap();
    assert_eq!(t.authorization.counter, 4, "never reused after a reboot");
}

#[test]
fn the_counter_is_on_flash_before_the_token_and_a_power_cut_burns_at_most_one() {
    let mut d = device();
    d.authorize(invoice(1).1, 1_000, PAYEE, 1_900_000_000).unwrap();
    // Cut the power at the first bit flipped by the next authorization: no token comes out.
    d.flash_mut().set_power_cut(Some(PowerCut { after_bit_flips: 0, order: BitOrder::HighFirst }));
    assert!(d.authorize(invoice(2).1, 1_000, PAYEE, 1_900_000_000).is_err(), "nothing leaves");
    let mut d = reopen(d);
    // Whatever the cut left, the next token's counter is above every counter ever shown.
    let t = d.authorize(invoice(3).1, 1_000, PAYEE, 1_900_000_000).unwrap();
    assert!(t.authorization.counter >= 2, "{}", t.authorization.counter);
    let listed: Vec<u32> = d.tokens().unwrap().iter().map(|t| t.counter).collect();
    assert_eq!(listed.first(), Some(&1));
    assert_eq!(listed.last(), Some(&t.authorization.counter));
}

#[test]
fn the_local_budget_holds_whatever_the_merchants_do() {
    let mut d = device();
    let err = d.authorize(invoice(1).1, 6_000_000, PAYEE, 1_900_000_000).unwrap_err();
    assert!(matches!(err, PayerDeviceError::OverPaymentLimit { .. }), "{err}");
    assert!(matches!(
        d.authorize(invoice(1).1, 0, PAYEE, 1).unwrap_err(),
        PayerDeviceError::OverPaymentLimit { .. }
    ));
    d.authorize(invoice(1).1, 5_000_000, PAYEE, 1_900_000_000).unwrap();
    d.authorize(invoice(2).1, 5_000_000, PAYEE, 1_900_000_000).unwrap();
    let err = d.authorize(invoice(3).1, 5_000_000, PAYEE, 1_900_000_000).unwrap_err();
    assert!(matches!(err, PayerDeviceError::OverBudget { left_msat: 2_000_000, .. }), "{err}");
    // Across a reboot too.
    let mut d = reopen(d);
    assert_eq!(d.spent_msat().unwrap(), 10_000_000);
    d.authorize(invoice(3).1, 2_000_000, PAYEE, 1_900_000_000).unwrap();
    assert!(d.authorize(invoice(4).1, 1, PAYEE, 1_900_000_000).is_err());
}

#[test]
fn receipts_are_checked_and_recorded() {
    let mut d = device();
    let (preimage, hash) = invoice(9);
    d.authorize(hash, 1_000, PAYEE, 1_900_000_000).unwrap();
    assert!(matches!(d.receipt(1, &[0; 32]).unwrap_err(), PayerDeviceError::WrongPreimage(1)));
    assert!(matches!(d.receipt(2, &preimage).unwrap_err(), PayerDeviceError::UnknownToken(2)));
    d.receipt(1, &preimage).unwrap();
    d.receipt(1, &preimage).unwrap();
    let mut d = reopen(d);
    assert!(d.tokens().unwrap()[0].paid);
}

#[test]
fn another_devices_image_is_refused() {
    let d = device();
    let flash = d.into_flash().reboot();
    let other = DeviceId([0xCB; 16]);
    let err =
        PayerDevice::open(other, PayerKey::derive(&MASTER, &other), LIMITS, flash).unwrap_err();
    assert!(matches!(err, PayerDeviceError::WrongImage(_)), "{err}");
}
