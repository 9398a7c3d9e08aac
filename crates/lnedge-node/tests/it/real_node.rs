//! The conformance suite against a real regtest pair of the operator's own nodes, for operators
//! (`scripts/check-backend.sh lnd|cln`; cargo features `real-lnd` / `real-cln`, never on in CI,
//! which can run neither daemon). Configuration by environment:
//!
//! | variable | what |
//! | --- | --- |
//! | `LNEDGE_LND_REST_URL`, `LNEDGE_LND_TLS_CERT`, `LNEDGE_LND_MACAROON` | LND: the backend under test |
//! | `LNEDGE_LND_PAYER_REST_URL`, `…_TLS_CERT`, `…_MACAROON` | LND: a second node with a channel to it, liquidity both ways |
//! | `LNEDGE_CLN_RPC_FILE`, `LNEDGE_CLN_PAYER_RPC_FILE` | CLN: the two nodes' `lightning-rpc` (both run `lnedge-cln-hold`) |
//! | `LNEDGE_MINE` | a command that mines N blocks, N appended (e.g. `bitcoin-cli -regtest -generate`) |

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lnedge_node::LightningBackend;

use crate::conformance::{self, Harness};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (see scripts/check-backend.sh)"))
}

/// A backend kind that connects to a real node configured by environment.
#[async_trait]
pub(crate) trait RealBackend: LightningBackend + Sized + 'static {
    /// Its configuration.
    type Config: Clone + Send + Sync;
    /// The configuration under the variables starting with `prefix`, its store in `dir`.
    fn config(prefix: &str, dir: &Path) -> Self::Config;
    /// Connects.
    async fn connect(config: Self::Config) -> Self;
}

/// Two real nodes, each behind a backend of kind `B`.
pub(crate) struct RealPair<B: RealBackend> {
    backend: Arc<B>,
    payer: Arc<B>,
    backend_config: B::Config,
    _dir: tempfile::TempDir,
}

impl<B: RealBackend> RealPair<B> {
    pub(crate) async fn new(prefix: &str) -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let backend_config = B::config(prefix, &dir.path().join("backend"));
        let backend = Arc::new(B::connect(backend_config.clone()).await);
        let payer_prefix = format!("{prefix}_PAYER");
        let payer = Arc::new(B::connect(B::config(&payer_prefix, &dir.path().join("payer"))).await);
        RealPair { backend, payer, backend_config, _dir: dir }
    }
}

#[async_trait]
impl<B: RealBackend> Harness for RealPair<B> {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }
    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }
    async fn mine_blocks(&self, n: u32) {
        let target = self.backend.info().await.expect("info").block_height + n;
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} {n}", env("LNEDGE_MINE")))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("LNEDGE_MINE runs");
        assert!(status.success(), "LNEDGE_MINE failed");
        // Wait (generously) until both nodes have seen the blocks.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        for node in [&self.backend, &self.payer] {
            while node.info().await.expect("info").block_height < target {
                assert!(tokio::time::Instant::now() < deadline, "the nodes did not sync");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    async fn restart_backend(&mut self) {
        self.backend = Arc::new(B::connect(self.backend_config.clone()).await);
    }
}

macro_rules! real_conformance_tests {
    ($backend:ty, $prefix:literal; $($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = super::RealPair::<$backend>::new($prefix).await;
            crate::conformance::$name(&mut h).await;
        }
    )*};
}

#[cfg(feature = "real-lnd")]
mod lnd {
    use super::*;
    use lnedge_node::lnd::{LndBackend, LndConfig};

    #[async_trait]
    impl RealBackend for LndBackend {
        type Config = LndConfig;
        fn config(prefix: &str, dir: &Path) -> LndConfig {
            LndConfig {
                rest_url: env(&format!("{prefix}_REST_URL")),
                tls_cert: env(&format!("{prefix}_TLS_CERT")).into(),
                macaroon: env(&format!("{prefix}_MACAROON")).into(),
                data_dir: dir.to_owned(),
            }
        }
        async fn connect(config: LndConfig) -> Self {
            LndBackend::connect(config).await.expect("LND backend")
        }
    }

    conformance::with_scenarios!(real_conformance_tests!(LndBackend, "LNEDGE_LND";));
}

#[cfg(feature = "real-cln")]
mod cln {
    use super::*;
    use lnedge_node::cln::{ClnBackend, ClnConfig};

    #[async_trait]
    impl RealBackend for ClnBackend {
        type Config = ClnConfig;
        fn config(prefix: &str, dir: &Path) -> ClnConfig {
            ClnConfig {
                rpc_file: env(&format!("{prefix}_RPC_FILE")).into(),
                data_dir: dir.to_owned(),
            }
        }
        async fn connect(config: ClnConfig) -> Self {
            ClnBackend::connect(config).await.expect("CLN backend")
        }
    }

    conformance::with_scenarios!(real_conformance_tests!(ClnBackend, "LNEDGE_CLN";));
}
