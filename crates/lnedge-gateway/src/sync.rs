//! Device sync as rules of the engine ([`Gateway::sync`](crate::engine::Gateway::sync)): a device's signed upload of its
//! ledger is authenticated (the device exists, the signature of the raw bytes verifies, the
//! device is enabled — in that order, before the body is parsed), then applied: states only move
//! forward, a counter not above the last applied one is a replay, and the answer lists the pools
//! provisioned since the device last reported one.

use std::collections::BTreeMap;
use std::sync::Arc;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sign::verify_body;
use lnedge_wire::sync::{NewPool, SyncReport, SyncRequest, SyncResponse, MAX_REPORTS};

use crate::engine::parts::Parts;
use crate::store::{EntryChange, GatewayStore, StoreError, SyncCommit};

/// How often [`apply_reports`] reads again after losing a compare-and-swap to a concurrent
/// sync of the same device before it gives up ([`SyncError::Store`] with
/// [`StoreError::Conflict`]). Each lost round means another sync of the device was stored.
const MAX_ATTEMPTS: u32 = 16;

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
    /// The counter is larger than any counter can be stored.
    #[error("sync counter {0} is above {max}", max = crate::bounds::MAX_STORED)]
    CounterOutOfRange(u64),
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
    /// A report names a pool that does not exist.
    #[error("unknown pool {0}")]
    UnknownPool(PoolId),
    /// A report names a pool of another device.
    #[error("pool {0} does not belong to this device")]
    PoolOfAnotherDevice(PoolId),
    /// A report names an entry its pool does not have.
    #[error("pool {pool} has no entry {index}")]
    UnknownEntry {
        /// The pool.
        pool: PoolId,
        /// The index.
        index: u32,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What applying a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncOutcome {
    /// Reports that moved an entry forward.
    pub applied: u32,
    /// Reports of the state the entry is already in.
    pub unchanged: u32,
    /// Reports that would have moved a state backward (ignored).
    pub ignored_regressions: u32,
}

/// What one report does to an entry in `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Same state.
    Unchanged,
    /// A forward move: store it.
    Forward,
    /// Backward (or sideways between final states): ignore it.
    Regression,
}

impl Step {
    /// Classifies a report of `reported` for an entry the gateway holds in `current`, on the
    /// device ledger's own rules (`lnedge-proto`): a move the ledger allows that raises the
    /// state's rank is forward; anything else but the same state is a regression. (A device
    /// never reports a state before the one it reported earlier, so a regression is a stale or
    /// reordered report and is ignored, never applied.)
    pub fn of(current: EntryState, reported: EntryState) -> Step {
        if current == reported {
            Step::Unchanged
        } else if current.may_become(reported) && reported.rank() > current.rank() {
            Step::Forward
        } else {
            Step::Regression
        }
    }
}

impl SyncOutcome {
    fn count(&mut self, step: Step) {
        let slot = match step {
            Step::Unchanged => &mut self.unchanged,
            Step::Forward => &mut self.applied,
            Step::Regression => &mut self.ignored_regressions,
        };
        *slot = slot.saturating_add(1);
    }
}

pub use crate::store::PoolStates;

/// Decides a sync of `device` with `counter` against the states read from the store:
/// `last_counter` and, per pool the reports name, its owner and its entries' states (`None`: no
/// such pool). Pure; the whole batch is refused if one report is bad.
pub fn plan(
    device: DeviceId,
    last_counter: u64,
    counter: u64,
    reports: &[SyncReport],
    pools: &BTreeMap<PoolId, Option<PoolStates>>,
) -> Result<(SyncCommit, SyncOutcome), SyncError> {
    if counter <= last_counter {
        return Err(SyncError::Replayed { counter, last: last_counter });
    }
    // Per entry: (state read, state after the reports so far), in report order.
    let mut moved: BTreeMap<(PoolId, u32), (EntryState, EntryState)> = BTreeMap::new();
    let mut outcome = SyncOutcome::default();
    for r in reports {
        let (owner, states) = pools
            .get(&r.pool_id)
            .and_then(Option::as_ref)
            .ok_or(SyncError::UnknownPool(r.pool_id))?;
        if *owner != device {
            return Err(SyncError::PoolOfAnotherDevice(r.pool_id));
        }
        let stored = states
            .get(&r.index)
            .copied()
            .ok_or(SyncError::UnknownEntry { pool: r.pool_id, index: r.index })?;
        let slot = moved.entry((r.pool_id, r.index)).or_insert((stored, stored));
        let step = Step::of(slot.1, r.state);
        if step == Step::Forward {
            slot.1 = r.state;
        }
        outcome.count(step);
    }
    let changes = moved
        .into_iter()
        .filter(|(_, (from, to))| from != to)
        .map(|((pool_id, index), (from, to))| EntryChange { pool_id, index, from, to })
        .collect();
    Ok((SyncCommit { device, last_counter, counter, synced_at: 0, changes }, outcome))
}

