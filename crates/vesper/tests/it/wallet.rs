//! Wallet-signed requests against the real `vesper dev` binary, signed by independent
//! libraries (ed25519-compact; libsecp256k1 + tiny-keccak) from a canonical string built here
//! by hand from docs/AUTH.md, not by Vesper's code. Replays and stale requests are refused,
//! also after a kill -9 and restart (the nonce cache is durable).

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::Digest as _;

use crate::{DevProcess, free_addr};

fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    use tiny_keccak::Hasher as _;
    let mut k = tiny_keccak::Keccak::v256();
    for p in parts {
        k.update(p);
    }
    let mut out = [0u8; 32];
    k.finalize(&mut out);
    out
}

enum Signer {
    Ed(ed25519_compact::KeyPair),
    Eth(secp256k1::SecretKey, String),
}

impl Signer {
    fn wallet(&self) -> String {
        match self {
            Signer::Ed(kp) => format!("ed25519:{}", hex::encode(*kp.pk)),
            Signer::Eth(_, addr) => format!("eip191:{addr}"),
        }
    }
    fn sign(&self, msg: &[u8]) -> String {
        match self {
            Signer::Ed(kp) => hex::encode(kp.sk.sign(msg, None)),
            Signer::Eth(sk, _) => {
                let len = msg.len().to_string();
                let h = keccak256(&[b"\x19Ethereum Signed Message:\n", len.as_bytes(), msg]);
                let sig = secp256k1::ecdsa::RecoverableSignature::sign_ecdsa_recoverable(
                    secp256k1::Message::from_digest(h),
                    sk,
                );
                let (recid, rs) = sig.serialize_compact();
                let mut out = rs.to_vec();
                out.push(27 + u8::from(recid));
                format!("0x{}", hex::encode(out))
            }
        }
    }
}

fn eth_signer(secret: [u8; 32]) -> Signer {
    let sk = secp256k1::SecretKey::from_secret_bytes(secret).unwrap();
    let pk = secp256k1::PublicKey::from_secret_key(&sk).serialize_uncompressed();
    let addr = format!("0x{}", hex::encode(&keccak256(&[&pk[1..]])[12..]));
    Signer::Eth(sk, addr)
}

/// A signed request, kept so that it can be replayed byte for byte.
#[derive(Clone)]
struct Signed {
    method: String,
    path: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// docs/AUTH.md §3: seven lines joined by "\n".
fn sign(s: &Signer, method: &str, path: &str, body: &[u8], ts: u64, nonce: &str) -> Signed {
    let canonical = [
        "vesper-auth-v1".to_owned(),
        method.to_owned(),
        path.to_owned(),
        hex::encode(sha2::Sha256::digest(body)),
        ts.to_string(),
        nonce.to_owned(),
        s.wallet(),
    ]
    .join("\n");
    Signed {
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.to_vec(),
        headers: vec![
            ("x-vesper-wallet".into(), s.wallet()),
            ("x-vesper-timestamp".into(), ts.to_string()),
            ("x-vesper-nonce".into(), nonce.to_owned()),
            ("x-vesper-signature".into(), s.sign(canonical.as_bytes())),
        ],
    }
}

fn send(base: &str, r: &Signed) -> (u16, serde_json::Value) {
    let mut req = reqwest::blocking::Client::new()
        .request(r.method.parse().unwrap(), format!("{base}{}", r.path));
    for (k, v) in &r.headers {
        req = req.header(k, v);
    }
    if !r.body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(r.body.clone());
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(serde_json::Value::Null))
}

fn code(v: &serde_json::Value) -> String {
    v["error"]["code"].as_str().unwrap_or("<none>").to_owned()
}

