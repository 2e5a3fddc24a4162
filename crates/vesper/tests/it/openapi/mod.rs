//! The OpenAPI document (`GET /api/openapi.json`): it is OpenAPI 3.1, it documents exactly the
//! routes the router serves, and every documented operation, called for real (successes and
//! refusals), answers with a documented status, a documented content type, documented headers,
//! and a JSON body that validates against the documented schema (JSON Schema 2020-12, with the
//! document's `components` as the root that `$ref`s resolve against).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use vesper::node::{DevConfig, DevNode};
use vesper_client::Client;
use vesper_core::{Scopes, Timestamp};
use vesper_crypto::{ApiKey, X25519SecretKey};
use vesper_store::TenantSettings;

use crate::{CAT, sealed};

mod committed;
mod operator;
mod proofs;

/// Every route the router serves (`crates/vesper-gateway/src/api.rs`, `router()`). The
/// document must list exactly these.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("GET", "/api/keys"),
    ("POST", "/api/programs"),
    ("POST", "/api/submit"),
    ("POST", "/api/submit/batch"),
    ("GET", "/api/status/{job_id}"),
    ("GET", "/api/result/{job_id}"),
    ("GET", "/api/jobs"),
    ("DELETE", "/api/jobs/{job_id}"),
    ("GET", "/api/events"),
    ("GET", "/api/workers"),
    ("GET", "/api/admin/key-requests"),
    ("POST", "/api/admin/key-grants"),
    ("GET", "/api/admin/tenants"),
    ("POST", "/api/admin/tenants"),
    ("POST", "/api/admin/tenants/{name}/keys"),
    ("PUT", "/api/admin/tenants/{name}/settings"),
    ("DELETE", "/api/admin/tenants/{name}/keys/{key_id}"),
    ("POST", "/api/admin/tenants/{name}/wallets"),
    ("DELETE", "/api/admin/wallets/{wallet}"),
    ("GET", "/api/whoami"),
    ("GET", "/api/metrics/series"),
    ("POST", "/api/validate"),
    ("POST", "/api/compile"),
    ("POST", "/api/deploy"),
    ("POST", "/api/deployments"),
    ("GET", "/api/deployments/{customer_id}"),
    ("PUT", "/api/deployments/{customer_id}"),
    ("DELETE", "/api/deployments/{customer_id}"),
    ("GET", "/api/deployments/by-image-id/{image_id}"),
    ("POST", "/api/verify"),
    ("POST", "/api/prove"),
    ("POST", "/api/load-program"),
    ("GET", "/api/status"),
    ("POST", "/api/admin/tenants/{name}/credits"),
    ("GET", "/api/authz"),
    ("POST", "/api/admin/tenants/{name}/disable"),
    ("POST", "/api/admin/tenants/{name}/enable"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
];

/// Response headers the API sets; each one seen on a real response must be documented there.
const API_HEADERS: &[&str] = &[
    "x-request-id",
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "retry-after",
    "idempotent-replayed",
];

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("<none>")
            .to_owned()
    }
    fn media_type(&self) -> String {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap()
            .trim()
            .to_ascii_lowercase()
    }
}

async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let resp = rb.timeout(Duration::from_secs(30)).send().await.unwrap();
    Resp {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        text: resp.text().await.unwrap(),
    }
}

/// The fetched document and what the test exercised.
struct Spec {
    doc: Value,
    /// (method, template) → statuses seen.
    seen: Mutex<BTreeMap<(String, String), BTreeSet<u16>>>,
}

impl Spec {
    async fn fetch(base: &str) -> Spec {
        let r = send(reqwest::Client::new().get(format!("{base}/api/openapi.json"))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.media_type(), "application/json");
        let spec = Spec {
            doc: serde_json::from_str(&r.text).expect("the document is JSON"),
            seen: Mutex::new(BTreeMap::new()),
        };
        spec.check("GET", "/api/openapi.json", &r);
        spec
    }

    fn operation(&self, method: &str, template: &str) -> &Value {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        op
    }

