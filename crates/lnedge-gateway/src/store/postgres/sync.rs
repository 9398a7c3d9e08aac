//! What a device sync reads and writes on PostgreSQL (issue #17). Each kind of call — the
//! device's flag and counter, the states of the pools its reports name, the pools' usage for
//! the top-up, the commit — is one statement, and concurrent calls of a kind share it
//! ([`Batcher`]): a batch of syncs costs four statements, not four per sync.
//!
//! The commits of a batch run in one statement: every device's counter compare-and-swap, and
//! each entry's, joined to its device's so that no entry moves when its counter did not. If
//! any device's entries did not all move (another writer changed one), the statement aborts and each commit of the batch runs alone, in its own statement, where a lost
//! race aborts only itself (so does a batch the database refuses, e.g. a deadlock with
//! another writer). A device appears once per batch (a second commit of it waits for
//! the next one), so the compare-and-swaps of a batch never touch the same row.

use std::collections::{BTreeMap, HashMap};

use deadpool_postgres::Pool;
use lnedge_proto::{DeviceId, PoolId};

use super::batch::{for_each, Batcher};
use super::{pg, pooled as client};
use crate::store::codec::{self, state_code, to_i64, Columns, POOL_COLUMNS};
use crate::store::{PoolStates, PoolUsage, StoreError, SyncCommit};

/// Most calls in one batch.
const MAX_BATCH: usize = 256;

/// Workers per kind of read: a batch is read while the one before is in flight.
const READ_WORKERS: usize = 2;

/// Workers storing batches of commits. Two batches in flight may name one device (its syncs
/// overlapped); the second waits for the first's row lock and then loses its compare-and-swap,
/// as two replicas' would.
const COMMIT_WORKERS: usize = 2;

/// One commit alone, in one statement (one implicit transaction): the counter's
/// compare-and-swap, then every entry's, joined to it. If fewer entries moved than asked, the
/// last expression divides by zero, which aborts the statement and with it every change
/// (SQLSTATE 22012 → a lost race).
const COMMIT_ONE: &str = "
WITH dev AS (
    UPDATE devices SET last_sync_counter = $3, last_sync_at = $4
    WHERE id = $1 AND last_sync_counter = $2
    RETURNING id
), moved AS (
    UPDATE entries AS e SET state = u.to_state, state_rank = u.to_rank
    FROM UNNEST($5::bytea[], $6::bigint[], $7::smallint[], $8::smallint[], $9::smallint[])
         AS u(pool_id, idx, from_state, to_state, to_rank), dev
    WHERE e.pool_id = u.pool_id AND e.idx = u.idx AND e.state = u.from_state
    RETURNING 1
)
SELECT (SELECT count(*) FROM dev) AS dev,
       1 / CASE WHEN (SELECT count(*) FROM dev) = 0
                  OR (SELECT count(*) FROM moved) = cardinality($5::bytea[]) THEN 1 ELSE 0 END
         AS complete";

