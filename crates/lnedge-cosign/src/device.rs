//! The device's side: its keys, its share, its policy and its book, answering the gateway.
//!
//! [`DeviceWallet::serve`] takes a request's bytes from whatever link carries them and returns
//! the answer's bytes. Every refusal is logged here (and the gateway logs the reason it gets).

use std::collections::VecDeque;

use bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{ScriptBuf, WPubkeyHash};
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::link::{DeviceAnswer, DeviceRequest, GatewayRequest};
use crate::policy::{commitment_point, ChannelBook, Policy, Refusal};
use crate::share::KeyShare;
use crate::sign::DeviceSigning;
use crate::{decode, encode};
use lightning::bolt11_invoice::Bolt11Invoice;

/// How many co-signatures may wait for their second round at once (older ones are dropped).
const MAX_PENDING: usize = 8;
/// The most points one request may ask for.
const MAX_POINTS: u8 = 32;

/// The device's keys, each derived for one purpose from its master secret (HMAC-SHA256 of
/// `lnedge/cosign/<purpose>`), so none of them can stand in for another.
#[derive(Clone)]
pub struct DeviceKeys {
    master: [u8; 32],
}

impl DeviceKeys {
    /// Keys from the device's master secret.
    pub fn new(master: [u8; 32]) -> DeviceKeys {
        DeviceKeys { master }
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut engine = HmacEngine::<sha256::Hash>::new(&self.master);
        engine.input(b"lnedge/cosign/");
        engine.input(purpose.as_bytes());
        Hmac::<sha256::Hash>::from_engine(engine).to_byte_array()
    }

    fn secret(&self, purpose: &str) -> SecretKey {
        SecretKey::from_slice(&self.derive(purpose))
            .expect("an HMAC output is a valid key but with negligible odds")
    }

    /// The key the bridge's commitments pay the device's balance to (the device sweeps it).
    pub fn payment_secret(&self) -> SecretKey {
        self.secret("payment")
    }

    /// The basepoint secret of the device's own commitments' `to_local` key.
    pub fn delayed_secret(&self) -> SecretKey {
        self.secret("delayed")
    }

    /// The seed of the device's per-commitment secrets.
    pub fn commitment_seed(&self) -> [u8; 32] {
        self.derive("commitment-seed")
    }

    /// Where a cooperative close pays the device (P2WPKH of its close key).
    pub fn close_script(&self) -> ScriptBuf {
        let key = PublicKey::from_secret_key(&Secp256k1::signing_only(), &self.secret("close"));
        ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(&key.serialize()))
    }
}

/// What the device keeps across restarts (besides its master secret).
#[derive(Serialize, Deserialize)]
struct Saved {
    share: Vec<u8>,
    policy: Policy,
    book: Option<ChannelBook>,
}

/// The device's wallet: one channel co-signed with its gateway.
pub struct DeviceWallet {
    keys: DeviceKeys,
    share: KeyShare,
    policy: Policy,
    book: Option<ChannelBook>,
    pending: VecDeque<([u8; 32], DeviceSigning)>,
    refusals: u64,
    last_refusal: Option<String>,
    signatures: u64,
}

impl std::fmt::Debug for DeviceWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceWallet")
            .field("joint_key", &self.share.public_key())
            .field("book", &self.book)
            .finish_non_exhaustive()
    }
}

impl DeviceWallet {
    /// A wallet with a fresh share (from key generation) and the owner's policy.
    pub fn new(keys: DeviceKeys, share: KeyShare, policy: Policy) -> DeviceWallet {
        DeviceWallet {
            keys,
            share,
            policy,
            book: None,
            pending: VecDeque::new(),
            refusals: 0,
            last_refusal: None,
            signatures: 0,
        }
    }

