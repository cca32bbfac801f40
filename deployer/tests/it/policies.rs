//! What the stacks' policies allow and deny: every bucket and queue
//! refuses requests without TLS, and the roles that write the stream index
//! may write only their own kinds of rows, checked against the writes the
//! DynamoDB adapter really sends (on the emulator, which enforces no IAM:
//! the roles' statements are evaluated here, as IAM evaluates
//! `ForAllValues:StringEquals`).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use deployer::cfn::{LogicalId, Template};
use deployer::stack::{FAILURE_QUEUE_ID, Function, FunctionResources, data_stack};
use domain::{
    Amount, AppendCommand, DomainEvent, EventStore, IdempotencyKey, ItemId, ParkedRecord,
    ParkedRecords, StreamId,
};
use serde_json::{Value, json};
use service::dynamo::{DynamoStore, TableNames, ensure_tables};

use crate::template::{default_stack, traced_stack};

/// Every bucket and queue of the stacks (the artifact bucket, in both
/// phases, and the failure queue) has a resource policy that denies every
/// action to anyone on a request without TLS: the explicit deny wins over
/// any allow a caller's own policies give.
#[test]
fn every_bucket_and_queue_refuses_requests_without_tls() {
    let deny = |service: &str, resources: Vec<String>| {
        serde_json::json!({
            "Sid": "DenyRequestsWithoutTls",
            "Effect": "Deny",
            "Principal": {"AWS": ["*"]},
            "Action": [format!("{service}:*")],
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        })
    };
    let resources_json = |value: serde_json::Value| -> Vec<String> {
        value
            .as_array()
            .expect("resources")
            .iter()
            .map(|r| serde_json::to_string(r).expect("JSON"))
            .collect()
    };
    for template in [
        default_stack(),
        traced_stack(),
        deployer::stack::bootstrap_stack(),
        data_stack(),
    ] {
        let json = serde_json::to_value(&template).expect("JSON");
        let resources = json["Resources"].as_object().expect("resources");
        let of_type = |kind: &str| -> Vec<&String> {
            resources
                .iter()
                .filter(|(_, r)| r["Type"] == kind)
                .map(|(id, _)| id)
                .collect()
        };
        let mut guarded = Vec::new();
        for bucket in of_type("AWS::S3::Bucket") {
            let policies: Vec<&serde_json::Value> = resources
                .values()
                .filter(|r| {
                    r["Type"] == "AWS::S3::BucketPolicy"
                        && r["Properties"]["Bucket"] == serde_json::json!({"Ref": bucket})
                })
                .collect();
            assert_eq!(policies.len(), 1, "{bucket}: one policy");
            let statements = &policies[0]["Properties"]["PolicyDocument"]["Statement"];
            let expected = deny(
                "s3",
                vec![
                    serde_json::to_string(&serde_json::json!({"Fn::GetAtt": [bucket, "Arn"]}))
                        .expect("JSON"),
                    serde_json::to_string(
                        &serde_json::json!({"Fn::Sub": format!("${{{bucket}.Arn}}/*")}),
                    )
                    .expect("JSON"),
                ],
            );
            let found = statements
                .as_array()
                .expect("statements")
                .iter()
                .find(|s| s["Effect"] == "Deny")
                .expect("a deny");
            let mut found = found.clone();
            let listed = resources_json(found["Resource"].take());
            found["Resource"] = serde_json::json!(listed);
            assert_eq!(found, expected, "{bucket}");
            guarded.push(bucket.clone());
        }
        for queue in of_type("AWS::SQS::Queue") {
            let policies: Vec<&serde_json::Value> = resources
                .values()
                .filter(|r| {
                    r["Type"] == "AWS::SQS::QueuePolicy"
                        && r["Properties"]["Queues"] == serde_json::json!([{"Ref": queue}])
                })
                .collect();
            assert_eq!(policies.len(), 1, "{queue}: one policy");
            let statement = policies[0]["Properties"]["PolicyDocument"]["Statement"][0].clone();
            let mut statement = statement;
            let listed = resources_json(statement["Resource"].take());
            statement["Resource"] = serde_json::json!(listed);
            assert_eq!(
                statement,
                deny(
                    "sqs",
                    vec![
                        serde_json::to_string(&serde_json::json!({"Fn::GetAtt": [queue, "Arn"]}))
                            .expect("JSON")
                    ]
                ),
                "{queue}"
            );
            guarded.push(queue.clone());
        }
        let expected: Vec<&str> = if template
            .resources
            .contains_key(&LogicalId::new(FAILURE_QUEUE_ID))
        {
            vec!["ArtifactBucket", FAILURE_QUEUE_ID]
        } else if template
            .resources
            .contains_key(&LogicalId::new("ArtifactBucket"))
        {
            vec!["ArtifactBucket"]
        } else {
            vec![]
        };
        assert_eq!(guarded, expected);
    }
}

