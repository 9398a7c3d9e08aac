//! The plugin at run time: the methods of [`wire`](crate::wire), the `htlc_accepted` hook and
//! the `block_added` subscription, over the [`book`] and CLN's datastore.
//!
//! Durability: every change of an invoice is written to CLN's datastore
//! (`lnedge-cln-hold/invoices/<hash>`) before anyone hears of it; at start the plugin reads them
//! back, and lightningd replays the HTLCs still pending to the hook, which finds them again
//! (held ones held, settled ones settled with the stored preimage).

pub mod book;
mod hook;
pub mod invoice;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use bitcoin::hashes::{sha256, Hash};
use cln_plugin::{Builder, Plugin};
use cln_rpc::model::requests::{
    DatastoreMode, DatastoreRequest, GetinfoRequest, ListdatastoreRequest, SigninvoiceRequest,
};
use cln_rpc::ClnRpc;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, watch, Mutex};

use crate::wire::{self, InvoiceRequest, RecordState};
use book::{Book, Entry, Refusal};

/// The datastore key under which the invoices live.
const STORE_KEY: [&str; 2] = ["lnedge-cln-hold", "invoices"];

/// What a held HTLC's hook call is eventually answered with.
type Answer = Value;

/// Hook calls waiting, by payment hash: `(HTLC key, its amount, answer)`.
type Waiters = HashMap<String, Vec<(String, u64, oneshot::Sender<Answer>)>>;

/// The plugin's shared state.
#[derive(Clone)]
struct State {
    inner: Arc<Inner>,
}

struct Inner {
    /// The invoices; `None` until loaded from the datastore (calls wait for it).
    book: Mutex<Option<Book>>,
    loaded: watch::Sender<bool>,
    /// Raised with the book's newest index on every change.
    index: watch::Sender<u64>,
    /// A connection to lightningd's RPC socket.
    rpc: Mutex<Option<ClnRpc>>,
    rpc_path: StdMutex<Option<std::path::PathBuf>>,
    /// Hook calls waiting on a hash.
    waiters: StdMutex<Waiters>,
    height: StdMutex<u32>,
    network: StdMutex<String>,
}

fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// A JSON-RPC error lightningd passes on to the caller as it is.
fn rpc_error(code: i32, message: impl Into<String>, data: Option<Value>) -> anyhow::Error {
    let mut error = json!({"code": code, "message": message.into()});
    if let Some(data) = data {
        error["data"] = data;
    }
    anyhow!(error.to_string())
}

fn invalid(message: impl Into<String>) -> anyhow::Error {
    rpc_error(wire::ERR_INVALID_PARAMS, message, None)
}

fn refusal(hash: &str, r: Refusal) -> anyhow::Error {
    match r {
        Refusal::Unknown => rpc_error(
            wire::ERR_UNKNOWN_HASH,
            format!("no lnedge invoice has payment_hash {hash}"),
            None,
        ),
        Refusal::WrongState(state) => rpc_error(
            wire::ERR_WRONG_STATE,
            format!("the invoice of {hash} is {}", state.name()),
            Some(json!({"state": state.name()})),
        ),
        Refusal::Duplicate => rpc_error(
            wire::ERR_DUPLICATE,
            format!("an invoice for payment_hash {hash} exists with other parameters"),
            None,
        ),
    }
}

impl State {
    fn new() -> Self {
        State {
            inner: Arc::new(Inner {
                book: Mutex::new(None),
                loaded: watch::channel(false).0,
                index: watch::channel(0).0,
                rpc: Mutex::new(None),
                rpc_path: StdMutex::new(None),
                waiters: StdMutex::new(HashMap::new()),
                height: StdMutex::new(0),
                network: StdMutex::new(String::new()),
            }),
        }
    }

