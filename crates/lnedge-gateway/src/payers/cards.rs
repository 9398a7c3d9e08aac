//! Issuing and managing Bolt Cards and payer devices.
//!
//! A card is issued **pending** with a one-time programming code (the Bolt Card programmer
//! app's deeplink flow, `docs/cards.md`): the app reads the blank card's UID and posts it to the
//! programming link; the gateway binds the UID, raises the key version (so a re-programmed card
//! starts a fresh counter) and answers the keys. Given the UID up front, the card is programmed
//! at once and the programming JSON comes back with it. Card keys are never stored: they derive
//! from the issuer key, the UID and the version (`lnedge_proto::boltcard::card_keys`).

use lnedge_proto::boltcard::{self, CardKeys};
use lnedge_proto::payer::PayerKey;
use lnedge_proto::DeviceId;
use sha2::{Digest, Sha256};

use super::{PayerError, Payers};
use crate::bounds::MAX_AMOUNT_MSAT;
use crate::store::payers::{PayerKind, PayerRecord, PayerState};
use crate::store::StoreError;

/// Longest name of a card or payer device, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// What the operator asks for when issuing a card.
#[derive(Debug, Clone, Default)]
pub struct IssueCard {
    /// The operator's name for it (`Alice's card`).
    pub name: String,
    /// Per-payment limit in millisatoshis (the settings' default when `None`).
    pub per_payment_msat: Option<u64>,
    /// Daily limit in millisatoshis (the settings' default when `None`).
    pub per_day_msat: Option<u64>,
    /// A PIN (4 to 8 digits), when payments from `pin_limit_msat` up need one.
    pub pin: Option<String>,
    /// The amount from which the PIN is asked (every payment when `None` and a PIN is set).
    pub pin_limit_msat: Option<u64>,
    /// The card's UID, when known (programs the card at once).
    pub uid: Option<[u8; 7]>,
}

/// A card just issued.
#[derive(Debug, Clone)]
pub struct IssuedCard {
    /// The card as stored.
    pub card: PayerRecord,
    /// The one-time programming code (the programming link's last segment, hex). Secret.
    pub program_code: String,
    /// The keys, when the UID was given (the card is programmed).
    pub programming: Option<CardProgramming>,
}

/// What the programmer app writes to a card.
#[derive(Debug, Clone)]
pub struct CardProgramming {
    /// The card.
    pub card: PayerRecord,
    /// Its UID.
    pub uid: [u8; 7],
    /// The key version the keys are for.
    pub version: u32,
    /// K0..K4. Secret.
    pub keys: CardKeys,
}

/// The keys a wiped card is reset with.
#[derive(Debug, Clone)]
pub struct WipeKeys {
    /// The card, now wiped.
    pub card: PayerRecord,
    /// Its UID.
    pub uid: [u8; 7],
    /// The key version the keys are for.
    pub version: u32,
    /// K0..K4. Secret.
    pub keys: CardKeys,
    /// The one-time code of the reset link (DEEPLINK `reset`, hex). Secret.
    pub reset_code: String,
}

/// What the operator asks for when enrolling a token-signing payer device.
#[derive(Debug, Clone, Default)]
pub struct NewDevice {
    /// The device's id (a fresh random one when `None`).
    pub id: Option<DeviceId>,
    /// The operator's name for it.
    pub name: String,
    /// Per-payment limit in millisatoshis.
    pub per_payment_msat: Option<u64>,
    /// Daily limit in millisatoshis.
    pub per_day_msat: Option<u64>,
}

/// A payer device just enrolled, with the key it signs tokens with.
#[derive(Debug, Clone)]
pub struct IssuedDevice {
    /// The device as stored.
    pub device: PayerRecord,
    /// Its token key (written to the device once). Secret.
    pub key: PayerKey,
}

fn check_name(name: &str) -> Result<String, PayerError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(PayerError::invalid(
            "name",
            format!("1 to {MAX_NAME_CHARS} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

fn check_limits(per_payment_msat: u64, per_day_msat: u64) -> Result<(), PayerError> {
    for (field, value) in [("per_payment_msat", per_payment_msat), ("per_day_msat", per_day_msat)] {
        if value == 0 || value > MAX_AMOUNT_MSAT {
            return Err(PayerError::invalid(field, format!("1 to {MAX_AMOUNT_MSAT} msat")));
        }
    }
    if per_payment_msat > per_day_msat {
        return Err(PayerError::invalid(
            "per_payment_msat",
            format!("{per_payment_msat} msat is above the daily limit of {per_day_msat} msat"),
        ));
    }
    Ok(())
}

fn check_pin(pin: &str) -> Result<(), PayerError> {
    if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PayerError::invalid("pin", "4 to 8 digits"));
    }
    Ok(())
}

/// Parses a 7-byte card UID given as 14 hex digits.
pub fn parse_uid(text: &str) -> Result<[u8; 7], PayerError> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| PayerError::invalid("uid", "14 hex digits (7 bytes)"))?;
    <[u8; 7]>::try_from(bytes.as_slice())
        .map_err(|_| PayerError::invalid("uid", format!("7 bytes, not {}", bytes.len())))
}