/// One write to the stream index as IAM sees it: the partition key it
/// touches and every attribute it writes or tests.
#[derive(Clone, Debug, PartialEq, Eq)]
struct IndexWrite {
    partition: String,
    attributes: BTreeSet<String>,
}

/// Records the stream-index writes a client sends (PutItem, and each Put
/// of TransactWriteItems), read from the request bodies; any other kind of
/// write to the stream index is recorded as a failure of the test.
#[derive(Clone, Debug)]
struct IndexWrites {
    table: String,
    seen: Arc<Mutex<Vec<Result<IndexWrite, String>>>>,
}

impl IndexWrites {
    fn take(&self) -> Vec<IndexWrite> {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(|p| p.into_inner()))
            .into_iter()
            .map(|write| write.unwrap_or_else(|problem| panic!("{problem}")))
            .collect()
    }

    fn put(&self, put: &Value) -> Option<Result<IndexWrite, String>> {
        if put["TableName"] != self.table.as_str() {
            return None;
        }
        let item = put["Item"].as_object()?;
        let partition = item
            .get(service::dynamo::schema::STREAM_ID)
            .and_then(|key| key["S"].as_str())
            .map(str::to_owned);
        let Some(partition) = partition else {
            return Some(Err(format!("a Put without a string partition key: {put}")));
        };
        let mut attributes: BTreeSet<String> = item.keys().cloned().collect();
        if let Some(names) = put["ExpressionAttributeNames"].as_object() {
            attributes.extend(names.values().filter_map(Value::as_str).map(str::to_owned));
        }
        Some(Ok(IndexWrite {
            partition,
            attributes,
        }))
    }
}

