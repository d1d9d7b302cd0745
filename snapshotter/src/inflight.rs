//! Per-key locks for work that must happen once: downloading a blob,
//! unpacking a layer.
//!
//! The second pull of a digest waits on the first one's lock and then finds
//! the blob (or snapshot) in place, so two concurrent pulls of one image share
//! one download. Entries are dropped when nobody holds or waits for them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::digest::Digest;

/// A map of async locks keyed by digest.
#[derive(Debug, Default, Clone)]
pub struct InFlight {
    locks: Arc<Mutex<HashMap<Digest, Arc<AsyncMutex<()>>>>>,
}

/// Holds the work on one digest; the map entry goes when the last holder
/// or waiter is done.
pub struct Claim {
    guard: Option<OwnedMutexGuard<()>>,
    key: Digest,
    locks: Arc<Mutex<HashMap<Digest, Arc<AsyncMutex<()>>>>>,
}

impl InFlight {
    /// Waits until no one else works on `key`, then claims it.
    pub async fn claim(&self, key: &Digest) -> Claim {
        let lock = {
            let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let guard = lock.lock_owned().await;
        Claim {
            guard: Some(guard),
            key: key.clone(),
            locks: self.locks.clone(),
        }
    }

    /// Keys currently claimed or waited for (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        drop(self.guard.take());
        // Only the map and this claim's released lock hold the Arc: no waiter.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn second_claim_waits_for_the_first_and_entries_are_cleared() {
        let inflight = InFlight::default();
        let key = Digest::of(b"x");
        let first = inflight.claim(&key).await;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let other = inflight.clone();
        let k = key.clone();
        let waiter = tokio::spawn(async move {
            let _c = other.claim(&k).await;
            let _ = tx.send(());
        });
        tokio::task::yield_now().await;
        assert!(rx.try_recv().is_err(), "second claim got in while held");
        drop(first);
        waiter.await.unwrap();
        assert_eq!(inflight.len(), 0);
    }
}
