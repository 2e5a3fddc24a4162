//! The README's walkthrough, through the real binary: start, submit --wait, verify.

use std::process::Command;

use crate::{BIN, DevProcess, free_addr};

#[test]
fn dev_submit_wait_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut dev = DevProcess::start(&data, free_addr(), &["--workers", "2"], "info");
    let health = reqwest::blocking::get(format!("{}/health", dev.url())).unwrap();
    assert_eq!(health.status(), 200);

    let key = dir.path().join("client.key");
    let st = Command::new(BIN)
        .args(["keygen", "--out"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "hello private world\nsecond line\n").unwrap();
    // The CLI's record of what it submitted (docs/RECEIPT.md §6), kept out of $HOME.
    let state = dir.path().join("state");
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples");
    let run = |program: &str, extra: &[&str]| {
        Command::new(BIN)
            .args([
                "submit",
                "--program",
                &format!("{examples}/{program}"),
                "--input",
            ])
            .arg(&input)
            .arg("--identity")
            .arg(&key)
            .args(["--api-key-file"])
            .arg(data.join("dev-api-key"))
            .args(extra)
            .env("VESPER_GATEWAY", dev.url())
            .env("VESPER_STATE_DIR", &state)
            .output()
            .unwrap()
    };
    let out = run("wordcount.wat", &["--wait"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "2 5 32\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("receipt verified"));

    // Without --wait the job id is printed; fetch the raw body and verify it offline.
    let out = run("sha256.wat", &[]);
    assert!(out.status.success());
    let job = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let body = reqwest::blocking::Client::new()
        .get(format!("{}/api/result/{job}?wait=10", dev.url()))
        .bearer_auth(dev.api_key())
        .send()
        .unwrap()
        .text()
        .unwrap();
    let file = dir.path().join("result.json");
    std::fs::write(&file, &body).unwrap();
    let verify_with = |f: &std::path::Path, state: &std::path::Path, extra: &[&str]| {
        Command::new(BIN)
            .arg("verify")
            .arg(f)
            .args(extra)
            .env("VESPER_GATEWAY", dev.url())
            .env("VESPER_STATE_DIR", state)
            .output()
            .unwrap()
    };
    let verify = |f: &std::path::Path| verify_with(f, &state, &[]);
    let v = verify(&file);
    let said = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success(), "{said}");
    // This client submitted the job, so the receipt was checked against its submission.
    assert!(
        said.contains("match the job this client submitted"),
        "{said}"
    );
    // Elsewhere (no record of the job) it says exactly what it could not check.
    let elsewhere = dir.path().join("elsewhere");
    let v = verify_with(&file, &elsewhere, &[]);
    let said = String::from_utf8_lossy(&v.stdout).into_owned();
    assert!(v.status.success(), "{said}");
    assert!(
        said.contains("not checked against a submission")
            && said.contains("program_id, workload_type, payload_digest"),
        "{said}"
    );

    // A worker that lies about the program, with a valid signature (here: a key this test
    // holds, trusted with --worker-key, as a gateway that accepted the lie would list it).
    // The CLI knows what it submitted and refuses the receipt.
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let p = &json["execution_proof"];
    let liar = vesper_crypto::SigningIdentity::generate();
    let hex32 = |v: &serde_json::Value| -> [u8; 32] {
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    };
    let forge = |program_id: [u8; 32]| {
        let receipt = vesper_core::Receipt {
            job_id: job.parse().unwrap(),
            program_id: vesper_core::ProgramId(program_id),
            workload_type: vesper_core::WorkloadType::General,
            payload_digest: hex32(&p["payload_digest"]),
            result_digest: hex32(&p["result_digest"]),
            result_hash: hex32(&p["result_hash"]),
            fuel_used: 1,
            execution_time_ms: 1,
            started_at: vesper_core::Timestamp(1),
            completed_at: vesper_core::Timestamp(2),
            worker_id: "liar".into(),
            worker_pubkey: liar.public_key().0,
        };
        let mut j = json.clone();
        let proof = j.pointer_mut("/execution_proof").unwrap();
        proof["program_id"] = serde_json::json!(receipt.program_id.to_string());
        proof["fuel_used"] = serde_json::json!(1);
        proof["execution_time_ms"] = serde_json::json!(1);
        proof["started_at"] = serde_json::json!(1);
        proof["completed_at"] = serde_json::json!(2);
        proof["worker_id"] = serde_json::json!("liar");
        proof["worker_pubkey"] = serde_json::json!(hex::encode(liar.public_key().0));
        proof["worker_signature"] = serde_json::json!(hex::encode(liar.sign_receipt(&receipt)));
        let f = dir.path().join("forged.json");
        std::fs::write(&f, j.to_string()).unwrap();
        f
    };
    let liar_key = hex::encode(liar.public_key().0);
    let truthful = forge(hex32(&p["program_id"]));
    let v = verify_with(&truthful, &state, &["--worker-key", &liar_key]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    let lie = forge([0; 32]);
    let v = verify_with(&lie, &state, &["--worker-key", &liar_key]);
    let said = String::from_utf8_lossy(&v.stdout).into_owned();
    assert_eq!(v.status.code(), Some(1), "{said}");
    assert!(
        said.contains("program_id does not match the job you submitted"),
        "{said}"
    );
    // Any tampering with the receipt or the ciphertext: exit status non-zero.
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tampers: Vec<(&str, serde_json::Value)> = vec![
        (
            "/execution_proof/fuel_used",
            serde_json::json!(json["execution_proof"]["fuel_used"].as_u64().unwrap() + 1),
        ),
        (
            "/execution_proof/worker_id",
            serde_json::json!("someone-else"),
        ),
        (
            "/execution_proof/result_hash",
            serde_json::json!("00".repeat(32)),
        ),
        (
            // A different first character (replacing it with a fixed one left it unchanged
            // one time in 64, and the test failed then).
            "/encrypted_result",
            {
                let r = json["encrypted_result"].as_str().unwrap();
                let first = if r.starts_with('A') { 'B' } else { 'A' };
                serde_json::json!(format!("{first}{}", &r[1..]))
            },
        ),
    ];
    for (ptr, value) in tampers {
        let mut j = json.clone();
        *j.pointer_mut(ptr).unwrap() = value;
        std::fs::write(&file, j.to_string()).unwrap();
        assert_eq!(
            verify(&file).status.code(),
            Some(1),
            "tampered {ptr} accepted"
        );
    }
    dev.interrupt();
    assert!(dev.child.wait().unwrap().success());
}

/// Operator commands: tenants, keys (shown once, revocable), config init/show/errors.
#[test]
fn tenant_key_and_config_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dev = DevProcess::start(&data, free_addr(), &["--workers", "1"], "info");
    let vesper = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env_remove("VESPER_LOG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let d = data.to_str().unwrap();
    let (rc, out, err) = vesper(&[
        "tenant",
        "create",
        "acme",
        "--data",
        d,
        "--max-queued",
        "5",
        "--weight",
        "2",
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("created tenant acme"));
    let (rc, _, err) = vesper(&["tenant", "create", "acme", "--data", d]);
    assert_ne!(rc, 0);
    assert!(err.contains("already exists"), "{err}");
    let (rc, _, err) = vesper(&["tenant", "create", "bad name!", "--data", d]);
    assert_ne!(rc, 0);
    assert!(err.contains("tenant names"), "{err}");

    let (rc, out, err) = vesper(&[
        "key", "create", "--tenant", "acme", "--scopes", "read", "--data", d,
    ]);
    assert_eq!(rc, 0, "{err}");
    let key = out.trim().to_owned();
    assert!(key.starts_with("vsk_"), "{out}");
    let key_id = err
        .split("key id ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    // The key works with its scope and nothing more.
    let get = |key: &str| {
        reqwest::blocking::Client::new()
            .get(format!("{}/api/jobs", dev.url()))
            .bearer_auth(key)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(get(&key), 200);
    let (rc, out, _) = vesper(&["tenant", "list", "--data", d, "--json"]);
    assert_eq!(rc, 0);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let acme = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "acme")
        .unwrap();
    assert_eq!(
        (acme["weight"].as_u64(), acme["max_queued"].as_u64()),
        (Some(2), Some(5))
    );

    let (rc, _, err) = vesper(&["key", "revoke", "--tenant", "acme", &key_id, "--data", d]);
    assert_eq!(rc, 0, "{err}");
    // Revocation takes effect within the gateway's 5 s credential cache.
    std::thread::sleep(std::time::Duration::from_millis(5_200));
    assert_eq!(get(&key), 401);
    let (rc, _, err) = vesper(&["key", "revoke", "--tenant", "acme", &key_id, "--data", d]);
    assert_ne!(rc, 0);
    assert!(err.contains("no live key"), "{err}");
    let (rc, _, _) = vesper(&["tenant", "disable", "acme", "--data", d]);
    assert_eq!(rc, 0);
    let (rc, _, err) = vesper(&["tenant", "disable", "nobody", "--data", d]);
    assert_ne!(rc, 0);
    assert!(err.contains("no tenant"), "{err}");

    // Config: init writes the commented default; show reads file + env; errors name the key.
    let (rc, _, err) = vesper(&["config", "init"]);
    assert_eq!(rc, 0, "{err}");
    let text = std::fs::read_to_string(dir.path().join("vesper.toml")).unwrap();
    assert!(text.contains("[limits]") && text.contains("# "));
    let (rc, _, err) = vesper(&["config", "init"]);
    assert_ne!(rc, 0);
    assert!(err.contains("--force"), "{err}");
    let out = Command::new(BIN)
        .args(["config", "show"])
        .current_dir(dir.path())
        .env("VESPER_LIMITS_TENANT_BURST", "77")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("tenant_burst = 77"));
    std::fs::write(
        dir.path().join("vesper.toml"),
        "[limits]\ntenant_burst = \"many\"\n",
    )
    .unwrap();
    let (rc, _, err) = vesper(&["config", "show"]);
    assert_ne!(rc, 0);
    assert!(err.contains("limits.tenant_burst"), "{err}");
    // `vesper dev` refuses to start on it, naming the key.
    let (rc, _, err) = vesper(&["dev", "--data", d, "--listen", "127.0.0.1:0"]);
    assert_eq!(rc, 2);
    assert!(err.contains("limits.tenant_burst"), "{err}");
}

/// `vesper id` and `vesper peers`: a stable libp2p PeerId from a 0600 key under the home, and
/// an explicit trust list that refuses what is not a PeerId.
#[test]
fn identity_and_trust_list_commands() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("VESPER_HOME", &home)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (rc, first, err) = run(&["id"]);
    assert_eq!(rc, 0, "{err}");
    let peer = first.trim().to_owned();
    assert!(peer.starts_with("12D3KooW"), "{peer}");
    let (_, second, _) = run(&["id"]);
    assert_eq!(second.trim(), peer, "the identity is kept");
    let mode = std::fs::metadata(home.join("identity.ed25519"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // Trust another node by its PeerId (its own home).
    let other = Command::new(BIN)
        .args(["id", "--home", dir.path().join("other").to_str().unwrap()])
        .output()
        .unwrap();
    let other = String::from_utf8_lossy(&other.stdout).trim().to_owned();
    assert_ne!(other, peer);
    let (rc, out, err) = run(&["peers", "add", &other, "--name", "bob"]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains(&other));
    let (rc, _, err) = run(&["peers", "add", &other]);
    assert_ne!(rc, 0);
    assert!(err.contains("already trusted"), "{err}");
    let (rc, _, err) = run(&["peers", "add", "12D3KooWnotapeer"]);
    assert_ne!(rc, 0);
    assert!(err.contains("not a peer id"), "{err}");
    let (_, list, _) = run(&["peers", "list"]);
    assert!(list.contains(&other) && list.contains("bob"), "{list}");
    let json = std::fs::read_to_string(home.join("trusted_peers.json")).unwrap();
    assert!(json.contains(&other));
    let (rc, _, err) = run(&["peers", "remove", "bob"]);
    assert_eq!(rc, 0, "{err}");
    let (_, list, _) = run(&["peers", "list"]);
    assert!(!list.contains(&other), "{list}");
}

/// Separate gateway and worker processes need a shared store; without one they refuse to
/// start and say what to do.
#[test]
fn gateway_and_worker_roles_refuse_an_unshared_store() {
    let dir = tempfile::tempdir().unwrap();
    for role in ["gateway", "worker"] {
        let out = Command::new(BIN)
            .args([
                role,
                "--data",
                dir.path().to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{role}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--store redis://"), "{role}: {err}");
        if role == "worker" {
            assert!(err.contains("--connect MULTIADDR"), "{err}");
        }
    }
}

/// A remote worker that trusts no gateway, or is told to dial one it does not trust, refuses
/// to start and says how to fix it.
#[test]
fn a_remote_worker_refuses_to_start_without_trusting_its_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let gw = vesper_net::NodeIdentity::generate().peer_id().to_string();
    let connect = format!("/ip4/127.0.0.1/tcp/9/p2p/{gw}");
    let run = || {
        Command::new(BIN)
            .args(["worker", "--connect", &connect, "--home"])
            .arg(&home)
            .output()
            .unwrap()
    };
    let out = run();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trusts no gateway") && err.contains("vesper peers add"),
        "{err}"
    );
    // Trusting some other gateway is not enough either.
    let other = vesper_net::NodeIdentity::generate().peer_id().to_string();
    crate::remote::trust(&home, &other);
    let out = run();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("gateway {gw} is not trusted")),
        "{err}"
    );
}

/// `vesper pool rotate`: after a restart clients seal to the new epoch's key, and a job sealed
/// to the previous epoch (queued before the rotation) still completes.
#[test]
fn rotating_the_pool_key_keeps_earlier_epochs_working() {
    use vesper_client::{Program, seal_job, verify_result};
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let client_sk = vesper_crypto::X25519SecretKey::generate();
    let module = wat::parse_str(crate::CAT).unwrap();
    let addr = crate::free_addr();

    // Epoch 0, no workers: the job stays queued.
    let mut node = crate::DevProcess::start(&data, addr, &["--workers", "0"], "warn");
    let (old_job, old_key) = rt.block_on(async {
        let c = node.client();
        let keys = c.keys(None).await.unwrap();
        assert_eq!(keys.pool_keys.len(), 1);
        let req = crate::sealed(&c, &client_sk, &module, b"sealed to epoch 0").await;
        (
            c.submit(&req, None).await.unwrap().job_id,
            keys.pool_keys[0].0.clone(),
        )
    });
    node.interrupt();

    let text = crate::run_ok(
        Command::new(BIN)
            .args(["pool", "rotate", "--data"])
            .arg(&data),
    );
    assert!(text.contains("pool key epoch 1"), "{text}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(data.join("keys/pool.x25519.1"))
            .unwrap()
            .permissions(),
    ) & 0o777;
    assert_eq!(mode, 0o600);

    let node = crate::DevProcess::start(&data, addr, &["--workers", "1"], "warn");
    rt.block_on(async {
        let c = node.client();
        let keys = c.keys(None).await.unwrap();
        // The new epoch first (clients seal to it), the old one still listed.
        assert_eq!(keys.pool_keys.len(), 2);
        assert_ne!(keys.pool_keys[0].0, old_key);
        assert_eq!(keys.pool_keys[1].0, old_key);
        assert!(text.contains(keys.pool_keys[0].0.as_str()), "{text}");
        let (_, body) = c.result(&old_job, 30).await.unwrap();
        // The receipt keys of the workers now running (they are registered before the API
        // answers, so the list fetched above has them too).
        let trusted: Vec<[u8; 32]> = keys.worker_keys.iter().map(|(_, k)| *k).collect();
        let v = verify_result(&body, &trusted, Some(&client_sk), None).unwrap();
        assert_eq!(v.plaintext.unwrap().stdout, b"sealed to epoch 0");

        let pid = c.upload_program(module.clone()).await.unwrap();
        let req = seal_job(
            &keys.pool_keys[0].1,
            &client_sk.public_key(),
            vesper_core::WorkloadType::General,
            Program::Registered(pid),
            b"sealed to epoch 1".to_vec(),
            None,
        )
        .unwrap()
        .request;
        assert_eq!(req.key_id, keys.pool_keys[0].0.to_string());
        let job = c.submit(&req, None).await.unwrap().job_id;
        let (_, body) = c.result(&job, 30).await.unwrap();
        let v = verify_result(&body, &trusted, Some(&client_sk), None).unwrap();
        assert_eq!(v.plaintext.unwrap().stdout, b"sealed to epoch 1");
    });
    let list = crate::run_ok(
        Command::new(BIN)
            .args(["pool", "list", "--data"])
            .arg(&data),
    );
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert_eq!(lines[0], format!("epoch 0: key id {old_key}"), "{list}");
    assert!(
        lines[1].starts_with("epoch 1: key id ") && lines[1].ends_with("(current)"),
        "{list}"
    );
}
