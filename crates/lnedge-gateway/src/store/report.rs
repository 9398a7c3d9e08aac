//! The sales report's records as the store holds them, in report order (issue #17): what
//! [`GatewayStore::report_records`](super::GatewayStore::report_records) sends. The rules that
//! make a record a row of the books live in [`crate::reconcile`], not here.

use std::collections::{BTreeMap, HashMap};

use lnedge_proto::DeviceId;
use tokio::sync::mpsc::Sender;

use super::deputy::DeputySaleRecord;
use super::payers::PayerPaymentRecord;
use super::refunds::RefundState;
use super::{EntryRecord, GatewayStore, PaymentRecord, StoreError};

/// One record of the sales report.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportRecord {
    /// A pool entry of a device, with the payment of its hash and its refund's state, if any.
    Entry {
        /// The device whose pool holds it.
        device_id: DeviceId,
        /// The entry.
        entry: EntryRecord,
        /// The node's payment of its hash.
        payment: Option<PaymentRecord>,
        /// The state of its refund.
        refund: Option<RefundState>,
    },
    /// A deputy sale.
    Deputy(DeputySaleRecord),
    /// A payment the owner's node made for a card or a payer device.
    Payer(PayerPaymentRecord),
}

/// The report's records read with the store's other queries (five, whatever the fleet's
/// size) and sent in report order: per device (by id) its pool entries (pools in
/// [`pools`](GatewayStore::pools) order, then by index), then its deputy sales (by counter);
/// then the payers' payments, oldest first. Holds them all in memory: the default of
/// [`GatewayStore::report_records`], and what a store's own streaming answer must equal.
pub async fn collect_report_records<S: GatewayStore + ?Sized>(
    store: &S,
    out: &Sender<ReportRecord>,
) -> Result<(), StoreError> {
    let payments: HashMap<[u8; 32], PaymentRecord> =
        store.payments().await?.into_iter().map(|p| (p.payment_hash, p)).collect();
    let refunds: HashMap<[u8; 32], RefundState> =
        store.refunds().await?.into_iter().map(|r| (r.payment_hash, r.state)).collect();
    let mut by_device: BTreeMap<DeviceId, (Vec<EntryRecord>, Vec<DeputySaleRecord>)> =
        BTreeMap::new();
    for (device, entry) in store.entries_by_device().await? {
        by_device.entry(device).or_default().0.push(entry);
    }
    for sale in store.deputy_sales(None, u32::MAX).await? {
        by_device.entry(sale.device_id).or_default().1.push(sale);
    }
    let mut records = Vec::new();
    for (device_id, (entries, mut deputy)) in by_device {
        for entry in entries {
            records.push(ReportRecord::Entry {
                device_id,
                payment: payments.get(&entry.payment_hash).cloned(),
                refund: refunds.get(&entry.payment_hash).copied(),
                entry,
            });
        }
        deputy.sort_by_key(|sale| sale.counter);
        records.extend(deputy.into_iter().map(ReportRecord::Deputy));
    }
    let payers = store.payer_payments(None, u32::MAX).await?;
    records.extend(payers.into_iter().map(ReportRecord::Payer));
    for record in records {
        if out.send(record).await.is_err() {
            break; // the reader is gone
        }
    }
    Ok(())
}