    /// Calls lightningd, connecting (again) when needed.
    async fn call<R: cln_rpc::model::TypedRequest + serde::Serialize + std::fmt::Debug>(
        &self,
        request: &R,
    ) -> anyhow::Result<R::Response>
    where
        R::Response: serde::de::DeserializeOwned + std::fmt::Debug,
    {
        let mut rpc = self.inner.rpc.lock().await;
        for attempt in 0..2 {
            if rpc.is_none() {
                let path = self.inner.rpc_path.lock().map_err(|_| anyhow!("poisoned"))?.clone();
                let path = path.ok_or_else(|| anyhow!("not initialised"))?;
                *rpc = Some(ClnRpc::new(&path).await?);
            }
            let Some(conn) = rpc.as_mut() else { continue };
            match conn.call_typed(request).await {
                Ok(answer) => return Ok(answer),
                // No code: the connection failed, not lightningd. Connect again once.
                Err(e) if e.code.is_none() && attempt == 0 => *rpc = None,
                Err(e) => return Err(anyhow!("{} failed: {e}", request.method())),
            }
        }
        Err(anyhow!("{}: lightningd unreachable", request.method()))
    }

    /// Writes an entry to the datastore.
    async fn persist(&self, entry: &Entry) -> anyhow::Result<()> {
        let mut key: Vec<String> = STORE_KEY.iter().map(|s| s.to_string()).collect();
        key.push(entry.request.payment_hash.clone());
        let request = DatastoreRequest {
            key,
            string: Some(serde_json::to_string(entry)?),
            hex: None,
            mode: Some(DatastoreMode::CREATE_OR_REPLACE),
            generation: None,
        };
        self.call(&request).await.map(|_| ())
    }

    /// Reads the invoices back from the datastore and the height from `getinfo`.
    async fn load(&self) -> anyhow::Result<()> {
        let info = self.call(&GetinfoRequest {}).await?;
        self.set_height(info.blockheight);
        let key = Some(STORE_KEY.iter().map(|s| s.to_string()).collect());
        let listed = self.call(&ListdatastoreRequest { key }).await?;
        let mut entries = Vec::new();
        for item in listed.datastore {
            let Some(text) = item.string else { continue };
            match serde_json::from_str::<Entry>(&text) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    tracing::warn!(key = ?item.key, error = %e, "unreadable lnedge invoice in the datastore")
                }
            }
        }
        let book = Book::load(entries);
        let index = book.updates_after(0, usize::MAX).last().map(|r| r.updated_index).unwrap_or(0);
        *self.inner.book.lock().await = Some(book);
        self.inner.index.send_replace(index);
        self.inner.loaded.send_replace(true);
        Ok(())
    }

    /// The book, once loaded.
    async fn book(&self) -> tokio::sync::MutexGuard<'_, Option<Book>> {
        let mut loaded = self.inner.loaded.subscribe();
        let _ = loaded.wait_for(|l| *l).await;
        self.inner.book.lock().await
    }

    fn height(&self) -> u32 {
        self.inner.height.lock().map(|h| *h).unwrap_or(0)
    }

    fn set_height(&self, height: u32) {
        if let Ok(mut h) = self.inner.height.lock() {
            *h = (*h).max(height);
        }
    }

    /// Announces a change (for `lnedge-waitupdates`).
    fn changed(&self, index: u64) {
        self.inner.index.send_if_modified(|i| {
            let newer = index > *i;
            *i = (*i).max(index);
            newer
        });
    }

    /// Answers every hook call waiting on `hash` (`answer` of each HTLC's amount).
    fn release(&self, hash: &str, answer: impl Fn(u64) -> Answer) {
        let waiting = self.inner.waiters.lock().ok().and_then(|mut w| w.remove(hash));
        for (_, amount_msat, tx) in waiting.unwrap_or_default() {
            let _ = tx.send(answer(amount_msat));
        }
    }

    /// Fails back every hook call waiting on `hash`.
    fn fail_all(&self, hash: &str) {
        let height = self.height();
        self.release(hash, |amount_msat| hook::fail(amount_msat, height));
    }

    /// Registers a hook call that waits on `hash`.
    fn wait_on(&self, hash: &str, key: &str, amount_msat: u64) -> oneshot::Receiver<Answer> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut waiters) = self.inner.waiters.lock() {
            let list = waiters.entry(hash.to_owned()).or_default();
            list.retain(|(k, _, _)| k != key);
            list.push((key.to_owned(), amount_msat, tx));
        }
        rx
    }
}

