//! Where this deployment's event store is when its data stack is not:
//! tables retained when the data stack (or, before there was one, the app
//! stack) was deleted. A deploy never starts a new, empty event store
//! beside them without being told to ([`EventStoreChoice`]): the app would
//! be pointed at the empty one, appends would start again at event 0, and
//! the old events would be left where nothing reads them.
//!
//! The tables are found by what the app stack's parameters name, by their
//! tags ([`crate::stack::tags`]), and, for tables made before tables were
//! tagged, by the names CloudFormation gave them
//! (`<stack>-<logical id>-<suffix>`, in the data stack or, earlier, in the
//! app stack). Only the tables whose names start with `<STACK_NAME>-` are
//! looked at: every table a deploy of this name made was named so, and an
//! account may hold thousands of others.

use std::collections::BTreeMap;

use anyhow::bail;
use service::dynamo::schema::Table;

use super::aws::Aws;
use super::aws::SdkResultExt;
use super::ownership::{self, TableInfo};
use super::stacks::StackInfo;
use crate::stack::tags::Ownership;
use crate::stack::{DataOutput, TableResources, data_stack_name};

/// What a deploy does when the data stack is missing but the event store
/// is not (see the module documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventStoreChoice {
    /// Stop, name the tables and the two ways on.
    #[default]
    Refuse,
    /// Import the retained tables into a new data stack (and move them out
    /// of an app stack made by an earlier version).
    Adopt,
    /// Start a new, empty event store; the retained tables stay as they
    /// are. Asked for once more ([`super::Question::NewEventStore`]).
    New,
}

/// The event store's tables found outside a data stack.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Retained {
    pub events: Vec<TableInfo>,
    pub stream_index: Vec<TableInfo>,
    /// The tables the app stack's parameters name, when it names them.
    pub named_by_app: Option<(String, String)>,
}

impl Retained {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.stream_index.is_empty()
    }

    /// Every table's name, events tables first.
    pub fn names(&self) -> Vec<String> {
        self.events
            .iter()
            .chain(&self.stream_index)
            .map(|table| table.name.clone())
            .collect()
    }

    /// The one events table and the one stream index to adopt: those the
    /// app stack names when it names them, else the only ones there are.
    pub fn pair(&self, deployment: &str) -> anyhow::Result<(&TableInfo, &TableInfo)> {
        fn pick<'t>(
            tables: &'t [TableInfo],
            named: Option<&str>,
            what: &str,
            deployment: &str,
        ) -> anyhow::Result<&'t TableInfo> {
            if let Some(named) = named
                && let Some(table) = tables.iter().find(|t| t.name == named)
            {
                return Ok(table);
            }
            match tables {
                [one] => Ok(one),
                [] => bail!(
                    "no {what} of the deployment {deployment} was found, so there is no event store to adopt; cargo xtask deploy --new-event-store starts an empty one"
                ),
                many => bail!(
                    "more than one {what} of the deployment {deployment} is left ({}): nothing was changed. Keep the one to adopt and delete the others (after a backup), or remove the tag {} from them, then run the command again",
                    many.iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::stack::tags::DEPLOYMENT_TAG
                ),
            }
        }
        let (events, index) = match &self.named_by_app {
            Some((events, index)) => (Some(events.as_str()), Some(index.as_str())),
            None => (None, None),
        };
        Ok((
            pick(&self.events, events, "events table", deployment)?,
            pick(&self.stream_index, index, "stream index", deployment)?,
        ))
    }
}

/// The retained tables of the deployment `deployment`, whose data stack
/// is missing; `app` is its app stack, when there is one.
pub async fn find_retained(
    aws: &Aws,
    deployment: &str,
    app: Option<&StackInfo>,
) -> anyhow::Result<Retained> {
    let ours = Ownership::data(deployment);
    let mut found: BTreeMap<String, TableInfo> = BTreeMap::new();
    let mut retained = Retained::default();
    if let Some(app) = app {
        let named = (
            app.parameters.get(DataOutput::EventsTableName.name()),
            app.parameters.get(DataOutput::StreamIndexTableName.name()),
        );
        if let (Some(events), Some(index)) = named {
            retained.named_by_app = Some((events.clone(), index.clone()));
        }
        for name in [named.0, named.1].into_iter().flatten() {
            if let Some(table) = ownership::describe_table(aws, name).await? {
                ownership::claim_table(&table, &ours).map_err(|refused| *refused)?;
                found.insert(table.name.clone(), table);
            }
        }
    }
    let patterns = legacy_name_prefixes(deployment);
    for name in table_names(aws, &format!("{deployment}-")).await? {
        if found.contains_key(&name) {
            continue;
        }
        let Some(table) = ownership::describe_table(aws, &name).await? else {
            continue;
        };
        let belongs = match ownership::claim_table(&table, &ours) {
            Ok(ownership::Claim::Tagged) => true,
            Ok(ownership::Claim::Untagged) => patterns.iter().any(|p| name.starts_with(p)),
            Err(_) => false,
        };
        if belongs {
            found.insert(name, table);
        }
    }
    for table in found.into_values() {
        match layout(&table) {
            Some(Table::Events) => retained.events.push(table),
            Some(Table::StreamIndex) => retained.stream_index.push(table),
            _ => {}
        }
    }
    Ok(retained)
}

