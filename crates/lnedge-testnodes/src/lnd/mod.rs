//! A test server that follows LND's REST gateway (`lnrpc`, `invoicesrpc`, `routerrpc` as
//! published in LND's protos and `*.swagger.json`): the routes lnedge's LND backend calls, with
//! LND's JSON encodings (bytes as base64, 64-bit integers as strings, enums by name), its
//! streaming framing (`{"result": …}` per line), its errors (`{"code", "message", "details"}`
//! with LND's own error strings) and its macaroon header, over TLS with a self-signed
//! certificate as LND serves it.
//!
//! [`LndNetwork`] is one chain and the nodes on it; [`FakeLnd`] is one node's server. Nodes of a
//! network pay each other directly (see [`state`]). The test controls what a real daemon's
//! environment would do: [`LndNetwork::mine`] moves the chain, [`FakeLnd::cut_streams`] drops
//! every open stream (a network blip), [`FakeLnd::stop`] / [`FakeLnd::start`] restart the
//! server on the same port and state.
//!
//! What it models of LND's own behaviour: open invoices cancelled at expiry (the invoice expiry
//! watcher), accepted hold invoices cancelled near HTLC expiry, the 3-block padding. What it
//! does not model: multi-hop routing, fees (always 0), AMP, keysend, route hints. Channels with
//! balances exist between the nodes a test opens them between ([`channels`]).

pub mod api;
pub mod channels;
pub mod state;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::secp256k1::PublicKey;
use lightning_invoice::Bolt11Invoice;
use tokio::sync::watch;

use state::{check_incoming, Htlc, InvoiceState, LndError, Node, Payment, PaymentState};

/// One chain and the nodes on it.
#[derive(Debug, Clone, Default)]
pub struct LndNetwork {
    inner: Arc<Mutex<Net>>,
}

#[derive(Debug, Default)]
pub(crate) struct Net {
    pub(crate) height: u32,
    pub(crate) nodes: HashMap<PublicKey, Node>,
    /// Whether the expiry watcher runs.
    watching: bool,
}

impl Net {
    /// A settled payment of `amt_msat` from `payer` to `payee` moves over their channel, if
    /// they have one.
    fn move_balance(&mut self, payer: PublicKey, payee: PublicKey, amt_msat: u64) {
        for (me, other, sent) in [(payer, payee, true), (payee, payer, false)] {
            if let Some(c) = self.nodes.get_mut(&me).and_then(|n| n.channel_with(&other)) {
                c.settle(amt_msat, sent);
            }
        }
    }
}

/// What `SendPaymentV2` asks for.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// `payment_request`.
    pub payment_request: String,
    /// `amt_msat` (0: the invoice's).
    pub amt_msat: u64,
    /// `cltv_limit` (0: none).
    pub cltv_limit: u32,
}

impl LndNetwork {
    /// An empty network at height 100.
    pub fn new() -> Self {
        let net = LndNetwork::default();
        net.lock().height = 100;
        net
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Net> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The chain's height.
    pub fn height(&self) -> u32 {
        self.lock().height
    }

    /// The state (`OPEN`, `ACCEPTED`, `SETTLED`, `CANCELED`) of `node`'s invoice of `hash`, as
    /// the node knows it.
    pub fn invoice_state(&self, node: PublicKey, hash: [u8; 32]) -> Option<&'static str> {
        let mut net = self.lock();
        net.nodes.get_mut(&node)?.invoice_mut(&hash).map(|i| i.state.name())
    }

    /// Opens a channel of `capacity_sat` from `opener` to `peer`, `push_sat` of it on the peer's
    /// side, both sides active, each keeping LND's default 1 % reserve; returns its `chan_id`.
    /// Payments between the two go over it from then on ([`channels`]).
    pub fn open_channel(
        &self,
        opener: PublicKey,
        peer: PublicKey,
        capacity_sat: u64,
        push_sat: u64,
    ) -> Result<u64, LndError> {
        let mut net = self.lock();
        if push_sat > capacity_sat {
            return Err(LndError::invalid("amount pushed to remote peer exceeds the capacity"));
        }
        if !net.nodes.contains_key(&opener) || !net.nodes.contains_key(&peer) {
            return Err(LndError::unknown("no node"));
        }
        let chan_id = (u64::from(net.height) << 40) | u64::from(rand::random::<u32>());
        let (ours, theirs) = channels::Channel::pair(chan_id, opener, peer, capacity_sat, push_sat);
        for (me, channel) in [(opener, ours), (peer, theirs)] {
            if let Some(node) = net.nodes.get_mut(&me) {
                node.channels.push(channel);
            }
        }
        Ok(chan_id)
    }

