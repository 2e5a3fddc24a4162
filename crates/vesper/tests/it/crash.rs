//! `kill -9` of `vesper dev` at random points while jobs are queued and running, then restart:
//! every accepted job completes exactly once as seen through the API.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use vesper_client::{ClientError, verify_result};
use vesper_crypto::X25519SecretKey;

use crate::scale::{SPIN_ECHO, spin_input};
use crate::{DevProcess, free_addr, sealed};

const ITERATIONS: usize = 20;
const JOBS: usize = 30;

#[test]
fn kill_9_at_random_points_loses_nothing_and_duplicates_nothing() {
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let module = wat::parse_str(SPIN_ECHO).unwrap();
    let sk = X25519SecretKey::generate();
    let mut rng = rand::thread_rng();
    // Short leases so that even a lease written just before a kill expires quickly.
    let args = ["--workers", "2", "--lease-ms", "3000"];
    let mut total_interrupted = 0;

    for iter in 0..ITERATIONS {
        let addr = free_addr();
        let mut dev = DevProcess::start(&data, addr, &args, "info");
        let client = dev.client();
        // Inputs: a spin count byte, then a unique tag.
        let inputs: Vec<Vec<u8>> = (0..JOBS)
            .map(|j| {
                // 100k-1.2M iterations: from instant to tens of milliseconds.
                spin_input(rng.gen_range(1..12), &format!("iter{iter}-job{j}"))
            })
            .collect();
        let reqs: Vec<_> = rt.block_on(async {
            let mut out = Vec::new();
            for input in &inputs {
                out.push(sealed(&client, &sk, &module, input).await);
            }
            out
        });
        let kill_after = Duration::from_millis(rng.gen_range(0..250));

        // Submit everything concurrently while the kill timer runs.
        let accepted: HashMap<usize, String> = rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for (j, req) in reqs.iter().cloned().enumerate() {
                let client = client.clone();
                let key = format!("it{iter}-{j}");
                set.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(j as u64 * 5)).await;
                    (j, client.submit(&req, Some(&key)).await)
                });
            }
            let killer = tokio::time::sleep(kill_after);
            tokio::pin!(killer);
            let mut accepted = HashMap::new();
            let mut killed = false;
            loop {
                tokio::select! {
                    _ = &mut killer, if !killed => { dev.kill9(); killed = true; }
                    r = set.join_next() => match r {
                        None => break,
                        Some(Ok((j, Ok(resp)))) => { accepted.insert(j, resp.job_id); }
                        Some(Ok((_, Err(ClientError::Http(_))))) => {}
                        Some(Ok((_, Err(e)))) => panic!("unexpected error {e}"),
                        Some(Err(e)) => panic!("{e}"),
                    }
                }
            }
            if !killed {
                dev.kill9();
            }
            accepted
        });

        // Restart on the same data directory.
        let dev2 = DevProcess::start(&data, free_addr(), &args, "info");
        let client = dev2.client();
        rt.block_on(async {
            let keys = client.keys(None).await.unwrap();
            let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
            for (j, req) in reqs.iter().enumerate() {
                let key = format!("it{iter}-{j}");
                // Retrying with the same key: an accepted job comes back, never a second one.
                let resp = client.submit(req, Some(&key)).await.unwrap();
                if let Some(id) = accepted.get(&j) {
                    assert_eq!(
                        &resp.job_id, id,
                        "iteration {iter} job {j}: accepted job lost or duplicated"
                    );
                }
                let (_, body) = client
                    .result(&resp.job_id, 30)
                    .await
                    .unwrap_or_else(|e| panic!("iteration {iter} job {j}: {e}"));
                let v = verify_result(&body, &trusted, Some(&sk), None).unwrap();
                assert_eq!(
                    v.plaintext.unwrap().stdout,
                    inputs[j],
                    "iteration {iter} job {j}"
                );
                let st = client.status(&resp.job_id, 0).await.unwrap();
                assert_eq!(st.status, "completed");
                total_interrupted += st.retry_count;
                // The visible result is stable: the same receipt on a second read.
                let (_, again) = client.result(&resp.job_id, 0).await.unwrap();
                assert_eq!(
                    again.execution_proof.worker_signature,
                    body.execution_proof.worker_signature
                );
            }
        });
        drop(dev2);
        drop(dev);
    }
    eprintln!("{ITERATIONS} kills; {total_interrupted} job attempts were interrupted and redone");
}
