//! The `ringside` binary: `ringside serve` runs everything in one process; `ringside token
//! create` issues personal access tokens; `ringside user create` makes a user on a server
//! without mail; `ringside nodes` lists the nodes of a cluster; `ringside health` checks this
//! node's `/healthz`.

mod cluster;
mod config;
mod memory;
mod nats;
mod secrets;
mod sip_ws;
mod wiring;

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

/// Ringside: self-hosted website calling gateway.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Optional TOML configuration file (environment variables RINGSIDE_* override it).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the HTTP API, SIP server and media relay.
    Serve,
    /// Manage personal access tokens.
    Token {
        #[command(subcommand)]
        command: TokenCmd,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCmd,
    },
    /// List the nodes sharing this database (a cluster), one JSON line each: id, addresses,
    /// version, start, last heartbeat and whether it is alive.
    Nodes,
    /// Ask this node's HTTP listener for `/healthz` (a container's health check): exits 0
    /// when it answers 200, 1 otherwise.
    Health,
    /// The cluster's shared secrets.
    Secret {
        #[command(subcommand)]
        command: SecretCmd,
    },
}

#[derive(Debug, Subcommand)]
enum SecretCmd {
    /// Forget the cluster's VAPID key (after RINGSIDE_SECRET_KEY was changed on every node):
    /// the next node to start makes a new one, and browsers subscribe to alerts again.
    ResetVapidKey,
    /// After the secret root was changed (RINGSIDE_SECRET_KEY the new one and
    /// RINGSIDE_SECRET_KEY_PREVIOUS the old one, on every node): seal every stored secret
    /// (tenants' AI keys, integration credentials, alert channel secrets, the VAPID key) again
    /// with the new root, so the old one can be dropped. Prints the counts as one JSON line;
    /// safe to run again, and while the nodes run.
    Reseal,
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Create a user (with a tenant of their own, whose owner they are) for a server without
    /// mail, or find the existing one; prints the user as one JSON line (nothing secret). They
    /// sign in with an email code, or get a token from `token create`.
    Create {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The user's role in their tenant: `owner` (a new user's), `admin` or `agent`. Given
        /// for an existing user, it changes their role (a tenant keeps at least one owner), e.g.
        /// to make someone owner again.
        #[arg(long)]
        role: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCmd {
    /// Create a token (and the user, if new); prints the token alone on stdout.
    Create {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// Comma-separated scopes, e.g. sip:read,sip:write,calls:read.
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
        /// A name to recognise the token by.
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List a user's tokens (id, name, scopes, created, last used, revoked) as JSON lines.
    List {
        /// The user's email.
        #[arg(long)]
        email: String,
    },
    /// Revoke a token by id; it stops working at once.
    Revoke {
        /// The owner's email.
        #[arg(long)]
        email: String,
        /// The token id (from `token list`).
        #[arg(long)]
        id: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let raw = config::RawConfig::load(cli.config.as_deref(), |k| std::env::var(k).ok())?;
    let settings = raw.validate()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    match cli.command {
        Cmd::Serve => {
            init_logs(&settings.log);
            rt.block_on(wiring::serve(settings))
        }
        Cmd::Token {
            command:
                TokenCmd::Create {
                    email,
                    scopes,
                    name,
                },
        } => rt.block_on(async {
            let scopes: Vec<String> = scopes
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            if scopes.is_empty() {
                bail!("--scopes needs at least one scope");
            }
            if let Some(bad) = scopes
                .iter()
                .find(|s| !ringside_api::auth::is_known_scope(s))
            {
                bail!(
                    "unknown scope {bad:?}; known scopes: {}",
                    ringside_api::auth::SCOPES.join(",")
                );
            }
            let store = wiring::open_store(&settings).await?;
            let user = store
                .ensure_user(&email)
                .await
                .context("creating the user")?;
            let (_, token) = store
                .create_token(&user.id, &name, &scopes)
                .await
                .context("creating the token")?;
            println!("{token}");
            Ok(())
        }),
        Cmd::User {
            command: UserCmd::Create { email, role },
        } => rt.block_on(async {
            let role = match role.as_deref() {
                None => None,
                Some(r) => Some(ringside_storage::Role::parse(r).with_context(|| {
                    format!("--role must be owner, admin or agent (got {r:?})")
                })?),
            };
            let store = wiring::open_store(&settings).await?;
            let existed = store.find_user_by_email(&email).await.ok().flatten();
            if existed.is_none() && role.is_some_and(|r| r != ringside_storage::Role::Owner) {
                anyhow::bail!(
                    "{email} is new: a new user gets a tenant of their own and is its owner \
                     (invite them from the dashboard to join another tenant)"
                );
            }
            let mut user = store
                .ensure_user(&email)
                .await
                .context("creating the user")?;
            if let Some(role) = role.filter(|r| *r != user.role) {
                store
                    .set_user_role(&user.tenant_id, &user.id, role)
                    .await
                    .context("changing the role")?;
                user.role = role;
            }
            println!(
                "{}",
                serde_json::json!({
                    "id": user.id, "tenantId": user.tenant_id, "email": user.email,
                    "role": user.role.as_str(), "createdAt": user.created_at,
                })
            );
            Ok(())
        }),
        Cmd::Token {
            command: TokenCmd::List { email },
        } => rt.block_on(async {
            let (store, user) = existing_user(&settings, &email).await?;
            for t in store.list_tokens(&user.tenant_id).await? {
                if t.user_id != user.id {
                    continue;
                }
                println!(
                    "{}",
                    serde_json::json!({
                        "id": t.id, "name": t.name, "scopes": t.scopes,
                        "createdAt": t.created_at, "lastUsedAt": t.last_used_at,
                        "revokedAt": t.revoked_at,
                    })
                );
            }
            Ok(())
        }),
        Cmd::Secret {
            command: SecretCmd::ResetVapidKey,
        } => rt.block_on(async {
            let store = wiring::open_store(&settings).await?;
            if store.forget_secret("vapid-key").await? {
                eprintln!(
                    "the cluster's VAPID key is forgotten: the next node to start makes a new one"
                );
            } else {
                eprintln!("the database holds no cluster VAPID key");
            }
            Ok(())
        }),
        Cmd::Secret {
            command: SecretCmd::Reseal,
        } => rt.block_on(async {
            let (Some(current), Some(previous)) = (
                settings.cluster.secret_key,
                settings.cluster.secret_key_previous,
            ) else {
                anyhow::bail!(
                    "give the new root as RINGSIDE_SECRET_KEY and the old one as \
                     RINGSIDE_SECRET_KEY_PREVIOUS (as the nodes run with them)"
                );
            };
            let store = wiring::open_store(&settings).await?;
            let secret = ringside_api::http::sealed::LinkSecret::new(current, Some(previous));
            let r = ringside_api::http::sealed::reseal_stored(&store, &secret).await?;
            println!("{}", serde_json::to_string(&r)?);
            if r.unsealable > 0 {
                eprintln!(
                    "{} stored secrets open with neither root: their owners enter them again",
                    r.unsealable
                );
            }
            Ok(())
        }),
        Cmd::Health => rt.block_on(async {
            let addr = settings.http.addr;
            // A listener on every address is asked on the loopback of its family.
            let ip = if addr.ip().is_unspecified() {
                ringside_domain::net::loopback_of(addr.ip())
            } else {
                addr.ip()
            };
            let scheme = if settings.http.tls.is_some() {
                "https"
            } else {
                "http"
            };
            let url = format!(
                "{scheme}://{}/healthz",
                std::net::SocketAddr::new(ip, addr.port())
            );
            // The certificate names the public host, not this address: a local check.
            let client = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .timeout(std::time::Duration::from_secs(5))
                .build()?;
            let r = client
                .get(&url)
                .send()
                .await
                .with_context(|| format!("GET {url}"))?;
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            println!("{body}");
            if !status.is_success() {
                bail!("{url} answered {status}");
            }
            Ok(())
        }),
        Cmd::Nodes => rt.block_on(async {
            let store = wiring::open_store(&settings).await?;
            let now = ringside_storage::now_ms();
            for n in store.list_nodes().await.context("listing nodes")? {
                let mut line = serde_json::to_value(&n)?;
                line["alive"] = n.alive(now).into();
                println!("{line}");
            }
            Ok(())
        }),
        Cmd::Token {
            command: TokenCmd::Revoke { email, id },
        } => rt.block_on(async {
            let (store, user) = existing_user(&settings, &email).await?;
            store
                .revoke_token(&user.tenant_id, &id)
                .await
                .with_context(|| format!("revoking token {id}"))?;
            eprintln!("revoked {id}");
            Ok(())
        }),
    }
}

/// Open the database and find a user that must already exist.
async fn existing_user(
    settings: &config::Settings,
    email: &str,
) -> anyhow::Result<(ringside_storage::Store, ringside_storage::User)> {
    let store = wiring::open_store(settings).await?;
    let user = store
        .find_user_by_email(email)
        .await?
        .with_context(|| format!("no user {email}"))?;
    Ok((store, user))
}

fn init_logs(filter: &str) {
    // The NATS client tells every reconnect attempt at `info`; Ringside says what matters.
    let filter = if filter.contains("async_nats") {
        filter.to_owned()
    } else {
        format!("{filter},async_nats=warn")
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}
