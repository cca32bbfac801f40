//! `destroy`: empties the stack's artifact bucket and deletes the app
//! stack. The data stack, which holds the event store, is kept; it goes
//! (with its tables, which its template retains) only with
//! `--delete-data` and a second, explicit confirmation. Both stacks must
//! be this deployment's ([`super::survey`]), and the account's API Gateway
//! CloudWatch role is released from a role about to be deleted first
//! ([`super::logging_role`]).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::bail;

use super::aws::Aws;
use super::in_flight::InFlight;
use super::logging_role;
use super::progress::Progress;
use super::request::DeployOptions;
use super::session::Session;
use super::status::Standing;
use super::{data, operation, stacks};
use crate::stack::TableResources;
use crate::stack::tags::Ownership;
use crate::stack::{ARTIFACT_BUCKET_ID, Table};

pub use super::request::Question;

/// How destroy ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destroyed {
    /// There was no stack of that name.
    NoStack,
    /// The stack is gone; these tables were kept.
    Stack { kept_tables: Vec<String> },
    /// The stack and the retained tables are gone.
    StackAndData { deleted_tables: Vec<String> },
    /// A question was answered no; nothing was changed.
    Declined,
}

/// Destroys the app stack `stack_name` and keeps its data stack (the
/// event store), unless `delete_data`. `confirm` is asked before anything
/// is changed: once for the stack, and once more for the data when
/// `delete_data` is set.
pub async fn destroy(
    aws: &Aws,
    stack_name: &str,
    delete_data: bool,
    confirm: &mut dyn FnMut(&Question) -> anyhow::Result<bool>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Destroyed> {
    let session = Session::new(
        aws,
        Ownership::app(stack_name),
        options,
        progress,
        in_flight,
    );
    let data_session = Session::new(
        aws,
        Ownership::data(stack_name),
        options,
        progress,
        in_flight,
    );
    let data_name = data_session.stack_name.clone();
    let survey = super::survey::survey(aws, stack_name).await?;
    let (app, data) = (survey.app.clone(), survey.data.clone());
    if app.is_none() && data.is_none() {
        progress.line(format!(
            "the stack {stack_name} does not exist in {}: nothing to destroy",
            aws.region
        ));
        return Ok(Destroyed::NoStack);
    }
    for (name, info) in [(stack_name, &app), (data_name.as_str(), &data)] {
        if let Some(info) = info
            && info.standing() == Standing::Busy
        {
            bail!(
                "the stack {name} is {}: wait for the running operation to finish, then destroy it",
                info.status
            );
        }
    }
    let app_physical = match &app {
        Some(info) => stacks::physical_ids(&aws.cloudformation, &info.id).await?,
        None => BTreeMap::new(),
    };
    let data_physical = match &data {
        Some(info) => stacks::physical_ids(&aws.cloudformation, &info.id).await?,
        None => BTreeMap::new(),
    };
    // The event store's tables: the data stack's, or, in a stack made
    // before the data stack existed, the app stack's retained ones.
    let retained_tables: Vec<String> = Table::ALL
        .into_iter()
        .filter(|table| table.is_retained())
        .filter_map(|table| {
            let id = table.logical_id();
            data_physical
                .get(id.as_str())
                .or_else(|| app_physical.get(id.as_str()))
                .cloned()
        })
        .collect();

    if !confirm(&Question::DestroyStack {
        stack: stack_name.to_owned(),
        region: aws.region.clone(),
        retained_tables: retained_tables.clone(),
    })? {
        progress.line("not destroyed: nothing was changed");
        return Ok(Destroyed::Declined);
    }
    if delete_data
        && !retained_tables.is_empty()
        && !confirm(&Question::DeleteData {
            tables: retained_tables.clone(),
        })?
    {
        progress.line("not destroyed: nothing was changed");
        return Ok(Destroyed::Declined);
    }

    // The roles that go now: the account's CloudWatch role must not name
    // one of them afterwards.
    let mut doomed: BTreeSet<String> = survey.app_roles().into_iter().map(|(_, r)| r).collect();
    let kept_role = match (&data, delete_data) {
        (Some(data), false) => logging_role::data_stack_role(aws, data).await?,
        _ => None,
    };
    if delete_data && let Some(data) = &data {
        doomed.extend(logging_role::stack_roles(aws, data).await?);
    }
    logging_role::release_logging_role(
        aws,
        &doomed,
        kept_role.as_deref(),
        &options.waits,
        progress,
    )
    .await?;

    if let Some(app) = &app {
        if let Some(bucket) = app_physical.get(ARTIFACT_BUCKET_ID) {
            progress.status(format!("emptying the artifact bucket {bucket}"));
            let deleted = super::artifacts::empty_bucket(
                &aws.s3,
                bucket,
                options.waits.bucket_rounds_without_progress,
            )
            .await?;
            progress.line(format!(
                "emptied the artifact bucket {bucket} ({deleted} objects)"
            ));
        }
        progress.line(format!("deleting the stack {stack_name}"));
        operation::delete(&session, app).await?;
        progress.line(format!("deleted the stack {stack_name}"));
    }

    if !delete_data {
        if data.is_some() {
            progress.line(format!(
                "kept the data stack {data_name} with the event store ({}): the next deploy of {stack_name} attaches to it with every event; destroy --delete-data removes it",
                retained_tables.join(", ")
            ));
        } else {
            for table in &retained_tables {
                progress.line(format!(
                    "kept the table {table}: it holds the event store (run destroy with --delete-data to delete it, or delete it in the DynamoDB console)"
                ));
            }
        }
        return Ok(Destroyed::Stack {
            kept_tables: retained_tables,
        });
    }
    if let Some(data) = &data {
        // The tables are retained by the template: the stack goes, they stay
        // until deleted below.
        progress.line(format!("deleting the data stack {data_name}"));
        operation::delete(&data_session, data).await?;
        progress.line(format!("deleted the data stack {data_name}"));
    }
    for table in &retained_tables {
        data::delete_table(aws, table, &options.waits).await?;
        progress.line(format!("deleted the table {table} and its data"));
    }
    Ok(Destroyed::StackAndData {
        deleted_tables: retained_tables,
    })
}
