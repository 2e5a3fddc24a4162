//! The shape of the code, checked: the crate graph in docs/ARCHITECTURE.md is the one
//! `cargo metadata` reports, only the gateway uses axum, no store trait grows past 15 methods
//! and no non-test source file past 1,200 lines (issue [F]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Each workspace crate's normal dependencies on other workspace crates, and whether it (or
/// its tests) depends on axum.
fn metadata() -> (BTreeMap<String, Vec<String>>, Vec<String>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut graph = BTreeMap::new();
    let mut axum = Vec::new();
    for p in m["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_owned();
        let deps = p["dependencies"].as_array().unwrap();
        let mut own: Vec<String> = deps
            .iter()
            .filter(|d| d["kind"].is_null())
            .filter_map(|d| d["name"].as_str())
            .filter(|n| n.starts_with("vesper"))
            .map(str::to_owned)
            .collect();
        own.sort();
        own.dedup();
        if deps.iter().any(|d| d["name"] == "axum") {
            axum.push(name.clone());
        }
        graph.insert(name, own);
    }
    (graph, axum)
}

/// The graph as docs/ARCHITECTURE.md states it, between its `deps:begin` / `deps:end` marks:
/// one `crate: dep, dep` line per crate.
fn documented() -> BTreeMap<String, Vec<String>> {
    let doc = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let block = doc
        .split("<!-- deps:begin -->")
        .nth(1)
        .and_then(|r| r.split("<!-- deps:end -->").next())
        .expect("ARCHITECTURE.md has a deps:begin/deps:end block");
    block
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim().starts_with("vesper"))
        .map(|(name, deps)| {
            let mut d: Vec<String> = deps
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            d.sort();
            (name.trim().to_owned(), d)
        })
        .collect()
}

#[test]
fn the_documented_crate_graph_is_the_real_one_and_only_the_gateway_uses_axum() {
    let (graph, axum) = metadata();
    assert_eq!(
        documented(),
        graph,
        "docs/ARCHITECTURE.md's crate graph differs from cargo metadata"
    );
    assert_eq!(axum, vec!["vesper-gateway".to_owned()]);
    assert!(
        !graph["vesper-node"].contains(&"vesper-gateway".to_owned()),
        "vesper-node must not depend on the gateway"
    );
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_source_file_past_1200_lines_and_no_store_trait_past_15_methods() {
    let mut files = Vec::new();
    for c in std::fs::read_dir(root().join("crates")).unwrap() {
        let src = c.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    for f in &files {
        // Unit-test modules kept in their own file are tests, not source.
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let n = std::fs::read_to_string(f).unwrap().lines().count();
        assert!(n <= 1200, "{} has {n} lines", f.display());
    }
    let traits = std::fs::read_to_string(root().join("crates/vesper-store/src/traits.rs")).unwrap();
    let mut counted = 0;
    for block in traits.split("\npub trait ").skip(1) {
        let name = block.split([':', ' ', '{']).next().unwrap();
        let body = block.split("\n}\n").next().unwrap();
        let methods = body.matches("fn ").count();
        assert!(methods <= 15, "store trait {name} has {methods} methods");
        counted += 1;
    }
    assert!(counted >= 8, "found {counted} store traits");
}
