//! One node's state and the lightningd methods lnedge and its plugin call, answered with the
//! fields and error codes of CLN's JSON schemas (`doc/schemas/*.json`, which `cln-rpc`'s typed
//! models are generated from; the tests read every answer through those models).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{Bolt11Invoice, SignedRawBolt11Invoice};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::host::Host;

/// A JSON-RPC error as lightningd sends it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcError {
    pub(crate) code: i64,
    pub(crate) message: String,
    pub(crate) data: Option<Value>,
}

impl RpcError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), data: None }
    }
}

/// `PAY_IN_PROGRESS`.
const PAY_IN_PROGRESS: i64 = 200;
/// `PAY_DESTINATION_PERM_FAIL`.
const PAY_DESTINATION_PERM_FAIL: i64 = 203;
/// `PAY_ROUTE_NOT_FOUND`.
const PAY_ROUTE_NOT_FOUND: i64 = 205;
/// `PAY_INVOICE_EXPIRED`.
const PAY_INVOICE_EXPIRED: i64 = 207;
/// `DATASTORE_UPDATE_ALREADY_EXISTS` and friends are not needed: only `create-or-replace` is.
const JSONRPC2_INVALID_PARAMS: i64 = -32602;

/// How an outgoing payment stands (`listpays` `status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PayStatus {
    Pending,
    Complete([u8; 32]),
    Failed,
}

/// An outgoing payment.
#[derive(Debug, Clone)]
pub(crate) struct Pay {
    pub(crate) bolt11: String,
    pub(crate) amount_msat: u64,
    pub(crate) created_at: u64,
    pub(crate) created_index: u64,
    pub(crate) destination: PublicKey,
    pub(crate) status: PayStatus,
}

/// An HTLC offered to this node and not resolved yet.
#[derive(Debug)]
pub(crate) struct Pending {
    /// The hook payload.
    pub(crate) payload: Value,
    pub(crate) hash: [u8; 32],
    /// The payer's side, told the outcome (`Some(preimage)` or failure).
    pub(crate) outcome: watch::Sender<Option<Result<[u8; 32], ()>>>,
}

/// What changes in a node.
#[derive(Debug, Default)]
pub(crate) struct NodeState {
    pub(crate) datastore: BTreeMap<Vec<String>, (String, u64)>,
    pub(crate) pays: HashMap<[u8; 32], Pay>,
    pub(crate) pays_index: u64,
    pub(crate) pending: HashMap<String, Pending>,
    pub(crate) next_htlc_id: u64,
    /// Its channels ([`crate::channel`]).
    pub(crate) channels: Vec<crate::channel::Channel>,
    /// Its on-chain wallet.
    pub(crate) wallet: crate::channel::Wallet,
}

