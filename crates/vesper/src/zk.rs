//! `vesper zk`: the proof gateway's compiler and prover on local files (docs/DSL.md).
//!
//! A deployment directory holds `program.json` (the DSL document), `proving.key` (arkworks'
//! compressed encoding), `verification_key.json` (snarkjs's format) and `image_id`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use vesper_zk::{export, field, groth, inputs};

#[derive(Args)]
pub struct ZkArgs {
    #[command(subcommand)]
    cmd: ZkCmd,
}

#[derive(Subcommand)]
enum ZkCmd {
    /// Check a DSL document; print every error with its JSON path.
    Validate { dsl: PathBuf },
    /// Compile a DSL document: constraints and public inputs, without keys.
    Compile { dsl: PathBuf },
    /// Compile and make Groth16 keys (randomness from the OS, kept nowhere) into DIR.
    Setup {
        dsl: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Deploy a DSL document to a gateway (`POST /api/deploy`): compile, keys, register.
    Deploy {
        dsl: PathBuf,
        /// Default: the seed's `customer-{use_case}-{unix seconds}`.
        #[arg(long)]
        customer_id: Option<String>,
        #[command(flatten)]
        opts: crate::cli::ClientOpts,
    },
    /// Prove a request: locally with a deployment directory, or through a gateway with
    /// `--customer-id` (sealed to the pool, so the gateway sees ciphertext only; `--plaintext`
    /// uses the seed's `POST /api/prove` instead).
    Prove {
        /// The deployment directory (from `vesper zk setup`), for a local proof.
        #[arg(
            required_unless_present = "customer_id",
            conflicts_with = "customer_id"
        )]
        dir: Option<PathBuf>,
        /// Prove through the gateway with this customer id's current deployment.
        #[arg(long)]
        customer_id: Option<String>,
        /// With --customer-id: send the private inputs in plaintext (`POST /api/prove`).
        #[arg(long, requires = "customer_id")]
        plaintext: bool,
        /// With --customer-id: the client key the sealed result comes back to (default
        /// ~/.config/vesper/client.key).
        #[arg(long, requires = "customer_id")]
        identity: Option<PathBuf>,
        #[command(flatten)]
        opts: crate::cli::ClientOpts,
        /// The request: a JSON file with `private_inputs` and `public_params`.
        #[arg(long)]
        input: PathBuf,
        /// The day a `"default": "today"` date takes (YYYY-MM-DD; default: today, UTC).
        #[arg(long)]
        today: Option<String>,
        /// The binding public input (decimal field element; default 0).
        #[arg(long, default_value = "0")]
        binding: String,
        /// Write proof.json and public.json (snarkjs's formats) here.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify a proof (snarkjs JSON files); exit 0 only if valid.
    Verify {
        #[arg(long)]
        vk: PathBuf,
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        public: PathBuf,
    },
    /// Export the circuit as iden3 `.r1cs`, a request's full assignment as `.wtns`, and a
    /// Solidity verifier contract with the arguments its `verifyProof` takes for a proof.
    Export {
        dir: PathBuf,
        #[arg(long)]
        r1cs: Option<PathBuf>,
        /// Write a Solidity contract verifying this deployment's proofs on an EVM chain.
        #[arg(long)]
        solidity: Option<PathBuf>,
        /// Write PROOF_DIR/calldata.json: `verifyProof`'s arguments `[a, b, c, input]` for
        /// PROOF_DIR/proof.json and PROOF_DIR/public.json (B's coefficients in EIP-197 order).
        #[arg(long, value_name = "PROOF_DIR")]
        calldata_for: Option<PathBuf>,
        #[arg(long, requires = "input")]
        wtns: Option<PathBuf>,
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        today: Option<String>,
        #[arg(long, default_value = "0")]
        binding: String,
    },
    /// Measure the templates in process: constraints, setup, prove and verify times (a proof
    /// uses every core the process may run on; fixed satisfying requests, today = 2026-12-01),
    /// proof and proving-key sizes.
    /// One JSON line per template, then a table (docs/PERFORMANCE.md).
    Bench {
        /// Timed proofs per template (each one is also verified, timed apart).
        #[arg(long, default_value_t = 30)]
        rounds: usize,
        /// Comma-separated templates (default: all five).
        #[arg(long, value_delimiter = ',')]
        templates: Vec<String>,
    },
}

