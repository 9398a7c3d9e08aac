//! The device's side: its keys, its share, its policy and its book, answering the gateway.
//!
//! [`DeviceWallet::serve`] takes a request's bytes from whatever link carries them and returns
//! the answer's bytes. Every refusal is logged here (and the gateway logs the reason it gets).

use std::collections::VecDeque;

use bitcoin::hashes::{sha256, Hash, HashEngine, Hmac, HmacEngine};
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{
    absolute, transaction, Amount, OutPoint, ScriptBuf, Sequence, Transaction, TxIn, TxOut,
    WPubkeyHash, Witness,
};
use lightning::ln::chan_utils::make_funding_redeemscript;
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::link::{DeviceAnswer, DeviceRequest, GatewayRequest};
use crate::policy::{commitment_point, ChannelBook, Policy, Refusal};
use crate::refresh::DeviceRefresh;
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

    /// The key of the device's own coins (its on-chain wallet).
    pub fn wallet_secret(&self) -> SecretKey {
        self.secret("wallet")
    }

    /// Where the device's on-chain coins are paid (P2WPKH of its wallet key).
    pub fn deposit_script(&self) -> ScriptBuf {
        let key = PublicKey::from_secret_key(&Secp256k1::signing_only(), &self.wallet_secret());
        ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(&key.serialize()))
    }

    /// Where a cooperative close pays the device (P2WPKH of its close key).
    pub fn close_script(&self) -> ScriptBuf {
        let key = PublicKey::from_secret_key(&Secp256k1::signing_only(), &self.secret("close"));
        ScriptBuf::new_p2wpkh(&WPubkeyHash::hash(&key.serialize()))
    }
}

/// The fee the device's funding transaction pays (the sandbox's chain takes any).
const FUNDING_FEE_SAT: u64 = 500;

/// A coin of the device's on-chain wallet (an output paying its deposit script).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coin {
    /// Where it is.
    pub outpoint: OutPoint,
    /// What it holds.
    pub value_sat: u64,
}

/// The channel the device funded: what the terms must say later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Funded {
    outpoint: OutPoint,
    value_sat: u64,
    counterparty_key: PublicKey,
}

/// What the device keeps across restarts (besides its master secret).
#[derive(Serialize, Deserialize)]
struct Saved {
    share: Vec<u8>,
    policy: Policy,
    book: Option<ChannelBook>,
    coins: Vec<Coin>,
    funded: Option<Funded>,
    next_share: Option<Vec<u8>>,
}

