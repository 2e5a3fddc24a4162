//! Live status: `GET /api/events` is a Server-Sent Events stream of the caller's job status
//! changes, optionally for one job (`?job_id=`), so clients need not poll.
//!
//! Events: `event: status` with data `{"job_id": …, "status": …}`; `event: resync` when the
//! stream fell behind (re-read what you care about); comments as keep-alives every 15 s. A
//! single-job stream starts with the job's current status and ends after a terminal one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use tokio::sync::broadcast;
use vesper_api::{ApiErrorCode, StatusEvent};
use vesper_core::{JobId, JobStatus, Scope, TenantId};
use vesper_store::JobEvent;

use crate::auth::Caller;
use crate::{ApiError, Gateway};

/// Longest a stream stays open; clients reconnect (and re-read) after.
const MAX_STREAM_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    #[serde(default)]
    job_id: Option<String>,
}

struct StreamState {
    rx: broadcast::Receiver<JobEvent>,
    tenant: TenantId,
    job: Option<JobId>,
    first: Option<Event>,
    done: bool,
    deadline: tokio::time::Instant,
    _permit: tokio::sync::OwnedSemaphorePermit,
    _tenant_slot: TenantSlot,
}

/// Most streams one tenant may hold open, so that one tenant cannot take them all.
pub const MAX_STREAMS_PER_TENANT: usize = 64;

/// Open streams per tenant.
#[derive(Default)]
pub struct StreamCounts(std::sync::Mutex<std::collections::HashMap<TenantId, usize>>);

/// One tenant's claim on a stream; released on drop.
struct TenantSlot {
    counts: Arc<StreamCounts>,
    tenant: TenantId,
}

impl StreamCounts {
    fn claim(self: &Arc<Self>, tenant: TenantId) -> Option<TenantSlot> {
        let mut map = self.0.lock().expect("stream counts");
        let n = map.entry(tenant).or_default();
        if *n >= MAX_STREAMS_PER_TENANT {
            return None;
        }
        *n += 1;
        Some(TenantSlot {
            counts: self.clone(),
            tenant,
        })
    }
}

impl Drop for TenantSlot {
    fn drop(&mut self) {
        let mut map = self.counts.0.lock().expect("stream counts");
        if let Some(n) = map.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.tenant);
            }
        }
    }
}

fn status_event(id: JobId, status: JobStatus) -> Event {
    Event::default()
        .event("status")
        .json_data(StatusEvent {
            job_id: id.to_string(),
            status: status.as_str().to_owned(),
        })
        .expect("plain struct serialises")
}

/// Live status of the caller's jobs, as Server-Sent Events.
///
/// `event: status` with data `{"job_id": "…", "status": "…"}` (schema `StatusEvent`) for each
/// change; `event: resync` with data `{}` when the stream fell behind (re-read what you care
/// about); `:` comments as keep-alives every 15 s. With `?job_id=`, the stream starts with the
/// job's current status and ends after a terminal one. Streams close after an hour.
#[utoipa::path(
    get,
    path = "/api/events",
    operation_id = "events",
    tag = "jobs",
    params(
        ("job_id" = Option<String>, Query, format = "uuid", description = "Follow only this job"),
    ),
    security(("bearerAuth" = []), ("walletSignature" = [])),
    responses(
        (status = 200, description = "A `text/event-stream` of `status` and `resync` events",
            body = String, content_type = "text/event-stream"),
        (status = 400, description = "`invalid_query`: only `?job_id=JOB_ID` is accepted",
            body = vesper_api::ErrorBody),
        (status = 401, response = crate::openapi::Unauthorized),
        (status = 403, response = crate::openapi::Forbidden),
        (status = 404, response = crate::openapi::JobNotFound),
        (status = 429, response = crate::openapi::TooManyRequests),
        (status = 503, description = "`too_many_streams` (poll `GET /api/status/{job_id}?wait=30` \
            instead) or `unavailable`", body = vesper_api::ErrorBody),
    ),
)]
pub async fn events(
    State(gw): State<Arc<Gateway>>,
    caller: Caller,
    q: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let tenant = caller.need(Scope::Read)?;
    let Ok(Query(q)) = q else {
        return Err(ApiError::new(
            ApiErrorCode::InvalidQuery,
            "only ?job_id=JOB_ID is accepted",
        ));
    };
    let job = match q.job_id {
        None => None,
        Some(s) => Some(s.parse::<JobId>().map_err(|_| ApiError::job_not_found())?),
    };
    let tenant_slot = gw.stream_counts.claim(tenant).ok_or_else(|| {
        ApiError::new(
            ApiErrorCode::TooManyStreams,
            "this tenant has too many live streams open; poll GET /api/status/{job_id}?wait=30",
        )
    })?;
    let permit = gw.streams.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            ApiErrorCode::TooManyStreams,
            "too many live streams are open; poll GET /api/status/{job_id}?wait=30",
        )
    })?;
    // Subscribe first, then read: a change between the two cannot be missed.
    let rx = gw.store.events();
    let mut first = None;
    let mut done = false;
    if let Some(id) = job {
        let rec = gw
            .store
            .job(tenant, id)
            .await?
            .ok_or_else(ApiError::job_not_found)?;
        first = Some(status_event(id, rec.status));
        done = rec.status.is_terminal();
    }
    let state = StreamState {
        rx,
        tenant,
        job,
        first,
        done: false,
        deadline: tokio::time::Instant::now() + MAX_STREAM_LIFETIME,
        _permit: permit,
        _tenant_slot: tenant_slot,
    };
    let stream =
        futures_util::stream::unfold((state, done), |(mut st, finish_after_first)| async move {
            if let Some(ev) = st.first.take() {
                st.done = finish_after_first;
                return Some((Ok(ev), (st, false)));
            }
            if st.done {
                return None;
            }
            loop {
                let recv = tokio::time::timeout_at(st.deadline, st.rx.recv()).await;
                match recv {
                    Err(_) => return None,
                    Ok(Ok(ev)) => {
                        if ev.tenant != st.tenant || st.job.is_some_and(|j| j != ev.job_id) {
                            continue;
                        }
                        if st.job.is_some() && ev.status.is_terminal() {
                            st.done = true;
                        }
                        return Some((Ok(status_event(ev.job_id, ev.status)), (st, false)));
                    }
                    Ok(Err(broadcast::error::RecvError::Lagged(_))) => {
                        let ev = Event::default().event("resync").data("{}");
                        return Some((Ok(ev), (st, false)));
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                }
            }
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_cannot_hold_more_than_its_share_of_streams() {
        let counts = Arc::new(StreamCounts::default());
        let mut slots: Vec<_> = (0..MAX_STREAMS_PER_TENANT)
            .map(|_| counts.claim(TenantId(1)).unwrap())
            .collect();
        assert!(counts.claim(TenantId(1)).is_none());
        // Another tenant is not affected; closing one stream frees one slot.
        assert!(counts.claim(TenantId(2)).is_some());
        slots.pop();
        let again = counts.claim(TenantId(1));
        assert!(again.is_some());
        assert!(counts.claim(TenantId(1)).is_none());
        drop(slots);
        assert_eq!(counts.0.lock().unwrap().get(&TenantId(1)), Some(&1));
    }
}
