//! What only the Redis backend has: namespaces on a shared server, the key layout, the
//! dead-letter list, and behaviour while the server is down.

use super::*;

async fn open(server: &RedisServer, ns: &str) -> RedisStore {
    RedisStore::open(
        &server.url(),
        RedisOptions {
            namespace: ns.into(),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap()
}

fn keys(server: &RedisServer) -> Vec<String> {
    // RESP array of bulk strings: every other line after the header is a key.
    server
        .command("KEYS *")
        .lines()
        .filter(|l| !l.starts_with('*') && !l.starts_with('$'))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_share_a_server_without_seeing_each_other() {
    let Some(server) = RedisServer::try_start() else {
        return;
    };
    let a = open(&server, "alpha").await;
    let b = open(&server, "beta").await;
    let ta = a.create_tenant("t", Timestamp(0)).await.unwrap();
    let tb = b.create_tenant("t", Timestamp(0)).await.unwrap();
    let ja = created(a.submit(job(ta, 5, 1)).await.unwrap());
    assert_eq!(a.queue_depth().await.unwrap(), 1);
    assert_eq!(b.queue_depth().await.unwrap(), 0);
    assert!(b.job(tb, ja.job_id).await.unwrap().is_none());
    assert!(
        b.lease(&w("b"), Timestamp(5), 1000)
            .await
            .unwrap()
            .is_none()
    );
    let l = a.lease(&w("a"), Timestamp(5), 1000).await.unwrap().unwrap();
    a.complete(&l.lease, result_for(&l.lease, 6), Timestamp(6))
        .await
        .unwrap();
    // The payload is deleted once the job is done (in the background: poll).
    let mut all = keys(&server);
    for _ in 0..100 {
        if !all.iter().any(|k| k.ends_with(":payload")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        all = keys(&server);
    }
    // Layout: coordination keys under `{ns}:`, job data under the job's own tag.
    assert!(!all.is_empty());
    for k in &all {
        assert!(
            k.starts_with("{alpha}:")
                || k.starts_with("{beta}:")
                || k.starts_with("alpha:{j:")
                || k.starts_with("beta:{j:"),
            "key outside every namespace: {k}"
        );
    }
    let result_key = format!("alpha:{{j:{}}}:result:{}", ja.job_id, l.lease.epoch);
    assert!(all.contains(&result_key), "{all:?}");
    assert!(!all.iter().any(|k| k.ends_with(":payload")), "{all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_use_up_their_retries_are_dead_lettered() {
    let Some(server) = RedisServer::try_start() else {
        return;
    };
    let s = open(&server, "dl").await;
    let t = s.create_tenant("t", Timestamp(0)).await.unwrap();
    let mut j = job(t, 5, 0);
    j.max_retries = 1;
    let j = created(s.submit(j).await.unwrap());
    let policy = RetryPolicy {
        base_backoff_ms: 0,
        max_backoff_ms: 0,
    };
    for now in [10, 20] {
        let l = s
            .lease(&w("a"), Timestamp(now), 1000)
            .await
            .unwrap()
            .unwrap();
        s.fail(&l.lease, ErrorCode::Internal, Timestamp(now), policy)
            .await
            .unwrap();
    }
    assert_eq!(
        s.job(t, j.job_id).await.unwrap().unwrap().status,
        JobStatus::Failed
    );
    let dead = server.command("LRANGE {dl}:dead 0 -1");
    assert!(dead.contains(&j.job_id.to_string()), "{dead}");
    // A deterministic failure is not a poison job: not dead-lettered.
    let k = created(s.submit(job(t, 5, 30)).await.unwrap());
    let l = s
        .lease(&w("a"), Timestamp(30), 1000)
        .await
        .unwrap()
        .unwrap();
    s.fail(&l.lease, ErrorCode::Trap, Timestamp(30), policy)
        .await
        .unwrap();
    let dead = server.command("LRANGE {dl}:dead 0 -1");
    assert!(!dead.contains(&k.job_id.to_string()), "{dead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_server_is_unavailable_then_recovers_with_its_data() {
    let Some(mut server) = RedisServer::try_start() else {
        return;
    };
    let s = open(&server, "down").await;
    let t = s.create_tenant("t", Timestamp(0)).await.unwrap();
    let acked = created(s.submit(job(t, 5, 1)).await.unwrap());
    server.kill();
    let started = std::time::Instant::now();
    match s.submit(job(t, 5, 2)).await {
        Err(StoreError::Unavailable) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        s.queue_depth().await,
        Err(StoreError::Unavailable)
    ));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "a down store must answer promptly"
    );
    server.restart();
    // The same store object reconnects by itself; the acknowledged job survived (AOF).
    let mut depth = None;
    for _ in 0..100 {
        if let Ok(d) = s.queue_depth().await {
            depth = Some(d);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(depth, Some(1));
    assert!(s.job(t, acked.job_id).await.unwrap().is_some());
    // The restarted server lost its script cache: scripts (also pipelined ones) reload.
    created(s.submit(job(t, 5, 3)).await.unwrap());
    let l = s.lease(&w("a"), Timestamp(4), 1000).await.unwrap().unwrap();
    s.complete(&l.lease, result_for(&l.lease, 5), Timestamp(5))
        .await
        .unwrap();
    assert_eq!(s.queue_depth().await.unwrap(), 1);
}