    /// What to persist (secret: it holds the key share). Write it before sending an answer.
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            share: self.share.to_bytes(),
            policy: self.policy.clone(),
            book: self.book.clone(),
        };
        encode(&saved)
    }

    /// A wallet as [`DeviceWallet::save`] left it. Signatures in flight are lost: the gateway
    /// asks again.
    pub fn restore(keys: DeviceKeys, saved: &[u8]) -> Result<DeviceWallet, CosignError> {
        let saved: Saved = decode("saved device wallet", saved)?;
        let mut wallet = DeviceWallet::new(keys, KeyShare::from_bytes(&saved.share)?, saved.policy);
        wallet.book = saved.book;
        Ok(wallet)
    }

    /// The channel's book, once its terms are pinned.
    pub fn book(&self) -> Option<&ChannelBook> {
        self.book.as_ref()
    }

    /// How many requests the device refused, and how many signatures it completed.
    pub fn counts(&self) -> (u64, u64) {
        (self.refusals, self.signatures)
    }

    /// The reason of the device's latest refusal, if any.
    pub fn last_refusal(&self) -> Option<&str> {
        self.last_refusal.as_deref()
    }

    /// The device decides to pay `amount_msat` to `payee` (`day`: days since the epoch, UTC).
    pub fn approve_payment(
        &mut self,
        amount_msat: u64,
        payee: &PublicKey,
        day: u64,
    ) -> Result<(), Refusal> {
        let book = self.book.as_mut().ok_or(Refusal::Closed)?;
        let approved = book.approve_payment(&self.policy, amount_msat, payee, day);
        if let Err(refusal) = &approved {
            self.refusals += 1;
            self.last_refusal = Some(refusal.to_string());
            tracing::warn!(%refusal, "device refused a payment");
        }
        approved
    }

    /// The device decides to pay a BOLT 11 invoice: checks it (readable, with an amount, not
    /// expired) and approves its amount to its payee against the policy; returns the request to
    /// send to the gateway. `day`: days since the epoch, UTC.
    pub fn request_payment(
        &mut self,
        invoice: &str,
        day: u64,
    ) -> Result<(DeviceRequest, [u8; 32]), Refusal> {
        let parsed: Bolt11Invoice =
            invoice.trim().parse().map_err(|e| Refusal::BadInvoice(format!("{e}")))?;
        let amount_msat = parsed
            .amount_milli_satoshis()
            .ok_or_else(|| Refusal::BadInvoice("it has no amount".into()))?;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        if parsed.duration_since_epoch() + parsed.expiry_time() <= now {
            return Err(Refusal::BadInvoice("it has expired".into()));
        }
        let payee = parsed.recover_payee_pub_key();
        self.approve_payment(amount_msat, &payee, day)?;
        let hash = *parsed.payment_hash().as_ref();
        let request = DeviceRequest::SendPayment {
            invoice: invoice.trim().to_owned(),
            max_fee_msat: self.policy.fee_cap_msat,
        };
        Ok((request, hash))
    }

    /// Serves one request from the link: bytes in, bytes out.
    pub fn serve(&mut self, request: &[u8]) -> Vec<u8> {
        let answer = match decode::<GatewayRequest>("gateway request", request) {
            Ok(request) => self.handle(request),
            Err(e) => DeviceAnswer::Failed(e.to_string()),
        };
        encode(&answer)
    }

    /// Serves one decoded request.
    pub fn handle(&mut self, request: GatewayRequest) -> DeviceAnswer {
        match request {
            GatewayRequest::ChannelKeys => {
                let ctx = Secp256k1::signing_only();
                DeviceAnswer::ChannelKeys {
                    payment_point: self.keys.payment_secret().public_key(&ctx),
                    delayed_basepoint: self.keys.delayed_secret().public_key(&ctx),
                    close_script: self.keys.close_script(),
                }
            }
            GatewayRequest::Terms { terms, opening_balance_sat } => match &self.book {
                Some(book) if book.terms() == &*terms => DeviceAnswer::TermsPinned,
                Some(_) => self.refuse("the channel's terms are already pinned and differ".into()),
                None => {
                    if let Err(refusal) = self.check_terms(&terms) {
                        return self.refuse(refusal);
                    }
                    let seed = self.keys.commitment_seed();
                    self.book = Some(ChannelBook::new(*terms, seed, opening_balance_sat));
                    DeviceAnswer::TermsPinned
                }
            },
            GatewayRequest::Sign(open) => {
                let Some(book) = self.book.as_mut() else {
                    return self.refuse("no channel terms are pinned yet".into());
                };
                let hash = match book.check(&self.policy, &open.request) {
                    Ok(hash) => hash,
                    Err(refusal) => return self.refuse(refusal.to_string()),
                };
                match DeviceSigning::accept(&self.share, &open, hash) {
                    Ok((session, accept)) => {
                        if self.pending.len() == MAX_PENDING {
                            self.pending.pop_front();
                        }
                        self.pending.push_back((open.sign_id, session));
                        DeviceAnswer::Accept(accept)
                    }
                    Err(e) => DeviceAnswer::Failed(e.to_string()),
                }
            }
            GatewayRequest::Finish { sign_id, finish } => {
                let Some(at) = self.pending.iter().position(|(id, _)| *id == sign_id) else {
                    return DeviceAnswer::Failed("no co-signature with this id is waiting".into());
                };
                let (_, session) = self.pending.remove(at).expect("the position was just found");
                match session.finish(&self.share, finish) {
                    Ok((done, _signature)) => {
                        self.signatures += 1;
                        DeviceAnswer::Done(done)
                    }
                    Err(e) => DeviceAnswer::Failed(e.to_string()),
                }
            }
            GatewayRequest::Points { from, count } => {
                let seed = self.keys.commitment_seed();
                let count = u64::from(count.min(MAX_POINTS));
                DeviceAnswer::Points(
                    (from..from.saturating_add(count))
                        .map(|n| commitment_point(&seed, n))
                        .collect(),
                )
            }
            GatewayRequest::Revoke { number } => {
                let Some(book) = self.book.as_mut() else {
                    return self.refuse("no channel terms are pinned yet".into());
                };
                match book.release_secret(number) {
                    Ok(secret) => DeviceAnswer::Secret(secret),
                    Err(refusal) => self.refuse(refusal.to_string()),
                }
            }
        }
    }

    /// The terms must name the device's own keys: its balance and its close pay the device.
    fn check_terms(&self, terms: &crate::channel::ChannelTerms) -> Result<(), String> {
        let ctx = Secp256k1::signing_only();
        if terms.joint_funding_key != self.share.public_key() {
            return Err("the terms' funding key is not the device's joint key".into());
        }
        if terms.device_payment_point != self.keys.payment_secret().public_key(&ctx)
            || terms.device_delayed_basepoint != self.keys.delayed_secret().public_key(&ctx)
            || terms.device_close_script != self.keys.close_script()
        {
            return Err("the terms do not pay the device's own keys".into());
        }
        if terms.anchors {
            return Err(
                "anchor channels are not co-signed (their anchor spends need the funding key)"
                    .into(),
            );
        }
        Ok(())
    }

    fn refuse(&mut self, reason: String) -> DeviceAnswer {
        self.refusals += 1;
        self.last_refusal = Some(reason.clone());
        tracing::warn!(%reason, "device refused the gateway");
        DeviceAnswer::Refused(reason)
    }
}
