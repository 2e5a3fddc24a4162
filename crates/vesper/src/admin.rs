//! Operator commands against the store: tenants, API keys, wallets, config.
//!
//! They open the store directly: the embedded one in the data directory (a running
//! `vesper dev` may keep running: SQLite arbitrates, and the gateway's credential cache
//! forgets within 5 s), or a shared Redis with `--store redis://…` (or `node.store`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use vesper_core::{Clock, Scopes, SystemClock, TenantId, WalletId};
use vesper_crypto::{ApiKey, KeyKind, write_key_file};
use vesper_store::{JobStore as _, SqliteOptions, SqliteStore, Store, StoreError, TenantSettings};

#[derive(Args)]
pub struct StoreOpts {
    /// Data directory holding vesper.db [default: node.data_dir of the config].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// Config file (default ./vesper.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// A shared store (`redis://HOST:PORT/DB`) instead of the data directory's
    /// [default: node.store of the config].
    #[arg(long, global = true)]
    store: Option<String>,
    /// Key namespace in a shared store [default: node.namespace of the config].
    #[arg(long, global = true)]
    namespace: Option<String>,
}

impl StoreOpts {
    async fn open(&self) -> anyhow::Result<Box<dyn Store>> {
        let env = |k: &str| std::env::var(k).ok();
        let node = crate::config::load(self.config.as_deref(), &env)?.0.node;
        let url = self.store.clone().unwrap_or(node.store);
        if url.starts_with("redis://") || url.starts_with("rediss://") {
            let namespace = self.namespace.clone().unwrap_or(node.namespace);
            let store = vesper_store::RedisStore::open(
                &url,
                vesper_store::RedisOptions {
                    namespace,
                    ..Default::default()
                },
            )
            .await
            .with_context(|| format!("opening {url}"))?;
            // Fail now, with a clear message, rather than on the first command.
            store
                .queue_depth()
                .await
                .with_context(|| format!("cannot reach {url}"))?;
            return Ok(Box::new(store));
        }
        if !url.is_empty() && url != "embedded" {
            bail!(
                "--store must be a redis:// URL (or omitted for the embedded store), got {url:?}"
            );
        }
        let dir = self.data.clone().unwrap_or(node.data_dir);
        let db = dir.join("vesper.db");
        if !db.exists() {
            bail!(
                "no store at {} (start `vesper dev` once, or pass --data DIR)",
                db.display()
            );
        }
        Ok(Box::new(
            SqliteStore::open(&db, SqliteOptions::default())
                .with_context(|| format!("opening {}", db.display()))?,
        ))
    }
}

async fn tenant_id(store: &dyn Store, name: &str) -> anyhow::Result<TenantId> {
    store
        .find_tenant(name)
        .await?
        .with_context(|| format!("no tenant named {name:?} (see `vesper tenant list`)"))
}

// ---- tenant ----------------------------------------------------------------------------

#[derive(Args)]
pub struct TenantArgs {
    #[command(flatten)]
    store: StoreOpts,
    #[command(subcommand)]
    cmd: TenantCmd,
}

#[derive(Args, Default)]
pub struct SettingsArgs {
    /// Share of the workers relative to other tenants.
    #[arg(long)]
    weight: Option<u32>,
    /// Most jobs queued at once.
    #[arg(long)]
    max_queued: Option<u64>,
    /// Most jobs accepted per UTC day.
    #[arg(long)]
    jobs_per_day: Option<u64>,
    /// Largest submit body, bytes.
    #[arg(long)]
    max_payload_bytes: Option<u64>,
    /// Most fuel one job may ask for.
    #[arg(long)]
    max_fuel: Option<u64>,
    /// Sustained requests per second.
    #[arg(long)]
    rate: Option<u32>,
    /// Burst above the rate.
    #[arg(long)]
    burst: Option<u32>,
}