/// The device's wallet: one channel co-signed with its gateway.
pub struct DeviceWallet {
    keys: DeviceKeys,
    share: KeyShare,
    policy: Policy,
    book: Option<ChannelBook>,
    coins: Vec<Coin>,
    funded: Option<Funded>,
    next_share: Option<KeyShare>,
    refreshing: Option<DeviceRefresh>,
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
            coins: Vec::new(),
            funded: None,
            next_share: None,
            refreshing: None,
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
            coins: self.coins.clone(),
            funded: self.funded.clone(),
            next_share: self.next_share.as_ref().map(KeyShare::to_bytes),
        };
        encode(&saved)
    }

    /// A wallet as [`DeviceWallet::save`] left it. Signatures in flight are lost: the gateway
    /// asks again.
    pub fn restore(keys: DeviceKeys, saved: &[u8]) -> Result<DeviceWallet, CosignError> {
        let saved: Saved = decode("saved device wallet", saved)?;
        let mut wallet = DeviceWallet::new(keys, KeyShare::from_bytes(&saved.share)?, saved.policy);
        wallet.book = saved.book;
        wallet.coins = saved.coins;
        wallet.funded = saved.funded;
        wallet.next_share = saved.next_share.as_deref().map(KeyShare::from_bytes).transpose()?;
        Ok(wallet)
    }

    /// Replaces the owner's spending policy (what is spent today stays spent).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// The owner's spending policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The joint key the device holds a share of.
    pub fn joint_key(&self) -> PublicKey {
        self.share.public_key()
    }

    /// A coin paid to the device's deposit script (a real device would watch the chain for it).
    pub fn add_coin(&mut self, coin: Coin) {
        self.coins.push(coin);
    }

    /// The device's on-chain coins.
    pub fn coins(&self) -> &[Coin] {
        &self.coins
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
            joint_key: self.share.public_key(),
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
            GatewayRequest::KeygenBegin
            | GatewayRequest::KeygenReply(_)
            | GatewayRequest::KeygenDone(_) => DeviceAnswer::Failed(format!(
                "this device is enrolled already (joint key {})",
                self.share.public_key()
            )),
            GatewayRequest::ChannelKeys => {
                let ctx = Secp256k1::signing_only();
                DeviceAnswer::ChannelKeys {
                    payment_point: self.keys.payment_secret().public_key(&ctx),
                    delayed_basepoint: self.keys.delayed_secret().public_key(&ctx),
                    close_script: self.keys.close_script(),
                }
            }
            GatewayRequest::Fund { value_sat, redeem_script } => {
                match self.fund(value_sat, &redeem_script) {
                    Ok(tx) => DeviceAnswer::Funding(tx),
                    Err(reason) => self.refuse(reason),
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
            GatewayRequest::Sign { epoch, open } => {
                if let Err(reason) = self.use_epoch(epoch) {
                    return self.refuse(reason);
                }
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
            GatewayRequest::RefreshOpen(open) => {
                let (session, reply) = DeviceRefresh::reply(&self.share, open);
                self.refreshing = Some(session);
                DeviceAnswer::RefreshReply(reply)
            }
            GatewayRequest::RefreshFinish(finish) => {
                let Some(session) = self.refreshing.take() else {
                    return DeviceAnswer::Failed(
                        "no refresh is waiting for its second round".into(),
                    );
                };
                match session.finish(&self.share, finish) {
                    Ok((next, done)) => {
                        self.next_share = Some(next);
                        DeviceAnswer::RefreshDone(done)
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

    /// Funds a channel: checks the funding script is a BOLT 3 2-of-2 with the device's joint
    /// key, spends one of its coins to it (change back to its deposit script) and remembers the
    /// outpoint, which the channel's terms must name later.
    fn fund(&mut self, value_sat: u64, redeem_script: &ScriptBuf) -> Result<Transaction, String> {
        if self.funded.is_some() {
            return Err("the device already funded its channel".into());
        }
        let joint = self.share.public_key();
        let keys: Vec<PublicKey> = redeem_script
            .instructions()
            .filter_map(|i| i.ok()?.push_bytes().map(|b| b.as_bytes().to_vec()))
            .filter_map(|b| PublicKey::from_slice(&b).ok())
            .collect();
        let counterparty_key = match keys.as_slice() {
            [a, b] if *a == joint => *b,
            [a, b] if *b == joint => *a,
            _ => {
                return Err("the funding script is not a 2-of-2 with the device's joint key".into())
            }
        };
        if *redeem_script != make_funding_redeemscript(&joint, &counterparty_key) {
            return Err("the funding script is not BOLT 3's 2-of-2".into());
        }
        let needed = value_sat.checked_add(FUNDING_FEE_SAT).ok_or("the value overflows")?;
        let at = self
            .coins
            .iter()
            .position(|c| c.value_sat >= needed)
            .ok_or_else(|| format!("no coin of the device holds {needed} sat"))?;
        let coin = self.coins[at];
        let mut tx = Transaction {
            version: transaction::Version::TWO,
            lock_time: absolute::LockTime::ZERO,
            input: vec![TxIn {
                previous_output: coin.outpoint,
                script_sig: ScriptBuf::new(),
                sequence: Sequence::ENABLE_RBF_NO_LOCKTIME,
                witness: Witness::new(),
            }],
            output: vec![TxOut {
                value: Amount::from_sat(value_sat),
                script_pubkey: redeem_script.to_p2wsh(),
            }],
        };
        let change = coin.value_sat - needed;
        if change > 0 {
            tx.output.push(TxOut {
                value: Amount::from_sat(change),
                script_pubkey: self.keys.deposit_script(),
            });
        }
        let secret = self.keys.wallet_secret();
        let ctx = Secp256k1::signing_only();
        let sighash = SighashCache::new(&tx)
            .p2wpkh_signature_hash(
                0,
                &self.keys.deposit_script(),
                Amount::from_sat(coin.value_sat),
                EcdsaSighashType::All,
            )
            .map_err(|e| e.to_string())?;
        let signature = ctx.sign_ecdsa(&Message::from_digest(sighash.to_byte_array()), &secret);
        tx.input[0].witness = Witness::p2wpkh(
            &bitcoin::ecdsa::Signature::sighash_all(signature),
            &secret.public_key(&ctx),
        );
        let txid = tx.compute_txid();
        self.coins.remove(at);
        if change > 0 {
            self.coins.push(Coin { outpoint: OutPoint { txid, vout: 1 }, value_sat: change });
        }
        self.funded =
            Some(Funded { outpoint: OutPoint { txid, vout: 0 }, value_sat, counterparty_key });
        Ok(tx)
    }

    /// Signs with the shares of `epoch`: the current one, or the refreshed one, which the
    /// gateway's first use makes current (the old share is then dropped for good).
    fn use_epoch(&mut self, epoch: u32) -> Result<(), String> {
        if epoch == self.share.epoch() {
            return Ok(());
        }
        match self.next_share.take() {
            Some(next) if next.epoch() == epoch => {
                self.share = next;
                self.pending.clear();
                Ok(())
            }
            next => {
                self.next_share = next;
                Err(format!("the device has no key share of epoch {epoch}"))
            }
        }
    }

    /// The epoch of the share the device signs with now.
    pub fn epoch(&self) -> u32 {
        self.share.epoch()
    }

    /// The terms must name the device's own keys (its balance and its close pay the device)
    /// and the funding output the device itself created.
    fn check_terms(&self, terms: &crate::channel::ChannelTerms) -> Result<(), String> {
        let ctx = Secp256k1::signing_only();
        match &self.funded {
            Some(f)
                if f.outpoint == terms.funding_outpoint
                    && f.value_sat == terms.funding_sat
                    && f.counterparty_key == terms.counterparty_funding_key => {}
            Some(_) => {
                return Err("the terms do not name the funding output the device created".into())
            }
            None => return Err("the device did not fund this channel".into()),
        }
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
