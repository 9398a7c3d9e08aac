//! Device sync as rules of the engine ([`Gateway::sync`](crate::engine::Gateway::sync)): a device's signed upload of its
//! ledger is authenticated (the device exists, the signature of the raw bytes verifies, the
//! device is enabled — in that order, before the body is parsed), then applied: states only move
//! forward, a counter not above the last applied one is a replay, and the answer lists the pools
//! provisioned since the device last reported one.

use std::sync::Arc;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sign::verify_body;
use lnedge_wire::sync::{NewPool, SyncRequest, SyncResponse, MAX_REPORTS};

use crate::engine::parts::Parts;
use crate::store::{DeviceRecord, StoreError};

/// Why an upload was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// No such device.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// The upload carries no signature.
    #[error("the upload carries no signature")]
    MissingSignature,
    /// The signature does not verify with the device's key.
    #[error("the sync signature does not verify")]
    BadSignature,
    /// The device is disabled.
    #[error("device {0} is disabled")]
    DeviceDisabled(DeviceId),
    /// More reports than one upload may carry.
    #[error("at most {MAX_REPORTS} reports per upload")]
    TooManyReports,
    /// The counter is not above the last applied one: a replayed (or stale) upload.
    #[error("sync counter {counter} is not above the last applied {last} (a replay)")]
    Replayed {
        /// The upload's counter.
        counter: u64,
        /// The last applied counter.
        last: u64,
    },
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::ReplayedSync { counter, last, .. } => SyncError::Replayed { counter, last },
            other => SyncError::Store(other),
        }
    }
}

/// The device sync of a [`Gateway`](crate::engine::Gateway).
#[derive(Debug, Clone, Copy)]
pub struct Sync<'a> {
    gateway: &'a Arc<Parts>,
}

impl<'a> Sync<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        Sync { gateway }
    }

    /// Checks `signature` (the `X-Lnedge-Signature` value) of the raw `body` with `device`'s
    /// sync key, in constant time.
    pub fn verify_signature(
        &self,
        device: &DeviceId,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<(), SyncError> {
        let signature = signature.ok_or(SyncError::MissingSignature)?;
        let key =
            zeroize::Zeroizing::new(device_sync_key(self.gateway.device_master_key(), device));
        verify_body(&key, body, signature).map_err(|_| SyncError::BadSignature)
    }

    /// Authenticates an upload of `device`: it exists, the signature of the raw body verifies,
    /// it is enabled. Run before the body is parsed.
    pub async fn authenticate(
        &self,
        device: DeviceId,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<DeviceRecord, SyncError> {
        let record =
            self.gateway.store().device(device).await?.ok_or(SyncError::UnknownDevice(device))?;
        self.verify_signature(&device, body, signature)?;
        if !record.enabled {
            return Err(SyncError::DeviceDisabled(device));
        }
        Ok(record)
    }

    /// Applies an authenticated upload and answers it (the pools to install, with their bytes
    /// when asked).
    pub async fn apply(
        &self,
        device: DeviceId,
        request: &SyncRequest,
    ) -> Result<SyncResponse, SyncError> {
        if request.reports.len() > MAX_REPORTS {
            return Err(SyncError::TooManyReports);
        }
        let store = self.gateway.store();
        let outcome = store.apply_sync(device, request.counter, &request.reports).await?;
        tracing::info!(
            %device,
            counter = request.counter,
            applied = outcome.applied,
            unchanged = outcome.unchanged,
            ignored_regressions = outcome.ignored_regressions,
            "device synced"
        );
        Ok(SyncResponse {
            counter: request.counter,
            applied: outcome.applied,
            unchanged: outcome.unchanged,
            ignored_regressions: outcome.ignored_regressions,
            pools: self.new_pools(device, request.want_pool_files).await?,
        })
    }

    /// The device's pools newer than every pool it has ever reported (all of them if it has
    /// reported none): provisioned but never seen in a sync, so the device should install them.
    /// A pool counts as reported when any of its entries is not `Unused` in the store (this
    /// sync's reports are already applied). Pools come from the store oldest first, so the walk
    /// goes from the newest back to the first reported one.
    async fn new_pools(
        &self,
        device: DeviceId,
        with_files: bool,
    ) -> Result<Vec<NewPool>, SyncError> {
        let store = self.gateway.store();
        let mut fresh = Vec::new();
        for pool in store.pools(device).await?.into_iter().rev() {
            let entries = store.entries(pool.id).await?;
            if entries.iter().any(|e| e.state != EntryState::Unused) {
                break;
            }
            fresh.push(NewPool {
                pool_id: pool.id.to_string(),
                file: format!("/v1/devices/{device}/pools/{}/file", pool.id),
                entries: u32::try_from(entries.len()).unwrap_or(u32::MAX),
                hex: with_files.then(|| hex::encode(&pool.bytes)),
            });
        }
        fresh.reverse();
        Ok(fresh)
    }
}