impl SettingsArgs {
    fn apply(&self, mut s: TenantSettings) -> TenantSettings {
        if let Some(w) = self.weight {
            s.weight = w.max(1);
        }
        s.max_queued = self.max_queued.or(s.max_queued);
        s.jobs_per_day = self.jobs_per_day.or(s.jobs_per_day);
        s.max_payload_bytes = self.max_payload_bytes.or(s.max_payload_bytes);
        s.max_fuel = self.max_fuel.or(s.max_fuel);
        s.rate_per_sec = self.rate.or(s.rate_per_sec);
        s.burst = self.burst.or(s.burst);
        s
    }
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Create a tenant (and, with --key, its first API key).
    Create {
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Change a tenant's weight, quotas or rate limit.
    Set {
        name: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// List tenants with their settings and queued jobs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a tenant: its credentials stop working, its queued jobs wait.
    Disable { name: String },
    /// Enable a disabled tenant.
    Enable { name: String },
}

fn valid_name(name: &str) -> anyhow::Result<()> {
    if !vesper_core::TenantId::valid_name(name) {
        bail!("tenant names are 1-64 characters of [A-Za-z0-9._-]");
    }
    Ok(())
}

pub async fn tenant(a: TenantArgs) -> anyhow::Result<ExitCode> {
    let store = a.store.open().await?;
    let now = SystemClock.now();
    match a.cmd {
        TenantCmd::Create { name, settings } => {
            valid_name(&name)?;
            let id = match store.create_tenant(&name, now).await {
                Err(StoreError::TenantExists) => bail!("a tenant named {name:?} already exists"),
                r => r?,
            };
            let s = settings.apply(TenantSettings {
                weight: 1,
                ..Default::default()
            });
            store.set_tenant_settings(id, s).await?;
            println!("created tenant {name} (id {})", id.0);
            println!("next: vesper key create --tenant {name}");
        }
        TenantCmd::Set { name, settings } => {
            let id = tenant_id(&*store, &name).await?;
            let current = store
                .tenants()
                .await?
                .into_iter()
                .find(|t| t.id == id)
                .context("tenant vanished")?;
            store
                .set_tenant_settings(id, settings.apply(current.settings))
                .await?;
            println!("updated tenant {name}");
        }
        TenantCmd::List { json } => {
            let tenants = store.tenants().await?;
            if json {
                let v: Vec<serde_json::Value> = tenants
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id.0, "name": t.name, "disabled": t.disabled,
                            "queued": t.queued, "weight": t.settings.weight,
                            "max_queued": t.settings.max_queued,
                            "jobs_per_day": t.settings.jobs_per_day,
                            "max_payload_bytes": t.settings.max_payload_bytes,
                            "max_fuel": t.settings.max_fuel,
                            "rate_per_sec": t.settings.rate_per_sec,
                            "burst": t.settings.burst,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!(
                    "{:<5} {:<20} {:<9} {:>7} {:>6} {:>10} {:>10} {:>8}",
                    "ID", "NAME", "STATE", "QUEUED", "WEIGHT", "MAX_QUEUE", "PER_DAY", "RATE/S"
                );
                let d = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
                for t in tenants {
                    println!(
                        "{:<5} {:<20} {:<9} {:>7} {:>6} {:>10} {:>10} {:>8}",
                        t.id.0,
                        t.name,
                        if t.disabled { "disabled" } else { "active" },
                        t.queued,
                        t.settings.weight,
                        d(t.settings.max_queued),
                        d(t.settings.jobs_per_day),
                        d(t.settings.rate_per_sec.map(u64::from)),
                    );
                }
            }
        }
        TenantCmd::Disable { name } => {
            set_disabled(&*store, &name, true).await?;
            println!("disabled tenant {name}");
        }
        TenantCmd::Enable { name } => {
            set_disabled(&*store, &name, false).await?;
            println!("enabled tenant {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_disabled(store: &dyn Store, name: &str, disabled: bool) -> anyhow::Result<()> {
    match store.set_tenant_disabled(name, disabled).await {
        Err(StoreError::TenantNotFound) => bail!("no tenant named {name:?}"),
        r => Ok(r?),
    }
}

// ---- key -------------------------------------------------------------------------------

#[derive(Args)]
pub struct KeyArgs {
    #[command(flatten)]
    store: StoreOpts,
    #[command(subcommand)]
    cmd: KeyCmd,
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create an API key. It is shown once (or written, 0600, to --out) and stored only as a hash.
    Create {
        #[arg(long)]
        tenant: String,
        /// Comma-separated: submit, read, admin.
        #[arg(long, default_value = "submit,read")]
        scopes: String,
        /// Write the key to this file (0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke an API key by its id (the first 12+ hex digits printed at creation).
    Revoke {
        #[arg(long)]
        tenant: String,
        key_id: String,
    },
    /// Let a wallet (ed25519:<hex key> or eip191:0x<address>) sign requests for a tenant.
    AddWallet {
        #[arg(long)]
        tenant: String,
        wallet: String,
        #[arg(long, default_value = "submit,read")]
        scopes: String,
    },
    /// Stop accepting a wallet's signatures.
    RemoveWallet { wallet: String },
}

pub async fn key(a: KeyArgs) -> anyhow::Result<ExitCode> {
    let store = a.store.open().await?;
    let now = SystemClock.now();
    match a.cmd {
        KeyCmd::Create {
            tenant,
            scopes,
            out,
        } => {
            let scopes: Scopes = scopes
                .parse()
                .map_err(|_| anyhow::anyhow!("--scopes: a comma list of submit, read, admin"))?;
            let id = tenant_id(&*store, &tenant).await?;
            let key = ApiKey::generate();
            if let Some(path) = &out {
                write_key_file(path, KeyKind::ApiKey, key.expose().as_bytes(), false)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            store.add_api_key(id, key.hash(), scopes, now).await?;
            let key_id = &hex::encode(key.hash())[..12];
            match &out {
                Some(p) => println!("wrote the API key to {} (mode 0600)", p.display()),
                None => {
                    println!("{}", key.expose());
                    eprintln!("This key is shown once; only its hash is stored.");
                }
            }
            eprintln!(
                "key id {key_id} (tenant {tenant}, scopes {scopes}); revoke with `vesper key revoke --tenant {tenant} {key_id}`"
            );
        }
        KeyCmd::Revoke { tenant, key_id } => {
            let id = tenant_id(&*store, &tenant).await?;
            if key_id.len() < 12 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("a key id is at least 12 hex digits, as printed by `vesper key create`");
            }
            match store.revoke_api_key(id, &key_id).await? {
                0 => bail!("no live key of tenant {tenant} has id {key_id}"),
                n => println!("revoked {n} key(s)"),
            }
        }
        KeyCmd::AddWallet {
            tenant,
            wallet,
            scopes,
        } => {
            let w: WalletId = wallet.parse().map_err(|_| {
                anyhow::anyhow!("wallet must be ed25519:<64 hex> or eip191:0x<40 hex>")
            })?;
            let scopes: Scopes = scopes
                .parse()
                .map_err(|_| anyhow::anyhow!("--scopes: a comma list of submit, read, admin"))?;
            let id = tenant_id(&*store, &tenant).await?;
            match store.add_wallet(id, &w.to_string(), scopes, now).await {
                Err(StoreError::CredentialExists) => bail!("wallet {w} is already mapped"),
                r => r?,
            }
            println!("wallet {w} now signs for tenant {tenant} (scopes {scopes})");
        }
        KeyCmd::RemoveWallet { wallet } => {
            let w: WalletId = wallet.parse().map_err(|_| {
                anyhow::anyhow!("wallet must be ed25519:<64 hex> or eip191:0x<40 hex>")
            })?;
            if !store.revoke_wallet(&w.to_string()).await? {
                bail!("wallet {w} was not mapped");
            }
            println!("removed wallet {w}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---- config ----------------------------------------------------------------------------

#[derive(Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    cmd: ConfigCmd,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Write a commented default vesper.toml.
    Init {
        #[arg(default_value = crate::config::DEFAULT_PATH)]
        path: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the effective configuration (file + environment), or the error naming the key.
    Show {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

pub fn config(a: ConfigArgs) -> anyhow::Result<ExitCode> {
    match a.cmd {
        ConfigCmd::Init { path, force } => {
            if path.exists() && !force {
                bail!("{} exists (use --force to replace)", path.display());
            }
            std::fs::write(&path, crate::config::TEMPLATE)
                .with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
        }
        ConfigCmd::Show { config } => {
            let env = |k: &str| std::env::var(k).ok();
            let (cfg, file) = crate::config::load(config.as_deref(), &env)?;
            if let Some(f) = file {
                println!("# from {} and the environment", f.display());
            } else {
                println!("# defaults and the environment (no vesper.toml)");
            }
            print!("{}", toml::to_string(&cfg)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ---- pool keys -----------------------------------------------------------------------------

#[derive(Args)]
pub struct PoolArgs {
    #[command(subcommand)]
    cmd: PoolCmd,
    /// Data directory whose keys/pool.x25519 is the pool key [default: .vesper].
    #[arg(long, global = true)]
    data: Option<PathBuf>,
    /// The pool key file (workers given --pool-key); overrides --data.
    #[arg(long, global = true)]
    pool_key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PoolCmd {
    /// Start a new key epoch: clients seal to the new key once the node restarts; jobs sealed
    /// to earlier epochs still complete (workers keep every epoch's key).
    Rotate,
    /// The pool key's epochs, oldest first, with their key ids.
    List,
    /// Seal the pool keys (every epoch) to each remote worker that is waiting for them at a
    /// gateway and that this node's trust list (--home) trusts. For gateways that hold no
    /// pool keys (`vesper gateway`); `vesper dev` grants by itself.
    Grant {
        #[command(flatten)]
        opts: crate::cli::ClientOpts,
        /// The home whose trusted_peers.json decides [default: ~/.vesper; env VESPER_HOME].
        #[arg(long, env = "VESPER_HOME")]
        home: Option<PathBuf>,
    },
}

pub async fn pool(a: PoolArgs) -> anyhow::Result<ExitCode> {
    let path = match (&a.pool_key, &a.data) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.join("keys/pool.x25519"),
        (None, None) => PathBuf::from(".vesper/keys/pool.x25519"),
    };
    match a.cmd {
        PoolCmd::Rotate => {
            let (epoch, pk) = vesper_node::dev::rotate_pool_key(&path)
                .with_context(|| format!("rotating {}", path.display()))?;
            println!(
                "pool key epoch {epoch}: key id {} (secret in {}, 0600)",
                pk.key_id(),
                vesper_node::dev::epoch_path(&path, epoch).display()
            );
            println!(
                "restart the node (workers first, then gateways) to seal new jobs to it; \
                 remote workers receive it with their next key grant"
            );
        }
        PoolCmd::Grant { opts, home } => {
            let home = match home {
                Some(h) => h,
                None => PathBuf::from(std::env::var_os("HOME").context("no HOME; pass --home")?)
                    .join(".vesper"),
            };
            let trust = vesper_net::TrustList::load(&home.join(vesper_net::TRUST_FILE))?;
            let mut secrets = Vec::new();
            for f in vesper_node::dev::pool_key_epochs(&path) {
                secrets.push(vesper_crypto::X25519SecretKey::from_bytes(
                    &vesper_crypto::read_key_file(&f, KeyKind::X25519Secret)?,
                )?);
            }
            if secrets.is_empty() {
                bail!("no pool key at {}", path.display());
            }
            let keys = vesper_node::worker::PoolKeys::new(secrets);
            let client = opts.client()?;
            {
                let pending = client.key_requests().await?;
                let list = pending["requests"].as_array().cloned().unwrap_or_default();
                let mut granted = 0;
                for r in &list {
                    let (Some(peer), Some(kx), Some(sig)) = (
                        r["peer_id"].as_str(),
                        r["kx_pubkey"].as_str(),
                        r["signature"].as_str(),
                    ) else {
                        continue;
                    };
                    let Ok(peer_id) = peer.parse::<vesper_net::PeerId>() else {
                        println!("skipped {peer}: not a PeerId");
                        continue;
                    };
                    if !trust.contains(&peer_id) {
                        println!(
                            "skipped {peer}: not in {}",
                            home.join(vesper_net::TRUST_FILE).display()
                        );
                        continue;
                    }
                    let (Some(kx_bytes), Some(sig_bytes)) = (
                        vesper_core::hex_array::<32>(kx),
                        vesper_core::hex_lower(sig),
                    ) else {
                        println!("refused {peer}: malformed request");
                        continue;
                    };
                    match vesper_node::remote::custodian::seal_for(
                        &peer_id, &kx_bytes, &sig_bytes, &keys,
                    ) {
                        Ok((sealed, ids)) => {
                            client.grant_key(peer, kx, &sealed, &ids).await?;
                            println!("granted {peer} ({} keys, sealed to its key)", ids.len());
                            granted += 1;
                        }
                        Err(why) => println!("refused {peer}: {why:?}"),
                    }
                }
                println!("{} waiting, {granted} granted", list.len());
            }
        }
        PoolCmd::List => {
            let files = vesper_node::dev::pool_key_epochs(&path);
            if files.is_empty() {
                anyhow::bail!("no pool key at {}", path.display());
            }
            for (epoch, f) in files.iter().enumerate() {
                let sk = vesper_crypto::X25519SecretKey::from_bytes(
                    &vesper_crypto::read_key_file(f, vesper_crypto::KeyKind::X25519Secret)?,
                )?;
                let current = if epoch + 1 == files.len() {
                    "  (current)"
                } else {
                    ""
                };
                println!(
                    "epoch {epoch}: key id {}{current}",
                    sk.public_key().key_id()
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
