//! Sample books for benches and tests: devices with pools whose entries are sold, written
//! straight into a store (no node is asked; the invoices are not real). `lnedge bench
//! --dashboard` seeds 1,000 devices and 100,000 sales with it; the dashboard's tests seed the
//! sales they filter.

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};

use crate::store::{
    EntryRecord, GatewayStore, PaymentRecord, PoolRecord, Price, ProductRecord, StoreError,
};

/// One sale to seed: a pool entry of `product`, paid `amount_msat` at `paid_at` (`None`: never
/// paid), left by the device in `state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSale {
    /// The product.
    pub product: u16,
    /// What was paid (also the invoice's amount).
    pub amount_msat: u64,
    /// When it was paid; `None` for a claim without payment.
    pub paid_at: Option<u64>,
    /// What the device's ledger says of it.
    pub state: EntryState,
}

/// Enrols `device` named `name` with products 1 and 2 (2,500 and 1,000 sat), unless it exists.
pub async fn enrol(
    store: &dyn GatewayStore,
    device: DeviceId,
    name: &str,
    now: u64,
) -> Result<(), StoreError> {
    if store.device(device).await?.is_some() {
        return Ok(());
    }
    let products = [(1, "Cola", 2_500_000), (2, "Water", 1_000_000)]
        .map(|(id, d, msat)| ProductRecord { id, description: d.into(), price: Price::Msat(msat) });
    store.insert_device(device, name, &products, now).await
}

/// Writes one pool of `device` holding `sales` (entry `i` is `sales[i]`) and records their
/// payments; answers the pool's id.
pub async fn sell(
    store: &dyn GatewayStore,
    device: DeviceId,
    created_at: u64,
    sales: &[SampleSale],
) -> Result<PoolId, StoreError> {
    let id = PoolId(rand::random());
    let pool = PoolRecord {
        id,
        device_id: device,
        created_at,
        expires_at: created_at + 30 * 86_400,
        bytes: vec![0; 64],
    };
    let entries: Vec<EntryRecord> = sales
        .iter()
        .enumerate()
        .map(|(i, s)| EntryRecord {
            pool_id: id,
            index: i as u32,
            product: s.product,
            seq: i as u32,
            payment_hash: rand::random(),
            amount_msat: s.amount_msat,
            state: s.state,
        })
        .collect();
    store.insert_pool(&pool, &entries).await?;
    for (e, s) in entries.iter().zip(sales) {
        if let Some(paid_at) = s.paid_at {
            let payment = PaymentRecord {
                payment_hash: e.payment_hash,
                amount_msat: s.amount_msat,
                paid_at,
                quote: None,
            };
            store.record_payment(&payment).await?;
        }
    }
    Ok(id)
}

/// A fleet of `devices` devices and `sales` delivered sales spread over them and over the
/// `days` days before `now` (product 1 and 2 in turn), written by `writers` tasks at once (the
/// stores batch concurrent writes); answers the device ids.
pub async fn fleet(
    store: std::sync::Arc<dyn GatewayStore>,
    devices: usize,
    sales: usize,
    days: u64,
    now: u64,
    writers: usize,
) -> Result<Vec<DeviceId>, StoreError> {
    let ids: Vec<DeviceId> = (0..devices).map(|_| DeviceId(rand::random())).collect();
    let per_device = sales.div_ceil(devices.max(1));
    let since = now.saturating_sub(days * 86_400);
    let span = days.max(1) * 86_400;
    let work: Vec<(usize, DeviceId, usize)> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (n, *id, per_device.min(sales.saturating_sub(n * per_device))))
        .collect();
    let work = std::sync::Arc::new(work);
    let tasks: Vec<_> = (0..writers.max(1))
        .map(|w| {
            let (store, work) = (store.clone(), work.clone());
            tokio::spawn(async move {
                for (n, id, count) in work.iter().skip(w).step_by(writers.max(1)) {
                    enrol(store.as_ref(), *id, &format!("Machine {n:04}"), since).await?;
                    let batch: Vec<SampleSale> = (0..*count)
                        .map(|i| {
                            let product = 1 + (i % 2) as u16;
                            let ago = ((n * 7_919 + i * 104_729) as u64) % span;
                            SampleSale {
                                product,
                                amount_msat: if product == 1 { 2_500_000 } else { 1_000_000 },
                                paid_at: Some(now.saturating_sub(ago)),
                                state: EntryState::Dispensed,
                            }
                        })
                        .collect();
                    if !batch.is_empty() {
                        sell(store.as_ref(), *id, since, &batch).await?;
                    }
                }
                Ok::<(), StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.map_err(|e| StoreError::Backend(format!("a seeding task: {e}")))??;
    }
    Ok(ids)
}
