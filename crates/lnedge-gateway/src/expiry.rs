//! Pool expiry tracking: pools of enabled devices whose invoices expire soon while entries are
//! still unused. The operator re-provisions them with `POST /v1/devices/{id}/pools`.

use std::time::Duration;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};
use tokio::sync::watch;

use crate::store::{DeviceRecord, GatewayStore, PoolRecord, StoreError};

/// How often [`warn_loop`] checks.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(3600);

/// Default horizon of the warnings and of `GET /v1/pools/expiring`.
pub const DEFAULT_WITHIN_DAYS: u64 = 7;

/// A pool that expires soon with unused entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiringPool {
    /// The device.
    pub device_id: DeviceId,
    /// The pool.
    pub pool_id: PoolId,
    /// When its invoices expire (seconds since the Unix epoch).
    pub expires_at: u64,
    /// Seconds until then (negative: already expired).
    pub expires_in_secs: i64,
    /// Entries the device has not used yet.
    pub unused_entries: u32,
}

/// Every pool of an enabled device that expires before `now + within_secs` (or already has)
/// and still has unused entries, soonest first.
pub async fn expiring_pools(
    store: &dyn GatewayStore,
    within_secs: u64,
    now: u64,
) -> Result<Vec<ExpiringPool>, StoreError> {
    let mut candidates = Vec::new();
    for device in store.devices().await? {
        for pool in store.pools(device.id).await? {
            if let Some(c) = Candidate::of(&device, &pool, within_secs, now) {
                let entries = store.entries(pool.id).await?;
                let unused = entries.iter().filter(|e| e.state == EntryState::Unused).count();
                candidates.push((c, unused));
            }
        }
    }
    Ok(select(candidates, now))
}

/// A pool that may be expiring (its device enabled, its expiry within the horizon): whether it
/// is depends on its unused entries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    device_id: DeviceId,
    pool_id: PoolId,
    expires_at: u64,
}

impl Candidate {
    /// `pool` of `device` if it is a candidate within `within_secs` of `now`.
    pub(crate) fn of(
        device: &DeviceRecord,
        pool: &PoolRecord,
        within_secs: u64,
        now: u64,
    ) -> Option<Candidate> {
        (device.enabled && pool.expires_at <= now.saturating_add(within_secs)).then_some(
            Candidate { device_id: device.id, pool_id: pool.id, expires_at: pool.expires_at },
        )
    }

    /// The pool.
    pub(crate) fn pool_id(&self) -> PoolId {
        self.pool_id
    }
}

/// The candidates with unused entries (`(candidate, unused entries)`), soonest first.
pub(crate) fn select(candidates: Vec<(Candidate, usize)>, now: u64) -> Vec<ExpiringPool> {
    let mut out: Vec<ExpiringPool> = candidates
        .into_iter()
        .filter(|(_, unused)| *unused > 0)
        .map(|(c, unused)| ExpiringPool {
            device_id: c.device_id,
            pool_id: c.pool_id,
            expires_at: c.expires_at,
            expires_in_secs: i64::try_from(c.expires_at).unwrap_or(i64::MAX)
                - i64::try_from(now).unwrap_or(i64::MAX),
            unused_entries: u32::try_from(unused).unwrap_or(u32::MAX),
        })
        .collect();
    out.sort_by_key(|p| (p.expires_at, p.device_id.0, p.pool_id.0));
    out
}

/// Logs a warning per expiring pool (within [`DEFAULT_WITHIN_DAYS`]) now and every
/// [`CHECK_INTERVAL`], until `stop` turns true.
pub async fn warn_loop(store: std::sync::Arc<dyn GatewayStore>, stop: watch::Receiver<bool>) {
    crate::clock::every(CHECK_INTERVAL, stop, || async {
        let now = crate::clock::now_secs();
        match expiring_pools(store.as_ref(), DEFAULT_WITHIN_DAYS * 86_400, now).await {
            Ok(pools) => {
                for p in pools {
                    tracing::warn!(
                        device_id = %p.device_id,
                        pool_id = %p.pool_id,
                        expires_at = p.expires_at,
                        expires_in_secs = p.expires_in_secs,
                        unused_entries = p.unused_entries,
                        "pool expires soon with unused entries: re-provision it (POST /v1/devices/{{id}}/pools)"
                    );
                }
            }
            Err(e) => tracing::error!(error = %e, "checking pool expiry"),
        }
    })
    .await;
}
