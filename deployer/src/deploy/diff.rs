//! `diff`: what a deploy would change, read off change sets that are
//! deleted unexecuted, refused where a deploy would be refused.

use super::aws::Aws;
use super::change_sets::{ResourceChange, print_changes};
use super::in_flight::InFlight;
use super::progress::Progress;
use super::request::{DeployOptions, DeployRequest};
use super::session::Session;
use super::stacks::StackInfo;
use super::status::Standing;
use super::survey::{self, Survey};
use super::{app, data, event_store, operation};
use crate::cfn::Template;
use crate::stack::data_stack;
use crate::stack::tags::Ownership;

/// What a deploy would change, in the data stack and the app stack, from
/// change sets that are then deleted; for a stack that does not exist yet,
/// the resources it would create. Refused as a deploy would be: over a
/// stack that is not this deployment's, or a missing data stack whose
/// event store is still there.
pub async fn diff(
    aws: &Aws,
    request: &DeployRequest<'_>,
    options: &DeployOptions,
    progress: &Progress,
    in_flight: &InFlight,
) -> anyhow::Result<Vec<ResourceChange>> {
    let name = request.stack_name;
    let session = Session::new(aws, Ownership::app(name), options, progress, in_flight);
    let data_session = Session::new(aws, Ownership::data(name), options, progress, in_flight);
    let mut rendered = request.render()?;
    let survey = survey::survey(aws, name).await?;
    let data_changes = match survey.data.clone() {
        Some(info) if info.standing() == Standing::Update => {
            rendered
                .parameters
                .extend(data::data_values(aws, &info).await?.0.0);
            data::data_stack_changes(&data_session, &info).await?
        }
        Some(info) if matches!(info.standing(), Standing::Busy | Standing::Stuck) => {
            return Err(info.refusal(&data_session.stack_name));
        }
        other => {
            if other.is_none() {
                refuse_a_new_event_store(aws, name, &survey).await?;
            }
            // Without the data stack there is nothing to attach the app
            // to: a deploy creates both.
            let mut changes = created_anew(&data_session, &data_stack(), other);
            changes.extend(created_anew(&session, request.template, survey.app));
            return Ok(changes);
        }
    };
    let stack = match survey.app {
        Some(info) if info.standing() == Standing::Update => info,
        Some(info) if matches!(info.standing(), Standing::Busy | Standing::Stuck) => {
            return Err(info.refusal(&session.stack_name));
        }
        other => {
            let mut changes = data_changes;
            changes.extend(created_anew(&session, request.template, other));
            return Ok(changes);
        }
    };
    let mut changes = data_changes;
    if let Some(ready) = app::update_change_set(&session, &stack, rendered, None).await? {
        operation::discard(&session, &ready).await?;
        changes.extend(ready.changes);
    }
    Ok(changes)
}

/// What a plain deploy would stop at when the data stack is missing: an
/// event store in the app stack (an earlier version's), or retained
/// tables, or an app stack whose event store is gone.
async fn refuse_a_new_event_store(aws: &Aws, name: &str, survey: &Survey) -> anyhow::Result<()> {
    let held = survey.tables_in_app();
    let retained = if held.is_empty() {
        event_store::find_retained(aws, name, survey.app.as_ref()).await?
    } else {
        event_store::Retained::default()
    };
    if !held.is_empty() {
        let names: Vec<String> = held.into_iter().map(|(_, name)| name).collect();
        anyhow::bail!(
            "the stack {name} holds the event store's tables ({}) itself, as stacks made by earlier versions did: a deploy stops there; cargo xtask deploy --adopt-event-store moves them into a data stack",
            names.join(", ")
        );
    }
    if !retained.is_empty() || survey.app.is_some() {
        return Err(event_store::refusal(name, survey.app.as_ref(), &retained));
    }
    Ok(())
}

/// What a deploy does to a stack that is absent, or must be deleted first
/// (`existing`): it creates every resource of `template`; said to the user.
fn created_anew(
    session: &Session<'_>,
    template: &Template,
    existing: Option<StackInfo>,
) -> Vec<ResourceChange> {
    let name = &session.stack_name;
    let changes: Vec<ResourceChange> = template
        .resources
        .iter()
        .map(|(id, resource)| ResourceChange {
            action: "Add".to_owned(),
            logical_id: id.to_string(),
            resource_type: resource.type_name().to_owned(),
            replacement: None,
        })
        .collect();
    session.progress.line(match existing {
        Some(info) => format!(
            "the stack {name} is {}: a deploy deletes it and creates it again",
            info.status
        ),
        None => format!(
            "the stack {name} does not exist in {}: a deploy creates it",
            session.aws.region
        ),
    });
    print_changes(session.progress, &changes);
    changes
}
