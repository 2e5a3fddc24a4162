//! Every template compiles, proves a satisfying input (the proof verifies, its outputs are
//! the documented ones), refuses a violating one by naming the rule, and a proof does not
//! verify for other public inputs, another binding or another image's keys.

use ark_bn254::Fr;
use serde_json::{Value, json};
use vesper_zk::groth::{self, Compiled, Keys, ProveError};
use vesper_zk::{field, inputs, merkle, poseidon};

const TODAY: i64 = 20261201;

fn template(name: &str) -> Value {
    let path = format!("{}/../../templates/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Deployed {
    compiled: Compiled,
    keys: Keys,
}

fn deploy(name: &str) -> Deployed {
    let compiled = groth::compile(&template(name)).unwrap();
    let keys = groth::setup(&compiled).unwrap();
    Deployed { compiled, keys }
}

fn prove(d: &Deployed, private: Value, public: Value) -> Result<groth::Proven, ProveError> {
    let values = inputs::read(&d.compiled.program, &private, &public, TODAY).unwrap();
    groth::prove(&d.compiled, &d.keys, &values, Fr::from(7u8))
}

fn fails(r: Result<groth::Proven, ProveError>, rule: &str) {
    match r {
        Err(ProveError::RuleFailed(r)) => assert_eq!(r, rule),
        other => panic!("expected rule {rule} to fail, got {other:?}"),
    }
}

/// A valid proof, and the ways it must not verify.
fn verifies_only_as_proven(d: &Deployed, p: &groth::Proven) {
    assert!(groth::verify(&d.keys.pvk, &p.public, &p.proof));
    for i in 0..p.public.len() {
        let mut other = p.public.clone();
        other[i] += Fr::from(1u8);
        assert!(
            !groth::verify(&d.keys.pvk, &other, &p.proof),
            "public input {i} changed"
        );
    }
}

#[test]
fn age_verification_takes_the_seeds_example() {
    let d = deploy("age_verification");
    let p = prove(
        &d,
        json!({"user_data": {"date_of_birth": "1990-01-01"}}),
        json!({"min_age": 18}),
    )
    .unwrap();
    assert_eq!(p.outputs, vec![("compliance_result".to_owned(), true)]);
    // Public inputs: min_age, today (filled in), the output, the binding.
    assert_eq!(
        p.public,
        vec![
            Fr::from(18u8),
            Fr::from(TODAY as u64),
            Fr::from(1u8),
            Fr::from(7u8)
        ]
    );
    assert_eq!(
        d.compiled.public_inputs,
        [
            "public_params.min_age",
            "public_params.today",
            "outputs.compliance_result",
            "binding"
        ]
    );
    verifies_only_as_proven(&d, &p);
    // The keys fit the circuit's shape; another template's do not.
    assert!(groth::check_proving_key(&d.compiled, &d.keys.pk));
    let other = deploy("income_threshold");
    assert!(!groth::check_proving_key(&d.compiled, &other.keys.pk));
    assert_eq!(
        groth::circuit_id(&d.compiled),
        groth::circuit_id(&groth::compile(&template("age_verification")).unwrap())
    );
    // snarkjs's JSON forms read back to the same key, proof and signals.
    use vesper_zk::export;
    let vk = export::vk_from_json(&export::vk_json(d.keys.vk())).unwrap();
    assert_eq!(&vk, d.keys.vk());
    let proof = export::proof_from_json(&export::proof_json(&p.proof)).unwrap();
    assert_eq!(proof, p.proof);
    assert_eq!(
        export::public_from_json(&export::public_json(&p.public)).unwrap(),
        p.public
    );
    let mut bent = export::proof_json(&p.proof);
    bent["pi_a"][1] = json!("1");
    assert!(
        export::proof_from_json(&bent).is_err(),
        "a point off the curve was read"
    );
    // 17 years and 364 days old: not yet.
    fails(
        prove(
            &d,
            json!({"user_data": {"date_of_birth": "2008-12-02"}}),
            json!({"min_age": 18}),
        ),
        "old_enough",
    );
    prove(
        &d,
        json!({"user_data": {"date_of_birth": "2008-12-01"}}),
        json!({"min_age": 18}),
    )
    .unwrap();
    // Born after "today".
    fails(
        prove(
            &d,
            json!({"user_data": {"date_of_birth": "2030-01-01"}}),
            json!({"min_age": 0}),
        ),
        "old_enough",
    );

    // Another deployment of the same document: another image id, and its keys refuse this proof.
    let d2 = deploy("age_verification");
    assert_ne!(
        groth::image_id(&d.compiled, d.keys.vk()),
        groth::image_id(&d2.compiled, d2.keys.vk())
    );
    assert!(!groth::verify(&d2.keys.pvk, &p.public, &p.proof));
    assert_eq!(groth::image_id(&d.compiled, d.keys.vk()).len(), 64);
}

#[test]
fn income_threshold() {
    let d = deploy("income_threshold");
    let p = prove(
        &d,
        json!({"financial": {"annual_income": 75000.5}}),
        json!({"min_income": "50000.00"}),
    )
    .unwrap();
    verifies_only_as_proven(&d, &p);
    assert_eq!(p.public[0], Fr::from(5_000_000u64));
    fails(
        prove(
            &d,
            json!({"financial": {"annual_income": "49999.99"}}),
            json!({"min_income": 50000}),
        ),
        "income_at_least_threshold",
    );
}

#[test]
fn country_in_an_allowed_set() {
    let d = deploy("country_allowed");
    let allowed = ["DE", "FR", "NL", "PT"];
    let leaves: Vec<Fr> = allowed.iter().map(|c| field::from_string(c)).collect();
    let (root, path) = merkle::root_and_path(&leaves, 8, 1);
    let path_json = |p: &[Fr], index: usize| json!({"siblings": p.iter().map(field::to_decimal).collect::<Vec<_>>(), "index": index});
    let public = json!({"allowed_countries_root": field::to_decimal(&root)});
    let p = prove(
        &d,
        json!({"identity": {"country": "FR", "country_path": path_json(&path, 1)}}),
        public.clone(),
    )
    .unwrap();
    verifies_only_as_proven(&d, &p);
    // A country not in the set, with FR's path or a path of its own in another tree.
    fails(
        prove(
            &d,
            json!({"identity": {"country": "US", "country_path": path_json(&path, 1)}}),
            public.clone(),
        ),
        "country_in_allowed_set",
    );
    let (_, us_path) = merkle::root_and_path(&[field::from_string("US")], 8, 0);
    fails(
        prove(
            &d,
            json!({"identity": {"country": "US", "country_path": path_json(&us_path, 0)}}),
            public,
        ),
        "country_in_allowed_set",
    );
}

#[test]
fn credit_score_range_with_a_soft_output() {
    let d = deploy("credit_score_range");
    let public = json!({"min_score": 650, "max_score": 850});
    let p = prove(&d, json!({"credit": {"score": 720}}), public.clone()).unwrap();
    assert_eq!(
        p.outputs,
        vec![
            ("compliance_result".to_owned(), true),
            ("excellent".to_owned(), false)
        ]
    );
    verifies_only_as_proven(&d, &p);
    let p = prove(&d, json!({"credit": {"score": 820}}), public.clone()).unwrap();
    assert_eq!(p.outputs[1], ("excellent".to_owned(), true));
    fails(
        prove(&d, json!({"credit": {"score": 600}}), public),
        "score_in_range",
    );
}

#[test]
fn kyc_credential_membership_binds_the_date_of_birth() {
    let d = deploy("kyc_credential");
    let (subject, dob, salt) = ("alice-7731", "1990-05-17", Fr::from(987654321u64));
    let leaf = poseidon::hash(&[field::from_string(subject), Fr::from(19900517u64), salt]);
    let mut leaves = vec![Fr::from(0u8); 6];
    leaves[5] = leaf;
    let (root, path) = merkle::root_and_path(&leaves, 16, 5);
    let path =
        json!({"siblings": path.iter().map(field::to_decimal).collect::<Vec<_>>(), "index": 5});
    let public = json!({"issuer_root": field::to_decimal(&root), "min_age": 21});
    let private = |dob: &str, salt: &Fr| json!({"credential": {"subject_id": subject, "date_of_birth": dob, "salt": field::to_decimal(salt), "path": path}});
    let p = prove(&d, private(dob, &salt), public.clone()).unwrap();
    verifies_only_as_proven(&d, &p);
    // Lying about the date of birth breaks the credential, even to an age that passes.
    fails(
        prove(&d, private("1980-05-17", &salt), public.clone()),
        "credential_issued",
    );
    fails(
        prove(&d, private(dob, &Fr::from(1u8)), public),
        "credential_issued",
    );
    println!("kyc_credential: {} constraints", d.compiled.constraints);
}

/// The JSON Schema of the DSL (docs/dsl.schema.json) accepts every template, and refuses
/// what the parser refuses at the shape level.
#[test]
fn the_json_schema_accepts_every_template() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../../docs/dsl.schema.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    for name in [
        "age_verification",
        "income_threshold",
        "country_allowed",
        "credit_score_range",
        "kyc_credential",
    ] {
        let doc = template(name);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
    }
    let mut bad = template("age_verification");
    bad["validation_rules"][0]["check"] = json!({"frob": 1});
    assert!(!validator.is_valid(&bad));
    bad = template("age_verification");
    bad["private_inputs"]["user_data"]["date_of_birth"]["type"] = json!("blob");
    assert!(!validator.is_valid(&bad));
}
