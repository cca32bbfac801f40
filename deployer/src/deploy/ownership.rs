//! Whether a stack or table that has the expected name is this
//! deployment's: its tags (`crate::stack::tags`) say so, or, for a stack
//! made before deployments were tagged, its resources do. Deploy, diff,
//! status and destroy ask this of both stacks before they change or show
//! anything, and refuse with [`NotOurs`] otherwise.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use aws_sdk_dynamodb::types::TableDescription;

use super::aws::Aws;
use super::aws::SdkResultExt;
use super::stacks::{StackInfo, StackResource};
use crate::stack::tags::{Ownership, Role, Tagged};
use crate::stack::{ARTIFACT_BUCKET_ID, data_stack};

/// How a stack or table is this deployment's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Its tags say so.
    Tagged,
    /// It has no tags of ours (an earlier version made it), and what it
    /// holds is what ours holds; the next deploy tags it.
    Untagged,
}

/// A stack or table with the expected name that belongs to something else.
#[derive(Debug, thiserror::Error)]
#[error(
    "the {kind} {name} is not {}: {found}. Nothing was changed. Two deployments must not share stack names: give this one another STACK_NAME (its stacks are STACK_NAME and STACK_NAME-data)",
    expected_as(kind, expected)
)]
pub struct NotOurs {
    /// "stack" or "table".
    pub kind: &'static str,
    pub name: String,
    pub expected: Ownership,
    /// What it is instead, as its tags or resources say.
    pub found: String,
    /// Whose its tags say it is, when they say.
    pub owner: Option<Ownership>,
}

/// "the data stack of the deployment evs", or for a table "a table of"
/// that.
fn expected_as(kind: &str, expected: &Ownership) -> String {
    match kind {
        "table" => format!("a table of {expected}"),
        _ => expected.to_string(),
    }
}

/// Whether the stack `info`, holding `resources`, is the one `expected`
/// names; see the module documentation.
pub fn claim_stack(
    info: &StackInfo,
    resources: &[StackResource],
    expected: &Ownership,
) -> Result<Claim, Box<NotOurs>> {
    let name = expected.stack_name();
    let not_ours = |found: String, owner: Option<Ownership>| {
        Box::new(NotOurs {
            kind: "stack",
            name: name.clone(),
            expected: expected.clone(),
            found,
            owner,
        })
    };
    match Ownership::read(&info.tags) {
        Tagged::Owned(owner) if owner == *expected => Ok(Claim::Tagged),
        Tagged::Owned(owner) => Err(not_ours(format!("its tags say it is {owner}"), Some(owner))),
        Tagged::Other(text) => Err(not_ours(
            format!("its tags say {text}, which cargo xtask deploy never writes"),
            None,
        )),
        Tagged::Untagged => {
            let ids: BTreeSet<String> = resources
                .iter()
                .map(|resource| resource.logical_id.clone())
                .collect();
            untagged_claim(&ids, expected).map_err(|found| not_ours(found, None))
        }
    }
}

/// An untagged stack holding the resources `ids`: an empty one holds
/// nothing to lose; a data stack holds only what the data template
/// declares (the previous version's held its two tables); an app stack
/// holds its artifact bucket, the first resource every app stack gets and
/// no data stack has. Otherwise, what it holds instead.
fn untagged_claim(ids: &BTreeSet<String>, expected: &Ownership) -> Result<Claim, String> {
    if ids.is_empty() {
        return Ok(Claim::Untagged);
    }
    match expected.role {
        Role::Data => {
            let declared: BTreeSet<String> = data_stack()
                .resources
                .keys()
                .map(|id| id.to_string())
                .collect();
            let foreign: Vec<&String> = ids.difference(&declared).collect();
            if foreign.is_empty() {
                return Ok(Claim::Untagged);
            }
            Err(format!(
                "it has no tags saying whose it is, and holds {} (of {} resources), which a data stack never does; it may be the app stack of a deployment called {}",
                shown(&foreign),
                ids.len(),
                expected.stack_name()
            ))
        }
        Role::App => {
            if ids.contains(ARTIFACT_BUCKET_ID) {
                return Ok(Claim::Untagged);
            }
            let listed: Vec<&String> = ids.iter().collect();
            Err(format!(
                "it has no tags saying whose it is, and no {ARTIFACT_BUCKET_ID}, which every app stack has; it holds {}",
                shown(&listed)
            ))
        }
    }
}

/// The first few of `ids`, for a message.
fn shown(ids: &[&String]) -> String {
    const SHOWN: usize = 4;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .map(|id| id.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

/// A DynamoDB table as the ownership checks and the event store's lookup
/// see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub arn: String,
    pub stream_arn: Option<String>,
    /// (attribute, key type, attribute type), hash key first.
    pub key_schema: Vec<(String, String, String)>,
    pub tags: BTreeMap<String, String>,
}

/// The table `name` with its tags, or `None` when there is none.
pub async fn describe_table(aws: &Aws, name: &str) -> anyhow::Result<Option<TableInfo>> {
    let described = match aws.dynamodb.describe_table().table_name(name).send().await {
        Ok(described) => described,
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None);
        }
        Err(err) => {
            return Err(err).with_sdk_context(|| format!("cannot describe the table {name}"));
        }
    };
    let table = described
        .table()
        .with_context(|| format!("DynamoDB describes no table {name}"))?;
    let arn = table
        .table_arn()
        .with_context(|| format!("DynamoDB gives no ARN for the table {name}"))?
        .to_owned();
    let tags = table_tags(aws, &arn).await?;
    Ok(Some(TableInfo {
        name: name.to_owned(),
        arn,
        stream_arn: table.latest_stream_arn().map(str::to_owned),
        key_schema: key_schema(table),
        tags,
    }))
}

