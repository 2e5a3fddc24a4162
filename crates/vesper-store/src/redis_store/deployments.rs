//! The proof gateway's deployment registry, in the seed's key layout (docs/STORAGE.md):
//! `deployment:{customer_id}` (the current version, a hash; `:v{n}` each version),
//! `image_id:{image_id}` → customer id, `deployments:all` (a set of customer ids), and
//! `proving_key:{image_id}` (hex), all under the namespace.

use super::*;

fn record(h: &HashMap<String, String>) -> Option<DeploymentRecord> {
    let get = |k: &str| h.get(k).cloned();
    Some(DeploymentRecord {
        tenant: TenantId(get("tenant")?.parse().ok()?),
        customer_id: get("customer_id")?,
        version: get("version")?.parse().ok()?,
        image_id: get("image_id")?,
        program: get("program")?,
        verifying_key: get("verifying_key")?,
        metadata: get("metadata")?,
        constraints: get("constraints")?.parse().ok()?,
        created_at: Timestamp(get("created_at")?.parse().ok()?),
    })
}

impl RedisStore {
    async fn deployment_hash(&self, key: String) -> Result<Option<DeploymentRecord>> {
        let mut con = self.con.clone();
        let h: HashMap<String, String> = con.hgetall(key).await.map_err(re)?;
        if h.is_empty() {
            return Ok(None);
        }
        record(&h).map(Some).ok_or(StoreError::Corrupt {
            table: "deployment",
        })
    }
}

#[async_trait::async_trait]
impl DeploymentStore for RedisStore {
    async fn put_deployment(&self, d: NewDeployment) -> Result<DeploymentRecord> {
        let pk = hex::encode(&d.proving_key);
        let version: u32 = self
            .eval(
                &self.scripts.put_deployment,
                &[
                    &d.tenant.0,
                    &d.customer_id,
                    &d.image_id,
                    &d.program,
                    &d.verifying_key,
                    &d.metadata,
                    &d.constraints,
                    &d.created_at.0,
                    &pk,
                ],
            )
            .await?;
        if version == 0 {
            return Err(StoreError::DeploymentTaken);
        }
        Ok(DeploymentRecord {
            tenant: d.tenant,
            customer_id: d.customer_id,
            version,
            image_id: d.image_id,
            program: d.program,
            verifying_key: d.verifying_key,
            metadata: d.metadata,
            constraints: d.constraints,
            created_at: d.created_at,
        })
    }

    async fn deployment(
        &self,
        tenant: TenantId,
        customer_id: &str,
    ) -> Result<Option<DeploymentRecord>> {
        let d = self
            .deployment_hash(self.key(&format!("deployment:{customer_id}")))
            .await?;
        Ok(d.filter(|d| d.tenant == tenant))
    }

    async fn deployment_by_image(
        &self,
        tenant: Option<TenantId>,
        image_id: &str,
    ) -> Result<Option<DeploymentRecord>> {
        let mut con = self.con.clone();
        let cid: Option<String> = con
            .get(self.key(&format!("image_id:{image_id}")))
            .await
            .map_err(re)?;
        let Some(cid) = cid else { return Ok(None) };
        let Some(current) = self
            .deployment_hash(self.key(&format!("deployment:{cid}")))
            .await?
        else {
            return Ok(None);
        };
        if tenant.is_some_and(|t| t != current.tenant) {
            return Ok(None);
        }
        for v in (1..=current.version).rev() {
            if let Some(d) = self
                .deployment_hash(self.key(&format!("deployment:{cid}:v{v}")))
                .await?
                && d.image_id == image_id
            {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    async fn deployment_versions(
        &self,
        tenant: TenantId,
        customer_id: &str,
    ) -> Result<Vec<DeploymentRecord>> {
        let Some(current) = self.deployment(tenant, customer_id).await? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::with_capacity(current.version as usize);
        for v in 1..=current.version {
            if let Some(d) = self
                .deployment_hash(self.key(&format!("deployment:{customer_id}:v{v}")))
                .await?
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    async fn delete_deployment(&self, tenant: TenantId, customer_id: &str) -> Result<bool> {
        let n: i64 = self
            .eval(&self.scripts.delete_deployment, &[&tenant.0, &customer_id])
            .await?;
        Ok(n == 1)
    }

    async fn proving_key(&self, image_id: &str) -> Result<Option<Arc<Vec<u8>>>> {
        let mut con = self.con.clone();
        let pk: Option<String> = con
            .get(self.key(&format!("proving_key:{image_id}")))
            .await
            .map_err(re)?;
        match pk {
            None => Ok(None),
            Some(h) => hex::decode(h)
                .map(|b| Some(Arc::new(b)))
                .map_err(|_| StoreError::Corrupt {
                    table: "proving_key",
                }),
        }
    }
}
