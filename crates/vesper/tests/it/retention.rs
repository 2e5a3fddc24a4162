//! Retention end to end: a node configured with a short `retention.jobs` forgets a finished job
//! (status and result answer 404, its idempotency key names a new job) while a job that
//! finished inside the window is untouched. The store-level tests are in
//! `crates/vesper-store/tests/it/retention.rs`.

use std::time::{Duration, Instant};

use vesper::node::{DevConfig, DevNode};
use vesper_client::{Client, ClientError};
use vesper_crypto::X25519SecretKey;

use crate::{CAT, sealed};

fn not_found(r: Result<impl std::fmt::Debug, ClientError>) -> bool {
    matches!(r, Err(ClientError::Api { status: 404, .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_forgets_finished_jobs_after_their_retention() {
    const KEEP: Duration = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 1;
    cfg.reap_interval = Duration::from_millis(100);
    cfg.retention = Some(KEEP);
    let node = DevNode::start(cfg).await.unwrap();
    let client = Client::new(
        &format!("http://{}", node.addr),
        Some(node.api_key().expose().to_owned()),
    )
    .unwrap();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();

    let req = sealed(&client, &sk, &module, b"old").await;
    let old = client.submit(&req, Some("retained-key")).await.unwrap();
    client.result(&old.job_id, 10).await.unwrap();
    let old_done = Instant::now();
    // A second job finishes two seconds later: still inside its window when the first goes.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let young_req = sealed(&client, &sk, &module, b"young").await;
    let young = client.submit(&young_req, None).await.unwrap();
    client.result(&young.job_id, 10).await.unwrap();

    // The first is forgotten within its window plus one sweep period (KEEP / 2).
    let deadline = old_done + KEEP + KEEP / 2 + Duration::from_secs(2);
    while !not_found(client.status(&old.job_id, 0).await) {
        assert!(
            Instant::now() < deadline,
            "the finished job was kept too long"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        old_done.elapsed() >= KEEP,
        "forgotten before its window ended"
    );
    assert!(not_found(client.result(&old.job_id, 0).await));
    // The younger job is untouched, result and all.
    let st = client.status(&young.job_id, 0).await.unwrap();
    assert_eq!(st.status, "completed");
    client.result(&young.job_id, 0).await.unwrap();
    // The idempotency key went with its job: the same key now makes a new job.
    let again = client.submit(&req, Some("retained-key")).await.unwrap();
    assert_ne!(again.job_id, old.job_id);
    node.stop().await;
}
