//! The data stack's part of a deploy: create it or bring it up to date
//! (it changes rarely: a new table setting), then read what the app stack
//! takes from it ([`DataValues`]) from its tables themselves; and deleting
//! an event-store table, which its deletion protection guards.

use std::collections::BTreeMap;

use anyhow::Context;
use aws_sdk_cloudformation::types::ChangeSetType;

use super::aws::{Aws, SdkResultExt};
use super::change_sets::{
    ChangeSet, ReadyChangeSet, ResourceChange, TemplateSource, print_changes,
};
use super::operation;
use super::ownership::{self, TableInfo};
use super::session::Session;
use super::stacks::{self, StackInfo};
use super::status::{OperationKind, Standing};
use super::wait::{Wait, Waits};
use crate::stack::{DataOutput, Table, TableResources, data_stack};

/// The app stack's parameters that come from the data stack, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataValues(pub BTreeMap<String, String>);

/// The data stack, created when absent (or when a failed first create
/// left it empty), updated when its template changed; refused when busy
/// or stuck.
pub(super) async fn ensure_data_stack(session: &Session<'_>) -> anyhow::Result<StackInfo> {
    let name = &session.stack_name;
    let body = data_stack()
        .to_yaml()
        .context("cannot render the data stack's template")?;
    let Some(info) = stacks::describe(&session.aws.cloudformation, name).await? else {
        return create_data_stack(session, body).await;
    };
    match info.standing() {
        Standing::Update => {
            update_data_stack(session, &info, &body).await?;
            Ok(info)
        }
        Standing::Busy | Standing::Stuck => Err(info.refusal(name)),
        Standing::Create => create_data_stack(session, body).await,
        Standing::DeleteThenCreate => {
            session.progress.line(format!(
                "the data stack {name} is {} with nothing in it; deleting it to create it again",
                info.status
            ));
            // A failed create keeps the tables it made (the template
            // retains them): read them before the stack goes.
            let physical = stacks::physical_ids(&session.aws.cloudformation, &info.id).await?;
            operation::delete(session, &info).await?;
            let left: Vec<String> = [Table::Events, Table::StreamIndex]
                .into_iter()
                .filter_map(|table| physical.get(table.logical_id().as_str()).cloned())
                .collect();
            delete_empty_tables(session, &left).await?;
            create_data_stack(session, body).await
        }
    }
}

/// Deletes those of `tables` that exist and hold nothing: what a failed
/// first create of the data stack left behind, which no deploy ever
/// wrote to. A table with items is kept, and said so.
async fn delete_empty_tables(session: &Session<'_>, tables: &[String]) -> anyhow::Result<()> {
    let name = &session.stack_name;
    for table in tables {
        let scanned = session
            .aws
            .dynamodb
            .scan()
            .table_name(table)
            .limit(1)
            .send()
            .await;
        let scanned = match scanned {
            Ok(scanned) => scanned,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                continue;
            }
            Err(err) => {
                return Err(err).with_sdk_context(|| format!("cannot look into the table {table}"));
            }
        };
        if scanned.count() > 0 || scanned.last_evaluated_key().is_some() {
            session.progress.line(format!(
                "kept the table {table}, left by a failed create of {name}: it holds items; delete it in the DynamoDB console if it is not needed"
            ));
            continue;
        }
        delete_table(session.aws, table, &session.options.waits).await?;
        session.progress.line(format!(
            "deleted the empty table {table}, left by a failed create of {name}"
        ));
    }
    Ok(())
}

async fn create_data_stack(session: &Session<'_>, body: String) -> anyhow::Result<StackInfo> {
    session.progress.line(format!(
        "creating the data stack {} in {}: the event store's tables",
        session.stack_name, session.aws.region
    ));
    operation::create_stack(session, "the data stack", body).await
}

async fn update_data_stack(
    session: &Session<'_>,
    stack: &StackInfo,
    body: &str,
) -> anyhow::Result<()> {
    let name = &session.stack_name;
    let Some(ready) = data_change_set(session, stack, body).await? else {
        session
            .progress
            .line(format!("the data stack {name} is up to date"));
        return Ok(());
    };
    session
        .progress
        .line(format!("updating the data stack {name}"));
    print_changes(session.progress, &ready.changes);
    operation::execute(session, &ready, OperationKind::Update).await
}

/// What a deploy would change in the data stack `stack` (for `diff`):
/// shown, and the change set deleted.
pub(super) async fn data_stack_changes(
    session: &Session<'_>,
    stack: &StackInfo,
) -> anyhow::Result<Vec<ResourceChange>> {
    let name = &session.stack_name;
    let body = data_stack()
        .to_yaml()
        .context("cannot render the data stack's template")?;
    let Some(ready) = data_change_set(session, stack, &body).await? else {
        session
            .progress
            .line(format!("no changes: the data stack {name} is up to date"));
        return Ok(Vec::new());
    };
    session
        .progress
        .line(format!("the data stack {name} would change:"));
    print_changes(session.progress, &ready.changes);
    operation::discard(session, &ready).await?;
    Ok(ready.changes)
}

