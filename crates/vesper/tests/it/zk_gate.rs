//! Proof-gated routes (docs/DSL.md §10), with Debian's nginx in front (`auth_request` calling
//! `GET /api/authz`) and on Vesper's own routes by configuration:
//! no proof → 401; a valid proof bound to the request → 200 from the upstream; the same proof
//! again → 401 (its nonce is spent); a proof bound to another route → 401; a proof stating a
//! public parameter the gate does not accept → 401.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{DevProcess, free_addr};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx(Child);
impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn template(name: &str) -> Value {
    let path = format!("{}/../../templates/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Headers carrying a proof for `method path` made by the gateway (`POST /api/prove`) with the
/// binding of that request.
async fn proof_headers(
    http: &reqwest::Client,
    vesper: &str,
    key: &str,
    image: &str,
    method: &str,
    path: &str,
    min_age: u32,
) -> Vec<(&'static str, String)> {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let nonce = format!(
        "n{}",
        vesper_core::JobId::new_random()
            .to_string()
            .replace('-', "")
    );
    let binding = vesper_zk::groth::gate_binding(method, path, ts, &nonce, image);
    let r: Value = http
        .post(format!("{vesper}/api/prove"))
        .bearer_auth(key)
        .json(&json!({
            "customer_id": "gate-age",
            "private_inputs": {"user_data": {"date_of_birth": "1990-01-01"}},
            "public_params": {"min_age": min_age},
            "binding": vesper_zk::field::to_decimal(&binding),
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["success"], true, "{r}");
    let inputs: Vec<&str> = r["public_inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    vec![
        ("x-vesper-proof", r["proof"].as_str().unwrap().to_owned()),
        ("x-vesper-proof-inputs", inputs.join(",")),
        ("x-vesper-proof-timestamp", ts.to_string()),
        ("x-vesper-proof-nonce", nonce),
    ]
}

async fn get(
    http: &reqwest::Client,
    url: &str,
    headers: &[(&'static str, String)],
    key: Option<&str>,
) -> (u16, String) {
    let mut rb = http.get(url);
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[test]
fn nginx_auth_request_and_gated_routes_admit_only_bound_fresh_proofs() {
    assert!(
        std::path::Path::new(NGINX).exists(),
        "nginx is needed (Debian `nginx`; scripts/test installs it)"
    );
    let rt = crate::runtime();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vesper.toml");
    std::fs::write(
        &config,
        r#"
[[gateway.proof_gates]]
path = "/protected"
tenant = "dev"
customer_id = "gate-age"
require = { "public_params.min_age" = "18" }

[[gateway.proof_gates]]
path = "/other"
tenant = "dev"
customer_id = "gate-age"

[[gateway.proof_gates]]
path = "/api/workers"
tenant = "dev"
customer_id = "gate-age"
"#,
    )
    .unwrap();
    let vesper_addr = free_addr();
    let dev = DevProcess::start(
        &data,
        vesper_addr,
        &["--workers", "1", "--config", config.to_str().unwrap()],
        "info",
    );
    let vesper = dev.url();
    let key = dev.api_key();

    // nginx in front: /protected and /other pass to Vesper's /health once /api/authz agrees.
    let nginx_addr = free_addr();
    let prefix = dir.path().join("nginx");
    std::fs::create_dir_all(prefix.join("logs")).unwrap();
    let conf = prefix.join("nginx.conf");
    let authz = format!(
        "location = /_authz {{ internal; proxy_pass http://{vesper_addr}/api/authz; proxy_pass_request_body off; \
         proxy_set_header Content-Length \"\"; proxy_set_header X-Original-URI $request_uri; \
         proxy_set_header X-Original-Method $request_method; }}"
    );
    std::fs::write(
        &conf,
        format!(
            "worker_processes 1; daemon off; pid {p}/nginx.pid; error_log {p}/logs/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log {p}/logs/access.log; client_body_temp_path {p}/body; proxy_temp_path {p}/proxy;\n\
             fastcgi_temp_path {p}/fcgi; uwsgi_temp_path {p}/uwsgi; scgi_temp_path {p}/scgi;\n\
             server {{ listen {nginx_addr}; {authz}\n\
             location = /protected {{ auth_request /_authz; proxy_pass http://{vesper_addr}/health; }}\n\
             location = /other {{ auth_request /_authz; proxy_pass http://{vesper_addr}/health; }} }} }}\n",
            p = prefix.display()
        ),
    )
    .unwrap();
    let _nginx = Nginx(
        Command::new(NGINX)
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let front = format!("http://{nginx_addr}");

    rt.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while http.get(format!("{front}/nothing")).send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {:?}",
                std::fs::read_to_string(prefix.join("logs/error.log"))
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let r: Value = http
            .post(format!("{vesper}/api/deploy"))
            .bearer_auth(&key)
            .json(&json!({"dsl": template("age_verification"), "customer_id": "gate-age"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let image = r["image_id"].as_str().unwrap().to_owned();

        // No proof: refused by Vesper, so by nginx.
        assert_eq!(
            get(&http, &format!("{front}/protected"), &[], None).await.0,
            401
        );
        // A proof bound to GET /protected: nginx passes the request to the upstream.
        let ok = proof_headers(&http, &vesper, &key, &image, "GET", "/protected", 18).await;
        let (status, body) = get(&http, &format!("{front}/protected"), &ok, None).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body.contains("queue_depth"),
            "the upstream's answer: {body}"
        );
        // The same proof again: its nonce is spent.
        assert_eq!(
            get(&http, &format!("{front}/protected"), &ok, None).await.0,
            401
        );
        // A proof bound to another route.
        let other = proof_headers(&http, &vesper, &key, &image, "GET", "/other", 18).await;
        assert_eq!(
            get(&http, &format!("{front}/protected"), &other, None)
                .await
                .0,
            401
        );
        // …which does open its own route.
        assert_eq!(
            get(&http, &format!("{front}/other"), &other, None).await.0,
            200
        );
        // A proof of "at least 0 years old" does not satisfy a gate that requires 18.
        let young = proof_headers(&http, &vesper, &key, &image, "GET", "/protected", 0).await;
        assert_eq!(
            get(&http, &format!("{front}/protected"), &young, None)
                .await
                .0,
            401
        );

        // The same gate on one of Vesper's own routes, by configuration: the API key is not
        // enough; the key and a bound proof are.
        let (status, body) = get(&http, &format!("{vesper}/api/workers"), &[], Some(&key)).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("proof_required"), "{body}");
        let own = proof_headers(&http, &vesper, &key, &image, "GET", "/api/workers", 18).await;
        let (status, body) = get(&http, &format!("{vesper}/api/workers"), &own, Some(&key)).await;
        assert_eq!(status, 200, "{body}");
        // The authorization service itself, asked directly about an ungated path and without
        // the original request's headers.
        let r = http
            .get(format!("{vesper}/api/authz"))
            .header("x-original-method", "GET")
            .header("x-original-uri", "/free")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let r = http
            .get(format!("{vesper}/api/authz"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    });
}