/// The commits of a batch in one statement (one implicit transaction): per device, whether its
/// counter moved and how many of its entries did. If a device's counter moved but not all its
/// entries did, the last column divides by zero: the statement aborts and nothing of the batch
/// is stored.
const COMMIT_MANY: &str = "
WITH d AS (
    SELECT * FROM UNNEST($1::bytea[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
        AS d(id, last, counter, at, expected)
), dev AS (
    UPDATE devices AS x SET last_sync_counter = d.counter, last_sync_at = d.at
    FROM d WHERE x.id = d.id AND x.last_sync_counter = d.last
    RETURNING x.id
), moved AS (
    UPDATE entries AS e SET state = u.to_state, state_rank = u.to_rank
    FROM UNNEST($6::bytea[], $7::bytea[], $8::bigint[], $9::smallint[], $10::smallint[],
                $11::smallint[]) AS u(dev_id, pool_id, idx, from_state, to_state, to_rank)
         JOIN dev ON dev.id = u.dev_id
    WHERE e.pool_id = u.pool_id AND e.idx = u.idx AND e.state = u.from_state
    RETURNING u.dev_id
), per AS (
    SELECT d.id, d.expected, EXISTS (SELECT 1 FROM dev WHERE dev.id = d.id) AS stored,
           (SELECT count(*) FROM moved WHERE moved.dev_id = d.id) AS moved
    FROM d
)
SELECT id, stored,
       1 / CASE WHEN bool_and(NOT stored OR moved = expected) OVER () THEN 1 ELSE 0 END
         AS complete
FROM per";

/// PostgreSQL's `division_by_zero`: [`COMMIT_ONE`]'s and [`COMMIT_MANY`]'s way to say "an
/// entry moved".
const DIVISION_BY_ZERO: &str = "22012";

/// The batchers of a store's sync path.
pub(super) struct SyncBatchers {
    /// For a call run alone when its worker is gone.
    pool: Pool,
    devices: Batcher<DeviceId, Option<(bool, u64)>>,
    pools: Batcher<Vec<PoolId>, BTreeMap<PoolId, PoolStates>>,
    usage: Batcher<DeviceId, Vec<PoolUsage>>,
    commits: Batcher<SyncCommit, ()>,
}

impl SyncBatchers {
    /// Spawns the four workers on `pool`.
    pub(super) fn spawn(pool: &Pool) -> Self {
        let p = pool.clone();
        let devices =
            Batcher::spawn(READ_WORKERS, MAX_BATCH, move |ids| device_states(p.clone(), ids));
        let p = pool.clone();
        let pools =
            Batcher::spawn(READ_WORKERS, MAX_BATCH, move |asks| pool_states(p.clone(), asks));
        let p = pool.clone();
        let usage = Batcher::spawn(READ_WORKERS, MAX_BATCH, move |ids| pool_usage(p.clone(), ids));
        let p = pool.clone();
        let commits =
            Batcher::spawn(COMMIT_WORKERS, MAX_BATCH, move |batch| commit_all(p.clone(), batch));
        SyncBatchers { pool: pool.clone(), devices, pools, usage, commits }
    }

    /// A device's flag and last counter (`None`: no such device).
    pub(super) async fn device(&self, id: DeviceId) -> Result<Option<(bool, u64)>, StoreError> {
        match self.devices.call(id).await {
            Some(answer) => answer,
            None => one(device_states(self.pool.clone(), vec![id]).await),
        }
    }

    /// The states of the pools named.
    pub(super) async fn pool_states(
        &self,
        ids: &[PoolId],
    ) -> Result<BTreeMap<PoolId, PoolStates>, StoreError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        match self.pools.call(ids.to_vec()).await {
            Some(answer) => answer,
            None => one(pool_states(self.pool.clone(), vec![ids.to_vec()]).await),
        }
    }

    /// A device's pools with their usage, oldest first.
    pub(super) async fn pool_usage(&self, id: DeviceId) -> Result<Vec<PoolUsage>, StoreError> {
        match self.usage.call(id).await {
            Some(answer) => answer,
            None => one(pool_usage(self.pool.clone(), vec![id]).await),
        }
    }

    /// Stores a sync (see the module).
    pub(super) async fn commit(&self, commit: &SyncCommit) -> Result<(), StoreError> {
        match self.commits.call(commit.clone()).await {
            Some(answer) => answer,
            None => commit_one(&self.pool, commit).await,
        }
    }
}

/// The only answer of a batch of one.
fn one<V>(mut answers: Vec<Result<V, StoreError>>) -> Result<V, StoreError> {
    answers.pop().unwrap_or_else(|| Err(StoreError::Backend("a batch answered nothing".into())))
}

/// Every key's answer from `read` (or the error, for each).
fn answer_each<K, V>(
    keys: Vec<K>,
    read: Result<impl FnMut(K) -> V, StoreError>,
) -> Vec<Result<V, StoreError>> {
    match read {
        Ok(mut answer) => keys.into_iter().map(|k| Ok(answer(k))).collect(),
        Err(e) => keys.iter().map(|_| Err(for_each(&e))).collect(),
    }
}

async fn device_states(
    pool: Pool,
    ids: Vec<DeviceId>,
) -> Vec<Result<Option<(bool, u64)>, StoreError>> {
    let read = async {
        let client = client(&pool).await?;
        let keys: Vec<&[u8]> = ids.iter().map(|d| &d.0[..]).collect();
        let statement = client
            .prepare_cached(
                "SELECT id, enabled, last_sync_counter FROM devices WHERE id = ANY($1::bytea[])",
            )
            .await
            .map_err(|e| pg("preparing the device state query", e))?;
        let rows = client
            .query(&statement, &[&keys])
            .await
            .map_err(|e| pg("reading the syncing devices", e))?;
        let mut found = HashMap::new();
        for row in &rows {
            let state = (row.get::<_, bool>("enabled"), row.u64("last_sync_counter")?);
            found.insert(row.device_id("id")?, state);
        }
        Ok(move |id: DeviceId| found.get(&id).copied())
    };
    let read = read.await;
    answer_each(ids, read)
}

async fn pool_states(
    pool: Pool,
    asks: Vec<Vec<PoolId>>,
) -> Vec<Result<BTreeMap<PoolId, PoolStates>, StoreError>> {
    let read = async {
        let mut ids: Vec<&[u8]> = asks.iter().flatten().map(|p| &p.0[..]).collect();
        ids.sort_unstable();
        ids.dedup();
        let client = client(&pool).await?;
        let statement = client
            .prepare_cached(
                "SELECT p.id AS pool_id, p.device_id, e.idx, e.state
                 FROM pools AS p LEFT JOIN entries AS e ON e.pool_id = p.id
                 WHERE p.id = ANY($1::bytea[])",
            )
            .await
            .map_err(|e| pg("preparing the pool states query", e))?;
        let rows = client
            .query(&statement, &[&ids])
            .await
            .map_err(|e| pg("reading the states of the reported pools", e))?;
        let mut read: BTreeMap<PoolId, PoolStates> = BTreeMap::new();
        for row in &rows {
            let pool = row.pool_id("pool_id")?;
            let slot = read.entry(pool).or_insert((row.device_id("device_id")?, BTreeMap::new()));
            if let Some(index) = row.u32_or_null("idx")? {
                slot.1.insert(index, codec::state_from_code(row.int("state")?)?);
            }
        }
        Ok(move |ask: Vec<PoolId>| {
            ask.iter().filter_map(|id| Some((*id, read.get(id)?.clone()))).collect()
        })
    };
    let read = read.await;
    answer_each(asks, read)
}

async fn pool_usage(pool: Pool, ids: Vec<DeviceId>) -> Vec<Result<Vec<PoolUsage>, StoreError>> {
    let read = async {
        let client = client(&pool).await?;
        let keys: Vec<&[u8]> = ids.iter().map(|d| &d.0[..]).collect();
        let sql = format!(
            "SELECT {POOL_COLUMNS},
                    (SELECT count(*) FROM entries AS e WHERE e.pool_id = p.id) AS entries,
                    EXISTS (SELECT 1 FROM entries AS e WHERE e.pool_id = p.id AND e.state <> 0)
                      AS any_used
             FROM pools AS p WHERE device_id = ANY($1::bytea[])
             ORDER BY device_id, created_at, ord"
        );
        let statement = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| pg("preparing the pool usage query", e))?;
        let rows = client
            .query(&statement, &[&keys])
            .await
            .map_err(|e| pg("reading the syncing devices' pools", e))?;
        let mut by_device: HashMap<DeviceId, Vec<PoolUsage>> = HashMap::new();
        for row in &rows {
            let usage = PoolUsage {
                pool: codec::pool(row)?,
                entries: row.u32("entries")?,
                any_used: row.get::<_, bool>("any_used"),
            };
            by_device.entry(usage.pool.device_id).or_default().push(usage);
        }
        Ok(move |id: DeviceId| by_device.remove(&id).unwrap_or_default())
    };
    let read = read.await;
    answer_each(ids, read)
}