/// `lnedge-invoice`.
async fn create(p: Plugin<State>, params: Value) -> anyhow::Result<Value> {
    let state = p.state().clone();
    let request: InvoiceRequest =
        serde_json::from_value(params).map_err(|e| invalid(format!("lnedge-invoice: {e}")))?;
    invoice::check(&request).map_err(invalid)?;
    let mut guard = state.book().await;
    let book = guard.as_mut().ok_or_else(|| anyhow!("not loaded"))?;
    match book.existing(&request) {
        Ok(Some(entry)) => return Ok(serde_json::to_value(entry.record())?),
        Ok(None) => {}
        Err(r) => return Err(refusal(&request.payment_hash, r)),
    }
    let network = state.inner.network.lock().map(|n| n.clone()).unwrap_or_default();
    let currency = invoice::currency(&network).map_err(|e| anyhow!(e))?;
    let secret: [u8; 32] = rand::random();
    let cltv = request.cltv.unwrap_or(book::DEFAULT_CLTV);
    let created = now();
    let unsigned =
        invoice::unsigned(&request, currency, secret, cltv, Duration::from_secs(created.as_secs()))
            .map_err(invalid)?;
    let signed = state.call(&SigninvoiceRequest { invstring: unsigned }).await?.bolt11;
    let entry = Entry {
        preimage: request.preimage.clone(),
        payment_secret: hex::encode(secret),
        bolt11: signed,
        expires_at: created.as_secs() + u64::from(request.expiry_secs),
        state: RecordState::Open,
        htlcs: Vec::new(),
        updated_index: 0,
        request,
    };
    let entry = book.insert(entry).clone();
    if let Err(e) = state.persist(&entry).await {
        // Not on disk: nobody may hear of it.
        book.remove(&entry.request.payment_hash);
        return Err(e);
    }
    state.changed(entry.updated_index);
    Ok(serde_json::to_value(entry.record())?)
}

/// `lnedge-settle`.
async fn settle(p: Plugin<State>, params: Value) -> anyhow::Result<Value> {
    let state = p.state().clone();
    let request: wire::SettleRequest =
        serde_json::from_value(params).map_err(|e| invalid(format!("lnedge-settle: {e}")))?;
    let preimage = wire::hex32("preimage", &request.preimage).map_err(invalid)?;
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let mut guard = state.book().await;
    let book = guard.as_mut().ok_or_else(|| anyhow!("not loaded"))?;
    let changed = book.settle(&hash, &request.preimage).map_err(|r| refusal(&hash, r))?;
    let entry = book.get(&hash).cloned().ok_or_else(|| anyhow!("vanished"))?;
    if changed {
        // On disk before any HTLC is settled with it.
        state.persist(&entry).await?;
        state.changed(entry.updated_index);
        let answer = json!({"result": "resolve", "payment_key": request.preimage});
        state.release(&hash, |_| answer.clone());
    }
    Ok(serde_json::to_value(entry.record())?)
}

/// `lnedge-cancel`.
async fn cancel(p: Plugin<State>, params: Value) -> anyhow::Result<Value> {
    let state = p.state().clone();
    let request: wire::HashRequest =
        serde_json::from_value(params).map_err(|e| invalid(format!("lnedge-cancel: {e}")))?;
    let hash = request.payment_hash;
    let mut guard = state.book().await;
    let book = guard.as_mut().ok_or_else(|| anyhow!("not loaded"))?;
    let changed = book.cancel(&hash).map_err(|r| refusal(&hash, r))?;
    let entry = book.get(&hash).cloned().ok_or_else(|| anyhow!("vanished"))?;
    if changed {
        state.persist(&entry).await?;
        state.changed(entry.updated_index);
        state.fail_all(&hash);
    }
    Ok(serde_json::to_value(entry.record())?)
}

/// `lnedge-lookup`.
async fn lookup(p: Plugin<State>, params: Value) -> anyhow::Result<Value> {
    let request: wire::HashRequest =
        serde_json::from_value(params).map_err(|e| invalid(format!("lnedge-lookup: {e}")))?;
    let guard = p.state().book().await;
    let entry = guard.as_ref().and_then(|b| b.get(&request.payment_hash));
    let entry = entry.ok_or_else(|| refusal(&request.payment_hash, Refusal::Unknown))?;
    Ok(serde_json::to_value(entry.record())?)
}

