//! Calls to lightningd over its `lightning-rpc` socket with `cln-rpc`: short calls share one
//! connection (opened again when it breaks), long ones (`xpay`, `lnedge-waitupdates`) get their
//! own so they never hold up the rest.

use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;

use cln_rpc::ClnRpc;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::error::BackendError;

/// What a call to lightningd can end in, besides its answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallError {
    /// The socket could not be reached, or broke before the answer.
    Transport(String),
    /// The answer did not read as the method's schema says.
    Decode(String),
    /// lightningd (or the plugin) answered with a JSON-RPC error.
    Cln {
        /// Its `code`.
        code: i32,
        /// Its `message`.
        message: String,
        /// Its `data`.
        data: Option<Value>,
    },
}

impl CallError {
    /// The error's code, when lightningd sent one.
    pub(crate) fn code(&self) -> Option<i32> {
        match self {
            CallError::Cln { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Transport(m) => write!(f, "lightningd unreachable: {m}"),
            CallError::Decode(m) => write!(f, "unexpected answer from lightningd: {m}"),
            CallError::Cln { code, message, .. } => write!(f, "CLN error {code}: {message}"),
        }
    }
}

impl From<CallError> for BackendError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Transport(_) => BackendError::Unavailable(e.to_string()),
            _ => BackendError::Node(e.to_string()),
        }
    }
}

fn classify(e: cln_rpc::RpcError) -> CallError {
    match e.code {
        Some(code) => CallError::Cln { code, message: e.message, data: e.data },
        None if e.message.starts_with("Failed to parse")
            || e.message.starts_with("Failed to deserialize") =>
        {
            CallError::Decode(e.message)
        }
        None => CallError::Transport(e.message),
    }
}

/// lightningd's socket.
#[derive(Clone)]
pub(crate) struct Rpc {
    path: PathBuf,
    shared: Arc<Mutex<Option<ClnRpc>>>,
}

impl Rpc {
    pub(crate) fn new(path: PathBuf) -> Self {
        Rpc { path, shared: Arc::new(Mutex::new(None)) }
    }

    async fn open(&self) -> Result<ClnRpc, CallError> {
        ClnRpc::new(&self.path)
            .await
            .map_err(|e| CallError::Transport(format!("{}: {e}", self.path.display())))
    }

    /// A short call on the shared connection (opened again once if it broke).
    pub(crate) async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, CallError>
    where
        P: Serialize + Debug,
        R: DeserializeOwned + Debug,
    {
        let mut shared = self.shared.lock().await;
        for attempt in 0..2 {
            let conn = match shared.as_mut() {
                Some(conn) => conn,
                None => shared.insert(self.open().await?),
            };
            match conn.call_raw(method, params).await.map_err(classify) {
                Err(CallError::Transport(_)) if attempt == 0 => *shared = None,
                Err(e @ CallError::Transport(_)) => {
                    *shared = None;
                    return Err(e);
                }
                other => return other,
            }
        }
        Err(CallError::Transport("no connection".into()))
    }

    /// A call on a connection of its own (for calls that wait).
    pub(crate) async fn call_alone<P, R>(&self, method: &str, params: &P) -> Result<R, CallError>
    where
        P: Serialize + Debug,
        R: DeserializeOwned + Debug,
    {
        let mut conn = self.open().await?;
        conn.call_raw(method, params).await.map_err(classify)
    }
}
