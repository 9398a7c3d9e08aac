//! Concurrent calls of one kind merged into one query (issue #17): what a device sync reads
//! and its commit, on PostgreSQL, where each statement costs a round trip and the server's CPU
//! whatever its size. A [`Batcher`]'s worker tasks each take the call waiting (and every other
//! one queued behind it, at most `max`), run one query for all of them, and answer each. While
//! the workers are busy, new calls queue for the next batch — the more calls at once, the
//! larger the batches, as with SQLite's group commit (ADR 0020).
//!
//! The worker is spawned on the runtime that opened the store; if that runtime is gone (the
//! channel is closed), [`Batcher::call`] answers `None` and the caller runs its query alone.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::StoreError;

type Reply<V> = oneshot::Sender<Result<V, StoreError>>;

/// Merges concurrent calls with keys `K` answering `V` (see the module).
pub(super) struct Batcher<K, V> {
    calls: mpsc::UnboundedSender<(K, Reply<V>)>,
}

impl<K: Send + 'static, V: Send + 'static> Batcher<K, V> {
    /// Spawns `workers` workers: each takes the calls waiting (at most `max`) and runs `run`
    /// for them, which answers one result per key, in their order. More than one worker lets a
    /// batch be read while the one before is still in flight.
    pub(super) fn spawn<F, Fut>(workers: usize, max: usize, run: F) -> Self
    where
        F: Fn(Vec<K>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<Result<V, StoreError>>> + Send,
    {
        let (calls, queue) = mpsc::unbounded_channel::<(K, Reply<V>)>();
        let queue = Arc::new(tokio::sync::Mutex::new(queue));
        let run = Arc::new(run);
        for _ in 0..workers.max(1) {
            let (queue, run) = (queue.clone(), run.clone());
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut queue = queue.lock().await;
                        let Some(first) = queue.recv().await else { return };
                        let mut batch = vec![first];
                        while batch.len() < max {
                            match queue.try_recv() {
                                Ok(call) => batch.push(call),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    let (keys, replies): (Vec<K>, Vec<Reply<V>>) = batch.into_iter().unzip();
                    let answers = run(keys).await;
                    debug_assert_eq!(answers.len(), replies.len());
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        let _ = reply.send(answer);
                    }
                }
            });
        }
        Batcher { calls }
    }

    /// Queues `key` for the next batch and waits for its answer; `None` if the worker is gone
    /// (the caller then runs its query alone).
    pub(super) async fn call(&self, key: K) -> Option<Result<V, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.calls.send((key, reply)).ok()?;
        answer.await.ok()
    }
}

/// The same error for every call of a failed batch (a [`StoreError`] is not `Clone`).
pub(super) fn for_each(e: &StoreError) -> StoreError {
    match e {
        StoreError::Conflict => StoreError::Conflict,
        StoreError::UnknownDevice(d) => StoreError::UnknownDevice(*d),
        other => StoreError::Backend(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_calls_share_batches_and_each_gets_its_own_answer() {
        let batches = Arc::new(AtomicUsize::new(0));
        let counted = batches.clone();
        let doubler = Arc::new(Batcher::spawn(2, 64, move |keys: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                keys.into_iter()
                    .map(|k| if k == 13 { Err(StoreError::Conflict) } else { Ok(k * 2) })
                    .collect()
            }
        }));
        let calls: Vec<_> = (0..200u32)
            .map(|k| {
                let d = doubler.clone();
                tokio::spawn(async move { (k, d.call(k).await) })
            })
            .collect();
        for call in calls {
            let (k, answer) = call.await.expect("join");
            match answer.expect("the worker runs") {
                Ok(v) => assert_eq!(v, k * 2),
                Err(StoreError::Conflict) => assert_eq!(k, 13),
                Err(e) => panic!("{k}: {e}"),
            }
        }
        let n = batches.load(Ordering::SeqCst);
        assert!(n < 200, "200 concurrent calls in {n} batches");
    }
}
