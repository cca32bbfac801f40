//! Canned AWS answers, one helper per kind: CloudFormation (query XML),
//! DynamoDB (JSON), Lambda, API Gateway (REST JSON) and IAM (query XML),
//! and the sequences a deploy's first steps read.

use super::*;

/// `response` to whatever request comes next (the replay client does not
/// compare requests).
pub(super) fn reply(response: http::response::Builder, body: SdkBody) -> ReplayEvent {
    ReplayEvent::new(
        http::Request::builder()
            .uri("https://recorded.invalid/")
            .body(SdkBody::empty())
            .expect("request"),
        response.body(body).expect("response"),
    )
}

pub(super) fn response(status: u16, body: String) -> ReplayEvent {
    let response = http::Response::builder()
        .status(status)
        .header("content-type", "text/xml");
    reply(response, SdkBody::from(body))
}

pub(super) fn ok(action: &str, result: &str) -> ReplayEvent {
    response(
        200,
        format!(
            "<{action}Response xmlns=\"{XMLNS}\"><{action}Result>{result}</{action}Result>\
             <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></{action}Response>"
        ),
    )
}

pub(super) fn error(code: &str, message: &str) -> ReplayEvent {
    response(
        400,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{code}</Code>\
             <Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        ),
    )
}

/// DescribeStacks of one stack: `name` with `id`, in `status`, tagged
/// with `tags`, with `outputs` (members, as XML).
pub(super) fn described(
    name: &str,
    id: &str,
    status: &str,
    tags: &BTreeMap<String, String>,
    outputs: &str,
) -> ReplayEvent {
    let tags: String = tags
        .iter()
        .map(|(key, value)| format!("<member><Key>{key}</Key><Value>{value}</Value></member>"))
        .collect();
    ok(
        "DescribeStacks",
        &format!(
            "<Stacks><member><StackId>{id}</StackId><StackName>{name}</StackName>\
             <StackStatus>{status}</StackStatus><CreationTime>2026-01-01T00:00:00Z</CreationTime>\
             <Outputs>{outputs}</Outputs><Tags>{tags}</Tags></member></Stacks>"
        ),
    )
}

/// The app stack in `status`, tagged as the deployment's.
pub(super) fn stack(status: &str) -> ReplayEvent {
    described(
        STACK,
        STACK_ID,
        status,
        &Ownership::app(STACK).tags(),
        &format!(
            "<member><OutputKey>{ARTIFACT_BUCKET_OUTPUT}</OutputKey>\
             <OutputValue>recorded-bucket</OutputValue></member>"
        ),
    )
}

/// The app stack in `status`, as an earlier version left it: no tags.
pub(super) fn untagged_stack(status: &str) -> ReplayEvent {
    described(
        STACK,
        STACK_ID,
        status,
        &BTreeMap::new(),
        &format!(
            "<member><OutputKey>{ARTIFACT_BUCKET_OUTPUT}</OutputKey>\
             <OutputValue>recorded-bucket</OutputValue></member>"
        ),
    )
}

/// The data stack in `status`, tagged as the deployment's.
pub(super) fn data_stack_in(status: &str) -> ReplayEvent {
    described(
        DATA_STACK,
        DATA_STACK_ID,
        status,
        &Ownership::data(STACK).tags(),
        "",
    )
}

/// "Stack with id ... does not exist", CloudFormation's answer for a stack
/// that is not there.
pub(super) fn no_stack(name: &str) -> ReplayEvent {
    error(
        "ValidationError",
        &format!("Stack with id {name} does not exist"),
    )
}

/// Stack events, newest first: (id, logical id, type, status, reason).
pub(super) fn events(events: &[(&str, &str, &str, &str, &str)]) -> ReplayEvent {
    let members: String = events
        .iter()
        .map(|(id, logical, kind, status, reason)| {
            format!(
                "<member><StackId>{STACK_ID}</StackId><StackName>{STACK}</StackName>\
                 <EventId>{id}</EventId><LogicalResourceId>{logical}</LogicalResourceId>\
                 <ResourceType>{kind}</ResourceType><Timestamp>2026-01-01T00:00:00Z</Timestamp>\
                 <ResourceStatus>{status}</ResourceStatus>\
                 <ResourceStatusReason>{reason}</ResourceStatusReason></member>"
            )
        })
        .collect();
    ok(
        "DescribeStackEvents",
        &format!("<StackEvents>{members}</StackEvents>"),
    )
}

/// A Lambda (REST-JSON) answer.
pub(super) fn lambda(status: u16, error_type: Option<&str>, body: &str) -> ReplayEvent {
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(error_type) = error_type {
        response = response.header("x-amzn-errortype", error_type);
    }
    reply(response, SdkBody::from(body.to_owned()))
}

/// `GetAccountSettings`: the account's concurrency limit and what of it
/// is unreserved.
pub(super) fn account_settings(limit: u32, unreserved: u32) -> ReplayEvent {
    lambda(
        200,
        None,
        &format!(
            "{{\"AccountLimit\":{{\"ConcurrentExecutions\":{limit},\"UnreservedConcurrentExecutions\":{unreserved},\
             \"CodeSizeUnzipped\":262144000,\"CodeSizeZipped\":52428800,\"TotalCodeSize\":80530636800}},\
             \"AccountUsage\":{{\"FunctionCount\":0,\"TotalCodeSize\":0}}}}"
        ),
    )
}

