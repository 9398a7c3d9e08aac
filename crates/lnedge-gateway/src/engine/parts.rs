//! What the engine's rules work with: the store, the nodes, the operator's keys, the rates, the
//! clock and the settings. Every handle of the [`Gateway`](super::Gateway) borrows these (a leaf
//! module: the handles import it, the engine builds it).

use std::sync::Arc;

use lnedge_node::LightningBackend;

use super::GatewaySettings;
use crate::accounting::RateSource;
use crate::clock::Clock;
use crate::provision::PoolKey;
use crate::store::GatewayStore;

/// The parts of a gateway ([`Gateway`](super::Gateway) dereferences to them).
pub struct Parts {
    pub(super) store: Arc<dyn GatewayStore>,
    pub(super) owner: Arc<dyn LightningBackend>,
    pub(super) relay_forward_node: Option<Arc<dyn LightningBackend>>,
    pub(super) pool_key: Arc<PoolKey>,
    pub(super) device_master_key: zeroize::Zeroizing<[u8; 32]>,
    pub(super) rates: Arc<dyn RateSource>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: GatewaySettings,
    /// The dashboard's snapshot of the books (`crate::books`).
    pub(crate) books_cache: crate::books::BooksCache,
}

impl std::fmt::Debug for Parts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parts")
            .field("store", &self.store.name())
            .field("owner", &self.owner.backend_name())
            .field("pool_key", &"<secret>")
            .field("device_master_key", &"<secret>")
            .finish_non_exhaustive()
    }
}

impl Parts {
    /// Where records live.
    pub fn store(&self) -> &Arc<dyn GatewayStore> {
        &self.store
    }

    /// The owner's node (pools' invoices, refunds, the relay's hold invoices).
    pub fn owner(&self) -> &Arc<dyn LightningBackend> {
        &self.owner
    }

    /// The node that pays the relay's payees, when it is not the owner's.
    pub fn relay_forward_node(&self) -> Option<&Arc<dyn LightningBackend>> {
        self.relay_forward_node.as_ref()
    }

    /// The operator's pool key. Secret.
    pub fn pool_key(&self) -> &Arc<PoolKey> {
        &self.pool_key
    }

    /// The key every device's and payee's key derives from. Secret.
    pub fn device_master_key(&self) -> &[u8; 32] {
        &self.device_master_key
    }

    /// Exchange rates.
    pub fn rates(&self) -> &Arc<dyn RateSource> {
        &self.rates
    }

    /// The time the rules see, in seconds since the Unix epoch.
    pub fn now_secs(&self) -> u64 {
        self.clock.now_secs()
    }

    /// The settings.
    pub fn settings(&self) -> &GatewaySettings {
        &self.settings
    }
}