pub(crate) fn read_json(p: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))
}

fn today(given: Option<&str>) -> anyhow::Result<i64> {
    match given {
        Some(s) => vesper_zk::dsl::parse_date(s).context("--today: a date YYYY-MM-DD"),
        None => {
            let days = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs() as i64
                / 86_400;
            Ok(vesper_zk::dsl::civil_from_days(days))
        }
    }
}

struct Deployment {
    compiled: groth::Compiled,
    keys: groth::Keys,
    image_id: String,
}

fn load(dir: &Path) -> anyhow::Result<Deployment> {
    let compiled = groth::compile(&read_json(&dir.join("program.json"))?)
        .map_err(|e| anyhow::anyhow!("program.json: {e}"))?;
    let bytes = std::fs::read(dir.join("proving.key")).context("reading proving.key")?;
    let keys = groth::Keys::from_bytes(&bytes).context("proving.key is malformed")?;
    let image_id = groth::image_id(&compiled, keys.vk());
    Ok(Deployment {
        compiled,
        keys,
        image_id,
    })
}

fn request(p: &Path, d: &Deployment, day: i64) -> anyhow::Result<Vec<inputs::InputValue>> {
    let req = read_json(p)?;
    inputs::read(
        &d.compiled.program,
        &req["private_inputs"],
        &req["public_params"],
        day,
    )
    .map_err(|errs| {
        let lines: Vec<String> = errs
            .iter()
            .map(|e| format!("  {}: {}", e.path, e.message))
            .collect();
        anyhow::anyhow!(
            "the request does not fit the program:\n{}",
            lines.join("\n")
        )
    })
}

