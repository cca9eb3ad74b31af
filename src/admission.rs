//! Backpressure: how many analyses run at once, and how many may wait.
//!
//! The model server answers a few requests at a time (llama-server's `--parallel`
//! slots); every other request waits. Unbounded, a burst of asks piles up: memory grows,
//! every request gets slower, clients time out and retry, and the pile grows more. So:
//!
//! - at most `max_running` analyses hold a model slot at once (a semaphore; the incident
//!   bots' workers take slots too, so chat and investigations share the model fairly);
//! - at most `max_queued` more HTTP requests wait for one; beyond that a request is
//!   refused at once with 429 and a `Retry-After` estimated from recent run times. A quick
//!   "come back in 40 s" beats a timeout after 10 minutes.
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The limits.
#[derive(Debug, Clone)]
pub struct Admission {
    running: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    /// Mean run time, ms (exponentially weighted), for `Retry-After`.
    mean_ms: Arc<AtomicU64>,
    max_running: usize,
    max_queued: usize,
}

/// Refused: the queue is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overloaded {
    /// Requests running or waiting now.
    pub admitted: usize,
    /// When to try again, seconds.
    pub retry_after_secs: u64,
}

/// A request's place in line; leaving (drop) frees it.
#[derive(Debug)]
pub struct Ticket {
    admitted: Arc<AtomicUsize>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for Admission {
    fn default() -> Self {
        Self::new(2, 8)
    }
}

impl Admission {
    /// `max_running` at once (at least 1), `max_queued` more waiting.
    pub fn new(max_running: usize, max_queued: usize) -> Self {
        let max_running = max_running.max(1);
        Self {
            running: Arc::new(Semaphore::new(max_running)),
            admitted: Arc::new(AtomicUsize::new(0)),
            mean_ms: Arc::new(AtomicU64::new(30_000)),
            max_running,
            max_queued,
        }
    }

    /// A place in line, or [`Overloaded`] when running + waiting is at the limit.
    pub fn try_enter(&self) -> Result<Ticket, Overloaded> {
        let cap = self.max_running + self.max_queued;
        let mut now = self.admitted.load(Ordering::Acquire);
        loop {
            if now >= cap {
                return Err(Overloaded {
                    admitted: now,
                    retry_after_secs: self.retry_after(now),
                });
            }
            match self
                .admitted
                .compare_exchange(now, now + 1, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    return Ok(Ticket {
                        admitted: self.admitted.clone(),
                    });
                }
                Err(actual) => now = actual,
            }
        }
    }

    /// Waits for a model slot; it is held until the permit is dropped.
    pub async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.running.clone().acquire_owned().await.ok()
    }

    /// Records how long a run took (for `Retry-After`).
    pub fn observe(&self, took: Duration) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX).max(1);
        let old = self.mean_ms.load(Ordering::Relaxed);
        // Weight 1/5: a few slow runs move it, one outlier does not.
        self.mean_ms.store((old * 4 + ms) / 5, Ordering::Relaxed);
    }

    /// Requests running or waiting.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Roughly when a place frees up for a newcomer: the queue ahead of it, served
    /// `max_running` at a time, at the mean run time; 1 s to 10 min.
    fn retry_after(&self, admitted: usize) -> u64 {
        let rounds = admitted.div_ceil(self.max_running) as u64;
        let secs = (self.mean_ms.load(Ordering::Relaxed) * rounds).div_ceil(1000);
        secs.clamp(1, 600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admits_up_to_running_plus_queued_then_refuses() {
        let a = Admission::new(1, 2);
        let t1 = a.try_enter().unwrap();
        let _t2 = a.try_enter().unwrap();
        let _t3 = a.try_enter().unwrap();
        let refused = a.try_enter().unwrap_err();
        assert_eq!(refused.admitted, 3);
        // 3 ahead, one at a time, 30 s each (the starting estimate).
        assert_eq!(refused.retry_after_secs, 90);
        drop(t1);
        assert!(a.try_enter().is_ok(), "a place freed up");
    }

    #[tokio::test]
    async fn one_slot_runs_at_a_time() {
        let a = Admission::new(1, 5);
        let first = a.slot().await.unwrap();
        let b = a.clone();
        let waiting = tokio::spawn(async move { b.slot().await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second waits for the slot");
        drop(first);
        assert!(waiting.await.unwrap().is_some());
    }

    #[test]
    fn retry_after_follows_observed_run_times() {
        let a = Admission::new(2, 0);
        for _ in 0..50 {
            a.observe(Duration::from_secs(4));
        }
        assert_eq!(a.retry_after(4), 8, "4 ahead, 2 at a time, 4 s each");
        assert_eq!(a.retry_after(0), 1, "at least a second");
    }
}
