//! Reconciliation: what devices say happened (their ledgers, at sync) against what the owner's
//! node says was paid.

use std::collections::BTreeMap;
use std::sync::Arc;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};

use crate::store::deputy::DeputyStatus;
use crate::store::payers::{PayerKind, PayerPaymentState};
use tokio::sync::mpsc;

use crate::store::refunds::RefundState;
use crate::store::report::ReportRecord;
use crate::store::{EntryRecord, FiatQuote, GatewayStore, PaymentRecord, StoreError};

/// The reconciled status of one pool entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SaleStatus {
    /// Paid, and the device handed the product out.
    Delivered,
    /// Paid, and the device's motor failed: a refund is due (or being paid out).
    RefundDue,
    /// Paid, the vend failed, and the customer was paid back (LNURL-withdraw, `docs/refunds.md`).
    Refunded,
    /// Paid, the vend failed, and the refund expired unclaimed: the operator keeps the money.
    RefundExpired,
    /// Paid, claimed, outcome not recorded (power cut): the operator decides.
    OutcomeUnknown,
    /// Paid, but the customer never presented the payment at the device (or the device has not
    /// synced since).
    PaidNotClaimed,
    /// The device says claimed, the node has no payment: must never happen. Alert.
    ClaimedNotPaid,
    /// Money out: the owner's node paid a merchant for a card or a payer device.
    Spent,
}

impl SaleStatus {
    /// A stable lower-case name (JSON, CSV, metrics labels).
    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Delivered => "delivered",
            SaleStatus::RefundDue => "refund_due",
            SaleStatus::Refunded => "refunded",
            SaleStatus::RefundExpired => "refund_expired",
            SaleStatus::OutcomeUnknown => "outcome_unknown",
            SaleStatus::PaidNotClaimed => "paid_not_claimed",
            SaleStatus::ClaimedNotPaid => "claimed_not_paid",
            SaleStatus::Spent => "spent",
        }
    }
}

/// Where a sale comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaleOrigin {
    /// An entry of an invoice pool: a pre-signed invoice for one product slot.
    Pool {
        /// The pool.
        pool_id: PoolId,
        /// The entry.
        index: u32,
        /// The product.
        product: u16,
    },
    /// A deputy sale: any amount, rung up offline at a terminal (`docs/deputy.md`).
    Deputy {
        /// The terminal's sale counter.
        counter: u64,
    },
    /// Money out: a Bolt Card's payment (`docs/cards.md`); the row's device is the card.
    Card {
        /// The tap's counter.
        counter: u32,
    },
    /// Money out: a payer device's token payment (`docs/tokens.md`); the row's device is it.
    Token {
        /// The token's counter.
        counter: u32,
    },
}

impl SaleOrigin {
    /// `pool` or `deputy` (JSON, CSV).
    pub fn kind(&self) -> &'static str {
        match self {
            SaleOrigin::Pool { .. } => "pool",
            SaleOrigin::Deputy { .. } => "deputy",
            SaleOrigin::Card { .. } => "card",
            SaleOrigin::Token { .. } => "token",
        }
    }

    /// A card's or token's counter (money out).
    pub fn payer_counter(&self) -> Option<u32> {
        match self {
            SaleOrigin::Card { counter } | SaleOrigin::Token { counter } => Some(*counter),
            _ => None,
        }
    }
}

/// One reconciled sale (or anomaly).
#[derive(Debug, Clone, PartialEq)]
pub struct SaleRow {
    /// The device.
    pub device_id: DeviceId,
    /// The pool entry or the deputy sale.
    pub origin: SaleOrigin,
    /// The payment hash.
    pub payment_hash: [u8; 32],
    /// The reconciled status.
    pub status: SaleStatus,
    /// Amount received in millisatoshis (0 if not paid).
    pub amount_msat: u64,
    /// When the node settled it (seconds since the Unix epoch), if paid.
    pub paid_at: Option<u64>,
    /// The exchange rate at payment time, if captured.
    pub quote: Option<FiatQuote>,
}

impl SaleRow {
    /// The fiat value at the rate of payment time, in the currency's major unit.
    pub fn fiat_amount(&self) -> Option<(String, f64)> {
        self.quote
            .as_ref()
            .map(|q| (q.currency.clone(), self.amount_msat as f64 / 1e11 * q.rate_per_btc))
    }
}

/// Classifies one entry.
pub fn classify(entry: &EntryRecord, payment: Option<&PaymentRecord>) -> Option<SaleStatus> {
    match (entry.state, payment.is_some()) {
        (EntryState::Dispensed, true) => Some(SaleStatus::Delivered),
        (EntryState::Failed, true) => Some(SaleStatus::RefundDue),
        (EntryState::Claimed, true) => Some(SaleStatus::OutcomeUnknown),
        (EntryState::Unused | EntryState::Offered, true) => Some(SaleStatus::PaidNotClaimed),
        (EntryState::Claimed | EntryState::Dispensed | EntryState::Failed, false) => {
            Some(SaleStatus::ClaimedNotPaid)
        }
        (EntryState::Unused | EntryState::Offered, false) => None,
    }
}

