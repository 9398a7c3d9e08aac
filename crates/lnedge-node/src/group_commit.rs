//! Group commit for one SQLite connection: calls that arrive together share one transaction and
//! one fsync, and none is answered before its effects are on disk.
//!
//! The connection lives on a dedicated writer thread. Each call is a closure; the thread takes
//! every call waiting (up to [`MAX_BATCH`]), opens one `BEGIN IMMEDIATE` transaction, runs the
//! calls one after the other, each inside its own savepoint — so each sees the effects of those
//! before it, exactly as if they had run alone in that order — commits once, and only then
//! answers them. Under `synchronous=FULL` an acknowledged write is therefore on disk when its
//! answer leaves, as with one transaction per call, but N writers that arrive together pay one
//! fsync instead of N, and no call waits for a blocking-pool thread or a contended mutex.
//!
//! * A call that returns an error has its savepoint rolled back; the other calls keep theirs.
//! * A call that panics is answered with [`GroupCommitError::Panicked`] and rolled back; the
//!   writer thread lives on.
//! * If SQLite rolls the whole transaction back (an I/O error, a full disk) or the commit fails,
//!   every call of the batch that ran is answered with that error and none of their effects
//!   remain; calls that had not run yet go first into the next batch.
//!
//! Reads need not wait for a batch: [`Readers`] are read-only connections to the same file
//! (WAL lets them read while the writer writes) that see exactly what is committed — so a read
//! sees every write acknowledged before it was sent, and nothing that may still roll back.
//!
//! ADR 0020 records the decision.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Mutex, TryLockError};
use std::thread::JoinHandle;

use rusqlite::{Connection, Savepoint, TransactionBehavior};

/// The most calls one transaction takes; the rest wait for the next one.
pub const MAX_BATCH: usize = 128;

/// Why a call was not answered with its own result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupCommitError {
    /// The batch's transaction could not start (e.g. another process held the write lock past
    /// the busy timeout).
    #[error("starting a transaction: {0}")]
    Begin(String),
    /// The call ran, but the batch's commit failed: its effects are not stored.
    #[error("committing: {0}")]
    Commit(String),
    /// SQLite rolled the batch's transaction back after an error: the call's effects are not
    /// stored.
    #[error("the transaction was rolled back after a database error: {0}")]
    RolledBack(String),
    /// The call panicked; its effects were rolled back.
    #[error("the database call panicked: {0}")]
    Panicked(String),
    /// The writer thread has stopped (the store is being dropped).
    #[error("the database writer has stopped")]
    Stopped,
    /// A read could not start or end its read transaction.
    #[error("reading: {0}")]
    Read(String),
}

/// Read-only connections to a file that a [`GroupCommit`] writes (WAL journal): a read runs on
/// the caller's thread in its own read transaction (one consistent snapshot of what is
/// committed), on whichever connection is free.
pub struct Readers {
    conns: Vec<Mutex<Connection>>,
}

impl std::fmt::Debug for Readers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readers").field("connections", &self.conns.len()).finish()
    }
}

impl Readers {
    /// Opens `count` (at least one) connections to `path` that refuse to write
    /// (`PRAGMA query_only`), each waiting up to `busy_timeout` for a lock.
    pub fn open(
        path: &Path,
        count: usize,
        busy_timeout: std::time::Duration,
    ) -> rusqlite::Result<Self> {
        let conns = (0..count.max(1))
            .map(|_| {
                let conn = Connection::open(path)?;
                conn.busy_timeout(busy_timeout)?;
                conn.execute_batch("PRAGMA query_only = 1;")?;
                Ok(Mutex::new(conn))
            })
            .collect::<rusqlite::Result<_>>()?;
        Ok(Readers { conns })
    }

    /// Runs `f` in a read transaction on a free connection (or waits for the first).
    pub fn read<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<GroupCommitError>,
    {
        // A panic while holding a connection cannot leave it inside a transaction (the
        // transaction rolls back when dropped), so a poisoned lock is safe to reuse.
        let guard = self
            .conns
            .iter()
            .find_map(|c| match c.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => None,
            })
            .unwrap_or_else(|| self.conns[0].lock().unwrap_or_else(|p| p.into_inner()));
        let tx = guard
            .unchecked_transaction()
            .map_err(|e| E::from(GroupCommitError::Read(e.to_string())))?;
        let value = f(&tx)?;
        tx.commit().map_err(|e| E::from(GroupCommitError::Read(e.to_string())))?;
        Ok(value)
    }
}