    /// Follow a local `$ref` (`#/components/...`).
    fn deref<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self
                .doc
                .pointer(r.strip_prefix('#').expect("local $ref"))
                .unwrap_or_else(|| panic!("dangling $ref {r}")),
            None => v,
        }
    }

    /// `r`, the answer to `method template`, is what the document says it can be.
    fn check(&self, method: &str, template: &str, r: &Resp) {
        let what = format!("{method} {template} → {}", r.status);
        let op = self.operation(method, template);
        let responses = op["responses"].as_object().expect("responses");
        let status = r.status.to_string();
        let range = format!("{}XX", &status[..1]);
        let Some(documented) = responses
            .get(&status)
            .or_else(|| responses.get(&range))
            .or_else(|| responses.get("default"))
        else {
            panic!(
                "{what}: status not documented (documented: {:?}); body: {}",
                responses.keys().collect::<Vec<_>>(),
                r.text
            );
        };
        let documented = self.deref(documented);

        // Headers the API sets must be documented on this response.
        let doc_headers: BTreeSet<String> = documented["headers"]
            .as_object()
            .map(|h| h.keys().map(|k| k.to_ascii_lowercase()).collect())
            .unwrap_or_default();
        for h in API_HEADERS {
            if r.headers.contains_key(*h) {
                assert!(
                    doc_headers.contains(*h),
                    "{what}: response header `{h}` is not documented (documented: {doc_headers:?})"
                );
            }
        }

        // Content type and body.
        let content = documented["content"].as_object();
        match content {
            None => assert!(
                r.text.is_empty(),
                "{what}: documented without a body, got {}",
                r.text
            ),
            Some(content) => {
                let media = r.media_type();
                let Some((_, entry)) = content.iter().find(|(ct, _)| {
                    ct.split(';')
                        .next()
                        .unwrap()
                        .trim()
                        .eq_ignore_ascii_case(&media)
                }) else {
                    panic!(
                        "{what}: content type `{media}` not documented (documented: {:?})",
                        content.keys().collect::<Vec<_>>()
                    );
                };
                if media == "application/json" {
                    let body: Value = serde_json::from_str(&r.text)
                        .unwrap_or_else(|e| panic!("{what}: body is not JSON ({e}): {}", r.text));
                    self.validate(&what, &entry["schema"], &body);
                }
            }
        }
        self.seen
            .lock()
            .unwrap()
            .entry((method.to_owned(), template.to_owned()))
            .or_default()
            .insert(r.status);
    }

    /// Where `body` does not match `schema` (`#/components/...` resolved in the document).
    fn errors(&self, what: &str, schema: &Value, body: &Value) -> Vec<String> {
        let mut root = match schema {
            Value::Object(m) => m.clone(),
            Value::Null => return Vec::new(),
            other => panic!("{what}: schema is not an object: {other}"),
        };
        root.insert("components".into(), self.doc["components"].clone());
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&Value::Object(root))
            .unwrap_or_else(|e| panic!("{what}: the documented schema does not compile: {e}"));
        validator
            .iter_errors(body)
            .map(|e| format!("at `{}`: {e}", e.instance_path()))
            .collect()
    }

    /// Validate `body` against `schema`.
    fn validate(&self, what: &str, schema: &Value, body: &Value) {
        let errors = self.errors(what, schema, body);
        assert!(
            errors.is_empty(),
            "{what}: body does not match the documented schema {schema}:\n  {}\nbody: {body:#}",
            errors.join("\n  ")
        );
    }

    /// Every documented operation was answered at least once with a success and once with
    /// an error.
    fn assert_all_exercised(&self) {
        let seen = self.seen.lock().unwrap();
        for (method, template) in ROUTES {
            let statuses = seen
                .get(&(method.to_string(), template.to_string()))
                .unwrap_or_else(|| panic!("{method} {template} was never called"));
            assert!(
                statuses.iter().any(|s| (200..300).contains(s)),
                "{method} {template}: no success exercised ({statuses:?})"
            );
            assert!(
                statuses.iter().any(|s| *s >= 400),
                "{method} {template}: no error exercised ({statuses:?})"
            );
        }
    }
}

/// A call against one node: `call(method, template, concrete path)`.
struct Api<'a> {
    spec: &'a Spec,
    base: String,
    http: reqwest::Client,
}

enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>, &'static str),
}

impl Api<'_> {
    /// Send, check against the document, return the response.
    async fn call(
        &self,
        method: &str,
        template: &str,
        path: &str,
        key: Option<&str>,
        body: Body,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        rb = match body {
            Body::None => rb,
            Body::Json(v) => rb.json(&v),
            Body::Raw(b, ct) => rb.header("content-type", ct).body(b),
        };
        let r = send(rb).await;
        self.spec.check(method, template, &r);
        r
    }
    async fn get(&self, template: &str, path: &str, key: Option<&str>) -> Resp {
        self.call("GET", template, path, key, Body::None, &[]).await
    }
}

async fn node_with(f: impl FnOnce(&mut DevConfig)) -> (DevNode, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 1;
    f(&mut cfg);
    (DevNode::start(cfg).await.unwrap(), dir)
}

async fn tenant_key(node: &DevNode, name: &str, scopes: &str, settings: TenantSettings) -> String {
    let t = match node.store.find_tenant(name).await.unwrap() {
        Some(t) => t,
        None => {
            let t = node.store.create_tenant(name, Timestamp(1)).await.unwrap();
            node.store.set_tenant_settings(t, settings).await.unwrap();
            t
        }
    };
    let key = ApiKey::generate();
    node.store
        .add_api_key(
            t,
            key.hash(),
            scopes.parse::<Scopes>().unwrap(),
            Timestamp(1),
        )
        .await
        .unwrap();
    key.expose().to_owned()
}

fn plain() -> TenantSettings {
    TenantSettings {
        weight: 1,
        ..Default::default()
    }
}

async fn a_submission(node: &DevNode) -> Value {
    let client = Client::new(
        &format!("http://{}", node.addr),
        Some(node.api_key().expose().to_owned()),
    )
    .unwrap();
    let sk = X25519SecretKey::generate();
    let module = wat::parse_str(CAT).unwrap();
    serde_json::to_value(sealed(&client, &sk, &module, b"hello").await).unwrap()
}

const UNKNOWN_JOB: &str = "00000000-0000-4000-8000-000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_as_documented() {
    tokio::time::timeout(Duration::from_secs(120), exercise())
        .await
        .expect("the test finished within 120 s");
}

