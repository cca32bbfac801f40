//! The whole service on 127.0.0.1 with no AWS account: the API Gateway
//! stand-in ([`gateway`]), the embedded store ([`sqlite`]), the projector
//! following the store's change feed ([`follow`]) and replays as background
//! jobs ([`replays`]). With a DynamoDB endpoint it runs on the DynamoDB
//! adapter instead and follows the table's stream as Lambda would.

pub mod first_run;
pub mod follow;
pub mod gateway;
pub mod replay_tasks;
pub mod sqlite;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use domain::{Checkpoints, EventStore, ReadModel, ReplayJobs, StreamId};
use service::api::Api;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::gateway::Gateway;
use crate::replay_tasks::{LocalDispatcher, LocalReplays};
use crate::sqlite::SqliteStore;
use service::settings::{ApiKey, RawSettings};

/// What `cargo xtask local` serves: [`run`] reads the settings and turns
/// these into a [`LocalConfig`].
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// On 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// The embedded store's folder; `None`: [`default_data_dir`].
    pub data_dir: Option<PathBuf>,
    /// DynamoDB at this endpoint instead of the embedded store.
    pub dynamodb_endpoint: Option<String>,
    /// Table-name prefix in DynamoDB mode.
    pub table_prefix: String,
    /// The settings file, relative to the project root unless absolute.
    pub env_file: PathBuf,
}

/// Where local mode keeps its data.
#[derive(Clone, Debug)]
pub enum Storage {
    Embedded {
        data_dir: PathBuf,
    },
    DynamoDb {
        endpoint: String,
        table_prefix: String,
    },
}

#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub port: u16,
    pub storage: Storage,
    pub api_key: ApiKey,
    pub default_stream: StreamId,
}

/// A running local service.
pub struct LocalServer {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    follower: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    replays: Arc<LocalReplays>,
}

impl LocalServer {
    /// Opens the store, starts the projector and serves the API.
    pub async fn start(config: LocalConfig) -> anyhow::Result<Self> {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let Backend {
            events,
            read_model,
            checkpoints,
            replay_jobs,
            follower,
        } = Backend::open(&config.storage, shutdown_rx.clone()).await?;
        let replays = LocalReplays::new(events.clone(), read_model.clone(), replay_jobs.clone());
        replays
            .resume_all()
            .await
            .context("cannot resume interrupted replays")?;
        replays
            .adopt_legacy_pending(checkpoints.as_ref())
            .await
            .context("cannot take over the replays left pending by an earlier version")?;
        let gateway = Arc::new(Gateway {
            api: Api {
                events,
                read_model,
                replays: Arc::new(LocalDispatcher(replays.clone())),
                replay_jobs,
                default_stream: config.default_stream.clone(),
            },
            api_key: config.api_key.clone(),
        });
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, config.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", config.port))?;
        let addr = listener.local_addr()?;
        let mut stop = shutdown_rx.clone();
        let server = tokio::spawn(gateway::serve(listener, gateway, async move {
            follow::stopped(&mut stop).await;
        }));
        let sweeper = tokio::spawn(sweep_replays(replays.clone(), shutdown_rx));
        Ok(LocalServer {
            addr,
            shutdown,
            server,
            follower,
            sweeper,
            replays,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops taking requests, pauses running replays after their current
    /// step (the next start resumes them), stops the projector.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        let served = self.server.await.context("the HTTP server task failed")?;
        self.sweeper.await.context("the replay sweep task failed")?;
        self.replays.pause();
        self.replays.drain().await;
        self.follower.await.context("the projector task failed")?;
        served.context("the HTTP server failed")
    }
}

/// The storage a local server runs on, and the projector following it.
struct Backend {
    events: Arc<dyn EventStore>,
    read_model: Arc<dyn ReadModel>,
    checkpoints: Arc<dyn Checkpoints>,
    replay_jobs: Arc<dyn ReplayJobs>,
    follower: JoinHandle<()>,
}

/// The embedded store's file inside `--data-dir`.
pub const EMBEDDED_STORE_FILE: &str = "events.sqlite3";

impl Backend {
    fn of<S>(store: S, follower: JoinHandle<()>) -> Self
    where
        S: EventStore + ReadModel + Checkpoints + ReplayJobs + Clone + 'static,
    {
        Backend {
            events: Arc::new(store.clone()),
            read_model: Arc::new(store.clone()),
            checkpoints: Arc::new(store.clone()),
            replay_jobs: Arc::new(store),
            follower,
        }
    }

    async fn open(storage: &Storage, shutdown: watch::Receiver<bool>) -> anyhow::Result<Self> {
        match storage {
            Storage::Embedded { data_dir } => {
                let path = data_dir.join(EMBEDDED_STORE_FILE);
                let store = SqliteStore::open(&path).with_context(|| {
                    format!("cannot open the embedded store at {}", path.display())
                })?;
                let (feed, purge) = (store.clone(), store.clone());
                let follower = tokio::spawn(async move {
                    tokio::join!(
                        follow::follow_sqlite(feed, shutdown.clone()),
                        purge_expired(purge, shutdown),
                    );
                });
                Ok(Backend::of(store, follower))
            }
            Storage::DynamoDb {
                endpoint,
                table_prefix,
            } => {
                let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
                // As on Lambda, every call has a deadline: a request's is
                // its route's timeout (`gateway`), a projected batch's the
                // projector's (`follow`), others have `aws::CALL_LIMIT`.
                let client = service::aws::dynamodb_client(&sdk);
                let tables = TableNames::with_prefix(table_prefix);
                ensure_tables(&client, &tables)
                    .await
                    .with_context(|| format!("cannot create the tables at {endpoint}"))?;
                let stream_arn = client
                    .describe_table()
                    .table_name(&tables.events)
                    .send()
                    .await
                    .map_err(|err| {
                        anyhow::anyhow!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(err))
                    })?
                    .table
                    .and_then(|table| table.latest_stream_arn)
                    .with_context(|| format!("table {} has no stream", tables.events))?;
                let store = DynamoStore::new(client, tables);
                let streams = aws_sdk_dynamodbstreams::Client::from_conf(
                    aws_sdk_dynamodbstreams::config::Builder::from(&sdk)
                        .interceptor(service::aws::CallDeadline)
                        .build(),
                );
                let follower = tokio::spawn(follow::follow_dynamodb_stream(
                    streams,
                    store.clone(),
                    stream_arn,
                    shutdown,
                ));
                Ok(Backend::of(store, follower))
            }
        }
    }
}

/// Sweeps for replays whose run died every [`replay_tasks::LOCAL_SWEEP_EVERY`],
/// until shutdown.
async fn sweep_replays(replays: Arc<LocalReplays>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(replay_tasks::LOCAL_SWEEP_EVERY) => {}
            _ = follow::stopped(&mut shutdown) => return,
        }
        if let Err(err) = replays.sweep().await {
            tracing::warn!(error = %err, "cannot sweep the replays");
        }
    }
}