    /// Marks the channels between `a` and `b` active or not (a peer went offline).
    pub fn set_channel_active(&self, a: PublicKey, b: PublicKey, active: bool) {
        let mut net = self.lock();
        for (me, other) in [(a, b), (b, a)] {
            if let Some(c) = net.nodes.get_mut(&me).and_then(|n| n.channel_with(&other)) {
                c.active = active;
            }
        }
    }

    /// Sets `node`'s on-chain wallet (`WalletBalance`).
    pub fn set_wallet(&self, node: PublicKey, confirmed_sat: u64, unconfirmed_sat: u64) {
        if let Some(n) = self.lock().nodes.get_mut(&node) {
            n.wallet = channels::Wallet { confirmed_sat, unconfirmed_sat };
        }
    }

    /// `node`'s channels as it sees them.
    pub fn channels(&self, node: PublicKey) -> Vec<channels::Channel> {
        self.lock().nodes.get(&node).map(|n| n.channels.clone()).unwrap_or_default()
    }

    /// Adds a node and starts its server on 127.0.0.1 (a free port).
    pub async fn start_node(&self, alias: &str) -> std::io::Result<FakeLnd> {
        let node = Node::new(alias);
        let (node_id, macaroon_hex) = (node.node_id(), node.macaroon_hex.clone());
        let start_watcher = {
            let mut net = self.lock();
            net.nodes.insert(node_id, node);
            !std::mem::replace(&mut net.watching, true)
        };
        if start_watcher {
            self.watch_expiry();
        }
        let identity = tls::Identity::generate()?;
        let mut lnd = FakeLnd {
            network: self.clone(),
            node_id,
            macaroon: hex::decode(&macaroon_hex).unwrap_or_default(),
            cert_pem: identity.cert_pem.clone(),
            identity,
            addr: "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            stop: None,
        };
        lnd.start().await?;
        Ok(lnd)
    }