/// The status once the refund of the entry (if any) is taken into account: a refund paid out or
/// expired settles the sale's outcome, whatever the device's ledger says (a refund can be paid
/// on a device's attestation before its ledger is synced).
pub fn with_refund(status: SaleStatus, refund: Option<RefundState>) -> SaleStatus {
    match refund {
        Some(RefundState::Paid) => SaleStatus::Refunded,
        Some(RefundState::Expired) => SaleStatus::RefundExpired,
        Some(RefundState::Due | RefundState::Claimed) => SaleStatus::RefundDue,
        None => status,
    }
}

/// Sums of a set of sales: amount received, amount spent, row count, rows by status.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Total {
    /// Millisatoshis received.
    pub amount_msat: u64,
    /// Millisatoshis paid out for cards and payer devices (rows `spent`).
    pub spent_msat: u64,
    /// Rows counted.
    pub rows: u64,
    /// Rows by status (`delivered`, `refund_due`, …).
    pub by_status: BTreeMap<&'static str, u64>,
}

impl Total {
    fn add(&mut self, r: &SaleRow) {
        if r.status == SaleStatus::Spent {
            self.spent_msat = self.spent_msat.saturating_add(r.amount_msat);
        } else {
            self.amount_msat = self.amount_msat.saturating_add(r.amount_msat);
        }
        self.rows += 1;
        *self.by_status.entry(r.status.as_str()).or_default() += 1;
    }
}

/// The totals of a sales report: all rows, by device, and by product keyed
/// `<device_id>/<product id>` (product ids are a device's slots) or `<device_id>/deputy` for
/// the device's deputy sales.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SalesTotals {
    /// All rows.
    #[serde(flatten)]
    pub all: Total,
    /// By device id.
    pub by_device: BTreeMap<String, Total>,
    /// By `<device_id>/<product>`.
    pub by_product: BTreeMap<String, Total>,
}

impl SalesTotals {
    /// The totals of `rows`.
    pub fn of(rows: &[SaleRow]) -> SalesTotals {
        let mut t = SalesTotals::default();
        for r in rows {
            t.all.add(r);
            t.by_device.entry(r.device_id.to_string()).or_default().add(r);
            let product = match r.origin {
                SaleOrigin::Pool { product, .. } => product.to_string(),
                other => other.kind().to_owned(),
            };
            t.by_product.entry(format!("{}/{product}", r.device_id)).or_default().add(r);
        }
        t
    }
}

/// Every paid or claimed pool entry and every paid deputy sale of every device, reconciled,
/// ordered by device, then pool and index, then deputy counter; then every paid card and payer
/// device payment (money out, status `spent`), oldest first.
pub async fn sales_report(store: &dyn GatewayStore) -> Result<Vec<SaleRow>, StoreError> {
    let mut rows = Vec::new();
    for_each_row(store, |row| {
        rows.push(row);
        std::future::ready(true)
    })
    .await?;
    Ok(rows)
}

/// How many records or rows are in flight between the store and the report's reader.
const RECORDS_IN_FLIGHT: usize = 512;

/// [`sales_report`] as rows read while the store reads them: with a store that streams its
/// records (SQLite, PostgreSQL) memory stays flat however large the books. The last item is
/// the error, if the store failed part-way. Dropping the receiver stops the read.
pub fn sales_rows(store: Arc<dyn GatewayStore>) -> mpsc::Receiver<Result<SaleRow, StoreError>> {
    let (rows_out, rows) = mpsc::channel(RECORDS_IN_FLIGHT);
    tokio::spawn(async move {
        let read = for_each_row(store.as_ref(), |row| {
            let out = rows_out.clone();
            async move { out.send(Ok(row)).await.is_ok() }
        })
        .await;
        if let Err(e) = read {
            let _ = rows_out.send(Err(e)).await;
        }
    });
    rows
}

/// Reads the report's records from `store` and hands every sale row, in order, to `row`, which
/// answers whether to go on (when it says no, the store's read stops).
async fn for_each_row<F, Fut>(store: &dyn GatewayStore, mut row: F) -> Result<(), StoreError>
where
    F: FnMut(SaleRow) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (out, mut records) = mpsc::channel(RECORDS_IN_FLIGHT);
    let forwarding = async move {
        while let Some(record) = records.recv().await {
            if let Some(sale) = sale_row(record) {
                if !row(sale).await {
                    break; // dropping `records` stops the store
                }
            }
        }
    };
    let (read, ()) = tokio::join!(store.report_records(out), forwarding);
    read
}