fn code_hash(code: &str) -> Result<[u8; 32], PayerError> {
    let bytes = hex::decode(code.trim())
        .ok()
        .filter(|b| b.len() == 16)
        .ok_or_else(|| PayerError::not_found("unknown_code", "no such programming link"))?;
    Ok(Sha256::digest(bytes).into())
}

/// A new payer record: pending, no UID, no PIN, nothing spent, version 1.
fn new_payer(
    id: DeviceId,
    kind: PayerKind,
    name: String,
    (per_payment_msat, per_day_msat): (u64, u64),
    now: u64,
) -> PayerRecord {
    PayerRecord {
        id,
        kind,
        name,
        state: PayerState::Pending,
        uid: None,
        key_version: 0,
        program_code_hash: None,
        program_expires_at: 0,
        counter: None,
        per_payment_msat,
        per_day_msat,
        pin_limit_msat: None,
        pin_hash: None,
        pin_failures: 0,
        day: 0,
        day_spent_msat: 0,
        created_at: now,
        version: 1,
    }
}

impl Payers<'_> {
    /// The limits asked for, the settings' defaults for those not given, checked.
    fn limits(
        &self,
        per_payment_msat: Option<u64>,
        per_day_msat: Option<u64>,
    ) -> Result<(u64, u64), PayerError> {
        let settings = self.settings();
        let per_payment = per_payment_msat.unwrap_or(settings.default_per_payment_msat);
        let per_day = per_day_msat.unwrap_or(settings.default_per_day_msat.max(per_payment));
        check_limits(per_payment, per_day)?;
        Ok((per_payment, per_day))
    }

    fn issuer_key(&self) -> [u8; 16] {
        lnedge_wire::keys::boltcard_issuer_key(self.gateway.device_master_key())
    }

    /// The keys of `card` (programmed) at its version.
    fn keys_of(&self, uid: &[u8; 7], version: u32) -> CardKeys {
        boltcard::card_keys(&self.issuer_key(), uid, version)
    }

    /// K1, shared by every card: decrypts a reading before the card is known.
    pub(crate) fn issuer_k1(&self) -> [u8; 16] {
        boltcard::issuer_k1(&self.issuer_key())
    }

    /// The K2 of a programmed card.
    pub(crate) fn card_k2(&self, card: &PayerRecord) -> Option<[u8; 16]> {
        let uid = card.uid?;
        let [_, _, k2, _, _] = self.keys_of(&uid, card.key_version).k;
        Some(k2)
    }

    /// Issues a card: pending with a programming code, or programmed at once if the UID is
    /// given.
    pub async fn issue_card(&self, req: IssueCard) -> Result<IssuedCard, PayerError> {
        let settings = self.settings();
        let name = check_name(&req.name)?;
        let (per_payment_msat, per_day_msat) =
            self.limits(req.per_payment_msat, req.per_day_msat)?;
        if let Some(pin) = &req.pin {
            check_pin(pin)?;
        } else if req.pin_limit_msat.is_some() {
            return Err(PayerError::invalid("pin_limit_msat", "set only with a pin"));
        }
        let id = DeviceId(rand::random());
        let code: [u8; 16] = rand::random();
        let now = self.gateway.now_secs();
        let card = PayerRecord {
            program_code_hash: Some(Sha256::digest(code).into()),
            program_expires_at: now.saturating_add(settings.program_ttl_secs),
            pin_limit_msat: req.pin.as_ref().map(|_| req.pin_limit_msat.unwrap_or(0)),
            pin_hash: req.pin.as_deref().map(|pin| {
                lnedge_wire::keys::card_pin_hash(self.gateway.device_master_key(), &id, pin)
            }),
            ..new_payer(id, PayerKind::Card, name, (per_payment_msat, per_day_msat), now)
        };
        // A UID another live card holds is refused before anything is stored.
        if let Some(uid) = &req.uid {
            if let Some(holder) = self.gateway.store().payer_by_uid(uid).await? {
                if holder.state != PayerState::Wiped {
                    return Err(PayerError::refused(
                        "uid_taken",
                        "this card is programmed for another entry; wipe that one first",
                    ));
                }
            }
        }
        self.gateway.store().put_payer(&card).await?;
        let program_code = hex::encode(code);
        let programming = match req.uid {
            Some(uid) => match self.program(&program_code, &uid).await {
                Ok(p) => Some(p),
                Err(e) => {
                    // Lost a race for the UID: the new entry must not stay programmable.
                    let dead = PayerRecord {
                        state: PayerState::Wiped,
                        program_code_hash: None,
                        version: card.version.saturating_add(1),
                        ..card
                    };
                    if let Err(cleanup) = self.gateway.store().put_payer(&dead).await {
                        tracing::warn!(card = %id, error = %cleanup, "an issue that failed left a pending card");
                    }
                    return Err(e);
                }
            },
            None => None,
        };
        let card = match &programming {
            Some(p) => p.card.clone(),
            None => card,
        };
        tracing::info!(card = %id, "card issued");
        Ok(IssuedCard { card, program_code, programming })
    }

    /// The programmer app's request with the card's UID (DEEPLINK `program`): binds the UID to
    /// the card of the programming code `code`, raises its key version, resets its counter and
    /// answers the keys. The code works until it expires, for this UID only once bound.
    pub async fn program(&self, code: &str, uid: &[u8; 7]) -> Result<CardProgramming, PayerError> {
        let hash = code_hash(code)?;
        let now = self.gateway.now_secs();
        // The highest key version a wiped earlier entry of this chip used.
        let mut floor = 0u32;
        loop {
            let card =
                self.gateway.store().payer_by_program_code(&hash).await?.ok_or_else(|| {
                    PayerError::not_found("unknown_code", "no such programming link")
                })?;
            if now >= card.program_expires_at {
                return Err(PayerError::refused(
                    "code_expired",
                    "this programming link expired; issue the card again",
                ));
            }
            match card.state {
                PayerState::Pending | PayerState::Active => {}
                _ => {
                    return Err(PayerError::refused(
                        "card_not_programmable",
                        format!("the card is {}", card.state.as_str()),
                    ))
                }
            }
            if card.uid.is_some_and(|bound| bound != *uid) {
                return Err(PayerError::refused(
                    "uid_mismatch",
                    "this programming link is bound to another card",
                ));
            }
            let next = PayerRecord {
                state: PayerState::Active,
                uid: Some(*uid),
                key_version: card.key_version.max(floor).saturating_add(1),
                counter: None,
                version: card.version.saturating_add(1),
                ..card
            };
            match self.gateway.store().put_payer(&next).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(StoreError::UidTaken) => {
                    // A wiped card gives its chip back: the UID may be programmed again.
                    if let Some(version) = self.release_wiped_uid(uid).await? {
                        floor = floor.max(version);
                        continue;
                    }
                    return Err(PayerError::refused(
                        "uid_taken",
                        "this card is programmed for another entry; wipe that one first",
                    ));
                }
                Err(e) => return Err(e.into()),
            }
            tracing::info!(card = %next.id, version = next.key_version, "card programmed");
            let keys = self.keys_of(uid, next.key_version);
            return Ok(CardProgramming { uid: *uid, version: next.key_version, keys, card: next });
        }
    }

    /// Unbinds `uid` from the wiped card that holds it and answers that card's key version (the
    /// new entry's keys must be of a higher version, or readings made before the wipe would
    /// verify again); `None` when the holder is not wiped.
    async fn release_wiped_uid(&self, uid: &[u8; 7]) -> Result<Option<u32>, PayerError> {
        let Some(holder) = self.gateway.store().payer_by_uid(uid).await? else {
            return Ok(Some(0)); // released meanwhile: try again
        };
        if holder.state != PayerState::Wiped {
            return Ok(None);
        }
        let version = holder.key_version;
        let released =
            PayerRecord { uid: None, version: holder.version.saturating_add(1), ..holder };
        match self.gateway.store().put_payer(&released).await {
            Ok(()) | Err(StoreError::Conflict) => Ok(Some(version)),
            Err(e) => Err(e.into()),
        }
    }

    /// Enables (`true`: a disabled or PIN-locked card or device pays again, its PIN failures
    /// cleared) or disables (`false`) a payer.
    pub async fn set_enabled(
        &self,
        id: DeviceId,
        enabled: bool,
    ) -> Result<PayerRecord, PayerError> {
        self.update(id, |p| {
            let state = match (p.state, enabled) {
                (PayerState::Wiped, _) => {
                    return Err(PayerError::refused("payer_wiped", "a wiped card never pays again"))
                }
                (PayerState::Pending, _) => {
                    return Err(PayerError::refused(
                        "card_not_programmed",
                        "program the card first",
                    ))
                }
                (_, true) => PayerState::Active,
                (_, false) => PayerState::Disabled,
            };
            Ok(PayerRecord {
                state,
                pin_failures: if enabled { 0 } else { p.pin_failures },
                ..p.clone()
            })
        })
        .await
    }

    /// Changes a payer's limits.
    pub async fn set_limits(
        &self,
        id: DeviceId,
        per_payment_msat: u64,
        per_day_msat: u64,
    ) -> Result<PayerRecord, PayerError> {
        check_limits(per_payment_msat, per_day_msat)?;
        self.update(id, |p| Ok(PayerRecord { per_payment_msat, per_day_msat, ..p.clone() })).await
    }

    /// Wipes a card: it never pays again, and the answer holds the keys the programmer app
    /// resets it with (none for a card never programmed).
    pub async fn wipe(&self, id: DeviceId) -> Result<Option<WipeKeys>, PayerError> {
        // A programmed card gets a one-time reset code (the programmer app's DEEPLINK `reset`):
        // whoever holds the link *and* the card gets its keys, once.
        let code: [u8; 16] = rand::random();
        let expires_at = self.gateway.now_secs().saturating_add(self.settings().program_ttl_secs);
        let wiped = self
            .update(id, |p| {
                super::spend::check_kind(p, PayerKind::Card)?;
                Ok(PayerRecord {
                    state: PayerState::Wiped,
                    program_code_hash: p.uid.map(|_| Sha256::digest(code).into()),
                    program_expires_at: expires_at,
                    ..p.clone()
                })
            })
            .await?;
        tracing::info!(card = %id, "card wiped");
        Ok(wiped.uid.map(|uid| WipeKeys {
            uid,
            version: wiped.key_version,
            keys: self.keys_of(&uid, wiped.key_version),
            reset_code: hex::encode(code),
            card: wiped.clone(),
        }))
    }

    /// The programmer app's reset request (DEEPLINK `reset`): the card's current reading
    /// (`p`, `c` from its `lnurlw://` URL) posted to the reset link of a wiped card answers the
    /// keys to reset it with — once, and only for a reading that verifies as that card's.
    pub async fn reset(&self, code: &str, p: &str, c: &str) -> Result<WipeKeys, PayerError> {
        let hash = code_hash(code)?;
        let p = super::tap::fixed_hex::<16>("p", p)?;
        let c = super::tap::fixed_hex::<8>("c", c)?;
        loop {
            let card = self
                .gateway
                .store()
                .payer_by_program_code(&hash)
                .await?
                .filter(|card| card.state == PayerState::Wiped)
                .ok_or_else(|| PayerError::not_found("unknown_code", "no such reset link"))?;
            if self.gateway.now_secs() >= card.program_expires_at {
                return Err(PayerError::refused("code_expired", "this reset link expired"));
            }
            let (Some(uid), Some(k2)) = (card.uid, self.card_k2(&card)) else {
                return Err(PayerError::refused("card_not_programmed", "nothing to reset"));
            };
            let reading = boltcard::verify(&self.issuer_k1(), &k2, &p, &c).map_err(|_| {
                PayerError::refused("bad_mac", "this reading is not the wiped card's")
            })?;
            if reading.uid != uid {
                return Err(PayerError::refused("bad_mac", "this reading is not the wiped card's"));
            }
            let used = PayerRecord {
                program_code_hash: None,
                version: card.version.saturating_add(1),
                ..card
            };
            match self.gateway.store().put_payer(&used).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
            return Ok(WipeKeys {
                uid,
                version: used.key_version,
                keys: self.keys_of(&uid, used.key_version),
                reset_code: String::new(),
                card: used,
            });
        }
    }

    /// Enrols a payer device that signs invoice-bound tokens; answers its token key.
    pub async fn enrol_device(&self, req: NewDevice) -> Result<IssuedDevice, PayerError> {
        let name = check_name(&req.name)?;
        let limits = self.limits(req.per_payment_msat, req.per_day_msat)?;
        let id = req.id.unwrap_or_else(|| DeviceId(rand::random()));
        let device = PayerRecord {
            state: PayerState::Active,
            ..new_payer(id, PayerKind::Device, name, limits, self.gateway.now_secs())
        };
        match self.gateway.store().put_payer(&device).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(PayerError::refused(
                    "duplicate_payer",
                    format!("{id} is already enrolled"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(device = %id, "payer device enrolled");
        Ok(IssuedDevice { key: PayerKey::derive(self.gateway.device_master_key(), &id), device })
    }
}
