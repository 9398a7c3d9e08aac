//! The books as the dashboard reads them: a snapshot of every reconciled sale
//! ([`crate::reconcile::sales_report`]) and of the pools about to expire, kept in memory and refreshed in the background when it
//! is older than [`BOOKS_MAX_AGE`], so that a page filters, counts and pages through 100,000
//! sales in a few milliseconds instead of reading them all from the store on every load.
//!
//! * The first read builds the snapshot and waits for it; later reads answer at once with the
//!   snapshot they find and, when it is older than the limit, start one refresh in the
//!   background (never two at a time). The limit is [`BOOKS_MAX_AGE`], or
//!   [`REFRESH_COST_FACTOR`] times what the last read cost when that is longer, so refreshing
//!   costs at most a tenth of a core however large the books are.
//! * Every figure of a page and its CSV export comes from one snapshot, so they agree, and the
//!   page says when the snapshot was taken.
//! * Per replica and in memory (about 150 bytes a sale). The JSON and CSV reports of the API
//!   (`/v1/reports/…`) do not use it: they read the store as it is, streamed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};

use crate::expiry::Candidate;
use crate::reconcile::SaleRow;
use crate::store::StoreError;

/// How old a snapshot may be before a read starts a refresh (at least: see
/// [`REFRESH_COST_FACTOR`]).
pub const BOOKS_MAX_AGE: Duration = Duration::from_secs(5);

/// A snapshot is also kept for this many times what reading it cost, so that refreshing never
/// takes more than a tenth of a core however large the books grow (100,000 sales take about
/// 0.9 s to read here: a refresh every 9 s at most while someone watches the dashboard).
pub const REFRESH_COST_FACTOR: u32 = 10;

/// How far ahead a snapshot looks for pools that expire (the overview's alerts).
pub const EXPIRY_HORIZON_SECS: u64 = 7 * 86_400;

/// One snapshot of the books.
#[derive(Debug, Clone)]
pub struct Books {
    /// Every reconciled sale, in report order.
    pub rows: Arc<Vec<SaleRow>>,
    /// The pools of enabled devices with unused entries that expire within
    /// [`EXPIRY_HORIZON_SECS`] of `taken_at` (or have expired), soonest first: reading them
    /// walks every device's pools, too slow for every page load of a large fleet.
    pub expiring: Arc<Vec<crate::expiry::ExpiringPool>>,
    /// Unused pool entries (invoices a device can still offer) per device and product, from
    /// pools that have not expired.
    pub unused: Arc<HashMap<DeviceId, BTreeMap<u16, u32>>>,
    /// When it was read (seconds since the Unix epoch, the engine's clock).
    pub taken_at: u64,
}

#[derive(Default)]
struct Slot {
    books: Option<Books>,
    taken: Option<Instant>,
    /// What the last read cost.
    cost: Duration,
    refreshing: bool,
}

/// The snapshot of one gateway (a part of the engine).
#[derive(Default)]
pub struct BooksCache {
    slot: Mutex<Slot>,
}

impl std::fmt::Debug for BooksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BooksCache").finish_non_exhaustive()
    }
}

impl BooksCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What a read finds: the snapshot if any, and whether this read should refresh it.
    fn look(&self) -> (Option<Books>, bool) {
        let mut slot = self.lock();
        let max_age = BOOKS_MAX_AGE.max(slot.cost * REFRESH_COST_FACTOR);
        let stale = slot.taken.is_none_or(|t| t.elapsed() >= max_age);
        let refresh = stale && !slot.refreshing && slot.books.is_some();
        if refresh {
            slot.refreshing = true;
        }
        (slot.books.clone(), refresh)
    }

    fn store(&self, books: Option<Books>, cost: Duration) {
        let mut slot = self.lock();
        if let Some(b) = books {
            slot.books = Some(b);
            slot.taken = Some(Instant::now());
            slot.cost = cost;
        }
        slot.refreshing = false;
    }
}

impl crate::engine::Gateway {
    /// The books' snapshot (see the module): read now if there is none yet, else the one held,
    /// refreshed in the background once older than [`BOOKS_MAX_AGE`].
    pub async fn books(&self) -> Result<Books, StoreError> {
        let cache = &self.books_cache;
        let (held, refresh) = cache.look();
        match held {
            Some(books) => {
                if refresh {
                    let gateway = self.clone();
                    tokio::spawn(async move {
                        let started = Instant::now();
                        let read = gateway.read_books().await;
                        if let Err(e) = &read {
                            tracing::warn!(error = %e, "refreshing the dashboard's books");
                        }
                        gateway.books_cache.store(read.ok(), started.elapsed());
                    });
                }
                Ok(books)
            }
            None => {
                let started = Instant::now();
                let books = self.read_books().await?;
                cache.store(Some(books.clone()), started.elapsed());
                Ok(books)
            }
        }
    }

    async fn read_books(&self) -> Result<Books, StoreError> {
        let taken_at = self.now_secs();
        let rows = self.sales_report().await?;
        let (expiring, unused) = self.read_pools(taken_at).await?;
        Ok(Books {
            rows: Arc::new(rows),
            expiring: Arc::new(expiring),
            unused: Arc::new(unused),
            taken_at,
        })
    }

    /// The expiring pools (the rule of [`crate::expiry`]) and the unused entries of live pools
    /// per device and product, from one walk of the devices' pools and one read of every entry.
    async fn read_pools(
        &self,
        now: u64,
    ) -> Result<(Vec<crate::expiry::ExpiringPool>, HashMap<DeviceId, BTreeMap<u16, u32>>), StoreError>
    {
        let store = self.store();
        let (mut live, mut candidates) = (HashSet::new(), Vec::new());
        for device in store.devices().await? {
            for pool in store.pools(device.id).await? {
                if pool.expires_at > now {
                    live.insert(pool.id);
                }
                candidates.extend(Candidate::of(&device, &pool, EXPIRY_HORIZON_SECS, now));
            }
        }
        let mut unused_by_pool: HashMap<PoolId, usize> = HashMap::new();
        let mut unused: HashMap<DeviceId, BTreeMap<u16, u32>> = HashMap::new();
        for (device, entry) in store.entries_by_device().await? {
            if entry.state != EntryState::Unused {
                continue;
            }
            *unused_by_pool.entry(entry.pool_id).or_insert(0) += 1;
            if live.contains(&entry.pool_id) {
                *unused.entry(device).or_default().entry(entry.product).or_insert(0) += 1;
            }
        }
        let candidates = candidates
            .into_iter()
            .map(|c| (c, unused_by_pool.get(&c.pool_id()).copied().unwrap_or(0)))
            .collect();
        Ok((crate::expiry::select(candidates, now), unused))
    }
}
