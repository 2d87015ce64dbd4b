//! A client's retry budget: retries and hedges may add at most a share of its calls, plus a
//! small floor per second, so that a failing backend does not get each call three times.
//!
//! Finagle's `RetryBudget` (every call deposits `percent_can_retry` of a token, every retry
//! withdraws one, and a reserve of `min_retries_per_sec` keeps a quiet client able to retry)
//! and gRPC's retry throttling (gRFC A6: retries stop while the token count is low) have the
//! same aim: retries amplify load exactly when a backend is failing. Here a call deposits
//! `ratio` tokens, a retry or a hedge spends one, and the floor adds `min_per_sec` tokens per
//! second. It starts with a reserve of ten seconds of floor (`min_per_sec` × 10: none
//! without a floor), and the balance is capped at ten seconds of floor, at least 10 tokens
//! (so a budget of calls alone can still bank a few retries from its calls), so a long calm
//! period does not bank a storm of retries. Over any stretch of time, then, retries ≤
//! `ratio` × calls + `min_per_sec` × seconds + the cap; `new(0.0, 0)` allows none.
//!
//! Lock-free: the balance is an atomic count of milli-tokens; the floor is added lazily, when
//! a retry asks, for the time since it was last added.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// Milli-tokens per token.
const MILLI: i64 = 1000;

/// How long a quiet client's floor may accumulate for.
const FLOOR_WINDOW: Duration = Duration::from_secs(10);

/// The retry budget of one client (see the module docs). Default: 10% of calls plus 10 per
/// second.
#[derive(Debug)]
pub struct RetryBudget {
    /// Milli-tokens a call deposits.
    per_call: i64,
    /// Milli-tokens the floor adds per second.
    floor_per_sec: i64,
    /// The most milli-tokens the balance holds.
    cap: i64,
    balance: AtomicI64,
    /// Nanoseconds since `epoch` when the floor was last added.
    floored_at: AtomicU64,
    epoch: Instant,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(0.1, 10)
    }
}