/// The change set taking the data stack `stack` to `body`; `None` when
/// it is deployed already (the template as sent, or CloudFormation
/// finds nothing to change).
async fn data_change_set(
    session: &Session<'_>,
    stack: &StackInfo,
    body: &str,
) -> anyhow::Result<Option<ReadyChangeSet>> {
    let deployed = stacks::deployed_template(&session.aws.cloudformation, &stack.id).await?;
    if deployed == body {
        return Ok(None);
    }
    let change_set = operation::create_change_set(
        session,
        ChangeSetType::Update,
        &TemplateSource::Body(body.to_owned()),
        &BTreeMap::new(),
    )
    .await?;
    Ok(match change_set {
        ChangeSet::NoChanges => None,
        ChangeSet::Ready(ready) => Some(ready),
    })
}

/// What the app takes from the data stack `stack`, read from its tables
/// (their names from the stack's resources, the rest from DynamoDB), so it
/// holds whatever the stack's outputs say; and the tables themselves, with
/// their tags.
pub(super) async fn data_values(
    aws: &Aws,
    stack: &StackInfo,
) -> anyhow::Result<(DataValues, Vec<TableInfo>)> {
    let physical = stacks::physical_ids(&aws.cloudformation, &stack.id).await?;
    let mut values = BTreeMap::new();
    let mut tables = Vec::new();
    for table in [Table::Events, Table::StreamIndex] {
        let logical = table.logical_id();
        let name = physical.get(logical.as_str()).with_context(|| {
            format!(
                "the data stack {} has no {logical}: it was not made by cargo xtask deploy",
                stack.id
            )
        })?;
        let info = ownership::describe_table(aws, name)
            .await?
            .with_context(|| format!("the table {name} of the data stack does not exist"))?;
        for output in DataOutput::ALL.into_iter().filter(|o| o.table() == table) {
            let value = match output {
                DataOutput::EventsTableName | DataOutput::StreamIndexTableName => {
                    Some(name.clone())
                }
                DataOutput::EventsTableArn | DataOutput::StreamIndexTableArn => {
                    Some(info.arn.clone())
                }
                DataOutput::EventsStreamArn => info.stream_arn.clone(),
            }
            .with_context(|| format!("DynamoDB gives no {} for {name}", output.name()))?;
            values.insert(output.name().to_owned(), value);
        }
        tables.push(info);
    }
    Ok((DataValues(values), tables))
}

/// Turns the table's deletion protection off (the template turns it on
/// for the event store), then deletes it once DynamoDB has applied that.
pub(super) async fn delete_table(aws: &Aws, table: &str, waits: &Waits) -> anyhow::Result<()> {
    let unprotected = aws
        .dynamodb
        .update_table()
        .table_name(table)
        .deletion_protection_enabled(false)
        .send()
        .await;
    match unprotected {
        Ok(_) => {}
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(());
        }
        Err(err) => {
            return Err(err).with_sdk_context(|| {
                format!("cannot turn off the deletion protection of the table {table}")
            });
        }
    }
    let mut wait = Wait::new(
        format!("DynamoDB to let the table {table} be deleted"),
        waits.table_update,
        waits.poll,
        "look at the table in the DynamoDB console, then run destroy --delete-data again",
    );
    loop {
        match aws.dynamodb.delete_table().table_name(table).send().await {
            Ok(_) => return Ok(()),
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                    return Ok(());
                }
                // Still applying the update: the table is busy for a moment.
                if service.is_some_and(|e| e.is_resource_in_use_exception()) {
                    wait.saw("in use");
                    wait.pause().await?;
                    continue;
                }
                return Err(err).with_sdk_context(|| format!("cannot delete the table {table}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::in_flight::InFlight;
    use crate::deploy::progress::Progress;
    use crate::deploy::request::DeployOptions;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };

    async fn protected_table(aws: &Aws, name: &str) {
        aws.dynamodb
            .create_table()
            .table_name(name)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("k")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("a definition"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("k")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("a key"),
            )
            .billing_mode(BillingMode::PayPerRequest)
            .deletion_protection_enabled(true)
            .send()
            .await
            .expect("create the table");
    }

    /// What a failed first create of the data stack left: the empty table
    /// goes (its deletion protection turned off first), the one with items
    /// stays, a table that is gone already is passed over.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_creates_empty_tables_are_deleted_and_others_kept() {
        let endpoint = testkit::moto::shared_endpoint();
        let aws =
            Aws::new(&service::aws::sdk_config_for_endpoint(endpoint).await).expect("clients");
        let empty = testkit::unique_name("left-empty");
        let full = testkit::unique_name("left-full");
        protected_table(&aws, &empty).await;
        protected_table(&aws, &full).await;
        aws.dynamodb
            .put_item()
            .table_name(&full)
            .item("k", AttributeValue::S("an event".into()))
            .send()
            .await
            .expect("an item");
        let progress = Progress::recorded();
        let in_flight = InFlight::default();
        let options = DeployOptions::for_emulator();
        let session = Session::new(
            &aws,
            crate::stack::tags::Ownership::data("evs-failed"),
            &options,
            &progress,
            &in_flight,
        );
        delete_empty_tables(
            &session,
            &[empty.clone(), full.clone(), testkit::unique_name("gone")],
        )
        .await
        .expect("the clean-up");
        let exists = |name: String| {
            let aws = &aws;
            async move {
                aws.dynamodb
                    .describe_table()
                    .table_name(name)
                    .send()
                    .await
                    .is_ok()
            }
        };
        assert!(!exists(empty.clone()).await, "the empty table is left");
        assert!(exists(full.clone()).await, "the table with items is gone");
        let lines = progress.lines().join("\n");
        assert!(
            lines.contains(&format!("deleted the empty table {empty}"))
                && lines.contains(&format!("kept the table {full}")),
            "{lines}"
        );
    }
}