/// One node: its key, its directory (with the `lightning-rpc` socket), its state and plugin.
#[derive(Debug)]
pub(crate) struct NodeShared {
    pub(crate) key: SecretKey,
    pub(crate) id: PublicKey,
    pub(crate) alias: String,
    pub(crate) dir: PathBuf,
    pub(crate) plugin: super::PluginSource,
    state: Mutex<NodeState>,
    pub(crate) host: tokio::sync::Mutex<Option<Arc<Host>>>,
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl NodeShared {
    pub(crate) fn new(alias: &str, dir: PathBuf, plugin: super::PluginSource) -> Self {
        let key = loop {
            if let Ok(key) = SecretKey::from_slice(&rand::random::<[u8; 32]>()) {
                break key;
            }
        };
        let id = PublicKey::from_secret_key(&Secp256k1::new(), &key);
        NodeShared {
            key,
            id,
            alias: alias.to_owned(),
            dir,
            plugin,
            state: Mutex::new(NodeState::default()),
            host: tokio::sync::Mutex::new(None),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `getinfo`.
    pub(crate) fn getinfo(&self, height: u32) -> Value {
        json!({
            "id": self.id.to_string(),
            "alias": self.alias,
            "color": "02bf81",
            "num_peers": 1,
            "num_pending_channels": 0,
            "num_active_channels": 1,
            "num_inactive_channels": 0,
            "address": [],
            "binding": [{"type": "ipv4", "address": "127.0.0.1", "port": 9735}],
            "version": "v24.11-lnedge-testnodes",
            "blockheight": height,
            "network": "regtest",
            "fees_collected_msat": 0,
            "lightning-dir": self.dir.display().to_string(),
            "our_features": {"init": "08a0000a8a5961", "node": "88a0000a8a5961", "channel": "", "invoice": "02000002024100"},
        })
    }

    /// `signinvoice`: the invoice re-signed with the node's key.
    pub(crate) fn signinvoice(&self, params: &Value) -> Result<Value, RpcError> {
        let text = str_param(params, "invstring")?;
        let signed = SignedRawBolt11Invoice::from_str(text.trim()).map_err(|e| {
            RpcError::new(JSONRPC2_INVALID_PARAMS, format!("Unparsable invoice: {e:?}"))
        })?;
        let (raw, _, _) = signed.into_parts();
        let secp = Secp256k1::signing_only();
        let resigned = raw
            .sign::<_, ()>(|msg| Ok(secp.sign_ecdsa_recoverable(msg, &self.key)))
            .map_err(|_| RpcError::new(-1, "signing failed"))?;
        let invoice = Bolt11Invoice::from_signed(resigned)
            .map_err(|e| RpcError::new(JSONRPC2_INVALID_PARAMS, format!("Invalid invoice: {e}")))?;
        Ok(json!({"bolt11": invoice.to_string()}))
    }

    /// `datastore` (modes `must-create`, `must-replace`, `create-or-replace`).
    pub(crate) fn datastore(&self, params: &Value) -> Result<Value, RpcError> {
        let key = key_param(params)?;
        let text = params.get("string").and_then(Value::as_str).map(str::to_owned);
        let text = text.ok_or_else(|| {
            RpcError::new(JSONRPC2_INVALID_PARAMS, "string: only string values are modelled")
        })?;
        let mode = params.get("mode").and_then(Value::as_str).unwrap_or("must-create");
        let mut state = self.state();
        let exists = state.datastore.contains_key(&key);
        match mode {
            "must-create" if exists => {
                return Err(RpcError::new(1202, format!("Key already exists: {key:?}")))
            }
            "must-replace" if !exists => {
                return Err(RpcError::new(1203, format!("Key does not exist: {key:?}")))
            }
            "must-create" | "must-replace" | "create-or-replace" => {}
            other => {
                return Err(RpcError::new(
                    JSONRPC2_INVALID_PARAMS,
                    format!("mode: {other} is not modelled"),
                ))
            }
        }
        let generation = state.datastore.get(&key).map(|(_, g)| g + 1).unwrap_or(0);
        state.datastore.insert(key.clone(), (text.clone(), generation));
        Ok(
            json!({"key": key, "generation": generation, "string": text, "hex": hex::encode(text.as_bytes())}),
        )
    }

    /// `listdatastore`: the entry at `key` and those one level below it.
    pub(crate) fn listdatastore(&self, params: &Value) -> Result<Value, RpcError> {
        let prefix = match params.get("key") {
            None | Some(Value::Null) => Vec::new(),
            Some(_) => key_param(params)?,
        };
        let state = self.state();
        let items: Vec<Value> = state
            .datastore
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix) && k.len() <= prefix.len() + 1)
            .map(|(k, (text, generation))| {
                json!({"key": k, "generation": generation, "string": text, "hex": hex::encode(text.as_bytes())})
            })
            .collect();
        Ok(json!({"datastore": items}))
    }

    /// `deldatastore`.
    pub(crate) fn deldatastore(&self, params: &Value) -> Result<Value, RpcError> {
        let key = key_param(params)?;
        let removed = self.state().datastore.remove(&key);
        let (text, generation) =
            removed.ok_or_else(|| RpcError::new(1203, format!("Key does not exist: {key:?}")))?;
        Ok(json!({"key": key, "generation": generation, "string": text}))
    }

    /// `listpeerchannels` (all peers, or `id`'s).
    pub(crate) fn listpeerchannels(&self, params: &Value) -> Result<Value, RpcError> {
        let peer = match params.get("id").and_then(Value::as_str) {
            Some(id) => Some(PublicKey::from_str(id).map_err(|e| {
                RpcError::new(JSONRPC2_INVALID_PARAMS, format!("id: should be a node id: {e}"))
            })?),
            None => None,
        };
        let state = self.state();
        let channels: Vec<Value> = state
            .channels
            .iter()
            .filter(|c| peer.is_none_or(|p| c.remote_pubkey == p))
            .map(super::channels::peer_channel_json)
            .collect();
        Ok(json!({ "channels": channels }))
    }

    /// `listfunds`.
    pub(crate) fn listfunds(&self) -> Value {
        let state = self.state();
        super::channels::listfunds_json(&state.channels, &state.wallet)
    }

    /// What this node can send to `peer` over their channel now (`None`: no channel, the
    /// unlimited direct link).
    pub(crate) fn spendable_to(&self, peer: &PublicKey) -> Option<u64> {
        let state = self.state();
        let c = state.channels.iter().find(|c| &c.remote_pubkey == peer)?;
        Some(if c.active { c.spendable_msat() } else { 0 })
    }

    /// A settled payment of `amt_msat` to (`sent`) or from `peer` moves over their channel.
    pub(crate) fn settle_with(&self, peer: &PublicKey, amt_msat: u64, sent: bool) {
        if let Some(c) = self.state().channels.iter_mut().find(|c| &c.remote_pubkey == peer) {
            c.settle(amt_msat, sent);
        }
    }

    /// `listpays` (by `payment_hash`, or all).
    pub(crate) fn listpays(&self, params: &Value) -> Result<Value, RpcError> {
        let wanted = match params.get("payment_hash").and_then(Value::as_str) {
            Some(h) => Some(hash_param(h)?),
            None => None,
        };
        let state = self.state();
        let mut pays: Vec<(&[u8; 32], &Pay)> =
            state.pays.iter().filter(|(h, _)| wanted.is_none_or(|w| w == **h)).collect();
        pays.sort_by_key(|(_, p)| p.created_index);
        let pays: Vec<Value> = pays.into_iter().map(|(hash, pay)| pay_json(hash, pay)).collect();
        Ok(json!({"pays": pays}))
    }

    /// Starts an outgoing payment (the checks of `xpay` before anything is sent); the payee,
    /// the hash, the amount and the invoice's final CLTV delta.
    pub(crate) fn begin_pay(
        &self,
        params: &Value,
    ) -> Result<(Bolt11Invoice, [u8; 32], u64), RpcError> {
        let text = str_param(params, "invstring")?;
        let invoice: Bolt11Invoice = text
            .trim()
            .parse()
            .map_err(|e| RpcError::new(JSONRPC2_INVALID_PARAMS, format!("Invalid bolt11: {e}")))?;
        let expires_at = (invoice.duration_since_epoch() + invoice.expiry_time()).as_secs();
        if expires_at < now_secs() {
            return Err(RpcError::new(PAY_INVOICE_EXPIRED, "Invoice expired"));
        }
        let given = params.get("amount_msat").and_then(amount_of);
        let amount_msat = match (invoice.amount_milli_satoshis(), given) {
            (Some(a), None) => a,
            (Some(_), Some(_)) => {
                return Err(RpcError::new(
                    JSONRPC2_INVALID_PARAMS,
                    "amount_msat: Cannot specify amount for an invoice with an amount",
                ))
            }
            (None, Some(a)) => a,
            (None, None) => {
                return Err(RpcError::new(
                    JSONRPC2_INVALID_PARAMS,
                    "amount_msat: Must specify amount for an invoice without one",
                ))
            }
        };
        let hash = invoice.payment_hash().to_byte_array();
        let mut state = self.state();
        match state.pays.get(&hash).map(|p| &p.status) {
            Some(PayStatus::Pending) => {
                return Err(RpcError::new(
                    PAY_IN_PROGRESS,
                    "Already have a pending payment for this payment_hash",
                ))
            }
            // Paid before: the caller answers the recorded payment.
            Some(PayStatus::Complete(_)) => return Ok((invoice, hash, amount_msat)),
            Some(PayStatus::Failed) | None => {}
        }
        state.pays_index += 1;
        let pay = Pay {
            bolt11: invoice.to_string(),
            amount_msat,
            created_at: now_secs(),
            created_index: state.pays_index,
            destination: invoice.recover_payee_pub_key(),
            status: PayStatus::Pending,
        };
        state.pays.insert(hash, pay);
        Ok((invoice, hash, amount_msat))
    }

    /// Records how a payment ended.
    pub(crate) fn end_pay(&self, hash: [u8; 32], status: PayStatus) {
        if let Some(pay) = self.state().pays.get_mut(&hash) {
            pay.status = status;
        }
    }

    /// The answer of `xpay` for a completed payment.
    pub(crate) fn xpay_answer(&self, hash: &[u8; 32]) -> Result<Value, RpcError> {
        let state = self.state();
        match state.pays.get(hash) {
            Some(Pay { status: PayStatus::Complete(preimage), amount_msat, .. }) => Ok(json!({
                "payment_preimage": hex::encode(preimage),
                "failed_parts": 0,
                "successful_parts": 1,
                "amount_msat": amount_msat,
                "amount_sent_msat": amount_msat,
            })),
            _ => Err(destination_refused()),
        }
    }
}

/// xpay's error when the payee failed the HTLC with `incorrect_or_unknown_payment_details`.
pub(crate) fn destination_refused() -> RpcError {
    RpcError::new(
        PAY_DESTINATION_PERM_FAIL,
        "Destination said it doesn't know invoice: incorrect_or_unknown_payment_details",
    )
}

/// xpay's error when no route reaches the payee (or none within `maxdelay`).
pub(crate) fn no_route(destination: &PublicKey) -> RpcError {
    RpcError::new(
        PAY_ROUTE_NOT_FOUND,
        format!("Failed: could not route or connect directly to {destination}: We could not find a usable set of paths"),
    )
}

fn pay_json(hash: &[u8; 32], pay: &Pay) -> Value {
    let mut v = json!({
        "payment_hash": hex::encode(hash),
        "status": match pay.status { PayStatus::Pending => "pending", PayStatus::Complete(_) => "complete", PayStatus::Failed => "failed" },
        "destination": pay.destination.to_string(),
        "created_at": pay.created_at,
        "created_index": pay.created_index,
        "bolt11": pay.bolt11,
        "amount_msat": pay.amount_msat,
        "amount_sent_msat": pay.amount_msat,
        "number_of_parts": 1,
    });
    if let PayStatus::Complete(preimage) = &pay.status {
        v["preimage"] = json!(hex::encode(preimage));
        v["completed_at"] = json!(now_secs());
    }
    v
}

/// An msat amount as CLN accepts it: an integer, or a string with `msat` / `sat`.
fn amount_of(v: &Value) -> Option<u64> {
    if let Some(n) = v.as_u64() {
        return Some(n);
    }
    let s = v.as_str()?;
    if let Some(n) = s.strip_suffix("msat") {
        return n.parse().ok();
    }
    s.strip_suffix("sat").and_then(|n| n.parse::<u64>().ok()).map(|n| n * 1000)
}

fn str_param<'a>(params: &'a Value, name: &str) -> Result<&'a str, RpcError> {
    params.get(name).and_then(Value::as_str).ok_or_else(|| {
        RpcError::new(JSONRPC2_INVALID_PARAMS, format!("missing required parameter: {name}"))
    })
}

fn key_param(params: &Value) -> Result<Vec<String>, RpcError> {
    match params.get("key") {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(parts)) => parts
            .iter()
            .map(|p| p.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                RpcError::new(JSONRPC2_INVALID_PARAMS, "key: should be an array of strings")
            }),
        _ => Err(RpcError::new(JSONRPC2_INVALID_PARAMS, "missing required parameter: key")),
    }
}

fn hash_param(text: &str) -> Result<[u8; 32], RpcError> {
    hex::decode(text).ok().and_then(|b| b.try_into().ok()).ok_or_else(|| {
        RpcError::new(JSONRPC2_INVALID_PARAMS, "payment_hash: should be a 32 byte hex value")
    })
}

/// Whether `preimage` is the preimage of `hash`.
pub(crate) fn matches(preimage: &[u8; 32], hash: &[u8; 32]) -> bool {
    sha256::Hash::hash(preimage).to_byte_array() == *hash
}
