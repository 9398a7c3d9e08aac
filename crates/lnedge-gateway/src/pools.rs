//! Pools as rules of the engine ([`Gateway::pools`](crate::engine::Gateway::pools)): a provisioning request is checked and
//! planned (prices fixed, sequence numbers allocated), then built on the owner's node
//! ([`provision`](crate::provision::provision())) and stored; a device downloads its pool files.

use std::sync::Arc;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::pool::Pool;
use lnedge_proto::{DeviceId, PoolId};

use crate::accounting::{fiat_to_msat, FiatError};
use crate::engine::parts::Parts;
use crate::provision::{provision, PoolPlan, Product, ProvisionError};
use crate::store::{EntryRecord, PoolRecord, Price, StoreError};

/// Most invoices per product in one pool.
pub const MAX_ENTRIES_PER_PRODUCT: u32 = 10_000;
/// Longest invoice lifetime, in days.
pub const MAX_EXPIRY_DAYS: u32 = 365;

/// Why a pool was not provisioned or found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A request field is out of range (`field` names it).
    #[error("{field}: {message}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No such device.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// The device has no such pool.
    #[error("device {device} has no pool {pool}")]
    UnknownPool {
        /// The device.
        device: DeviceId,
        /// The pool asked for.
        pool: PoolId,
    },
    /// The device is disabled.
    #[error("device {0} is disabled: enable it before provisioning a pool")]
    DeviceDisabled(DeviceId),
    /// The device has no products to sell.
    #[error("device {0} has no products")]
    NoProducts(DeviceId),
    /// A fiat price could not be converted.
    #[error(transparent)]
    Fiat(#[from] FiatError),
    /// Building the pool failed (the owner's node, or the plan).
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pool just built is not what was planned (a bug).
    #[error("{0}")]
    Internal(String),
}

/// A pool provisioned and stored.
#[derive(Debug, Clone)]
pub struct ProvisionedRecord {
    /// The stored pool (its file's bytes included).
    pub pool: PoolRecord,
    /// Its entries as stored.
    pub entries: usize,
    /// Total length of the BOLT 11 strings the pool stands for.
    pub bolt11_bytes: u64,
    /// The node id that signed every entry.
    pub owner_node_id: [u8; 33],
}

/// The pools of a [`Gateway`](crate::engine::Gateway).
#[derive(Debug, Clone, Copy)]
pub struct Pools<'a> {
    gateway: &'a Arc<Parts>,
}

impl<'a> Pools<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        Pools { gateway }
    }

    async fn device(&self, device_id: DeviceId) -> Result<crate::store::DeviceRecord, PoolError> {
        self.gateway.store().device(device_id).await?.ok_or(PoolError::UnknownDevice(device_id))
    }

    /// Checks a provisioning request and allocates its sequence numbers: the plan to build.
    /// Every refusal happens here, before anything is built; a price with no rate refuses
    /// before any sequence number is spent.
    pub async fn plan(
        &self,
        device_id: DeviceId,
        entries_per_product: u32,
        expiry_days: u32,
    ) -> Result<PoolPlan, PoolError> {
        if entries_per_product == 0 || entries_per_product > MAX_ENTRIES_PER_PRODUCT {
            return Err(PoolError::Invalid {
                field: "entries_per_product",
                message: format!("must be 1 to {MAX_ENTRIES_PER_PRODUCT}"),
            });
        }
        if expiry_days == 0 || expiry_days > MAX_EXPIRY_DAYS {
            return Err(PoolError::Invalid {
                field: "expiry_days",
                message: format!("must be 1 to {MAX_EXPIRY_DAYS}"),
            });
        }
        let device = self.device(device_id).await?;
        if !device.enabled {
            return Err(PoolError::DeviceDisabled(device_id));
        }
        if device.products.is_empty() {
            return Err(PoolError::NoProducts(device_id));
        }
        let mut prices = Vec::with_capacity(device.products.len());
        for p in &device.products {
            prices.push(match &p.price {
                Price::Msat(msat) => *msat,
                Price::Fiat { currency, amount_minor } => {
                    fiat_to_msat(self.gateway.rates().as_ref(), p.id, currency, *amount_minor)
                        .await?
                }
            });
        }
        let store = self.gateway.store();
        let mut products = Vec::with_capacity(device.products.len());
        for (p, price_msat) in device.products.iter().zip(prices) {
            let first_seq = store.allocate_seqs(device_id, p.id, entries_per_product).await?;
            products.push(Product {
                id: p.id,
                description: p.description.clone(),
                price_msat,
                first_seq,
            });
        }
        Ok(PoolPlan {
            device_id,
            pool_id: PoolId(rand::random()),
            products,
            entries_per_product,
            expiry_secs: expiry_days * 86_400,
            refund_url_base: self.gateway.settings().refund_url_base.clone(),
        })
    }

    /// Creates the invoices of `plan` on the owner's node (reporting `(done, total)`), checks
    /// the pool and stores it with its entries.
    pub async fn build(
        &self,
        plan: &PoolPlan,
        progress: impl FnMut(u64, u64),
    ) -> Result<ProvisionedRecord, PoolError> {
        let gw = self.gateway;
        let provisioned = provision(gw.owner().as_ref(), gw.pool_key(), plan, progress).await?;
        let pool = Pool::parse(&provisioned.bytes)
            .map_err(|e| PoolError::Internal(format!("the pool just built does not parse: {e}")))?;
        let mut entries = Vec::with_capacity(pool.len());
        for e in pool.entries() {
            let price =
                plan.products.iter().find(|p| p.id == e.product()).map_or(0, |p| p.price_msat);
            entries.push(EntryRecord {
                pool_id: plan.pool_id,
                index: u32::try_from(e.index())
                    .map_err(|_| PoolError::Internal(format!("pool index {}", e.index())))?,
                product: e.product(),
                seq: e.seq(),
                payment_hash: *e.payment_hash(),
                amount_msat: e.amount_msat().unwrap_or(price),
                state: EntryState::Unused,
            });
        }
        let created_at = gw.now_secs();
        let record = PoolRecord {
            id: plan.pool_id,
            device_id: plan.device_id,
            created_at,
            expires_at: created_at + u64::from(plan.expiry_secs),
            bytes: provisioned.bytes,
        };
        gw.store().insert_pool(&record, &entries).await?;
        Ok(ProvisionedRecord {
            pool: record,
            entries: entries.len(),
            bolt11_bytes: provisioned.bolt11_bytes,
            owner_node_id: provisioned.owner_node_id,
        })
    }

    /// A device's pool (its file's bytes included).
    pub async fn file(&self, device: DeviceId, pool: PoolId) -> Result<PoolRecord, PoolError> {
        self.device(device).await?;
        self.gateway
            .store()
            .pools(device)
            .await?
            .into_iter()
            .find(|p| p.id == pool)
            .ok_or(PoolError::UnknownPool { device, pool })
    }
}
