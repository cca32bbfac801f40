//! The log groups that could not be read (access denied, an answer the SDK
//! cannot parse, throttling past its retries): each named in one warning
//! line while the others' lines are shown, and, at the end, the error
//! [`GroupsNotRead`] that makes the command's exit status say so.

use std::collections::BTreeMap;

use service::functions::Function;

use super::groups::LogGroup;

/// The groups found unreadable so far, by name.
#[derive(Debug, Default)]
pub(super) struct Unread {
    groups: BTreeMap<String, Function>,
}

impl Unread {
    pub(super) fn add(&mut self, unread: &[(LogGroup, anyhow::Error)]) {
        for (group, _) in unread {
            self.groups.insert(group.name.clone(), group.function);
        }
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &String> {
        self.groups.keys()
    }

    /// The one line that names a group it could not read, and why.
    pub(super) fn warning(group: &LogGroup, err: &anyhow::Error) -> String {
        let why = format!("{err:#}").replace('\n', " ");
        format!(
            "warning: the {} function's lines are not shown: cannot read its log group {}: {why}",
            group.function, group.name
        )
    }

    /// One error for several groups, each with why.
    pub(super) fn combined(unread: &[(LogGroup, anyhow::Error)]) -> anyhow::Error {
        let each: Vec<String> = unread
            .iter()
            .map(|(group, err)| format!("{}: {err:#}", group.name))
            .collect();
        anyhow::anyhow!("{}", each.join("; "))
    }

    /// `Err` naming every group that was not read, if any was.
    pub(super) fn into_result(self) -> Result<(), GroupsNotRead> {
        if self.groups.is_empty() {
            return Ok(());
        }
        Err(GroupsNotRead {
            groups: self.groups.into_keys().collect(),
        })
    }
}

/// Some log groups could not be read (each was named in a warning as it
/// happened); every other group's lines were shown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the lines of {} log group{} were not shown (see the warning{} above): {}",
    groups.len(),
    if groups.len() == 1 { "" } else { "s" },
    if groups.len() == 1 { "" } else { "s" },
    groups.join(", ")
)]
pub struct GroupsNotRead {
    pub groups: Vec<String>,
}
