//! `cargo xtask replay`: triggers a replay of one stream or a rebuild of
//! every stream, or shows where a replay stands, and with `--wait`
//! follows it to its end. On the deployment it works on its AWS resources
//! directly (`deployer::replays`: the same rules as the API); with `--url`
//! it goes through that API (local mode).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use deployer::StackOptions;
use deployer::deploy::Aws;
use deployer::replays::{DeployedReplays, describe_job};
use domain::{ReplayJob, ReplayScope, ReplayState, ReplayTarget, StreamId};
use service::settings::RawSettings;

/// What to do.
pub enum What {
    Stream { stream: String, from: u64 },
    AllStreams,
    Status(String),
}

/// `cargo xtask replay`.
pub struct ReplayConfig {
    pub what: What,
    /// Follow the replay to its end.
    pub wait: bool,
    /// Through this API (local mode) instead of the deployment.
    pub url: Option<String>,
    /// Relative to the project root.
    pub env_file: PathBuf,
}

/// How often `--wait` looks again.
const POLL_EVERY: Duration = Duration::from_secs(2);
/// How long `--wait` follows a replay that shows no change before it
/// stops waiting (the replay goes on; `--status` looks again).
const NO_CHANGE_LIMIT: Duration = Duration::from_secs(15 * 60);

pub fn run(config: ReplayConfig, root: &Path) -> anyhow::Result<()> {
    let raw = RawSettings::load(&root.join(&config.env_file))?;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let target = match &config.url {
            Some(url) => Target::Api(ApiTarget::new(url, &raw)?),
            None => {
                let stack_name = StackOptions::from_settings(&raw)?.stack_name;
                let aws = Aws::from_environment().await?;
                Target::Deployed(Box::new(DeployedReplays::find(&aws, &stack_name).await?))
            }
        };
        let replay_id = match &config.what {
            What::Status(replay_id) => replay_id.clone(),
            What::Stream { stream, from } => {
                let stream_id = StreamId::parse(stream.as_str(), "--stream")
                    .map_err(|err| anyhow::anyhow!("{}", err.message))?;
                let scope = ReplayScope::Stream(ReplayTarget {
                    stream_id,
                    from_event_id: domain::EventId::new(*from),
                });
                target.trigger(&scope).await?
            }
            What::AllStreams => target.trigger(&ReplayScope::AllStreams).await?,
        };
        let job = target
            .status(&replay_id)
            .await?
            .with_context(|| format!("no replay has the id {replay_id}"))?;
        println!("{}", describe_job(&job));
        if config.wait {
            follow(&target, job).await
        } else {
            Ok(())
        }
    })
}

/// Polls the replay until it ends, a line per change; an error if it
/// failed or shows no change for [`NO_CHANGE_LIMIT`].
async fn follow(target: &Target, mut job: ReplayJob) -> anyhow::Result<()> {
    let mut changed = Instant::now();
    while !job.state.ended() {
        if changed.elapsed() > NO_CHANGE_LIMIT {
            bail!(
                "replay {} showed no change for {} minutes; it is still {:?}: look again with cargo xtask replay --status {}",
                job.replay_id,
                NO_CHANGE_LIMIT.as_secs() / 60,
                job.state,
                job.replay_id
            );
        }
        tokio::time::sleep(POLL_EVERY).await;
        let now = target
            .status(&job.replay_id)
            .await?
            .with_context(|| format!("replay {} is no longer known", job.replay_id))?;
        if (now.state, now.events_applied, &now.streams)
            != (job.state, job.events_applied, &job.streams)
        {
            println!("{}", describe_job(&now));
            changed = Instant::now();
        }
        job = now;
    }
    if job.state == ReplayState::Failed {
        bail!("replay {} failed", job.replay_id);
    }
    Ok(())
}

/// Where the replays are driven.
enum Target {
    Deployed(Box<DeployedReplays>),
    Api(ApiTarget),
}

impl Target {
    /// Triggers a replay; the id of the one that covers it.
    async fn trigger(&self, scope: &ReplayScope) -> anyhow::Result<String> {
        match self {
            Target::Deployed(replays) => Ok(replays.trigger(scope).await?.covered_by),
            Target::Api(api) => api.trigger(scope).await,
        }
    }

    async fn status(&self, replay_id: &str) -> anyhow::Result<Option<ReplayJob>> {
        match self {
            Target::Deployed(replays) => replays.status(replay_id).await,
            Target::Api(api) => api.status(replay_id).await,
        }
    }
}

/// The HTTP API at a URL, with the key from the settings.
struct ApiTarget {
    http: reqwest::Client,
    url: String,
    api_key: service::settings::ApiKey,
}

/// How long one request to the API may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl ApiTarget {
    fn new(url: &str, settings: &RawSettings) -> anyhow::Result<ApiTarget> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot make an HTTP client")?;
        Ok(ApiTarget {
            http,
            url: url.trim_end_matches('/').to_owned(),
            api_key: settings.api_key()?,
        })
    }

    async fn trigger(&self, scope: &ReplayScope) -> anyhow::Result<String> {
        let body = match scope {
            ReplayScope::Stream(target) => serde_json::json!({
                "streamId": target.stream_id,
                "fromEventId": target.from_event_id,
            }),
            ReplayScope::AllStreams => serde_json::json!({"allStreams": true}),
        };
        let response = self
            .http
            .post(format!("{}/triggerReplay", self.url))
            .header("x-api-key", self.api_key.expose())
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let (status, body) = answer(response).await?;
        if status != 202 {
            bail!("POST /triggerReplay answered {status}: {body}");
        }
        body["replayId"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("POST /triggerReplay answered no replayId: {body}"))
    }

    async fn status(&self, replay_id: &str) -> anyhow::Result<Option<ReplayJob>> {
        let response = self
            .http
            .get(format!("{}/replayStatus", self.url))
            .header("x-api-key", self.api_key.expose())
            .query(&[("replayId", replay_id)])
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.url))?;
        let (status, body) = answer(response).await?;
        match status {
            200 => serde_json::from_value(body.clone())
                .map(Some)
                .with_context(|| format!("GET /replayStatus answered what it should not: {body}")),
            404 => Ok(None),
            _ => bail!("GET /replayStatus answered {status}: {body}"),
        }
    }
}

async fn answer(response: reqwest::Response) -> anyhow::Result<(u16, serde_json::Value)> {
    let status = response.status().as_u16();
    let text = response.text().await.context("cannot read the answer")?;
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok((status, body))
}
