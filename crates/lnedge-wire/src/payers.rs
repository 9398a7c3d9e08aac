//! Cards and payer devices over HTTP: what the operator's CLI, the Bolt Card programmer apps and
//! merchants' points of sale exchange with the gateway (`docs/cards.md`, `docs/tokens.md`).
//!
//! The Bolt Card bodies keep the field names the programmer apps read: the programming JSON
//! ([`CardProgramming`], `protocol_name` `create_bolt_card_response`), the deeplink answer
//! ([`DeeplinkKeys`], upper-case `K0`…`K4` and `LNURLW`) and the wipe JSON ([`CardWipe`]).

use serde::{Deserialize, Serialize};

/// The `protocol_name` of the programming JSON.
pub const PROGRAMMING_PROTOCOL: &str = "create_bolt_card_response";
/// The `protocol_version` of the programming JSON.
pub const PROGRAMMING_VERSION: u32 = 2;

/// A card or payer device as the operator sees it (never a key, a PIN or a UID's keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// Its id (hex).
    pub id: String,
    /// `card` or `device`.
    pub kind: String,
    /// The operator's name for it.
    pub name: String,
    /// `pending`, `active`, `disabled`, `locked` or `wiped`.
    pub state: String,
    /// A programmed card's UID (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// A card's key version.
    pub key_version: u32,
    /// The last counter accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<u32>,
    /// Per-payment limit (msat).
    pub per_payment_msat: u64,
    /// Daily limit (msat).
    pub per_day_msat: u64,
    /// Spent or reserved today (UTC), in msat.
    pub spent_today_msat: u64,
    /// Whether the card has a PIN.
    pub has_pin: bool,
    /// From which amount the PIN is asked (msat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_limit_msat: Option<u64>,
    /// When it was issued (Unix seconds).
    pub created_at: u64,
}

/// `GET /v1/cards`, `GET /v1/payer-devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerList {
    /// The cards or devices, oldest first.
    pub payers: Vec<Payer>,
}

/// `POST /v1/cards`: a card to issue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueCard {
    /// The operator's name for it.
    pub name: String,
    /// Per-payment limit (msat); the gateway's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_payment_msat: Option<u64>,
    /// Daily limit (msat); the gateway's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day_msat: Option<u64>,
    /// A PIN of 4 to 8 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The PIN is asked from this amount (msat) up; every payment when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_limit_msat: Option<u64>,
    /// The card's UID (14 hex digits), when known: the card is programmed at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
}

/// The programming JSON the Bolt Card programmer apps read (as a QR code or from a link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardProgramming {
    /// [`PROGRAMMING_PROTOCOL`].
    pub protocol_name: String,
    /// [`PROGRAMMING_VERSION`].
    pub protocol_version: u32,
    /// The card's name.
    pub card_name: String,
    /// The card's id (hex).
    pub id: String,
    /// The base of the card's URL: `lnurlw://<host>/v1/card` (the card appends `?p=&c=`).
    pub lnurlw_base: String,
    /// `Y`: the card is programmed to hide its UID (random UID).
    pub uid_privacy: String,
    /// K0…K4.
    #[serde(flatten)]
    pub keys: CardKeysHex,
}

/// A card's five application keys, hex, with the field names the programmer apps read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardKeysHex {
    /// K0 (application master key).
    pub k0: String,
    /// K1 (SDM meta read: decrypts `p`; the issuer's, shared by every card).
    pub k1: String,
    /// K2 (SDM file read: `c`'s MAC key).
    pub k2: String,
    /// K3.
    pub k3: String,
    /// K4.
    pub k4: String,
}

impl CardKeysHex {
    /// The five keys as hex.
    pub fn from_keys(keys: &[[u8; 16]; 5]) -> Self {
        let [k0, k1, k2, k3, k4] = keys.map(hex::encode);
        CardKeysHex { k0, k1, k2, k3, k4 }
    }
}