/// How often the embedded store looks for expired tombstones and replay
/// jobs.
const PURGE_EVERY: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Purges the embedded store's expired tombstones and replay jobs at start
/// and then every [`PURGE_EVERY`], until shutdown.
///
/// Periodic rather than inside each `apply`: a purge changes nothing a
/// reader sees (listing never walks tombstones, expired or not), only the
/// space they take, and it may stop no late event: a week's retention is
/// far longer than any delivery delay. So it need not be prompt, and off
/// the projection's write path it keeps apply's cost flat and apply's
/// result independent of the wall clock. An expired replay job may answer
/// `GET /replayStatus` a little longer, as DynamoDB's TTL allows too.
async fn purge_expired(store: SqliteStore, mut shutdown: watch::Receiver<bool>) {
    loop {
        match store.purge_expired_tombstones(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired read-model tombstones"),
            Err(err) => tracing::warn!(error = %err, "cannot purge expired tombstones"),
        }
        match store.purge_expired_replay_jobs(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired replay jobs"),
            Err(err) => tracing::warn!(error = %err, "cannot purge expired replay jobs"),
        }
        match store
            .purge_expired_idempotency_keys(chrono::Utc::now())
            .await
        {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(err) => tracing::warn!(error = %err, "cannot purge expired idempotency keys"),
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = follow::stopped(&mut shutdown) => return,
        }
    }
}

/// The default data folder: `.local/data` in the project.
pub fn default_data_dir(project_root: &Path) -> PathBuf {
    project_root.join(".local").join("data")
}

/// `path` as a shell line would name it from the current folder.
fn shown_path(path: &Path) -> String {
    let relative = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf));
    match relative {
        Some(relative) => format!("./{}", relative.display()),
        None => path.display().to_string(),
    }
}

/// `cargo xtask local`: reads the settings (making a settings file with a
/// new key on a fresh checkout), serves until Ctrl-C.
pub async fn run(options: LocalOptions, project_root: &Path) -> anyhow::Result<()> {
    service::telemetry::init_text();
    let env_file = if options.env_file.is_absolute() {
        options.env_file.clone()
    } else {
        project_root.join(&options.env_file)
    };
    // A fresh checkout runs with this one command: with no settings file
    // and no key in the environment, a key is made and kept in a new file.
    let generated =
        !env_file.exists() && std::env::var_os("API_KEY").is_none_or(|key| key.is_empty());
    if generated {
        first_run::create_settings_file(&env_file, &project_root.join(".env.example"))?;
    }
    let settings = RawSettings::load(&env_file)?;
    let config = LocalConfig {
        port: options.port,
        storage: match options.dynamodb_endpoint {
            Some(endpoint) => Storage::DynamoDb {
                endpoint,
                table_prefix: options.table_prefix,
            },
            None => Storage::Embedded {
                data_dir: options
                    .data_dir
                    .unwrap_or_else(|| default_data_dir(project_root)),
            },
        },
        api_key: settings.api_key()?,
        default_stream: settings.test_stream_id()?,
    };
    let storage = match &config.storage {
        Storage::Embedded { data_dir } => format!("embedded store in {}", data_dir.display()),
        Storage::DynamoDb {
            endpoint,
            table_prefix,
        } => {
            format!("DynamoDB at {endpoint}, tables {table_prefix}-*")
        }
    };
    let server = LocalServer::start(config).await?;
    let url = server.url();
    let shown_file = shown_path(&env_file);
    println!("Serving on {url} ({storage}). Ctrl-C stops.");
    if generated {
        println!(
            "Generated an API key and saved it in {shown_file} (readable by you only); it is not shown here, the curl lines below read it from there."
        );
    }
    println!();
    println!("Try it (with the key exported: set -a; . {shown_file}; set +a):");
    println!(
        "  curl -s -X POST {url}/addEvent -H \"x-api-key: $API_KEY\" -H 'content-type: application/json' \\\n    -d '{{\"streamId\":\"{}\",\"type\":\"ITEM_CREATED\",\"data\":{{\"itemId\":\"1\",\"amount\":225}}}}'",
        service::api::DEFAULT_TEST_STREAM_ID
    );
    println!("  curl -s {url}/listTestItems -H \"x-api-key: $API_KEY\"");
    println!(
        "  curl -s -X POST {url}/triggerReplay -H \"x-api-key: $API_KEY\" -d '{{\"streamId\":\"{}\",\"fromEventId\":0}}'",
        service::api::DEFAULT_TEST_STREAM_ID
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    println!("Stopping...");
    server.stop().await
}
