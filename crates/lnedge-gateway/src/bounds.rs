//! The ranges every number from outside must fit before it reaches a rule or a store.
//!
//! The stores keep integers as signed 64-bit columns (SQLite `INTEGER`, PostgreSQL `BIGINT`),
//! so an unsigned value above [`MAX_STORED`] cannot be stored: it is refused at the edge with an
//! error that names the field, instead of failing later inside the store. Amounts are capped at
//! all the bitcoin there will ever be.

/// The largest integer a store keeps (`i64::MAX`).
pub const MAX_STORED: u64 = i64::MAX as u64;

/// 21 million BTC in millisatoshis: no amount can be larger.
pub const MAX_AMOUNT_MSAT: u64 = 21_000_000 * 100_000_000 * 1_000;

// Every amount is storable.
const _: () = assert!(MAX_AMOUNT_MSAT < MAX_STORED);

/// Whether `value` fits a store column.
pub fn storable(value: u64) -> bool {
    value <= MAX_STORED
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_what_they_say() {
        assert_eq!(MAX_AMOUNT_MSAT, 2_100_000_000_000_000_000);
        assert!(storable(i64::MAX as u64) && !storable(i64::MAX as u64 + 1));
    }
}