    /// LND's invoice expiry watcher: open invoices are cancelled once their expiry has passed
    /// (checked every 200 ms while the network exists).
    fn watch_expiry(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                let Some(inner) = weak.upgrade() else { return };
                let mut net = inner.lock().unwrap_or_else(|p| p.into_inner());
                let now = state::now_secs();
                for node in net.nodes.values_mut() {
                    node.expire_open(now);
                }
            }
        });
    }

    /// Mines `n` blocks. LND cancels an accepted hold invoice once the chain is within
    /// [`state::HOLD_EXPIRY_DELTA`] blocks of an HTLC's expiry; so does this.
    pub fn mine(&self, n: u32) {
        let mut net = self.lock();
        net.height += n;
        let height = net.height;
        let mut failed = Vec::new();
        for node in net.nodes.values_mut() {
            let due: Vec<[u8; 32]> = node
                .invoices
                .iter()
                .filter(|i| i.state == InvoiceState::Accepted)
                .filter(|i| {
                    let expiry = i.htlcs.iter().map(|h| h.expiry_height).min().unwrap_or(u32::MAX);
                    height + state::HOLD_EXPIRY_DELTA >= expiry
                })
                .map(|i| i.hash)
                .collect();
            for hash in due {
                if let Ok(payers) = node.cancel(&hash) {
                    failed.extend(payers.into_iter().map(|p| (p, hash)));
                }
            }
        }
        for (payer, hash) in failed {
            if let Some(node) = net.nodes.get_mut(&payer) {
                node.set_payment(
                    hash,
                    PaymentState::Failed("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS"),
                );
            }
        }
    }

    /// `SendPaymentV2` from `payer`: records the payment and delivers its HTLC; the outcome
    /// follows through the payer's payment updates.
    pub(crate) fn send(&self, payer: PublicKey, req: &SendRequest) -> Result<[u8; 32], LndError> {
        let invoice: Bolt11Invoice =
            req.payment_request.trim().parse().map_err(|e| {
                LndError::unknown(format!("unable to decode payment request: {e:?}"))
            })?;
        let hash = *invoice.payment_hash().as_ref();
        let expires_at = (invoice.duration_since_epoch() + invoice.expiry_time()).as_secs();
        if expires_at < state::now_secs() {
            return Err(LndError::unknown(format!("invoice expired. Valid until {expires_at}")));
        }
        let amt_msat = match (invoice.amount_milli_satoshis(), req.amt_msat) {
            (Some(a), 0) => a,
            (Some(_), _) => {
                return Err(LndError::unknown(
                    "amount must not be specified when paying a non-zero amount invoice",
                ))
            }
            (None, 0) => {
                return Err(LndError::unknown(
                    "amount must be specified when paying a zero amount invoice",
                ))
            }
            (None, a) => a,
        };
        let mut net = self.lock();
        let height = net.height;
        let payer_node = net.nodes.get_mut(&payer).ok_or_else(|| LndError::unknown("no node"))?;
        match payer_node.payments.get(&hash).map(|p| &p.state) {
            Some(PaymentState::Succeeded(_)) => {
                return Err(LndError::unknown(state::ERR_ALREADY_PAID))
            }
            Some(PaymentState::InFlight) => return Err(LndError::unknown(state::ERR_IN_FLIGHT)),
            _ => {}
        }
        payer_node.pay_seq += 1;
        let payment = Payment {
            hash,
            value_msat: amt_msat,
            payment_request: req.payment_request.clone(),
            creation_date: state::now_secs(),
            payment_index: payer_node.pay_seq,
            state: PaymentState::InFlight,
        };
        payer_node.payments.insert(hash, payment);
        let final_delta = invoice.min_final_cltv_expiry_delta() as u32 + state::BLOCK_PADDING;
        let payee = invoice.recover_payee_pub_key();
        let spendable = net.nodes.get_mut(&payer).and_then(|n| n.channel_with(&payee)).map(|c| {
            if c.active {
                c.spendable_msat()
            } else {
                0
            }
        });
        let outcome = if req.cltv_limit > 0 && final_delta > req.cltv_limit {
            Some(PaymentState::Failed("FAILURE_REASON_NO_ROUTE"))
        } else if spendable.is_some_and(|s| s < amt_msat) {
            Some(PaymentState::Failed("FAILURE_REASON_INSUFFICIENT_BALANCE"))
        } else {
            match net.nodes.get_mut(&payee) {
                None => Some(PaymentState::Failed("FAILURE_REASON_NO_ROUTE")),
                Some(node) => deliver(node, payer, hash, amt_msat, height, height + final_delta),
            }
        };
        if let Some(PaymentState::Succeeded(_)) = outcome {
            net.move_balance(payer, payee, amt_msat);
        }
        let payer_node = net.nodes.get_mut(&payer).ok_or_else(|| LndError::unknown("no node"))?;
        let _ = payer_node.payment_updates.send(hash);
        if let Some(outcome) = outcome {
            payer_node.set_payment(hash, outcome);
        }
        Ok(hash)
    }

    /// `SettleInvoice` on `node`.
    pub(crate) fn settle(&self, node: PublicKey, preimage: [u8; 32]) -> Result<(), LndError> {
        let mut net = self.lock();
        let payers = net
            .nodes
            .get_mut(&node)
            .ok_or_else(|| LndError::unknown("no node"))?
            .settle(preimage)?;
        let hash = bitcoin::hashes::Hash::to_byte_array(
            <bitcoin::hashes::sha256::Hash as bitcoin::hashes::Hash>::hash(&preimage),
        );
        for (payer, amt_msat) in payers {
            net.move_balance(payer, node, amt_msat);
            if let Some(p) = net.nodes.get_mut(&payer) {
                p.set_payment(hash, PaymentState::Succeeded(preimage));
            }
        }
        Ok(())
    }

    /// `CancelInvoice` on `node`.
    pub(crate) fn cancel(&self, node: PublicKey, hash: [u8; 32]) -> Result<(), LndError> {
        let mut net = self.lock();
        let payers =
            net.nodes.get_mut(&node).ok_or_else(|| LndError::unknown("no node"))?.cancel(&hash)?;
        for payer in payers {
            if let Some(p) = net.nodes.get_mut(&payer) {
                p.set_payment(
                    hash,
                    PaymentState::Failed("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS"),
                );
            }
        }
        Ok(())
    }
}

