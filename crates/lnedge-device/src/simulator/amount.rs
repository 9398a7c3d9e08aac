//! Amounts typed at the simulator's terminal, and numbers grouped for reading.
//!
//! Minor units come from `lnedge-proto`'s one ISO 4217 table ([`minor_unit_digits`]).

use std::num::ParseIntError;

use lnedge_proto::deputy::{minor_unit_digits, Currency};

/// Why typed text is not an amount of a currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseAmountError {
    /// More decimal places than the currency's minor unit has.
    #[error("{currency} has {digits} decimal places; {text:?} has {found}")]
    TooManyDecimals {
        /// The currency.
        currency: Currency,
        /// Its decimal places.
        digits: u32,
        /// What was typed.
        text: String,
        /// The decimal places typed.
        found: usize,
    },
    /// Not a number.
    #[error("{text:?} is not an amount")]
    NotAnAmount {
        /// What was typed.
        text: String,
        /// Why it does not parse.
        #[source]
        source: ParseIntError,
    },
    /// Zero.
    #[error("the amount must be positive")]
    Zero,
}

/// `"4.20"` EUR → 420 (minor units; `,` works as the decimal mark too), `"2100"` sat → 2100.
pub fn parse_amount(text: &str, currency: &Currency) -> Result<u64, ParseAmountError> {
    let digits = minor_unit_digits(currency.as_str());
    let (whole, frac) = text.split_once(['.', ',']).unwrap_or((text, ""));
    if frac.len() > digits as usize {
        return Err(ParseAmountError::TooManyDecimals {
            currency: *currency,
            digits,
            text: text.to_owned(),
            found: frac.len(),
        });
    }
    let padded = format!("{whole}{frac:0<width$}", width = digits as usize);
    let amount: u64 = padded
        .parse()
        .map_err(|source| ParseAmountError::NotAnAmount { text: text.to_owned(), source })?;
    if amount == 0 {
        return Err(ParseAmountError::Zero);
    }
    Ok(amount)
}

/// `1234567` → `"1 234 567"`.
pub fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_in_minor_units() {
        let eur = Currency::parse("EUR").expect("EUR");
        assert_eq!(parse_amount("4.20", &eur), Ok(420));
        assert_eq!(parse_amount("4,2", &eur), Ok(420));
        assert_eq!(parse_amount("4", &eur), Ok(400));
        assert_eq!(
            parse_amount("4.205", &eur).expect_err("three places").to_string(),
            "EUR has 2 decimal places; \"4.205\" has 3"
        );
        assert!(matches!(parse_amount("x", &eur), Err(ParseAmountError::NotAnAmount { .. })));
        assert_eq!(parse_amount("0", &eur), Err(ParseAmountError::Zero));
        assert_eq!(parse_amount("2100", &Currency::SAT), Ok(2100));
        assert!(parse_amount("21.5", &Currency::SAT).is_err());
        let kwd = Currency::parse("KWD").expect("KWD");
        assert_eq!(parse_amount("0.005", &kwd), Ok(5));
    }

    #[test]
    fn grouping_reads_well() {
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1000), "1 000");
        assert_eq!(group_thousands(25_000_000), "25 000 000");
    }
}
