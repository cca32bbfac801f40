//! What deploy, diff, status and destroy find before they change or show
//! anything: the app stack and the data stack, each checked to be this
//! deployment's ([`super::ownership`]), the data stack's tables checked
//! too, and the event store's tables an app stack made by an earlier
//! version holds itself.

use service::dynamo::schema::Table;

use super::aws::Aws;
use super::ownership::{self, TableInfo};
use super::stacks::{self, StackInfo, StackResource};
use crate::stack::TableResources;
use crate::stack::tags::Ownership;

/// The deployment as found.
#[derive(Clone, Debug, Default)]
pub struct Survey {
    pub app: Option<StackInfo>,
    pub app_resources: Vec<StackResource>,
    pub data: Option<StackInfo>,
    /// The data stack's event-store tables, with their tags.
    pub data_tables: Vec<(Table, TableInfo)>,
}

impl Survey {
    /// The event store's tables the app stack holds itself (an earlier
    /// version's layout), by physical name.
    pub fn tables_in_app(&self) -> Vec<(Table, String)> {
        [Table::Events, Table::StreamIndex]
            .into_iter()
            .filter_map(|table| {
                let id = table.logical_id();
                self.app_resources
                    .iter()
                    .find(|r| r.logical_id == id.as_str())
                    .and_then(|r| r.physical_id.clone())
                    .map(|name| (table, name))
            })
            .collect()
    }

    /// The IAM roles the app stack holds, by name.
    pub fn app_roles(&self) -> Vec<(String, String)> {
        self.app_resources
            .iter()
            .filter(|r| r.resource_type == "AWS::IAM::Role")
            .filter_map(|r| Some((r.logical_id.clone(), r.physical_id.clone()?)))
            .collect()
    }
}

/// Both stacks of the deployment `deployment`, refused (before anything
/// changes) when either, or one of the data stack's tables, is not its
/// own.
pub async fn survey(aws: &Aws, deployment: &str) -> anyhow::Result<Survey> {
    let mut survey = Survey::default();
    let app_owner = Ownership::app(deployment);
    let data_owner = Ownership::data(deployment);
    if let Some(app) = stacks::describe(&aws.cloudformation, &app_owner.stack_name()).await? {
        let resources = stacks::resources(&aws.cloudformation, &app.id).await?;
        ownership::claim_stack(&app, &resources, &app_owner).map_err(|refused| *refused)?;
        survey.app_resources = resources;
        survey.app = Some(app);
    }
    if let Some(data) = stacks::describe(&aws.cloudformation, &data_owner.stack_name()).await? {
        let resources = stacks::resources(&aws.cloudformation, &data.id).await?;
        ownership::claim_stack(&data, &resources, &data_owner).map_err(|refused| *refused)?;
        for table in [Table::Events, Table::StreamIndex] {
            let id = table.logical_id();
            let Some(name) = resources
                .iter()
                .find(|r| r.logical_id == id.as_str())
                .and_then(|r| r.physical_id.as_deref())
            else {
                continue;
            };
            if let Some(info) = ownership::describe_table(aws, name).await? {
                ownership::claim_table(&info, &data_owner).map_err(|refused| *refused)?;
                survey.data_tables.push((table, info));
            }
        }
        survey.data = Some(data);
    }
    Ok(survey)
}