/// The row of one record, if it is a sale of the books (or an anomaly they must show).
pub fn sale_row(record: ReportRecord) -> Option<SaleRow> {
    match record {
        ReportRecord::Entry { device_id, entry, payment, refund } => {
            let status = classify(&entry, payment.as_ref())?;
            let status = match payment {
                Some(_) => with_refund(status, refund),
                None => status, // nothing was paid, so nothing can have been refunded
            };
            Some(SaleRow {
                device_id,
                origin: SaleOrigin::Pool {
                    pool_id: entry.pool_id,
                    index: entry.index,
                    product: entry.product,
                },
                payment_hash: entry.payment_hash,
                status,
                amount_msat: payment.as_ref().map_or(0, |p| p.amount_msat),
                paid_at: payment.as_ref().map(|p| p.paid_at),
                quote: payment.and_then(|p| p.quote),
            })
        }
        // Deputy sales: paid ones, in counter order after the device's pools.
        ReportRecord::Deputy(sale) => Some(SaleRow {
            device_id: sale.device_id,
            origin: SaleOrigin::Deputy { counter: sale.counter },
            payment_hash: sale.payment_hash,
            status: deputy_status(sale.status)?,
            amount_msat: sale.amount_msat,
            paid_at: sale.paid_at,
            quote: sale.quote,
        }),
        ReportRecord::Payer(paid) => (paid.state == PayerPaymentState::Paid).then_some(SaleRow {
            device_id: paid.payer_id,
            origin: match paid.kind {
                PayerKind::Card => SaleOrigin::Card { counter: paid.counter },
                PayerKind::Device => SaleOrigin::Token { counter: paid.counter },
            },
            payment_hash: paid.payment_hash,
            status: SaleStatus::Spent,
            amount_msat: paid.amount_msat,
            paid_at: paid.settled_at,
            quote: None,
        }),
    }
}

/// A deputy sale's status in the books: not paid → not a sale; paid but the terminal has not
/// reported the customer's claim → `paid_not_claimed`; claimed → `delivered`.
pub fn deputy_status(status: DeputyStatus) -> Option<SaleStatus> {
    match status {
        DeputyStatus::Requested => None,
        DeputyStatus::Paid => Some(SaleStatus::PaidNotClaimed),
        DeputyStatus::Claimed => Some(SaleStatus::Delivered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_settles_the_outcome() {
        use SaleStatus::*;
        assert_eq!(with_refund(RefundDue, Some(RefundState::Paid)), Refunded);
        assert_eq!(with_refund(OutcomeUnknown, Some(RefundState::Paid)), Refunded);
        assert_eq!(with_refund(RefundDue, Some(RefundState::Expired)), RefundExpired);
        assert_eq!(with_refund(PaidNotClaimed, Some(RefundState::Claimed)), RefundDue);
        assert_eq!(with_refund(Delivered, None), Delivered);
        assert_eq!(Refunded.as_str(), "refunded");
        assert_eq!(RefundExpired.as_str(), "refund_expired");
    }

    #[test]
    fn deputy_sales_are_sales_once_paid() {
        assert_eq!(deputy_status(DeputyStatus::Requested), None);
        assert_eq!(deputy_status(DeputyStatus::Paid), Some(SaleStatus::PaidNotClaimed));
        assert_eq!(deputy_status(DeputyStatus::Claimed), Some(SaleStatus::Delivered));
    }

    fn entry(state: EntryState) -> EntryRecord {
        EntryRecord {
            pool_id: PoolId([1; 8]),
            index: 0,
            product: 1,
            seq: 0,
            payment_hash: [2; 32],
            amount_msat: 1000,
            state,
        }
    }

    #[test]
    fn every_combination_has_one_meaning() {
        let paid =
            PaymentRecord { payment_hash: [2; 32], amount_msat: 1000, paid_at: 5, quote: None };
        let cases = [
            (EntryState::Dispensed, true, Some(SaleStatus::Delivered)),
            (EntryState::Failed, true, Some(SaleStatus::RefundDue)),
            (EntryState::Claimed, true, Some(SaleStatus::OutcomeUnknown)),
            (EntryState::Offered, true, Some(SaleStatus::PaidNotClaimed)),
            (EntryState::Unused, true, Some(SaleStatus::PaidNotClaimed)),
            (EntryState::Dispensed, false, Some(SaleStatus::ClaimedNotPaid)),
            (EntryState::Claimed, false, Some(SaleStatus::ClaimedNotPaid)),
            (EntryState::Offered, false, None),
            (EntryState::Unused, false, None),
        ];
        for (state, is_paid, want) in cases {
            assert_eq!(
                classify(&entry(state), is_paid.then_some(&paid)),
                want,
                "{state:?} paid={is_paid}"
            );
        }
    }

    #[test]
    fn fiat_value_uses_the_rate_at_payment_time() {
        let row = SaleRow {
            device_id: DeviceId([0; 16]),
            origin: SaleOrigin::Pool { pool_id: PoolId([0; 8]), index: 0, product: 1 },
            payment_hash: [0; 32],
            status: SaleStatus::Delivered,
            amount_msat: 2_500_000, // 2 500 sat
            paid_at: Some(1),
            quote: Some(FiatQuote {
                currency: "EUR".into(),
                rate_per_btc: 60_000.0,
                source: "fixed".into(),
            }),
        };
        let (currency, amount) = row.fiat_amount().expect("quoted");
        assert_eq!(currency, "EUR");
        assert!(
            (amount - 1.5).abs() < 1e-9,
            "2 500 sat at 60 000 EUR/BTC is 1.50 EUR, got {amount}"
        );
    }
}