/// The check a deploy starts with, on an account with the default limit
/// and a replay function that reserves nothing yet.
pub(super) fn concurrency_affordable() -> Vec<ReplayEvent> {
    vec![account_settings(1000, 1000), lambda(200, None, "{}")]
}

pub(super) fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A member of DescribeStackResources: `logical` (a `kind`) is `physical`.
pub(super) fn resource(logical: &str, kind: &str, physical: &str) -> String {
    format!(
        "<member><StackName>{STACK}</StackName><LogicalResourceId>{logical}</LogicalResourceId>\
         <PhysicalResourceId>{physical}</PhysicalResourceId><ResourceType>{kind}</ResourceType>\
         <Timestamp>2026-01-01T00:00:00Z</Timestamp><ResourceStatus>CREATE_COMPLETE</ResourceStatus></member>"
    )
}

pub(super) fn table_resource(logical: &str, physical: &str) -> String {
    resource(logical, "AWS::DynamoDB::Table", physical)
}

pub(super) fn resources(members: &[String]) -> ReplayEvent {
    ok(
        "DescribeStackResources",
        &format!("<StackResources>{}</StackResources>", members.concat()),
    )
}

/// A DynamoDB (JSON protocol) answer.
pub(super) fn dynamodb(body: String) -> ReplayEvent {
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/x-amz-json-1.0");
    reply(response, SdkBody::from(body))
}

pub(super) fn table_arn(name: &str) -> String {
    format!("arn:aws:dynamodb:us-east-1:123456789012:table/{name}")
}

/// DynamoDB `DescribeTable` of `name`, keyed as `layout`.
pub(super) fn table_described(name: &str, layout: Table) -> ReplayEvent {
    let arn = table_arn(name);
    let keys: Vec<serde_json::Value> = layout
        .key_schema()
        .map(|((attribute, _), role)| {
            serde_json::json!({"AttributeName": attribute, "KeyType": role.as_str()})
        })
        .collect();
    let definitions: Vec<serde_json::Value> = layout
        .key_schema()
        .map(|((attribute, kind), _)| {
            serde_json::json!({"AttributeName": attribute, "AttributeType": kind.as_str()})
        })
        .collect();
    dynamodb(
        serde_json::json!({"Table": {
            "TableName": name,
            "TableArn": arn,
            "LatestStreamArn": format!("{arn}/stream/2026-01-01T00:00:00.000"),
            "KeySchema": keys,
            "AttributeDefinitions": definitions,
        }})
        .to_string(),
    )
}

/// DynamoDB `ListTagsOfResource`: `tags`.
pub(super) fn tags_listed(tags: &BTreeMap<String, String>) -> ReplayEvent {
    let tags: Vec<serde_json::Value> = tags
        .iter()
        .map(|(key, value)| serde_json::json!({"Key": key, "Value": value}))
        .collect();
    dynamodb(serde_json::json!({ "Tags": tags }).to_string())
}

/// A table as the deployer reads it: described, then its tags.
pub(super) fn table_read(
    name: &str,
    layout: Table,
    tags: &BTreeMap<String, String>,
) -> [ReplayEvent; 2] {
    [table_described(name, layout), tags_listed(tags)]
}

/// The data stack's two tables, as deploy and diff read them: its
/// resources, then each table and its tags (the deployment's).
pub(super) fn data_stack_tables() -> Vec<ReplayEvent> {
    let tags = Ownership::data(STACK).tags();
    let mut replay = vec![resources(&[
        table_resource("EventsTable", "recorded-events"),
        table_resource("StreamIndexTable", "recorded-stream-index"),
    ])];
    replay.extend(table_read("recorded-events", Table::Events, &tags));
    replay.extend(table_read(
        "recorded-stream-index",
        Table::StreamIndex,
        &tags,
    ));
    replay
}

/// What a deploy reads after the app stack is up to date, to tell whether
/// its read model is new over a kept log: both stacks, their tables and
/// the replay function, and a read model that holds rows (so it starts no
/// rebuild).
pub(super) fn read_model_not_new() -> Vec<ReplayEvent> {
    vec![
        stack("UPDATE_COMPLETE"),
        data_stack_in("UPDATE_COMPLETE"),
        resources(&[
            table_resource("ReadModelTable", "recorded-read-model"),
            table_resource("ReplaysTable", "recorded-replays"),
            resource("ReplayFunction", "AWS::Lambda::Function", "recorded-replay"),
        ]),
        resources(&[
            table_resource("EventsTable", "recorded-events"),
            table_resource("StreamIndexTable", "recorded-stream-index"),
        ]),
        dynamodb(
            r#"{"Count": 1, "ScannedCount": 1, "Items": [{"streamId": {"S": "s"}, "itemId": {"S": "i"}}]}"#
                .to_owned(),
        ),
    ]
}