pub async fn zk(a: ZkArgs) -> anyhow::Result<ExitCode> {
    match a.cmd {
        ZkCmd::Validate { dsl } => match vesper_zk::dsl::parse(&read_json(&dsl)?) {
            Ok(p) => {
                println!(
                    "valid: {} ({} inputs, {} rules)",
                    p.use_case,
                    p.inputs.len(),
                    p.rules.len()
                );
                Ok(ExitCode::SUCCESS)
            }
            Err(errs) => {
                for e in errs {
                    println!(
                        "{}: {}",
                        if e.path.is_empty() {
                            "(document)"
                        } else {
                            &e.path
                        },
                        e.message
                    );
                }
                Ok(ExitCode::from(1))
            }
        },
        ZkCmd::Compile { dsl } => {
            let t = Instant::now();
            let c = groth::compile(&read_json(&dsl)?).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "use_case": c.program.use_case,
                    "constraints": c.constraints,
                    "witnesses": c.witnesses,
                    "public_inputs": c.public_inputs,
                    "public_input_types": groth::public_input_types(&c),
                    "compile_ms": t.elapsed().as_millis() as u64,
                }))?
            );
            Ok(ExitCode::SUCCESS)
        }
        ZkCmd::Setup { dsl, out } => {
            let doc = read_json(&dsl)?;
            let c = groth::compile(&doc).map_err(|e| anyhow::anyhow!("{e}"))?;
            let t = Instant::now();
            let keys = groth::setup(&c).map_err(|e| anyhow::anyhow!("{e}"))?;
            let setup_ms = t.elapsed().as_millis() as u64;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("program.json"), format!("{}\n", c.canonical))?;
            std::fs::write(out.join("proving.key"), keys.to_bytes())?;
            std::fs::write(
                out.join("verification_key.json"),
                serde_json::to_string_pretty(&export::vk_json(keys.vk()))? + "\n",
            )?;
            let id = groth::image_id(&c, keys.vk());
            std::fs::write(out.join("image_id"), format!("{id}\n"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "image_id": id, "constraints": c.constraints, "setup_ms": setup_ms,
                    "directory": out.display().to_string(),
                }))?
            );
            Ok(ExitCode::SUCCESS)
        }
        ZkCmd::Deploy {
            dsl,
            customer_id,
            opts,
        } => crate::zk_remote::deploy(&opts, &dsl, customer_id).await,
        ZkCmd::Prove {
            customer_id: Some(customer_id),
            input,
            binding,
            plaintext,
            identity,
            opts,
            ..
        } => {
            let binding = (binding != "0").then_some(binding);
            crate::zk_remote::prove(&opts, &customer_id, &input, binding, plaintext, &identity)
                .await
        }
        ZkCmd::Prove {
            dir,
            input,
            today: day,
            binding,
            out,
            ..
        } => {
            let d = load(&dir.expect("clap requires a directory without --customer-id"))?;
            let values = request(&input, &d, today(day.as_deref())?)?;
            let binding = field::parse(&binding).context("--binding: a decimal field element")?;
            let t = Instant::now();
            match groth::prove(&d.compiled, &d.keys, &values, binding) {
                Ok(p) => {
                    let prove_ms = t.elapsed().as_secs_f64() * 1000.0;
                    let proof = groth::proof_bytes(&p.proof);
                    if let Some(out) = &out {
                        std::fs::create_dir_all(out)?;
                        std::fs::write(
                            out.join("proof.json"),
                            serde_json::to_string_pretty(&export::proof_json(&p.proof))? + "\n",
                        )?;
                        std::fs::write(
                            out.join("public.json"),
                            serde_json::to_string_pretty(&export::public_json(&p.public))? + "\n",
                        )?;
                    }
                    let outputs: serde_json::Map<String, Value> = p
                        .outputs
                        .iter()
                        .map(|(k, v)| (k.clone(), json!(v)))
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({
                            "success": true, "proof": hex::encode(proof), "image_id": d.image_id,
                            "outputs": outputs, "public_inputs": export::public_json(&p.public),
                            "prove_ms": (prove_ms * 10.0).round() / 10.0,
                        }))?
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(groth::ProveError::RuleFailed(rule)) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json!({
                            "success": false, "image_id": d.image_id, "failed_rule": rule,
                            "error": format!("rule {rule} does not hold for these inputs; no proof was made"),
                        }))?
                    );
                    Ok(ExitCode::from(1))
                }
                Err(e) => bail!("{e}"),
            }
        }
        ZkCmd::Verify { vk, proof, public } => {
            let vk = export::vk_from_json(&read_json(&vk)?)?;
            let proof = export::proof_from_json(&read_json(&proof)?)?;
            let public = export::public_from_json(&read_json(&public)?)?;
            let pvk = groth::prepare(&vk);
            if groth::verify(&pvk, &public, &proof) {
                println!("valid");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("invalid");
                Ok(ExitCode::from(1))
            }
        }
        ZkCmd::Export {
            dir,
            r1cs,
            solidity,
            calldata_for,
            wtns,
            input,
            today: day,
            binding,
        } => {
            let d = load(&dir)?;
            if let Some(p) = r1cs {
                std::fs::write(&p, export::r1cs(&d.compiled))?;
                println!("wrote {}", p.display());
            }
            if let Some(p) = solidity {
                let source = vesper_zk::solidity::verifier_contract(d.keys.vk(), &d.image_id);
                std::fs::write(&p, source)?;
                println!("wrote {}", p.display());
            }
            if let Some(proof_dir) = calldata_for {
                let proof = export::proof_from_json(&read_json(&proof_dir.join("proof.json"))?)?;
                let public = export::public_from_json(&read_json(&proof_dir.join("public.json"))?)?;
                if public.len() + 1 != d.keys.vk().gamma_abc_g1.len() {
                    bail!(
                        "public.json has {} signals; this deployment takes {}",
                        public.len(),
                        d.keys.vk().gamma_abc_g1.len() - 1
                    );
                }
                let p = proof_dir.join("calldata.json");
                let cd = vesper_zk::solidity::calldata(&proof, &public);
                std::fs::write(&p, serde_json::to_string_pretty(&cd)? + "\n")?;
                println!("wrote {}", p.display());
            }
            if let (Some(p), Some(input)) = (wtns, input) {
                let values = request(&input, &d, today(day.as_deref())?)?;
                let binding =
                    field::parse(&binding).context("--binding: a decimal field element")?;
                let bytes =
                    export::wtns(&d.compiled, &values, binding).map_err(|e| anyhow::anyhow!(e))?;
                std::fs::write(&p, bytes)?;
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        ZkCmd::Bench { rounds, templates } => bench(rounds, templates),
    }
}

