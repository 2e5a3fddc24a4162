//! The web console's files, as served: embedded in the binary, under a strict
//! Content-Security-Policy, with no credential needed to load them. (What the console does
//! in a browser is tested by `tests/browser`, with headless Chromium.)

use vesper::node::{DevConfig, DevNode};

#[tokio::test]
async fn the_console_is_served_from_the_binary_under_a_strict_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = DevConfig::new(dir.path().join("data"), "127.0.0.1:0".parse().unwrap());
    cfg.workers = 0;
    let node = DevNode::start(cfg).await.unwrap();
    let base = format!("http://{}", node.addr);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let r = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/console/");

    let r = http.get(format!("{base}/console/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    let csp = h["content-security-policy"].to_str().unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = r.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="app.js">"#),
        "{html}"
    );

    // Every asset is there with its type; a second request with the ETag is a 304.
    for (path, mime) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("pages/jobs.js", "text/javascript; charset=utf-8"),
        ("vendor/vesper-sdk.js", "text/javascript; charset=utf-8"),
        ("console.css", "text/css; charset=utf-8"),
    ] {
        let r = http
            .get(format!("{base}/console/{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], mime, "{path}");
        let etag = r.headers()["etag"].clone();
        assert!(!r.bytes().await.unwrap().is_empty(), "{path} is empty");
        let r = http
            .get(format!("{base}/console/{path}"))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 304, "{path}");
    }
    let r = http
        .get(format!("{base}/console/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = http
        .get(format!("{base}/console/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "route_not_found");
    node.stop().await;
}
