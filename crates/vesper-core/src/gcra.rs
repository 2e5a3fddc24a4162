//! The generic cell rate algorithm (GCRA) as a pure step, for rate limits whose state lives
//! in a shared store (many gateways, one limit). The state is one number: the theoretical
//! arrival time (TAT) of the next request, in microseconds. The store only compares and swaps
//! it; the decision is here.
//!
//! With emission interval `T = 1 s / rate` and capacity `burst`, a request at `now` is allowed
//! when `max(TAT, now) + T - now <= T × burst`; it then moves TAT to `max(TAT, now) + T`.
//! This is the algorithm `governor` implements for the in-process limits.

/// One step's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GcraStep {
    pub allowed: bool,
    /// The state to store when allowed (unchanged otherwise).
    pub new_tat: u64,
    /// Requests still allowed right now after this one.
    pub remaining: u32,
    /// When refused: wait this long, microseconds.
    pub retry_after_us: u64,
}

/// Decide one request at `now_us` for `per_sec` requests per second with `burst` capacity,
/// given the stored TAT (`None`: never seen, or expired). `per_sec` must be at least 1.
pub fn gcra_step(tat: Option<u64>, now_us: u64, per_sec: u32, burst: u32) -> GcraStep {
    let t = 1_000_000 / u64::from(per_sec.max(1));
    let t = t.max(1);
    let capacity = t.saturating_mul(u64::from(burst.max(1)));
    let base = tat.unwrap_or(0).max(now_us);
    let new_tat = base.saturating_add(t);
    let ahead = new_tat - now_us;
    if ahead <= capacity {
        GcraStep {
            allowed: true,
            new_tat,
            remaining: ((capacity - ahead) / t).min(u64::from(u32::MAX)) as u32,
            retry_after_us: 0,
        }
    } else {
        GcraStep {
            allowed: false,
            new_tat: tat.unwrap_or(0),
            remaining: 0,
            retry_after_us: ahead - capacity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate() {
        // 10/s, burst 3: three at once, the fourth waits 100 ms.
        let mut tat = None;
        for left in [2, 1, 0] {
            let s = gcra_step(tat, 1_000_000, 10, 3);
            assert!(s.allowed);
            assert_eq!(s.remaining, left);
            tat = Some(s.new_tat);
        }
        let s = gcra_step(tat, 1_000_000, 10, 3);
        assert!(!s.allowed);
        assert_eq!(s.retry_after_us, 100_000);
        assert_eq!(s.new_tat, tat.unwrap());
        // After the wait, exactly one more.
        let s = gcra_step(tat, 1_100_000, 10, 3);
        assert!(s.allowed);
        assert_eq!(s.remaining, 0);
    }

    #[test]
    fn idle_time_refills_up_to_the_burst_only() {
        let s = gcra_step(Some(5_000_000), 100_000_000, 10, 3);
        assert!(s.allowed);
        assert_eq!(s.remaining, 2);
    }

    #[test]
    fn long_run_rate_is_the_configured_rate() {
        // Hammer for 10 s of simulated time, one attempt per ms: 10/s × 10 s + burst.
        let mut tat = None;
        let mut allowed = 0;
        for ms in 0..10_000u64 {
            let s = gcra_step(tat, ms * 1000, 10, 5);
            if s.allowed {
                allowed += 1;
                tat = Some(s.new_tat);
            }
        }
        assert!((104..=105).contains(&allowed), "{allowed}");
    }
}
