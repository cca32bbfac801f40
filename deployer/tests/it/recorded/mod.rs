//! The deployer's handling of what moto cannot produce (per-resource
//! events, rollbacks, throttling, an account's Lambda concurrency, resource
//! import, IAM's delay in showing a new role), tested with recorded
//! CloudFormation, S3, Lambda, DynamoDB, API Gateway and IAM responses
//! replayed in order by the SDK's own test client. The harness is here,
//! the canned answers in `answers`, sequences of them in `sequences`; the
//! tests in `engine` (deploy and diff), `buckets` (the artifact bucket),
//! `adoption` (the event store brought into a data stack) and
//! `logging_role` (the account's CloudWatch role, an earlier version's
//! data stack tagged) and `drift` (drift detection, which moto lacks).

mod adoption;
mod answers;
mod buckets;
mod drift;
mod engine;
mod logging_role;
mod sequences;

use answers::*;
use sequences::*;

use std::collections::BTreeMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_sdk_cloudformation::config::{Credentials, Region};
use aws_smithy_http_client::test_util::{ReplayEvent, StaticReplayClient};
use aws_smithy_types::body::SdkBody;
use deployer::bundle::{Arch, Artifact, Manifest};
use deployer::cfn::Template;
use deployer::deploy::change_sets::ResourceChange;
use deployer::deploy::concurrency::ReservationRefused;
use deployer::deploy::progress::Progress;
use deployer::deploy::status::StackStatus;
use deployer::deploy::wait::{Expiry, Limits, WaitExpired, Waits};
use deployer::deploy::{
    Aws, DeployOptions, DeployRequest, InFlight, Outcome, StackFailed, deploy, diff,
};
use deployer::settings::ReplayConcurrency;
use deployer::stack::tags::Ownership;
use deployer::stack::{ARTIFACT_BUCKET_OUTPUT, Function, Table};
use deployer::{StackOptions, app_stack};

pub(super) const STACK: &str = "recorded";

pub(super) const STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:stack/recorded/0b1c";

pub(super) const DATA_STACK: &str = "recorded-data";

pub(super) const DATA_STACK_ID: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:stack/recorded-data/2d3e";

pub(super) const XMLNS: &str = "http://cloudformation.amazonaws.com/doc/2010-05-15/";

pub(super) const CHANGE_SET_ARN: &str =
    "arn:aws:cloudformation:us-east-1:123456789012:changeSet/cargo-xtask-0a1b/5e6f";

async fn aws(replay: &StaticReplayClient) -> Aws {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(replay.clone())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(5)))
        .load()
        .await;
    Aws::new(&config).expect("clients")
}

fn manifest() -> Manifest {
    Manifest {
        arch: Arch::Arm64,
        target: Arch::Arm64.triple().to_owned(),
        linker: "test".to_owned(),
        functions: Function::ALL
            .iter()
            .map(|f| {
                (
                    f.name().to_owned(),
                    Artifact {
                        path: "/nonexistent.zip".into(),
                        key: format!("{}/abc.zip", f.name()),
                        size: 1,
                        sha256: "abc".to_owned(),
                        linkage: "test".to_owned(),
                    },
                )
            })
            .collect(),
    }
}

/// A deploy or diff of the app's stack against recorded responses.
struct Recorded {
    replay: StaticReplayClient,
    aws: Aws,
    template: Template,
    manifest: Manifest,
    progress: Progress,
}

impl Recorded {
    /// The engine will get `responses`, in order, whatever it asks.
    async fn new(responses: Vec<ReplayEvent>) -> Recorded {
        let replay = StaticReplayClient::new(responses);
        Recorded {
            aws: aws(&replay).await,
            replay,
            template: app_stack(&StackOptions::default()),
            manifest: manifest(),
            progress: Progress::recorded(),
        }
    }

    fn request(&self) -> DeployRequest<'_> {
        DeployRequest {
            stack_name: STACK,
            template: &self.template,
            manifest: &self.manifest,
            api_key: "recorded-key-0123456789abcdef",
            test_stream_id: "s",
            confirm: &|_| Ok(false),
        }
    }

    async fn deploy(&self, options: &DeployOptions) -> anyhow::Result<Outcome> {
        let in_flight = InFlight::default();
        deploy(
            &self.aws,
            &self.request(),
            options,
            &self.progress,
            &in_flight,
        )
        .await
    }

    async fn diff(&self) -> anyhow::Result<Vec<ResourceChange>> {
        let in_flight = InFlight::default();
        diff(
            &self.aws,
            &self.request(),
            &options(),
            &self.progress,
            &in_flight,
        )
        .await
    }

    /// The `Action=` of each request CloudFormation received (S3 requests
    /// have none and are left out).
    fn actions(&self) -> Vec<String> {
        self.replay
            .actual_requests()
            .filter_map(|request| {
                let body = std::str::from_utf8(request.body().bytes()?)
                    .ok()?
                    .to_owned();
                body.split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .map(str::to_owned)
            })
            .collect()
    }
}

fn options() -> DeployOptions {
    DeployOptions {
        waits: Waits {
            poll: Duration::from_millis(1),
            ..Waits::for_emulator()
        },
        ..DeployOptions::default()
    }
}

/// The form fields of each CloudFormation request, in order.
fn forms(replay: &StaticReplayClient) -> Vec<Vec<(String, String)>> {
    replay
        .actual_requests()
        .filter_map(|request| {
            let body = request.body().bytes()?;
            Some(form_urlencoded::parse(body).into_owned().collect())
        })
        .collect()
}

/// The start of an update that reaches ExecuteChangeSet: the stack, the
/// packages already uploaded, a change set with one change.
fn update_until_execute() -> Vec<ReplayEvent> {
    let mut replay = concurrency_affordable();
    replay.extend(attached_to_the_data_stack(Some("UPDATE_COMPLETE")));
    replay.push(stack("UPDATE_COMPLETE"));
    replay.extend((0..Function::ALL.len()).map(|_| head_object_found()));
    replay.extend(change_set_modifying(
        "AddEventFunction",
        "AWS::Lambda::Function",
    ));
    replay.extend([
        events(&[(
            "e0",
            STACK,
            "AWS::CloudFormation::Stack",
            "UPDATE_COMPLETE",
            "",
        )]),
        ok("ExecuteChangeSet", ""),
    ]);
    replay
}
