//! How records become rows and rows become records, once for both stores.
//!
//! Each backend implements [`Columns`] for its row type (a column read by name, `NULL` as
//! `None`); the decoders here ([`entry`], [`pool`], [`product`], [`payment`], [`device`], and
//! those of the feature stores in [`refunds`], [`deputy`] and [`relay`]) turn such a row into a
//! record, refusing a corrupt one with [`StoreError::Backend`] that names the column. The
//! conversions between the records' unsigned Rust types and SQL's signed integers live here too,
//! so a value out of range is refused the same way by SQLite and PostgreSQL.

pub(crate) mod deputy;
pub(crate) mod jobs;
pub(crate) mod operators;
pub(crate) mod payers;
pub(crate) mod rate;
pub(crate) mod refunds;
pub(crate) mod relay;
pub(crate) mod report;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};

use super::{
    DeviceRecord, EntryRecord, FiatQuote, PaymentRecord, PoolRecord, Price, ProductRecord,
    StoreError,
};

/// A row of a query, its columns read by name. `NULL` reads as `None`.
pub(crate) trait Columns {
    /// An integer column of any width.
    fn int_or_null(&self, column: &str) -> Result<Option<i64>, StoreError>;
    /// A blob (`BLOB` / `BYTEA`) column.
    fn bytes_or_null(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// A text column.
    fn text_or_null(&self, column: &str) -> Result<Option<String>, StoreError>;
    /// A floating-point column.
    fn real_or_null(&self, column: &str) -> Result<Option<f64>, StoreError>;
    /// A boolean column (an integer 0/1 in SQLite).
    fn flag(&self, column: &str) -> Result<bool, StoreError>;

    /// An integer column that may not be `NULL`.
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.int_or_null(column)?.ok_or_else(|| null(column))
    }
    /// A blob column that may not be `NULL`.
    fn bytes(&self, column: &str) -> Result<Vec<u8>, StoreError> {
        self.bytes_or_null(column)?.ok_or_else(|| null(column))
    }
    /// A text column that may not be `NULL`.
    fn text(&self, column: &str) -> Result<String, StoreError> {
        self.text_or_null(column)?.ok_or_else(|| null(column))
    }
    /// An unsigned 64-bit value stored as a signed integer.
    fn u64(&self, column: &str) -> Result<u64, StoreError> {
        to_u64(self.int(column)?, column)
    }
    /// An unsigned 32-bit value.
    fn u32(&self, column: &str) -> Result<u32, StoreError> {
        to_u32(self.int(column)?, column)
    }
    /// An unsigned 16-bit value.
    fn u16(&self, column: &str) -> Result<u16, StoreError> {
        to_u16(self.int(column)?, column)
    }
    /// A 16-byte device id.
    fn device_id(&self, column: &str) -> Result<DeviceId, StoreError> {
        device_id(&self.bytes(column)?)
    }
    /// An 8-byte pool id.
    fn pool_id(&self, column: &str) -> Result<PoolId, StoreError> {
        pool_id(&self.bytes(column)?)
    }
    /// A 32-byte hash.
    fn hash32(&self, column: &str) -> Result<[u8; 32], StoreError> {
        hash32(&self.bytes(column)?)
    }
    /// An unsigned 64-bit value or `NULL`.
    fn u64_or_null(&self, column: &str) -> Result<Option<u64>, StoreError> {
        self.int_or_null(column)?.map(|v| to_u64(v, column)).transpose()
    }
    /// An unsigned 32-bit value or `NULL`.
    fn u32_or_null(&self, column: &str) -> Result<Option<u32>, StoreError> {
        self.int_or_null(column)?.map(|v| to_u32(v, column)).transpose()
    }
    /// A 32-byte hash or `NULL`.
    fn hash32_or_null(&self, column: &str) -> Result<Option<[u8; 32]>, StoreError> {
        self.bytes_or_null(column)?.map(|b| hash32(&b)).transpose()
    }
}

fn null(column: &str) -> StoreError {
    StoreError::Backend(format!("stored {column} is NULL"))
}

/// `u64` → SQL `BIGINT`, refusing values above `i64::MAX`.
pub(crate) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Backend(format!("{what} {value} does not fit a signed 64-bit column"))
    })
}

/// An optional `u64` → a nullable SQL `BIGINT`, refusing values above `i64::MAX`.
pub(crate) fn opt_i64(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
}

/// SQL `BIGINT` → `u64`, refusing negative values (a corrupt row).
pub(crate) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is negative")))
}

