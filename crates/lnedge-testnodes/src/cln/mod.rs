//! A lightningd stand-in: the JSON-RPC unix socket `lightning-rpc` (requests and answers as
//! JSON objects ended by a blank line, as `cln-rpc` frames them), the methods lnedge's CLN
//! backend and its plugin call (`getinfo`, `signinvoice`, `datastore`, `listdatastore`,
//! `deldatastore`, `xpay`, `listpays`) with CLN's field names and error codes, and **the real
//! `lnedge-cln-hold` plugin hosted over the plugin protocol** ([`host`]): its methods passed
//! through, `htlc_accepted` called for every HTLC a node receives (held until the plugin
//! answers, replayed to the plugin after a restart), `block_added` on every block.
//!
//! [`ClnNetwork`] is one chain and its nodes; [`FakeCln`] one node. Nodes pay each other over a
//! direct link with unlimited liquidity and no fees, or over the channel a test opened between
//! them ([`ClnNetwork::open_channel`]: balances that payments move, `listpeerchannels`,
//! `listfunds`; [`crate::channel`]). What is not modelled: lightningd's own
//! invoices (`invoice`, `waitanyinvoice`; lnedge does not use them: an HTLC the plugin leaves to
//! lightningd is refused as unknown), multi-hop routes, MPP splitting by the payer,
//! xpay's shadow CLTV offset, going on chain for an HTLC near expiry.

mod channels;
mod host;
mod node;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bitcoin::secp256k1::PublicKey;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

pub use host::PluginSource;
use host::{Frames, Host};
use node::{NodeShared, PayStatus, Pending, RpcError};

/// One chain and the nodes on it.
#[derive(Debug, Clone, Default)]
pub struct ClnNetwork {
    inner: Arc<Mutex<Net>>,
}

#[derive(Debug, Default)]
struct Net {
    height: u32,
    nodes: HashMap<PublicKey, Arc<NodeShared>>,
}

impl ClnNetwork {
    /// An empty network at height 100.
    pub fn new() -> Self {
        let net = ClnNetwork::default();
        net.lock().height = 100;
        net
    }

    fn lock(&self) -> MutexGuard<'_, Net> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The chain's height.
    pub fn height(&self) -> u32 {
        self.lock().height
    }

    /// Adds a node whose lightning-dir is `dir` (the socket is `dir/lightning-rpc`), runs
    /// lnedge's plugin in-process when `with_plugin` (none otherwise), and starts serving.
    pub async fn start_node(
        &self,
        alias: &str,
        dir: &Path,
        with_plugin: bool,
    ) -> std::io::Result<FakeCln> {
        let plugin = if with_plugin { PluginSource::Embedded } else { PluginSource::None };
        self.start_node_with(alias, dir, plugin).await
    }

    /// [`start_node`](Self::start_node) with the plugin named: none, in-process, or a binary
    /// run as a child process on stdio as lightningd runs its plugins.
    pub async fn start_node_with(
        &self,
        alias: &str,
        dir: &Path,
        plugin: PluginSource,
    ) -> std::io::Result<FakeCln> {
        std::fs::create_dir_all(dir)?;
        let node = Arc::new(NodeShared::new(alias, dir.to_path_buf(), plugin));
        self.lock().nodes.insert(node.id, node.clone());
        let mut cln = FakeCln { network: self.clone(), node, server: None };
        cln.start().await?;
        Ok(cln)
    }

    /// Opens a channel of `capacity_sat` from `opener` to `peer` with `push_sat` on the peer's
    /// side (both connected, 1 % reserve each); payments between the two go over it.
    pub fn open_channel(
        &self,
        opener: PublicKey,
        peer: PublicKey,
        capacity_sat: u64,
        push_sat: u64,
    ) -> std::io::Result<()> {
        let (height, a, b) = {
            let net = self.lock();
            let node = |id| net.nodes.get(id).cloned().ok_or(std::io::ErrorKind::NotFound);
            (net.height, node(&opener)?, node(&peer)?)
        };
        if push_sat > capacity_sat {
            return Err(std::io::Error::other("push_sat exceeds the capacity"));
        }
        let chan_id = (u64::from(height) << 40) | u64::from(rand::random::<u16>());
        let (ours, theirs) =
            crate::channel::Channel::pair(chan_id, opener, peer, capacity_sat, push_sat);
        a.state().channels.push(ours);
        b.state().channels.push(theirs);
        Ok(())
    }

