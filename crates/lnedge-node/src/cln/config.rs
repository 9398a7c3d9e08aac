//! [`ClnConfig`]: where an operator's Core Lightning listens (`lightning-rpc`), checked at start
//! with errors that name the configuration key.

use std::path::PathBuf;

use crate::error::BackendError;

/// How to reach Core Lightning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClnConfig {
    /// `node.rpc_file`: lightningd's JSON-RPC socket, `<lightning-dir>/<network>/lightning-rpc`
    /// (e.g. `~/.lightning/bitcoin/lightning-rpc`). lightningd must run lnedge's plugin
    /// (`lnedge-cln-hold`).
    pub rpc_file: PathBuf,
    /// Where the backend keeps its store (invoices, preimages, the event queue, the update index).
    pub data_dir: PathBuf,
}

impl ClnConfig {
    /// Checks that `rpc_file` is a unix socket (the error names `node.rpc_file`).
    pub(crate) fn check(&self) -> Result<(), BackendError> {
        use std::os::unix::fs::FileTypeExt;
        let bad = |problem: String| {
            BackendError::invalid(
                "node.rpc_file",
                format!("{}: {problem}", self.rpc_file.display()),
            )
        };
        let meta = std::fs::metadata(&self.rpc_file).map_err(|e| {
            bad(format!("{e} (is lightningd running? the socket is <lightning-dir>/<network>/lightning-rpc)"))
        })?;
        if !meta.file_type().is_socket() {
            return Err(bad("not a unix socket (lightningd's lightning-rpc is one)".into()));
        }
        Ok(())
    }
}