/// Applies `device`'s reports with its sync counter to `store`: reads what they name, decides
/// with [`plan`], and stores the result with a compare-and-swap, reading again when a
/// concurrent sync of the device (on this or another replica) got there first. The rules:
/// states only move forward (a regression is ignored and counted), a counter not above the
/// last applied one is a replay, every report must name an entry of a pool of this device, and
/// a batch with one bad report changes nothing.
pub async fn apply_reports(
    store: &dyn GatewayStore,
    device: DeviceId,
    counter: u64,
    reports: &[SyncReport],
) -> Result<SyncOutcome, SyncError> {
    apply_reports_at(store, device, counter, reports, crate::clock::now_secs()).await
}

/// [`apply_reports`] at `now` (the engine's clock): the time stored as the device's last sync.
pub async fn apply_reports_at(
    store: &dyn GatewayStore,
    device: DeviceId,
    counter: u64,
    reports: &[SyncReport],
    now: u64,
) -> Result<SyncOutcome, SyncError> {
    apply_reports_from(store, device, counter, reports, now, None).await
}

/// [`apply_reports_at`], trying first with `known_last`, the device's last counter as read at
/// its authentication (a stale one only costs a lost compare-and-swap and a read).
async fn apply_reports_from(
    store: &dyn GatewayStore,
    device: DeviceId,
    counter: u64,
    reports: &[SyncReport],
    now: u64,
    mut known_last: Option<u64>,
) -> Result<SyncOutcome, SyncError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = match known_last.take() {
            Some(last) => last,
            None => store.sync_counter(device).await?.ok_or(SyncError::UnknownDevice(device))?,
        };
        if counter <= last {
            return Err(SyncError::Replayed { counter, last });
        }
        let named: Vec<PoolId> = reports.iter().map(|r| r.pool_id).collect();
        let read = store.pool_states(&named).await?;
        let pools: BTreeMap<PoolId, Option<PoolStates>> =
            named.iter().map(|id| (*id, read.get(id).cloned())).collect();
        let (mut commit, outcome) = plan(device, last, counter, reports, &pools)?;
        commit.synced_at = now;
        match store.commit_sync(&commit).await {
            Ok(()) => return Ok(outcome),
            Err(StoreError::Conflict) if attempt < MAX_ATTEMPTS => {
                tracing::debug!(%device, counter, attempt, "sync lost a race; reading again");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// An upload that [`Sync::authenticate`] accepted: its device, and the device's last counter
/// as read then (what [`Sync::apply`] starts from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authenticated {
    /// The device.
    pub device: DeviceId,
    /// Its last applied sync counter when it was authenticated.
    pub last_counter: u64,
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

    /// Authenticates an upload of `device`: the signature of the raw body verifies (checked
    /// first, with the key derived for that id, so an unsigned probe cannot learn whether a
    /// device exists), it exists, it is enabled. Run before the body is parsed.
    pub async fn authenticate(
        &self,
        device: DeviceId,
        body: &[u8],
        signature: Option<&str>,
    ) -> Result<Authenticated, SyncError> {
        self.verify_signature(&device, body, signature)?;
        match self.gateway.store().sync_state(device).await? {
            None => Err(SyncError::UnknownDevice(device)),
            Some(state) if !state.enabled => Err(SyncError::DeviceDisabled(device)),
            Some(state) => Ok(Authenticated { device, last_counter: state.last_sync_counter }),
        }
    }

    /// Applies an authenticated upload and answers it (the pools to install, with their bytes
    /// when asked).
    pub async fn apply(
        &self,
        auth: &Authenticated,
        request: &SyncRequest,
    ) -> Result<SyncResponse, SyncError> {
        let device = auth.device;
        if request.reports.len() > MAX_REPORTS {
            return Err(SyncError::TooManyReports);
        }
        if !crate::bounds::storable(request.counter) {
            return Err(SyncError::CounterOutOfRange(request.counter));
        }
        let (store, now) = (self.gateway.store().as_ref(), self.gateway.now_secs());
        let (counter, reports) = (request.counter, &request.reports[..]);
        // The top-up's read runs beside the apply (one step less to wait for): what this sync
        // reports is added to it below, as if read after the commit.
        let (outcome, usage) = tokio::join!(
            apply_reports_from(store, device, counter, reports, now, Some(auth.last_counter)),
            store.pool_usage(device)
        );
        let outcome = outcome?;
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
            pools: new_pools(device, usage?, reports, request.want_pool_files),
        })
    }
}