    /// Marks the channel between `a` and `b` connected or not.
    pub fn set_channel_active(&self, a: PublicKey, b: PublicKey, active: bool) {
        let nodes: Vec<_> = {
            let net = self.lock();
            [(a, b), (b, a)]
                .into_iter()
                .filter_map(|(m, o)| Some((net.nodes.get(&m)?.clone(), o)))
                .collect()
        };
        for (node, other) in nodes {
            if let Some(c) = node.state().channels.iter_mut().find(|c| c.remote_pubkey == other) {
                c.active = active;
            }
        }
    }

    /// Sets `node`'s on-chain wallet (`listfunds` outputs).
    pub fn set_wallet(&self, node: PublicKey, confirmed_sat: u64, unconfirmed_sat: u64) {
        if let Some(n) = self.lock().nodes.get(&node).cloned() {
            n.state().wallet = crate::channel::Wallet { confirmed_sat, unconfirmed_sat };
        }
    }

    /// `node`'s channels as it sees them.
    pub fn channels(&self, node: PublicKey) -> Vec<crate::channel::Channel> {
        let n = self.lock().nodes.get(&node).cloned();
        n.map(|n| n.state().channels.clone()).unwrap_or_default()
    }

    /// Mines `n` blocks; each is announced to the plugins (`block_added`).
    pub async fn mine(&self, n: u32) {
        for _ in 0..n {
            let (height, nodes) = {
                let mut net = self.lock();
                net.height += 1;
                (net.height, net.nodes.values().cloned().collect::<Vec<_>>())
            };
            for node in nodes {
                if let Some(host) = node.host.lock().await.as_ref() {
                    let hash = format!("{:064x}", height);
                    host.notify(
                        "block_added",
                        json!({"block_added": {"hash": hash, "height": height}}),
                    );
                }
            }
        }
    }

    /// `xpay` from `payer`: checks, records the payment, offers the HTLC to the payee and waits
    /// for its outcome. The payment goes on when the caller hangs up, as in lightningd.
    async fn xpay(&self, payer: Arc<NodeShared>, params: Value) -> Result<Value, RpcError> {
        let (invoice, hash, amount_msat) = payer.begin_pay(&params)?;
        if let Some(done) = payer.state().pays.get(&hash).filter(|p| p.status != PayStatus::Pending)
        {
            if let PayStatus::Complete(_) = done.status {
                return payer.xpay_answer(&hash);
            }
        }
        let payee_id = invoice.recover_payee_pub_key();
        let (height, payee) = {
            let net = self.lock();
            (net.height, net.nodes.get(&payee_id).cloned())
        };
        let delta = invoice.min_final_cltv_expiry_delta() as u32;
        let max_delay = params.get("maxdelay").and_then(Value::as_u64).map(|d| d as u32);
        let enough = payer.spendable_to(&payee_id).is_none_or(|s| s >= amount_msat);
        let payee = match payee {
            Some(p) if max_delay.is_none_or(|m| delta <= m) && enough => p,
            _ => {
                payer.end_pay(hash, PayStatus::Failed);
                return Err(node::no_route(&payee_id));
            }
        };
        let (outcome_tx, mut outcome) = watch::channel(None);
        let key = {
            let mut state = payee.state();
            state.next_htlc_id += 1;
            let key = format!("103x1x0/{}", state.next_htlc_id);
            let payload = json!({
                "peer_id": payer.id.to_string(),
                "onion": {
                    "payload": "",
                    "type": "tlv",
                    "forward_msat": amount_msat,
                    "outgoing_cltv_value": height + delta,
                    "shared_secret": hex::encode([0u8; 32]),
                    "payment_secret": hex::encode(invoice.payment_secret().0),
                    "total_msat": amount_msat,
                },
                "htlc": {
                    "short_channel_id": "103x1x0",
                    "id": state.next_htlc_id,
                    "amount_msat": amount_msat,
                    "cltv_expiry": height + delta,
                    "cltv_expiry_relative": delta,
                    "payment_hash": hex::encode(hash),
                    "extra_tlvs": "",
                },
            });
            state.pending.insert(key.clone(), Pending { payload, hash, outcome: outcome_tx });
            key
        };
        offer(payee.clone(), key).await;
        let finished = outcome.wait_for(Option::is_some).await.map(|o| *o);
        match finished {
            Ok(Some(Ok(preimage))) => {
                payer.settle_with(&payee.id, amount_msat, true);
                payee.settle_with(&payer.id, amount_msat, false);
                payer.end_pay(hash, PayStatus::Complete(preimage));
                payer.xpay_answer(&hash)
            }
            _ => {
                payer.end_pay(hash, PayStatus::Failed);
                Err(node::destination_refused())
            }
        }
    }
}

