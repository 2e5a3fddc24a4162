//! The operator routes (tenants, keys, wallets), `GET /api/whoami` and
//! `GET /api/metrics/series`, called for real against the document: each success and each
//! refusal is one the document lists, and what they do takes effect.

use std::time::Duration;

use serde_json::json;
use vesper::node::DevNode;

use super::{Api, Body, Resp, plain, tenant_key};

async fn whoami(api: &Api<'_>, key: &str) -> Resp {
    api.get("/api/whoami", "/api/whoami", Some(key)).await
}

pub(super) async fn exercise(api: &Api<'_>, node: &DevNode) {
    let admin = node.api_key().expose().to_owned();
    let reader = tenant_key(node, "dev", "read", plain()).await;

    // Who am I: the dev key acts for `dev` with every scope.
    let r = whoami(api, &admin).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["tenant"], "dev");
    assert_eq!(r.json()["scopes"], json!(["submit", "read", "admin"]));
    let r = whoami(api, "vsk_0000").await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));

    // Create a tenant; the same name again, a bad name, a non-admin caller.
    let t = "/api/admin/tenants";
    let create = |key: &str, name: &str| {
        let (key, name) = (key.to_owned(), name.to_owned());
        async move {
            api.call(
                "POST",
                t,
                t,
                Some(&key),
                Body::Json(json!({"name": name})),
                &[],
            )
            .await
        }
    };
    let r = create(&admin, "acme").await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.json()["name"].as_str(), r.json()["weight"].as_u64()),
        (Some("acme"), Some(1))
    );
    let r = create(&admin, "acme").await;
    assert_eq!((r.status, r.code().as_str()), (409, "tenant_exists"));
    let r = create(&admin, "no spaces").await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_tenant_name"));
    let r = create(&reader, "other").await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = api
        .call(
            "POST",
            t,
            t,
            Some(&admin),
            Body::Json(json!({"nme": "x"})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_json"));

    // Its settings: set whole (absent quotas take the default), refused out of range.
    let set_t = "/api/admin/tenants/{name}/settings";
    let set = |path: &str, body: serde_json::Value| {
        let (path, body, admin) = (path.to_owned(), body, admin.clone());
        async move {
            api.call("PUT", set_t, &path, Some(&admin), Body::Json(body), &[])
                .await
        }
    };
    let r = set(
        "/api/admin/tenants/acme/settings",
        json!({"weight": 3, "max_queued": 500, "rate_per_sec": 20, "burst": 40}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = r.json();
    assert_eq!(
        (
            &t["weight"],
            &t["max_queued"],
            &t["rate_per_sec"],
            &t["burst"],
            &t["max_fuel"]
        ),
        (&json!(3), &json!(500), &json!(20), &json!(40), &json!(null))
    );
    for body in [json!({"weight": 0}), json!({"weight": 1, "max_queued": 0})] {
        let r = set("/api/admin/tenants/acme/settings", body).await;
        assert_eq!((r.status, r.code().as_str()), (400, "invalid_settings"));
    }
    let r = set("/api/admin/tenants/nobody/settings", json!({"weight": 1})).await;
    assert_eq!((r.status, r.code().as_str()), (404, "tenant_not_found"));

    // A key for it: shown once, not cached, and it works at once for that tenant alone.
    let keys_t = "/api/admin/tenants/{name}/keys";
    let r = api
        .call(
            "POST",
            keys_t,
            "/api/admin/tenants/acme/keys",
            Some(&admin),
            Body::Json(json!({"scopes": "read"})),
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    let key = r.json()["key"].as_str().unwrap().to_owned();
    let key_id = r.json()["key_id"].as_str().unwrap().to_owned();
    assert_eq!(r.json()["scopes"], "read");
    let me = whoami(api, &key).await;
    assert_eq!(
        (me.json()["tenant"].as_str(), me.json()["scopes"].clone()),
        (Some("acme"), json!(["read"]))
    );
    for (path, body, code) in [
        (
            "/api/admin/tenants/nobody/keys",
            json!({}),
            (404, "tenant_not_found"),
        ),
        (
            "/api/admin/tenants/acme/keys",
            json!({"scopes": "root"}),
            (400, "invalid_scopes"),
        ),
    ] {
        let r = api
            .call("POST", keys_t, path, Some(&admin), Body::Json(body), &[])
            .await;
        assert_eq!((r.status, r.code().as_str()), code, "{path}");
    }

    // Revoke it: the key stops working (within the 5 s credential cache); again is 404.
    let revoke_t = "/api/admin/tenants/{name}/keys/{key_id}";
    let path = format!("/api/admin/tenants/acme/keys/{key_id}");
    let r = api
        .call("DELETE", revoke_t, &path, Some(&admin), Body::None, &[])
        .await;
    assert_eq!(
        (r.status, r.json()["revoked"].as_u64()),
        (200, Some(1)),
        "{}",
        r.text
    );
    let r = api
        .call("DELETE", revoke_t, &path, Some(&admin), Body::None, &[])
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "key_not_found"));
    let r = api
        .call(
            "DELETE",
            revoke_t,
            "/api/admin/tenants/acme/keys/XYZ",
            Some(&admin),
            Body::None,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "key_not_found"));
    let mut status = 0;
    for _ in 0..80 {
        status = whoami(api, &key).await.status;
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "a revoked key still works after 8 s");

    // Wallets: map, map again, a malformed one, remove, remove again.
    let wallet = format!(
        "ed25519:{}",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
    let wallets_t = "/api/admin/tenants/{name}/wallets";
    let add = |w: &str| {
        let w = w.to_owned();
        let admin = admin.clone();
        async move {
            api.call(
                "POST",
                wallets_t,
                "/api/admin/tenants/acme/wallets",
                Some(&admin),
                Body::Json(json!({"wallet": w})),
                &[],
            )
            .await
        }
    };
    let r = add(&wallet).await;
    assert_eq!(
        (r.status, r.json()["tenant"].as_str()),
        (201, Some("acme")),
        "{}",
        r.text
    );
    assert_eq!(r.json()["scopes"], "submit,read");
    let r = add(&wallet).await;
    assert_eq!((r.status, r.code().as_str()), (409, "wallet_exists"));
    let r = add("ed25519:beef").await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_wallet"));
    let remove_t = "/api/admin/wallets/{wallet}";
    let path = format!("/api/admin/wallets/{wallet}");
    let r = api
        .call("DELETE", remove_t, &path, Some(&admin), Body::None, &[])
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api
        .call("DELETE", remove_t, &path, Some(&admin), Body::None, &[])
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "wallet_not_found"));

    // The metrics series: samples every 2 s, the jobs this node ran among them.
    let series_t = "/api/metrics/series";
    let mut samples = Vec::new();
    for _ in 0..60 {
        let r = api.get(series_t, series_t, Some(&reader)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()["interval_ms"], 2000);
        samples = r.json()["samples"].as_array().cloned().unwrap_or_default();
        if !samples.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!samples.is_empty(), "no sample after 6 s");
    let r = api.get(series_t, series_t, None).await;
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let submit_only = tenant_key(node, "dev", "submit", plain()).await;
    let r = api.get(series_t, series_t, Some(&submit_only)).await;
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
}
