//! The durable event stream every backend exposes.

use lightning_types::payment::{PaymentHash, PaymentPreimage};
use serde::{Deserialize, Serialize};

/// A position in a backend's event queue; acknowledge with
/// [`LightningBackend::event_handled`](crate::LightningBackend::event_handled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventId(pub u64);

/// Something that happened on the node that the caller must react to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackendEvent {
    /// HTLCs paying a hold invoice arrived and are held: settle or cancel before the deadline.
    InvoiceHeld {
        /// The invoice's payment hash.
        #[serde(with = "hex_hash")]
        payment_hash: PaymentHash,
        /// The amount held, in millisatoshis.
        amount_msat: u64,
        /// The block height by which the HTLCs must be settled or cancelled, if known.
        claim_deadline_height: Option<u32>,
    },
    /// An incoming payment was settled (auto-settled invoice, or a hold invoice after `settle`).
    InvoiceSettled {
        /// The invoice's payment hash.
        #[serde(with = "hex_hash")]
        payment_hash: PaymentHash,
        /// The amount received, in millisatoshis.
        amount_msat: u64,
    },
    /// A hold invoice's HTLCs were failed back, by `cancel` or by the node (deadline, expiry).
    InvoiceCancelled {
        /// The invoice's payment hash.
        #[serde(with = "hex_hash")]
        payment_hash: PaymentHash,
    },
    /// An outgoing payment completed.
    PaymentSucceeded {
        /// The payment hash.
        #[serde(with = "hex_hash")]
        payment_hash: PaymentHash,
        /// The preimage the payee released.
        #[serde(with = "hex_preimage")]
        preimage: PaymentPreimage,
        /// Routing fees paid, in millisatoshis, if the node reports them.
        fee_paid_msat: Option<u64>,
    },
    /// An outgoing payment failed for good.
    PaymentFailed {
        /// The payment hash.
        #[serde(with = "hex_hash")]
        payment_hash: PaymentHash,
        /// Why, as reported by the node.
        reason: String,
    },
}

impl BackendEvent {
    /// The payment hash the event is about.
    pub fn payment_hash(&self) -> PaymentHash {
        match self {
            BackendEvent::InvoiceHeld { payment_hash, .. }
            | BackendEvent::InvoiceSettled { payment_hash, .. }
            | BackendEvent::InvoiceCancelled { payment_hash }
            | BackendEvent::PaymentSucceeded { payment_hash, .. }
            | BackendEvent::PaymentFailed { payment_hash, .. } => *payment_hash,
        }
    }

    /// A key that is equal for two deliveries of the same fact, used to drop duplicates that a
    /// node replays after a restart.
    pub fn dedup_key(&self) -> String {
        let kind = match self {
            BackendEvent::InvoiceHeld { .. } => "held",
            BackendEvent::InvoiceSettled { .. } => "settled",
            BackendEvent::InvoiceCancelled { .. } => "cancelled",
            BackendEvent::PaymentSucceeded { .. } => "pay_ok",
            BackendEvent::PaymentFailed { .. } => "pay_failed",
        };
        format!("{kind}:{}", self.payment_hash())
    }
}

/// An event together with its position in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEvent {
    /// Pass this to `event_handled` once the event is fully processed.
    pub id: EventId,
    /// The event.
    pub event: BackendEvent,
}

pub(crate) mod hex_hash {
    use lightning_types::payment::PaymentHash;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(h: &PaymentHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h.0))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PaymentHash, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_32(&text).map(PaymentHash).map_err(serde::de::Error::custom)
    }
}

pub(crate) mod hex_preimage {
    use lightning_types::payment::PaymentPreimage;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(p: &PaymentPreimage, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(p.0))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<PaymentPreimage, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_32(&text).map(PaymentPreimage).map_err(serde::de::Error::custom)
    }
}

/// Parses 64 hex characters into 32 bytes.
pub(crate) fn parse_32(text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|e| format!("not hex: {e}"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("expected 32 bytes, got {}", b.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let e = BackendEvent::PaymentSucceeded {
            payment_hash: PaymentHash([7; 32]),
            preimage: PaymentPreimage([9; 32]),
            fee_paid_msat: Some(1000),
        };
        let json = serde_json::to_string(&e).expect("serialize");
        assert!(json.contains("\"type\":\"payment_succeeded\""), "{json}");
        let back: BackendEvent = serde_json::from_str(&json).expect("deserialize");
        assert_eq!(back, e);
        assert_eq!(e.dedup_key(), format!("pay_ok:{}", "07".repeat(32)));
    }

    #[test]
    fn bad_hex_is_refused() {
        let json = r#"{"type":"invoice_cancelled","payment_hash":"abcd"}"#;
        let err = serde_json::from_str::<BackendEvent>(json).expect_err("short hash");
        assert!(err.to_string().contains("expected 32 bytes"), "{err}");
    }
}