/// Offers a pending HTLC to the payee's plugin (`htlc_accepted`) and resolves it with the
/// answer; without a plugin running it stays pending until one starts.
async fn offer(payee: Arc<NodeShared>, key: String) {
    let payload = match payee.state().pending.get(&key) {
        Some(p) => p.payload.clone(),
        None => return,
    };
    let host = payee.host.lock().await.clone();
    if payee.plugin == PluginSource::None {
        resolve(&payee, &key, &json!({"result": "continue"}));
        return;
    }
    let Some(host) = host else { return };
    let Ok(answer) = host.request_later("htlc_accepted", payload) else { return };
    tokio::spawn(async move {
        // A plugin that stops before answering leaves the HTLC pending: replayed at its start.
        if let Ok(answer) = answer.await {
            let result =
                answer.get("result").cloned().unwrap_or_else(|| json!({"result": "continue"}));
            resolve(&payee, &key, &result);
        }
    });
}

/// Resolves a pending HTLC with a hook answer: `resolve` with the right preimage settles it;
/// `fail`, `continue` (no lightningd invoice here) and a wrong preimage fail it.
fn resolve(payee: &NodeShared, key: &str, answer: &Value) {
    let Some(pending) = payee.state().pending.remove(key) else { return };
    let preimage = answer
        .get("payment_key")
        .and_then(Value::as_str)
        .filter(|_| answer.get("result").and_then(Value::as_str) == Some("resolve"))
        .and_then(|p| hex::decode(p).ok())
        .and_then(|p| <[u8; 32]>::try_from(p).ok())
        .filter(|p| node::matches(p, &pending.hash));
    let _ = pending.outcome.send(Some(preimage.ok_or(())));
}

/// One node's lightningd.
#[derive(Debug)]
pub struct FakeCln {
    network: ClnNetwork,
    node: Arc<NodeShared>,
    /// The socket server: its stop signal and its task (which ends once every connection has).
    server: Option<(watch::Sender<bool>, tokio::task::JoinHandle<()>)>,
}

impl FakeCln {
    /// The node's id.
    pub fn node_id(&self) -> PublicKey {
        self.node.id
    }

    /// `lightning-rpc` in the node's directory.
    pub fn rpc_file(&self) -> PathBuf {
        self.node.dir.join("lightning-rpc")
    }

    /// Starts lightningd (again, after [`stop`](Self::stop)): serves the socket, starts the
    /// plugin, replays the pending HTLCs to it.
    pub async fn start(&mut self) -> std::io::Result<()> {
        self.listen()?;
        if let Some(host) = Host::start(&self.node.dir, "regtest", &self.node.plugin).await? {
            *self.node.host.lock().await = Some(Arc::new(host));
            let keys: Vec<String> = self.node.state().pending.keys().cloned().collect();
            for key in keys {
                offer(self.node.clone(), key).await;
            }
        }
        Ok(())
    }

    /// Serves the socket (again).
    fn listen(&mut self) -> std::io::Result<()> {
        let path = self.rpc_file();
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(serve(listener, self.network.clone(), self.node.clone(), stopped));
        self.server = Some((stop, task));
        Ok(())
    }

