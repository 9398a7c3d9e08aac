//! Invoice pools end to end on the sandbox network: the owner's node provisions a pool, an
//! offline machine sells from it, a customer's node pays, the machine vends exactly once.

use std::sync::Arc;
use std::time::Duration;

use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, Refusal, SimulatedMotor, VendError, VendOutcome, VendingMachine};
use lnedge_gateway::provision::{provision, PoolKey, PoolPlan, Product};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{parse_invoice, LightningBackend, PayRequest};
use lnedge_proto::ledger::EntryState;
use lnedge_proto::pool::{payment_hash, Pool};
use lnedge_proto::{DeviceId, PoolId};

const DEVICE: DeviceId = DeviceId([0x11; 16]);

fn plan(pool_id: [u8; 8], first_seq: u32, entries: u32) -> PoolPlan {
    PoolPlan {
        device_id: DEVICE,
        pool_id: PoolId(pool_id),
        products: vec![
            Product { id: 1, description: "cola".into(), price_msat: 2_500_000, first_seq },
            Product { id: 2, description: "crisps".into(), price_msat: 1_800_000, first_seq },
        ],
        entries_per_product: entries,
        expiry_secs: 60 * 86_400,
        refund_url_base: "https://gateway.example/refund".into(),
    }
}

struct World {
    net: SandboxNetwork,
    customer: Arc<SandboxNode>,
    owner: Arc<SandboxNode>,
    key: PoolKey,
    dir: tempfile::TempDir,
}

async fn world() -> World {
    let net = SandboxNetwork::new().await.expect("network");
    let [customer, owner] = net.line(["customer", "owner"], 2_000_000).await.expect("line");
    World { net, customer, owner, key: PoolKey::generate(), dir: tempfile::tempdir().expect("dir") }
}