async fn exercise() {
    // Node A: no workers (jobs stay queued), small body limits, no live streams allowed.
    let (a, _da) = node_with(|c| {
        c.workers = 0;
        c.gateway.max_program_bytes = 4096;
        c.gateway.max_submit_bytes = 16 << 10;
        c.gateway.max_streams = 0;
    })
    .await;
    // Node B: workers; jobs complete.
    // Node B also serves remote workers (libp2p on loopback).
    let p2p_home = tempfile::tempdir().unwrap();
    let (b, _db) = node_with(|c| {
        c.workers = 2;
        c.p2p = Some(vesper::node::P2pConfig {
            home: p2p_home.path().to_owned(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            mdns: false,
            remote: Default::default(),
        });
    })
    .await;
    // Node C: results expire at once.
    let (c, _dc) = node_with(|c| {
        c.worker.result_ttl_ms = 1;
        c.reap_interval = Duration::from_millis(50);
    })
    .await;

    let base_a = format!("http://{}", a.addr);
    let spec = Spec::fetch(&base_a).await;

    // The document: OpenAPI 3.1, the paths are exactly the routes.
    let version = spec.doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert_eq!(spec.doc["info"]["title"], "Vesper API");
    let documented: BTreeSet<(String, String)> = spec.doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                .map(move |m| (m.to_ascii_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented.difference(&served).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not served"
    );
    assert_eq!(
        served.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "served but not documented"
    );
    // The validator is not vacuous: references resolve, and a wrong body is refused.
    let health = json!({"$ref": "#/components/schemas/HealthResponse"});
    let ok = json!({"status": "ok", "queue_depth": 0, "worker_count": 1});
    assert!(spec.errors("self-check", &health, &ok).is_empty());
    let wrong = json!({"status": "ok", "queue_depth": -1});
    assert_eq!(spec.errors("self-check", &health, &wrong).len(), 2);
    let error = json!({"$ref": "#/components/schemas/ErrorBody"});
    let wrong = json!({"error": {"code": "x", "message": "y"}, "job_status": "sleeping"});
    assert_eq!(spec.errors("self-check", &error, &wrong).len(), 1);
    for scheme in ["bearerAuth", "walletSignature"] {
        assert!(
            spec.doc["components"]["securitySchemes"][scheme].is_object(),
            "security scheme {scheme}"
        );
    }

    let http = reqwest::Client::new();
    let api_a = Api {
        spec: &spec,
        base: base_a.clone(),
        http: http.clone(),
    };
    let api_b = Api {
        spec: &spec,
        base: format!("http://{}", b.addr),
        http: http.clone(),
    };
    let api_c = Api {
        spec: &spec,
        base: format!("http://{}", c.addr),
        http: http.clone(),
    };
    let admin_a = a.api_key().expose().to_owned();
    let admin_b = b.api_key().expose().to_owned();
    let reader_b = tenant_key(&b, "reader-b", "read", plain()).await;
    let admin_c = c.api_key().expose().to_owned();
    let reader = tenant_key(&a, "other", "read", plain()).await;
    let writer = tenant_key(&a, "other", "submit", plain()).await;
    let bad = "vsk_0000000000000000000000000000000000000000000000000000000000000000";

    // An undocumented route is a typed 404.
    let r = send(http.get(format!("{base_a}/api/nope"))).await;
    assert_eq!((r.status, r.code().as_str()), (404, "route_not_found"));

    // Public routes: 200 without credentials, 401 with invalid ones.
    for path in [
        "/health",
        "/metrics",
        "/api/keys",
        "/api/openapi.json",
        "/api/docs",
    ] {
        let r = api_a.get(path, path, None).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        let r = api_a.get(path, path, Some(bad)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (401, "unauthorized"),
            "{path}"
        );
    }
    let r = api_a.get("/metrics", "/metrics", None).await;
    assert_eq!(r.media_type(), "text/plain");
    assert!(r.text.contains("vesper_"), "{}", r.text);
    // The reference page is self-contained: no external scripts, styles or fonts.
    let r = api_a.get("/api/docs", "/api/docs", None).await;
    assert_eq!(r.media_type(), "text/html");
    assert!(r.text.contains("openapi.json"));
    for external in ["<script src", "<link", "http://", "https://", "@import"] {
        assert!(!r.text.contains(external), "/api/docs contains {external}");
    }

    // Programs.
    let module = wat::parse_str(CAT).unwrap();
    let upload = |key: String, bytes: Vec<u8>| {
        let api = &api_a;
        async move {
            api.call(
                "POST",
                "/api/programs",
                "/api/programs",
                Some(&key),
                Body::Raw(bytes, "application/wasm"),
                &[],
            )
            .await
        }
    };
    let r = upload(admin_a.clone(), module.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = upload(admin_a.clone(), module.clone()).await;
    assert_eq!(
        (r.status, r.json()["created"].as_bool()),
        (200, Some(false))
    );
    let r = upload(admin_a.clone(), b"not wasm at all".to_vec()).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_module"));
    let mut big = b"\0asm\x01\0\0\0".to_vec();
    big.resize(8192, 0);
    let r = upload(admin_a.clone(), big).await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    let r = upload(reader.clone(), module.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_a
        .call(
            "POST",
            "/api/programs",
            "/api/programs",
            None,
            Body::Raw(module.clone(), "application/wasm"),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));

    // Submit (node A: the job stays queued).
    let body = a_submission(&a).await;
    let submit = |key: &str, body: Value, headers: &'static [(&'static str, &'static str)]| {
        let key = key.to_owned();
        let api = &api_a;
        async move {
            api.call(
                "POST",
                "/api/submit",
                "/api/submit",
                Some(&key),
                Body::Json(body),
                headers,
            )
            .await
        }
    };
    let r = submit(&admin_a, body.clone(), &[("idempotency-key", "order-1")]).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let queued = r.json()["job_id"].as_str().unwrap().to_owned();
    let r = submit(&admin_a, body.clone(), &[("idempotency-key", "order-1")]).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.headers["idempotent-replayed"], "true");
    let mut other = body.clone();
    other["priority"] = json!(9);
    let r = submit(&admin_a, other, &[("idempotency-key", "order-1")]).await;
    assert_eq!((r.status, r.code().as_str()), (422, "idempotency_conflict"));
    // The conflict names the job the key belongs to.
    assert_eq!(r.json()["job_id"], json!(queued));
    let mut bad_key = body.clone();
    bad_key["key_id"] = json!("0000000000000000");
    let r = submit(&admin_a, bad_key, &[]).await;
    assert_eq!((r.status, r.code().as_str()), (422, "unknown_key_id"));
    let mut malformed_key = body.clone();
    malformed_key["key_id"] = json!("XYZ");
    let r = submit(&admin_a, malformed_key, &[]).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_key_id"));
    let r = submit(&admin_a, json!({"encrypted_payload": 1}), &[]).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_json"));
    let mut huge = body.clone();
    huge["encrypted_payload"] = json!("A".repeat(32 << 10));
    let r = submit(&admin_a, huge, &[]).await;
    assert_eq!((r.status, r.code().as_str()), (413, "payload_too_large"));
    let r = submit(&reader, body.clone(), &[]).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_a
        .call(
            "POST",
            "/api/submit",
            "/api/submit",
            None,
            Body::Json(body.clone()),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));

    // Batch.
    let batch = |key: &str, body: Value| {
        let key = key.to_owned();
        let api = &api_a;
        async move {
            api.call(
                "POST",
                "/api/submit/batch",
                "/api/submit/batch",
                Some(&key),
                Body::Json(body),
                &[],
            )
            .await
        }
    };
    let r = batch(&admin_a, json!({"jobs": [body.clone(), body.clone()]})).await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.json()["jobs"].as_array().unwrap().len(), 2);
    let r = batch(&admin_a, json!({"jobs": []})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_batch"));
    let r = batch(&admin_a, json!({"jobs": [body.clone(), {"x": 1}]})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_json"));
    let r = batch(&reader, json!({"jobs": [body.clone()]})).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));

    // Status, result, events, cancel on a queued job.
    let status_t = "/api/status/{job_id}";
    let result_t = "/api/result/{job_id}";
    let r = api_a
        .get(status_t, &format!("/api/status/{queued}"), Some(&admin_a))
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("queued"))
    );
    let r = api_a
        .get(
            status_t,
            &format!("/api/status/{queued}?wait=1"),
            Some(&admin_a),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api_a
        .get(
            status_t,
            &format!("/api/status/{UNKNOWN_JOB}"),
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "job_not_found"));
    let r = api_a
        .get(status_t, "/api/status/not-a-job-id", Some(&admin_a))
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "job_not_found"));
    let r = api_a
        .get(
            status_t,
            &format!("/api/status/{queued}?wait=9223372036854775808"),
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    let r = api_a
        .get(
            status_t,
            &format!("/api/status/{queued}?when=now"),
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    let r = api_a
        .get(status_t, &format!("/api/status/{queued}"), Some(&writer))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_a
        .get(status_t, &format!("/api/status/{queued}"), None)
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = api_a
        .get(result_t, &format!("/api/result/{queued}"), Some(&admin_a))
        .await;
    assert_eq!(
        (r.status, r.code().as_str(), r.json()["job_status"].as_str()),
        (409, "result_not_ready", Some("queued"))
    );
    let r = api_a
        .get(
            result_t,
            &format!("/api/result/{queued}?wait=x"),
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    let r = api_a
        .get(
            result_t,
            &format!("/api/result/{UNKNOWN_JOB}"),
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "job_not_found"));
    let r = api_a
        .get(
            "/api/events",
            &format!("/api/events?job_id={queued}"),
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (503, "too_many_streams"));
    assert!(r.headers.contains_key("retry-after"));

    let cancel_t = "/api/jobs/{job_id}";
    let cancel = |key: Option<String>, id: String| {
        let api = &api_a;
        async move {
            api.call(
                "DELETE",
                cancel_t,
                &format!("/api/jobs/{id}"),
                key.as_deref(),
                Body::None,
                &[],
            )
            .await
        }
    };
    let r = cancel(Some(reader.clone()), queued.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = cancel(None, queued.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = cancel(Some(admin_a.clone()), queued.clone()).await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("cancelled"))
    );
    let r = cancel(Some(admin_a.clone()), queued.clone()).await;
    assert_eq!(
        (r.status, r.code().as_str(), r.json()["job_status"].as_str()),
        (409, "not_cancellable", Some("cancelled"))
    );
    let r = cancel(Some(admin_a.clone()), UNKNOWN_JOB.to_owned()).await;
    assert_eq!((r.status, r.code().as_str()), (404, "job_not_found"));
    let r = api_a
        .get(result_t, &format!("/api/result/{queued}"), Some(&admin_a))
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "job_cancelled"));

    // Listing.
    let r = api_a
        .get("/api/jobs", "/api/jobs?limit=1", Some(&admin_a))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let cursor = r.json()["next_cursor"].as_str().unwrap().to_owned();
    let r = api_a
        .get(
            "/api/jobs",
            &format!("/api/jobs?limit=1&cursor={cursor}"),
            Some(&admin_a),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = api_a
        .get("/api/jobs", "/api/jobs?status=cancelled", Some(&admin_a))
        .await;
    assert_eq!(r.json()["jobs"].as_array().unwrap().len(), 1);
    let r = api_a
        .get("/api/jobs", "/api/jobs?limit=0", Some(&admin_a))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    let r = api_a
        .get("/api/jobs", "/api/jobs?cursor=zzz", Some(&admin_a))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_cursor"));
    let r = api_a.get("/api/jobs", "/api/jobs", Some(&writer)).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_a.get("/api/jobs", "/api/jobs", None).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));

    // Workers: any reader. Node A runs no workers, so it lists none.
    let r = api_a
        .get("/api/workers", "/api/workers", Some(&reader))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["workers"], json!([]), "{}", r.text);
    let r = api_a
        .get("/api/workers", "/api/workers", Some(&writer))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_a.get("/api/workers", "/api/workers", None).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));

    // Admin.
    let r = api_a
        .get("/api/admin/tenants", "/api/admin/tenants", Some(&admin_a))
        .await;
    assert_eq!(r.status, 200);
    let r = api_a
        .get("/api/admin/tenants", "/api/admin/tenants", Some(&reader))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_a
        .get("/api/admin/tenants", "/api/admin/tenants", None)
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    tenant_key(&a, "spare", "read", plain()).await;
    for action in ["disable", "enable"] {
        let t = format!("/api/admin/tenants/{{name}}/{action}");
        let post = |key: Option<&str>, name: &str| {
            let path = format!("/api/admin/tenants/{name}/{action}");
            let key = key.map(str::to_owned);
            let (api, t) = (&api_a, t.clone());
            async move {
                api.call("POST", &t, &path, key.as_deref(), Body::None, &[])
                    .await
            }
        };
        let r = post(Some(&admin_a), "spare").await;
        assert_eq!(
            (r.status, r.json()["disabled"].as_bool()),
            (200, Some(action == "disable"))
        );
        let r = post(Some(&admin_a), "nobody").await;
        assert_eq!((r.status, r.code().as_str()), (404, "tenant_not_found"));
        let r = post(Some(&reader), "spare").await;
        assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
        let r = post(None, "spare").await;
        assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    }

    // Node B: a job that completes, one that fails, the live stream, rate limits.
    let body_b = a_submission(&b).await;
    let r = api_b
        .call(
            "POST",
            "/api/submit",
            "/api/submit",
            Some(&admin_b),
            Body::Json(body_b.clone()),
            &[],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let done = r.json()["job_id"].as_str().unwrap().to_owned();
    let r = api_b
        .get(
            status_t,
            &format!("/api/status/{done}?wait=20"),
            Some(&admin_b),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("completed")),
        "{}",
        r.text
    );
    let r = api_b
        .get(result_t, &format!("/api/result/{done}"), Some(&admin_b))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api_b
        .get(
            result_t,
            &format!("/api/result/{done}"),
            Some(&writer_b(&b).await),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api_b
        .get(result_t, &format!("/api/result/{done}"), None)
        .await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let mut starve = body_b.clone();
    starve["max_fuel"] = json!(1);
    let r = api_b
        .call(
            "POST",
            "/api/submit",
            "/api/submit",
            Some(&admin_b),
            Body::Json(starve),
            &[],
        )
        .await;
    let failed = r.json()["job_id"].as_str().unwrap().to_owned();
    let r = api_b
        .get(
            status_t,
            &format!("/api/status/{failed}?wait=20"),
            Some(&admin_b),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (200, Some("failed")),
        "{}",
        r.text
    );
    assert!(r.json()["error"]["code"].is_string());
    let r = api_b
        .get(result_t, &format!("/api/result/{failed}"), Some(&admin_b))
        .await;
    assert_eq!(
        (r.status, r.code().as_str(), r.json()["job_status"].as_str()),
        (409, "job_failed", Some("failed"))
    );
    // A single-job stream of a finished job: one event, then the end.
    let r = api_b
        .get(
            "/api/events",
            &format!("/api/events?job_id={done}"),
            Some(&admin_b),
        )
        .await;
    assert_eq!(
        (r.status, r.media_type().as_str()),
        (200, "text/event-stream")
    );
    assert!(r.text.contains("event: status"), "{}", r.text);
    let data = r
        .text
        .lines()
        .find_map(|l| l.strip_prefix("data:"))
        .expect("a data line");
    let event: Value = serde_json::from_str(data.trim()).unwrap();
    spec.validate(
        "GET /api/events data",
        &json!({"$ref": "#/components/schemas/StatusEvent"}),
        &event,
    );
    let r = api_b
        .get(
            "/api/events",
            &format!("/api/events?job_id={UNKNOWN_JOB}"),
            Some(&admin_b),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "job_not_found"));
    let r = api_b
        .get("/api/events", "/api/events?follow=1", Some(&admin_b))
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_query"));
    let r = api_b.get("/api/events", "/api/events", None).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    // Pool-key requests and grants (admin). Node A serves no remote workers.
    let r = api_a
        .get(
            "/api/admin/key-requests",
            "/api/admin/key-requests",
            Some(&admin_a),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "p2p_disabled"));
    let r = api_b
        .get(
            "/api/admin/key-requests",
            "/api/admin/key-requests",
            Some(&admin_b),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"requests": []})),
        "{}",
        r.text
    );
    // A remote worker (not trusted by B's own custodian) asks through the job protocol.
    let pool = b.remote.clone().expect("node B serves remote workers");
    let worker = vesper_net::NodeIdentity::generate();
    let peer = worker.peer_id();
    let signer = vesper_crypto::SigningIdentity::from_bytes(&worker.secret_seed()).unwrap();
    let hello = vesper_proto::Message::Hello(vesper_proto::Hello {
        worker_id: "w".into(),
        receipt_key: hex::encode(worker.public_key()),
        capabilities: vesper_node::remote::capabilities(1, "", 0),
    });
    assert!(matches!(
        pool.handle(peer, hello).await,
        vesper_proto::Message::Welcome(_)
    ));
    let kx = X25519SecretKey::generate();
    let kx_pub = *kx.public_key().as_bytes();
    let ask = vesper_proto::Message::KeyRequest(vesper_proto::KeyRequest {
        kx_pubkey: hex::encode(kx_pub),
        signature: hex::encode(signer.sign(
            vesper_node::remote::KX_DOMAIN,
            &vesper_node::remote::kx_message(&peer, &kx_pub),
        )),
    });
    let vesper_proto::Message::KeyGrant(g) = pool.handle(peer, ask.clone()).await else {
        panic!("no key grant answer")
    };
    assert_eq!(g.status, "pending");
    let r = api_b
        .get(
            "/api/admin/key-requests",
            "/api/admin/key-requests",
            Some(&admin_b),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["requests"][0]["peer_id"],
        peer.to_string(),
        "{}",
        r.text
    );
    assert_eq!(r.json()["requests"][0]["kx_pubkey"], hex::encode(kx_pub));
    let pool_key = X25519SecretKey::generate();
    let sealed =
        vesper_crypto::seal_pool_grant(&kx.public_key(), &peer.to_bytes(), &[&pool_key]).unwrap();
    let grant = |kx: String, sealed: String| {
        json!({
            "peer_id": peer.to_string(),
            "kx_pubkey": kx,
            "sealed": sealed,
            "key_ids": [pool_key.public_key().key_id().to_string()],
        })
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&sealed);
    let post = |body: Value, key: Option<String>| {
        let api = &api_b;
        async move {
            api.call(
                "POST",
                "/api/admin/key-grants",
                "/api/admin/key-grants",
                key.as_deref(),
                Body::Json(body),
                &[],
            )
            .await
        }
    };
    let r = post(
        grant(hex::encode([9u8; 32]), b64.clone()),
        Some(admin_b.clone()),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "key_request_not_found")
    );
    let r = post(
        grant(hex::encode(kx_pub), "not base64!".into()),
        Some(admin_b.clone()),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_grant"));
    let r = post(json!({"peer_id": "x"}), Some(admin_b.clone())).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_json"));
    let r = post(
        grant(hex::encode(kx_pub), b64.clone()),
        Some(reader_b.clone()),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = post(grant(hex::encode(kx_pub), b64.clone()), None).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = post(
        grant(hex::encode(kx_pub), b64.clone()),
        Some(admin_b.clone()),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    // The worker's next request gets the sealed keys, and only its key opens them.
    let vesper_proto::Message::KeyGrant(g) = pool.handle(peer, ask).await else {
        panic!("no key grant answer")
    };
    assert_eq!(g.status, "granted");
    let opened = vesper_crypto::open_pool_grant(&kx, &peer.to_bytes(), &g.sealed.unwrap()).unwrap();
    assert_eq!(
        opened[0].public_key().key_id(),
        pool_key.public_key().key_id()
    );

    // Node B's two in-process workers are listed as local, the remote one (granted above) as
    // remote.
    let r = api_b
        .get("/api/workers", "/api/workers", Some(&admin_b))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = r.json()["workers"].as_array().cloned().unwrap_or_default();
    let kinds: Vec<&str> = listed.iter().map(|w| w["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["local", "local", "remote"], "{}", r.text);
    assert_eq!(listed[2]["id"], peer.to_string());
    assert_eq!(listed[2]["key_granted"], true);
    let r = api_b
        .get("/api/events", "/api/events", Some(&writer_b(&b).await))
        .await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    // Rate limits: a tenant allowed one request per second.
    let limited = tenant_key(
        &b,
        "limited",
        "read",
        TenantSettings {
            rate_per_sec: Some(1),
            burst: Some(1),
            ..plain()
        },
    )
    .await;
    let r = api_b.get("/api/jobs", "/api/jobs", Some(&limited)).await;
    assert_eq!(r.status, 200);
    assert!(r.headers.contains_key("ratelimit-remaining"));
    let r = api_b.get("/api/jobs", "/api/jobs", Some(&limited)).await;
    assert_eq!((r.status, r.code().as_str()), (429, "rate_limited"));

    // Node C: a result past its time to live.
    let body_c = a_submission(&c).await;
    let r = api_c
        .call(
            "POST",
            "/api/submit",
            "/api/submit",
            Some(&admin_c),
            Body::Json(body_c),
            &[],
        )
        .await;
    let expired = r.json()["job_id"].as_str().unwrap().to_owned();
    let r = api_c
        .get(
            status_t,
            &format!("/api/status/{expired}?wait=20"),
            Some(&admin_c),
        )
        .await;
    assert_eq!(r.json()["status"].as_str(), Some("completed"), "{}", r.text);
    let mut last = 0;
    for _ in 0..100 {
        let r = api_c
            .get(result_t, &format!("/api/result/{expired}"), Some(&admin_c))
            .await;
        last = r.status;
        if r.status == 410 {
            assert_eq!(r.code(), "result_expired");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(last, 410, "the result never expired");

    operator::exercise(&api_b, &b).await;
    proofs::exercise(&api_b, &b).await;

    spec.assert_all_exercised();
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

/// A key of node B's `dev` tenant with the `submit` scope only.
async fn writer_b(node: &DevNode) -> String {
    tenant_key(node, "dev", "submit", plain()).await
}