    /// Closes the socket and every connection, and returns once none answers any more.
    async fn close(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(true);
            let _ = task.await;
        }
        let _ = std::fs::remove_file(self.rpc_file());
    }

    /// Stops lightningd: the socket closes with every connection, the plugin stops. The state
    /// (datastore, payments, HTLCs not resolved) stays, as on disk and in the channels.
    pub async fn stop(&mut self) {
        self.close().await;
        *self.node.host.lock().await = None;
    }

    /// Closes every open RPC connection (a long `lnedge-waitupdates` or `xpay` among them) and
    /// keeps serving: what a client sees when the socket breaks.
    pub async fn cut_connections(&mut self) -> std::io::Result<()> {
        self.close().await;
        self.listen()
    }

    /// The node's count of HTLCs offered to it and not resolved.
    pub fn pending_htlcs(&self) -> usize {
        self.node.state().pending.len()
    }
}

impl Drop for FakeCln {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.server.take() {
            let _ = stop.send(true);
        }
    }
}

async fn serve(
    listener: UnixListener,
    network: ClnNetwork,
    node: Arc<NodeShared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                connections.spawn(connection(stream, network.clone(), node.clone()));
            }
        }
    }
    // Every connection ends before `stop` returns: nothing answers after lightningd stopped.
    connections.shutdown().await;
}

/// One client connection: requests answered in order (cln-rpc waits for each answer).
async fn connection(mut stream: UnixStream, network: ClnNetwork, node: Arc<NodeShared>) {
    let mut frames = Frames::default();
    let mut buf = vec![0u8; 1 << 14];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        for request in frames.push(&buf[..n]) {
            let answer = match request {
                Err(e) => {
                    json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": e}})
                }
                Ok(request) => {
                    let id = request.get("id").cloned().unwrap_or(Value::Null);
                    let method =
                        request.get("method").and_then(Value::as_str).unwrap_or("").to_owned();
                    let params = request.get("params").cloned().unwrap_or_else(|| json!({}));
                    match dispatch(&network, node.clone(), &method, params).await {
                        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
                        Err(e) => {
                            let mut error = json!({"code": e.code, "message": e.message});
                            if let Some(data) = e.data {
                                error["data"] = data;
                            }
                            json!({"jsonrpc": "2.0", "id": id, "error": error})
                        }
                    }
                }
            };
            let frame = format!("{answer}\n\n");
            if stream.write_all(frame.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

async fn dispatch(
    network: &ClnNetwork,
    node: Arc<NodeShared>,
    method: &str,
    params: Value,
) -> Result<Value, RpcError> {
    match method {
        "getinfo" => Ok(node.getinfo(network.height())),
        "signinvoice" => node.signinvoice(&params),
        "datastore" => node.datastore(&params),
        "listdatastore" => node.listdatastore(&params),
        "deldatastore" => node.deldatastore(&params),
        "listpays" => node.listpays(&params),
        "listpeerchannels" => node.listpeerchannels(&params),
        "listfunds" => Ok(node.listfunds()),
        "xpay" => {
            // The payment runs on its own: a caller that hangs up does not stop it.
            let (network, payer) = (network.clone(), node.clone());
            let run = tokio::spawn(async move { network.xpay(payer, params).await });
            run.await.map_err(|_| RpcError::new(-1, "xpay task failed"))?
        }
        _ => {
            let host = node.host.lock().await.clone();
            match host.filter(|h| h.methods.contains(method)) {
                Some(host) => {
                    let answer = host.request(method, params).await.map_err(|e| {
                        RpcError::new(
                            -4,
                            format!("Plugin terminated before replying to RPC call: {e}"),
                        )
                    })?;
                    if let Some(result) = answer.get("result") {
                        return Ok(result.clone());
                    }
                    let error = answer.get("error").cloned().unwrap_or_default();
                    Err(RpcError {
                        code: error.get("code").and_then(Value::as_i64).unwrap_or(-1),
                        message: error
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                        data: error.get("data").cloned(),
                    })
                }
                None => Err(RpcError::new(-32601, format!("Unknown command '{method}'"))),
            }
        }
    }
}