/// The device's pools newer than every pool it has ever reported (all of them if it has
/// reported none): provisioned but never seen in a sync, so the device should install them. A
/// pool counts as reported when any of its entries is not `Unused` — in the store (`usage`, read
/// beside this sync's commit) or in this sync's `reports` (applied by then: a report above
/// `Unused` of an unused entry moved it). Pools come oldest first, so the walk goes from the
/// newest back to the first reported one.
pub fn new_pools(
    device: DeviceId,
    usage: Vec<crate::store::PoolUsage>,
    reports: &[SyncReport],
    with_files: bool,
) -> Vec<NewPool> {
    let reported =
        |pool: &PoolId| reports.iter().any(|r| r.pool_id == *pool && r.state != EntryState::Unused);
    let mut fresh = Vec::new();
    for usage in usage.into_iter().rev() {
        if usage.any_used || reported(&usage.pool.id) {
            break;
        }
        let pool = usage.pool;
        fresh.push(NewPool {
            pool_id: pool.id.to_string(),
            file: format!("/v1/devices/{device}/pools/{}/file", pool.id),
            entries: usage.entries,
            hex: with_files.then(|| hex::encode(&pool.bytes)),
        });
    }
    fresh.reverse();
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(owner: DeviceId, states: &[EntryState]) -> BTreeMap<PoolId, Option<PoolStates>> {
        let states = (0u32..).zip(states.iter().copied()).collect();
        BTreeMap::from([(PoolId([1; 8]), Some((owner, states))), (PoolId([2; 8]), None)])
    }

    fn report(index: u32, state: EntryState) -> SyncReport {
        SyncReport { pool_id: PoolId([1; 8]), index, state }
    }

    #[test]
    fn the_top_up_lists_the_pools_after_the_last_reported_one_counting_this_sync() {
        let device = DeviceId([7; 16]);
        let usage = |any_used: [bool; 3]| {
            (0u8..3)
                .zip(any_used)
                .map(|(i, any_used)| crate::store::PoolUsage {
                    pool: crate::store::PoolRecord {
                        id: PoolId([i; 8]),
                        device_id: device,
                        created_at: u64::from(i),
                        expires_at: 99,
                        bytes: vec![i],
                    },
                    entries: 20,
                    any_used,
                })
                .collect::<Vec<_>>()
        };
        let ids = |fresh: Vec<NewPool>| fresh.into_iter().map(|p| p.pool_id).collect::<Vec<_>>();
        let id = |i: u8| PoolId([i; 8]).to_string();
        let on = |pool: u8, state| SyncReport { pool_id: PoolId([pool; 8]), index: 0, state };
        // Pool 0 reported before: 1 and 2 are new, oldest first.
        assert_eq!(ids(new_pools(device, usage([true, false, false]), &[], false)), [id(1), id(2)]);
        // This sync reports pool 1: only 2 is new; reporting 2 leaves none.
        let sold = [on(1, EntryState::Offered)];
        assert_eq!(ids(new_pools(device, usage([true, false, false]), &sold, false)), [id(2)]);
        let sold = [on(2, EntryState::Dispensed)];
        assert!(new_pools(device, usage([true, false, false]), &sold, false).is_empty());
        // A report that leaves an entry unused reports nothing; none reported: all are new.
        let idle = [on(2, EntryState::Unused)];
        let all = new_pools(device, usage([false; 3]), &idle, true);
        assert_eq!(ids(all.clone()), [id(0), id(1), id(2)]);
        assert_eq!(all[2].hex.as_deref(), Some("02"), "the file when asked");
    }

    #[test]
    fn a_batch_moves_each_entry_once_from_what_was_read_to_where_its_reports_end() {
        use EntryState::*;
        let device = DeviceId([7; 16]);
        let reports = [
            report(0, Claimed),
            report(0, Dispensed),
            report(0, Offered), // behind what this batch already reported: ignored
            report(1, Offered), // what is stored: unchanged
        ];
        let (commit, outcome) =
            plan(device, 3, 4, &reports, &pools(device, &[Unused, Offered])).unwrap();
        assert_eq!(outcome, SyncOutcome { applied: 2, unchanged: 1, ignored_regressions: 1 });
        assert_eq!((commit.last_counter, commit.counter), (3, 4));
        assert_eq!(
            commit.changes,
            [EntryChange { pool_id: PoolId([1; 8]), index: 0, from: Unused, to: Dispensed }]
        );
    }

    #[test]
    fn a_bad_report_or_an_old_counter_refuses_the_whole_batch() {
        use EntryState::*;
        let device = DeviceId([7; 16]);
        let mine = pools(device, &[Unused]);
        assert!(matches!(
            plan(device, 4, 4, &[], &mine),
            Err(SyncError::Replayed { counter: 4, last: 4 })
        ));
        let ghost = SyncReport { pool_id: PoolId([2; 8]), index: 0, state: Offered };
        assert!(matches!(
            plan(device, 0, 1, &[report(0, Offered), ghost], &mine),
            Err(SyncError::UnknownPool(p)) if p == PoolId([2; 8])
        ));
        assert!(matches!(
            plan(device, 0, 1, &[report(1, Offered)], &mine),
            Err(SyncError::UnknownEntry { index: 1, .. })
        ));
        let theirs = pools(DeviceId([8; 16]), &[Unused]);
        assert!(matches!(
            plan(device, 0, 1, &[report(0, Offered)], &theirs),
            Err(SyncError::PoolOfAnotherDevice(_))
        ));
    }
}