fn vesper(args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::BIN)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn wallet_signed_requests_from_independent_libraries_and_replays_refused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let addr = free_addr();
    let mut dev = DevProcess::start(&data, addr, &["--workers", "1"], "info");
    let base = dev.url();

    let ed = Signer::Ed(ed25519_compact::KeyPair::from_seed(
        ed25519_compact::Seed::new([7; 32]),
    ));
    let eth = eth_signer([0x11; 32]);
    let stranger = eth_signer([0x22; 32]);
    for s in [&ed, &eth] {
        let out = vesper(&[
            "key",
            "add-wallet",
            "--data",
            data.to_str().unwrap(),
            "--tenant",
            "dev",
            &s.wallet(),
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let mut accepted = Vec::new();
    for (i, s) in [&ed, &eth].into_iter().enumerate() {
        let ts = now_secs();
        // A GET with a query string, and a POST whose body is covered by the signature.
        let get = sign(
            s,
            "GET",
            "/api/jobs?limit=5",
            b"",
            ts,
            &format!("nonce-get-{i}-0123456789"),
        );
        let (st, v) = send(&base, &get);
        assert_eq!(st, 200, "{} GET: {v}", s.wallet());
        let body = br#"{"jobs":[]}"#;
        let post = sign(
            s,
            "POST",
            "/api/submit/batch",
            body,
            ts,
            &format!("nonce-post-{i}-012345678"),
        );
        let (st, v) = send(&base, &post);
        // Authenticated (else 401), then refused for its content: the body was verified.
        assert_eq!(
            (st, code(&v).as_str()),
            (400, "invalid_batch"),
            "{}",
            s.wallet()
        );

        // Replay: same nonce.
        let (st, v) = send(&base, &get);
        assert_eq!((st, code(&v).as_str()), (401, "replayed_nonce"));
        // Stale and future timestamps.
        for skew in [-400i64, 400] {
            let t = (ts as i64 + skew) as u64;
            let r = sign(
                s,
                "GET",
                "/api/jobs",
                b"",
                t,
                &format!("nonce-skew{skew}-{i}-abcdefgh"),
            );
            let (st, v) = send(&base, &r);
            assert_eq!((st, code(&v).as_str()), (401, "stale_request"));
        }
        // Tampering: another body under the same signature.
        let mut tampered = sign(
            s,
            "POST",
            "/api/submit/batch",
            body,
            ts,
            &format!("nonce-tamper-{i}-0123"),
        );
        tampered.body = br#"{"jobs":[{}]}"#.to_vec();
        let (st, v) = send(&base, &tampered);
        assert_eq!((st, code(&v).as_str()), (401, "signature_invalid"));
        // Another path under the same signature.
        let mut moved = sign(
            s,
            "GET",
            "/api/jobs",
            b"",
            ts,
            &format!("nonce-moved-{i}-01234567"),
        );
        moved.path = "/api/jobs?status=queued".into();
        let (st, v) = send(&base, &moved);
        assert_eq!((st, code(&v).as_str()), (401, "signature_invalid"));
        accepted.push(get);
    }
    // A valid signature by a wallet nobody mapped.
    let r = sign(
        &stranger,
        "GET",
        "/api/jobs",
        b"",
        now_secs(),
        "nonce-stranger-0123456789",
    );
    let (st, v) = send(&base, &r);
    assert_eq!((st, code(&v).as_str()), (401, "unknown_wallet"));

    // Malformed headers are `unauthorized` (docs/AUTH.md §3.7 step 1): a timestamp that is
    // not decimal seconds without a leading zero, a signature that is not hex.
    for (header, value) in [
        ("x-vesper-timestamp", "01700000000".to_owned()),
        ("x-vesper-timestamp", "abc".to_owned()),
        ("x-vesper-signature", "zz".repeat(65)),
    ] {
        let mut r = sign(
            &eth,
            "GET",
            "/api/jobs",
            b"",
            now_secs(),
            "nonce-malformed-0123456",
        );
        for h in r.headers.iter_mut().filter(|h| h.0 == header) {
            h.1 = value.clone();
        }
        let (st, v) = send(&base, &r);
        assert_eq!(
            (st, code(&v).as_str()),
            (401, "unauthorized"),
            "{header}: {v}"
        );
    }
    // A Bearer key and wallet headers together are refused, whichever is valid: a valid key
    // with a bad signature, and a valid key with a valid signature.
    let api_key = dev.api_key();
    for forge in [true, false] {
        let mut r = sign(
            &eth,
            "GET",
            "/api/jobs",
            b"",
            now_secs(),
            &format!("nonce-both-{forge}-0123456"),
        );
        if forge {
            for h in r.headers.iter_mut().filter(|h| h.0 == "x-vesper-signature") {
                h.1 = "ab".repeat(65);
            }
        }
        r.headers
            .push(("authorization".into(), format!("Bearer {api_key}")));
        let (st, v) = send(&base, &r);
        assert_eq!(
            (st, code(&v).as_str()),
            (401, "ambiguous_credentials"),
            "{v}"
        );
    }

    // kill -9 and restart: the accepted requests are still replays.
    dev.kill9();
    let dev2 = DevProcess::start(&data, addr, &["--workers", "1"], "info");
    for r in &accepted {
        let (st, v) = send(&dev2.url(), r);
        assert_eq!((st, code(&v).as_str()), (401, "replayed_nonce"));
    }
    // And fresh requests still work.
    let r = sign(
        &eth,
        "GET",
        "/api/jobs",
        b"",
        now_secs(),
        "nonce-after-restart-0001",
    );
    assert_eq!(send(&dev2.url(), &r).0, 200);
}
