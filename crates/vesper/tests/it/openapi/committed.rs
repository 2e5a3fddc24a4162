//! `sdk/openapi.json`, the copy of the document the SDKs generate their types from, is the
//! document the gateway serves. After an API change: `VESPER_WRITE_OPENAPI=1 cargo test -p
//! vesper --test it committed_openapi`, then regenerate the SDKs' types (their READMEs).

use std::path::Path;

use serde_json::Value;

#[tokio::test]
async fn the_committed_openapi_document_is_current() {
    let (node, _dir) = super::node_with(|c| c.workers = 0).await;
    let served: Value = reqwest::get(format!("http://{}/api/openapi.json", node.addr))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    node.stop().await;
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/openapi.json");
    if std::env::var_os("VESPER_WRITE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        committed == served,
        "sdk/openapi.json is stale: run VESPER_WRITE_OPENAPI=1 cargo test -p vesper --test it \
         committed_openapi, then regenerate the SDKs' types"
    );
}
