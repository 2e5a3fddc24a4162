//! Fair scheduling between tenants: which tenant's job a free worker takes next.
//!
//! The policy (documented in `docs/SCHEDULING.md`):
//!
//! - **Within a tenant**: strict priority (10 first), FIFO within a priority.
//! - **Between tenants**: fair queueing on *virtual time*. Each tenant has a virtual time `V`;
//!   leasing one of its jobs advances it by `UNIT / weight`. The tenant with the smallest `V`
//!   goes next, so over any busy period tenants get service in proportion to their weights,
//!   whatever their submission rates.
//! - **Priority across tenants** is a bounded head start: a tenant whose next job has priority
//!   `p` is compared as if its `V` were `(p - 1) / 9 × quantum` jobs earlier. Priority 10
//!   therefore goes ahead of priority 1 by up to `quantum` jobs, never more: priority cannot
//!   starve another tenant.
//! - **Returning tenants** start at `max(V, G - burst)`, where `G` is the system's virtual
//!   time (the `V` of the last job started). A tenant that was idle cannot bank credit beyond
//!   `burst` jobs, and a tenant that used an idle system is not punished for it.
//!
//! Pure: the store gathers the candidates and persists the virtual times.

use crate::{Priority, TenantId};

/// Virtual time charged for one job at weight 1.
pub const UNIT: u64 = 1_000_000;

/// Tuning, set by the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FairPolicy {
    /// Head start, in jobs, of a priority-10 job over a priority-1 job of another tenant.
    pub quantum: u32,
    /// Jobs of head start a returning tenant may get over the busiest tenants.
    pub burst: u32,
}

impl Default for FairPolicy {
    fn default() -> Self {
        FairPolicy {
            quantum: 4,
            burst: 8,
        }
    }
}

/// A tenant with at least one job ready to run, and the job it would run next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub tenant: TenantId,
    /// The tenant's virtual time.
    pub vtime: u64,
    /// Highest priority among its ready jobs.
    pub head_priority: Priority,
    /// Arrival order of that job (smaller = older).
    pub head_seq: i64,
}

impl FairPolicy {
    /// Virtual time as compared: `vtime` minus the head start of the head job's priority.
    fn effective(&self, c: &Candidate) -> i128 {
        let steps = i128::from(c.head_priority.get().saturating_sub(1));
        let bonus = steps * i128::from(self.quantum) * i128::from(UNIT) / 9;
        i128::from(c.vtime) - bonus
    }

    /// The candidate to serve next: smallest effective virtual time, then highest head
    /// priority, then oldest head job. `None` when there are no candidates.
    pub fn pick(&self, candidates: &[Candidate]) -> Option<usize> {
        candidates
            .iter()
            .enumerate()
            .min_by_key(|(_, c)| {
                (
                    self.effective(c),
                    std::cmp::Reverse(c.head_priority),
                    c.head_seq,
                )
            })
            .map(|(i, _)| i)
    }

    /// Virtual time after one job of a tenant with `weight` starts.
    pub fn charge(&self, vtime: u64, weight: u32) -> u64 {
        vtime.saturating_add(UNIT / u64::from(weight.max(1)))
    }