/// The names CloudFormation gives the event store's tables, up to the
/// random suffix: in the data stack, and in the app stack of the versions
/// before it.
fn legacy_name_prefixes(deployment: &str) -> Vec<String> {
    let data = data_stack_name(deployment);
    [Table::Events, Table::StreamIndex]
        .into_iter()
        .flat_map(|table| {
            let id = table.logical_id();
            [format!("{data}-{id}-"), format!("{deployment}-{id}-")]
        })
        .collect()
}

/// Which of the event store's tables `table` is keyed as, if any.
pub fn layout(table: &TableInfo) -> Option<Table> {
    [Table::Events, Table::StreamIndex]
        .into_iter()
        .find(|candidate| {
            let expected: Vec<(String, String, String)> = candidate
                .key_schema()
                .map(|((name, kind), role)| {
                    (
                        name.to_owned(),
                        role.as_str().to_owned(),
                        kind.as_str().to_owned(),
                    )
                })
                .collect();
            expected == table.key_schema
        })
}

/// The names of the tables that start with `prefix` (every page).
async fn table_names(aws: &Aws, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let mut start = None;
    loop {
        let page = aws
            .dynamodb
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
            .with_sdk_context(|| "cannot list the DynamoDB tables")?;
        names.extend(
            page.table_names()
                .iter()
                .filter(|name| name.starts_with(prefix))
                .cloned(),
        );
        match page.last_evaluated_table_name() {
            Some(last) => start = Some(last.to_owned()),
            None => return Ok(names),
        }
    }
}

/// Why a deploy stops when the data stack is missing and `retained` (or
/// the app stack `app`) is not: what is there, and the two ways on.
pub fn refusal(deployment: &str, app: Option<&StackInfo>, retained: &Retained) -> anyhow::Error {
    let data = data_stack_name(deployment);
    let what = if retained.is_empty() {
        format!(
            "the data stack {data} does not exist, but the app stack {deployment} does, and the event store it used{} is gone",
            retained
                .named_by_app
                .as_ref()
                .map(|(events, index)| format!(" ({events}, {index})"))
                .unwrap_or_default()
        )
    } else {
        format!(
            "the data stack {data} does not exist, but the event store of {deployment} does: {}{}",
            retained.names().join(", "),
            if app.is_some() {
                format!(" (the app stack {deployment} still uses them)")
            } else {
                " (kept when their stack was deleted)".to_owned()
            }
        )
    };
    let adopt = if retained.is_empty() {
        String::new()
    } else {
        format!(
            "\n  cargo xtask deploy --adopt-event-store   brings these tables into a new data stack {data} (a CloudFormation resource import), every event with them"
        )
    };
    anyhow::anyhow!(
        "{what}. A deploy now would start a new, empty event store: appends would start again at event 0 and the old events would be left where the app does not read them. Nothing was changed. To go on:{adopt}\n  cargo xtask deploy --new-event-store     starts an empty event store on purpose{}",
        if retained.is_empty() {
            ""
        } else {
            "; the tables above are kept as they are"
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, layout: Table) -> TableInfo {
        TableInfo {
            name: name.to_owned(),
            arn: format!("arn:aws:dynamodb:us-east-1:1:table/{name}"),
            stream_arn: None,
            key_schema: layout
                .key_schema()
                .map(|((n, kind), role)| {
                    (
                        n.to_owned(),
                        role.as_str().to_owned(),
                        kind.as_str().to_owned(),
                    )
                })
                .collect(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn tables_are_told_apart_by_their_keys() {
        assert_eq!(layout(&table("e", Table::Events)), Some(Table::Events));
        assert_eq!(
            layout(&table("i", Table::StreamIndex)),
            Some(Table::StreamIndex)
        );
        assert_eq!(layout(&table("r", Table::ReadModel)), None);
    }

    #[test]
    fn names_cloudformation_gave_the_event_store() {
        assert_eq!(
            legacy_name_prefixes("evs"),
            [
                "evs-data-EventsTable-",
                "evs-EventsTable-",
                "evs-data-StreamIndexTable-",
                "evs-StreamIndexTable-"
            ]
        );
        // Another deployment's, called evs-data: its data stack is
        // evs-data-data, which none of these match.
        assert!(
            !legacy_name_prefixes("evs")
                .iter()
                .any(|p| "evs-data-data-EventsTable-X".starts_with(p.as_str()))
        );
    }

    #[test]
    fn the_pair_to_adopt_is_the_one_named_or_the_only_one() {
        let retained = Retained {
            events: vec![table("e1", Table::Events), table("e2", Table::Events)],
            stream_index: vec![table("i1", Table::StreamIndex)],
            named_by_app: None,
        };
        let err = retained.pair("evs").expect_err("two events tables");
        assert!(err.to_string().contains("e1, e2"), "{err}");
        let named = Retained {
            named_by_app: Some(("e2".to_owned(), "i1".to_owned())),
            ..retained.clone()
        };
        let (events, index) = named.pair("evs").expect("the named pair");
        assert_eq!((events.name.as_str(), index.name.as_str()), ("e2", "i1"));
        let message = refusal("evs", None, &retained).to_string();
        assert!(
            message.contains("the data stack evs-data does not exist")
                && message.contains("e1, e2, i1")
                && message.contains("--adopt-event-store")
                && message.contains("--new-event-store")
                && message.contains("Nothing was changed"),
            "{message}"
        );
    }
}
