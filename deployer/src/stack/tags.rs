//! Whose a stack or table is: the tags that name the deployment it belongs
//! to (its `STACK_NAME`) and its role in it (the app stack, or the data
//! stack with the event store's tables). Deploy puts them on both stacks
//! (CloudFormation also passes stack tags on to the resources that take
//! them) and on the tables; every command that changes a stack checks them
//! first. The one definition of the keys: the tags a user adds later
//! (`TAGS`) go beside these, never under these keys.

use std::collections::BTreeMap;
use std::fmt;

/// The deployment (its `STACK_NAME`) a stack or table belongs to.
pub const DEPLOYMENT_TAG: &str = "event-sourcing-service:deployment";
/// Its role in that deployment: [`Role::as_str`].
pub const ROLE_TAG: &str = "event-sourcing-service:role";

/// What a stack (or table) is to its deployment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The app stack: API, functions, read model.
    App,
    /// The data stack and its tables: the event store.
    Data,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::App => "app",
            Role::Data => "data",
        }
    }

    fn parse(value: &str) -> Option<Role> {
        [Role::App, Role::Data]
            .into_iter()
            .find(|role| role.as_str() == value)
    }

    /// For messages: "app stack", "data stack".
    pub const fn noun(self) -> &'static str {
        match self {
            Role::App => "app stack",
            Role::Data => "data stack",
        }
    }
}

/// A stack's or table's owner: a deployment and the role in it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ownership {
    pub deployment: String,
    pub role: Role,
}

impl Ownership {
    /// The app stack of the deployment `stack_name`.
    pub fn app(stack_name: &str) -> Ownership {
        Ownership {
            deployment: stack_name.to_owned(),
            role: Role::App,
        }
    }

    /// The data stack (and tables) of the deployment `stack_name`.
    pub fn data(stack_name: &str) -> Ownership {
        Ownership {
            deployment: stack_name.to_owned(),
            role: Role::Data,
        }
    }

    /// The name of the stack it describes.
    pub fn stack_name(&self) -> String {
        match self.role {
            Role::App => self.deployment.clone(),
            Role::Data => super::data_stack_name(&self.deployment),
        }
    }

    /// The tags that say so.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (DEPLOYMENT_TAG.to_owned(), self.deployment.clone()),
            (ROLE_TAG.to_owned(), self.role.as_str().to_owned()),
        ])
    }

    /// What `tags` (a stack's or a table's) say about whose it is.
    pub fn read(tags: &BTreeMap<String, String>) -> Tagged {
        match (tags.get(DEPLOYMENT_TAG), tags.get(ROLE_TAG)) {
            (None, None) => Tagged::Untagged,
            (Some(deployment), Some(role)) => match Role::parse(role) {
                Some(role) => Tagged::Owned(Ownership {
                    deployment: deployment.clone(),
                    role,
                }),
                None => Tagged::Other(format!("{ROLE_TAG}={role}")),
            },
            (deployment, role) => Tagged::Other(
                deployment
                    .map(|d| format!("{DEPLOYMENT_TAG}={d} without {ROLE_TAG}"))
                    .or_else(|| role.map(|r| format!("{ROLE_TAG}={r} without {DEPLOYMENT_TAG}")))
                    .unwrap_or_default(),
            ),
        }
    }
}

impl fmt::Display for Ownership {
    /// "the data stack of the deployment evs".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the {} of the deployment {}",
            self.role.noun(),
            self.deployment
        )
    }
}

/// What a stack's or table's tags say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tagged {
    /// Neither key: made before deployments were tagged, or not by deploy.
    Untagged,
    Owned(Ownership),
    /// The keys, but not as deploy writes them (said in the text).
    Other(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_say_whose_a_stack_is_and_read_back() {
        for ownership in [Ownership::app("evs"), Ownership::data("evs")] {
            assert_eq!(
                Ownership::read(&ownership.tags()),
                Tagged::Owned(ownership.clone())
            );
        }
        assert_eq!(Ownership::data("evs").stack_name(), "evs-data");
        assert_eq!(Ownership::app("evs").stack_name(), "evs");
        assert_eq!(
            Ownership::data("evs").to_string(),
            "the data stack of the deployment evs"
        );
        assert_eq!(Ownership::read(&BTreeMap::new()), Tagged::Untagged);
        let unrelated = BTreeMap::from([("team".to_owned(), "x".to_owned())]);
        assert_eq!(Ownership::read(&unrelated), Tagged::Untagged);
        let half = BTreeMap::from([(DEPLOYMENT_TAG.to_owned(), "evs".to_owned())]);
        assert!(matches!(Ownership::read(&half), Tagged::Other(_)));
        let odd = BTreeMap::from([
            (DEPLOYMENT_TAG.to_owned(), "evs".to_owned()),
            (ROLE_TAG.to_owned(), "cache".to_owned()),
        ]);
        assert!(matches!(Ownership::read(&odd), Tagged::Other(text) if text.contains("cache")));
    }
}
