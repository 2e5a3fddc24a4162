//! Gateway behaviour with a store that cannot answer: every credentialed request fails closed
//! with 503, never a 401 (which would say "bad key") and never a pass.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tokio::sync::{Notify, broadcast};
use tower::ServiceExt as _;
use vesper_core::*;
use vesper_gateway::{Gateway, GatewayConfig};
use vesper_store::*;

/// A store whose backend is down.
struct Down {
    events: broadcast::Sender<JobEvent>,
    work: Arc<Notify>,
}

fn down<T>() -> vesper_store::Result<T> {
    Err(StoreError::Unavailable)
}

#[async_trait::async_trait]
impl TenantStore for Down {
    async fn create_tenant(&self, _: &str, _: Timestamp) -> vesper_store::Result<TenantId> {
        down()
    }
    async fn find_tenant(&self, _: &str) -> vesper_store::Result<Option<TenantId>> {
        down()
    }
    async fn tenants(&self) -> vesper_store::Result<Vec<TenantRecord>> {
        down()
    }
    async fn set_tenant_disabled(&self, _: &str, _: bool) -> vesper_store::Result<()> {
        down()
    }
    async fn set_tenant_settings(
        &self,
        _: TenantId,
        _: TenantSettings,
    ) -> vesper_store::Result<()> {
        down()
    }
    async fn add_api_key(
        &self,
        _: TenantId,
        _: [u8; 32],
        _: Scopes,
        _: Timestamp,
    ) -> vesper_store::Result<()> {
        down()
    }
    async fn revoke_api_key(&self, _: TenantId, _: &str) -> vesper_store::Result<u64> {
        down()
    }
    async fn principal_for_key(&self, _: [u8; 32]) -> vesper_store::Result<Option<Principal>> {
        down()
    }
    async fn add_wallet(
        &self,
        _: TenantId,
        _: &str,
        _: Scopes,
        _: Timestamp,
    ) -> vesper_store::Result<()> {
        down()
    }
    async fn revoke_wallet(&self, _: &str) -> vesper_store::Result<bool> {
        down()
    }
    async fn principal_for_wallet(&self, _: &str) -> vesper_store::Result<Option<Principal>> {
        down()
    }
    async fn remember_nonce(
        &self,
        _: [u8; 32],
        _: Timestamp,
        _: Timestamp,
    ) -> vesper_store::Result<bool> {
        down()
    }
}

#[async_trait::async_trait]
impl ProgramStore for Down {
    async fn put_program(
        &self,
        _: ProgramId,
        _: Vec<u8>,
        _: Timestamp,
    ) -> vesper_store::Result<bool> {
        down()
    }
    async fn get_program(&self, _: ProgramId) -> vesper_store::Result<Option<Arc<Vec<u8>>>> {
        down()
    }
    async fn has_program(&self, _: ProgramId) -> vesper_store::Result<bool> {
        down()
    }
}

#[async_trait::async_trait]
impl JobStore for Down {
    async fn submit(&self, _: NewJob) -> vesper_store::Result<SubmitOutcome> {
        down()
    }
    async fn submit_batch(&self, _: Vec<NewJob>) -> vesper_store::Result<BatchOutcome> {
        down()
    }
    async fn list_jobs(
        &self,
        _: TenantId,
        _: Option<JobStatus>,
        _: Option<i64>,
        _: u32,
    ) -> vesper_store::Result<JobPage> {
        down()
    }
    async fn job(&self, _: TenantId, _: JobId) -> vesper_store::Result<Option<JobRecord>> {
        down()
    }
    async fn job_by_idempotency_key(
        &self,
        _: TenantId,
        _: &str,
    ) -> vesper_store::Result<Option<JobId>> {
        down()
    }
    async fn result(&self, _: TenantId, _: JobId) -> vesper_store::Result<Option<StoredResult>> {
        down()
    }
    async fn cancel(
        &self,
        _: TenantId,
        _: JobId,
        _: Timestamp,
    ) -> vesper_store::Result<CancelOutcome> {
        down()
    }
    async fn queue_depth(&self) -> vesper_store::Result<u64> {
        down()
    }
}

