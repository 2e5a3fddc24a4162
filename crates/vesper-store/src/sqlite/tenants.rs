//! Tenants, credentials (API keys, wallets) and request nonces.

use super::*;

#[async_trait::async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<TenantId> {
        let name = name.to_owned();
        self.write(move |c, _| {
            match c.execute(
                "INSERT INTO tenants(name, created_at) VALUES (?1, ?2)",
                params![name, now.0 as i64],
            ) {
                Ok(_) => Ok(TenantId(c.last_insert_rowid())),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::TenantExists)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn find_tenant(&self, name: &str) -> Result<Option<TenantId>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT id FROM tenants WHERE name = ?1")?
                .query_row(params![name], |r| r.get(0))
                .optional()?
                .map(TenantId))
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        self.read(|c| {
            let sql = format!(
                "SELECT t.id, t.name, t.created_at, t.disabled, t.queued, {SETTINGS_COLUMNS} \
                 FROM tenants t ORDER BY t.id"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(TenantRecord {
                    id: TenantId(r.get(0)?),
                    name: r.get(1)?,
                    created_at: Timestamp(r.get::<_, i64>(2)? as u64),
                    disabled: r.get::<_, i64>(3)? != 0,
                    queued: r.get::<_, i64>(4)?.max(0) as u64,
                    settings: settings_from_row(r, 5)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn set_tenant_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let name = name.to_owned();
        self.write(move |c, fx| {
            let n = c.execute(
                "UPDATE tenants SET disabled = ?2 WHERE name = ?1",
                params![name, disabled as i64],
            )?;
            if n == 0 {
                return Err(StoreError::TenantNotFound);
            }
            // Re-enabling may make queued jobs leasable again.
            fx.work = true;
            Ok(())
        })
        .await
    }

    async fn set_tenant_settings(&self, tenant: TenantId, settings: TenantSettings) -> Result<()> {
        self.write(move |c, _| {
            let o = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64) as i64);
            let n = c.execute(
                "UPDATE tenants SET weight = ?2, max_queued = ?3, jobs_per_day = ?4, \
                 max_payload_bytes = ?5, max_fuel = ?6, rate_per_sec = ?7, burst = ?8 WHERE id = ?1",
                params![
                    tenant.0,
                    settings.weight.max(1),
                    o(settings.max_queued),
                    o(settings.jobs_per_day),
                    o(settings.max_payload_bytes),
                    o(settings.max_fuel),
                    settings.rate_per_sec,
                    settings.burst,
                ],
            )?;
            if n == 0 {
                return Err(StoreError::TenantNotFound);
            }
            Ok(())
        })
        .await
    }

    async fn add_api_key(
        &self,
        tenant: TenantId,
        key_hash: [u8; 32],
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        self.write(move |c, _| {
            c.execute(
                "INSERT INTO api_keys(key_hash, tenant_id, created_at, scopes) VALUES (?1, ?2, ?3, ?4)",
                params![&key_hash[..], tenant.0, now.0 as i64, scopes.to_string()],
            )?;
            Ok(())
        })
        .await
    }

    async fn revoke_api_key(&self, tenant: TenantId, hash_prefix: &str) -> Result<u64> {
        let prefix = hash_prefix.to_ascii_uppercase();
        if prefix.len() < 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(0);
        }
        self.write(move |c, _| {
            let n = c.execute(
                "UPDATE api_keys SET revoked = 1 WHERE tenant_id = ?1 AND revoked = 0 \
                 AND substr(hex(key_hash), 1, length(?2)) = ?2",
                params![tenant.0, prefix],
            )?;
            Ok(n as u64)
        })
        .await
    }

    async fn principal_for_key(&self, key_hash: [u8; 32]) -> Result<Option<Principal>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT k.tenant_id, k.scopes, {SETTINGS_COLUMNS} FROM api_keys k \
                 JOIN tenants t ON t.id = k.tenant_id \
                 WHERE k.key_hash = ?1 AND k.revoked = 0 AND t.disabled = 0"
            );
            principal_query(c, &sql, &&key_hash[..])
        })
        .await
    }

    async fn add_wallet(
        &self,
        tenant: TenantId,
        wallet: &str,
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        let wallet = wallet.to_owned();
        self.write(move |c, _| {
            match c.execute(
                "INSERT INTO wallets(wallet, tenant_id, scopes, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![wallet, tenant.0, scopes.to_string(), now.0 as i64],
            ) {
                Ok(_) => Ok(()),
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    Err(StoreError::CredentialExists)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    async fn revoke_wallet(&self, wallet: &str) -> Result<bool> {
        let wallet = wallet.to_owned();
        self.write(move |c, _| {
            Ok(c.execute("DELETE FROM wallets WHERE wallet = ?1", params![wallet])? > 0)
        })
        .await
    }

    async fn principal_for_wallet(&self, wallet: &str) -> Result<Option<Principal>> {
        let wallet = wallet.to_owned();
        self.read(move |c| {
            let sql = format!(
                "SELECT w.tenant_id, w.scopes, {SETTINGS_COLUMNS} FROM wallets w \
                 JOIN tenants t ON t.id = w.tenant_id WHERE w.wallet = ?1 AND t.disabled = 0"
            );
            principal_query(c, &sql, &wallet)
        })
        .await
    }

    async fn remember_nonce(
        &self,
        key: [u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        self.write(move |c, _| {
            // New, or remembered once but already past its window: accept and (re)arm.
            let n = c
                .prepare_cached(
                    "INSERT INTO nonces(nonce_key, expires_at) VALUES (?1, ?2) \
                     ON CONFLICT(nonce_key) DO UPDATE SET expires_at = excluded.expires_at \
                     WHERE nonces.expires_at <= ?3",
                )?
                .execute(params![&key[..], expires_at.0 as i64, now.0 as i64])?;
            Ok(n == 1)
        })
        .await
    }
}
