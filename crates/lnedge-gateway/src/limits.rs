//! Rate limits of open routes that hold across replicas (`gateway.limits()`).
//!
//! One token bucket per scope and client lives in the store ([`RateStore`]), so every replica
//! on one PostgreSQL database spends from the same budget. A bucket holds up to `per_minute`
//! tokens (the burst) and refills continuously at `per_minute` a minute. The refill is computed
//! here, on the engine's clock, and written back with the store's compare-and-set; a lost race
//! reads again, so two replicas never both spend a client's last token.
//!
//! Two ways to spend: [`RateLimits::spend`] for routes where every request counts (an LNURL-auth
//! challenge, a relay payer invoice), and [`RateLimits::check`] + [`RateLimits::failed`] for
//! routes where only failures count (proofs of payment: an honest user is never slowed down).

use std::sync::Arc;

use crate::engine::parts::Parts;
use crate::store::{RateBucket, StoreError};

/// Compare-and-set rounds before giving up (each lost round means another request of the same
/// client was counted).
const MAX_ROUNDS: usize = 16;

/// How long an untouched bucket is kept (it is full again long before).
pub const BUCKET_RETENTION_MS: u64 = 3_600_000;

/// A budget: tokens a minute, also the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Tokens a minute and the most a client may spend at once (at least 1).
    pub per_minute: u32,
}

impl Budget {
    /// A budget of `per_minute` a minute (0 counts as 1).
    pub fn per_minute(per_minute: u32) -> Self {
        Budget { per_minute: per_minute.max(1) }
    }

    fn rate_per_ms(self) -> f64 {
        f64::from(self.per_minute) / 60_000.0
    }

    /// The tokens of a bucket that had `tokens` at `since_ms`, at `now_ms`.
    fn refill(self, tokens: f64, since_ms: u64, now_ms: u64) -> f64 {
        let elapsed = now_ms.saturating_sub(since_ms) as f64;
        (tokens + elapsed * self.rate_per_ms()).min(f64::from(self.per_minute))
    }

    /// Seconds until a bucket with `tokens` has one again.
    fn wait_secs(self, tokens: f64) -> u64 {
        (((1.0 - tokens).max(0.0) / self.rate_per_ms()) / 1_000.0).ceil().max(1.0) as u64
    }
}

/// A client over its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many requests: retry in {retry_after_secs} s")]
pub struct Limited {
    /// Seconds until the client may try again.
    pub retry_after_secs: u64,
}

/// Why a rate-limit decision could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The client is over its budget.
    #[error(transparent)]
    Limited(#[from] Limited),
    /// The store failed (the request is refused: a limit that cannot be checked is not waived).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rate limits of a [`Gateway`](crate::engine::Gateway)
/// ([`Gateway::limits`](crate::engine::Gateway::limits)).
#[derive(Debug, Clone, Copy)]
pub struct RateLimits<'a> {
    gateway: &'a Arc<Parts>,
}

impl<'a> RateLimits<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        RateLimits { gateway }
    }

    fn now_ms(&self) -> u64 {
        self.gateway.now_secs().saturating_mul(1_000)
    }

    /// Whether `client` has a token left in `scope` (spends nothing).
    pub async fn check(&self, scope: &str, client: &str, budget: Budget) -> Result<(), LimitError> {
        let key = format!("{scope}:{client}");
        let Some(bucket) = self.gateway.store().rate_bucket(&key).await? else {
            return Ok(());
        };
        let tokens = budget.refill(bucket.tokens, bucket.updated_at_ms, self.now_ms());
        if tokens >= 1.0 {
            Ok(())
        } else {
            Err(Limited { retry_after_secs: budget.wait_secs(tokens) }.into())
        }
    }

    /// Spends one token of `client` in `scope`, or answers [`Limited`] if it has none.
    pub async fn spend(&self, scope: &str, client: &str, budget: Budget) -> Result<(), LimitError> {
        self.take(scope, client, budget, true).await
    }

    /// Spends one token for a failed attempt; a client already at zero stays at zero.
    pub async fn failed(
        &self,
        scope: &str,
        client: &str,
        budget: Budget,
    ) -> Result<(), StoreError> {
        match self.take(scope, client, budget, false).await {
            Ok(()) | Err(LimitError::Limited(_)) => Ok(()),
            Err(LimitError::Store(e)) => Err(e),
        }
    }

    async fn take(
        &self,
        scope: &str,
        client: &str,
        budget: Budget,
        refuse_when_empty: bool,
    ) -> Result<(), LimitError> {
        let key = format!("{scope}:{client}");
        let store = self.gateway.store();
        for _ in 0..MAX_ROUNDS {
            let now_ms = self.now_ms();
            let read = store.rate_bucket(&key).await?;
            let (tokens, version) = match &read {
                Some(b) => (budget.refill(b.tokens, b.updated_at_ms, now_ms), b.version + 1),
                None => (f64::from(budget.per_minute), 1),
            };
            if tokens < 1.0 && refuse_when_empty {
                return Err(Limited { retry_after_secs: budget.wait_secs(tokens) }.into());
            }
            let next = RateBucket {
                key: key.clone(),
                tokens: (tokens - 1.0).max(0.0),
                updated_at_ms: now_ms,
                version,
            };
            match store.put_rate_bucket(&next).await {
                Ok(()) => return Ok(()),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict.into())
    }

    /// Deletes buckets untouched for [`BUCKET_RETENTION_MS`]; answers how many went.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let before = self.now_ms().saturating_sub(BUCKET_RETENTION_MS);
        self.gateway.store().purge_rate_buckets(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let b = Budget::per_minute(6); // one token every 10 s
        assert_eq!(b.refill(0.0, 0, 10_000), 1.0);
        assert_eq!(b.refill(0.0, 0, 5_000), 0.5);
        assert_eq!(b.refill(5.5, 0, 3_600_000), 6.0, "never above the burst");
        assert_eq!(b.refill(2.0, 10_000, 5_000), 2.0, "a clock going back adds nothing");
        assert_eq!(b.wait_secs(0.0), 10);
        assert_eq!(b.wait_secs(0.5), 5);
        assert_eq!(Budget::per_minute(0).per_minute, 1);
    }
}
