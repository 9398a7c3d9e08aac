//! Invoice-pool provisioning.
//!
//! For device `D`, product `P` and sequence number `i`, the preimage is
//! `HMAC-SHA256(pool_key, "lnedge/pool" ‖ D ‖ P ‖ i)` ([`lnedge_proto::pool::derive_preimage`]):
//! the operator can recompute every preimage from the pool key alone, and nothing secret ever
//! leaves the gateway. The owner's node creates an auto-settling invoice for each preimage; the
//! pool builder keeps only what differs between the invoices and checks that every BOLT 11 string
//! is rebuilt byte for byte and signed by the owner's node before the pool is handed out.

use std::fmt;
use std::path::Path;

use lnedge_node::bitcoin::Network;
use lnedge_node::{
    BackendError, InvoiceDescription, InvoiceParams, LightningBackend, PaymentPreimage,
};
use lnedge_proto::pool::{self, PoolBuilder};
use lnedge_proto::{DeviceId, PoolId};
use zeroize::Zeroizing;

/// The operator's secret from which every pool preimage is derived. Never logged, never sent.
pub struct PoolKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PoolKey(<secret>)")
    }
}

impl PoolKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PoolKey(Zeroizing::new(bytes))
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    /// Reads a key file (64 hex characters), or creates one with a fresh key (mode 0600) if
    /// it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, ProvisionError> {
        load_or_create_secret(path).map(PoolKey)
    }

    /// The preimage of entry `seq` of `product` on `device`.
    pub fn preimage(&self, device: &DeviceId, product: u16, seq: u32) -> PaymentPreimage {
        PaymentPreimage(pool::derive_preimage(&self.0, device, product, seq))
    }
}

/// Reads a 32-byte secret from a key file (64 hex characters), or creates the file with a fresh
/// random secret (mode 0600, never overwritten) if it does not exist.
pub fn load_or_create_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, ProvisionError> {
    let io = |e: std::io::Error| ProvisionError::KeyFile(format!("{}: {e}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let bytes = Zeroizing::new(hex::decode(text.trim()).map_err(|e| {
                ProvisionError::KeyFile(format!("{}: not hex ({e})", path.display()))
            })?);
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                ProvisionError::KeyFile(format!(
                    "{}: expected 32 bytes (64 hex characters), found {}",
                    path.display(),
                    bytes.len()
                ))
            })?;
            Ok(Zeroizing::new(key))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Zeroizing::new(rand::random::<[u8; 32]>());
            write_secret_file(path, &hex::encode(*key)).map_err(io)?;
            Ok(key)
        }
        Err(e) => Err(io(e)),
    }
}

fn write_secret_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// A product sold from a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// The product's number on the device (its slot or button).
    pub id: u16,
    /// What the customer's wallet shows (the invoice description).
    pub description: String,
    /// The price in millisatoshis.
    pub price_msat: u64,
    /// Sequence number of this product's first entry in the new pool; sequence numbers of a
    /// device's product never repeat across pools (each gives a distinct preimage).
    pub first_seq: u32,
}

/// What to provision.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    /// The device the pool is for.
    pub device_id: DeviceId,
    /// The new pool's id (never reused).
    pub pool_id: PoolId,
    /// The products and where their sequence numbers start.
    pub products: Vec<Product>,
    /// Invoices per product.
    pub entries_per_product: u32,
    /// Invoice lifetime in seconds (the device has no clock; pick weeks, e.g. 30–90 days).
    pub expiry_secs: u32,
    /// Base URL of the gateway's refund endpoint, shown in refund QR codes (may be empty).
    pub refund_url_base: String,
}

impl PoolPlan {
    /// Checks the plan before any invoice is created.
    pub fn validate(&self) -> Result<(), ProvisionError> {
        let bad = |m: String| Err(ProvisionError::InvalidPlan(m));
        if self.products.is_empty() {
            return bad("a pool needs at least one product".into());
        }
        if self.entries_per_product == 0 {
            return bad("entries per product must be at least 1".into());
        }
        let mut ids: Vec<u16> = self.products.iter().map(|p| p.id).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return bad(format!("product id {} appears twice", w[0]));
        }
        for p in &self.products {
            if p.price_msat == 0 {
                return bad(format!("product {} has no price", p.id));
            }
            if p.description.is_empty() || p.description.len() > 639 {
                return bad(format!("product {}: description must be 1 to 639 bytes", p.id));
            }
            if p.first_seq.checked_add(self.entries_per_product).is_none() {
                return bad(format!("product {}: sequence numbers would overflow", p.id));
            }
        }
        if self.expiry_secs < 60 {
            return bad(format!(
                "expiry of {} s is too short for an offline device",
                self.expiry_secs
            ));
        }
        Ok(())
    }

    /// Total invoices the plan creates.
    pub fn total_entries(&self) -> u64 {
        self.products.len() as u64 * u64::from(self.entries_per_product)
    }
}