fn key_schema(table: &TableDescription) -> Vec<(String, String, String)> {
    let mut keys: Vec<(String, String, String)> = table
        .key_schema()
        .iter()
        .map(|key| {
            let name = key.attribute_name().to_owned();
            let kind = table
                .attribute_definitions()
                .iter()
                .find(|d| d.attribute_name() == name)
                .map(|d| d.attribute_type().as_str().to_owned())
                .unwrap_or_default();
            (name, key.key_type().as_str().to_owned(), kind)
        })
        .collect();
    // HASH before RANGE.
    keys.sort_by(|a, b| a.1.cmp(&b.1));
    keys
}

async fn table_tags(aws: &Aws, arn: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut tags = BTreeMap::new();
    let mut next = None;
    loop {
        let page = aws
            .dynamodb
            .list_tags_of_resource()
            .resource_arn(arn)
            .set_next_token(next.take())
            .send()
            .await
            .with_sdk_context(|| format!("cannot read the tags of the table {arn}"))?;
        tags.extend(
            page.tags()
                .iter()
                .map(|tag| (tag.key().to_owned(), tag.value().to_owned())),
        );
        match page.next_token() {
            Some(token) => next = Some(token.to_owned()),
            None => return Ok(tags),
        }
    }
}

/// Whether the table `table` may be `expected`'s: tagged so, or untagged
/// (made before tables were tagged).
pub fn claim_table(table: &TableInfo, expected: &Ownership) -> Result<Claim, Box<NotOurs>> {
    let not_ours = |found: String, owner: Option<Ownership>| {
        Box::new(NotOurs {
            kind: "table",
            name: table.name.clone(),
            expected: expected.clone(),
            found,
            owner,
        })
    };
    match Ownership::read(&table.tags) {
        Tagged::Owned(owner) if owner == *expected => Ok(Claim::Tagged),
        Tagged::Owned(owner) => Err(not_ours(format!("its tags say it is {owner}"), Some(owner))),
        Tagged::Other(text) => Err(not_ours(
            format!("its tags say {text}, which cargo xtask deploy never writes"),
            None,
        )),
        Tagged::Untagged => Ok(Claim::Untagged),
    }
}

/// Tags the table `table` as `ownership`'s, unless it is already.
pub async fn tag_table(aws: &Aws, table: &TableInfo, ownership: &Ownership) -> anyhow::Result<()> {
    let wanted = ownership.tags();
    if wanted
        .iter()
        .all(|(key, value)| table.tags.get(key) == Some(value))
    {
        return Ok(());
    }
    let tags = wanted
        .iter()
        .map(|(key, value)| {
            aws_sdk_dynamodb::types::Tag::builder()
                .key(key)
                .value(value)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .context("cannot build the table's tags")?;
    aws.dynamodb
        .tag_resource()
        .resource_arn(&table.arn)
        .set_tags(Some(tags))
        .send()
        .await
        .with_sdk_context(|| format!("cannot tag the table {}", table.name))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn an_untagged_stack_is_ours_only_when_it_holds_what_ours_holds() {
        let data = Ownership::data("evs");
        let app = Ownership::app("evs");
        // The previous version's data stack: its two tables.
        assert_eq!(
            untagged_claim(&ids(&["EventsTable", "StreamIndexTable"]), &data),
            Ok(Claim::Untagged)
        );
        assert_eq!(untagged_claim(&ids(&[]), &data), Ok(Claim::Untagged));
        // Another deployment's app stack called evs-data.
        let found = untagged_claim(
            &ids(&["AddEventFunction", "ArtifactBucket", "EventsTable", "Api"]),
            &data,
        )
        .expect_err("an app stack is no data stack");
        assert!(
            found.contains("AddEventFunction")
                && found.contains("app stack of a deployment called evs-data"),
            "{found}"
        );
        assert_eq!(
            untagged_claim(&ids(&["ArtifactBucket", "AddEventFunction"]), &app),
            Ok(Claim::Untagged)
        );
        // Another deployment's data stack called evs.
        let found = untagged_claim(&ids(&["EventsTable", "StreamIndexTable"]), &app)
            .expect_err("a data stack is no app stack");
        assert!(found.contains("ArtifactBucket"), "{found}");
    }

    #[test]
    fn a_table_tagged_for_another_deployment_is_refused_by_name() {
        let table = |tags: BTreeMap<String, String>| TableInfo {
            name: "t".to_owned(),
            arn: "arn:aws:dynamodb:us-east-1:1:table/t".to_owned(),
            stream_arn: None,
            key_schema: Vec::new(),
            tags,
        };
        let ours = Ownership::data("evs");
        assert_eq!(
            claim_table(&table(ours.tags()), &ours).ok(),
            Some(Claim::Tagged)
        );
        assert_eq!(
            claim_table(&table(BTreeMap::new()), &ours).ok(),
            Some(Claim::Untagged)
        );
        let theirs = Ownership::data("other");
        let refused = claim_table(&table(theirs.tags()), &ours).expect_err("not ours");
        assert_eq!(refused.owner, Some(theirs));
        let message = refused.to_string();
        assert!(
            message.contains("the table t is not a table of the data stack of the deployment evs")
                && message.contains("the data stack of the deployment other")
                && message.contains("Nothing was changed"),
            "{message}"
        );
    }
}
