//! Hosting a plugin as lightningd does (CLN's `doc/developers-guide/plugin-development`): JSON-RPC
//! 2.0 objects separated by a blank line on the plugin's stdin / stdout; `getmanifest`, then
//! `init` with the configuration; then method calls passed through from the RPC socket, hook
//! calls (answered whenever the plugin likes) and notifications. The plugin here is lnedge's
//! own, [`lnedge_cln_plugin::run_embedded`] (its `run` without taking over the process's log), on in-process pipes instead of a child's stdio: the same
//! bytes, without the process boundary.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

/// Splits a byte stream into blank-line separated JSON messages.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    /// Adds bytes; returns the messages completed by them (unparseable ones as `Err`).
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Vec<Result<Value, String>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(at) = self.buf.windows(2).position(|w| w == b"\n\n") {
            let frame: Vec<u8> = self.buf.drain(..at + 2).collect();
            let text = String::from_utf8_lossy(&frame[..at]).trim().to_owned();
            if !text.is_empty() {
                out.push(serde_json::from_str(&text).map_err(|e| format!("{e}: {text}")));
            }
        }
        out
    }
}

/// A running plugin.
#[derive(Debug)]
pub(crate) struct Host {
    out: mpsc::UnboundedSender<String>,
    calls: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_id: AtomicU64,
    /// The methods it added to lightningd.
    pub(crate) methods: HashSet<String>,
    /// The notifications it subscribed to.
    pub(crate) subscriptions: HashSet<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The plugin's process, when it runs as one (killed when the host is dropped).
    _child: Option<tokio::process::Child>,
}

impl Drop for Host {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Which plugin a node's lightningd runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// None: lnedge's methods are unknown commands, every HTLC is left to lightningd.
    None,
    /// `lnedge-cln-hold`'s code in this process, on pipes ([`lnedge_cln_plugin::run_embedded`]).
    Embedded,
    /// A plugin binary (e.g. the built `lnedge-cln-hold`), started as lightningd starts its
    /// plugins: a child process speaking on its stdin and stdout.
    Binary(std::path::PathBuf),
}

impl Host {
    /// Starts the plugin and does the handshake; `lightning_dir` holds the `lightning-rpc`
    /// socket, already served. `None` for [`PluginSource::None`].
    pub(crate) async fn start(
        lightning_dir: &Path,
        network: &str,
        source: &PluginSource,
    ) -> std::io::Result<Option<Host>> {
        let mut child = None;
        let (out, calls, tasks) = match source {
            PluginSource::None => return Ok(None),
            PluginSource::Embedded => {
                let (host_end, plugin_end) = tokio::io::duplex(1 << 16);
                let (plugin_read, plugin_write) = tokio::io::split(plugin_end);
                let (host_read, host_write) = tokio::io::split(host_end);
                let plugin = tokio::spawn(async move {
                    if let Err(e) = lnedge_cln_plugin::run_embedded(plugin_read, plugin_write).await
                    {
                        tracing::debug!(error = %e, "the plugin stopped");
                    }
                });
                let (out, calls, mut tasks) = pipes(host_read, host_write);
                tasks.push(plugin);
                (out, calls, tasks)
            }
            PluginSource::Binary(path) => {
                let mut process = tokio::process::Command::new(path)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()?;
                let (Some(stdin), Some(stdout)) = (process.stdin.take(), process.stdout.take())
                else {
                    return Err(std::io::Error::other("the plugin's stdio is not piped"));
                };
                child = Some(process);
                pipes(stdout, stdin)
            }
        };
        let mut host = Host {
            out,
            calls,
            next_id: AtomicU64::new(1),
            methods: HashSet::new(),
            subscriptions: HashSet::new(),
            tasks,
            _child: child,
        };
        let manifest = host.request("getmanifest", json!({})).await?;
        let manifest = manifest.get("result").cloned().unwrap_or_default();
        let names = |field: &str, key: Option<&str>| -> HashSet<String> {
            manifest
                .get(field)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|i| match key {
                            Some(k) => i.get(k).and_then(Value::as_str),
                            None => i.as_str(),
                        })
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        host.methods = names("rpcmethods", Some("name"));
        host.subscriptions = names("subscriptions", None);
        let init = json!({
            "options": {},
            "configuration": {
                "lightning-dir": lightning_dir.display().to_string(),
                "rpc-file": "lightning-rpc",
                "startup": true,
                "network": network,
                "feature_set": {"init": "08a0000a8a5961", "node": "88a0000a8a5961", "channel": "", "invoice": "02000002024100"},
            }
        });
        let answer = host.request("init", init).await?;
        if answer.get("error").is_some() {
            return Err(std::io::Error::other(format!("plugin refused init: {answer}")));
        }
        Ok(Some(host))
    }

    /// Sends a request and waits for the plugin's whole answer (`result` or `error`).
    pub(crate) async fn request(&self, method: &str, params: Value) -> std::io::Result<Value> {
        let rx = self.request_later(method, params)?;
        rx.await.map_err(|_| std::io::Error::other("the plugin stopped before answering"))
    }

    /// A request whose answer is awaited elsewhere (hook calls that a plugin may hold).
    pub(crate) fn request_later(
        &self,
        method: &str,
        params: Value,
    ) -> std::io::Result<oneshot::Receiver<Value>> {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert(id, tx);
        }
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        self.out
            .send(message.to_string())
            .map_err(|_| std::io::Error::other("the plugin is gone"))?;
        Ok(rx)
    }

    /// Sends a notification if the plugin subscribed to it.
    pub(crate) fn notify(&self, method: &str, params: Value) {
        if self.subscriptions.contains(method) || self.subscriptions.contains("*") {
            let message = json!({"jsonrpc": "2.0", "method": method, "params": params});
            let _ = self.out.send(message.to_string());
        }
    }
}

/// The calls waiting for the plugin's answer, by id.
type Calls = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// Frames messages to the plugin on `write` and matches its answers on `read` to their calls.
fn pipes<R, W>(
    mut read: R,
    mut write: W,
) -> (mpsc::UnboundedSender<String>, Calls, Vec<tokio::task::JoinHandle<()>>)
where
    R: tokio::io::AsyncRead + Unpin + Send + 'static,
    W: tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (out, mut outgoing) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = outgoing.recv().await {
            let frame = format!("{text}\n\n");
            if write.write_all(frame.as_bytes()).await.is_err() || write.flush().await.is_err() {
                return;
            }
        }
    });
    let calls: Calls = Arc::default();
    let answers = calls.clone();
    let reader = tokio::spawn(async move {
        let mut frames = Frames::default();
        let mut buf = vec![0u8; 1 << 14];
        loop {
            let n = match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            for message in frames.push(&buf[..n]) {
                let Ok(message) = message else { continue };
                // Responses carry our numeric ids; the rest are notifications (`log`, …).
                let Some(id) = message.get("id").and_then(Value::as_u64) else { continue };
                if message.get("method").is_some() {
                    continue;
                }
                let waiting = answers.lock().ok().and_then(|mut c| c.remove(&id));
                if let Some(tx) = waiting {
                    let _ = tx.send(message);
                }
            }
        }
    });
    (out, calls, vec![writer, reader])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_on_blank_lines_across_reads() {
        let mut frames = Frames::default();
        assert!(frames.push(b"{\"a\":").is_empty());
        let got = frames.push(b"1}\n\n{\"b\":2}\n\nnot json\n\n{");
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().ok(), Some(&json!({"a": 1})));
        assert_eq!(got[1].as_ref().ok(), Some(&json!({"b": 2})));
        assert!(got[2].is_err());
    }
}