impl Intercept for IndexWrites {
    fn name(&self) -> &'static str {
        "IndexWrites"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        let body: Value = request
            .body()
            .bytes()
            .and_then(|bytes| serde_json::from_slice(bytes).ok())
            .unwrap_or(Value::Null);
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match operation.as_str() {
            "PutItem" => seen.extend(self.put(&body)),
            "TransactWriteItems" => {
                for item in body["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(put) = item.get("Put") {
                        seen.extend(self.put(put));
                    }
                    for other in ["Update", "Delete", "ConditionCheck"] {
                        if item[other]["TableName"] == self.table.as_str() {
                            seen.push(Err(format!("an unexpected {other} on the index: {item}")));
                        }
                    }
                }
            }
            "UpdateItem" | "DeleteItem" | "BatchWriteItem"
                if body.to_string().contains(&self.table) =>
            {
                seen.push(Err(format!(
                    "an unexpected {operation} on the index: {body}"
                )));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether `function`'s role (in `template`) may write `write` to the
/// stream index: some Allow statement for `dynamodb:PutItem` on it whose
/// every condition holds.
fn role_allows(template: &Template, function: Function, write: &IndexWrite) -> bool {
    let json = serde_json::to_value(template).expect("JSON");
    let role = &json["Resources"][function.role_id().as_str()]["Properties"];
    role["Policies"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|policy| {
            policy["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|statement| {
            statement["Effect"] == "Allow"
                && statement["Action"]
                    .as_array()
                    .is_some_and(|actions| actions.contains(&json!("dynamodb:PutItem")))
                && statement["Resource"].as_array().is_some_and(|resources| {
                    resources.contains(&json!({"Ref": "StreamIndexTableArn"}))
                })
        })
        .any(|statement| conditions_hold(&statement["Condition"], write))
}

/// IAM's evaluation of the operators the roles use; an operator it does
/// not know fails the test rather than passing silently.
fn conditions_hold(condition: &Value, write: &IndexWrite) -> bool {
    let Some(operators) = condition.as_object() else {
        return true;
    };
    operators.iter().all(|(operator, keys)| {
        assert_eq!(
            operator, "ForAllValues:StringEquals",
            "an operator the test cannot judge"
        );
        keys.as_object()
            .expect("keys")
            .iter()
            .all(|(key, allowed)| {
                let allowed: BTreeSet<&str> = match allowed {
                    Value::String(one) => BTreeSet::from([one.as_str()]),
                    many => many
                        .as_array()
                        .expect("values")
                        .iter()
                        .filter_map(Value::as_str)
                        .collect(),
                };
                let requested: Vec<&str> = match key.as_str() {
                    "dynamodb:LeadingKeys" => vec![write.partition.as_str()],
                    "dynamodb:Attributes" => write.attributes.iter().map(String::as_str).collect(),
                    other => panic!("a condition key the test cannot judge: {other}"),
                };
                requested.iter().all(|value| allowed.contains(value))
            })
    })
}

/// Appends (a new stream, a change, a deletion, a repeat under an
/// Idempotency-Key, a stream named like the parked records' partition)
/// and parking, through the adapter the functions use: add-event's role
/// allows each of its writes and the projector's each park, and neither
/// role allows the other's rows.
#[tokio::test(flavor = "multi_thread")]
async fn each_role_may_write_the_stream_index_rows_its_function_writes_and_no_other() {
    let endpoint = testkit::moto::shared_endpoint();
    let tables = TableNames::with_prefix(&testkit::unique_name("rows"));
    let sdk = service::aws::sdk_config_for_endpoint(endpoint).await;
    let writes = IndexWrites {
        table: tables.stream_index.clone(),
        seen: Arc::default(),
    };
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(writes.clone())
            .build(),
    );
    ensure_tables(&client, &tables).await.expect("tables");
    let store = DynamoStore::new(client, tables);
    let item = ItemId::parse("a", "itemId").expect("an item");
    let amount = |n| Amount::new(n).expect("an amount");
    let now = chrono::Utc::now();
    for stream in ["rows", service::dynamo::schema::PARKED_RECORDS_STREAM] {
        let stream = StreamId::parse(stream, "streamId").expect("a stream");
        for event in [
            DomainEvent::ItemCreated {
                item_id: item.clone(),
                amount: amount(1),
            },
            DomainEvent::ItemAmountChanged {
                item_id: item.clone(),
                amount: amount(2),
            },
            DomainEvent::ItemDeleted {
                item_id: item.clone(),
            },
        ] {
            let command = AppendCommand::new(stream.clone(), event, None);
            store.append(&command, now).await.expect("an append");
        }
        let keyed = AppendCommand::new(
            stream.clone(),
            DomainEvent::ItemCreated {
                item_id: ItemId::parse("b", "itemId").expect("an item"),
                amount: amount(3),
            },
            None,
        )
        .with_idempotency_key(
            IdempotencyKey::parse(&format!("retry-{}", stream.as_str())).expect("a key"),
        );
        store.append(&keyed, now).await.expect("a keyed append");
        store.append(&keyed, now).await.expect("its repeat");
    }
    let appended = writes.take();
    store
        .park(&ParkedRecord::new(
            "arn:stream#1",
            "does not decode",
            "{}",
            now,
        ))
        .await
        .expect("a park");
    let parked = writes.take();

    // Every kind of row was written: HEAD, ITEM# and an idempotency key's.
    let attributes: BTreeSet<&String> = appended.iter().flat_map(|w| &w.attributes).collect();
    for attribute in ["version", "live", "fingerprint"] {
        assert!(
            attributes.contains(&attribute.to_owned()),
            "{attribute}: {appended:?}"
        );
    }
    assert!(
        appended
            .iter()
            .any(|w| w.partition.starts_with("idempotency-key#")),
        "{appended:?}"
    );
    assert_eq!(parked.len(), 1, "{parked:?}");
    for template in [default_stack(), traced_stack()] {
        for write in &appended {
            assert!(
                role_allows(&template, Function::AddEvent, write),
                "{write:?}"
            );
            assert!(
                !role_allows(&template, Function::Projector, write),
                "{write:?}"
            );
        }
        for write in &parked {
            assert!(
                role_allows(&template, Function::Projector, write),
                "{write:?}"
            );
            assert!(
                !role_allows(&template, Function::AddEvent, write),
                "{write:?}"
            );
        }
        // No other role writes the stream index at all.
        for function in Function::ALL {
            if matches!(function, Function::AddEvent | Function::Projector) {
                continue;
            }
            for write in appended.iter().chain(&parked) {
                assert!(!role_allows(&template, function, write), "{function:?}");
            }
        }
    }
    // A checkpoint's row: no role may write it on AWS.
    let checkpoint = IndexWrite {
        partition: service::dynamo::schema::CHECKPOINTS_STREAM.to_owned(),
        attributes: ["streamId", "entry", "position"].map(str::to_owned).into(),
    };
    for function in Function::ALL {
        assert!(
            !role_allows(&default_stack(), function, &checkpoint),
            "{function:?}"
        );
    }
}