#[async_trait::async_trait]
impl QueueStore for Down {
    async fn lease_batch(
        &self,
        _: &WorkerId,
        _: Timestamp,
        _: u64,
        _: vesper_store::LeaseAsk,
    ) -> vesper_store::Result<Vec<LeasedJob>> {
        down()
    }
    async fn complete_batch(
        &self,
        _: Vec<(LeaseRef, NewResult)>,
        _: Timestamp,
    ) -> vesper_store::Result<Vec<vesper_store::Result<()>>> {
        down()
    }
    async fn heartbeat(&self, _: &LeaseRef, _: Timestamp, _: u64) -> vesper_store::Result<()> {
        down()
    }
    async fn complete(&self, _: &LeaseRef, _: NewResult, _: Timestamp) -> vesper_store::Result<()> {
        down()
    }
    async fn fail(
        &self,
        _: &LeaseRef,
        _: ErrorCode,
        _: Timestamp,
        _: RetryPolicy,
    ) -> vesper_store::Result<RetryDecision> {
        down()
    }
    async fn release(&self, _: &LeaseRef) -> vesper_store::Result<()> {
        down()
    }
    async fn requeue_expired(
        &self,
        _: Timestamp,
        _: RetryPolicy,
    ) -> vesper_store::Result<vesper_store::Expired> {
        down()
    }
    async fn expire_leases_of(
        &self,
        _: &str,
        _: Timestamp,
        _: RetryPolicy,
    ) -> vesper_store::Result<vesper_store::Expired> {
        down()
    }
}

#[async_trait::async_trait]
impl RetentionStore for Down {
    async fn purge_expired_results(&self, _: Timestamp) -> vesper_store::Result<u64> {
        down()
    }
    async fn forget_finished(&self, _: Timestamp, _: u32) -> vesper_store::Result<u64> {
        down()
    }
}

#[async_trait::async_trait]
impl CallbackStore for Down {
    async fn claim_callbacks(
        &self,
        _: Timestamp,
        _: u32,
        _: u64,
    ) -> vesper_store::Result<Vec<PendingCallback>> {
        down()
    }
    async fn finish_callback(
        &self,
        _: JobId,
        _: JobStatus,
        _: CallbackOutcome,
    ) -> vesper_store::Result<()> {
        down()
    }
}

#[async_trait::async_trait]
impl RateStore for Down {
    async fn rate_state(&self, _: &str) -> vesper_store::Result<Option<u64>> {
        down()
    }
    async fn rate_swap(
        &self,
        _: &str,
        _: Option<u64>,
        _: u64,
        _: u64,
    ) -> vesper_store::Result<bool> {
        down()
    }
}

#[async_trait::async_trait]
impl WorkerStore for Down {
    async fn register_worker(
        &self,
        _: &WorkerId,
        _: [u8; 32],
        _: Timestamp,
    ) -> vesper_store::Result<()> {
        down()
    }
    async fn workers(&self) -> vesper_store::Result<Vec<WorkerRecord>> {
        down()
    }
    async fn forget_workers(&self, _: &str) -> vesper_store::Result<u64> {
        down()
    }
    async fn publish_pool_key(
        &self,
        _: &str,
        _: [u8; 32],
        _: Timestamp,
    ) -> vesper_store::Result<()> {
        down()
    }
    async fn pool_keys(&self) -> vesper_store::Result<Vec<[u8; 32]>> {
        down()
    }
}

#[async_trait::async_trait]
impl ProverStore for Down {
    async fn request_preload(&self, _: &str, _: Timestamp) -> vesper_store::Result<()> {
        down()
    }
    async fn preloads(&self) -> vesper_store::Result<Vec<String>> {
        down()
    }
    async fn report_loaded(&self, _: &str, _: &[String], _: Timestamp) -> vesper_store::Result<()> {
        down()
    }
    async fn loaded_reports(&self, _: Timestamp) -> vesper_store::Result<Vec<LoadedReport>> {
        down()
    }
}

