//! Logs per component (`--log-dir`), as JSON lines (`--log-json`), with a request id that
//! follows a job from the gateway's submit to the worker's completion.

use crate::{CAT, DevProcess, free_addr, sealed};

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

#[test]
fn a_request_id_follows_the_job_through_per_component_json_logs() {
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let logs = dir.path().join("logs");
    let mut dev = DevProcess::start(
        &data,
        free_addr(),
        &[
            "--workers",
            "1",
            "--log-dir",
            logs.to_str().unwrap(),
            "--log-json",
        ],
        "info",
    );
    let rid = format!("rid-{}", vesper_core::JobId::new_random());
    let client = dev.client();
    let job_id = rt.block_on(async {
        let sk = vesper_crypto::X25519SecretKey::generate();
        let module = wat::parse_str(CAT).unwrap();
        let req = sealed(&client, &sk, &module, b"traced").await;
        let resp = reqwest::Client::new()
            .post(format!("{}/api/submit", dev.url()))
            .bearer_auth(dev.api_key())
            .header("x-request-id", &rid)
            .json(&req)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-request-id"], rid.as_str());
        let v: serde_json::Value = resp.json().await.unwrap();
        let id = v["job_id"].as_str().unwrap().to_owned();
        client.result(&id, 20).await.unwrap();
        id
    });
    dev.interrupt();
    let gateway = lines(&logs.join("gateway.log"));
    let worker = lines(&logs.join("worker.log"));
    let scheduler = lines(&logs.join("scheduler.log"));
    let has = |ls: &[serde_json::Value], msg: &str| {
        ls.iter().any(|l| {
            let s = l.to_string();
            s.contains(msg) && s.contains(&rid) && s.contains(&job_id)
        })
    };
    assert!(has(&gateway, "job accepted"), "gateway.log: {gateway:?}");
    assert!(has(&worker, "job completed"), "worker.log: {worker:?}");
    // Each component's file holds its own records only.
    assert!(
        !worker
            .iter()
            .any(|l| l.to_string().contains("job accepted"))
    );
    assert!(
        !gateway
            .iter()
            .any(|l| l.to_string().contains("job completed"))
    );
    assert!(
        scheduler
            .iter()
            .any(|l| l.to_string().contains("scheduler started"))
    );
}
