//! Tenants, credentials (API keys, wallets) and request nonces.

use super::*;

#[async_trait::async_trait]
impl TenantStore for RedisStore {
    async fn create_tenant(&self, name: &str, now: Timestamp) -> Result<TenantId> {
        let id: i64 = self
            .eval(&self.scripts.create_tenant, &[&name, &now.0])
            .await?;
        if id == 0 {
            return Err(StoreError::TenantExists);
        }
        Ok(TenantId(id))
    }

    async fn find_tenant(&self, name: &str) -> Result<Option<TenantId>> {
        let mut con = self.con.clone();
        let id: Option<i64> = con.hget(self.key("tenants"), name).await.map_err(re)?;
        Ok(id.map(TenantId))
    }

    async fn tenants(&self) -> Result<Vec<TenantRecord>> {
        let mut con = self.con.clone();
        let ids: Vec<i64> = con.hvals(self.key("tenants")).await.map_err(re)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.key(&format!("t:{id}")));
        }
        let rows: Vec<HashMap<String, String>> = pipe.query_async(&mut con).await.map_err(re)?;
        let mut out = Vec::with_capacity(rows.len());
        for h in rows {
            if h.is_empty() {
                continue;
            }
            out.push(TenantRecord {
                id: TenantId(parse_field(&h, "id")?),
                name: field(&h, "name").unwrap_or_default().to_owned(),
                created_at: Timestamp(parse_field(&h, "created_at")?),
                disabled: field(&h, "disabled") == Some("1"),
                queued: opt_field::<i64>(&h, "queued")?.unwrap_or(0).max(0) as u64,
                settings: settings_from_hash(&h),
            });
        }
        out.sort_by_key(|t| t.id.0);
        Ok(out)
    }

    async fn set_tenant_disabled(&self, name: &str, disabled: bool) -> Result<()> {
        let done: i64 = self
            .eval(&self.scripts.set_disabled, &[&name, &(disabled as u8)])
            .await?;
        if done == 0 {
            return Err(StoreError::TenantNotFound);
        }
        Ok(())
    }

    async fn set_tenant_settings(&self, tenant: TenantId, settings: TenantSettings) -> Result<()> {
        let o = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let fields = [
            ("max_queued", o(settings.max_queued)),
            ("jobs_per_day", o(settings.jobs_per_day)),
            ("max_payload_bytes", o(settings.max_payload_bytes)),
            ("max_fuel", o(settings.max_fuel)),
            ("rate_per_sec", o(settings.rate_per_sec.map(u64::from))),
            ("burst", o(settings.burst.map(u64::from))),
        ];
        let weight = settings.weight.max(1);
        let mut args: Vec<&(dyn std::fmt::Display + Sync)> = vec![&tenant.0, &weight];
        for (name, value) in &fields {
            args.push(name);
            args.push(value);
        }
        let done: i64 = self.eval(&self.scripts.set_settings, &args).await?;
        if done == 0 {
            return Err(StoreError::TenantNotFound);
        }
        Ok(())
    }

    async fn add_api_key(
        &self,
        tenant: TenantId,
        key_hash: [u8; 32],
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        let hex = hex::encode(key_hash);
        let mut con = self.con.clone();
        redis::pipe()
            .atomic()
            .hset_multiple(
                self.key(&format!("key:{hex}")),
                &[
                    ("tenant", tenant.0.to_string()),
                    ("scopes", scopes.to_string()),
                    ("created_at", now.0.to_string()),
                    ("revoked", "0".to_owned()),
                ],
            )
            .ignore()
            .sadd(self.key(&format!("t:{}:keys", tenant.0)), &hex)
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(re)
    }

    async fn revoke_api_key(&self, tenant: TenantId, hash_prefix: &str) -> Result<u64> {
        let prefix = hash_prefix.to_ascii_lowercase();
        if prefix.len() < 12 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(0);
        }
        let mut con = self.con.clone();
        let keys: Vec<String> = con
            .smembers(self.key(&format!("t:{}:keys", tenant.0)))
            .await
            .map_err(re)?;
        let mut n = 0;
        for k in keys.iter().filter(|k| k.starts_with(&prefix)) {
            let key = self.key(&format!("key:{k}"));
            let was: Option<String> = con.hget(&key, "revoked").await.map_err(re)?;
            if was.as_deref() == Some("0") {
                let _: () = con.hset(&key, "revoked", "1").await.map_err(re)?;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn principal_for_key(&self, key_hash: [u8; 32]) -> Result<Option<Principal>> {
        let k = self
            .hgetall(self.key(&format!("key:{}", hex::encode(key_hash))))
            .await?;
        if k.is_empty() || field(&k, "revoked") != Some("0") {
            return Ok(None);
        }
        self.credential_principal(&k).await
    }

    async fn add_wallet(
        &self,
        tenant: TenantId,
        wallet: &str,
        scopes: Scopes,
        now: Timestamp,
    ) -> Result<()> {
        let done: i64 = self
            .eval(
                &self.scripts.add_wallet,
                &[&wallet, &tenant.0, &scopes.to_string(), &now.0],
            )
            .await?;
        if done == 0 {
            return Err(StoreError::CredentialExists);
        }
        Ok(())
    }

    async fn revoke_wallet(&self, wallet: &str) -> Result<bool> {
        let mut con = self.con.clone();
        let n: i64 = con
            .del(self.key(&format!("wallet:{wallet}")))
            .await
            .map_err(re)?;
        Ok(n > 0)
    }

    async fn principal_for_wallet(&self, wallet: &str) -> Result<Option<Principal>> {
        let w = self.hgetall(self.key(&format!("wallet:{wallet}"))).await?;
        if w.is_empty() {
            return Ok(None);
        }
        self.credential_principal(&w).await
    }

    async fn remember_nonce(
        &self,
        key: [u8; 32],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let ttl = expires_at.saturating_since(now).saturating_add(GRACE_MS);
        let fresh: i64 = self
            .eval(
                &self.scripts.nonce,
                &[&hex::encode(key), &expires_at.0, &now.0, &ttl],
            )
            .await?;
        Ok(fresh == 1)
    }
}
