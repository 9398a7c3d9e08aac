//! The per-client budget of failed proof verifications: a token bucket per client, in memory
//! (per replica), refilled continuously at `per_minute` tokens a minute up to `per_minute`.
//!
//! Only *failures* spend tokens: an honest user with a valid proof is never slowed down, while
//! guessing preimages or secrets is capped (the guesses are hopeless anyway — 2²⁵⁶ — the budget
//! keeps the service cheap under abuse). The relay's open payer route spends a token on every
//! request instead ([`FailureLimiter::spend`]). Clients are identified by `api::client`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets above this count are pruned (full buckets are forgotten first).
const MAX_CLIENTS: usize = 10_000;

/// Token buckets of failed verifications, keyed by client.
#[derive(Debug)]
pub struct FailureLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl FailureLimiter {
    /// A limiter allowing `per_minute` failures a minute per client (and a burst of as many).
    pub fn new(per_minute: u32) -> Self {
        FailureLimiter { per_minute: per_minute.max(1), buckets: Mutex::new(HashMap::new()) }
    }

    /// The rate: tokens a minute, also the burst.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    fn refill(&self, tokens: f64, since: Instant, now: Instant) -> f64 {
        let rate = f64::from(self.per_minute) / 60.0;
        (tokens + now.duration_since(since).as_secs_f64() * rate).min(f64::from(self.per_minute))
    }

    /// Whether `client` may try (has at least one token left). `Err` carries the seconds until
    /// it may try again.
    pub fn check(&self, client: &str) -> Result<(), u64> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match buckets.get(client) {
            None => Ok(()),
            Some(&(tokens, since)) => {
                let tokens = self.refill(tokens, since, now);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    let rate = f64::from(self.per_minute) / 60.0;
                    Err(((1.0 - tokens) / rate).ceil() as u64)
                }
            }
        }
    }

    /// Spends one token of `client` if it has one (for routes where every request counts, like
    /// the relay's open payer route); `Err` carries the seconds until it may try again.
    pub fn spend(&self, client: &str) -> Result<(), u64> {
        self.check(client)?;
        self.failed(client);
        Ok(())
    }

    /// Spends one token of `client` for a failed attempt.
    pub fn failed(&self, client: &str) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            let full = f64::from(self.per_minute);
            buckets.retain(|_, (tokens, since)| self.refill(*tokens, *since, now) < full);
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, since) =
            buckets.get(client).copied().unwrap_or((f64::from(self.per_minute), now));
        let tokens = (self.refill(tokens, since, now) - 1.0).max(0.0);
        buckets.insert(client.to_owned(), (tokens, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_capped_per_client() {
        let limiter = FailureLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.check("1.2.3.4").is_ok());
            limiter.failed("1.2.3.4");
        }
        let wait = limiter.check("1.2.3.4").expect_err("over budget");
        assert!(wait >= 1, "{wait}");
        assert!(limiter.check("5.6.7.8").is_ok(), "other clients are not affected");
    }
}
