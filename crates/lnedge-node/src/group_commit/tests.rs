use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::task::Poll;

use super::*;

#[derive(Debug, PartialEq)]
enum TestError {
    Db(String),
    Own,
    Batch(GroupCommitError),
}

impl From<GroupCommitError> for TestError {
    fn from(e: GroupCommitError) -> Self {
        TestError::Batch(e)
    }
}

fn db(e: rusqlite::Error) -> TestError {
    TestError::Db(e.to_string())
}

struct Fixture {
    writer: Arc<GroupCommit>,
    /// Commits the connection made (its commit hook counts them).
    commits: Arc<AtomicUsize>,
    /// While set, the commit hook turns every commit into a rollback.
    refuse: Arc<AtomicBool>,
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let conn = Connection::open(dir.path().join("t.sqlite")).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
         CREATE TABLE t (k INTEGER PRIMARY KEY);",
    )
    .expect("schema");
    let commits = Arc::new(AtomicUsize::new(0));
    let refuse = Arc::new(AtomicBool::new(false));
    let (counted, refused) = (Arc::clone(&commits), Arc::clone(&refuse));
    conn.commit_hook(Some(move || {
        counted.fetch_add(1, SeqCst);
        refused.load(SeqCst)
    }));
    let writer = Arc::new(GroupCommit::start(conn, "test-writer").expect("writer"));
    Fixture { writer, commits, refuse, dir }
}

fn insert(k: i64) -> impl FnOnce(&mut Savepoint<'_>) -> Result<(), TestError> + Send + 'static {
    move |sp| sp.execute("INSERT INTO t (k) VALUES (?1)", [k]).map(|_| ()).map_err(db)
}

fn keys(sp: &mut Savepoint<'_>) -> Result<Vec<i64>, TestError> {
    let mut stmt = sp.prepare("SELECT k FROM t ORDER BY k").map_err(db)?;
    let rows = stmt.query_map([], |r| r.get(0)).map_err(db)?;
    rows.collect::<Result<_, _>>().map_err(db)
}

type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, TestError>> + Send + 'a>>;

/// Holds the writer in a call of its own until the returned sender is used, so that calls
/// queued meanwhile all go into the next batch.
fn hold_writer(
    writer: &Arc<GroupCommit>,
) -> (std::sync::mpsc::Sender<()>, JoinHandle<Result<(), TestError>>) {
    let (started, has_started) = std::sync::mpsc::channel();
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let writer = Arc::clone(writer);
    let holder = std::thread::spawn(move || {
        writer.call_blocking(move |_sp| {
            started.send(()).expect("test alive");
            wait_for_go.recv().map_err(|_| TestError::Own)
        })
    });
    has_started.recv().expect("the holding call runs");
    (go, holder)
}

/// Polls each call once, which queues it (the writer is held, so none can finish).
async fn queue<T>(calls: &mut [Answer<'_, T>]) {
    poll_fn(|cx| {
        for call in calls.iter_mut() {
            assert!(
                call.as_mut().poll(cx).is_pending(),
                "a call finished while the writer was held"
            );
        }
        Poll::Ready(())
    })
    .await;
}

#[tokio::test]
async fn calls_that_arrive_together_share_one_commit() {
    let f = fixture();
    let (go, holder) = hold_writer(&f.writer);
    let mut calls: Vec<Answer<'_, ()>> =
        (0..20).map(|k| Box::pin(f.writer.call(insert(k))) as Answer<'_, ()>).collect();
    queue(&mut calls).await;
    go.send(()).expect("holder waits");
    for call in calls {
        assert_eq!(call.await, Ok(()));
    }
    assert_eq!(holder.join().expect("holder"), Ok(()));
    // One commit for the holding call, one for the twenty.
    assert_eq!(f.commits.load(SeqCst), 2);
    // Everything acknowledged is in the file after the writer is gone.
    let path = f.dir.path().join("t.sqlite");
    drop(Arc::try_unwrap(f.writer).expect("last handle"));
    let conn = Connection::open(path).expect("reopen");
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).expect("count");
    assert_eq!(n, 20);
}

#[tokio::test]
async fn a_failing_call_is_rolled_back_alone_and_later_calls_see_earlier_ones() {
    let f = fixture();
    let (go, holder) = hold_writer(&f.writer);
    let failing = |sp: &mut Savepoint<'_>| -> Result<(), TestError> {
        sp.execute("INSERT INTO t (k) VALUES (2)", []).map_err(db)?;
        Err(TestError::Own)
    };
    let mut writes: Vec<Answer<'_, ()>> = vec![
        Box::pin(f.writer.call(insert(1))),
        Box::pin(f.writer.call(failing)),
        // A constraint error inside a call fails that call only.
        Box::pin(f.writer.call(insert(1))),
        Box::pin(f.writer.call(insert(3))),
    ];
    let mut read: Vec<Answer<'_, Vec<i64>>> = vec![Box::pin(f.writer.call(keys))];
    queue(&mut writes).await;
    queue(&mut read).await;
    go.send(()).expect("holder waits");
    let mut answers = Vec::new();
    for call in writes {
        answers.push(call.await);
    }
    assert_eq!(answers[0], Ok(()));
    assert_eq!(answers[1], Err(TestError::Own));
    assert!(matches!(&answers[2], Err(TestError::Db(m)) if m.contains("UNIQUE")), "{answers:?}");
    assert_eq!(answers[3], Ok(()));
    let seen = read.pop().expect("one read").await;
    assert_eq!(seen, Ok(vec![1, 3]), "the read ran after the writes, in the same batch");
    assert_eq!(holder.join().expect("holder"), Ok(()));
    assert_eq!(f.commits.load(SeqCst), 2);
}