/// The arrays of one commit's entry changes: pools, indexes, from, to, ranks.
type Changes<'a> = (Vec<&'a [u8]>, Vec<i64>, Vec<i16>, Vec<i16>, Vec<i16>);

fn changes_of<'a>(commits: impl IntoIterator<Item = &'a SyncCommit>) -> Changes<'a> {
    let mut c: Changes<'a> = Default::default();
    for e in commits.into_iter().flat_map(|commit| &commit.changes) {
        c.0.push(&e.pool_id.0[..]);
        c.1.push(i64::from(e.index));
        c.2.push(state_code(e.from));
        c.3.push(state_code(e.to));
        c.4.push(i16::from(e.to.rank()));
    }
    c
}

/// Conflict if the device exists, else unknown.
async fn lost(client: &deadpool_postgres::Object, device: DeviceId) -> StoreError {
    match client.query_opt("SELECT 1 FROM devices WHERE id = $1", &[&&device.0[..]]).await {
        Ok(Some(_)) => StoreError::Conflict,
        Ok(None) => StoreError::UnknownDevice(device),
        Err(e) => pg(&format!("reading device {device}"), e),
    }
}

/// One commit alone ([`COMMIT_ONE`]).
async fn commit_one(pool: &Pool, commit: &SyncCommit) -> Result<(), StoreError> {
    let device = commit.device;
    let last = to_i64(commit.last_counter, "sync counter")?;
    let counter = to_i64(commit.counter, "sync counter")?;
    let at = to_i64(commit.synced_at, "synced_at")?;
    let (pools, indexes, from, to, ranks) = changes_of([commit]);
    let client = client(pool).await?;
    let statement =
        client.prepare_cached(COMMIT_ONE).await.map_err(|e| pg("preparing the sync commit", e))?;
    let answer = client
        .query_one(
            &statement,
            &[&&device.0[..], &last, &counter, &at, &pools, &indexes, &from, &to, &ranks],
        )
        .await;
    match answer {
        Ok(row) if row.get::<_, i64>("dev") == 1 => Ok(()),
        Ok(_) => Err(lost(&client, device).await),
        Err(e) if e.code().is_some_and(|c| c.code() == DIVISION_BY_ZERO) => {
            Err(StoreError::Conflict)
        }
        Err(e) => Err(pg(&format!("storing the sync of {device}"), e)),
    }
}

