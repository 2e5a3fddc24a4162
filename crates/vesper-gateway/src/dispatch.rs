//! The callback dispatcher: drains the store's callback outbox, delivers each event with
//! [`CallbackSender`], and records the outcome (delivered, retry at, or dead).
//!
//! At-least-once: an event is marked delivered only after a 2xx answer; a crash between the
//! two redelivers it with the same `Vesper-Event-Id`, which receivers deduplicate.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use vesper_store::{CallbackOutcome, PendingCallback};

use crate::Gateway;
use crate::callbacks::{CallbackEvent, CallbackSender, DeliveryTimeouts, event_id, retry_delay};

/// Deliveries in flight at once.
const CONCURRENCY: usize = 16;
/// How long a claimed callback is reserved for this dispatcher.
const CLAIM_MS: u64 = 60_000;
/// Idle poll interval (events usually wake the dispatcher first).
const POLL: Duration = Duration::from_millis(500);

/// Run until `stop` is cancelled.
pub async fn run_callback_dispatcher(gw: Arc<Gateway>, stop: CancellationToken) {
    let sender = match CallbackSender::new(
        gw.identity.clone(),
        gw.clock.clone(),
        gw.callback_policy.clone(),
        DeliveryTimeouts::default(),
    ) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(error = %e, "callbacks disabled: HTTP client could not be built");
            return;
        }
    };
    let mut events = gw.store.events();
    let mut inflight: JoinSet<()> = JoinSet::new();
    loop {
        while inflight.try_join_next().is_some() {}
        let room = CONCURRENCY.saturating_sub(inflight.len());
        if room > 0 {
            match gw
                .store
                .claim_callbacks(gw.clock.now(), room as u32, CLAIM_MS)
                .await
            {
                Ok(due) => {
                    for cb in due {
                        let gw = gw.clone();
                        let sender = sender.clone();
                        inflight.spawn(async move { deliver_one(&gw, &sender, cb).await });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming callbacks failed"),
            }
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(POLL) => {}
            ev = next_terminal(&mut events) => {
                // A terminal change may have owed a callback; lagging is fine (we poll).
                if ev.is_none() {
                    break;
                }
            }
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
    // In-flight deliveries finish or are abandoned; unrecorded ones are redelivered later.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while inflight.join_next().await.is_some() {}
    })
    .await;
}

/// Wait for the next terminal status change (or a lag, which may have hidden one). `None`
/// when the store's event channel is closed.
async fn next_terminal(
    events: &mut tokio::sync::broadcast::Receiver<vesper_store::JobEvent>,
) -> Option<()> {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(ev) if ev.status.is_terminal() => return Some(()),
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => return Some(()),
            Err(RecvError::Closed) => return None,
        }
    }
}

async fn deliver_one(gw: &Gateway, sender: &CallbackSender, cb: PendingCallback) {
    let occurred = cb.job.completed_at.unwrap_or(cb.job.created_at);
    let mut job = cb.job.clone();
    job.status = cb.status;
    let Some(event) = CallbackEvent::from_record(&job, occurred) else {
        // Not a terminal status: nothing to announce.
        let _ = gw
            .store
            .finish_callback(
                cb.job.job_id,
                cb.status,
                CallbackOutcome::Dead {
                    error: "not a terminal status".into(),
                },
            )
            .await;
        return;
    };
    let id = event_id(&cb.job.job_id, cb.status);
    let outcome = match url::Url::parse(&cb.url) {
        Err(_) => CallbackOutcome::Dead {
            error: vesper_api::ApiErrorCode::InvalidCallbackUrl.as_str().into(),
        },
        Ok(url) => match sender.deliver(&url, &id, &event.to_json()).await {
            Ok(()) => CallbackOutcome::Delivered,
            Err(e) => {
                let attempts = cb.attempts + 1;
                match (e.is_retryable(), retry_delay(attempts)) {
                    (true, Some(delay)) => CallbackOutcome::Retry {
                        at: gw.clock.now().plus_ms(delay.as_millis() as u64),
                        error: e.code().to_owned(),
                    },
                    _ => CallbackOutcome::Dead {
                        error: e.code().to_owned(),
                    },
                }
            }
        },
    };
    let label = match &outcome {
        CallbackOutcome::Delivered => "delivered",
        CallbackOutcome::Retry { .. } => "retry",
        CallbackOutcome::Dead { .. } => "dead",
    };
    metrics::counter!(crate::metrics::CALLBACKS, "outcome" => label).increment(1);
    tracing::info!(job = %cb.job.job_id, event_id = %id, attempt = cb.attempts + 1, outcome = label, "callback");
    if let Err(e) = gw
        .store
        .finish_callback(cb.job.job_id, cb.status, outcome)
        .await
    {
        tracing::warn!(job = %cb.job.job_id, error = %e, "recording callback outcome failed");
    }
}