async fn pay(customer: &SandboxNode, bolt11: &str) -> [u8; 32] {
    let invoice = parse_invoice(bolt11).expect("the machine's invoice parses as BOLT 11");
    let request = PayRequest {
        invoice,
        amount_msat: None,
        max_fee_msat: 10_000,
        timeout: Duration::from_secs(30),
        max_total_cltv_expiry_delta: None,
    };
    customer.pay(request).await.expect("customer pays").preimage.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_machine_sells_offline_and_vends_exactly_once() {
    let w = world().await;
    let mut progress = Vec::new();
    let pool = provision(&*w.owner, &w.key, &plan([1; 8], 0, 4), |d, t| progress.push((d, t)))
        .await
        .expect("provision");
    assert_eq!(progress.last(), Some(&(8, 8)), "progress reaches the total");
    assert_eq!(pool.owner_node_id, w.owner.node_id().serialize());
    // Size: each added entry costs at most 40 % of its BOLT 11 string (the fixed header and
    // per-product templates are amortised over the pool).
    let bigger =
        provision(&*w.owner, &w.key, &plan([9; 8], 100, 24), |_, _| {}).await.expect("bigger");
    let marginal = (bigger.bytes.len() - pool.bytes.len()) as f64
        / (bigger.bolt11_bytes - pool.bolt11_bytes) as f64;
    assert!(marginal <= 0.40, "an entry costs {:.1} % of its BOLT 11 string", marginal * 100.0);

    // No secret of any kind in the pool file: no preimage appears anywhere in it.
    for (product, seq) in [(1u16, 0u32), (1, 3), (2, 0), (2, 3)] {
        let preimage = w.key.preimage(&DEVICE, product, seq).0;
        assert!(!pool.bytes.windows(32).any(|w| w == preimage), "preimage in pool file");
    }

    // The machine, enrolled with the owner's node id, installs the pool and goes offline.
    let enrolment = Enrolment { device_id: DEVICE, owner_node_id: pool.owner_node_id };
    let mut machine =
        VendingMachine::enrol(w.dir.path(), enrolment, SimulatedMotor::default()).expect("enrol");
    machine.install_pool(pool.bytes.clone()).expect("install");
    let products = machine.products().expect("products");
    assert_eq!(products.len(), 2);
    assert_eq!(products[0].available, 4);

    // A customer buys a cola: the machine shows an invoice rebuilt from the pool.
    let offer = machine.offer(1).expect("offer");
    assert_eq!(offer.amount_msat, Some(2_500_000));
    let preimage = pay(&w.customer, &offer.bolt11).await;
    assert_eq!(preimage, w.key.preimage(&DEVICE, 1, 0).0, "the operator can recompute it");

    // The customer shows the preimage (as wallets print it): the machine vends.
    let shown = hex::encode(preimage);
    let outcome = machine.present(ClaimInput::Text(&shown)).expect("vend");
    assert_eq!(outcome, VendOutcome::Dispensed { index: offer.index, product: 1 });
    assert_eq!(machine.entry_state(offer.index).expect("state"), EntryState::Dispensed);

    // A second presentation is refused, also after the machine restarts.
    let err = machine.present(ClaimInput::Text(&shown)).expect_err("replay");
    assert!(matches!(err, VendError::AlreadyUsed { state: EntryState::Dispensed, .. }), "{err}");
    drop(machine);
    let mut machine =
        VendingMachine::open(w.dir.path(), SimulatedMotor::default()).expect("reopen");
    let err = machine.present(ClaimInput::Keypad(&shown)).expect_err("replay after restart");
    assert!(err.to_string().contains("already used"), "{err}");

    // The motor jams: the claim stays paid-and-failed and a refund voucher comes out.
    let offer = machine.offer(2).expect("offer crisps");
    let preimage = pay(&w.customer, &offer.bolt11).await;
    machine.dispenser_mut().jam_next(1);
    match machine.present(ClaimInput::Text(&hex::encode(preimage))).expect("claim") {
        VendOutcome::Failed { voucher, product, .. } => {
            assert_eq!(product, 2);
            assert_eq!(voucher.amount_msat, 1_800_000);
            assert_eq!(voucher.payment_hash, payment_hash(&preimage));
        }
        other => panic!("expected a failed vend, got {other:?}"),
    }
    assert_eq!(machine.entry_state(offer.index).expect("state"), EntryState::Failed);
    let err = machine.present(ClaimInput::Text(&hex::encode(preimage))).expect_err("no second try");
    assert!(matches!(err, VendError::AlreadyUsed { state: EntryState::Failed, .. }), "{err}");

    // Garbage gets its own message.
    let err = machine.present(ClaimInput::Text("hello vending machine")).expect_err("garbage");
    assert!(matches!(err, VendError::InvalidClaim(_)), "{err}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_tampered_pools_and_payments_are_refused() {
    let w = world().await;
    let pool_a =
        provision(&*w.owner, &w.key, &plan([2; 8], 0, 2), |_, _| {}).await.expect("pool a");
    let pool_b =
        provision(&*w.owner, &w.key, &plan([3; 8], 2, 2), |_, _| {}).await.expect("pool b");
    let enrolment = Enrolment { device_id: DEVICE, owner_node_id: pool_a.owner_node_id };
    let mut machine =
        VendingMachine::enrol(w.dir.path(), enrolment, SimulatedMotor::default()).expect("enrol");

    // A tampered entry: flip one bit in the last entry's signature area (end of the file).
    let mut tampered = pool_a.bytes.clone();
    let n = tampered.len();
    tampered[n - 10] ^= 0x01;
    let err = machine.install_pool(tampered).expect_err("tampered pool");
    assert!(matches!(err, VendError::PoolRefused(_)), "{err}");

    // A pool signed by another node (the customer's) for this device.
    let foreign =
        provision(&*w.customer, &w.key, &plan([4; 8], 0, 1), |_, _| {}).await.expect("foreign");
    let err = machine.install_pool(foreign.bytes).expect_err("foreign owner");
    assert!(err.to_string().contains("pool refused"), "{err}");

    // A pool for another device.
    let mut other_device = plan([5; 8], 0, 1);
    other_device.device_id = DeviceId([0x22; 16]);
    let other = provision(&*w.owner, &w.key, &other_device, |_, _| {}).await.expect("other device");
    let err = machine.install_pool(other.bytes).expect_err("other device");
    assert!(matches!(err, VendError::PoolForAnotherDevice { .. }), "{err}");

    // The machine runs pool A; a payment for pool B's invoice is not its own.
    machine.install_pool(pool_a.bytes.clone()).expect("install a");
    let b = Pool::parse(&pool_b.bytes).expect("pool b parses");
    let b_invoice = b.entry(0).expect("entry").bolt11();
    let preimage = pay(&w.customer, &b_invoice).await;
    let err = machine.present(ClaimInput::Text(&hex::encode(preimage))).expect_err("pool b");
    assert!(matches!(err, VendError::Refused(Refusal::UnknownPayment { .. })), "{err}");
    assert!(err.to_string().contains("pays no invoice of this machine"), "{err}");
    // Claims that say where they belong get precise answers.
    use lnedge_proto::envelope::{Claim, ClaimContext, Envelope};
    let with_context = |device_id, pool_id| {
        let context = ClaimContext { device_id, pool_id, entry_index: 0 };
        Envelope::Claim(Claim { preimage, context: Some(context) }).to_text().expect("text")
    };
    let other_device = with_context(DeviceId([0x22; 16]), PoolId([2; 8]));
    let err = machine.present(ClaimInput::Text(&other_device)).expect_err("another device");
    assert!(matches!(err, VendError::Refused(Refusal::ClaimForAnotherDevice { .. })), "{err}");
    assert!(err.to_string().contains("not this one"), "{err}");
    let other_pool = with_context(DEVICE, PoolId([3; 8]));
    let err = machine.present(ClaimInput::Text(&other_pool)).expect_err("another pool");
    assert!(matches!(err, VendError::Refused(Refusal::ClaimForAnotherPool { .. })), "{err}");
    // And an NFC claim for this machine's own invoice works.
    let offer = machine.offer(1).expect("offer");
    let preimage = pay(&w.customer, &offer.bolt11).await;
    let nfc = lnedge_proto::envelope::ndef::Message::from_envelope(Envelope::Claim(Claim::bare(
        preimage,
    )))
    .to_vec()
    .expect("ndef");
    let outcome = machine.present(ClaimInput::Ndef(&nfc)).expect("nfc claim");
    assert!(matches!(outcome, VendOutcome::Dispensed { product: 1, .. }), "{outcome:?}");

    // Nothing was spent by the refusals.
    assert_eq!(machine.products().expect("products")[0].available, 1, "only the NFC sale used one");
    assert_eq!(machine.products().expect("products")[1].available, 2);
    w.net.shutdown().await;
}