/// A provisioned pool.
#[derive(Debug, Clone)]
pub struct ProvisionedPool {
    /// The pool file's bytes.
    pub bytes: Vec<u8>,
    /// The node id that signed every entry.
    pub owner_node_id: [u8; 33],
    /// Number of entries.
    pub entries: u64,
    /// Total length of the BOLT 11 strings the pool stands for (to compare sizes).
    pub bolt11_bytes: u64,
}

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvisionError {
    /// The plan is not valid.
    #[error("invalid pool plan: {0}")]
    InvalidPlan(String),
    /// The pool key file could not be read or created.
    #[error("pool key file {0}")]
    KeyFile(String),
    /// The owner's node failed.
    #[error("the owner's node failed while creating invoice {done} of {total}: {source}")]
    Backend {
        /// Invoices created before the failure.
        done: u64,
        /// Invoices planned.
        total: u64,
        /// The node's error.
        source: BackendError,
    },
    /// The node's network has no pool encoding.
    #[error("the owner's node runs on {0}, which pools do not support")]
    UnsupportedNetwork(Network),
    /// The pool could not be built or did not verify.
    #[error("building the pool failed: {0}")]
    Build(#[from] pool::BuildError),
}

fn pool_network(network: Network) -> Result<pool::Network, ProvisionError> {
    match network {
        Network::Bitcoin => Ok(pool::Network::Bitcoin),
        Network::Testnet => Ok(pool::Network::Testnet),
        Network::Signet => Ok(pool::Network::Signet),
        Network::Regtest => Ok(pool::Network::Regtest),
        other => Err(ProvisionError::UnsupportedNetwork(other)),
    }
}

/// Creates every invoice of `plan` on the owner's node and builds the verified pool.
/// `progress(done, total)` is called after each invoice.
pub async fn provision(
    owner: &dyn LightningBackend,
    key: &PoolKey,
    plan: &PoolPlan,
    mut progress: impl FnMut(u64, u64),
) -> Result<ProvisionedPool, ProvisionError> {
    plan.validate()?;
    let total = plan.total_entries();
    let info =
        owner.info().await.map_err(|source| ProvisionError::Backend { done: 0, total, source })?;
    let owner_node_id = info.node_id.serialize();
    let mut builder =
        PoolBuilder::new(plan.pool_id, plan.device_id, owner_node_id, pool_network(info.network)?);
    builder.refund_url_base(&plan.refund_url_base);
    let mut done = 0u64;
    let mut bolt11_bytes = 0u64;
    for product in &plan.products {
        for k in 0..plan.entries_per_product {
            let seq = product.first_seq + k;
            let preimage = key.preimage(&plan.device_id, product.id, seq);
            let params = InvoiceParams {
                amount_msat: Some(product.price_msat),
                description: InvoiceDescription::Direct(product.description.clone()),
                expiry_secs: plan.expiry_secs,
                min_final_cltv_expiry_delta: None,
            };
            let invoice = owner
                .create_invoice(preimage, params)
                .await
                .map_err(|source| ProvisionError::Backend { done, total, source })?;
            let text = invoice.to_string();
            bolt11_bytes += text.len() as u64;
            builder.add(product.id, seq, &text)?;
            done += 1;
            progress(done, total);
        }
    }
    let bytes = builder.finish()?;
    tracing::info!(
        pool = %plan.pool_id,
        device = %plan.device_id,
        entries = done,
        pool_bytes = bytes.len(),
        bolt11_bytes,
        "pool provisioned"
    );
    Ok(ProvisionedPool { bytes, owner_node_id, entries: done, bolt11_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> PoolPlan {
        PoolPlan {
            device_id: DeviceId([1; 16]),
            pool_id: PoolId([2; 8]),
            products: vec![Product {
                id: 1,
                description: "cola".into(),
                price_msat: 2_000_000,
                first_seq: 0,
            }],
            entries_per_product: 3,
            expiry_secs: 30 * 86_400,
            refund_url_base: String::new(),
        }
    }

    #[test]
    fn plans_are_checked() {
        assert!(plan().validate().is_ok());
        let mut p = plan();
        p.products.push(p.products[0].clone());
        assert!(p.validate().expect_err("dup").to_string().contains("appears twice"));
        let mut p = plan();
        p.entries_per_product = 0;
        assert!(p.validate().is_err());
        let mut p = plan();
        p.products[0].price_msat = 0;
        assert!(p.validate().expect_err("free").to_string().contains("no price"));
        let mut p = plan();
        p.products[0].first_seq = u32::MAX;
        assert!(p.validate().expect_err("overflow").to_string().contains("overflow"));
    }

    #[test]
    fn key_files_are_created_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pool.key");
        let a = PoolKey::load_or_create(&path).expect("create");
        let b = PoolKey::load_or_create(&path).expect("read");
        let d = DeviceId([9; 16]);
        assert_eq!(a.preimage(&d, 1, 7), b.preimage(&d, 1, 7));
        assert_ne!(a.preimage(&d, 1, 7), a.preimage(&d, 1, 8));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{a:?}"), "PoolKey(<secret>)");
        std::fs::write(&path, "abcd").expect("write");
        let err = PoolKey::load_or_create(&path).expect_err("short key");
        assert!(err.to_string().contains("expected 32 bytes"), "{err}");
    }
}
