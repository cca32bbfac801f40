//! The event store a deploy attaches the app to: the data stack, created
//! or brought up to date; and when it is missing while the event store is
//! not (tables retained by a deleted data stack, or held by an app stack
//! made by an earlier version), what [`EventStoreChoice`] says: stop and
//! say so, adopt the tables, or start an empty event store on purpose.

use anyhow::bail;
use service::dynamo::schema::Table;

use super::event_store::{self, EventStoreChoice};
use super::ownership::{self, TableInfo};
use super::request::{DeployRequest, Question};
use super::session::Session;
use super::stacks::{self, StackInfo};
use super::survey::Survey;
use super::{adopt, data, detach};
use crate::stack::{TableResources, data_stack_name};

/// The data stack the app is attached to, ready (see the module
/// documentation); `app` and `data_session` are the deployment's two
/// sessions.
pub(super) async fn attach_event_store(
    app: &Session<'_>,
    data_session: &Session<'_>,
    survey: &Survey,
    request: &DeployRequest<'_>,
) -> anyhow::Result<StackInfo> {
    let choice = app.options.event_store;
    let deployment = app.ownership.deployment.as_str();
    let held = held_tables(app, survey).await?;
    if survey.data.is_some() {
        if !held.is_empty() {
            bail!(
                "the app stack {deployment} holds event-store tables ({}) and the data stack {} holds its own: two event stores. Nothing was changed; decide which one this deployment keeps (the app stack's can be moved with CloudFormation's resource import after deleting the data stack, whose tables are retained)",
                names(&held),
                data_session.stack_name
            );
        }
        if choice != EventStoreChoice::Refuse {
            app.progress.line(format!(
                "the data stack {} exists with its event store: there is no event store to adopt or replace, so the deploy goes on with it",
                data_session.stack_name
            ));
        }
        return data::ensure_data_stack(data_session).await;
    }
    if let Some(app_info) = survey.app.as_ref().filter(|_| !held.is_empty()) {
        match choice {
            EventStoreChoice::Refuse => return Err(tables_in_app_refusal(deployment, &held)),
            EventStoreChoice::Adopt => {
                adopt::detach_event_store(app, app_info, &held).await?;
                let (events, index) = pair(&held)?;
                adopt::import_event_store(data_session, events, index).await?;
            }
            EventStoreChoice::New => {
                // The app update that follows drops the tables from the app
                // stack: only their Retain policy keeps them then.
                let deployed =
                    stacks::deployed_template(&app.aws.cloudformation, &app_info.id).await?;
                let deployed: serde_json::Value = serde_yaml::from_str(&deployed)?;
                let ids: Vec<String> = held
                    .iter()
                    .map(|(table, _)| TableResources::logical_id(*table).to_string())
                    .collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                detach::retained(&deployed, &ids)
                    .map_err(|why| anyhow::anyhow!("{why}. Nothing was changed"))?;
                confirm_new(request, deployment, &names(&held))?;
            }
        }
        return data::ensure_data_stack(data_session).await;
    }
    let retained = event_store::find_retained(app.aws, deployment, survey.app.as_ref()).await?;
    if retained.is_empty() && survey.app.is_none() {
        // A first deploy: nothing to lose.
        return data::ensure_data_stack(data_session).await;
    }
    match choice {
        EventStoreChoice::Refuse => {
            return Err(event_store::refusal(
                deployment,
                survey.app.as_ref(),
                &retained,
            ));
        }
        EventStoreChoice::Adopt => {
            let (events, index) = retained.pair(deployment)?;
            adopt::import_event_store(data_session, events, index).await?;
        }
        EventStoreChoice::New => {
            confirm_new(request, deployment, &retained.names().join(", "))?;
        }
    }
    data::ensure_data_stack(data_session).await
}

/// The event store's tables the app stack holds itself, described (and
/// refused when tagged as another deployment's).
async fn held_tables(
    app: &Session<'_>,
    survey: &Survey,
) -> anyhow::Result<Vec<(Table, TableInfo)>> {
    let ours = crate::stack::tags::Ownership::data(&app.ownership.deployment);
    let mut held = Vec::new();
    for (table, name) in survey.tables_in_app() {
        if let Some(info) = ownership::describe_table(app.aws, &name).await? {
            ownership::claim_table(&info, &ours).map_err(|refused| *refused)?;
            held.push((table, info));
        }
    }
    Ok(held)
}

fn names(tables: &[(Table, TableInfo)]) -> String {
    tables
        .iter()
        .map(|(_, info)| info.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn pair(held: &[(Table, TableInfo)]) -> anyhow::Result<(&TableInfo, &TableInfo)> {
    let find = |wanted: Table| {
        held.iter()
            .find(|(table, _)| *table == wanted)
            .map(|(_, info)| info)
    };
    match (find(Table::Events), find(Table::StreamIndex)) {
        (Some(events), Some(index)) => Ok((events, index)),
        _ => bail!(
            "the app stack holds only {} of the event store's two tables: nothing to adopt as a whole. Nothing was changed",
            names(held)
        ),
    }
}

/// Asks once more before a new, empty event store is started beside
/// `tables`; a no stops the deploy.
fn confirm_new(request: &DeployRequest<'_>, deployment: &str, tables: &str) -> anyhow::Result<()> {
    let question = Question::NewEventStore {
        stack: deployment.to_owned(),
        retained_tables: tables.to_owned(),
    };
    if !(request.confirm)(&question)? {
        bail!("a new event store was not confirmed: nothing was changed");
    }
    Ok(())
}

/// Why a deploy stops over an app stack that holds the event store's
/// tables itself, as stacks made before the data stack did.
fn tables_in_app_refusal(deployment: &str, held: &[(Table, TableInfo)]) -> anyhow::Error {
    let data = data_stack_name(deployment);
    anyhow::anyhow!(
        "the stack {deployment} holds the event store's tables ({}) itself, as stacks made by earlier versions did; this version keeps them in a data stack, {data}. Nothing was changed. To go on:\n  cargo xtask deploy --adopt-event-store   takes them out of {deployment} (they are retained) and imports them into a new data stack {data} (CloudFormation's resource import), every event with them\n  cargo xtask deploy --new-event-store     starts an empty event store on purpose; the tables are kept as they are",
        names(held)
    )
}