impl RetryBudget {
    /// Retries (and hedges) up to `ratio` of the calls (0.1 = 10%, 0 to 1000) plus
    /// `min_per_sec` per second. It starts with ten seconds of floor (`min_per_sec` × 10: the
    /// default starts with 100), and holds at most that, or 10 tokens if more (so a budget of
    /// calls alone banks up to 10 retries from its calls). `new(0.1, 0)` starts empty and
    /// earns a retry per 10 calls; `new(0.0, 0)` allows none.
    ///
    /// # Panics
    /// If `ratio` is not within 0..=1000 (NaN included), as tower's `TpsBudget` does: the
    /// config file refuses the same values.
    pub fn new(ratio: f64, min_per_sec: u32) -> RetryBudget {
        if let Err(why) = RetryBudget::check_ratio(ratio) {
            panic!("RetryBudget::new: ratio {why}");
        }
        let per_call = (ratio * MILLI as f64).round() as i64;
        let floor_per_sec = i64::from(min_per_sec) * MILLI;
        let reserve = floor_per_sec * FLOOR_WINDOW.as_secs() as i64;
        let cap = reserve.max(10 * MILLI);
        RetryBudget {
            per_call,
            floor_per_sec,
            cap,
            balance: AtomicI64::new(reserve),
            floored_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    /// Whether `ratio` can be a budget's share of calls: within 0..=1000 (NaN is not).
    /// [`RetryBudget::new`] checks it; the config crate reports it against the file's key.
    ///
    /// # Errors
    /// Why not: `"must be within 0..=1000 (0.1 = 10% of calls), got NaN"`.
    pub fn check_ratio(ratio: f64) -> Result<(), String> {
        if (0.0..=1000.0).contains(&ratio) {
            return Ok(());
        }
        Err(format!(
            "must be within 0..=1000 (0.1 = 10% of calls), got {ratio}"
        ))
    }

    /// A budget that refuses every retry and hedge: fail modes then act as `failfast` (for
    /// tests, and to turn retries off without removing the layer).
    pub fn none() -> RetryBudget {
        let mut budget = RetryBudget::new(0.0, 0);
        budget.cap = 0;
        budget.balance = AtomicI64::new(0);
        budget
    }

    /// A call was made: deposit its share.
    pub fn deposit(&self) {
        // A full budget (a healthy client's, nearly always) takes nothing: one read, no
        // write to the line every caller shares.
        if self.per_call == 0 || self.balance.load(Ordering::Relaxed) >= self.cap {
            return;
        }
        let after = self.balance.fetch_add(self.per_call, Ordering::Relaxed) + self.per_call;
        if after > self.cap {
            self.balance.fetch_min(self.cap, Ordering::Relaxed);
        }
    }

    /// Spend one token for a retry or a hedge: `false` (nothing spent) when the budget is
    /// exhausted.
    pub fn withdraw(&self) -> bool {
        self.add_floor();
        let mut balance = self.balance.load(Ordering::Relaxed);
        loop {
            if balance < MILLI {
                return false;
            }
            match self.balance.compare_exchange_weak(
                balance,
                balance - MILLI,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => balance = now,
            }
        }
    }

    /// Whole tokens left now.
    pub fn balance(&self) -> u64 {
        self.add_floor();
        (self.balance.load(Ordering::Relaxed).max(0) / MILLI) as u64
    }

    /// Add the floor's tokens for the time since they were last added (by whoever wins the
    /// race to move the timestamp).
    fn add_floor(&self) {
        if self.floor_per_sec == 0 {
            return;
        }
        let now = self.epoch.elapsed().as_nanos() as u64;
        let then = self.floored_at.load(Ordering::Relaxed);
        let earned =
            (now.saturating_sub(then) as i128 * self.floor_per_sec as i128 / 1_000_000_000) as i64;
        if earned < 1 {
            return;
        }
        if self
            .floored_at
            .compare_exchange(then, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            let after = self.balance.fetch_add(earned, Ordering::Relaxed) + earned;
            if after > self.cap {
                self.balance.fetch_min(self.cap, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_outside_its_range_is_refused_not_clamped() {
        for ratio in [f64::NAN, -0.1, 1000.5, f64::INFINITY] {
            let text = crate::engine::task_guard::refusal(|| RetryBudget::new(ratio, 10));
            assert!(
                text.as_deref()
                    .is_some_and(|t| t.contains("ratio must be within 0..=1000")),
                "{ratio}: {text:?}"
            );
        }
        let _ = RetryBudget::new(0.0, 0);
        let _ = RetryBudget::new(1000.0, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_are_a_share_of_calls_plus_a_floor() {
        let budget = RetryBudget::new(0.1, 10);
        // It starts with ten seconds of floor: 100 tokens.
        let mut granted = 0;
        while budget.withdraw() {
            granted += 1;
        }
        assert_eq!(granted, 100);
        // 1,000 calls buy 100 retries.
        for _ in 0..1000 {
            budget.deposit();
        }
        let mut granted = 0;
        while budget.withdraw() {
            granted += 1;
        }
        assert_eq!(granted, 100);
        // A second adds the floor's 10.
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut granted = 0;
        while budget.withdraw() {
            granted += 1;
        }
        assert_eq!(granted, 10);
        // The balance never passes the cap, however calm the client was.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..100_000 {
            budget.deposit();
        }
        assert_eq!(budget.balance(), 100);
        assert!(!RetryBudget::none().withdraw());
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_floor_it_starts_empty() {
        // No share, no floor: no retry at all, however long the client waits.
        let none = RetryBudget::new(0.0, 0);
        assert!(!none.withdraw());
        for _ in 0..1000 {
            none.deposit();
        }
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(!none.withdraw());
        // A share alone: empty at first, a retry per 10 calls, banking at most 10.
        let share = RetryBudget::new(0.1, 0);
        assert!(!share.withdraw());
        for _ in 0..10 {
            share.deposit();
        }
        assert!(share.withdraw());
        assert!(!share.withdraw());
        for _ in 0..1000 {
            share.deposit();
        }
        assert_eq!(share.balance(), 10);
    }
}
