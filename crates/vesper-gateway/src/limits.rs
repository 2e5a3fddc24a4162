//! Rate limits: GCRA (`governor`) per client IP before authentication and per tenant after.
//! On a shared store (several gateways) the tenant limit's state lives in the store
//! ([`check_tenant_shared`]) so the limit holds across gateways; per-IP limits stay local
//! (they protect each gateway's own resources).
//! Answers carry `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`
//! (draft-ietf-httpapi-ratelimit-headers); refusals are 429 with `Retry-After`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use governor::clock::{Clock as _, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use vesper_api::ApiErrorCode;
use vesper_core::TenantId;

use crate::ApiError;

type Direct = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type Keyed = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// A rate: sustained requests per second and a burst above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_sec: u32,
    pub burst: u32,
}

impl Rate {
    fn quota(self) -> Option<Quota> {
        let per_sec = NonZeroU32::new(self.per_sec)?;
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Some(Quota::per_second(per_sec).allow_burst(burst))
    }
}

/// Most tenants with a live limiter; past it the table is rebuilt (limits restart full).
const MAX_TENANT_LIMITERS: usize = 100_000;

/// `GET /health`'s own per-IP rate: generous for monitors, separate from the API's.
const HEALTH_RATE: Rate = Rate {
    per_sec: 20,
    burst: 40,
};

pub struct Limiters {
    per_ip: Option<(Keyed, Rate)>,
    health: (Keyed, Rate),
    tenants: Mutex<HashMap<TenantId, (Rate, Arc<Direct>)>>,
    clock: DefaultClock,
}

/// The outcome of a check: headers to add either way.
pub struct Verdict {
    pub headers: Vec<(&'static str, HeaderValue)>,
}

impl Limiters {
    /// `per_ip.per_sec == 0` disables the per-IP limit.
    pub fn new(per_ip: Rate) -> Self {
        Limiters {
            per_ip: per_ip.quota().map(|q| (RateLimiter::keyed(q), per_ip)),
            health: (
                RateLimiter::keyed(HEALTH_RATE.quota().expect("a fixed, non-zero rate")),
                HEALTH_RATE,
            ),
            tenants: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    /// Per-IP check (before authentication).
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some((limiter, rate)) = &self.per_ip else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            too_many(
                ApiErrorCode::IpRateLimited,
                "too many requests from this address",
                *rate,
                wait,
            )
        })
    }

