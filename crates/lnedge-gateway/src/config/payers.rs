//! The `[payers]` section: Bolt Cards and payer devices (`crate::payers`). Every key is
//! optional and defaults to [`PayerSettings::default`](crate::payers::PayerSettings).
//!
//! ```toml
//! [payers]
//! tap_ttl_secs = 300                     # a tap's LNURL-withdraw session
//! program_ttl_secs = 86400               # a card's programming link
//! pin_max_failures = 3                   # wrong PINs before a card locks
//! max_fee_base_msat = 1000               # routing fee allowed: base …
//! max_fee_ppm = 10000                    # … plus millionths of the amount
//! pay_timeout_secs = 60                  # then a payment stays pending
//! token_max_lifetime_secs = 86400        # longest-lived token accepted
//! default_per_payment_msat = 100000000   # limits of a new card or device
//! default_per_day_msat = 500000000
//! ```

use super::ConfigError;
use crate::payers::PayerSettings;

/// The `[payers]` section (see the module).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayersConfig {
    /// [`PayerSettings::tap_ttl_secs`].
    pub tap_ttl_secs: Option<u64>,
    /// [`PayerSettings::program_ttl_secs`].
    pub program_ttl_secs: Option<u64>,
    /// [`PayerSettings::pin_max_failures`].
    pub pin_max_failures: Option<u32>,
    /// [`PayerSettings::max_fee_base_msat`].
    pub max_fee_base_msat: Option<u64>,
    /// [`PayerSettings::max_fee_ppm`].
    pub max_fee_ppm: Option<u64>,
    /// [`PayerSettings::pay_timeout_secs`].
    pub pay_timeout_secs: Option<u64>,
    /// [`PayerSettings::token_max_lifetime_secs`].
    pub token_max_lifetime_secs: Option<u64>,
    /// [`PayerSettings::default_per_payment_msat`].
    pub default_per_payment_msat: Option<u64>,
    /// [`PayerSettings::default_per_day_msat`].
    pub default_per_day_msat: Option<u64>,
}

impl PayersConfig {
    /// The settings: each key set here, the default for the others.
    pub fn settings(&self) -> PayerSettings {
        let d = PayerSettings::default();
        PayerSettings {
            tap_ttl_secs: self.tap_ttl_secs.unwrap_or(d.tap_ttl_secs),
            program_ttl_secs: self.program_ttl_secs.unwrap_or(d.program_ttl_secs),
            pin_max_failures: self.pin_max_failures.unwrap_or(d.pin_max_failures),
            max_fee_base_msat: self.max_fee_base_msat.unwrap_or(d.max_fee_base_msat),
            max_fee_ppm: self.max_fee_ppm.unwrap_or(d.max_fee_ppm),
            pay_timeout_secs: self.pay_timeout_secs.unwrap_or(d.pay_timeout_secs),
            token_max_lifetime_secs: self
                .token_max_lifetime_secs
                .unwrap_or(d.token_max_lifetime_secs),
            default_per_payment_msat: self
                .default_per_payment_msat
                .unwrap_or(d.default_per_payment_msat),
            default_per_day_msat: self.default_per_day_msat.unwrap_or(d.default_per_day_msat),
        }
    }

    /// Refuses values no card could work with, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = self.settings();
        let nonzero = [
            ("payers.tap_ttl_secs", s.tap_ttl_secs),
            ("payers.program_ttl_secs", s.program_ttl_secs),
            ("payers.pin_max_failures", u64::from(s.pin_max_failures)),
            ("payers.pay_timeout_secs", s.pay_timeout_secs),
            ("payers.token_max_lifetime_secs", s.token_max_lifetime_secs),
            ("payers.default_per_payment_msat", s.default_per_payment_msat),
            ("payers.default_per_day_msat", s.default_per_day_msat),
        ];
        for (key, value) in nonzero {
            if value == 0 {
                return Err(ConfigError::Invalid { key, message: "must be above 0".into() });
            }
        }
        if s.default_per_payment_msat > s.default_per_day_msat {
            return Err(ConfigError::Invalid {
                key: "payers.default_per_payment_msat",
                message: "is above payers.default_per_day_msat".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bad_values() {
        assert_eq!(PayersConfig::default().settings().pin_max_failures, 3);
        assert!(PayersConfig::default().validate().is_ok());
        let zero = PayersConfig { pin_max_failures: Some(0), ..Default::default() };
        let err = zero.validate().expect_err("0 tries");
        assert!(err.to_string().contains("payers.pin_max_failures"), "{err}");
        let upside_down = PayersConfig {
            default_per_payment_msat: Some(10),
            default_per_day_msat: Some(5),
            ..Default::default()
        };
        assert!(upside_down.validate().is_err());
    }
}
