//! The durable state a backend keeps beside its node: invoices created through it (with the
//! preimages of auto-settling ones), outgoing payments, and the event queue.
//!
//! One SQLite file per backend (`lnedge-backend.sqlite3` in its data directory). Every state
//! change and the event it produces are written in one transaction, so a crash can lose neither
//! half. Implementations share this so that they all honour the same contract. The connection
//! lives on a group-committing writer thread ([`crate::group_commit`]): calls that arrive
//! together share one transaction and one fsync, and each is answered after the commit.

use std::path::Path;

use lightning_types::payment::{PaymentHash, PaymentPreimage};
use rusqlite::{params, Connection, OptionalExtension, Savepoint};
use tokio::sync::Notify;

use crate::backend::{InvoiceParams, InvoiceState};
use crate::error::BackendError;
use crate::event::{parse_32, BackendEvent, EventId, QueuedEvent};
use crate::group_commit::{GroupCommit, GroupCommitError, Readers};

/// Read-only connections of a store (reads run on their caller's thread: one per core of the
/// machines it is sized for).
const READERS: usize = 2;

/// How long a read waits for a lock (a checkpoint, another process).
const READ_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// File name of the store inside a backend's data directory.
pub const STORE_FILE: &str = "lnedge-backend.sqlite3";

const MIGRATIONS: &[&str] = &[
    // 1: initial schema
    "CREATE TABLE invoices (
        payment_hash TEXT PRIMARY KEY,
        preimage TEXT,
        hold INTEGER NOT NULL,
        params_key TEXT NOT NULL,
        bolt11 TEXT NOT NULL,
        state TEXT NOT NULL,
        amount_msat INTEGER,
        claim_deadline_height INTEGER
    );
    CREATE TABLE payments (
        payment_hash TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        preimage TEXT,
        fee_paid_msat INTEGER,
        failure TEXT
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        dedup_key TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        handled INTEGER NOT NULL DEFAULT 0
    );",
    // 2: resume points of a node's update streams (LND's add_index / settle_index)
    "CREATE TABLE cursors (
        name TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );",
];

/// A stored invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInvoice {
    /// Its payment hash.
    pub payment_hash: PaymentHash,
    /// The preimage, for invoices that settle automatically; `None` for hold invoices.
    pub preimage: Option<PaymentPreimage>,
    /// Whether it is a hold invoice.
    pub hold: bool,
    /// The BOLT 11 string returned to the caller.
    pub bolt11: String,
    /// Where it stands.
    pub state: InvoiceState,
}

/// The state of an outgoing payment as recorded by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredPayment {
    /// Sent; outcome not known yet.
    Pending,
    /// Completed.
    Succeeded {
        /// The preimage.
        preimage: PaymentPreimage,
        /// Fees paid, if reported.
        fee_paid_msat: Option<u64>,
    },
    /// Failed for good.
    Failed {
        /// Why.
        reason: String,
    },
}

impl StoredPayment {
    /// The public [`PaymentStatus`](crate::PaymentStatus) of the payment of `payment_hash`.
    pub fn into_status(self, payment_hash: PaymentHash) -> crate::PaymentStatus {
        match self {
            StoredPayment::Pending => crate::PaymentStatus::Pending,
            StoredPayment::Succeeded { preimage, fee_paid_msat } => {
                crate::PaymentStatus::Succeeded(crate::PaymentOutcome {
                    payment_hash,
                    preimage,
                    fee_paid_msat,
                })
            }
            StoredPayment::Failed { reason } => crate::PaymentStatus::Failed { reason },
        }
    }

    /// How the payment of `payment_hash` ended, as `pay` answers it (a failure decoded with
    /// [`PayFailure::from_code`](crate::PayFailure::from_code)); `None` while pending.
    pub fn finished(
        self,
        payment_hash: PaymentHash,
    ) -> Option<Result<crate::PaymentOutcome, BackendError>> {
        match self {
            StoredPayment::Pending => None,
            StoredPayment::Succeeded { preimage, fee_paid_msat } => {
                Some(Ok(crate::PaymentOutcome { payment_hash, preimage, fee_paid_msat }))
            }
            StoredPayment::Failed { reason } => {
                Some(Err(crate::PayFailure::from_code(&reason).into()))
            }
        }
    }
}

/// The backend store. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BackendStore {
    writer: GroupCommit,
    /// Reads on the caller's thread, never waiting for a batch; `None` in memory.
    readers: Option<Readers>,
    new_event: Notify,
}

