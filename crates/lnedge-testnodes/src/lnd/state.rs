//! The nodes' state machines: invoices (OPEN → ACCEPTED → SETTLED | CANCELED, as `lnrpc.Invoice`
//! describes them), HTLCs with their expiry heights, and outgoing payments (IN_FLIGHT →
//! SUCCEEDED | FAILED, `lnrpc.Payment`), on one shared chain height. Payments between nodes of
//! one network go over a direct channel with unlimited liquidity; a payee that is not on the
//! network is `FAILURE_REASON_NO_ROUTE`.
//!
//! What LND does by itself and is modelled here: an accepted hold invoice is cancelled when the
//! chain gets within [`HOLD_EXPIRY_DELTA`] blocks of its HTLC's expiry (`invoices.holdexpirydelta`
//! default), and every payment adds LND's 3-block `BlockPadding` to the final CLTV delta.

use std::collections::HashMap;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{Bolt11Invoice, Currency, InvoiceBuilder, PaymentSecret};
use tokio::sync::broadcast;

/// Blocks before an HTLC's expiry at which LND cancels an accepted hold invoice by itself.
pub const HOLD_EXPIRY_DELTA: u32 = 12;
/// LND's `BlockPadding` added to the final CLTV delta of every payment.
pub const BLOCK_PADDING: u32 = 3;
/// The final CLTV delta of an invoice created without `cltv_expiry`.
pub const DEFAULT_CLTV_EXPIRY: u64 = 80;

/// `lnrpc.Invoice.InvoiceState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceState {
    /// `OPEN`.
    Open,
    /// `ACCEPTED`: HTLCs held (hold invoices).
    Accepted,
    /// `SETTLED`.
    Settled,
    /// `CANCELED`.
    Canceled,
}

impl InvoiceState {
    /// The enum name as LND's REST gateway writes it.
    pub fn name(self) -> &'static str {
        match self {
            InvoiceState::Open => "OPEN",
            InvoiceState::Accepted => "ACCEPTED",
            InvoiceState::Settled => "SETTLED",
            InvoiceState::Canceled => "CANCELED",
        }
    }
}

/// One HTLC paying an invoice.
#[derive(Debug, Clone)]
pub struct Htlc {
    /// Amount in msat.
    pub amt_msat: u64,
    /// Height at which it arrived.
    pub accept_height: u32,
    /// Height at which it expires.
    pub expiry_height: u32,
    /// `ACCEPTED`, `SETTLED` or `CANCELED` (`lnrpc.InvoiceHTLCState`).
    pub state: &'static str,
    /// The paying node.
    pub payer: PublicKey,
}

/// An invoice of a node.
#[derive(Debug, Clone)]
pub struct Invoice {
    /// Payment hash.
    pub hash: [u8; 32],
    /// Preimage: known at creation (`AddInvoice`) or at settlement (hold invoices).
    pub preimage: Option<[u8; 32]>,
    /// Whether it was created by `AddHoldInvoice`.
    pub hold: bool,
    /// `value_msat` (0: any amount).
    pub value_msat: u64,
    /// `memo`.
    pub memo: String,
    /// `description_hash`.
    pub description_hash: Option<[u8; 32]>,
    /// `expiry` in seconds.
    pub expiry: u64,
    /// `cltv_expiry`.
    pub cltv_expiry: u64,
    /// `creation_date` (Unix seconds).
    pub creation_date: u64,
    /// `settle_date`.
    pub settle_date: u64,
    /// The signed BOLT 11 string.
    pub payment_request: String,
    /// `payment_addr`.
    pub payment_addr: [u8; 32],
    /// `add_index`.
    pub add_index: u64,
    /// `settle_index` (0 until settled).
    pub settle_index: u64,
    /// `state`.
    pub state: InvoiceState,
    /// `htlcs`.
    pub htlcs: Vec<Htlc>,
    /// `amt_paid_msat`.
    pub amt_paid_msat: u64,
}

