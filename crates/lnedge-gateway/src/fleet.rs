//! The fleet registry as rules of the engine ([`Gateway::fleet`](crate::engine::Gateway::fleet)):
//! enrol a device with its products (names, descriptions and prices checked), look devices up
//! with their pools' entry counts, enable and disable them, hand out a device's sync key.

use std::collections::HashSet;
use std::sync::Arc;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::DeviceId;

use crate::engine::parts::Parts;
use crate::store::{DeviceRecord, PoolRecord, Price, ProductRecord, StoreError};

/// Longest device name accepted.
pub const MAX_NAME_BYTES: usize = 200;
/// Longest product description (what fits in a BOLT 11 description field of a pool).
pub const MAX_DESCRIPTION_BYTES: usize = 639;

/// Why a fleet operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// A field of the request is out of range (`field` names it, e.g. `products[2].description`).
    #[error("{field}: {message}")]
    Invalid {
        /// The request field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// Two products share an id.
    #[error("product id {0} appears twice")]
    DuplicateProduct(u16),
    /// No such device.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// The store failed (or refused: a duplicate device id).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A pool of a device with the counts of its entries by state (when asked for).
#[derive(Debug, Clone)]
pub struct PoolSummary {
    /// The pool (its file's bytes included).
    pub pool: PoolRecord,
    /// Entries by state, in [`EntryState::ALL`] order, with the total; `None` when not asked.
    pub by_state: Option<(usize, Vec<(EntryState, usize)>)>,
}

/// A device with its pools.
#[derive(Debug, Clone)]
pub struct DeviceView {
    /// The device.
    pub device: DeviceRecord,
    /// Its pools, oldest first.
    pub pools: Vec<PoolSummary>,
}

/// The fleet of a [`Gateway`](crate::engine::Gateway).
#[derive(Debug, Clone, Copy)]
pub struct Fleet<'a> {
    parts: &'a Arc<Parts>,
}

fn invalid(field: String, message: impl Into<String>) -> FleetError {
    FleetError::Invalid { field, message: message.into() }
}

impl<'a> Fleet<'a> {
    pub(crate) fn new(parts: &'a Arc<Parts>) -> Self {
        Fleet { parts }
    }

    /// Checks one product (`i` is its position, for the field names).
    fn check_product(i: usize, p: &ProductRecord) -> Result<(), FleetError> {
        let field = |name: &str| format!("products[{i}].{name}");
        if p.description.is_empty() || p.description.len() > MAX_DESCRIPTION_BYTES {
            return Err(invalid(
                field("description"),
                format!("must be 1 to {MAX_DESCRIPTION_BYTES} bytes"),
            ));
        }
        match &p.price {
            Price::Msat(0) => Err(invalid(field("price_msat"), "must be above 0")),
            Price::Msat(msat) if *msat > crate::bounds::MAX_AMOUNT_MSAT => Err(invalid(
                field("price_msat"),
                format!(
                    "{msat} is more than 21 million BTC ({} msat)",
                    crate::bounds::MAX_AMOUNT_MSAT
                ),
            )),
            Price::Msat(_) => Ok(()),
            Price::Fiat { currency, amount_minor } => {
                if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(invalid(
                        field("price.currency"),
                        format!("`{currency}` is not an ISO 4217 code (three letters)"),
                    ));
                }
                if *amount_minor == 0 {
                    return Err(invalid(field("price.amount_minor"), "must be above 0"));
                }
                if !crate::bounds::storable(*amount_minor) {
                    return Err(invalid(
                        field("price.amount_minor"),
                        format!("{amount_minor} is above {}", crate::bounds::MAX_STORED),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Enrols device `id` named `name` (trimmed) with `products` (fiat currency codes are
    /// upper-cased).
    pub async fn enrol(
        &self,
        id: DeviceId,
        name: &str,
        mut products: Vec<ProductRecord>,
    ) -> Result<DeviceRecord, FleetError> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_NAME_BYTES {
            return Err(invalid("name".into(), format!("must be 1 to {MAX_NAME_BYTES} bytes")));
        }
        let mut seen = HashSet::new();
        for (i, p) in products.iter_mut().enumerate() {
            if !seen.insert(p.id) {
                return Err(FleetError::DuplicateProduct(p.id));
            }
            if let Price::Fiat { currency, .. } = &mut p.price {
                *currency = currency.to_ascii_uppercase();
            }
            Self::check_product(i, p)?;
        }
        let store = self.parts.store();
        store.insert_device(id, name, &products, self.parts.now_secs()).await?;
        tracing::info!(device = %id, products = products.len(), "device enrolled");
        self.device(id).await
    }

    /// A device, or [`FleetError::UnknownDevice`].
    pub async fn device(&self, id: DeviceId) -> Result<DeviceRecord, FleetError> {
        self.parts.store().device(id).await?.ok_or(FleetError::UnknownDevice(id))
    }

    /// A device with its pools; `counts`: with each pool's entries by state (one store query
    /// per pool).
    pub async fn view(&self, device: DeviceRecord, counts: bool) -> Result<DeviceView, FleetError> {
        let store = self.parts.store();
        let mut pools = Vec::new();
        for pool in store.pools(device.id).await? {
            let by_state = if counts {
                let entries = store.entries(pool.id).await?;
                let by = EntryState::ALL
                    .iter()
                    .map(|s| (*s, entries.iter().filter(|e| e.state == *s).count()))
                    .collect();
                Some((entries.len(), by))
            } else {
                None
            };
            pools.push(PoolSummary { pool, by_state });
        }
        Ok(DeviceView { device, pools })
    }

    /// Every device, ordered by id.
    pub async fn devices(&self) -> Result<Vec<DeviceRecord>, FleetError> {
        Ok(self.parts.store().devices().await?)
    }

    /// Enables or disables a device (a disabled device gets no pools and cannot sync).
    pub async fn set_enabled(
        &self,
        id: DeviceId,
        enabled: bool,
    ) -> Result<DeviceRecord, FleetError> {
        self.parts.store().set_device_enabled(id, enabled).await?;
        tracing::info!(device = %id, enabled, "device enabled state changed");
        self.device(id).await
    }

    /// The sync key of an enrolled device (secret: written into the device at enrolment).
    pub async fn sync_key(&self, id: DeviceId) -> Result<zeroize::Zeroizing<[u8; 32]>, FleetError> {
        self.device(id).await?;
        Ok(zeroize::Zeroizing::new(lnedge_wire::keys::device_sync_key(
            self.parts.device_master_key(),
            &id,
        )))
    }
}
