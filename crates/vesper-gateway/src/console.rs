//! The web console: static files embedded in the binary (`crates/vesper-gateway/console/`),
//! served at `/console/` (and `/` redirects there). No CDN, no build step at `cargo build`
//! time: the one generated file, `vendor/vesper-sdk.js` (the TypeScript SDK bundled with
//! esbuild), is committed, and CI rebuilds it and checks it is current.
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles, images and
//! connections from this origin only, no inline script or style, no framing, no plugins.
//! The console keeps credentials in the tab's memory: never in a URL, a cookie or storage.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use sha2::Digest;

use crate::ApiError;

/// The policy on every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

macro_rules! assets {
    ($($path:literal => $mime:literal,)*) => {
        /// Every embedded file: (path under `/console/`, content type, bytes).
        pub const ASSETS: &[(&str, &str, &[u8])] = &[
            $(($path, $mime, include_bytes!(concat!("../console/", $path))),)*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "console.css" => "text/css; charset=utf-8",
    "app.js" => "text/javascript; charset=utf-8",
    "lib/api.js" => "text/javascript; charset=utf-8",
    "lib/dom.js" => "text/javascript; charset=utf-8",
    "lib/chart.js" => "text/javascript; charset=utf-8",
    "pages/index.js" => "text/javascript; charset=utf-8",
    "pages/signin.js" => "text/javascript; charset=utf-8",
    "pages/jobs.js" => "text/javascript; charset=utf-8",
    "pages/job.js" => "text/javascript; charset=utf-8",
    "pages/submit.js" => "text/javascript; charset=utf-8",
    "pages/workers.js" => "text/javascript; charset=utf-8",
    "pages/metrics.js" => "text/javascript; charset=utf-8",
    "pages/operator.js" => "text/javascript; charset=utf-8",
    "pages/proofs.js" => "text/javascript; charset=utf-8",
    "vendor/vesper-sdk.js" => "text/javascript; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
}

/// A rule template of `templates/` (docs/DSL.md §6), for the proofs page's gallery:
/// `templates/NAME.json` under `/console/`, from the one embedded copy
/// ([`vesper_zk::templates::TEMPLATES`]).
fn template(path: &str) -> Option<&'static [u8]> {
    let name = path.strip_prefix("templates/")?.strip_suffix(".json")?;
    vesper_zk::templates::TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.as_bytes())
}

/// Routes of the console, merged into the API's router (so the same guard, limits and
/// metrics apply).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(|headers: HeaderMap| async move { serve("index.html", &headers) }))
        .route(
            "/console/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve(&path, &headers)
            }),
        )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let found = ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, mime, bytes)| (*mime, *bytes))
        .or_else(|| template(path).map(|bytes| ("application/json", bytes)));
    let Some((mime, bytes)) = found else {
        return ApiError::new(
            vesper_api::ApiErrorCode::RouteNotFound,
            "no such console file",
        )
        .into_response();
    };
    let etag = format!("\"{}\"", &hex::encode(sha2::Sha256::digest(bytes))[..32]);
    let mut resp = if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, mime)], bytes).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Revalidate every time (cheap with the ETag): a new binary serves new files at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(&etag).expect("hex is a valid header value"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file in `console/` is embedded, and every embedded file exists: a page added to
    /// the directory but not to [`ASSETS`] would 404 only in the browser.
    #[test]
    fn every_console_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    on_disk.push(rel);
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|(p, _, _)| p.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    /// Every template of `templates/` is served, as valid JSON, and nothing else is.
    #[test]
    fn every_template_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../templates");
        let mut on_disk: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = vesper_zk::templates::TEMPLATES
            .iter()
            .map(|(n, _)| format!("{n}.json"))
            .collect();
        served.sort();
        assert_eq!(on_disk, served);
        for name in on_disk {
            let path = format!("templates/{name}");
            let bytes = template(&path).unwrap_or_else(|| panic!("{path} not served"));
            assert_eq!(bytes, std::fs::read(root.join(&name)).unwrap(), "{path}");
            serde_json::from_slice::<serde_json::Value>(bytes)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert!(!ASSETS.iter().any(|(p, _, _)| *p == path), "{path} twice");
        }
        assert!(template("templates/../Cargo.toml").is_none());
        assert!(template("templates/age_verification").is_none());
    }

    /// No inline script or style anywhere: the policy would block it, so it would be a bug.
    #[test]
    fn html_has_no_inline_script_or_style() {
        for (path, mime, bytes) in ASSETS {
            if !mime.starts_with("text/html") {
                continue;
            }
            let html = std::str::from_utf8(bytes).unwrap();
            for (i, _) in html.match_indices("<script") {
                let tag_end = html[i..].find('>').unwrap() + i;
                assert!(
                    html[i..tag_end].contains("src="),
                    "{path}: inline <script> at byte {i}"
                );
            }
            assert!(!html.contains("<style"), "{path}: inline <style>");
            assert!(!html.contains(" style="), "{path}: style attribute");
            assert!(!html.contains(" onclick="), "{path}: inline handler");
        }
    }
}