/// `lnrpc.Payment.PaymentStatus` and what a finished payment carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentState {
    /// `IN_FLIGHT`.
    InFlight,
    /// `SUCCEEDED` with the preimage.
    Succeeded([u8; 32]),
    /// `FAILED` with the `failure_reason` enum name.
    Failed(&'static str),
}

/// An outgoing payment of a node.
#[derive(Debug, Clone)]
pub struct Payment {
    /// Payment hash.
    pub hash: [u8; 32],
    /// `value_msat`.
    pub value_msat: u64,
    /// `payment_request`.
    pub payment_request: String,
    /// `creation_date`.
    pub creation_date: u64,
    /// `payment_index`.
    pub payment_index: u64,
    /// Status.
    pub state: PaymentState,
}

/// A node's state.
#[derive(Debug)]
pub struct Node {
    /// Its key (signs its invoices).
    pub key: SecretKey,
    /// `alias`.
    pub alias: String,
    /// The macaroon it accepts, hex.
    pub macaroon_hex: String,
    /// Whether its wallet is locked (LND then answers every RPC but the unlocker's with
    /// [`ERR_LOCKED`]).
    pub locked: bool,
    /// Invoices, in `add_index` order (index = add_index − 1).
    pub invoices: Vec<Invoice>,
    /// Last `settle_index` given.
    pub settle_seq: u64,
    /// Outgoing payments by hash.
    pub payments: HashMap<[u8; 32], Payment>,
    /// Last `payment_index` given.
    pub pay_seq: u64,
    /// Every change of an invoice (its add_index), for `SubscribeInvoices`.
    pub invoice_updates: broadcast::Sender<u64>,
    /// Every change of a payment (its hash), for `SendPaymentV2` / `TrackPaymentV2`.
    pub payment_updates: broadcast::Sender<[u8; 32]>,
    /// Its channels ([`super::channels`]).
    pub channels: Vec<super::channels::Channel>,
    /// Its on-chain wallet.
    pub wallet: super::channels::Wallet,
}

/// An error as LND's REST gateway sends it: HTTP status, gRPC code, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LndError {
    /// The HTTP status grpc-gateway maps the gRPC code to.
    pub http: u16,
    /// The gRPC code.
    pub code: u32,
    /// LND's message.
    pub message: String,
}

impl LndError {
    /// gRPC `Unknown` (most of LND's errors): HTTP 500.
    pub fn unknown(message: impl Into<String>) -> Self {
        LndError { http: 500, code: 2, message: message.into() }
    }
    /// gRPC `NotFound`: HTTP 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        LndError { http: 404, code: 5, message: message.into() }
    }
    /// gRPC `InvalidArgument`: HTTP 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        LndError { http: 400, code: 3, message: message.into() }
    }
}

/// `invoices.ErrInvoiceNotFound`.
pub const ERR_NOT_FOUND: &str = "unable to locate invoice";
/// `invoices.ErrDuplicateInvoice`.
pub const ERR_DUPLICATE: &str = "invoice with payment hash already exists";
/// `invoices.ErrInvoiceStillOpen`.
pub const ERR_STILL_OPEN: &str = "invoice still open";
/// `invoices.ErrInvoiceAlreadySettled`.
pub const ERR_ALREADY_SETTLED: &str = "invoice already settled";
/// `invoices.ErrInvoiceAlreadyCanceled`.
pub const ERR_ALREADY_CANCELED: &str = "invoice already canceled";
/// `channeldb.ErrAlreadyPaid`.
pub const ERR_ALREADY_PAID: &str = "invoice is already paid";
/// `channeldb.ErrPaymentInFlight`.
pub const ERR_IN_FLIGHT: &str = "payment is in transition";
/// What LND answers while its wallet is locked.
pub const ERR_LOCKED: &str = "wallet locked, unlock it to enable full RPC access";
/// `channeldb.ErrPaymentNotInitiated`.
pub const ERR_NOT_INITIATED: &str = "payment isn't initiated";