    /// Per-IP check of `GET /health` (its own bucket; applies whether or not the API's per-IP
    /// limit is on).
    pub fn check_health(&self, ip: IpAddr) -> Result<(), ApiError> {
        let (limiter, rate) = &self.health;
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            too_many(
                ApiErrorCode::IpRateLimited,
                "too many health checks from this address",
                *rate,
                wait,
            )
        })
    }

    /// Per-tenant check; `rate.per_sec == 0` means unlimited.
    pub fn check_tenant(&self, tenant: TenantId, rate: Rate) -> Result<Verdict, ApiError> {
        if rate.per_sec == 0 {
            return Ok(Verdict { headers: vec![] });
        }
        let limiter = {
            let mut map = self.tenants.lock().expect("tenant limiters");
            match map.get(&tenant) {
                Some((r, l)) if *r == rate => l.clone(),
                _ => {
                    if map.len() >= MAX_TENANT_LIMITERS {
                        map.clear();
                    }
                    let quota = rate.quota().expect("per_sec checked above");
                    let l = Arc::new(RateLimiter::direct(quota).with_middleware());
                    map.insert(tenant, (rate, l.clone()));
                    l
                }
            }
        };
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let reset = if remaining > 0 {
                    0
                } else {
                    (1.0 / f64::from(rate.per_sec.max(1))).ceil() as u64
                };
                Ok(Verdict {
                    headers: rate_headers(rate, remaining, reset),
                })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Err(too_many(
                    ApiErrorCode::RateLimited,
                    "too many requests for this tenant",
                    rate,
                    wait,
                ))
            }
        }
    }

    /// Forget idle per-IP state (called periodically).
    pub fn housekeeping(&self) {
        for (l, _) in self.per_ip.iter().chain(std::iter::once(&self.health)) {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Per-tenant check against state in a shared store, so that every gateway enforces one
/// limit: the GCRA step is `vesper_core::gcra`, the store compares and swaps its state.
pub async fn check_tenant_shared(
    store: &dyn vesper_store::Store,
    clock: &dyn vesper_core::Clock,
    tenant: TenantId,
    rate: Rate,
) -> Result<Verdict, ApiError> {
    if rate.per_sec == 0 {
        return Ok(Verdict { headers: vec![] });
    }
    let key = format!("t:{}", tenant.0);
    // Kept while it can still matter: a full bucket's worth of time, plus a second.
    let ttl_ms = u64::from(rate.burst.max(1)) * 1000 / u64::from(rate.per_sec) + 1000;
    for _ in 0..8 {
        let now_us = clock.now().0.saturating_mul(1000);
        let tat = store.rate_state(&key).await?;
        let step = vesper_core::gcra::gcra_step(tat, now_us, rate.per_sec, rate.burst);
        if !step.allowed {
            return Err(too_many(
                ApiErrorCode::RateLimited,
                "too many requests for this tenant",
                rate,
                Duration::from_micros(step.retry_after_us),
            ));
        }
        if store.rate_swap(&key, tat, step.new_tat, ttl_ms).await? {
            let reset = if step.remaining > 0 {
                0
            } else {
                (1.0 / f64::from(rate.per_sec.max(1))).ceil() as u64
            };
            return Ok(Verdict {
                headers: rate_headers(rate, step.remaining, reset),
            });
        }
    }
    // Eight gateways raced us eight times: the tenant is certainly busy enough to wait.
    Err(too_many(
        ApiErrorCode::RateLimited,
        "too many requests for this tenant",
        rate,
        Duration::from_secs(1),
    ))
}

fn rate_headers(rate: Rate, remaining: u32, reset_secs: u64) -> Vec<(&'static str, HeaderValue)> {
    vec![
        ("ratelimit-limit", HeaderValue::from(rate.burst.max(1))),
        ("ratelimit-remaining", HeaderValue::from(remaining)),
        ("ratelimit-reset", HeaderValue::from(reset_secs)),
    ]
}

fn too_many(code: ApiErrorCode, message: &'static str, rate: Rate, wait: Duration) -> ApiError {
    let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
    let mut headers = rate_headers(rate, 0, secs);
    headers.push(("retry-after", HeaderValue::from(secs)));
    ApiError::new(code, message).with_headers(headers)
}

pub fn apply(headers: &mut HeaderMap, verdict: Verdict) {
    for (k, v) in verdict.headers {
        headers.insert(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn tenant_limit_refuses_past_the_burst_with_retry_after() {
        let l = Limiters::new(Rate {
            per_sec: 0,
            burst: 0,
        });
        let rate = Rate {
            per_sec: 1,
            burst: 3,
        };
        let t = TenantId(1);
        for left in [2u32, 1, 0] {
            let v = l.check_tenant(t, rate).unwrap();
            let remaining = v
                .headers
                .iter()
                .find(|(k, _)| *k == "ratelimit-remaining")
                .unwrap();
            assert_eq!(remaining.1, HeaderValue::from(left));
        }
        let err = l.check_tenant(t, rate).err().unwrap();
        assert_eq!(err.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(err.code(), ApiErrorCode::RateLimited);
        // Another tenant has its own bucket.
        assert!(l.check_tenant(TenantId(2), rate).is_ok());
        // Unlimited is unlimited.
        for _ in 0..100 {
            assert!(
                l.check_tenant(
                    t,
                    Rate {
                        per_sec: 0,
                        burst: 0
                    }
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn ip_limit_is_per_address() {
        let l = Limiters::new(Rate {
            per_sec: 1,
            burst: 2,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(l.check_ip(a).is_ok());
        assert!(l.check_ip(a).is_ok());
        assert!(l.check_ip(a).is_err());
        assert!(l.check_ip(b).is_ok());
    }
}
