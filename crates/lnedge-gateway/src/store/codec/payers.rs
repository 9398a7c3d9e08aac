//! Payer, tap and payer-payment rows ⇄ records ([`crate::store::payers`]). Ids, UIDs and
//! hashes are lower-case hex text in both databases, so one schema and one codec serve both.

use lnedge_proto::DeviceId;

use super::{opt_i64, to_i64, to_u32, Columns};
use crate::store::payers::{
    PayerKind, PayerPaymentRecord, PayerPaymentState, PayerRecord, PayerState, TapRecord,
};
use crate::store::StoreError;

/// The columns of `payers`, in the order [`PayerRow`] binds them.
pub(crate) const PAYER_COLUMNS: &str = "id, kind, name, state, uid, key_version, \
     program_code_hash, program_expires_at, counter, per_payment_msat, per_day_msat, \
     pin_limit_msat, pin_hash, pin_failures, day, day_spent_msat, created_at, version";

/// The columns of `payer_taps`, in the order the writers bind them.
pub(crate) const TAP_COLUMNS: &str = "k1_hash, payer_id, counter, expires_at, used";

/// The columns of `payer_payments`, in the order [`PaymentRow`] binds them.
pub(crate) const PAYMENT_COLUMNS: &str = "payment_hash, payer_id, kind, counter, amount_msat, \
     fee_msat, state, invoice, failure, created_at, settled_at, version";

fn corrupt(column: &str, what: &str) -> StoreError {
    StoreError::Backend(format!("{column} is not {what}"))
}

fn fixed<const N: usize>(text: &str, column: &str) -> Result<[u8; N], StoreError> {
    let bytes = hex::decode(text).map_err(|_| corrupt(column, "hex"))?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| corrupt(column, "of the right length"))
}

fn opt_fixed<const N: usize>(
    text: Option<String>,
    column: &str,
) -> Result<Option<[u8; N]>, StoreError> {
    text.map(|t| fixed::<N>(&t, column)).transpose()
}

/// A payer as the values its row binds, in [`PAYER_COLUMNS`] order.
pub(crate) struct PayerRow {
    pub id: String,
    pub kind: &'static str,
    pub name: String,
    pub state: &'static str,
    pub uid: Option<String>,
    pub key_version: i64,
    pub program_code_hash: Option<String>,
    pub program_expires_at: i64,
    pub counter: Option<i64>,
    pub per_payment_msat: i64,
    pub per_day_msat: i64,
    pub pin_limit_msat: Option<i64>,
    pub pin_hash: Option<String>,
    pub pin_failures: i64,
    pub day: i64,
    pub day_spent_msat: i64,
    pub created_at: i64,
    pub version: i64,
}

impl PayerRow {
    /// The row of `p` (numbers a database cannot hold are refused, naming the field).
    pub(crate) fn of(p: &PayerRecord) -> Result<Self, StoreError> {
        Ok(PayerRow {
            id: hex::encode(p.id.0),
            kind: p.kind.as_str(),
            name: p.name.clone(),
            state: p.state.as_str(),
            uid: p.uid.map(hex::encode),
            key_version: i64::from(p.key_version),
            program_code_hash: p.program_code_hash.map(hex::encode),
            program_expires_at: to_i64(p.program_expires_at, "program_expires_at")?,
            counter: p.counter.map(i64::from),
            per_payment_msat: to_i64(p.per_payment_msat, "per_payment_msat")?,
            per_day_msat: to_i64(p.per_day_msat, "per_day_msat")?,
            pin_limit_msat: opt_i64(p.pin_limit_msat, "pin_limit_msat")?,
            pin_hash: p.pin_hash.map(hex::encode),
            pin_failures: i64::from(p.pin_failures),
            day: to_i64(p.day, "day")?,
            day_spent_msat: to_i64(p.day_spent_msat, "day_spent_msat")?,
            created_at: to_i64(p.created_at, "created_at")?,
            version: to_i64(p.version, "version")?,
        })
    }
}