#[tokio::test]
async fn a_panicking_call_is_answered_and_the_writer_lives_on() {
    let f = fixture();
    let panicking = |sp: &mut Savepoint<'_>| -> Result<(), TestError> {
        sp.execute("INSERT INTO t (k) VALUES (7)", []).map_err(db)?;
        panic!("boom")
    };
    let answer = f.writer.call(panicking).await;
    assert_eq!(answer, Err(TestError::Batch(GroupCommitError::Panicked("boom".into()))));
    assert_eq!(f.writer.call(insert(8)).await, Ok(()));
    assert_eq!(f.writer.call(keys).await, Ok(vec![8]), "the panicking call's insert is gone");
}

#[tokio::test]
async fn a_failed_commit_fails_every_call_of_its_batch() {
    let f = fixture();
    let (go, holder) = hold_writer(&f.writer);
    let mut calls: Vec<Answer<'_, ()>> =
        vec![Box::pin(f.writer.call(insert(1))), Box::pin(f.writer.call(insert(2)))];
    queue(&mut calls).await;
    // Both batches (the holding call's, then the two inserts') meet a refusing commit hook.
    f.refuse.store(true, SeqCst);
    go.send(()).expect("holder waits");
    let commit_failed =
        |a: &Result<(), TestError>| matches!(a, Err(TestError::Batch(GroupCommitError::Commit(_))));
    let held = holder.join().expect("holder");
    assert!(commit_failed(&held), "{held:?}");
    for call in calls {
        let answer = call.await;
        assert!(commit_failed(&answer), "an insert of a refused batch answered {answer:?}");
    }
    f.refuse.store(false, SeqCst);
    assert_eq!(f.commits.load(SeqCst), 2);
    assert_eq!(f.writer.call(keys).await, Ok(vec![]), "nothing of a refused batch is stored");
    assert_eq!(f.writer.call(insert(5)).await, Ok(()), "the writer goes on after a failed commit");
}

#[test]
fn call_blocking_serves_threads_without_a_runtime() {
    let f = fixture();
    let threads: Vec<_> = (0..8)
        .map(|k| {
            let writer = Arc::clone(&f.writer);
            std::thread::spawn(move || writer.call_blocking(insert(k)))
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), Ok(()));
    }
    assert_eq!(f.writer.call_blocking(keys), Ok((0..8).collect::<Vec<_>>()));
}

#[test]
fn readers_see_what_is_committed_and_never_wait_for_a_batch() {
    let f = fixture();
    let readers =
        Readers::open(&f.dir.path().join("t.sqlite"), 2, std::time::Duration::from_secs(10))
            .expect("readers");
    let read_keys = || {
        readers.read(|conn| {
            let mut stmt = conn.prepare("SELECT k FROM t ORDER BY k").map_err(db)?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(db)?;
            rows.collect::<Result<Vec<i64>, _>>().map_err(db)
        })
    };
    assert_eq!(f.writer.call_blocking(insert(1)), Ok(()));
    // A batch that has written but not committed (its call is still running).
    let (started, has_started) = std::sync::mpsc::channel();
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let writer = Arc::clone(&f.writer);
    let holder = std::thread::spawn(move || {
        writer.call_blocking(move |sp| {
            sp.execute("INSERT INTO t (k) VALUES (2)", []).map_err(db)?;
            started.send(()).expect("test alive");
            wait_for_go.recv().map_err(|_| TestError::Own)
        })
    });
    has_started.recv().expect("the batch runs");
    assert_eq!(read_keys(), Ok(vec![1]), "the read answers now, without the uncommitted row");
    go.send(()).expect("holder waits");
    assert_eq!(holder.join().expect("holder"), Ok(()));
    assert_eq!(read_keys(), Ok(vec![1, 2]), "an acknowledged write is seen by the next read");
    let refused = readers.read(|conn| conn.execute("DELETE FROM t", []).map_err(db));
    assert!(matches!(refused, Err(TestError::Db(_))), "readers cannot write: {refused:?}");
}