/// The answer of the deeplink flow's keys request (`POST <program url>` with `{"UID"}`), in
/// the Bolt Card DEEPLINK format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeeplinkKeys {
    /// The card's URL base (`lnurlw://…`).
    #[serde(rename = "LNURLW")]
    pub lnurlw: String,
    /// K0, hex.
    #[serde(rename = "K0")]
    pub k0: String,
    /// K1, hex.
    #[serde(rename = "K1")]
    pub k1: String,
    /// K2, hex.
    #[serde(rename = "K2")]
    pub k2: String,
    /// K3, hex.
    #[serde(rename = "K3")]
    pub k3: String,
    /// K4, hex.
    #[serde(rename = "K4")]
    pub k4: String,
}

/// The body the programmer app posts to the programming link (DEEPLINK `program`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeeplinkRequest {
    /// The card's 7-byte UID (14 hex digits).
    #[serde(rename = "UID")]
    pub uid: String,
}

/// `POST /v1/cards`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedCard {
    /// The card.
    pub card: Payer,
    /// The programming link (the DEEPLINK `keys-request-url`); one card, until it expires.
    pub program_url: String,
    /// `boltcard://program?url=…`: opens the programmer app on a phone.
    pub deeplink: String,
    /// When the programming link stops working (Unix seconds).
    pub program_expires_at: u64,
    /// The programming JSON, when the UID was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub programming: Option<CardProgramming>,
}

/// The wipe JSON the programmer apps read to reset a card to factory keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardWipe {
    /// `wipe`.
    pub action: String,
    /// The card's UID (hex).
    pub uid: String,
    /// The key version.
    pub version: u32,
    /// K0…K4.
    #[serde(flatten)]
    pub keys: CardKeysHex,
}

/// `POST /v1/cards/{id}/wipe`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WipedCard {
    /// The card, now wiped.
    pub card: Payer,
    /// The wipe JSON (absent for a card never programmed: it holds no keys of ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wipe: Option<CardWipe>,
    /// The reset link (DEEPLINK `reset`'s keys-request-url): one use, with the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_url: Option<String>,
    /// `boltcard://reset?url=…`: opens the programmer app on a phone to reset the card.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_deeplink: Option<String>,
}

/// The body the programmer app posts to a reset link (DEEPLINK `reset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeeplinkResetRequest {
    /// The card's URL as read from its NDEF (`lnurlw://…?p=…&c=…`).
    #[serde(rename = "LNURLW")]
    pub lnurlw: String,
}

/// `POST /v1/payers/{id}/enabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetEnabled {
    /// `true` to enable (and unlock), `false` to disable.
    pub enabled: bool,
}

/// `PUT /v1/payers/{id}/limits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLimits {
    /// Per-payment limit (msat).
    pub per_payment_msat: u64,
    /// Daily limit (msat).
    pub per_day_msat: u64,
}

/// `POST /v1/payer-devices`: a token-signing device to enrol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolDevice {
    /// The operator's name for it.
    pub name: String,
    /// Its id (32 hex digits); a random one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Per-payment limit (msat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_payment_msat: Option<u64>,
    /// Daily limit (msat).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_day_msat: Option<u64>,
}

/// `POST /v1/payer-devices`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledDevice {
    /// The device.
    pub device: Payer,
    /// Its token key (hex, 32 bytes): written to the device once, never shown again.
    pub token_key: String,
}

/// `POST /v1/pay/token`: a merchant's point of sale hands over a payer's token and its invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayToken {
    /// The token: 236 hex digits, or envelope text (`LNEDGE1…`).
    pub token: String,
    /// The BOLT 11 invoice the token authorizes.
    pub invoice: String,
}

/// A payment made for a card or payer device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerPayment {
    /// The invoice's payment hash (hex).
    pub payment_hash: String,
    /// The card's or device's id.
    pub payer_id: String,
    /// `card` or `device`.
    pub kind: String,
    /// The tap's or token's counter.
    pub counter: u32,
    /// Paid to the payee (msat).
    pub amount_msat: u64,
    /// Routing fees (msat), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_msat: Option<u64>,
    /// `pending`, `paid` or `failed`.
    pub state: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When it was asked for (Unix seconds).
    pub created_at: u64,
    /// When it was paid or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<u64>,
}

/// `GET /v1/payers/payments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayerPayments {
    /// The payments, oldest first.
    pub payments: Vec<PayerPayment>,
}
