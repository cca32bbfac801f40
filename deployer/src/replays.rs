//! A deployment's replays, from the machine that runs the command: what
//! `POST /triggerReplay` and `GET /replayStatus` do, straight on the
//! deployed tables and the replay function (the same rules, no API key
//! needed); and the rebuild of every stream that `deploy` starts when the
//! read model it deploys is empty while the log is not.

use anyhow::Context;
use chrono::Utc;
use domain::jobs::{self, Admission};
use domain::{LaneKey, ReplayJob, ReplayJobs, ReplayScope};
use service::dynamo::{DynamoStore, TableNames, complete_stream_list};
use service::replay_runs::LambdaReplayDispatcher;

use crate::deploy::aws::{Aws, SdkResultExt};
use crate::deploy::stacks;
use crate::stack::{Function, FunctionResources, Table, TableResources, data_stack_name};

/// The deployed replay machinery of a stack: its tables and its replay
/// function.
pub struct DeployedReplays {
    store: DynamoStore,
    dispatcher: LambdaReplayDispatcher,
}

impl DeployedReplays {
    /// The replays of the deployment `stack_name`: its four tables and its
    /// replay function, read from both stacks' resources.
    pub async fn find(aws: &Aws, stack_name: &str) -> anyhow::Result<DeployedReplays> {
        let physical = |ids: &std::collections::BTreeMap<String, String>, id: &str, stack: &str| {
            ids.get(id).cloned().with_context(|| {
                format!("the stack {stack} has no {id}: deploy it with cargo xtask deploy first")
            })
        };
        let app = stacks::describe(&aws.cloudformation, stack_name)
            .await?
            .with_context(|| format!("there is no stack {stack_name}: nothing to replay"))?;
        let data_name = data_stack_name(stack_name);
        let data = stacks::describe(&aws.cloudformation, &data_name)
            .await?
            .with_context(|| format!("there is no data stack {data_name}: nothing to replay"))?;
        let app_ids = stacks::physical_ids(&aws.cloudformation, &app.id).await?;
        let data_ids = stacks::physical_ids(&aws.cloudformation, &data.id).await?;
        let tables = TableNames {
            events: physical(&data_ids, Table::Events.logical_id().as_str(), &data_name)?,
            stream_index: physical(
                &data_ids,
                Table::StreamIndex.logical_id().as_str(),
                &data_name,
            )?,
            read_model: physical(&app_ids, Table::ReadModel.logical_id().as_str(), stack_name)?,
            replays: physical(&app_ids, Table::Replays.logical_id().as_str(), stack_name)?,
        };
        let function = physical(&app_ids, Function::Replay.logical_id().as_str(), stack_name)?;
        Ok(DeployedReplays {
            store: DynamoStore::new(aws.dynamodb.clone(), tables),
            dispatcher: LambdaReplayDispatcher::new(aws.lambda.clone(), function),
        })
    }

    /// Triggers a replay of `scope`, as `POST /triggerReplay` does: the
    /// replay that covers it, started at once or queued.
    pub async fn trigger(&self, scope: &ReplayScope) -> anyhow::Result<Admission> {
        let replay_id = uuid::Uuid::new_v4().to_string();
        let admission = jobs::admit(&self.store, &replay_id, scope, Utc::now())
            .await
            .map_err(|err| anyhow::anyhow!("cannot record the replay: {err}"))?;
        match &admission.start {
            Some(start) if start.replay_id == admission.covered_by => {
                service::replay_runs::start(&self.store, &self.dispatcher, start.clone())
                    .await
                    .map_err(|err| anyhow::anyhow!("cannot start the replay: {err}"))?;
            }
            Some(resumed) => service::replay_runs::resume(&self.dispatcher, resumed).await,
            None => {}
        }
        Ok(admission)
    }

    /// The replay `replay_id`, as `GET /replayStatus` reads it (a replay
    /// whose run died is resumed on the way); `None` if unknown.
    pub async fn status(&self, replay_id: &str) -> anyhow::Result<Option<ReplayJob>> {
        let job = self
            .store
            .job(replay_id)
            .await
            .map_err(|err| anyhow::anyhow!("cannot read replay {replay_id}: {err}"))?;
        if let Some(job) = &job
            && !job.state.ended()
        {
            service::replay_runs::resume_stalled(
                &self.store,
                &self.dispatcher,
                &job.lane(),
                Utc::now(),
            )
            .await
            .map_err(|err| anyhow::anyhow!("cannot check replay {replay_id}: {err}"))?;
        }
        Ok(job)
    }

    /// The rebuild of every stream that runs or waits now, if any.
    pub async fn current_rebuild(&self) -> anyhow::Result<Option<ReplayJob>> {
        let lane = self
            .store
            .lane(&LaneKey::AllStreams)
            .await
            .map_err(|err| anyhow::anyhow!("cannot read the rebuilds: {err}"))?;
        let Some(entry) = lane.and_then(|stored| stored.lane.running) else {
            return Ok(None);
        };
        self.status(&entry.replay_id).await
    }

    /// Starts a rebuild of every stream when the read model is empty
    /// while the log is not (a new read model over a kept log: its stream
    /// mapping delivers only what the table's stream still holds, 24
    /// hours). First lists the streams of earlier versions, once. Returns
    /// the rebuild's id.
    pub async fn rebuild_if_empty(&self) -> anyhow::Result<Option<String>> {
        let tables = self.store.tables();
        if self.holds_nothing(&tables.read_model).await? != Some(true)
            || self.holds_nothing(&tables.events).await? != Some(false)
        {
            return Ok(None);
        }
        complete_stream_list(self.store.client(), &tables.stream_index)
            .await
            .map_err(|err| anyhow::anyhow!("cannot list the streams to rebuild: {err}"))?;
        let admission = self.trigger(&ReplayScope::AllStreams).await?;
        Ok(Some(admission.covered_by))
    }

    /// Whether `table` holds no row (`Some(true)`); `None` when it is
    /// missing.
    async fn holds_nothing(&self, table: &str) -> anyhow::Result<Option<bool>> {
        let scanned = self
            .store
            .client()
            .scan()
            .table_name(table)
            .limit(1)
            .send()
            .await;
        match scanned {
            Ok(page) => Ok(Some(
                page.count() == 0 && page.last_evaluated_key().is_none(),
            )),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(err) => Err(err).with_sdk_context(|| format!("cannot look into the table {table}")),
        }
    }
}

/// A job as one line: where it stands and what it did.
pub fn describe_job(job: &ReplayJob) -> String {
    let state = serde_json::to_value(job.state)
        .ok()
        .and_then(|state| state.as_str().map(str::to_owned))
        .unwrap_or_default();
    let what = match &job.scope {
        ReplayScope::Stream(target) => format!(
            "stream {} from event {}",
            target.stream_id, target.from_event_id
        ),
        ReplayScope::AllStreams => "every stream".to_owned(),
    };
    let mut line = format!(
        "replay {} of {what}: {state}, {} events applied",
        job.replay_id, job.events_applied
    );
    if let Some(streams) = &job.streams {
        line.push_str(&format!(
            ", {} streams replayed, {} queued behind another replay, {} failed",
            streams.streams_replayed, streams.streams_queued, streams.streams_failed
        ));
    }
    if let Some(error) = &job.error {
        line.push_str(&format!(" ({error})"));
    }
    line
}