/// Delivers an HTLC to `node`'s invoice of `hash`: the payer's outcome if it is known at once
/// (settled by itself, or refused), `None` while a hold invoice holds it.
fn deliver(
    node: &mut Node,
    payer: PublicKey,
    hash: [u8; 32],
    amt_msat: u64,
    height: u32,
    expiry_height: u32,
) -> Option<PaymentState> {
    let settle_index = node.settle_seq + 1;
    let Some(invoice) = node.invoice_mut(&hash) else {
        return Some(PaymentState::Failed("FAILURE_REASON_INCORRECT_PAYMENT_DETAILS"));
    };
    if let Err(reason) = check_incoming(invoice, amt_msat) {
        return Some(PaymentState::Failed(reason));
    }
    let mut htlc =
        Htlc { amt_msat, accept_height: height, expiry_height, state: "ACCEPTED", payer };
    let outcome = if invoice.hold {
        invoice.state = InvoiceState::Accepted;
        None
    } else {
        htlc.state = "SETTLED";
        invoice.state = InvoiceState::Settled;
        invoice.settle_index = settle_index;
        invoice.settle_date = state::now_secs();
        invoice.amt_paid_msat = amt_msat;
        invoice.preimage.map(PaymentState::Succeeded)
    };
    invoice.htlcs.push(htlc);
    let (add_index, settled) = (invoice.add_index, invoice.settle_index == settle_index);
    if settled {
        node.settle_seq = settle_index;
    }
    let _ = node.invoice_updates.send(add_index);
    outcome
}

/// One node's server.
#[derive(Debug)]
pub struct FakeLnd {
    network: LndNetwork,
    node_id: PublicKey,
    macaroon: Vec<u8>,
    cert_pem: String,
    identity: tls::Identity,
    addr: SocketAddr,
    stop: Option<watch::Sender<bool>>,
}

impl FakeLnd {
    /// `https://127.0.0.1:<port>`, LND's `restlisten`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The node's identity key.
    pub fn node_id(&self) -> PublicKey {
        self.node_id
    }

    /// The macaroon (binary, as in `admin.macaroon`).
    pub fn macaroon(&self) -> &[u8] {
        &self.macaroon
    }

    /// The TLS certificate (PEM, as in `tls.cert`).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Writes `tls.cert` and `admin.macaroon` into `dir`, as LND keeps them; returns their paths.
    pub fn write_credentials(&self, dir: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir)?;
        let cert = dir.join("tls.cert");
        let macaroon = dir.join("admin.macaroon");
        std::fs::write(&cert, &self.cert_pem)?;
        std::fs::write(&macaroon, &self.macaroon)?;
        Ok((cert, macaroon))
    }

    /// Locks (`true`) or unlocks the node's wallet, as after an LND restart before `lncli unlock`.
    pub fn set_locked(&self, locked: bool) {
        if let Some(node) = self.network.lock().nodes.get_mut(&self.node_id) {
            node.locked = locked;
        }
    }

    /// Starts (again) serving on the same port, with the same state.
    pub async fn start(&mut self) -> std::io::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let router = api::router(self.network.clone(), self.node_id, stopped.clone());
        let addr = tls::serve(self.addr, &self.identity, (router, stopped)).await?;
        self.addr = addr;
        self.stop = Some(stop);
        Ok(())
    }

    /// Stops serving: the listener closes and every open stream ends.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
    }

    /// Ends every open stream (`SubscribeInvoices`, `SendPaymentV2`, `TrackPaymentV2`) as a
    /// network blip would, and keeps serving.
    pub async fn cut_streams(&mut self) -> std::io::Result<()> {
        self.stop();
        // `start` binds the same port again, retrying while the old listener lets go of it.
        self.start().await
    }
}

impl Drop for FakeLnd {
    fn drop(&mut self) {
        self.stop();
    }
}
