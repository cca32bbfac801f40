//! Where failures go: one SQS queue an operator reads, fed by the
//! projector's stream mapping (the batches it gives up on), by the
//! projector itself (records it can never decode), and by Lambda for the
//! replay function's asynchronous invocations that fail for good.

use service::functions::Function;

use crate::cfn::iam::PolicyDocument;
use crate::cfn::lambda::{self, AsyncRetries, DestinationConfig, OnFailure, Qualifier};
use crate::cfn::sqs::{self, RetentionSeconds};
use crate::cfn::{Output, Resource, ResourceId, Template};
use crate::stack::FunctionResources;

/// The failure queue's logical ID.
pub const FAILURE_QUEUE_ID: &str = "FailureQueue";
/// The output holding the failure queue's URL.
pub const FAILURE_QUEUE_URL_OUTPUT: &str = "FailureQueueUrl";
/// The output holding the failure queue's ARN.
pub const FAILURE_QUEUE_ARN_OUTPUT: &str = "FailureQueueArn";
/// The failure queue's resource policy: no request without TLS.
pub const FAILURE_QUEUE_POLICY_ID: &str = "FailureQueuePolicy";

/// Retries of a failed asynchronous replay invocation, Lambda's most.
const REPLAY_ASYNC_RETRIES: AsyncRetries = AsyncRetries::Two;
/// How long a replay invocation may wait in Lambda's queue (throttled by
/// the replay function's concurrency cap, or between retries) before it
/// goes to the failure queue: an hour, three times a replay's lease on its
/// lane (`domain::jobs::LEASE`, 20 minutes). A run that waited longer has
/// lost its lane to the next trigger, or shows as failed; running it later
/// helps no one, and the queue tells the operator it happened.
const REPLAY_MAX_EVENT_AGE_SECONDS: u32 = 3_600;

/// The failure queue's typed id.
pub(super) fn failure_queue() -> ResourceId<sqs::Queue> {
    ResourceId::new(FAILURE_QUEUE_ID)
}

/// The queue as a destination of Lambda's failure records.
pub(super) fn on_failure_to_queue() -> DestinationConfig {
    DestinationConfig {
        on_failure: OnFailure {
            destination: failure_queue().arn(),
        },
    }
}

pub(super) fn add_failure_queue(template: &mut Template) {
    let queue = failure_queue();
    template.resource(
        queue.as_str(),
        // Deleted with the stack, like the logs: the records point at
        // stream positions and invocations of this deployment, which mean
        // nothing once it is gone (the stream keeps records 24 hours; the
        // queue, 14 days). Retained, every destroy would leave a queue
        // behind that nothing reads.
        Resource::from(sqs::Queue {
            queue_name: None,
            message_retention_period: Some(RetentionSeconds::FOURTEEN_DAYS),
            sqs_managed_sse_enabled: Some(true),
        })
        .deleted(),
    );
    template.resource(
        FAILURE_QUEUE_POLICY_ID,
        sqs::QueuePolicy {
            queues: vec![queue.url()],
            policy_document: PolicyDocument::new(vec![
                super::deny_without_tls(&["sqs:*"], vec![queue.arn()])
                    .with_sid("DenyRequestsWithoutTls"),
            ]),
        },
    );
    template.output(
        FAILURE_QUEUE_URL_OUTPUT,
        Output::new(
            "The queue of failure records: discarded stream batches, undecodable records, failed replay invocations",
            queue.url(),
        ),
    );
    template.output(
        FAILURE_QUEUE_ARN_OUTPUT,
        Output::new("The failure queue's ARN", queue.arn()),
    );
}

/// The replay function is invoked asynchronously (by trigger-replay, and
/// by itself to hand over): a bounded retry, then the failure queue.
pub(super) fn add_replay_invoke_config(template: &mut Template) {
    template.resource(
        "ReplayInvokeConfig",
        lambda::EventInvokeConfig {
            function_name: Function::Replay.logical_id().reference(),
            qualifier: Qualifier::Latest,
            maximum_retry_attempts: Some(REPLAY_ASYNC_RETRIES),
            maximum_event_age_in_seconds: Some(REPLAY_MAX_EVENT_AGE_SECONDS),
            destination_config: Some(on_failure_to_queue()),
        },
    );
}
