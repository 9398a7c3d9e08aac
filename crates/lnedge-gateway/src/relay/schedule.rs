//! When the driver must look at a payment again (issue #17): woken by what changes — a node
//! event about a relay hash (held, failed back), a claim, the end of a payment or webhook task,
//! a block that brings a claim deadline within the cancel margin, a timer (invoice expiry,
//! webhook backoff, the longest hold) — instead of asking the node about every held payment on
//! every pass. A pass takes only what is due: with nothing due it costs a lock and two ordered-
//! set lookups, whatever the number of payments held.
//!
//! The schedule lives in one process's memory. A full pass ([`Relay::tick`](super::Relay::tick))
//! at start and every `full_pass_interval` rebuilds it from the store and asks the node about
//! everything, so what another replica changed, or an event this process never saw, is found
//! within that interval.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::Notify;

/// A payment's next look: at a time, at a height, or both (whichever comes first).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Unix seconds at which to look again.
    pub at_secs: Option<u64>,
    /// Block height at which to look again.
    pub at_height: Option<u32>,
}

#[derive(Debug, Default)]
struct Inner {
    dirty: HashSet<[u8; 32]>,
    by_time: BTreeSet<(u64, [u8; 32])>,
    by_height: BTreeSet<(u32, [u8; 32])>,
    plans: HashMap<[u8; 32], Plan>,
}

impl Inner {
    /// Replaces `hash`'s plan (an empty plan forgets it).
    fn set(&mut self, hash: [u8; 32], plan: Plan) {
        self.unplan(&hash);
        if plan == Plan::default() {
            return;
        }
        if let Some(t) = plan.at_secs {
            self.by_time.insert((t, hash));
        }
        if let Some(h) = plan.at_height {
            self.by_height.insert((h, hash));
        }
        self.plans.insert(hash, plan);
    }

    fn unplan(&mut self, hash: &[u8; 32]) {
        if let Some(plan) = self.plans.remove(hash) {
            if let Some(t) = plan.at_secs {
                self.by_time.remove(&(t, *hash));
            }
            if let Some(h) = plan.at_height {
                self.by_height.remove(&(h, *hash));
            }
        }
    }
}

/// The relay's schedule. Cheap to share behind an `Arc`.
#[derive(Debug, Default)]
pub struct Schedule {
    inner: Mutex<Inner>,
    woken: Notify,
}

impl Schedule {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Something happened to `hash`: the next pass looks at it (and the driver wakes up).
    pub fn wake(&self, hash: [u8; 32]) {
        self.lock().dirty.insert(hash);
        self.woken.notify_one();
    }

    /// Sets when to look at `hash` again (replacing its previous plan); an empty plan forgets it
    /// until it is woken.
    pub fn plan(&self, hash: [u8; 32], plan: Plan) {
        self.lock().set(hash, plan);
    }

    /// Like [`plan`](Self::plan), but never later than a plan `hash` already has (each of the
    /// time and the height the earlier of both). For plans made from a read that may be older
    /// than a plan made meanwhile (the full pass): an early look costs a read, a late one a
    /// payment left waiting. One lock: no plan made in between is lost.
    pub fn plan_no_later(&self, hash: [u8; 32], plan: Plan) {
        fn earlier<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        let mut inner = self.lock();
        let merged = match inner.plans.get(&hash) {
            Some(old) => Plan {
                at_secs: earlier(old.at_secs, plan.at_secs),
                at_height: earlier(old.at_height, plan.at_height),
            },
            None => plan,
        };
        inner.set(hash, merged);
    }

    /// Forgets everything (before a full pass plans every payment again).
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.by_time.clear();
        inner.by_height.clear();
        inner.plans.clear();
    }

    /// Takes the hashes due at `now_secs` and `height` (woken, or planned at or before them);
    /// they are forgotten until planned again.
    pub fn take_due(&self, now_secs: u64, height: u32) -> Vec<[u8; 32]> {
        let mut inner = self.lock();
        let mut due: HashSet<[u8; 32]> = std::mem::take(&mut inner.dirty);
        while let Some(&(t, hash)) = inner.by_time.first() {
            if t > now_secs {
                break;
            }
            inner.by_time.pop_first();
            due.insert(hash);
        }
        while let Some(&(h, hash)) = inner.by_height.first() {
            if h > height {
                break;
            }
            inner.by_height.pop_first();
            due.insert(hash);
        }
        for hash in &due {
            inner.unplan(hash);
        }
        due.into_iter().collect()
    }

    /// The earliest planned time, if any.
    pub fn next_secs(&self) -> Option<u64> {
        self.lock().by_time.first().map(|(t, _)| *t)
    }

    /// How many payments have a plan.
    pub fn planned(&self) -> usize {
        self.lock().plans.len()
    }

    /// Waits until [`wake`](Self::wake) is called (returns at once if it was since the last wait).
    pub async fn woken(&self) {
        self.woken.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_from_an_older_read_never_postpones_a_newer_one() {
        let s = Schedule::default();
        let hash = [7; 32];
        // The offer plans its expiry; a full pass that read the record before the invoice was
        // stored plans a minute later: the expiry stands.
        s.plan(hash, Plan { at_secs: Some(102), at_height: None });
        s.plan_no_later(hash, Plan { at_secs: Some(161), at_height: Some(50) });
        assert_eq!(s.take_due(101, 49), Vec::<[u8; 32]>::new());
        assert_eq!(s.take_due(102, 0), vec![hash], "due at the earlier time");
        // Without an earlier plan it is an ordinary plan.
        s.plan_no_later(hash, Plan { at_secs: Some(161), at_height: Some(50) });
        assert_eq!(s.take_due(0, 50), vec![hash], "due at the height");
    }

    #[test]
    fn only_what_is_due_is_taken_and_then_forgotten() {
        let s = Schedule::default();
        s.plan([1; 32], Plan { at_secs: Some(100), at_height: None });
        s.plan([2; 32], Plan { at_secs: Some(200), at_height: Some(50) });
        s.plan([3; 32], Plan { at_secs: None, at_height: Some(60) });
        assert!(s.take_due(99, 49).is_empty(), "nothing is due");
        assert_eq!(s.planned(), 3);
        assert_eq!(s.take_due(100, 49), vec![[1; 32]]);
        let mut due = s.take_due(100, 60);
        due.sort();
        assert_eq!(due, vec![[2; 32], [3; 32]], "by height, whatever the time");
        assert_eq!(s.planned(), 0, "taken payments are forgotten (their time entry too)");
        assert!(s.take_due(1_000, 1_000).is_empty());
        assert_eq!(s.next_secs(), None);
    }

    #[test]
    fn a_new_plan_replaces_the_old_and_waking_takes_it_at_once() {
        let s = Schedule::default();
        s.plan([1; 32], Plan { at_secs: Some(100), at_height: None });
        s.plan([1; 32], Plan { at_secs: Some(300), at_height: None });
        assert!(s.take_due(200, 0).is_empty(), "the old time is gone");
        assert_eq!(s.next_secs(), Some(300));
        s.wake([1; 32]);
        assert_eq!(s.take_due(0, 0), vec![[1; 32]]);
        assert_eq!(s.next_secs(), None);
        s.plan([4; 32], Plan::default());
        assert_eq!(s.planned(), 0, "an empty plan is no plan");
    }
}
