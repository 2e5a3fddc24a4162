//! The proof gateway's routes, called for real against the document: validate, compile,
//! deploy, the registry (tenant-scoped), versions, deletion and verification.

use serde_json::{Value, json};
use vesper::node::DevNode;
use vesper_zk::{field, groth, inputs};

use super::{Api, Body, plain, tenant_key};

fn template(name: &str) -> Value {
    let path = format!("{}/../../templates/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

pub(super) async fn exercise(api: &Api<'_>, node: &DevNode) {
    let dev = tenant_key(node, "dev", "submit,read", plain()).await;
    let other = tenant_key(node, "zk-other", "submit,read", plain()).await;
    let age = template("age_verification");
    let post = |path: &'static str, key: String, body: Value| async move {
        api.call("POST", path, path, Some(&key), Body::Json(body), &[])
            .await
    };

    // Validate: every error with its path; a well-formed request is always a 200.
    let r = post("/api/validate", dev.clone(), json!({"dsl": age})).await;
    assert_eq!(
        (r.status, r.json()["valid"].clone()),
        (200, json!(true)),
        "{}",
        r.text
    );
    let mut broken = age.clone();
    broken["validation_rules"][0]["check"] = json!({"gte": [{"ref": "public_params.nope"}, 1]});
    let r = post("/api/validate", dev.clone(), json!({"dsl": broken})).await;
    assert_eq!(
        r.json()["errors"][0]["path"],
        "validation_rules[0].check.gte[0].ref",
        "{}",
        r.text
    );
    let r = post("/api/validate", dev.clone(), json!({"dls": age})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_json"));

    // Compile: size and public inputs, no keys.
    let r = post("/api/compile", dev.clone(), json!({"dsl": age})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.json()["public_inputs"],
        json!([
            "public_params.min_age",
            "public_params.today",
            "outputs.compliance_result",
            "binding"
        ])
    );
    assert!(r.json()["constraints"].as_u64().unwrap() > 50);
    let r = post("/api/compile", dev.clone(), json!({"dsl": broken})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_dsl"));
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("validation_rules[0].check.gte[0].ref")
    );

    // Deploy: the seed's response; another tenant cannot take the customer id.
    let r = post(
        "/api/deploy",
        dev.clone(),
        json!({"dsl": age, "customer_id": "customer-age-1"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let deployed = r.json();
    assert_eq!(
        (deployed["success"].clone(), deployed["version"].clone()),
        (json!(true), json!(1))
    );
    assert!(
        deployed["api_endpoint"]
            .as_str()
            .unwrap()
            .ends_with("/api/prove")
    );
    let image = deployed["image_id"].as_str().unwrap().to_owned();
    let r = post(
        "/api/deploy",
        other.clone(),
        json!({"dsl": age, "customer_id": "customer-age-1"}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (409, "customer_id_taken"));
    let r = post(
        "/api/deploy",
        dev.clone(),
        json!({"dsl": age, "customer_id": "no spaces"}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_customer_id"));
    // The default customer id is the seed's scheme.
    let r = post(
        "/api/deploy",
        dev.clone(),
        json!({"dsl": template("credit_score_range")}),
    )
    .await;
    assert!(
        r.json()["customer_id"]
            .as_str()
            .unwrap()
            .starts_with("customer-credit_score_range-"),
        "{}",
        r.text
    );

    // The registry, both ways; another tenant gets a 404 for both.
    let dep_t = "/api/deployments/{customer_id}";
    let r = api
        .get(dep_t, "/api/deployments/customer-age-1", Some(&dev))
        .await;
    assert_eq!(
        (r.status, r.json()["image_id"].as_str()),
        (200, Some(image.as_str())),
        "{}",
        r.text
    );
    assert_eq!(r.json()["verifying_key"]["protocol"], "groth16");
    let r = api
        .get(dep_t, "/api/deployments/customer-age-1", Some(&other))
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));
    let img_t = "/api/deployments/by-image-id/{image_id}";
    let r = api
        .get(
            img_t,
            &format!("/api/deployments/by-image-id/{image}"),
            Some(&dev),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["customer_id"].as_str()),
        (200, Some("customer-age-1"))
    );
    let r = api
        .get(
            img_t,
            &format!("/api/deployments/by-image-id/{image}"),
            Some(&other),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));

    // Verify: a proof made with the deployment's keys, for the seed's example.
    let c = groth::compile(&age).unwrap();
    let pk = node.store.proving_key(&image).await.unwrap().unwrap();
    let keys = groth::Keys::from_bytes(&pk).unwrap();
    let values = inputs::read(
        &c.program,
        &json!({"user_data": {"date_of_birth": "1990-01-01"}}),
        &json!({"min_age": 18}),
        20261201,
    )
    .unwrap();
    let p = groth::prove(&c, &keys, &values, field::from_i128(99)).unwrap();
    let public: Vec<String> = p.public.iter().map(field::to_decimal).collect();
    let proof_hex = hex::encode(groth::proof_bytes(&p.proof));
    let r = post(
        "/api/verify",
        dev.clone(),
        json!({"image_id": image, "proof": proof_hex, "public_inputs": public}),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["valid"].clone()),
        (200, json!(true)),
        "{}",
        r.text
    );
    let snarkjs_form = vesper_zk::export::proof_json(&p.proof);
    let mut changed = public.clone();
    changed[0] = "17".into();
    let r = post(
        "/api/verify",
        dev.clone(),
        json!({"image_id": image, "proof": snarkjs_form, "public_inputs": changed}),
    )
    .await;
    assert_eq!((r.status, r.json()["valid"].clone()), (200, json!(false)));
    let r = post(
        "/api/verify",
        dev.clone(),
        json!({"image_id": image, "proof": "00", "public_inputs": public}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_proof"));
    let r = post(
        "/api/verify",
        other.clone(),
        json!({"image_id": image, "proof": proof_hex, "public_inputs": public}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));

    // A new version: a new image id; the old one still names version 1.
    let r = api
        .call(
            "PUT",
            dep_t,
            "/api/deployments/customer-age-1",
            Some(&dev),
            Body::Json(json!({"dsl": age, "metadata": {"note": "v2"}})),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["version"].clone()),
        (200, json!(2)),
        "{}",
        r.text
    );
    assert_ne!(r.json()["image_id"].as_str(), Some(image.as_str()));
    let r = api
        .get(dep_t, "/api/deployments/customer-age-1", Some(&dev))
        .await;
    assert_eq!(r.json()["versions"].as_array().unwrap().len(), 2);
    assert_eq!(r.json()["metadata"]["note"], "v2");
    let r = api
        .call(
            "PUT",
            dep_t,
            "/api/deployments/customer-nobody",
            Some(&dev),
            Body::Json(json!({"dsl": age})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));

    // Prove, the seed's plaintext form: a worker proves it as a sealed zk_proof job, and the
    // proof verifies for the current version's image id.
    let current = api
        .get(dep_t, "/api/deployments/customer-age-1", Some(&dev))
        .await
        .json()["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let prove = |dob: &str, customer: &str| {
        post(
            "/api/prove",
            dev.clone(),
            json!({"customer_id": customer, "private_inputs": {"user_data": {"date_of_birth": dob}}, "public_params": {"min_age": 18}}),
        )
    };
    let r = prove("1990-01-01", "customer-age-1").await;
    assert_eq!(
        (r.status, r.json()["success"].clone()),
        (200, json!(true)),
        "{}",
        r.text
    );
    let p = r.json();
    assert_eq!(p["image_id"].as_str(), Some(current.as_str()));
    assert_eq!(p["outputs"], json!({"compliance_result": true}));
    assert_eq!(p["public_inputs"][0], "18");
    assert!(p["today"].as_str().unwrap().len() == 10);
    let r = post(
        "/api/verify",
        dev.clone(),
        json!({"image_id": current, "proof": p["proof"], "public_inputs": p["public_inputs"]}),
    )
    .await;
    assert_eq!(r.json()["valid"], json!(true), "{}", r.text);
    // A violating input: success false, the rule named, no proof.
    let r = prove("2015-06-01", "customer-age-1").await;
    assert_eq!(
        (
            r.status,
            r.json()["success"].clone(),
            r.json()["failed_rule"].clone()
        ),
        (200, json!(false), json!("old_enough")),
        "{}",
        r.text
    );
    assert!(r.json().get("proof").is_none());
    let r = prove("1990-01-01", "customer-nobody").await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));

    // Keys made elsewhere (here, in this process) for a document: registered after a check
    // of their shape against the circuit, and the workers prove with them.
    let credit = template("credit_score_range");
    let c = groth::compile(&credit).unwrap();
    let own = groth::setup(&c).unwrap();
    let b64 = |b: &[u8]| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b);
    let reg_t = "/api/deployments";
    let r = post(reg_t, dev.clone(), json!({"customer_id": "customer-own-keys", "dsl": credit, "proving_key": b64(&own.to_bytes())})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json()["image_id"].as_str().unwrap(),
        groth::image_id(&c, own.vk())
    );
    let r = post("/api/prove", dev.clone(), json!({"customer_id": "customer-own-keys", "private_inputs": {"credit": {"score": 820}}, "public_params": {"min_score": 650, "max_score": 850}})).await;
    assert_eq!(
        (
            r.json()["success"].clone(),
            r.json()["outputs"]["excellent"].clone()
        ),
        (json!(true), json!(true)),
        "{}",
        r.text
    );
    let r = post(reg_t, dev.clone(), json!({"customer_id": "customer-bad-keys", "dsl": credit, "proving_key": b64(&keys.to_bytes())})).await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_keys"));

    // The proxy authorization service: no gate on this node, so any path may pass; the
    // original request's headers are required.
    let authz = "/api/authz";
    let r = api
        .call(
            "GET",
            authz,
            authz,
            None,
            Body::None,
            &[
                ("x-original-method", "GET"),
                ("x-original-uri", "/anything"),
            ],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api.call("GET", authz, authz, None, Body::None, &[]).await;
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));

    // Delete: gone, with its versions; only its holder can.
    let r = api
        .call(
            "DELETE",
            dep_t,
            "/api/deployments/customer-age-1",
            Some(&other),
            Body::None,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));
    let r = api
        .call(
            "DELETE",
            dep_t,
            "/api/deployments/customer-age-1",
            Some(&dev),
            Body::None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = api
        .get(
            img_t,
            &format!("/api/deployments/by-image-id/{image}"),
            Some(&dev),
        )
        .await;
    assert_eq!(r.status, 404);

    // Preloading and the provers' status; credits (no proof price on this node).
    let r = post(
        "/api/load-program",
        dev.clone(),
        json!({"customer_id": "customer-own-keys"}),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = post(
        "/api/load-program",
        other.clone(),
        json!({"customer_id": "customer-own-keys"}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (404, "deployment_not_found"));
    let r = post(
        "/api/load-program",
        dev.clone(),
        json!({"customer_id": "no spaces"}),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (400, "invalid_customer_id"));
    let r = api.get("/api/status", "/api/status", Some(&dev)).await;
    assert_eq!(
        (r.status, r.json()["proof_price"].clone()),
        (200, json!(0)),
        "{}",
        r.text
    );
    let r = api.get("/api/status", "/api/status", None).await;
    assert_eq!(r.status, 401);
    let admin = tenant_key(node, "dev", "submit,read,admin", plain()).await;
    let credits = "/api/admin/tenants/{name}/credits";
    let r = api
        .call(
            "POST",
            credits,
            "/api/admin/tenants/zk-other/credits",
            Some(&admin),
            Body::Json(json!({"amount": 3})),
            &[],
        )
        .await;
    assert_eq!(
        (r.status, r.json()["balance"].clone()),
        (200, json!(3)),
        "{}",
        r.text
    );
    let r = api
        .call(
            "POST",
            credits,
            "/api/admin/tenants/nobody/credits",
            Some(&admin),
            Body::Json(json!({"amount": 3})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "tenant_not_found"));
    let r = api
        .call(
            "POST",
            credits,
            "/api/admin/tenants/zk-other/credits",
            Some(&dev),
            Body::Json(json!({"amount": 3})),
            &[],
        )
        .await;
    assert_eq!(r.status, 403);
}