    /// Virtual time of a tenant that had nothing queued and now has a job, given the
    /// system's virtual time `system`.
    pub fn reactivate(&self, vtime: u64, weight: u32, system: u64) -> u64 {
        let credit = u64::from(self.burst) * UNIT / u64::from(weight.max(1));
        vtime.max(system.saturating_sub(credit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u8) -> Priority {
        Priority::new(n.into()).unwrap()
    }

    /// Simulate `n` leases with both tenants always backlogged; count each tenant's share.
    fn simulate(
        policy: FairPolicy,
        weights: &[u32],
        prios: &[u8],
        n: usize,
    ) -> (Vec<usize>, Vec<u64>) {
        let mut v = vec![0u64; weights.len()];
        let mut served = vec![0usize; weights.len()];
        let mut seq = 0i64;
        for _ in 0..n {
            let cands: Vec<Candidate> = (0..weights.len())
                .map(|i| Candidate {
                    tenant: TenantId(i as i64),
                    vtime: v[i],
                    head_priority: p(prios[i]),
                    head_seq: seq - i as i64,
                })
                .collect();
            let i = policy.pick(&cands).unwrap();
            served[i] += 1;
            v[i] = policy.charge(v[i], weights[i]);
            seq += 1;
        }
        (served, v)
    }

    #[test]
    fn equal_weights_share_equally() {
        let (served, _) = simulate(FairPolicy::default(), &[1, 1, 1], &[5, 5, 5], 3000);
        assert_eq!(served, vec![1000, 1000, 1000]);
    }

    #[test]
    fn weights_give_proportional_service() {
        let (served, _) = simulate(FairPolicy::default(), &[1, 3], &[5, 5], 4000);
        assert_eq!(served, vec![1000, 3000]);
    }

    #[test]
    fn priority_cannot_starve_another_tenant() {
        // Tenant 0 uses priority 10 for everything, tenant 1 priority 1: tenant 0 gets a head
        // start of one quantum (4 jobs, plus the tie), then they alternate.
        let policy = FairPolicy::default();
        let (served, _) = simulate(policy, &[1, 1], &[10, 1], 800);
        assert_eq!(served, vec![402, 398]);
    }

    #[test]
    fn priority_is_a_bounded_head_start() {
        let policy = FairPolicy::default();
        let cands = [
            Candidate {
                tenant: TenantId(1),
                vtime: UNIT,
                head_priority: p(3),
                head_seq: 1,
            },
            Candidate {
                tenant: TenantId(2),
                vtime: 2 * UNIT,
                head_priority: p(9),
                head_seq: 2,
            },
        ];
        // Priority 9 vs 3 is a head start of (8-2)/9 x 4 = 2.67 jobs: 2 jobs behind still wins.
        assert_eq!(policy.pick(&cands), Some(1));
        // 3 jobs behind does not.
        let mut later = cands;
        later[1].vtime = 4 * UNIT;
        assert_eq!(policy.pick(&later), Some(0));
    }

    #[test]
    fn ties_break_on_virtual_time_then_age() {
        let policy = FairPolicy::default();
        let mk = |t, v, s| Candidate {
            tenant: TenantId(t),
            vtime: v,
            head_priority: p(5),
            head_seq: s,
        };
        assert_eq!(policy.pick(&[mk(1, 20, 1), mk(2, 10, 9)]), Some(1));
        assert_eq!(policy.pick(&[mk(1, 10, 5), mk(2, 10, 3)]), Some(1));
        assert_eq!(policy.pick(&[]), None);
    }

    #[test]
    fn returning_tenant_gets_bounded_credit() {
        let policy = FairPolicy {
            quantum: 4,
            burst: 4,
        };
        // Idle for a long time (vtime 0) while the system moved to 100 units.
        let system = 100 * UNIT;
        let v = policy.reactivate(0, 1, system);
        assert_eq!(v, 96 * UNIT);
        // A tenant already ahead keeps its virtual time: no reset in its favour.
        assert_eq!(policy.reactivate(120 * UNIT, 1, system), 120 * UNIT);
        // Weight scales the credit in virtual time, not in jobs.
        assert_eq!(policy.reactivate(0, 2, system), 98 * UNIT);
    }

    #[test]
    fn a_burst_after_idling_is_served_ahead_of_a_flood() {
        // Tenant 0 floods; tenant 1 returns with a burst of 4 jobs: those 4 go before any
        // more of tenant 0's (credit = burst).
        let policy = FairPolicy::default();
        let mut v0 = 0;
        for _ in 0..1000 {
            v0 = policy.charge(v0, 1);
        }
        let mut v1 = policy.reactivate(0, 1, v0);
        let mut order = Vec::new();
        let mut seq = 0;
        let mut left1 = 4;
        while left1 > 0 {
            let mut c = vec![Candidate {
                tenant: TenantId(0),
                vtime: v0,
                head_priority: p(5),
                head_seq: seq,
            }];
            c.push(Candidate {
                tenant: TenantId(1),
                vtime: v1,
                head_priority: p(5),
                head_seq: seq + 1,
            });
            let i = policy.pick(&c).unwrap();
            order.push(i);
            if i == 0 {
                v0 = policy.charge(v0, 1);
            } else {
                v1 = policy.charge(v1, 1);
                left1 -= 1;
            }
            seq += 2;
        }
        assert_eq!(order, vec![1, 1, 1, 1]);
    }

    #[test]
    fn weight_zero_is_treated_as_one() {
        let policy = FairPolicy::default();
        assert_eq!(policy.charge(0, 0), UNIT);
    }
}