/// What every command finds first: the app stack (in `app_status`, or
/// absent) and its resources (none of the event store's), then the data
/// stack and its tables, all tagged as the deployment's.
pub(super) fn surveyed(app_status: Option<&str>) -> Vec<ReplayEvent> {
    let mut replay = match app_status {
        Some(status) => vec![stack(status), resources(&[])],
        None => vec![no_stack(STACK)],
    };
    replay.push(data_stack_in("UPDATE_COMPLETE"));
    replay.extend(data_stack_tables());
    replay
}

/// A role API Gateway may assume, as IAM `GetRole` describes it (its trust
/// policy URL-encoded, as IAM sends it).
pub(super) fn role_found(name: &str) -> ReplayEvent {
    response(
        200,
        format!(
            "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><Role>\
             <Path>/</Path><RoleName>{name}</RoleName><RoleId>AROA1</RoleId>\
             <Arn>arn:aws:iam::123456789012:role/{name}</Arn><CreateDate>2026-01-01T00:00:00Z</CreateDate>\
             <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%5B%22apigateway.amazonaws.com%22%5D%7D%2C%22Action%22%3A%5B%22sts%3AAssumeRole%22%5D%7D%5D%7D</AssumeRolePolicyDocument>\
             </Role></GetRoleResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetRoleResponse>"
        ),
    )
}

/// IAM's answer for a role that is not there.
pub(super) fn no_role(name: &str) -> ReplayEvent {
    response(
        404,
        format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>\
             <Code>NoSuchEntity</Code><Message>The role with name {name} cannot be found.</Message></Error>\
             <RequestId>r</RequestId></ErrorResponse>"
        ),
    )
}

/// An API Gateway (REST JSON) answer.
pub(super) fn apigateway(
    status: u16,
    error_type: Option<&str>,
    body: serde_json::Value,
) -> ReplayEvent {
    let mut response = http::Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(error_type) = error_type {
        response = response.header("x-amzn-errortype", error_type);
    }
    reply(response, SdkBody::from(body.to_string()))
}

/// `GetAccount` (or `UpdateAccount`'s answer): the account's CloudWatch
/// role is `role` (an ARN), or none.
pub(super) fn account(role: Option<&str>) -> ReplayEvent {
    let mut body = serde_json::json!({"apiKeyVersion": "4"});
    if let Some(role) = role {
        body["cloudwatchRoleArn"] = role.into();
    }
    apigateway(200, None, body)
}

/// The data stack's logging role, as CloudFormation named it.
pub(super) const LOGGING_ROLE: &str = "recorded-data-ApiCloudWatchRole-1A";

/// The account's CloudWatch role is the data stack's, which exists.
pub(super) fn logging_role_kept() -> [ReplayEvent; 2] {
    [
        account(Some(&format!(
            "arn:aws:iam::123456789012:role/{LOGGING_ROLE}"
        ))),
        role_found(LOGGING_ROLE),
    ]
}

/// What a deploy asks before it works on the app stack: the survey (the
/// app stack in `app_status`, or absent), the data stack settled and up to
/// date and its tables, and the account's CloudWatch role, which stays.
pub(super) fn attached_to_the_data_stack(app_status: Option<&str>) -> Vec<ReplayEvent> {
    let mut replay = surveyed(app_status);
    let data_template = deployer::stack::data_stack()
        .to_yaml()
        .expect("the data template");
    replay.extend([
        data_stack_in("UPDATE_COMPLETE"),
        ok(
            "GetTemplate",
            &format!(
                "<TemplateBody>{}</TemplateBody>",
                xml_escaped(&data_template)
            ),
        ),
    ]);
    replay.extend(data_stack_tables());
    replay.extend(logging_role_kept());
    replay
}

/// The query-protocol actions of [`attached_to_the_data_stack`] with the
/// app stack there (CloudFormation's, and IAM's GetRole).
pub(super) const ATTACHING: [&str; 8] = [
    "DescribeStacks",
    "DescribeStackResources",
    "DescribeStacks",
    "DescribeStackResources",
    "DescribeStacks",
    "GetTemplate",
    "DescribeStackResources",
    "GetRole",
];

/// A change set that CloudFormation creates with one change: `logical`
/// (of `resource_type`) modified.
pub(super) fn change_set_modifying(logical: &str, resource_type: &str) -> [ReplayEvent; 2] {
    [
        ok(
            "CreateChangeSet",
            &format!("<Id>{CHANGE_SET_ARN}</Id><StackId>{STACK_ID}</StackId>"),
        ),
        ok(
            "DescribeChangeSet",
            &format!(
                "<Status>CREATE_COMPLETE</Status><ExecutionStatus>AVAILABLE</ExecutionStatus>\
                 <Changes><member><Type>Resource</Type><ResourceChange><Action>Modify</Action>\
                 <LogicalResourceId>{logical}</LogicalResourceId>\
                 <ResourceType>{resource_type}</ResourceType><Replacement>False</Replacement>\
                 </ResourceChange></member></Changes>"
            ),
        ),
    ]
}

pub(super) fn head_object_found() -> ReplayEvent {
    let response = http::Response::builder()
        .status(200)
        .header("content-length", "0");
    reply(response, SdkBody::empty())
}