/// SQL integer → `u32`, refusing values out of range (a corrupt row).
pub(crate) fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is out of range")))
}

/// SQL integer → `u16`, refusing values out of range (a corrupt row).
pub(crate) fn to_u16(value: i64, what: &str) -> Result<u16, StoreError> {
    u16::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is out of range")))
}

/// The code a ledger state is stored as.
pub(crate) fn state_code(state: EntryState) -> i16 {
    match state {
        EntryState::Unused => 0,
        EntryState::Offered => 1,
        EntryState::Claimed => 2,
        EntryState::Dispensed => 3,
        EntryState::Failed => 4,
    }
}

/// The ledger state a stored code stands for.
pub(crate) fn state_from_code(code: i64) -> Result<EntryState, StoreError> {
    Ok(match code {
        0 => EntryState::Unused,
        1 => EntryState::Offered,
        2 => EntryState::Claimed,
        3 => EntryState::Dispensed,
        4 => EntryState::Failed,
        other => {
            return Err(StoreError::Backend(format!("stored ledger state code {other} is unknown")))
        }
    })
}

/// A price as its columns `price_kind`, `price_msat`, `currency`, `amount_minor`.
pub(crate) type PriceColumns = (i16, Option<i64>, Option<String>, Option<i64>);

/// Splits a price into its columns.
pub(crate) fn price_columns(price: &Price) -> Result<PriceColumns, StoreError> {
    Ok(match price {
        Price::Msat(msat) => (0, Some(to_i64(*msat, "price_msat")?), None, None),
        Price::Fiat { currency, amount_minor } => {
            (1, None, Some(currency.clone()), Some(to_i64(*amount_minor, "amount_minor")?))
        }
    })
}

/// A stored 16-byte device id.
pub(crate) fn device_id(bytes: &[u8]) -> Result<DeviceId, StoreError> {
    <[u8; 16]>::try_from(bytes).map(DeviceId).map_err(|_| {
        StoreError::Backend(format!("stored device id has {} bytes, not 16", bytes.len()))
    })
}

/// A stored 8-byte pool id.
pub(crate) fn pool_id(bytes: &[u8]) -> Result<PoolId, StoreError> {
    <[u8; 8]>::try_from(bytes).map(PoolId).map_err(|_| {
        StoreError::Backend(format!("stored pool id has {} bytes, not 8", bytes.len()))
    })
}

/// A stored 32-byte payment hash.
pub(crate) fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        StoreError::Backend(format!("stored payment hash has {} bytes, not 32", bytes.len()))
    })
}

/// Checks that every entry of a pool names that pool.
pub(crate) fn check_entries(pool: &PoolRecord, entries: &[EntryRecord]) -> Result<(), StoreError> {
    match entries.iter().find(|e| e.pool_id != pool.id) {
        Some(e) => Err(StoreError::Backend(format!(
            "entry {} names pool {}, not the pool {} being inserted",
            e.index, e.pool_id, pool.id
        ))),
        None => Ok(()),
    }
}

/// A row's columns named with a prefix (`pay_amount_msat` read as `amount_msat`): one table's
/// columns of a joined query, decoded by that table's codec.
pub(crate) struct Prefixed<'a, R>(pub &'a R, pub &'static str);

impl<R: Columns> Columns for Prefixed<'_, R> {
    fn int_or_null(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.0.int_or_null(&format!("{}{column}", self.1))
    }
    fn bytes_or_null(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.bytes_or_null(&format!("{}{column}", self.1))
    }
    fn text_or_null(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.0.text_or_null(&format!("{}{column}", self.1))
    }
    fn real_or_null(&self, column: &str) -> Result<Option<f64>, StoreError> {
        self.0.real_or_null(&format!("{}{column}", self.1))
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.0.flag(&format!("{}{column}", self.1))
    }
}