/// A batch of commits (see the module).
async fn commit_all(pool: Pool, batch: Vec<SyncCommit>) -> Vec<Result<(), StoreError>> {
    if batch.len() == 1 {
        return vec![commit_one(&pool, &batch[0]).await];
    }
    // One commit per device in the batch statement; a device's later commits go alone after.
    let mut seen = std::collections::HashSet::new();
    let (first, later): (Vec<usize>, Vec<usize>) =
        (0..batch.len()).partition(|&i| seen.insert(batch[i].device));
    let mut answers: Vec<Option<Result<(), StoreError>>> = batch.iter().map(|_| None).collect();
    match commit_many(&pool, first.iter().map(|&i| &batch[i])).await {
        Ok(results) => {
            for (i, result) in first.iter().zip(results) {
                answers[*i] = Some(result);
            }
        }
        Err(retry) => {
            if let Retry::Failed(e) = retry {
                // A deadlock with another writer, a dropped connection…: each on its own.
                tracing::warn!(error = %e, "a batch of syncs failed; storing each alone");
            }
            for &i in &first {
                answers[i] = Some(commit_one(&pool, &batch[i]).await);
            }
        }
    }
    for &i in &later {
        answers[i] = Some(commit_one(&pool, &batch[i]).await);
    }
    answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(StoreError::Backend("a commit was not answered".into()))))
        .collect()
}

/// Why a batch statement did not answer every commit (rolled back either way; each commit
/// then runs alone).
enum Retry {
    /// An entry of a stored device did not move: a lost race of that device.
    Alone,
    /// The database refused the batch.
    Failed(StoreError),
}

/// Commits of distinct devices in one statement ([`COMMIT_MANY`]).
async fn commit_many<'a>(
    pool: &Pool,
    commits: impl Iterator<Item = &'a SyncCommit> + Clone,
) -> Result<Vec<Result<(), StoreError>>, Retry> {
    let mut ids = Vec::new();
    let (mut lasts, mut counters, mut ats, mut expected) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut owners: Vec<&[u8]> = Vec::new();
    for c in commits.clone() {
        ids.push(&c.device.0[..]);
        lasts.push(to_i64(c.last_counter, "sync counter").map_err(Retry::Failed)?);
        counters.push(to_i64(c.counter, "sync counter").map_err(Retry::Failed)?);
        ats.push(to_i64(c.synced_at, "synced_at").map_err(Retry::Failed)?);
        expected.push(c.changes.len() as i64);
        owners.extend(c.changes.iter().map(|_| &c.device.0[..]));
    }
    let (pools, indexes, from, to, ranks) = changes_of(commits.clone());
    let client = client(pool).await.map_err(Retry::Failed)?;
    let statement = client
        .prepare_cached(COMMIT_MANY)
        .await
        .map_err(|e| Retry::Failed(pg("preparing the sync batch", e)))?;
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] =
        [&ids, &lasts, &counters, &ats, &expected, &owners, &pools, &indexes, &from, &to, &ranks];
    let rows = match client.query(&statement, &params).await {
        Ok(rows) => rows,
        Err(e) if e.code().is_some_and(|c| c.code() == DIVISION_BY_ZERO) => {
            return Err(Retry::Alone)
        }
        Err(e) => return Err(Retry::Failed(pg("storing a batch of syncs", e))),
    };
    let mut stored = std::collections::HashSet::new();
    for row in &rows {
        if row.get::<_, bool>("stored") {
            stored.insert(row.device_id("id").map_err(Retry::Failed)?);
        }
    }
    let mut results = Vec::new();
    for c in commits {
        results.push(if stored.contains(&c.device) {
            Ok(())
        } else {
            Err(lost(&client, c.device).await)
        });
    }
    Ok(results)
}