/// A `payers` row.
pub(crate) fn payer(row: &impl Columns) -> Result<PayerRecord, StoreError> {
    let kind = row.text("kind")?;
    let state = row.text("state")?;
    Ok(PayerRecord {
        id: DeviceId(fixed::<16>(&row.text("id")?, "payers.id")?),
        kind: PayerKind::parse(&kind).ok_or_else(|| corrupt("payers.kind", "a payer kind"))?,
        name: row.text("name")?,
        state: PayerState::parse(&state).ok_or_else(|| corrupt("payers.state", "a state"))?,
        uid: opt_fixed::<7>(row.text_or_null("uid")?, "payers.uid")?,
        key_version: row.u32("key_version")?,
        program_code_hash: opt_fixed::<32>(
            row.text_or_null("program_code_hash")?,
            "payers.program_code_hash",
        )?,
        program_expires_at: row.u64("program_expires_at")?,
        counter: row.int_or_null("counter")?.map(|c| to_u32(c, "payers.counter")).transpose()?,
        per_payment_msat: row.u64("per_payment_msat")?,
        per_day_msat: row.u64("per_day_msat")?,
        pin_limit_msat: row.u64_or_null("pin_limit_msat")?,
        pin_hash: opt_fixed::<32>(row.text_or_null("pin_hash")?, "payers.pin_hash")?,
        pin_failures: row.u32("pin_failures")?,
        day: row.u64("day")?,
        day_spent_msat: row.u64("day_spent_msat")?,
        created_at: row.u64("created_at")?,
        version: row.u64("version")?,
    })
}

/// A `payer_taps` row.
pub(crate) fn tap(row: &impl Columns) -> Result<TapRecord, StoreError> {
    Ok(TapRecord {
        k1_hash: fixed::<32>(&row.text("k1_hash")?, "payer_taps.k1_hash")?,
        payer_id: DeviceId(fixed::<16>(&row.text("payer_id")?, "payer_taps.payer_id")?),
        counter: row.u32("counter")?,
        expires_at: row.u64("expires_at")?,
        used: row.flag("used")?,
    })
}

/// A payment as the values its row binds, in [`PAYMENT_COLUMNS`] order.
pub(crate) struct PaymentRow {
    pub payment_hash: String,
    pub payer_id: String,
    pub kind: &'static str,
    pub counter: i64,
    pub amount_msat: i64,
    pub fee_msat: Option<i64>,
    pub state: &'static str,
    pub invoice: String,
    pub failure: Option<String>,
    pub created_at: i64,
    pub settled_at: Option<i64>,
    pub version: i64,
}

impl PaymentRow {
    /// The row of `p`.
    pub(crate) fn of(p: &PayerPaymentRecord) -> Result<Self, StoreError> {
        Ok(PaymentRow {
            payment_hash: hex::encode(p.payment_hash),
            payer_id: hex::encode(p.payer_id.0),
            kind: p.kind.as_str(),
            counter: i64::from(p.counter),
            amount_msat: to_i64(p.amount_msat, "amount_msat")?,
            fee_msat: opt_i64(p.fee_msat, "fee_msat")?,
            state: p.state.as_str(),
            invoice: p.invoice.clone(),
            failure: p.failure.clone(),
            created_at: to_i64(p.created_at, "created_at")?,
            settled_at: opt_i64(p.settled_at, "settled_at")?,
            version: to_i64(p.version, "version")?,
        })
    }
}

/// A `payer_payments` row.
pub(crate) fn payment(row: &impl Columns) -> Result<PayerPaymentRecord, StoreError> {
    let kind = row.text("kind")?;
    let state = row.text("state")?;
    Ok(PayerPaymentRecord {
        payment_hash: fixed::<32>(&row.text("payment_hash")?, "payer_payments.payment_hash")?,
        payer_id: DeviceId(fixed::<16>(&row.text("payer_id")?, "payer_payments.payer_id")?),
        kind: PayerKind::parse(&kind).ok_or_else(|| corrupt("payer_payments.kind", "a kind"))?,
        counter: row.u32("counter")?,
        amount_msat: row.u64("amount_msat")?,
        fee_msat: row.u64_or_null("fee_msat")?,
        state: PayerPaymentState::parse(&state)
            .ok_or_else(|| corrupt("payer_payments.state", "a state"))?,
        invoice: row.text("invoice")?,
        failure: row.text_or_null("failure")?,
        created_at: row.u64("created_at")?,
        settled_at: row.u64_or_null("settled_at")?,
        version: row.u64("version")?,
    })
}
