//! The fixture of one check: fresh tables on moto, a store over them,
//! and what a check needs of the emulator besides (the events table's
//! stream records, a Lambda function to invoke).

use anyhow::{Context, ensure};
use aws_sdk_dynamodb::Client;
use domain::{
    EventId, EventStore, ItemView, ReadModel, ReplayJob, ReplayJobs, ReplayLane, StreamId,
};
use serde_json::{Value, json};
use service::aws::sdk_config_for_endpoint;
use service::dynamo::schema::Table;
use service::dynamo::{DynamoStore, TableNames, ensure_tables};
use service::functions::{EnvVar, Function};

use super::REGION;
use super::process::{Launch, RunningFunction};

/// The account moto gives to unsigned-for-real requests.
const MOTO_ACCOUNT: &str = "123456789012";

/// Fresh tables on moto and a store over them, for one check.
pub struct Fixture {
    pub endpoint: String,
    pub tables: TableNames,
    pub store: DynamoStore,
    http: reqwest::Client,
}

impl Fixture {
    pub async fn new(endpoint: &str, label: &str) -> anyhow::Result<Fixture> {
        let client = Client::new(&sdk_config_for_endpoint(endpoint).await);
        let tables = TableNames::with_prefix(&crate::unique_name(&format!("fn-{label}")));
        ensure_tables(&client, &tables)
            .await
            .context("cannot create the tables on moto")?;
        Ok(Fixture {
            endpoint: endpoint.to_owned(),
            store: DynamoStore::new(client, tables.clone()),
            tables,
            http: reqwest::Client::new(),
        })
    }

    /// The table variables the functions read.
    pub fn table_env(&self) -> Vec<(&'static str, String)> {
        Table::ALL
            .into_iter()
            .map(|table| {
                let name = self.tables.name(table).to_owned();
                (EnvVar::Table(table).as_str(), name)
            })
            .collect()
    }

    /// Starts `function`'s binary over these tables, with `extra` set too.
    pub async fn start(
        &self,
        launch: &Launch,
        function: Function,
        extra: &[(EnvVar, String)],
    ) -> anyhow::Result<RunningFunction> {
        let mut env = self.table_env();
        env.extend(
            extra
                .iter()
                .map(|(variable, value)| (variable.as_str(), value.clone())),
        );
        RunningFunction::start(launch, function.name(), &self.endpoint, &env).await
    }

    /// Appends through the store, as the add-event function would.
    /// Appends `events` (type, data) to `stream`, in order.
    pub async fn append(&self, stream: &str, events: &[(&str, Value)]) -> anyhow::Result<()> {
        for (kind, data) in events {
            let body = json!({"streamId": stream, "type": kind, "data": data});
            let command = domain::validate::append_command(body.to_string().as_bytes())
                .map_err(|err| anyhow::anyhow!("invalid test event: {err}"))?;
            self.store
                .append(&command, chrono::Utc::now())
                .await
                .map_err(|err| anyhow::anyhow!("append failed: {err}"))?;
        }
        Ok(())
    }

