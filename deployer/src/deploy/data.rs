//! The data stack's part of a deploy: create it or bring it up to date
//! (it changes rarely: a new table setting), then read what the app stack
//! takes from it ([`DataValues`]) from its tables themselves.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::types::ChangeSetType;

use super::Aws;
use super::aws::SdkResultExt;
use super::change_sets::{ChangeSet, ReadyChangeSet, ResourceChange, TemplateSource};
use super::operation::OperationKind;
use super::ownership::{self, TableInfo};
use super::session::{Session, print_changes};
use super::stacks::{self, StackInfo};
use super::status::Standing;
use crate::stack::{DataOutput, Table, TableResources, data_stack};

/// The app stack's parameters that come from the data stack, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DataValues(pub BTreeMap<String, String>);

impl Session<'_> {
    /// The data stack, created when absent (or when a failed first create
    /// left it empty), updated when its template changed; refused when busy
    /// or stuck.
    pub(crate) async fn ensure_data_stack(&self) -> anyhow::Result<StackInfo> {
        let body = data_stack()
            .to_yaml()
            .context("cannot render the data stack's template")?;
        let stack = match self.describe().await? {
            None => self.create_data_stack(&body).await?,
            Some(info) => match info.standing() {
                Standing::Update => {
                    self.update_data_stack(&info, &body).await?;
                    info
                }
                Standing::Busy | Standing::Stuck => return Err(self.refusal(&info)),
                Standing::Create => self.create_data_stack(&body).await?,
                Standing::DeleteThenCreate => {
                    self.progress.line(format!(
                        "the data stack {} is {} with nothing in it; deleting it to create it again",
                        self.stack_name, info.status
                    ));
                    // A failed create keeps the tables it made (the template
                    // retains them): read them before the stack goes.
                    let physical = stacks::physical_ids(&self.aws.cloudformation, &info.id).await?;
                    self.delete(&info).await?;
                    let left: Vec<String> = [Table::Events, Table::StreamIndex]
                        .into_iter()
                        .filter_map(|table| physical.get(table.logical_id().as_str()).cloned())
                        .collect();
                    self.delete_empty_tables(&left).await?;
                    self.create_data_stack(&body).await?
                }
            },
        };
        Ok(stack)
    }

    /// Deletes those of `tables` that exist and hold nothing: what a failed
    /// first create of the data stack left behind, which no deploy ever
    /// wrote to. A table with items is kept, and said so.
    pub(crate) async fn delete_empty_tables(&self, tables: &[String]) -> anyhow::Result<()> {
        for table in tables {
            let scanned = self
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
                    return Err(err)
                        .with_sdk_context(|| format!("cannot look into the table {table}"));
                }
            };
            if scanned.count() > 0 || scanned.last_evaluated_key().is_some() {
                self.progress.line(format!(
                    "kept the table {table}, left by a failed create of {}: it holds items; delete it in the DynamoDB console if it is not needed",
                    self.stack_name
                ));
                continue;
            }
            super::destroy::delete_table(self.aws, table, &self.options.waits).await?;
            self.progress.line(format!(
                "deleted the empty table {table}, left by a failed create of {}",
                self.stack_name
            ));
        }
        Ok(())
    }

    async fn create_data_stack(&self, body: &str) -> anyhow::Result<StackInfo> {
        let name = &self.stack_name;
        self.progress.line(format!(
            "creating the data stack {name} in {}: the event store's tables",
            self.aws.region
        ));
        let change_set = self
            .create_change_set(
                ChangeSetType::Create,
                &TemplateSource::Body(body.to_owned()),
                &BTreeMap::new(),
            )
            .await?;
        let ChangeSet::Ready(ready) = change_set else {
            bail!("CloudFormation found nothing to create for the data stack {name}");
        };
        self.execute(&ready, OperationKind::Creation).await?;
        self.describe()
            .await?
            .with_context(|| format!("the data stack {name} vanished after its creation"))
    }

    async fn update_data_stack(&self, stack: &StackInfo, body: &str) -> anyhow::Result<()> {
        let Some(ready) = self.data_change_set(stack, body).await? else {
            self.progress
                .line(format!("the data stack {} is up to date", self.stack_name));
            return Ok(());
        };
        self.progress
            .line(format!("updating the data stack {}", self.stack_name));
        print_changes(self.progress, &ready.changes);
        self.execute(&ready, OperationKind::Update).await
    }

    /// What a deploy would change in the data stack `stack` (for `diff`):
    /// shown, and the change set deleted.
    pub(crate) async fn data_stack_changes(
        &self,
        stack: &StackInfo,
    ) -> anyhow::Result<Vec<ResourceChange>> {
        let body = data_stack()
            .to_yaml()
            .context("cannot render the data stack's template")?;
        let Some(ready) = self.data_change_set(stack, &body).await? else {
            self.progress.line(format!(
                "no changes: the data stack {} is up to date",
                self.stack_name
            ));
            return Ok(Vec::new());
        };
        self.progress
            .line(format!("the data stack {} would change:", self.stack_name));
        print_changes(self.progress, &ready.changes);
        self.discard(&ready).await?;
        Ok(ready.changes)
    }

    /// The change set taking the data stack `stack` to `body`; `None` when
    /// it is deployed already (the template as sent, or CloudFormation
    /// finds nothing to change).
    async fn data_change_set(
        &self,
        stack: &StackInfo,
        body: &str,
    ) -> anyhow::Result<Option<ReadyChangeSet>> {
        let deployed = stacks::deployed_template(&self.aws.cloudformation, &stack.id).await?;
        if deployed == body {
            return Ok(None);
        }
        let change_set = self
            .create_change_set(
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
}

/// What the app takes from the data stack `stack`, read from its tables
/// (their names from the stack's resources, the rest from DynamoDB), so it
/// holds whatever the stack's outputs say; and the tables themselves, with
/// their tags.
pub(crate) async fn data_values(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::progress::Progress;
    use crate::deploy::wait::Waits;
    use crate::deploy::{DeployOptions, InFlight};
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
        let options = DeployOptions {
            waits: Waits::for_emulator(),
            ..DeployOptions::default()
        };
        let session = Session::new(
            &aws,
            crate::stack::tags::Ownership::data("evs-failed"),
            &options,
            &progress,
            &in_flight,
        );
        session
            .delete_empty_tables(&[empty.clone(), full.clone(), testkit::unique_name("gone")])
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
