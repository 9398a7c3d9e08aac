//! Conformance scenarios of [`DeputyStore`](crate::store::deputy::DeputyStore).

use lnedge_proto::DeviceId;

use super::{enrol, new_device_id};
use crate::store::deputy::{BeginSale, ClaimMark, DeputySaleRecord, DeputyStatus};
use crate::store::{FiatQuote, GatewayStore, StoreError};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    counters_and_refetch(store).await;
    status_moves_forward(store).await;
    invoice_first_writer_wins(store).await;
    concurrent_fetches_record_one_sale(store).await;
}

/// A sample sale of `device` with `counter` (4.20 EUR at 60 000 EUR/BTC), requested.
pub fn sample_sale(device: DeviceId, counter: u64) -> DeputySaleRecord {
    DeputySaleRecord {
        device_id: device,
        counter,
        amount: 420,
        currency: "EUR".into(),
        amount_msat: 7_000_000,
        quote: Some(FiatQuote {
            currency: "EUR".into(),
            rate_per_btc: 60_000.0,
            source: "fixed".into(),
        }),
        payment_hash: rand::random(),
        created_at: 1_700_000_000 + counter,
        invoice: None,
        status: DeputyStatus::Requested,
        paid_at: None,
        claimed_at: None,
    }
}

/// New counters are recorded; the same counter again returns the stored sale; a lower one is
/// stale; an unknown device is refused.
pub async fn counters_and_refetch(store: &dyn GatewayStore) {
    let s = store.name();
    let device = enrol(store).await;
    let first = sample_sale(device, 5);
    assert_eq!(store.begin_deputy_sale(&first).await.unwrap(), BeginSale::Created, "[{s}]");
    let again = DeputySaleRecord { payment_hash: rand::random(), ..first.clone() };
    assert_eq!(
        store.begin_deputy_sale(&again).await.unwrap(),
        BeginSale::Existing(first.clone()),
        "[{s}] a refetch returns the stored sale unchanged"
    );
    assert_eq!(
        store.begin_deputy_sale(&sample_sale(device, 4)).await.unwrap(),
        BeginSale::Stale { highest: 5 },
        "[{s}] a lower counter is stale"
    );
    assert_eq!(
        store.begin_deputy_sale(&sample_sale(device, 6)).await.unwrap(),
        BeginSale::Created,
        "[{s}]"
    );
    assert_eq!(
        store.begin_deputy_sale(&sample_sale(device, 5)).await.unwrap(),
        BeginSale::Existing(first.clone()),
        "[{s}] an existing sale stays readable after later ones"
    );
    // Counters are per device.
    let other = enrol(store).await;
    assert_eq!(
        store.begin_deputy_sale(&sample_sale(other, 1)).await.unwrap(),
        BeginSale::Created,
        "[{s}]"
    );
    let unknown = new_device_id();
    assert!(
        matches!(
            store.begin_deputy_sale(&sample_sale(unknown, 1)).await,
            Err(StoreError::UnknownDevice(d)) if d == unknown
        ),
        "[{s}] unknown device"
    );
    assert_eq!(store.deputy_sale(device, 5).await.unwrap(), Some(first.clone()), "[{s}]");
    assert_eq!(store.deputy_sale(device, 7).await.unwrap(), None, "[{s}]");
    assert_eq!(
        store.deputy_sale_by_hash(&first.payment_hash).await.unwrap(),
        Some(first.clone()),
        "[{s}]"
    );
    let listed = store.deputy_sales(Some(device), 100).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.counter).collect::<Vec<_>>(), [6, 5], "[{s}] newest first");
    assert_eq!(store.deputy_sales(Some(device), 1).await.unwrap().len(), 1, "[{s}] limit");
    let all = store.deputy_sales(None, 10_000).await.unwrap();
    assert!(all.iter().any(|r| r.device_id == other), "[{s}] all devices");
}

/// requested → paid → claimed, each once; claims of unpaid or unknown sales are told apart.
pub async fn status_moves_forward(store: &dyn GatewayStore) {
    let s = store.name();
    let device = enrol(store).await;
    let sale = sample_sale(device, 1);
    store.begin_deputy_sale(&sale).await.unwrap();
    assert_eq!(
        store.mark_deputy_claimed(device, 1, 10).await.unwrap(),
        ClaimMark::NotPaid,
        "[{s}] an unpaid sale is not claimed"
    );
    assert!(store.mark_deputy_paid(&sale.payment_hash, 1_700_000_100).await.unwrap(), "[{s}]");
    assert!(!store.mark_deputy_paid(&sale.payment_hash, 1).await.unwrap(), "[{s}] once");
    assert!(!store.mark_deputy_paid(&rand::random(), 1).await.unwrap(), "[{s}] unknown hash");
    let got = store.deputy_sale(device, 1).await.unwrap().unwrap();
    assert_eq!((got.status, got.paid_at), (DeputyStatus::Paid, Some(1_700_000_100)), "[{s}]");
    assert_eq!(
        store.mark_deputy_claimed(device, 1, 1_700_000_200).await.unwrap(),
        ClaimMark::Claimed
    );
    assert_eq!(
        store.mark_deputy_claimed(device, 1, 1).await.unwrap(),
        ClaimMark::AlreadyClaimed,
        "[{s}]"
    );
    assert_eq!(store.mark_deputy_claimed(device, 2, 1).await.unwrap(), ClaimMark::Unknown);
    let got = store.deputy_sale(device, 1).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.paid_at, got.claimed_at),
        (DeputyStatus::Claimed, Some(1_700_000_100), Some(1_700_000_200)),
        "[{s}]"
    );
    assert!(!store.mark_deputy_paid(&sale.payment_hash, 5).await.unwrap(), "[{s}] no regression");
    assert_eq!(store.deputy_sale(device, 1).await.unwrap().unwrap().status, DeputyStatus::Claimed);
}

/// The first invoice stored for a sale is the one every later call gets.
pub async fn invoice_first_writer_wins(store: &dyn GatewayStore) {
    let s = store.name();
    let device = enrol(store).await;
    store.begin_deputy_sale(&sample_sale(device, 3)).await.unwrap();
    assert_eq!(store.set_deputy_invoice(device, 3, "lnbcrt1first").await.unwrap(), "lnbcrt1first");
    assert_eq!(
        store.set_deputy_invoice(device, 3, "lnbcrt1second").await.unwrap(),
        "lnbcrt1first",
        "[{s}]"
    );
    assert_eq!(
        store.deputy_sale(device, 3).await.unwrap().unwrap().invoice.as_deref(),
        Some("lnbcrt1first")
    );
    assert!(store.set_deputy_invoice(device, 4, "lnbcrt1x").await.is_err(), "[{s}] no such sale");
}

/// Four wallets fetching the same new sale at once: one records it, the others get it back.
pub async fn concurrent_fetches_record_one_sale(store: &dyn GatewayStore) {
    let s = store.name();
    let device = enrol(store).await;
    let sale = sample_sale(device, 1);
    let (a, b, c, d) = tokio::join!(
        store.begin_deputy_sale(&sale),
        store.begin_deputy_sale(&sale),
        store.begin_deputy_sale(&sale),
        store.begin_deputy_sale(&sale),
    );
    let outcomes =
        [a, b, c, d].map(|r| r.unwrap_or_else(|e| panic!("[{s}] concurrent fetch: {e}")));
    let created = outcomes.iter().filter(|o| **o == BeginSale::Created).count();
    let existing = outcomes.iter().filter(|o| **o == BeginSale::Existing(sale.clone())).count();
    assert_eq!((created, existing), (1, 3), "[{s}] {outcomes:?}");
}