/// A connection served by a group-committing writer thread. Dropping it lets the thread finish
/// the calls already queued, then closes the connection.
pub struct GroupCommit {
    calls: Option<mpsc::Sender<Box<dyn Call>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    /// Moves `conn` to a new writer thread named `name`.
    pub fn start(conn: Connection, name: &str) -> std::io::Result<Self> {
        let (calls, queue) = mpsc::channel();
        let thread = std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            serve(conn, queue);
        })?;
        Ok(GroupCommit { calls: Some(calls), thread: Some(thread) })
    }

    /// Runs `f` in the next batch and answers once the batch is committed.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<GroupCommitError> + Send + 'static,
        F: FnOnce(&mut Savepoint<'_>) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.submit(Pending { f: Some(f), result: None, reply })?;
        answer.await.unwrap_or_else(|_| Err(E::from(GroupCommitError::Stopped)))
    }

    /// [`call`](Self::call) for synchronous callers: blocks the thread until the batch is
    /// committed. Must not be called from a call running on the writer thread.
    pub fn call_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<GroupCommitError> + Send + 'static,
        F: FnOnce(&mut Savepoint<'_>) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        self.submit(Pending { f: Some(f), result: None, reply })?;
        answer.recv().unwrap_or_else(|_| Err(E::from(GroupCommitError::Stopped)))
    }

    fn submit<C: Call + 'static>(&self, call: C) -> Result<(), GroupCommitError> {
        let calls = self.calls.as_ref().ok_or(GroupCommitError::Stopped)?;
        calls.send(Box::new(call)).map_err(|_| GroupCommitError::Stopped)
    }
}

impl Drop for GroupCommit {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it has answered what is queued.
        self.calls = None;
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// One queued call, its closure and its answer erased.
trait Call: Send {
    /// Runs the call inside `sp`; `true` if it succeeded (its savepoint is to be released).
    fn run(&mut self, sp: &mut Savepoint<'_>) -> bool;
    /// Answers the caller: its own error if it failed, otherwise `Ok` only if the batch's
    /// effects are stored (`outcome`).
    fn finish(self: Box<Self>, outcome: Result<(), GroupCommitError>);
}

/// Where a call's answer goes: a task awaiting it or a blocked thread.
trait Reply<V>: Send {
    fn answer(self, value: V);
}

impl<V: Send> Reply<V> for tokio::sync::oneshot::Sender<V> {
    fn answer(self, value: V) {
        // The caller may have given up (its task was cancelled): nothing to do then.
        let _ = self.send(value);
    }
}

impl<V: Send> Reply<V> for mpsc::SyncSender<V> {
    fn answer(self, value: V) {
        let _ = self.send(value);
    }
}

struct Pending<F, T, E, R> {
    f: Option<F>,
    result: Option<Result<T, E>>,
    reply: R,
}

impl<F, T, E, R> Call for Pending<F, T, E, R>
where
    T: Send,
    E: From<GroupCommitError> + Send,
    F: FnOnce(&mut Savepoint<'_>) -> Result<T, E> + Send,
    R: Reply<Result<T, E>>,
{
    fn run(&mut self, sp: &mut Savepoint<'_>) -> bool {
        let Some(f) = self.f.take() else { return false };
        let result = catch_unwind(AssertUnwindSafe(|| f(sp))).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(E::from(GroupCommitError::Panicked(message)))
        });
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, outcome: Result<(), GroupCommitError>) {
        let Pending { result, reply, .. } = *self;
        let answer = match (result, outcome) {
            (Some(Err(own)), _) => Err(own),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(E::from(e)),
            // Never run, yet the batch committed: cannot happen (finish follows run).
            (None, Ok(())) => Err(E::from(GroupCommitError::Stopped)),
        };
        reply.answer(answer);
    }
}

/// The writer thread: batches until every sender is gone.
fn serve(mut conn: Connection, calls: mpsc::Receiver<Box<dyn Call>>) {
    let mut queue: VecDeque<Box<dyn Call>> = VecDeque::new();
    loop {
        if queue.is_empty() {
            match calls.recv() {
                Ok(call) => queue.push_back(call),
                Err(mpsc::RecvError) => return,
            }
        }
        while queue.len() < MAX_BATCH {
            match calls.try_recv() {
                Ok(call) => queue.push_back(call),
                Err(_) => break,
            }
        }
        let take = queue.len().min(MAX_BATCH);
        let batch: Vec<_> = queue.drain(..take).collect();
        // Calls a rolled-back batch did not reach go first into the next one.
        for call in run_batch(&mut conn, batch).into_iter().rev() {
            queue.push_front(call);
        }
    }
}

/// Runs one batch in one transaction; returns the calls it did not run.
fn run_batch(conn: &mut Connection, batch: Vec<Box<dyn Call>>) -> Vec<Box<dyn Call>> {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let error = GroupCommitError::Begin(e.to_string());
            for call in batch {
                call.finish(Err(error.clone()));
            }
            return Vec::new();
        }
    };
    let mut ran = Vec::with_capacity(batch.len());
    let mut calls = batch.into_iter();
    let mut broken = None;
    for mut call in calls.by_ref() {
        match tx.savepoint() {
            Ok(mut sp) => {
                if call.run(&mut sp) {
                    if let Err(e) = sp.commit() {
                        broken = Some(e.to_string());
                    }
                }
                // A failed call's savepoint rolls back when dropped here.
            }
            Err(e) => broken = Some(e.to_string()),
        }
        ran.push(call);
        if broken.is_none() && tx.is_autocommit() {
            // SQLite ended the transaction itself after an error: earlier effects are gone.
            broken = Some("SQLite ended the transaction".to_owned());
        }
        if broken.is_some() {
            break;
        }
    }
    let outcome = match broken {
        Some(cause) => {
            drop(tx);
            Err(GroupCommitError::RolledBack(cause))
        }
        None => tx.commit().map_err(|e| GroupCommitError::Commit(e.to_string())),
    };
    for call in ran {
        call.finish(outcome.clone());
    }
    calls.collect()
}

#[cfg(test)]
mod tests;