/// Unix seconds now.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// What a new invoice asks for (`AddInvoice` or `AddHoldInvoice`).
#[derive(Debug, Clone)]
pub struct NewInvoice {
    /// Hash (hold) or preimage (auto-settling).
    pub preimage: Option<[u8; 32]>,
    /// The hash of a hold invoice.
    pub hash: Option<[u8; 32]>,
    /// `value_msat` (0: any).
    pub value_msat: u64,
    /// `memo`.
    pub memo: String,
    /// `description_hash`.
    pub description_hash: Option<[u8; 32]>,
    /// `expiry` (0: LND's default 86 400 s).
    pub expiry: u64,
    /// `cltv_expiry` (0: the default).
    pub cltv_expiry: u64,
}

impl Node {
    /// A node with a fresh key.
    pub fn new(alias: &str) -> Self {
        Node {
            key: loop {
                if let Ok(key) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                    break key;
                }
            },
            alias: alias.to_owned(),
            macaroon_hex: hex::encode(rand::random::<[u8; 32]>()),
            locked: false,
            invoices: Vec::new(),
            settle_seq: 0,
            payments: HashMap::new(),
            pay_seq: 0,
            invoice_updates: broadcast::channel(1024).0,
            payment_updates: broadcast::channel(1024).0,
            channels: Vec::new(),
            wallet: super::channels::Wallet::default(),
        }
    }

    /// Its node id.
    pub fn node_id(&self) -> PublicKey {
        PublicKey::from_secret_key(&Secp256k1::new(), &self.key)
    }

    /// The invoice of `hash`.
    pub fn invoice_mut(&mut self, hash: &[u8; 32]) -> Option<&mut Invoice> {
        self.invoices.iter_mut().find(|i| &i.hash == hash)
    }

    /// Adds an invoice (`AddInvoice` / `AddHoldInvoice`).
    pub fn add_invoice(&mut self, new: NewInvoice) -> Result<Invoice, LndError> {
        let hash = match (new.preimage, new.hash) {
            (Some(p), _) => sha256::Hash::hash(&p).to_byte_array(),
            (None, Some(h)) => h,
            (None, None) => return Err(LndError::invalid("hash or preimage required")),
        };
        if self.invoices.iter().any(|i| i.hash == hash) {
            return Err(LndError::unknown(ERR_DUPLICATE));
        }
        let expiry = if new.expiry == 0 { 86_400 } else { new.expiry };
        let cltv_expiry = if new.cltv_expiry == 0 { DEFAULT_CLTV_EXPIRY } else { new.cltv_expiry };
        let payment_addr: [u8; 32] = rand::random();
        let creation_date = now_secs();
        let builder = InvoiceBuilder::new(Currency::Regtest)
            .payment_hash(sha256::Hash::from_byte_array(hash))
            .payment_secret(PaymentSecret(payment_addr))
            .duration_since_epoch(std::time::Duration::from_secs(creation_date))
            .expiry_time(std::time::Duration::from_secs(expiry))
            .min_final_cltv_expiry_delta(cltv_expiry);
        let mut builder = match new.description_hash {
            Some(h) => builder.description_hash(sha256::Hash::from_byte_array(h)),
            None => builder.description(new.memo.clone()),
        };
        if new.value_msat > 0 {
            builder = builder.amount_milli_satoshis(new.value_msat);
        }
        let secp = Secp256k1::new();
        let signed: Bolt11Invoice = builder
            .build_signed(|m| secp.sign_ecdsa_recoverable(m, &self.key))
            .map_err(|e| LndError::invalid(format!("invalid invoice: {e}")))?;
        let invoice = Invoice {
            hash,
            preimage: new.preimage,
            hold: new.preimage.is_none(),
            value_msat: new.value_msat,
            memo: new.memo,
            description_hash: new.description_hash,
            expiry,
            cltv_expiry,
            creation_date,
            settle_date: 0,
            payment_request: signed.to_string(),
            payment_addr,
            add_index: self.invoices.len() as u64 + 1,
            settle_index: 0,
            state: InvoiceState::Open,
            htlcs: Vec::new(),
            amt_paid_msat: 0,
        };
        self.invoices.push(invoice.clone());
        let _ = self.invoice_updates.send(invoice.add_index);
        Ok(invoice)
    }

    /// Settles the invoice whose hash `preimage` opens, and the HTLCs; returns the payers to
    /// tell, with the amount of each one's HTLC.
    pub fn settle(&mut self, preimage: [u8; 32]) -> Result<Vec<(PublicKey, u64)>, LndError> {
        let hash = sha256::Hash::hash(&preimage).to_byte_array();
        let settle_index = self.settle_seq + 1;
        let invoice = self.invoice_mut(&hash).ok_or_else(|| LndError::not_found(ERR_NOT_FOUND))?;
        match invoice.state {
            InvoiceState::Open => return Err(LndError::unknown(ERR_STILL_OPEN)),
            InvoiceState::Canceled => return Err(LndError::unknown(ERR_ALREADY_CANCELED)),
            InvoiceState::Settled => return Err(LndError::unknown(ERR_ALREADY_SETTLED)),
            InvoiceState::Accepted => {}
        }
        invoice.state = InvoiceState::Settled;
        invoice.preimage = Some(preimage);
        invoice.settle_index = settle_index;
        invoice.settle_date = now_secs();
        let mut payers = Vec::new();
        for htlc in &mut invoice.htlcs {
            if htlc.state == "ACCEPTED" {
                htlc.state = "SETTLED";
                invoice.amt_paid_msat += htlc.amt_msat;
                payers.push((htlc.payer, htlc.amt_msat));
            }
        }
        let add_index = invoice.add_index;
        self.settle_seq = settle_index;
        let _ = self.invoice_updates.send(add_index);
        Ok(payers)
    }

    /// Cancels an open or accepted invoice; returns the payers whose HTLCs fail back. An invoice
    /// already cancelled is left as it is (LND: "Implement idempotency by returning success").
    pub fn cancel(&mut self, hash: &[u8; 32]) -> Result<Vec<PublicKey>, LndError> {
        let invoice = self.invoice_mut(hash).ok_or_else(|| LndError::not_found(ERR_NOT_FOUND))?;
        match invoice.state {
            InvoiceState::Settled => return Err(LndError::unknown(ERR_ALREADY_SETTLED)),
            InvoiceState::Canceled => return Ok(Vec::new()),
            InvoiceState::Open | InvoiceState::Accepted => {}
        }
        invoice.state = InvoiceState::Canceled;
        let mut payers = Vec::new();
        for htlc in &mut invoice.htlcs {
            if htlc.state == "ACCEPTED" {
                htlc.state = "CANCELED";
                payers.push(htlc.payer);
            }
        }
        let add_index = invoice.add_index;
        let _ = self.invoice_updates.send(add_index);
        Ok(payers)
    }

    /// Cancels the open invoices whose expiry has passed (LND's invoice expiry watcher).
    pub fn expire_open(&mut self, now: u64) {
        let expired: Vec<[u8; 32]> = self
            .invoices
            .iter()
            .filter(|i| i.state == InvoiceState::Open && i.creation_date + i.expiry <= now)
            .map(|i| i.hash)
            .collect();
        for hash in expired {
            let _ = self.cancel(&hash);
        }
    }

    /// This node's channel with `peer`.
    pub fn channel_with(&mut self, peer: &PublicKey) -> Option<&mut super::channels::Channel> {
        self.channels.iter_mut().find(|c| &c.remote_pubkey == peer)
    }

    /// Records a payment's new state and tells its watchers.
    pub fn set_payment(&mut self, hash: [u8; 32], state: PaymentState) {
        if let Some(p) = self.payments.get_mut(&hash) {
            p.state = state;
            let _ = self.payment_updates.send(hash);
        }
    }
}

/// Whether `invoice` accepts an HTLC of `amt_msat` now: `Ok` or the payer's failure reason.
pub fn check_incoming(invoice: &Invoice, amt_msat: u64) -> Result<(), &'static str> {
    let expired = invoice.creation_date + invoice.expiry < now_secs();
    let underpaid = invoice.value_msat > 0 && amt_msat < invoice.value_msat;
    if invoice.state != InvoiceState::Open || expired || underpaid {
        return Err("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS");
    }
    Ok(())
}
