//! A value that is costly to compute (a stats pass over every container),
//! kept for a short maximum age and computed by one caller at a time:
//! callers that arrive while a refresh runs wait for it and share its
//! result instead of starting their own (single flight). Nothing runs
//! between calls, so an idle node spends no CPU on stats.
//!
//! The lock is only held to look at or replace the value, never while it
//! is computed; callers run on blocking threads (the stats RPCs run on
//! tokio's blocking pool), so waiting on the condition variable is fine.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a stats pass stays good: well under the kubelet's 10 s
/// housekeeping period, long enough that its ListPodSandboxStats and
/// ListContainerStats (and a burst of clients) share one pass.
pub const MAX_AGE: Duration = Duration::from_secs(1);

/// The kept value, when it was taken, and whether a refresh runs.
#[derive(Debug)]
struct Slot<T> {
    value: Option<(Instant, Arc<T>)>,
    refreshing: bool,
    /// Counts finished refreshes, so a waiter knows one ended since it came.
    generation: u64,
}

/// A single-flight cache of one value with a maximum age.
#[derive(Debug)]
pub struct SingleFlight<T> {
    slot: Mutex<Slot<T>>,
    done: Condvar,
    max_age: Duration,
}

impl<T> SingleFlight<T> {
    /// An empty cache whose value is refreshed once older than `max_age`.
    pub fn new(max_age: Duration) -> Self {
        SingleFlight {
            slot: Mutex::new(Slot {
                value: None,
                refreshing: false,
                generation: 0,
            }),
            done: Condvar::new(),
            max_age,
        }
    }

    /// The kept value if it is at most the maximum age old, else the one
    /// `refresh` computes now (or that a concurrent caller's refresh
    /// computes, waited for).
    pub fn get(&self, refresh: impl FnOnce() -> T) -> Arc<T> {
        self.get_at(Instant::now(), refresh)
    }

    /// [`SingleFlight::get`] as if called at `now`.
    pub fn get_at(&self, now: Instant, refresh: impl FnOnce() -> T) -> Arc<T> {
        let mut slot = self.lock();
        let arrived = slot.generation;
        loop {
            if let Some((taken, value)) = &slot.value {
                let fresh = now.saturating_duration_since(*taken) <= self.max_age;
                // A refresh that ended while this caller waited is as fresh
                // as this caller can hope for: take it rather than start
                // another (a pass slower than the max age would otherwise
                // run back to back).
                if fresh || slot.generation != arrived {
                    return Arc::clone(value);
                }
            }
            if !slot.refreshing {
                break;
            }
            slot = self.done.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
        slot.refreshing = true;
        drop(slot);
        let mut guard = Refreshing {
            cache: self,
            finished: false,
        };
        let value = Arc::new(refresh());
        let mut slot = self.lock();
        slot.value = Some((now, Arc::clone(&value)));
        slot.generation = slot.generation.wrapping_add(1);
        slot.refreshing = false;
        guard.finished = true;
        drop(slot);
        self.done.notify_all();
        value
    }

    fn lock(&self) -> MutexGuard<'_, Slot<T>> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Lets the waiters go if a refresh unwinds (one of them refreshes next).
struct Refreshing<'a, T> {
    cache: &'a SingleFlight<T>,
    finished: bool,
}

impl<T> Drop for Refreshing<'_, T> {
    fn drop(&mut self) {
        if !self.finished {
            self.cache.lock().refreshing = false;
            self.cache.done.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    #[test]
    fn a_value_is_kept_for_the_max_age_then_refreshed() {
        let cache = SingleFlight::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(*cache.get_at(t0, || 1), 1);
        let kept = cache.get_at(t0 + Duration::from_millis(500), || 2);
        assert_eq!(*kept, 1, "within the max age the kept value answers");
        let later = cache.get_at(t0 + Duration::from_secs(2), || 3);
        assert_eq!(*later, 3, "an older value is refreshed");
        assert_eq!(*cache.get_at(t0 + Duration::from_secs(2), || 4), 3);
    }

    #[test]
    fn concurrent_callers_share_one_refresh() {
        let cache = Arc::new(SingleFlight::new(Duration::from_secs(60)));
        let refreshes = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let first = {
            let (cache, refreshes) = (Arc::clone(&cache), Arc::clone(&refreshes));
            std::thread::spawn(move || {
                *cache.get(|| {
                    refreshes.fetch_add(1, Ordering::SeqCst);
                    started_tx.send(()).unwrap();
                    // Holds the refresh open until the others are waiting.
                    release_rx.recv().unwrap();
                    7
                })
            })
        };
        started_rx.recv().unwrap();
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let (cache, refreshes) = (Arc::clone(&cache), Arc::clone(&refreshes));
                std::thread::spawn(move || {
                    *cache.get(|| {
                        refreshes.fetch_add(1, Ordering::SeqCst);
                        0
                    })
                })
            })
            .collect();
        // The waiters block on the running refresh (they cannot finish
        // before it is released); whether they got there yet or not, none
        // may compute its own.
        release_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap(), 7);
        for w in waiters {
            assert_eq!(w.join().unwrap(), 7);
        }
        assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_waiter_takes_a_refresh_that_ended_even_if_already_old() {
        // Max age zero: every value is stale at once, yet a caller that
        // waited for a refresh must not start another.
        let cache = Arc::new(SingleFlight::new(Duration::ZERO));
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let t0 = Instant::now();
        let first = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                *cache.get_at(t0, || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    1
                })
            })
        };
        started_rx.recv().unwrap();
        let waiter = {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || *cache.get_at(t0 + Duration::from_secs(5), || 2))
        };
        release_tx.send(()).unwrap();
        assert_eq!(first.join().unwrap(), 1);
        // Either it waited (and shares 1) or came after the refresh ended
        // (and, the value being stale, computed 2); never a lost update.
        let got = waiter.join().unwrap();
        assert!(got == 1 || got == 2, "{got}");
        assert_eq!(*cache.get_at(t0 + Duration::from_secs(10), || 3), 3);
    }

    #[test]
    fn a_refresh_that_panics_lets_the_next_caller_refresh() {
        let cache = SingleFlight::<u32>::new(Duration::from_secs(60));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.get(|| panic!("pass failed"));
        }));
        assert!(result.is_err());
        assert_eq!(*cache.get(|| 5), 5);
    }
}
