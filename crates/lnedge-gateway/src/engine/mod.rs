//! The gateway as one engine: a [`Gateway`] handle, built by a [`GatewayBuilder`] from a store,
//! the owner's node, the operator's keys, a rate source and a clock, that owns its background
//! tasks ([`Gateway::start`] / [`Gateway::shutdown`]) and gives one handle per concern.
//!
//! ```text
//!  HTTP (api/: parse → call → typed response)     CLI / demo / tests
//!                    \                              /
//!                     Gateway: store · owner node · keys · rates · clock · settings
//!                       .fleet()  .sync()  .pools()  .refunds()  .deputy()  .relay()
//!                       .watcher()   (reports: moving here next)
//!                    /                              \
//!     GatewayStore (SQLite | PostgreSQL)            LightningBackend (sandbox | ldk-node)
//! ```
//!
//! The engine knows nothing of HTTP: no axum type crosses it, its errors are typed per
//! operation, and the HTTP layer (`api/`) maps them to status codes. `lnedge gateway serve`
//! (the `service` module), `lnedge demo` and the tests all drive the same handle.

use std::sync::{Arc, Mutex};

use lnedge_node::LightningBackend;

pub mod parts;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::accounting::{FixedRates, RateSource};
use crate::clock::{Clock, SystemClock};
use crate::deputy::DeputySettings;
use crate::provision::PoolKey;
use crate::refunds::{RefundSettings, Refunds};
use crate::relay::{Relay, RelaySettings};
use crate::store::GatewayStore;
use crate::watcher::PaymentWatcher;
pub use parts::Parts;

/// How often [`Gateway::housekeeping`] runs.
pub const HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// The operator's settings the rules read (everything but keys, store and nodes).
#[derive(Debug, Clone, Default)]
pub struct GatewaySettings {
    /// The gateway's public base URL (`https://gw.example`, no trailing slash) that LNURL
    /// callbacks and links are built from. May be empty when no LNURL route is used.
    pub public_url: String,
    /// Base URL of the refund endpoint written into pools (may be empty).
    pub refund_url_base: String,
    /// The currency the operator keeps books in, if any (`EUR`).
    pub accounting_currency: Option<String>,
    /// Refunds, proofs of payment, sessions and LNURL-auth.
    pub refunds: RefundSettings,
    /// Deputy sales.
    pub deputy: DeputySettings,
    /// The async relay.
    pub relay: RelaySettings,
    /// Cards and payer devices.
    pub payers: crate::payers::PayerSettings,
}

/// The background tasks of a started gateway.
#[derive(Default)]
struct Tasks {
    stop: Option<watch::Sender<bool>>,
    loops: Vec<JoinHandle<()>>,
    one_shots: Vec<JoinHandle<()>>,
}

/// The gateway engine. Cheap to clone (reference counted); every clone is the same gateway.
/// It dereferences to its [`Parts`] (store, nodes, keys, rates, clock, settings).
#[derive(Clone)]
pub struct Gateway {
    parts: Arc<Parts>,
    tasks: Arc<Mutex<Tasks>>,
}

impl std::ops::Deref for Gateway {
    type Target = Parts;

