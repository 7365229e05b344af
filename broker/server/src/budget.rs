//! The broker-wide budget of request bytes in flight: Kafka's `queued.max.request.bytes`.
//!
//! A connection reserves its next frame's size (from the length prefix) before it reads the
//! body, and gives it back once the response is written. When the budget is short the
//! connection simply stops reading (as Kafka mutes the channel), so the bytes stay in the
//! kernel's socket buffer and TCP pushes back on the client instead of the broker allocating.
//!
//! Waiters are not served first-come-first-served: every release wakes them all and any
//! request that now fits goes ahead. That is Kafka's behaviour (muted channels retry on every
//! poll) and it lets small requests — heartbeats, fetches — pass a large one parked behind a
//! full budget. A frame larger than the whole budget takes the whole budget, alone, so it waits
//! for everything else to drain but is never refused or deadlocked.
//!
//! Safe to share between threads (`Arc<RequestBudget>`).

use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::Notify;

pub struct RequestBudget {
    /// `None`: unbounded (Kafka's `-1`), nothing is counted.
    total: Option<usize>,
    available: Mutex<usize>,
    released: Notify,
}

/// Bytes reserved for one request; released on drop (after its response is written).
#[must_use = "the reservation is released as soon as the permit is dropped"]
pub struct BudgetPermit {
    budget: Arc<RequestBudget>,
    bytes: usize,
}

impl RequestBudget {
    /// A budget of `total` bytes, or unbounded for `None`.
    pub fn new(total: Option<usize>) -> Arc<RequestBudget> {
        Arc::new(RequestBudget {
            total,
            available: Mutex::new(total.unwrap_or(0)),
            released: Notify::new(),
        })
    }

    /// Bytes not reserved right now (`usize::MAX` when unbounded).
    pub fn available(&self) -> usize {
        match self.total {
            Some(_) => *self.available.lock(),
            None => usize::MAX,
        }
    }

    /// Reserves `bytes` (capped at the whole budget) if that fits now.
    pub fn try_acquire(self: &Arc<Self>, bytes: usize) -> Option<BudgetPermit> {
        let Some(total) = self.total else {
            return Some(self.permit(0));
        };
        let want = bytes.min(total);
        let mut available = self.available.lock();
        if *available >= want {
            *available -= want;
            Some(self.permit(want))
        } else {
            None
        }
    }

    /// Reserves `bytes` (capped at the whole budget), waiting until enough is released.
    pub async fn acquire(self: &Arc<Self>, bytes: usize) -> BudgetPermit {
        loop {
            // Register for the wake-up before looking, so a release in between is not missed.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if let Some(permit) = self.try_acquire(bytes) {
                return permit;
            }
            released.await;
        }
    }

    fn permit(self: &Arc<Self>, bytes: usize) -> BudgetPermit {
        BudgetPermit {
            budget: self.clone(),
            bytes,
        }
    }

    fn release(&self, bytes: usize) {
        if bytes == 0 {
            return;
        }
        *self.available.lock() += bytes;
        self.released.notify_waiters();
    }
}

impl BudgetPermit {
    /// Bytes this permit holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.release(self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
    }

    /// `fut`'s output if it is ready on its first poll (a zero timeout polls it exactly once).
    async fn ready<F: std::future::Future>(fut: F) -> Option<F::Output> {
        tokio::time::timeout(Duration::ZERO, fut).await.ok()
    }

    #[test]
    fn requests_that_fit_are_admitted_and_their_bytes_come_back_on_drop() {
        let budget = RequestBudget::new(Some(100));
        let a = budget.try_acquire(60).unwrap();
        let b = budget.try_acquire(40).unwrap();
        assert_eq!(budget.available(), 0);
        assert!(budget.try_acquire(1).is_none());
        drop(a);
        assert_eq!(budget.available(), 60);
        drop(b);
        assert_eq!(budget.available(), 100);
    }

    #[test]
    fn a_request_that_does_not_fit_waits_until_enough_is_released() {
        runtime().block_on(async {
            let budget = RequestBudget::new(Some(100));
            let held = budget.try_acquire(80).unwrap();
            let waiting = budget.acquire(50);
            tokio::pin!(waiting);
            assert!(ready(&mut waiting).await.is_none(), "admitted over budget");
            drop(held);
            let permit = ready(&mut waiting).await.expect("woken by the release");
            assert_eq!(permit.bytes(), 50);
            assert_eq!(budget.available(), 50);
        });
    }

    #[test]
    fn a_frame_larger_than_the_budget_takes_all_of_it_alone() {
        runtime().block_on(async {
            let budget = RequestBudget::new(Some(100));
            let small = budget.try_acquire(10).unwrap();
            let huge = budget.acquire(1_000);
            tokio::pin!(huge);
            assert!(ready(&mut huge).await.is_none(), "must wait for the rest");
            drop(small);
            let permit = ready(&mut huge).await.expect("no deadlock");
            assert_eq!(permit.bytes(), 100);
            assert!(budget.try_acquire(1).is_none(), "it holds everything");
            drop(permit);
            assert_eq!(budget.available(), 100);
        });
    }

    #[test]
    fn small_requests_pass_a_large_one_that_is_waiting() {
        runtime().block_on(async {
            let budget = RequestBudget::new(Some(100));
            let held = budget.try_acquire(70).unwrap();
            let large = budget.acquire(50);
            tokio::pin!(large);
            assert!(ready(&mut large).await.is_none());
            let small = ready(budget.acquire(20)).await.expect("small one fits");
            drop(small);
            drop(held);
            assert!(ready(&mut large).await.is_some());
        });
    }

    #[test]
    fn a_dropped_waiter_reserves_nothing() {
        runtime().block_on(async {
            let budget = RequestBudget::new(Some(100));
            let held = budget.try_acquire(100).unwrap();
            assert!(ready(budget.acquire(30)).await.is_none());
            drop(held);
            assert_eq!(budget.available(), 100);
        });
    }

    #[test]
    fn unbounded_counts_nothing() {
        let budget = RequestBudget::new(None);
        let p = budget.try_acquire(usize::MAX).unwrap();
        assert_eq!(p.bytes(), 0);
        assert_eq!(budget.available(), usize::MAX);
    }
}