/// `(private_inputs, public_params)` of `vesper zk bench`'s satisfying request for a template
/// (the shapes of tests/zk/zk.test.mjs; the trees built as crates/vesper-zk/tests/templates.rs
/// builds them).
fn bench_request(name: &str) -> (Value, Value) {
    use vesper_zk::{merkle, poseidon};
    let path_json = |p: &[_], index: usize| json!({"siblings": p.iter().map(field::to_decimal).collect::<Vec<_>>(), "index": index});
    match name {
        "age_verification" => (
            json!({"user_data": {"date_of_birth": "1990-01-01"}}),
            json!({"min_age": 18}),
        ),
        "income_threshold" => (
            json!({"financial": {"annual_income": "75000.50"}}),
            json!({"min_income": 50000}),
        ),
        "country_allowed" => {
            let leaves: Vec<_> = ["DE", "FR", "NL", "PT"]
                .iter()
                .map(|c| field::from_string(c))
                .collect();
            let (root, path) = merkle::root_and_path(&leaves, 8, 2);
            (
                json!({"identity": {"country": "NL", "country_path": path_json(&path, 2)}}),
                json!({"allowed_countries_root": field::to_decimal(&root)}),
            )
        }
        "credit_score_range" => (
            json!({"credit": {"score": 720}}),
            json!({"min_score": 650, "max_score": 850}),
        ),
        "kyc_credential" => {
            let (subject, salt) = ("alice-7731", field::from_i128(987_654_321));
            let leaf = poseidon::hash(&[
                field::from_string(subject),
                field::from_i128(19_900_517),
                salt,
            ]);
            let mut leaves = vec![field::from_i128(0); 4];
            leaves[3] = leaf;
            let (root, path) = merkle::root_and_path(&leaves, 16, 3);
            (
                json!({"credential": {"subject_id": subject, "date_of_birth": "1990-05-17",
                    "salt": field::to_decimal(&salt), "path": path_json(&path, 3)}}),
                json!({"issuer_root": field::to_decimal(&root), "min_age": 21}),
            )
        }
        other => unreachable!("no benchmark request for {other}"),
    }
}