fn db_err(e: rusqlite::Error) -> BackendError {
    BackendError::Storage(e.to_string())
}

impl From<GroupCommitError> for BackendError {
    fn from(e: GroupCommitError) -> Self {
        BackendError::Storage(e.to_string())
    }
}

/// A key that identifies invoice parameters (for idempotent creation).
fn params_key(hold: bool, params: &InvoiceParams) -> String {
    let desc = match &params.description {
        crate::backend::InvoiceDescription::Direct(d) => format!("d:{d}"),
        crate::backend::InvoiceDescription::Hash(h) => format!("h:{}", hex::encode(h)),
    };
    format!("{hold}|{:?}|{}|{desc}", params.amount_msat, params.expiry_secs)
}

fn state_from_row(state: &str, amount_msat: Option<i64>, deadline: Option<i64>) -> InvoiceState {
    let amount_msat = amount_msat.unwrap_or(0) as u64;
    match state {
        "held" => {
            InvoiceState::Held { amount_msat, claim_deadline_height: deadline.map(|d| d as u32) }
        }
        "settled" => InvoiceState::Settled { amount_msat },
        "cancelled" => InvoiceState::Cancelled,
        _ => InvoiceState::Open,
    }
}

impl BackendStore {
    /// Opens (creating and migrating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, BackendError> {
        // The store holds the preimage of every invoice the node settles by itself: only the
        // service's user may read it (and SQLite gives the WAL and SHM files the same mode).
        let private = |e: crate::private_fs::PrivateFsError| BackendError::Storage(e.to_string());
        crate::private_fs::create_dir(dir).map_err(private)?;
        crate::private_fs::create_file(&dir.join(STORE_FILE)).map_err(private)?;
        let conn = Connection::open(dir.join(STORE_FILE)).map_err(db_err)?;
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;").map_err(db_err)?;
        let mut store = Self::start(conn)?;
        let readers =
            Readers::open(&dir.join(STORE_FILE), READERS, READ_BUSY_TIMEOUT).map_err(db_err)?;
        store.readers = Some(readers);
        Ok(store)
    }

    /// Opens a store that lives in memory only (tests of components above the backend).
    pub fn in_memory() -> Result<Self, BackendError> {
        let conn = Connection::open_in_memory().map_err(db_err)?;
        Self::start(conn)
    }

    fn start(conn: Connection) -> Result<Self, BackendError> {
        Self::migrate(&conn)?;
        let writer = GroupCommit::start(conn, "lnedge-backend-store")
            .map_err(|e| BackendError::Storage(format!("starting the store's writer: {e}")))?;
        Ok(BackendStore { writer, readers: None, new_event: Notify::new() })
    }

    fn migrate(conn: &Connection) -> Result<(), BackendError> {
        let version: i64 =
            conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(db_err)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1))
                .map_err(db_err)?;
        }
        Ok(())
    }

    /// Runs `f` in the writer's next batch; answers after the batch is committed.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Savepoint<'_>) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        self.writer.call_blocking(f)
    }

    /// Runs the read `f` on a read-only connection, on this thread (what is committed: every
    /// write answered before); through the writer for an in-memory store.
    fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, BackendError> + Send + 'static,
    ) -> Result<T, BackendError> {
        match &self.readers {
            Some(readers) => readers.read(f),
            None => self.writer.call_blocking(move |sp| f(sp)),
        }
    }

    /// Looks up an invoice.
    pub fn invoice(&self, hash: &PaymentHash) -> Result<Option<StoredInvoice>, BackendError> {
        let hash = *hash;
        self.read(move |conn| {
            conn.query_row(
                "SELECT preimage, hold, bolt11, state, amount_msat, claim_deadline_height
             FROM invoices WHERE payment_hash = ?1",
                params![hex::encode(hash.0)],
                |r| {
                    let preimage: Option<String> = r.get(0)?;
                    let state: String = r.get(3)?;
                    Ok((
                        preimage,
                        r.get::<_, bool>(1)?,
                        r.get::<_, String>(2)?,
                        state,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .optional()
            .map_err(db_err)?
            .map(|(preimage, hold, bolt11, state, amount, deadline)| {
                let preimage = match preimage {
                    Some(p) => Some(PaymentPreimage(parse_32(&p).map_err(BackendError::Storage)?)),
                    None => None,
                };
                Ok(StoredInvoice {
                    payment_hash: hash,
                    preimage,
                    hold,
                    bolt11,
                    state: state_from_row(&state, amount, deadline),
                })
            })
            .transpose()
        })
    }

    /// Looks for an invoice already created for `hash`: `Ok(Some(bolt11))` if one exists with
    /// the same parameters, `Err(DuplicatePaymentHash)` if with others, `Ok(None)` if none.
    pub fn existing_invoice(
        &self,
        hash: &PaymentHash,
        hold: bool,
        params: &InvoiceParams,
    ) -> Result<Option<String>, BackendError> {
        let (hash, key) = (*hash, params_key(hold, params));
        let row: Option<(String, String)> = self.read(move |conn| {
            conn.query_row(
                "SELECT params_key, bolt11 FROM invoices WHERE payment_hash = ?1",
                params![hex::encode(hash.0)],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)
        })?;
        match row {
            None => Ok(None),
            Some((stored, bolt11)) if stored == key => Ok(Some(bolt11)),
            Some(_) => Err(BackendError::DuplicatePaymentHash(hash)),
        }
    }

    /// Records a newly created invoice.
    pub fn insert_invoice(
        &self,
        hash: &PaymentHash,
        preimage: Option<&PaymentPreimage>,
        params: &InvoiceParams,
        bolt11: &str,
    ) -> Result<(), BackendError> {
        let values = (
            hex::encode(hash.0),
            preimage.map(|p| hex::encode(p.0)),
            preimage.is_none(),
            params_key(preimage.is_none(), params),
            bolt11.to_owned(),
        );
        self.call(move |conn| {
            let (hash, preimage, hold, key, bolt11) = values;
            conn.execute(
                "INSERT INTO invoices (payment_hash, preimage, hold, params_key, bolt11, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'open')",
                params![hash, preimage, hold, key, bolt11],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    /// Remembers the preimage of a hold invoice about to be settled.
    pub fn record_preimage(
        &self,
        hash: &PaymentHash,
        preimage: &PaymentPreimage,
    ) -> Result<(), BackendError> {
        let (hash, preimage) = (hex::encode(hash.0), hex::encode(preimage.0));
        self.call(move |conn| {
            conn.execute(
                "UPDATE invoices SET preimage = ?2 WHERE payment_hash = ?1",
                params![hash, preimage],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    /// Moves an invoice to a new state and queues `event` in the same transaction. Returns
    /// `false` (and changes nothing) if the event was already queued once.
    pub fn transition(
        &self,
        hash: &PaymentHash,
        state: InvoiceState,
        event: Option<&BackendEvent>,
    ) -> Result<bool, BackendError> {
        let (name, amount, deadline) = match state {
            InvoiceState::Open => ("open", None, None),
            InvoiceState::Held { amount_msat, claim_deadline_height } => {
                ("held", Some(amount_msat as i64), claim_deadline_height.map(i64::from))
            }
            InvoiceState::Settled { amount_msat } => ("settled", Some(amount_msat as i64), None),
            InvoiceState::Cancelled => ("cancelled", None, None),
        };
        let (hash, event_row) = (hex::encode(hash.0), event.map(event_row).transpose()?);
        let queued = event_row.is_some();
        let fresh = self.call(move |tx| {
            let fresh = match event_row {
                Some(row) => insert_event(tx, row)?,
                None => true,
            };
            if fresh {
                tx.execute(
                    "UPDATE invoices SET state = ?2, amount_msat = ?3, claim_deadline_height = ?4
                     WHERE payment_hash = ?1",
                    params![hash, name, amount, deadline],
                )
                .map_err(db_err)?;
            }
            Ok(fresh)
        })?;
        if fresh && queued {
            self.new_event.notify_waiters();
            self.new_event.notify_one();
        }
        Ok(fresh)
    }
    /// The hold invoices whose HTLCs are held now, with their claim deadlines (block heights).
    ///
    /// Backends that must fail held HTLCs back before the deadline by themselves use this to
    /// find them again after a restart.
    pub fn held_invoices(&self) -> Result<Vec<(PaymentHash, Option<u32>)>, BackendError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT payment_hash, claim_deadline_height FROM invoices
                 WHERE state = 'held' ORDER BY payment_hash",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?)))
                .map_err(db_err)?;
            let mut held = Vec::new();
            for row in rows {
                let (hash, deadline) = row.map_err(db_err)?;
                let hash = PaymentHash(parse_32(&hash).map_err(BackendError::Storage)?);
                held.push((hash, deadline.and_then(|d| u32::try_from(d).ok())));
            }
            Ok(held)
        })
    }

    /// The recorded state of an outgoing payment.
    pub fn payment(&self, hash: &PaymentHash) -> Result<Option<StoredPayment>, BackendError> {
        type Row = (String, Option<String>, Option<i64>, Option<String>);
        let hash = hex::encode(hash.0);
        let row: Option<Row> = self.read(move |conn| {
            conn.query_row(
                "SELECT state, preimage, fee_paid_msat, failure FROM payments WHERE payment_hash = ?1",
                params![hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(db_err)
        })?;
        Ok(match row {
            None => None,
            Some((state, preimage, fee, failure)) => Some(match (state.as_str(), preimage) {
                ("succeeded", Some(p)) => StoredPayment::Succeeded {
                    preimage: PaymentPreimage(parse_32(&p).map_err(BackendError::Storage)?),
                    fee_paid_msat: fee.map(|f| f as u64),
                },
                ("failed", _) => StoredPayment::Failed { reason: failure.unwrap_or_default() },
                _ => StoredPayment::Pending,
            }),
        })
    }

    /// Records that a payment was sent (replacing an earlier failure, which may be retried).
    pub fn payment_started(&self, hash: &PaymentHash) -> Result<(), BackendError> {
        let (failed_key, hash) = (format!("pay_failed:{hash}"), hex::encode(hash.0));
        self.call(move |conn| {
            // Keep the earlier failure's event in the queue, but let the retry's failure be
            // queued.
            conn.execute(
                "UPDATE events SET dedup_key = dedup_key || ':' || id WHERE dedup_key = ?1",
                params![failed_key],
            )
            .map_err(db_err)?;
            conn.execute(
                "INSERT INTO payments (payment_hash, state) VALUES (?1, 'pending')
                 ON CONFLICT(payment_hash) DO UPDATE SET state = 'pending', failure = NULL
                 WHERE state = 'failed'",
                params![hash],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    /// Records a finished payment's event (once) and answers it as `pay` does.
    pub fn resolve_payment(
        &self,
        event: BackendEvent,
    ) -> Result<crate::PaymentOutcome, BackendError> {
        self.payment_resolved(&event)?;
        match event {
            BackendEvent::PaymentSucceeded { payment_hash, preimage, fee_paid_msat } => {
                Ok(crate::PaymentOutcome { payment_hash, preimage, fee_paid_msat })
            }
            BackendEvent::PaymentFailed { reason, .. } => {
                Err(crate::PayFailure::from_code(&reason).into())
            }
            _ => Err(BackendError::Storage("not a payment event".into())),
        }
    }

    /// Records the outcome of a payment and queues its event, once.
    pub fn payment_resolved(&self, event: &BackendEvent) -> Result<bool, BackendError> {
        let (hash, state, preimage, fee, failure) = match event {
            BackendEvent::PaymentSucceeded { payment_hash, preimage, fee_paid_msat } => {
                (payment_hash, "succeeded", Some(hex::encode(preimage.0)), *fee_paid_msat, None)
            }
            BackendEvent::PaymentFailed { payment_hash, reason } => {
                (payment_hash, "failed", None, None, Some(reason.clone()))
            }
            _ => return Err(BackendError::Storage("not a payment event".into())),
        };
        let (hash, row) = (hex::encode(hash.0), event_row(event)?);
        let fee = fee.map(|f| f as i64);
        let fresh = self.call(move |tx| {
            // A retried payment may fail, then succeed; only a success is final.
            let already_succeeded: bool = tx
                .query_row(
                    "SELECT state = 'succeeded' FROM payments WHERE payment_hash = ?1",
                    params![hash],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_err)?
                .unwrap_or(false);
            if already_succeeded {
                return Ok(false);
            }
            let fresh = insert_event(tx, row)?;
            tx.execute(
                "INSERT INTO payments (payment_hash, state, preimage, fee_paid_msat, failure)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(payment_hash) DO UPDATE SET state = ?2, preimage = ?3,
                     fee_paid_msat = ?4, failure = ?5",
                params![hash, state, preimage, fee, failure],
            )
            .map_err(db_err)?;
            Ok(fresh)
        })?;
        if fresh {
            self.new_event.notify_waiters();
            self.new_event.notify_one();
        }
        Ok(fresh)
    }

    /// The oldest unacknowledged event, if any.
    pub fn peek_event(&self) -> Result<Option<QueuedEvent>, BackendError> {
        let row: Option<(i64, String)> = self.read(|conn| {
            conn.query_row(
                "SELECT id, body FROM events WHERE handled = 0 ORDER BY id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err)
        })?;
        row.map(|(id, body)| {
            let event = serde_json::from_str(&body)
                .map_err(|e| BackendError::Storage(format!("event {id} is unreadable: {e}")))?;
            Ok(QueuedEvent { id: EventId(id as u64), event })
        })
        .transpose()
    }

    /// Waits for the oldest unacknowledged event.
    pub async fn next_event(&self) -> Result<QueuedEvent, BackendError> {
        loop {
            let notified = self.new_event.notified();
            if let Some(event) = self.peek_event()? {
                return Ok(event);
            }
            notified.await;
        }
    }

    /// A stream's resume point `name` (0 when never set).
    pub fn cursor(&self, name: &str) -> Result<u64, BackendError> {
        let name = name.to_owned();
        let value: Option<i64> = self.read(move |conn| {
            conn.query_row("SELECT value FROM cursors WHERE name = ?1", params![name], |r| r.get(0))
                .optional()
                .map_err(db_err)
        })?;
        Ok(value.map_or(0, |v| v as u64))
    }

    /// Moves the resume point `name` forward to `value` (never back).
    pub fn advance_cursor(&self, name: &str, value: u64) -> Result<(), BackendError> {
        let name = name.to_owned();
        self.call(move |conn| {
            conn.execute(
                "INSERT INTO cursors (name, value) VALUES (?1, ?2)
                 ON CONFLICT(name) DO UPDATE SET value = MAX(value, ?2)",
                params![name, value as i64],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    /// The invoices not resolved yet (open or held), with whether each is a hold invoice: what
    /// a backend re-reads from its node after missing updates.
    pub fn unresolved_invoices(&self) -> Result<Vec<(PaymentHash, bool)>, BackendError> {
        self.read(|conn| {
            let mut stmt = conn
                .prepare(
                    "SELECT payment_hash, hold FROM invoices WHERE state IN ('open', 'held')
                 ORDER BY payment_hash",
                )
                .map_err(db_err)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))
                .map_err(db_err)?;
            let mut out = Vec::new();
            for row in rows {
                let (hash, hold) = row.map_err(db_err)?;
                out.push((PaymentHash(parse_32(&hash).map_err(BackendError::Storage)?), hold));
            }
            Ok(out)
        })
    }

    /// The outgoing payments whose outcome is not recorded yet.
    pub fn pending_payments(&self) -> Result<Vec<PaymentHash>, BackendError> {
        self.read(|conn| {
            let mut stmt = conn
            .prepare(
                "SELECT payment_hash FROM payments WHERE state = 'pending' ORDER BY payment_hash",
            )
            .map_err(db_err)?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(PaymentHash(
                    parse_32(&row.map_err(db_err)?).map_err(BackendError::Storage)?,
                ));
            }
            Ok(out)
        })
    }

    /// Acknowledges an event.
    pub fn event_handled(&self, id: EventId) -> Result<(), BackendError> {
        self.call(move |conn| {
            conn.execute("UPDATE events SET handled = 1 WHERE id = ?1", params![id.0 as i64])
                .map_err(db_err)?;
            Ok(())
        })
    }
}

/// An event as its queue row: its deduplication key and its JSON body.
fn event_row(event: &BackendEvent) -> Result<(String, String), BackendError> {
    let body = serde_json::to_string(event).map_err(|e| BackendError::Storage(e.to_string()))?;
    Ok((event.dedup_key(), body))
}

/// Queues an event row unless one with its key was queued before; `true` if queued now.
fn insert_event(
    tx: &Connection,
    (dedup_key, body): (String, String),
) -> Result<bool, BackendError> {
    let n = tx
        .execute(
            "INSERT INTO events (dedup_key, body) VALUES (?1, ?2) ON CONFLICT(dedup_key) DO NOTHING",
            params![dedup_key, body],
        )
        .map_err(db_err)?;
    Ok(n == 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::InvoiceDescription;

    fn params() -> InvoiceParams {
        InvoiceParams {
            amount_msat: Some(1000),
            description: InvoiceDescription::Direct("coffee".into()),
            expiry_secs: 60,
            min_final_cltv_expiry_delta: None,
        }
    }

    #[test]
    fn invoice_creation_is_idempotent_per_parameters() {
        let store = BackendStore::in_memory().expect("store");
        let hash = PaymentHash([1; 32]);
        assert_eq!(store.existing_invoice(&hash, true, &params()).expect("lookup"), None);
        store.insert_invoice(&hash, None, &params(), "lnbcrt1...").expect("insert");
        assert_eq!(
            store.existing_invoice(&hash, true, &params()).expect("lookup").as_deref(),
            Some("lnbcrt1...")
        );
        let mut other = params();
        other.amount_msat = Some(2000);
        assert_eq!(
            store.existing_invoice(&hash, true, &other),
            Err(BackendError::DuplicatePaymentHash(hash))
        );
    }

    #[test]
    fn events_survive_reopen_and_are_not_duplicated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hash = PaymentHash([2; 32]);
        let held = BackendEvent::InvoiceHeld {
            payment_hash: hash,
            amount_msat: 5,
            claim_deadline_height: Some(100),
        };
        let cancelled = BackendEvent::InvoiceCancelled { payment_hash: hash };
        {
            let store = BackendStore::open(dir.path()).expect("open");
            store.insert_invoice(&hash, None, &params(), "x").expect("insert");
            let state = InvoiceState::Held { amount_msat: 5, claim_deadline_height: Some(100) };
            assert!(store.transition(&hash, state, Some(&held)).expect("held"));
            assert!(!store.transition(&hash, state, Some(&held)).expect("replayed"));
            assert!(store.transition(&hash, InvoiceState::Cancelled, Some(&cancelled)).expect("c"));
            let first = store.peek_event().expect("peek").expect("an event");
            assert_eq!(first.event, held);
            store.event_handled(first.id).expect("ack");
        }
        let store = BackendStore::open(dir.path()).expect("reopen");
        let next = store.peek_event().expect("peek").expect("an event");
        assert_eq!(next.event, cancelled, "the acknowledged event is gone, the other remains");
        assert_eq!(
            store.invoice(&hash).expect("get").expect("exists").state,
            InvoiceState::Cancelled
        );
        // a replay of the held fact after restart is dropped
        let state = InvoiceState::Held { amount_msat: 5, claim_deadline_height: Some(100) };
        assert!(!store.transition(&hash, state, Some(&held)).expect("replay"));
        assert_eq!(
            store.invoice(&hash).expect("get").expect("exists").state,
            InvoiceState::Cancelled
        );
    }

    #[test]
    fn held_invoices_are_listed_with_their_deadlines() {
        let store = BackendStore::in_memory().expect("store");
        let (a, b) = (PaymentHash([5; 32]), PaymentHash([6; 32]));
        store.insert_invoice(&a, None, &params(), "a").expect("insert");
        store.insert_invoice(&b, None, &params(), "b").expect("insert");
        assert_eq!(store.held_invoices().expect("list"), vec![]);
        let held = InvoiceState::Held { amount_msat: 1, claim_deadline_height: Some(150) };
        store.transition(&a, held, None).expect("held");
        assert_eq!(store.held_invoices().expect("list"), vec![(a, Some(150))]);
        store.transition(&a, InvoiceState::Cancelled, None).expect("cancel");
        assert_eq!(store.held_invoices().expect("list"), vec![]);
    }

    #[test]
    fn a_failed_payment_may_be_retried_but_success_is_final() {
        let store = BackendStore::in_memory().expect("store");
        let hash = PaymentHash([3; 32]);
        store.payment_started(&hash).expect("start");
        assert_eq!(store.payment(&hash).expect("get"), Some(StoredPayment::Pending));
        let failed = BackendEvent::PaymentFailed { payment_hash: hash, reason: "no route".into() };
        assert!(store.payment_resolved(&failed).expect("fail"));
        store.payment_started(&hash).expect("restart");
        assert_eq!(store.payment(&hash).expect("get"), Some(StoredPayment::Pending));
        let ok = BackendEvent::PaymentSucceeded {
            payment_hash: hash,
            preimage: PaymentPreimage([4; 32]),
            fee_paid_msat: Some(1),
        };
        assert!(store.payment_resolved(&ok).expect("ok"));
        assert!(!store.payment_resolved(&failed).expect("late failure ignored"));
        assert!(matches!(
            store.payment(&hash).expect("get"),
            Some(StoredPayment::Succeeded { .. })
        ));
    }
}