    fn deref(&self) -> &Parts {
        &self.parts
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("store", &self.parts.store.name())
            .field("owner", &self.parts.owner.backend_name())
            .field("pool_key", &"<secret>")
            .field("device_master_key", &"<secret>")
            .field("settings", &self.parts.settings)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Gateway`]: the store, the owner's node and the two operator secrets are required;
/// everything else has a default (no rates, the system clock, default settings, no forwarding
/// node for the relay).
#[must_use]
pub struct GatewayBuilder {
    store: Arc<dyn GatewayStore>,
    owner: Arc<dyn LightningBackend>,
    pool_key: Arc<PoolKey>,
    device_master_key: [u8; 32],
    relay_forward_node: Option<Arc<dyn LightningBackend>>,
    rates: Arc<dyn RateSource>,
    clock: Arc<dyn Clock>,
    settings: GatewaySettings,
}

impl GatewayBuilder {
    /// A builder with the required parts: where records live, the owner's node, the operator's
    /// pool key (every pool preimage derives from it) and the key every device's and payee's key
    /// derives from (`lnedge_wire::keys`). Both keys are secret.
    pub fn new(
        store: Arc<dyn GatewayStore>,
        owner: Arc<dyn LightningBackend>,
        pool_key: Arc<PoolKey>,
        device_master_key: [u8; 32],
    ) -> GatewayBuilder {
        GatewayBuilder {
            store,
            owner,
            pool_key,
            device_master_key,
            relay_forward_node: None,
            rates: Arc::new(FixedRates::default()),
            clock: Arc::new(SystemClock),
            settings: GatewaySettings::default(),
        }
    }

    /// Exchange rates (products priced in fiat, books in a fiat currency, deputy sales in fiat).
    pub fn rates(mut self, rates: Arc<dyn RateSource>) -> Self {
        self.rates = rates;
        self
    }

    /// The clock the rules read.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// All settings at once.
    pub fn settings(mut self, settings: GatewaySettings) -> Self {
        self.settings = settings;
        self
    }

    /// The public base URL LNURL links are built from (a trailing `/` is dropped).
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.settings.public_url = url.into().trim_end_matches('/').to_owned();
        self
    }

    /// The refund URL base written into pools.
    pub fn refund_url_base(mut self, url: impl Into<String>) -> Self {
        self.settings.refund_url_base = url.into();
        self
    }

    /// The refunds' settings.
    pub fn refunds(mut self, refunds: RefundSettings) -> Self {
        self.settings.refunds = refunds;
        self
    }

    /// The deputy sales' settings.
    pub fn deputy(mut self, deputy: DeputySettings) -> Self {
        self.settings.deputy = deputy;
        self
    }

    /// The async relay's settings.
    pub fn relay(mut self, relay: RelaySettings) -> Self {
        self.settings.relay = relay;
        self
    }

    /// The cards' and payer devices' settings.
    pub fn payers(mut self, payers: crate::payers::PayerSettings) -> Self {
        self.settings.payers = payers;
        self
    }

    /// The node that pays the relay's payees, when it is not the owner's (ADR 0012).
    pub fn relay_forward_node(mut self, node: Option<Arc<dyn LightningBackend>>) -> Self {
        self.relay_forward_node = node;
        self
    }

    /// The gateway (not started: [`Gateway::start`] runs its background tasks).
    pub fn build(self) -> Gateway {
        Gateway {
            parts: Arc::new(Parts {
                store: self.store,
                owner: self.owner,
                relay_forward_node: self.relay_forward_node,
                pool_key: self.pool_key,
                device_master_key: zeroize::Zeroizing::new(self.device_master_key),
                rates: self.rates,
                clock: self.clock,
                settings: self.settings,
                books_cache: Default::default(),
            }),
            tasks: Arc::default(),
        }
    }
}

impl Gateway {
    /// A builder of a gateway with the same parts and settings as this one (not its tasks): to
    /// change a setting, e.g. in tests.
    pub fn to_builder(&self) -> GatewayBuilder {
        let c = &self.parts;
        GatewayBuilder {
            store: c.store.clone(),
            owner: c.owner.clone(),
            pool_key: c.pool_key.clone(),
            device_master_key: *c.device_master_key,
            relay_forward_node: c.relay_forward_node.clone(),
            rates: c.rates.clone(),
            clock: c.clock.clone(),
            settings: c.settings.clone(),
        }
    }

    /// Refunds of failed vends and proofs of payment.
    pub fn refunds(&self) -> Refunds<'_> {
        Refunds::new(&self.parts)
    }

    /// Rate limits of open routes, shared by every replica on one database.
    pub fn limits(&self) -> crate::limits::RateLimits<'_> {
        crate::limits::RateLimits::new(&self.parts)
    }

    /// Cards and payer devices: issuing, taps, tokens, limits.
    pub fn payers(&self) -> crate::payers::Payers<'_> {
        crate::payers::Payers::new(&self.parts)
    }

    /// The dashboard's people: operator accounts, sessions, the audit log.
    pub fn operators(&self) -> crate::operators::Operators<'_> {
        crate::operators::Operators::new(&self.parts)
    }

    /// Deletes what open routes left behind and nobody needs any more: expired LNURL-auth
    /// challenges and sessions, rate-limit buckets untouched for an hour, card tap sessions
    /// expired an hour ago and expired dashboard sessions; and settles card and token payments whose outcome was unknown when
    /// sent, from what the owner node now knows. Answers how many rows went (purged). Idempotent,
    /// so every replica may run it.
    pub async fn housekeeping(&self) -> Result<u64, crate::store::StoreError> {
        let taps = self.payers().purge_taps().await?;
        let settled = self.payers().resolve_pending().await?;
        if settled > 0 {
            tracing::info!(settled, "housekeeping: settled pending card and token payments");
        }
        let dashboard = self.store().purge_operator_sessions(self.now_secs()).await?;
        Ok(self.refunds().purge_expired_auth().await?
            + self.limits().purge().await?
            + taps
            + dashboard)
    }

    /// Runs [`housekeeping`](Self::housekeeping) every [`HOUSEKEEPING_INTERVAL`] until `stop`
    /// turns true (a background task of [`start`](Self::start)).
    async fn housekeeping_loop(self, stop: watch::Receiver<bool>) {
        crate::clock::every(HOUSEKEEPING_INTERVAL, stop, || async {
            match self.housekeeping().await {
                Ok(0) => {}
                Ok(rows) => tracing::info!(rows, "housekeeping: purged expired rows"),
                Err(e) => tracing::error!(error = %e, "housekeeping: purging expired rows"),
            }
        })
        .await;
    }

    /// Whether the store answers (a point lookup by primary key, the cheapest query every
    /// store has); the health check.
    pub async fn health(&self) -> Result<(), crate::store::StoreError> {
        self.parts.store.device(lnedge_proto::DeviceId([0; 16])).await.map(|_| ())
    }

    /// The sales report's rows: every payment with its pool entry, amounts and refund state.
    pub async fn sales_report(
        &self,
    ) -> Result<Vec<crate::reconcile::SaleRow>, crate::store::StoreError> {
        crate::reconcile::sales_report(self.parts.store.as_ref()).await
    }

    /// [`sales_report`](Self::sales_report) as rows read while the store reads them (flat
    /// memory on SQLite and PostgreSQL); the last item is the error if the store failed part-way.
    pub fn sales_rows(
        &self,
    ) -> tokio::sync::mpsc::Receiver<Result<crate::reconcile::SaleRow, crate::store::StoreError>>
    {
        crate::reconcile::sales_rows(self.parts.store.clone())
    }

    /// Pools of enabled devices that expire within `within_secs` with unused entries left.
    pub async fn expiring_pools(
        &self,
        within_secs: u64,
    ) -> Result<Vec<crate::expiry::ExpiringPool>, crate::store::StoreError> {
        crate::expiry::expiring_pools(self.parts.store.as_ref(), within_secs, self.now_secs()).await
    }

    /// The fleet registry: enrol, look up, enable and disable devices; their sync keys.
    pub fn fleet(&self) -> crate::fleet::Fleet<'_> {
        crate::fleet::Fleet::new(&self.parts)
    }

    /// Device sync: authenticate a signed upload, apply it forward-only, answer new pools.
    pub fn sync(&self) -> crate::sync::Sync<'_> {
        crate::sync::Sync::new(&self.parts)
    }

    /// Pools: plan, build on the owner's node, store; pool files.
    pub fn pools(&self) -> crate::pools::Pools<'_> {
        crate::pools::Pools::new(&self.parts)
    }

    /// Deputy sales: a sale's lifecycle from the wallet's fetch to the terminal's report.
    pub fn deputy(&self) -> crate::deputy::sales::Deputy<'_> {
        crate::deputy::sales::Deputy::new(&self.parts)
    }

    /// The async relay (holding on the owner's node, paying from the forwarding node if any).
    pub fn relay(&self) -> Relay {
        let c = &self.parts;
        let relay = Relay::new(
            c.store.clone(),
            c.owner.clone(),
            *c.device_master_key,
            c.settings.relay.clone(),
        );
        match &c.relay_forward_node {
            Some(forward) => relay.with_forward_node(forward.clone()),
            None => relay,
        }
    }

    /// The payment watcher: the owner node's settled invoices into the books.
    pub fn watcher(&self) -> PaymentWatcher {
        let c = &self.parts;
        PaymentWatcher {
            store: c.store.clone(),
            owner: c.owner.clone(),
            rates: c.rates.clone(),
            accounting_currency: c.settings.accounting_currency.clone(),
        }
    }

    /// Starts the background tasks: the payment watcher (the owner node's event queue), the
    /// relay's driver (and the forwarding node's event drain), the pool-expiry warnings, the
    /// housekeeping (expired LNURL-auth challenges and sessions, old rate-limit buckets), and the payout of refunds claimed
    /// before a restart. Starting a started gateway does nothing.
    pub fn start(&self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if tasks.stop.is_some() {
            return;
        }
        let (stop, stop_rx) = watch::channel(false);
        // The watcher keeps the event queue (ADR 0010) and wakes the relay's driver for the
        // hashes it sees events of; the relay then asks the node.
        let relay = self.relay();
        let watcher = self.watcher().run_waking(stop_rx.clone(), Some(relay.schedule()));
        tasks.loops.push(tokio::spawn(watcher));
        tasks.loops.push(tokio::spawn(relay.run(stop_rx.clone())));
        if let Some(forward) = self.relay_forward_node() {
            tasks
                .loops
                .push(tokio::spawn(crate::relay::drain_events(forward.clone(), stop_rx.clone())));
        }
        tasks
            .loops
            .push(tokio::spawn(crate::expiry::warn_loop(self.store().clone(), stop_rx.clone())));
        tasks.loops.push(tokio::spawn(self.clone().housekeeping_loop(stop_rx.clone())));
        let gateway = self.clone();
        tasks.one_shots.push(tokio::spawn(async move {
            gateway.refunds().resume_logged().await;
        }));
        tasks.stop = Some(stop);
    }

    /// Stops the background tasks and waits for the loops to finish their step. A refund payout
    /// still running is abandoned (it is finished at the next start: payouts are idempotent).
    pub async fn shutdown(&self) {
        let tasks = {
            let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut *tasks)
        };
        if let Some(stop) = tasks.stop {
            let _ = stop.send(true);
        }
        for task in tasks.one_shots {
            task.abort();
        }
        for task in tasks.loops {
            let _ = task.await;
        }
    }
}