/// `lnedge-waitupdates`.
async fn wait(p: Plugin<State>, params: Value) -> anyhow::Result<Value> {
    let state = p.state().clone();
    let request: wire::WaitRequest =
        serde_json::from_value(params).map_err(|e| invalid(format!("lnedge-waitupdates: {e}")))?;
    let mut index = state.inner.index.subscribe();
    let deadline =
        tokio::time::Instant::now() + Duration::from_secs(u64::from(request.timeout_secs));
    loop {
        let updates = {
            let guard = state.book().await;
            guard.as_ref().map(|b| b.updates_after(request.after_index, 100)).unwrap_or_default()
        };
        if !updates.is_empty() {
            return Ok(serde_json::to_value(wire::WaitResponse { updates })?);
        }
        match tokio::time::timeout_at(deadline, index.wait_for(|i| *i > request.after_index)).await
        {
            Ok(Ok(_)) => continue,
            Ok(Err(_)) | Err(_) => {
                return Ok(serde_json::to_value(wire::WaitResponse { updates: vec![] })?)
            }
        }
    }
}

/// `block_added`: fail back held HTLCs near their expiry, cancel expired open hold invoices.
async fn block_added(p: Plugin<State>, params: Value) -> anyhow::Result<()> {
    let state = p.state().clone();
    let height = params
        .pointer("/block_added/height")
        .or_else(|| params.pointer("/block/height"))
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow!("block_added without a height"))?;
    state.set_height(height as u32);
    let mut guard = state.book().await;
    let Some(book) = guard.as_mut() else { return Ok(()) };
    for hash in book.on_block(height as u32, now().as_secs()) {
        if let Some(entry) = book.get(&hash).cloned() {
            tracing::info!(payment_hash = %hash, height, "cancelling an lnedge invoice near its HTLCs' expiry (or past its own)");
            state.persist(&entry).await?;
            state.changed(entry.updated_index);
            state.fail_all(&hash);
        }
    }
    Ok(())
}

/// Runs the plugin over lightningd's plugin protocol on `input` / `output` (stdin / stdout
/// when lightningd starts the binary) until lightningd closes it. Its `tracing` logs go to
/// lightningd's log (cln-plugin installs the process's global subscriber for that).
pub async fn run<I, O>(input: I, output: O) -> anyhow::Result<()>
where
    I: AsyncRead + Send + Unpin + 'static,
    O: AsyncWrite + Send + Unpin + 'static,
{
    serve(input, output, true).await
}

/// [`run`] for a host that runs several plugins in one process (a test's lightningd
/// stand-in): the process's global `tracing` subscriber is left alone.
pub async fn run_embedded<I, O>(input: I, output: O) -> anyhow::Result<()>
where
    I: AsyncRead + Send + Unpin + 'static,
    O: AsyncWrite + Send + Unpin + 'static,
{
    serve(input, output, false).await
}

async fn serve<I, O>(input: I, output: O, log_to_lightningd: bool) -> anyhow::Result<()>
where
    I: AsyncRead + Send + Unpin + 'static,
    O: AsyncWrite + Send + Unpin + 'static,
{
    let state = State::new();
    let configured = Builder::new(input, output)
        .with_logging(log_to_lightningd)
        .rpcmethod(wire::INVOICE, "lnedge: an invoice for a hash (held) or a preimage", create)
        .rpcmethod(wire::SETTLE, "lnedge: settle a held invoice with its preimage", settle)
        .rpcmethod(wire::CANCEL, "lnedge: cancel an invoice, failing held HTLCs back", cancel)
        .rpcmethod(wire::LOOKUP, "lnedge: where an invoice stands", lookup)
        .rpcmethod(wire::WAIT, "lnedge: invoice updates after an index", wait)
        .hook("htlc_accepted", hook::htlc_accepted)
        .subscribe("block_added", block_added)
        .dynamic()
        .configure()
        .await?;
    let Some(configured) = configured else { return Ok(()) };
    let config = configured.configuration();
    let rpc_path = Path::new(&config.lightning_dir).join(&config.rpc_file);
    *state.inner.rpc_path.lock().map_err(|_| anyhow!("poisoned"))? = Some(rpc_path);
    *state.inner.network.lock().map_err(|_| anyhow!("poisoned"))? = config.network.clone();
    let plugin = configured.start(state.clone()).await?;
    // Read the book back while lightningd goes on; calls and hooks wait for it.
    let loader = state.clone();
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(100);
        while let Err(e) = loader.load().await {
            tracing::warn!(error = %e, "loading lnedge invoices from the datastore");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    });
    plugin.join().await
}
