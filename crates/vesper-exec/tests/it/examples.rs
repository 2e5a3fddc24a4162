use sha2::{Digest, Sha256};

use crate::{executor, limits, run_with, wasm};

fn example(name: &str) -> Vec<u8> {
    let path = format!("{}/../../examples/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wasm(&std::fs::read_to_string(path).unwrap())
}

#[test]
fn sha256_example_matches_sha2_crate() {
    let ex = executor();
    let m = example("sha256");
    // Boundary lengths around the 55/56/64-byte padding edges, and a multi-page input.
    for len in [0usize, 1, 3, 55, 56, 63, 64, 65, 119, 120, 1000, 200_000] {
        let input: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let out = run_with(&ex, &m, &input, limits()).unwrap();
        assert_eq!(out.exit_code, 0);
        let want = format!("{}\n", hex::encode(Sha256::digest(&input)));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want, "len {len}");
    }
}

#[test]
fn wordcount_example_counts_like_wc() {
    let ex = executor();
    let m = example("wordcount");
    let cases: [(&[u8], &str); 4] = [
        (b"", "0 0 0\n"),
        (b"hello private world\n", "1 3 20\n"),
        (b"  a\tb\n\nc  ", "2 3 10\n"),
        (b"one", "0 1 3\n"),
    ];
    for (input, want) in cases {
        let out = run_with(&ex, &m, input, limits()).unwrap();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
    }
    let big = "lorem ipsum dolor\n".repeat(10_000);
    let out = run_with(&ex, &m, big.as_bytes(), limits()).unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "10000 30000 180000\n"
    );
}

#[test]
fn logreg_example_matches_f64_reference() {
    let ex = executor();
    let m = example("logreg");
    let rows = [
        [1.0, 0.5, 2.0, 0.1],
        [-1.0, 2.0, 0.0, -0.5],
        [0.25, 0.75, -3.5, 1.125],
    ];
    let input: String = rows
        .iter()
        .map(|r| format!("{} {} {} {}\n", r[0], r[1], r[2], r[3]))
        .collect();
    let out = run_with(&ex, &m, input.as_bytes(), limits()).unwrap();
    let want: String = rows
        .iter()
        .map(|r| {
            let z: f64 = -0.3 + 0.8 * r[0] - 1.2 * r[1] + 0.5 * r[2] + 2.0 * r[3];
            let p = 1.0 / (1.0 + (-z).exp());
            format!(
                "{:.4} {}\n",
                (p * 10_000.0).round() / 10_000.0,
                (p >= 0.5) as u8
            )
        })
        .collect();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), want);
}
