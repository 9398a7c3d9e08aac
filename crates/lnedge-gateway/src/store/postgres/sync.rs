//! What a device sync reads and writes on PostgreSQL, each in one round trip (issue #17): the
//! device's flag, the states of the pools its reports name, the pools' usage for the top-up,
//! and the commit as one statement.

use std::collections::BTreeMap;

use lnedge_proto::{DeviceId, PoolId};

use super::{pg, PostgresStore};
use crate::store::codec::{self, state_code, to_i64, Columns, POOL_COLUMNS};
use crate::store::{PoolStates, PoolUsage, StoreError, SyncCommit};

/// The sync's commit in one statement (one implicit transaction): the counter's
/// compare-and-swap, then every entry's, joined to it so that no entry moves when the counter
/// did not. If fewer entries moved than asked, the last expression divides by zero, which
/// aborts the statement and with it every change (SQLSTATE 22012 → a lost race).
const COMMIT_SYNC: &str = "
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

/// PostgreSQL's `division_by_zero`: the commit statement's way to say "an entry moved".
const DIVISION_BY_ZERO: &str = "22012";

impl PostgresStore {
    /// [`GatewayStore::device_enabled`](crate::store::GatewayStore::device_enabled).
    pub(super) async fn read_device_enabled(
        &self,
        id: DeviceId,
    ) -> Result<Option<bool>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT enabled FROM devices WHERE id = $1")
            .await
            .map_err(|e| pg("preparing the device flag query", e))?;
        let row = client
            .query_opt(&statement, &[&&id.0[..]])
            .await
            .map_err(|e| pg(&format!("reading whether {id} is enabled"), e))?;
        Ok(row.map(|r| r.get::<_, bool>("enabled")))
    }

    /// [`GatewayStore::pool_states`](crate::store::GatewayStore::pool_states): one query.
    pub(super) async fn read_pool_states(
        &self,
        pools: &[PoolId],
    ) -> Result<BTreeMap<PoolId, PoolStates>, StoreError> {
        let mut ids: Vec<&[u8]> = pools.iter().map(|p| &p.0[..]).collect();
        ids.sort_unstable();
        ids.dedup();
        let client = self.client().await?;
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
        Ok(read)
    }

    /// [`GatewayStore::pool_usage`](crate::store::GatewayStore::pool_usage): one query.
    pub(super) async fn read_pool_usage(
        &self,
        device: DeviceId,
    ) -> Result<Vec<PoolUsage>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {POOL_COLUMNS},
                    (SELECT count(*) FROM entries AS e WHERE e.pool_id = p.id) AS entries,
                    EXISTS (SELECT 1 FROM entries AS e WHERE e.pool_id = p.id AND e.state <> 0)
                      AS any_used
             FROM pools AS p WHERE device_id = $1 ORDER BY created_at, ord"
        );
        let statement = client
            .prepare_cached(&sql)
            .await
            .map_err(|e| pg("preparing the pool usage query", e))?;
        let rows = client
            .query(&statement, &[&&device.0[..]])
            .await
            .map_err(|e| pg(&format!("reading the pools of {device}"), e))?;
        rows.iter()
            .map(|row| {
                Ok(PoolUsage {
                    pool: codec::pool(row)?,
                    entries: row.u32("entries")?,
                    any_used: row.get::<_, bool>("any_used"),
                })
            })
            .collect()
    }

    /// [`GatewayStore::commit_sync`](crate::store::GatewayStore::commit_sync): one statement.
    pub(super) async fn write_sync(&self, commit: &SyncCommit) -> Result<(), StoreError> {
        let device = commit.device;
        let last = to_i64(commit.last_counter, "sync counter")?;
        let counter = to_i64(commit.counter, "sync counter")?;
        let at = to_i64(commit.synced_at, "synced_at")?;
        let changes = &commit.changes;
        let pools: Vec<&[u8]> = changes.iter().map(|e| &e.pool_id.0[..]).collect();
        let indexes: Vec<i64> = changes.iter().map(|e| i64::from(e.index)).collect();
        let from: Vec<i16> = changes.iter().map(|e| state_code(e.from)).collect();
        let to: Vec<i16> = changes.iter().map(|e| state_code(e.to)).collect();
        let ranks: Vec<i16> = changes.iter().map(|e| i16::from(e.to.rank())).collect();
        let client = self.client().await?;
        let statement = client
            .prepare_cached(COMMIT_SYNC)
            .await
            .map_err(|e| pg("preparing the sync commit", e))?;
        let answer = client
            .query_one(
                &statement,
                &[&&device.0[..], &last, &counter, &at, &pools, &indexes, &from, &to, &ranks],
            )
            .await;
        match answer {
            Ok(row) if row.get::<_, i64>("dev") == 1 => Ok(()),
            Ok(_) => {
                let exists = client
                    .query_opt("SELECT 1 FROM devices WHERE id = $1", &[&&device.0[..]])
                    .await
                    .map_err(|e| pg(&format!("reading device {device}"), e))?;
                Err(if exists.is_some() {
                    StoreError::Conflict
                } else {
                    StoreError::UnknownDevice(device)
                })
            }
            Err(e) if e.code().is_some_and(|c| c.code() == DIVISION_BY_ZERO) => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(pg(&format!("storing the sync of {device}"), e)),
        }
    }
}