    /// The whole log of `stream`.
    pub async fn log(&self, stream: &str) -> anyhow::Result<Vec<domain::RecordedEvent>> {
        let stream = StreamId::parse(stream, "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
        self.store
            .read_stream(&stream, EventId::new(0), 100)
            .await
            .map_err(|err| anyhow::anyhow!("reading the log: {err}"))
    }

    /// Projects the whole log of `stream` as the projector would.
    pub async fn project(&self, stream: &str) -> anyhow::Result<()> {
        let events = self.log(stream).await?;
        let failed = service::projector::project(&self.store, &events).await;
        ensure!(
            failed.is_empty(),
            "projecting the seed events failed: {failed:?}"
        );
        Ok(())
    }

    pub async fn items(&self, stream: &str) -> anyhow::Result<Vec<ItemView>> {
        let stream = StreamId::parse(stream, "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
        // The first page holds every item these checks write.
        self.store
            .list(&domain::ListQuery::first_page(stream))
            .await
            .map(|page| page.items)
            .map_err(|err| anyhow::anyhow!("cannot list the read model: {err}"))
    }

    /// The job `replay_id` as recorded.
    pub async fn job(&self, replay_id: &str) -> anyhow::Result<ReplayJob> {
        self.store
            .job(replay_id)
            .await
            .map_err(|err| anyhow::anyhow!("reading job {replay_id}: {err}"))?
            .with_context(|| format!("job {replay_id} is not recorded"))
    }

    /// The replay lane of `stream`, empty if it never had one.
    pub async fn lane(&self, stream: &str) -> anyhow::Result<ReplayLane> {
        let stream = StreamId::parse(stream, "streamId").map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(self
            .store
            .lane(&domain::LaneKey::Stream(stream))
            .await
            .map_err(|err| anyhow::anyhow!("reading the lane: {err}"))?
            .map(|stored| stored.lane)
            .unwrap_or_default())
    }

    /// A moto API call with the JSON protocol (DynamoDB Streams speaks it).
    async fn aws_json(&self, service: &str, target: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", target)
            .header("authorization", fake_authorization(service))
            .body(body.to_string())
            .send()
            .await
            .with_context(|| format!("{target} on moto"))?;
        let status = response.status();
        let text = response.text().await.context("reading moto's answer")?;
        ensure!(status.is_success(), "{target}: {status} {text}");
        serde_json::from_str(&text).with_context(|| format!("{target} answered {text}"))
    }

    /// Every record of the events table's DynamoDB stream so far, as
    /// Lambda's event source mapping delivers them (DynamoDB JSON images).
    pub async fn stream_records(&self) -> anyhow::Result<Vec<Value>> {
        let table = self
            .aws_json(
                "dynamodb",
                "DynamoDB_20120810.DescribeTable",
                json!({"TableName": self.tables.events}),
            )
            .await?;
        let stream_arn = table["Table"]["LatestStreamArn"]
            .as_str()
            .context("the events table has no stream")?
            .to_owned();
        let stream = self
            .aws_json(
                "dynamodb",
                "DynamoDBStreams_20120810.DescribeStream",
                json!({"StreamArn": stream_arn}),
            )
            .await?;
        let mut records = Vec::new();
        let shards = stream["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for shard in shards {
            let iterator = self
                .aws_json(
                    "dynamodb",
                    "DynamoDBStreams_20120810.GetShardIterator",
                    json!({"StreamArn": stream_arn, "ShardId": shard["ShardId"], "ShardIteratorType": "TRIM_HORIZON"}),
                )
                .await?;
            let page = self
                .aws_json(
                    "dynamodb",
                    "DynamoDBStreams_20120810.GetRecords",
                    json!({"ShardIterator": iterator["ShardIterator"], "Limit": 1000}),
                )
                .await?;
            for mut record in page["Records"].as_array().cloned().unwrap_or_default() {
                record["eventSourceARN"] = Value::String(stream_arn.clone());
                records.push(record);
            }
        }
        Ok(records)
    }

    /// Creates a Lambda function on moto (and the IAM role it demands), so
    /// an `Invoke` of it succeeds; moto does not run its code.
    pub async fn create_lambda_function(&self, name: &str) -> anyhow::Result<()> {
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let role_name = format!("{name}-role");
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "CreateRole")
            .append_pair("Version", "2010-05-08")
            .append_pair("RoleName", &role_name)
            .append_pair("AssumeRolePolicyDocument", &policy.to_string())
            .finish();
        let response = self
            .http
            .post(&self.endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", fake_authorization("iam"))
            .body(form)
            .send()
            .await
            .context("IAM CreateRole on moto")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "CreateRole: {status} {}",
            response.text().await.unwrap_or_default()
        );
        // An empty zip archive: its end-of-central-directory record alone.
        let mut empty_zip = b"PK\x05\x06".to_vec();
        empty_zip.resize(22, 0);
        use base64::Engine;
        let function = json!({
            "FunctionName": name,
            "Runtime": "provided.al2023",
            "Architectures": ["arm64"],
            "Handler": "bootstrap",
            "Role": format!("arn:aws:iam::{MOTO_ACCOUNT}:role/{role_name}"),
            "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(&empty_zip)},
        });
        let response = self
            .http
            .post(format!("{}/2015-03-31/functions", self.endpoint))
            .header("content-type", "application/json")
            .header("authorization", fake_authorization("lambda"))
            .body(function.to_string())
            .send()
            .await
            .context("Lambda CreateFunction on moto")?;
        let status = response.status();
        ensure!(
            status.is_success(),
            "CreateFunction: {status} {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }
}

/// moto routes a request by the service in its credential scope and checks
/// no signature.
fn fake_authorization(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=test/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}
