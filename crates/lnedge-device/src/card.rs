//! A simulated Bolt Card (NTAG 424 DNA): given the keys the programmer app would write, it
//! produces real SUN readings (`p`, `c`) with an incrementing tap counter, exactly as the chip
//! mirrors them into its URL. For tests, the demo and the benches; a real card does the same in
//! silicon.

use lnedge_proto::boltcard;

/// Why a programming could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// A key or the UID is not the hex it must be.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The 24-bit tap counter is exhausted.
    #[error("the card's tap counter is exhausted")]
    CounterExhausted,
}

/// The largest tap counter (24 bits).
pub const MAX_COUNTER: u32 = 0x00FF_FFFF;

/// A programmed card.
#[derive(Clone)]
pub struct SimulatedCard {
    uid: [u8; 7],
    k1: [u8; 16],
    k2: [u8; 16],
    counter: u32,
    base: String,
}

impl std::fmt::Debug for SimulatedCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedCard")
            .field("counter", &self.counter)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn key(field: &'static str, text: &str) -> Result<[u8; 16], CardError> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| CardError::Invalid { field, message: "not hex".into() })?;
    <[u8; 16]>::try_from(bytes.as_slice())
        .map_err(|_| CardError::Invalid { field, message: "not 16 bytes".into() })
}

impl SimulatedCard {
    /// A card with UID `uid`, its K1 and K2 and the URL base it was programmed with
    /// (`lnurlw://host/v1/card`); the counter starts at 0 (the first tap reads 1).
    pub fn new(uid: [u8; 7], k1: [u8; 16], k2: [u8; 16], base: impl Into<String>) -> Self {
        SimulatedCard { uid, k1, k2, counter: 0, base: base.into() }
    }

    /// A card programmed from the programmer app's data: the UID (hex), K1 and K2 (hex) and the
    /// `lnurlw_base`.
    pub fn programmed(uid: &str, k1: &str, k2: &str, base: &str) -> Result<Self, CardError> {
        let uid_bytes = hex::decode(uid.trim())
            .map_err(|_| CardError::Invalid { field: "uid", message: "not hex".into() })?;
        let uid = <[u8; 7]>::try_from(uid_bytes.as_slice())
            .map_err(|_| CardError::Invalid { field: "uid", message: "not 7 bytes".into() })?;
        Ok(Self::new(uid, key("k1", k1)?, key("k2", k2)?, base))
    }

    /// The UID.
    pub fn uid(&self) -> [u8; 7] {
        self.uid
    }

    /// The counter of the last tap (0 before the first).
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The reading (`p`, `c` as upper-case hex, as the chip writes them) at `counter`.
    pub fn reading_at(&self, counter: u32) -> (String, String) {
        let (p, c) = boltcard::read(&self.k1, &self.k2, &self.uid, counter, &rand::random());
        (hex::encode_upper(p), hex::encode_upper(c))
    }

    /// A tap: the counter moves on and the card's URL comes back
    /// (`lnurlw://host/v1/card?p=…&c=…`).
    pub fn tap(&mut self) -> Result<String, CardError> {
        let (p, c) = self.tap_reading()?;
        Ok(format!("{}?p={p}&c={c}", self.base))
    }

    /// A tap as its reading (`p`, `c`).
    pub fn tap_reading(&mut self) -> Result<(String, String), CardError> {
        if self.counter >= MAX_COUNTER {
            return Err(CardError::CounterExhausted);
        }
        self.counter = self.counter.saturating_add(1);
        Ok(self.reading_at(self.counter))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn taps_verify_with_the_cards_keys_and_count_up() {
        let (k1, k2, uid) = ([1u8; 16], [2u8; 16], [4, 0x99, 0x6c, 0x6a, 0x92, 0x69, 0x80]);
        let mut card = SimulatedCard::new(uid, k1, k2, "lnurlw://gw.example/v1/card");
        let url = card.tap().expect("tap");
        assert!(url.starts_with("lnurlw://gw.example/v1/card?p="), "{url}");
        let (p, c) = card.tap_reading().expect("tap");
        let p: [u8; 16] = hex::decode(p).unwrap().try_into().unwrap();
        let c: [u8; 8] = hex::decode(c).unwrap().try_into().unwrap();
        let reading = boltcard::verify(&k1, &k2, &p, &c).expect("valid");
        assert_eq!((reading.uid, reading.counter), (uid, 2));
        assert!(boltcard::verify(&k1, &[3; 16], &p, &c).is_err(), "another card's K2");
        assert!(SimulatedCard::programmed("zz", "00", "00", "x").is_err());
    }
}
