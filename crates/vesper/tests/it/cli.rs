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
    let verify = |f: &std::path::Path| {
        Command::new(BIN)
            .arg("verify")
            .arg(f)
            .env("VESPER_GATEWAY", dev.url())
            .output()
            .unwrap()
    };
    let v = verify(&file);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
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
            "/encrypted_result",
            serde_json::json!(format!(
                "A{}",
                &json["encrypted_result"].as_str().unwrap()[1..]
            )),
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
