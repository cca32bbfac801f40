//! The data stack's part of a deploy: create it or bring it up to date
//! (it changes rarely: a new table setting), then read what the app stack
//! takes from it ([`DataValues`]) from its tables themselves.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::types::ChangeSetType;

use super::Aws;
use super::aws::SdkResultExt;
use super::change_sets::{ChangeSet, TemplateSource};
use super::operation::OperationKind;
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
    /// or stuck. Returns what the app stack takes from it.
    pub(crate) async fn ensure_data_stack(&self) -> anyhow::Result<DataValues> {
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
                    self.delete(&info).await?;
                    self.create_data_stack(&body).await?
                }
            },
        };
        data_values(self.aws, &stack).await
    }

    async fn create_data_stack(&self, body: &str) -> anyhow::Result<StackInfo> {
        let name = self.stack_name;
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
        let deployed = stacks::deployed_template(&self.aws.cloudformation, &stack.id).await?;
        if deployed == body {
            self.progress
                .line(format!("the data stack {} is up to date", self.stack_name));
            return Ok(());
        }
        let change_set = self
            .create_change_set(
                ChangeSetType::Update,
                &TemplateSource::Body(body.to_owned()),
                &BTreeMap::new(),
            )
            .await?;
        match change_set {
            ChangeSet::NoChanges => Ok(()),
            ChangeSet::Ready(ready) => {
                self.progress
                    .line(format!("updating the data stack {}", self.stack_name));
                print_changes(self.progress, &ready.changes);
                self.execute(&ready, OperationKind::Update).await
            }
        }
    }
}

/// What the app takes from the data stack `stack`, read from its tables
/// (their names from the stack's resources, the rest from DynamoDB), so it
/// holds whatever the stack's outputs say.
pub(crate) async fn data_values(aws: &Aws, stack: &StackInfo) -> anyhow::Result<DataValues> {
    let physical = stacks::physical_ids(&aws.cloudformation, &stack.id).await?;
    let mut values = BTreeMap::new();
    for table in [Table::Events, Table::StreamIndex] {
        let logical = table.logical_id();
        let name = physical.get(logical.as_str()).with_context(|| {
            format!(
                "the data stack {} has no {logical}: it was not made by cargo xtask deploy",
                stack.id
            )
        })?;
        let described = aws
            .dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .with_sdk_context(|| format!("cannot read the table {name} of the data stack"))?;
        let description = described
            .table()
            .with_context(|| format!("DynamoDB describes no table {name}"))?;
        for output in DataOutput::ALL.into_iter().filter(|o| o.table() == table) {
            let value = match output {
                DataOutput::EventsTableName | DataOutput::StreamIndexTableName => {
                    Some(name.clone())
                }
                DataOutput::EventsTableArn | DataOutput::StreamIndexTableArn => {
                    description.table_arn().map(str::to_owned)
                }
                DataOutput::EventsStreamArn => description.latest_stream_arn().map(str::to_owned),
            }
            .with_context(|| format!("DynamoDB gives no {} for {name}", output.name()))?;
            values.insert(output.name().to_owned(), value);
        }
    }
    Ok(DataValues(values))
}
