//! The deployment registry (the proof gateway): versions per customer id, lookups both ways,
//! tenant scoping, image ids registered once, deletion of everything a customer id holds.

use super::*;

fn deployment(tenant: TenantId, customer: &str, image: char, version_note: &str) -> NewDeployment {
    NewDeployment {
        tenant,
        customer_id: customer.to_owned(),
        image_id: image.to_string().repeat(64),
        program: format!("{{\"use_case\":\"{version_note}\"}}"),
        verifying_key: "{\"protocol\":\"groth16\"}".to_owned(),
        proving_key: vec![image as u8; 1000],
        metadata: "{}".to_owned(),
        constraints: 42,
        created_at: Timestamp(1000),
    }
}

async fn registry_versions_scoping_and_deletion(b: Backend) {
    let s = &b.store;
    let a = s.create_tenant("a", Timestamp(1)).await.unwrap();
    let other = s.create_tenant("b", Timestamp(1)).await.unwrap();

    let v1 = s
        .put_deployment(deployment(a, "customer-x", 'a', "one"))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    // Another tenant cannot take the customer id, nor anyone an image id twice.
    assert!(matches!(
        s.put_deployment(deployment(other, "customer-x", 'c', "theirs"))
            .await,
        Err(StoreError::DeploymentTaken)
    ));
    assert!(matches!(
        s.put_deployment(deployment(a, "customer-y", 'a', "copy"))
            .await,
        Err(StoreError::DeploymentTaken)
    ));
    let v2 = s
        .put_deployment(deployment(a, "customer-x", 'b', "two"))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);

    let current = s.deployment(a, "customer-x").await.unwrap().unwrap();
    assert_eq!(
        (
            current.version,
            current.image_id.as_str(),
            current.program.as_str()
        ),
        (2, "b".repeat(64).as_str(), "{\"use_case\":\"two\"}")
    );
    let versions = s.deployment_versions(a, "customer-x").await.unwrap();
    assert_eq!(
        versions.iter().map(|d| d.version).collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(versions[0], v1);
    // By image id: the version it names, within the tenant (or for an operator).
    assert_eq!(
        s.deployment_by_image(Some(a), &"a".repeat(64))
            .await
            .unwrap(),
        Some(v1.clone())
    );
    assert_eq!(
        s.deployment_by_image(None, &"a".repeat(64)).await.unwrap(),
        Some(v1)
    );
    assert_eq!(
        s.deployment_by_image(Some(other), &"a".repeat(64))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.deployment_by_image(Some(a), &"f".repeat(64))
            .await
            .unwrap(),
        None
    );
    // Another tenant sees nothing of it.
    assert_eq!(s.deployment(other, "customer-x").await.unwrap(), None);
    assert!(
        s.deployment_versions(other, "customer-x")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.proving_key(&"b".repeat(64))
            .await
            .unwrap()
            .unwrap()
            .as_slice(),
        &[b'b'; 1000][..]
    );

    // Deletion: only by the holder; it removes every version, image id and proving key.
    assert!(!s.delete_deployment(other, "customer-x").await.unwrap());
    assert!(s.delete_deployment(a, "customer-x").await.unwrap());
    assert!(!s.delete_deployment(a, "customer-x").await.unwrap());
    assert_eq!(s.deployment(a, "customer-x").await.unwrap(), None);
    assert_eq!(
        s.deployment_by_image(None, &"a".repeat(64)).await.unwrap(),
        None
    );
    assert_eq!(s.proving_key(&"a".repeat(64)).await.unwrap(), None);
    assert_eq!(s.proving_key(&"b".repeat(64)).await.unwrap(), None);
    // The customer id is free again, for anyone.
    let again = s
        .put_deployment(deployment(other, "customer-x", 'a', "new owner"))
        .await
        .unwrap();
    assert_eq!((again.version, again.tenant), (1, other));
}

behaviour!(registry_versions_scoping_and_deletion);