#[async_trait::async_trait]
impl CreditStore for Down {
    async fn add_credits(&self, _: TenantId, _: u64, _: Timestamp) -> vesper_store::Result<u64> {
        down()
    }
    async fn credit_balance(&self, _: TenantId) -> vesper_store::Result<u64> {
        down()
    }
    async fn debit(
        &self,
        _: TenantId,
        _: JobId,
        _: u64,
        _: Timestamp,
    ) -> vesper_store::Result<Option<u64>> {
        down()
    }
    async fn refund(&self, _: JobId) -> vesper_store::Result<bool> {
        down()
    }
    async fn settle_debits(&self, _: Timestamp) -> vesper_store::Result<u64> {
        down()
    }
}

#[async_trait::async_trait]
impl DeploymentStore for Down {
    async fn put_deployment(&self, _: NewDeployment) -> vesper_store::Result<DeploymentRecord> {
        down()
    }
    async fn deployment(
        &self,
        _: TenantId,
        _: &str,
    ) -> vesper_store::Result<Option<DeploymentRecord>> {
        down()
    }
    async fn deployment_by_image(
        &self,
        _: Option<TenantId>,
        _: &str,
    ) -> vesper_store::Result<Option<DeploymentRecord>> {
        down()
    }
    async fn deployment_versions(
        &self,
        _: TenantId,
        _: &str,
    ) -> vesper_store::Result<Vec<DeploymentRecord>> {
        down()
    }
    async fn delete_deployment(&self, _: TenantId, _: &str) -> vesper_store::Result<bool> {
        down()
    }
    async fn proving_key(&self, _: &str) -> vesper_store::Result<Option<Arc<Vec<u8>>>> {
        down()
    }
}

impl Store for Down {
    fn events(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }
    fn work_available(&self) -> Arc<Notify> {
        self.work.clone()
    }
}

#[tokio::test]
async fn store_down_fails_closed_with_503() {
    let (events, _) = broadcast::channel(4);
    let store = Arc::new(Down {
        events,
        work: Arc::new(Notify::new()),
    });
    let tasks = vesper_supervise::Supervisor::new(Default::default());
    let gw = Gateway::new(
        store,
        Arc::new(SystemClock),
        GatewayConfig::default(),
        vec![vesper_crypto::X25519SecretKey::generate().public_key()],
        Arc::new(vesper_crypto::SigningIdentity::generate()),
        None,
        &tasks,
    );
    let app = vesper_gateway::router(gw);
    let key = vesper_crypto::ApiKey::generate();
    let wallet = format!("ed25519:{}", "ab".repeat(32));
    let cases: Vec<Request<Body>> = vec![
        Request::get("/api/jobs")
            .header("authorization", format!("Bearer {}", key.expose()))
            .body(Body::empty())
            .unwrap(),
        Request::post("/api/submit")
            .header("authorization", format!("Bearer {}", key.expose()))
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap(),
        Request::get("/health").body(Body::empty()).unwrap(),
        Request::get("/api/keys").body(Body::empty()).unwrap(),
    ];
    for req in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let resp = app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
        assert!(resp.headers().contains_key("retry-after"), "{what}");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "unavailable", "{what}");
    }
    // A wallet request whose signature is bad is refused before the store is asked (401);
    // the store is never consulted to say yes.
    let resp = app
        .clone()
        .oneshot(
            Request::get("/api/jobs")
                .header("x-vesper-wallet", &wallet)
                .header(
                    "x-vesper-timestamp",
                    (SystemClock.now().0 / 1000).to_string(),
                )
                .header("x-vesper-nonce", "nonce-0123456789abcdef")
                .header("x-vesper-signature", "00".repeat(64))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
