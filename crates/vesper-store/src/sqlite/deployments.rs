//! The proof gateway's deployment registry.

use super::*;

const COLUMNS: &str = "tenant_id, customer_id, version, image_id, program, verifying_key, \
                       metadata, constraints, created_at";

fn record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeploymentRecord> {
    Ok(DeploymentRecord {
        tenant: TenantId(r.get(0)?),
        customer_id: r.get(1)?,
        version: r.get(2)?,
        image_id: r.get(3)?,
        program: r.get(4)?,
        verifying_key: r.get(5)?,
        metadata: r.get(6)?,
        constraints: r.get::<_, i64>(7)? as u64,
        created_at: Timestamp(r.get::<_, i64>(8)? as u64),
    })
}

#[async_trait::async_trait]
impl DeploymentStore for SqliteStore {
    async fn put_deployment(&self, d: NewDeployment) -> Result<DeploymentRecord> {
        self.write(move |c, _| {
            let owner: Option<(i64, u32)> = c
                .query_row(
                    "SELECT tenant_id, max(version) FROM deployments WHERE customer_id = ?1 \
                     GROUP BY tenant_id",
                    params![d.customer_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let version = match owner {
                Some((t, _)) if t != d.tenant.0 => return Err(StoreError::DeploymentTaken),
                Some((_, v)) => v + 1,
                None => 1,
            };
            let taken = c
                .query_row(
                    "SELECT 1 FROM deployments WHERE image_id = ?1",
                    params![d.image_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if taken {
                return Err(StoreError::DeploymentTaken);
            }
            c.execute(
                &format!(
                    "INSERT INTO deployments({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ),
                params![
                    d.tenant.0,
                    d.customer_id,
                    version,
                    d.image_id,
                    d.program,
                    d.verifying_key,
                    d.metadata,
                    d.constraints as i64,
                    d.created_at.0 as i64
                ],
            )?;
            c.execute(
                "INSERT OR REPLACE INTO proving_keys(image_id, key) VALUES (?1, ?2)",
                params![d.image_id, d.proving_key],
            )?;
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
        })
        .await
    }

    async fn deployment(
        &self,
        tenant: TenantId,
        customer_id: &str,
    ) -> Result<Option<DeploymentRecord>> {
        let customer_id = customer_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM deployments WHERE customer_id = ?1 AND tenant_id = ?2 \
                 ORDER BY version DESC LIMIT 1"
            ))?
            .query_row(params![customer_id, tenant.0], record)
            .optional()?)
        })
        .await
    }

    async fn deployment_by_image(
        &self,
        tenant: Option<TenantId>,
        image_id: &str,
    ) -> Result<Option<DeploymentRecord>> {
        let image_id = image_id.to_owned();
        self.read(move |c| {
            let found = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM deployments WHERE image_id = ?1"
                ))?
                .query_row(params![image_id], record)
                .optional()?;
            Ok(found.filter(|d| tenant.is_none_or(|t| t == d.tenant)))
        })
        .await
    }

    async fn deployment_versions(
        &self,
        tenant: TenantId,
        customer_id: &str,
    ) -> Result<Vec<DeploymentRecord>> {
        let customer_id = customer_id.to_owned();
        self.read(move |c| {
            let rows = c
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM deployments WHERE customer_id = ?1 AND tenant_id = ?2 \
                     ORDER BY version"
                ))?
                .query_map(params![customer_id, tenant.0], record)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn delete_deployment(&self, tenant: TenantId, customer_id: &str) -> Result<bool> {
        let customer_id = customer_id.to_owned();
        self.write(move |c, _| {
            c.execute(
                "DELETE FROM proving_keys WHERE image_id IN \
                 (SELECT image_id FROM deployments WHERE customer_id = ?1 AND tenant_id = ?2)",
                params![customer_id, tenant.0],
            )?;
            let n = c.execute(
                "DELETE FROM deployments WHERE customer_id = ?1 AND tenant_id = ?2",
                params![customer_id, tenant.0],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn proving_key(&self, image_id: &str) -> Result<Option<Arc<Vec<u8>>>> {
        let image_id = image_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT key FROM proving_keys WHERE image_id = ?1")?
                    .query_row(params![image_id], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                    .map(Arc::new),
            )
        })
        .await
    }
}
