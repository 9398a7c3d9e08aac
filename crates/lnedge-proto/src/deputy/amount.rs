//! Amounts as people read them: the decimal places of a currency's minor unit (ISO 4217) and an
//! amount in minor units written as `4.20 EUR`, `0.005 KWD`, `150 JPY` or `2100 sat`.
//!
//! This is the one minor-unit table of lnedge: the gateway's fiat pool prices and deputy sales
//! and the device simulator all read it. `no_std`, no `alloc`.

use core::fmt;

use super::sale::Currency;

/// Decimal places of a currency's minor unit (ISO 4217; 2 unless listed; `SAT` has none).
pub fn minor_unit_digits(currency: &str) -> u32 {
    match currency {
        "SAT" => 0,
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// An amount in its currency's minor unit (satoshis for [`Currency::SAT`]), displayed as people
/// read it: `4.20 EUR`, `0.005 KWD`, `150 JPY`, `2100 sat`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisplayAmount {
    /// The amount, in the currency's minor unit.
    pub amount: u64,
    /// Its currency.
    pub currency: Currency,
}

impl DisplayAmount {
    /// `amount` (minor units) of `currency`.
    pub fn new(amount: u64, currency: Currency) -> Self {
        DisplayAmount { amount, currency }
    }
}

impl fmt::Display for DisplayAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let amount = self.amount;
        if self.currency.is_sat() {
            return write!(f, "{amount} sat");
        }
        let code = self.currency.as_str();
        let digits = minor_unit_digits(code);
        match 10u64.checked_pow(digits).filter(|unit| *unit > 1) {
            Some(unit) => write!(
                f,
                "{}.{:0width$} {code}",
                amount.checked_div(unit).unwrap_or_default(),
                amount.checked_rem(unit).unwrap_or_default(),
                width = digits as usize
            ),
            None => write!(f, "{amount} {code}"),
        }
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    #![allow(clippy::unwrap_used)]

    extern crate std;
    use std::string::ToString;

    use super::*;

    #[test]
    fn amounts_read_with_their_minor_unit() {
        let show = |amount, code| DisplayAmount::new(amount, Currency::parse(code).unwrap());
        assert_eq!(show(420, "EUR").to_string(), "4.20 EUR");
        assert_eq!(show(5, "KWD").to_string(), "0.005 KWD");
        assert_eq!(show(150, "JPY").to_string(), "150 JPY");
        assert_eq!(show(u64::MAX, "EUR").to_string(), "184467440737095516.15 EUR");
        assert_eq!(DisplayAmount::new(21, Currency::SAT).to_string(), "21 sat");
        assert_eq!(minor_unit_digits("XPF"), 0, "one ISO 4217 table for pools and deputy sales");
        assert_eq!(minor_unit_digits("SAT"), 0);
        assert_eq!(minor_unit_digits("TND"), 3);
        assert_eq!(minor_unit_digits("EUR"), 2);
    }
}