/// Nearest-rank percentile of sorted milliseconds.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn bench(rounds: usize, templates: Vec<String>) -> anyhow::Result<ExitCode> {
    use vesper_zk::templates::TEMPLATES;
    const TODAY: i64 = 20261201;
    const WARMUP: usize = 2;
    if rounds == 0 {
        bail!("--rounds: at least 1");
    }
    let names: Vec<&str> = if templates.is_empty() {
        TEMPLATES.iter().map(|(n, _)| *n).collect()
    } else {
        templates.iter().map(String::as_str).collect()
    };
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let r3 = |v: f64| (v * 1000.0).round() / 1000.0;
    let mut rows = Vec::new();
    for name in names {
        let Some((_, text)) = TEMPLATES.iter().find(|(n, _)| *n == name) else {
            bail!(
                "--templates: no template {name} (known: {})",
                TEMPLATES.map(|(n, _)| n).join(", ")
            );
        };
        let doc: Value = serde_json::from_str(text)?;
        let t = Instant::now();
        let c = groth::compile(&doc).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let compile_ms = ms(t);
        let t = Instant::now();
        let keys = groth::setup(&c).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        let setup_ms = ms(t);
        let pk_bytes = keys.to_bytes().len();
        let (private, public) = bench_request(name);
        let values = inputs::read(&c.program, &private, &public, TODAY)
            .map_err(|e| anyhow::anyhow!("{name}: the benchmark request does not fit: {e:?}"))?;
        let binding = field::from_i128(12345);
        let mut prove_ms = Vec::with_capacity(rounds);
        let mut verify_ms = Vec::with_capacity(rounds);
        let mut proof_len = 0;
        for i in 0..WARMUP + rounds {
            let t = Instant::now();
            let p = groth::prove(&c, &keys, &values, binding)
                .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let pt = ms(t);
            let t = Instant::now();
            let ok = groth::verify(&keys.pvk, &p.public, &p.proof);
            let vt = ms(t);
            if !ok {
                bail!("{name}: a proof did not verify");
            }
            proof_len = groth::proof_bytes(&p.proof).len();
            if i >= WARMUP {
                prove_ms.push(pt);
                verify_ms.push(vt);
            }
        }
        let mean = prove_ms.iter().sum::<f64>() / rounds as f64;
        prove_ms.sort_by(f64::total_cmp);
        verify_ms.sort_by(f64::total_cmp);
        let row = json!({
            "template": name,
            "constraints": c.constraints,
            "witnesses": c.witnesses,
            "public_inputs": c.public_inputs.len(),
            "rounds": rounds,
            "compile_ms": r3(compile_ms),
            "setup_ms": r3(setup_ms),
            "prove_ms": {"p50": r3(percentile(&prove_ms, 50.0)), "p99": r3(percentile(&prove_ms, 99.0)),
                "mean": r3(mean), "min": r3(prove_ms[0]), "max": r3(prove_ms[rounds - 1])},
            "verify_ms": {"p50": r3(percentile(&verify_ms, 50.0)), "p99": r3(percentile(&verify_ms, 99.0))},
            "proofs_per_s": r3(1000.0 / mean),
            "proof_bytes": proof_len,
            "proving_key_bytes": pk_bytes,
        });
        println!("{}", serde_json::to_string(&row)?);
        rows.push(row);
    }
    println!();
    println!(
        "{:<20} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>9} {:>6} {:>9}",
        "template",
        "constraints",
        "setup ms",
        "prove p50",
        "p99",
        "mean",
        "verify p50",
        "p99",
        "proof",
        "pk bytes"
    );
    for r in &rows {
        let f = |v: &Value| format!("{:.2}", v.as_f64().unwrap_or(f64::NAN));
        let n = |v: &Value| v.as_u64().unwrap_or(0);
        println!(
            "{:<20} {:>11} {:>9.1} {:>9} {:>9} {:>9} {:>10} {:>9} {:>6} {:>9}",
            r["template"].as_str().unwrap_or(""),
            n(&r["constraints"]),
            r["setup_ms"].as_f64().unwrap_or(f64::NAN),
            f(&r["prove_ms"]["p50"]),
            f(&r["prove_ms"]["p99"]),
            f(&r["prove_ms"]["mean"]),
            f(&r["verify_ms"]["p50"]),
            f(&r["verify_ms"]["p99"]),
            n(&r["proof_bytes"]),
            n(&r["proving_key_bytes"]),
        );
    }
    println!(
        "({} core(s) available to a proof of {} constraints or more (ark-groth16 `parallel`; \
         pin with taskset for one), one core to a smaller one; {rounds} timed rounds after \
         {WARMUP} untimed; prove = groth::prove with its witness check; nearest-rank \
         percentiles)",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        vesper_zk::groth::PARALLEL_FROM_CONSTRAINTS
    );
    Ok(ExitCode::SUCCESS)
}
