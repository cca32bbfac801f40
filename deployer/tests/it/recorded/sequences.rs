//! Sequences of canned answers and readings of the requests sent, shared
//! by the tests of a whole operation: stack events, change sets run to
//! their end, the form fields and order of the requests.

use super::*;

/// Stack events of the stack `name` (`id`), newest first: (id, status).
pub(super) fn events_of(name: &str, id: &str, events: &[(&str, &str)]) -> ReplayEvent {
    let members: String = events
        .iter()
        .map(|(event, status)| {
            format!(
                "<member><StackId>{id}</StackId><StackName>{name}</StackName>\
                 <EventId>{event}</EventId><LogicalResourceId>{name}</LogicalResourceId>\
                 <ResourceType>AWS::CloudFormation::Stack</ResourceType>\
                 <Timestamp>2026-01-01T00:00:00Z</Timestamp><ResourceStatus>{status}</ResourceStatus>\
                 </member>"
            )
        })
        .collect();
    ok(
        "DescribeStackEvents",
        &format!("<StackEvents>{members}</StackEvents>"),
    )
}

/// A change set of the stack `id` listing `changes` (action, logical id,
/// type, replacement).
pub(super) fn change_set(id: &str, changes: &[(&str, &str, &str, &str)]) -> [ReplayEvent; 2] {
    let members: String = changes
        .iter()
        .map(|(action, logical, kind, replacement)| {
            format!(
                "<member><Type>Resource</Type><ResourceChange><Action>{action}</Action>\
                 <LogicalResourceId>{logical}</LogicalResourceId><ResourceType>{kind}</ResourceType>\
                 <Replacement>{replacement}</Replacement></ResourceChange></member>"
            )
        })
        .collect();
    [
        ok(
            "CreateChangeSet",
            &format!("<Id>{CHANGE_SET_ARN}</Id><StackId>{id}</StackId>"),
        ),
        ok(
            "DescribeChangeSet",
            &format!(
                "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>\
                 <Changes>{members}</Changes>"
            ),
        ),
    ]
}

/// A change set of `name` (`id`) executed and followed to `status`.
pub(super) fn executed(
    name: &str,
    id: &str,
    status: &str,
    tags: &BTreeMap<String, String>,
) -> Vec<ReplayEvent> {
    vec![
        events_of(name, id, &[("old", "REVIEW_IN_PROGRESS")]),
        ok("ExecuteChangeSet", ""),
        described(name, id, status, tags, ""),
        events_of(name, id, &[("new", status), ("old", "REVIEW_IN_PROGRESS")]),
    ]
}

/// DynamoDB's answer to TagResource.
pub(super) fn tagged() -> ReplayEvent {
    dynamodb("{}".to_owned())
}

/// The value of the form field `name` of the `n`th CloudFormation request
/// whose action is `action`.
pub(super) fn field(
    forms: &[Vec<(String, String)>],
    action: &str,
    n: usize,
    name: &str,
) -> Option<String> {
    forms
        .iter()
        .filter(|form| form.contains(&("Action".to_owned(), action.to_owned())))
        .nth(n)
        .unwrap_or_else(|| panic!("no {action} number {n}"))
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
}

/// Each request's kind, in order: a query action, a JSON target, or the
/// HTTP method and path (S3, Lambda, API Gateway).
pub(super) fn requests(replay: &StaticReplayClient) -> Vec<String> {
    replay
        .actual_requests()
        .map(|request| {
            if let Some(target) = request.headers().get("x-amz-target") {
                return target.rsplit('.').next().unwrap_or_default().to_owned();
            }
            let body = request.body().bytes().unwrap_or_default();
            form_urlencoded::parse(body)
                .find(|(key, _)| key == "Action")
                .map(|(_, action)| action.into_owned())
                .unwrap_or_else(|| {
                    let path = request
                        .uri()
                        .parse::<http::Uri>()
                        .map(|uri| uri.path().to_owned())
                        .unwrap_or_default();
                    format!("{} {path}", request.method())
                })
        })
        .collect()
}

pub(super) fn position(requests: &[String], wanted: &str) -> usize {
    requests
        .iter()
        .position(|r| r == wanted)
        .unwrap_or_else(|| panic!("no {wanted} in {requests:?}"))
}