/// `columns` (a `*_COLUMNS` list) of `table` as `table.c AS <prefix>c, …`; with `table`
/// `None`, as `NULL AS <prefix>c, …` (the other side of a `UNION ALL`).
pub(crate) fn aliased(table: Option<&str>, columns: &str, prefix: &str) -> String {
    columns
        .split(',')
        .map(str::trim)
        .map(|c| match table {
            Some(t) => format!("{t}.{c} AS {prefix}{c}"),
            None => format!("NULL AS {prefix}{c}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns [`entry`] reads, for `SELECT`s and `INSERT`s.
pub(crate) const ENTRY_COLUMNS: &str =
    "pool_id, idx, product, seq, payment_hash, amount_msat, state";

/// An `entries` row.
pub(crate) fn entry(row: &impl Columns) -> Result<EntryRecord, StoreError> {
    Ok(EntryRecord {
        pool_id: row.pool_id("pool_id")?,
        index: row.u32("idx")?,
        product: row.u16("product")?,
        seq: row.u32("seq")?,
        payment_hash: row.hash32("payment_hash")?,
        amount_msat: row.u64("amount_msat")?,
        state: state_from_code(row.int("state")?)?,
    })
}

/// The columns [`pool`] reads.
pub(crate) const POOL_COLUMNS: &str = "id, device_id, created_at, expires_at, bytes";

/// A `pools` row.
pub(crate) fn pool(row: &impl Columns) -> Result<PoolRecord, StoreError> {
    Ok(PoolRecord {
        id: row.pool_id("id")?,
        device_id: row.device_id("device_id")?,
        created_at: row.u64("created_at")?,
        expires_at: row.u64("expires_at")?,
        bytes: row.bytes("bytes")?,
    })
}

/// The columns [`product`] reads.
pub(crate) const PRODUCT_COLUMNS: &str =
    "id, description, price_kind, price_msat, currency, amount_minor";

/// A `products` row.
pub(crate) fn product(row: &impl Columns) -> Result<ProductRecord, StoreError> {
    let kind = row.int("price_kind")?;
    let price = match (kind, row.int_or_null("price_msat")?, row.text_or_null("currency")?) {
        (0, Some(msat), _) => Price::Msat(to_u64(msat, "price_msat")?),
        (1, _, Some(currency)) => Price::Fiat { currency, amount_minor: row.u64("amount_minor")? },
        (kind, ..) => {
            return Err(StoreError::Backend(format!("stored price of kind {kind} is incomplete")))
        }
    };
    Ok(ProductRecord { id: row.u16("id")?, description: row.text("description")?, price })
}

/// The columns [`device`] reads.
pub(crate) const DEVICE_COLUMNS: &str =
    "id, name, enabled, last_sync_counter, last_sync_at, created_at";

/// A `devices` row, with the device's products (read from their own table).
pub(crate) fn device(
    row: &impl Columns,
    products: Vec<ProductRecord>,
) -> Result<DeviceRecord, StoreError> {
    Ok(DeviceRecord {
        id: row.device_id("id")?,
        name: row.text("name")?,
        enabled: row.flag("enabled")?,
        products,
        last_sync_counter: row.u64("last_sync_counter")?,
        last_sync_at: row.u64_or_null("last_sync_at")?,
        created_at: row.u64("created_at")?,
    })
}

/// The columns [`payment`] reads.
pub(crate) const PAYMENT_COLUMNS: &str =
    "payment_hash, amount_msat, paid_at, quote_currency, quote_rate_per_btc, quote_source";

/// A `payments` row.
pub(crate) fn payment(row: &impl Columns) -> Result<PaymentRecord, StoreError> {
    let quote = quote(row, "fiat")?;
    Ok(PaymentRecord {
        payment_hash: row.hash32("payment_hash")?,
        amount_msat: row.u64("amount_msat")?,
        paid_at: row.u64("paid_at")?,
        quote,
    })
}

/// A fiat quote from its three nullable columns `quote_currency`, `quote_rate_per_btc` and
/// `quote_source` (all set, or all `NULL`); `what` names it when it is incomplete.
pub(crate) fn quote(row: &impl Columns, what: &str) -> Result<Option<FiatQuote>, StoreError> {
    match (
        row.text_or_null("quote_currency")?,
        row.real_or_null("quote_rate_per_btc")?,
        row.text_or_null("quote_source")?,
    ) {
        (Some(currency), Some(rate_per_btc), Some(source)) => {
            Ok(Some(FiatQuote { currency, rate_per_btc, source }))
        }
        (None, None, None) => Ok(None),
        _ => Err(StoreError::Backend(format!("stored {what} quote is incomplete"))),
    }
}

/// A payment's quote as its three nullable columns.
pub(crate) fn quote_columns(
    quote: Option<&FiatQuote>,
) -> (Option<String>, Option<f64>, Option<String>) {
    match quote {
        Some(q) => (Some(q.currency.clone()), Some(q.rate_per_btc), Some(q.source.clone())),
        None => (None, None, None),
    }
}
