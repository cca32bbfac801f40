//! Whose a stack or table is: the tags that name the deployment it belongs
//! to (its `STACK_NAME`) and its role in it (the app stack, or the data
//! stack with the event store's tables). Deploy puts them on both stacks
//! (CloudFormation also passes stack tags on to the resources that take
//! them) and on the tables; every command that changes a stack checks them
//! first. The one definition of the keys: the tags a user adds
//! ([`UserTags`], the `TAGS` setting) go beside these, never under these
//! keys, within CloudFormation's limits on a stack's tags.

use std::collections::BTreeMap;
use std::fmt;

use service::settings::{RawSettings, SettingError};

/// The deployment (its `STACK_NAME`) a stack or table belongs to.
pub const DEPLOYMENT_TAG: &str = "event-sourcing-service:deployment";
/// Its role in that deployment: [`Role::as_str`].
pub const ROLE_TAG: &str = "event-sourcing-service:role";

/// The prefix of every tag key the deployer writes; a user's tag may not
/// use it.
pub const RESERVED_KEY_PREFIX: &str = "event-sourcing-service:";
/// The tags the deployer writes on every stack.
pub const OWNERSHIP_TAG_COUNT: usize = 2;
/// CloudFormation's most tags on a stack, ours included.
pub const STACK_TAGS_MAX: usize = 50;
/// CloudFormation's longest tag key and value.
pub const TAG_KEY_MAX_LEN: usize = 128;
pub const TAG_VALUE_MAX_LEN: usize = 256;
/// The setting a user's tags come from.
pub const TAGS_SETTING: &str = "TAGS";

/// The tags a user asks for on both stacks (and, through CloudFormation,
/// their resources): beside the ownership tags, never under their keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserTags(BTreeMap<String, String>);

impl UserTags {
    /// `key=value,key=value`: the value is everything after the first `=`
    /// (so it may hold `=`, not `,`). Refused, with the key (never a
    /// value) named: an empty or duplicate key, a key under
    /// [`RESERVED_KEY_PREFIX`] or AWS's `aws:`, a key or value over
    /// CloudFormation's length, characters tags do not take, and more
    /// than [`STACK_TAGS_MAX`] tags with ours.
    pub fn parse(raw: &str) -> Result<UserTags, String> {
        let mut tags = BTreeMap::new();
        let allowed = |c: char| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c);
        for (index, entry) in raw.split(',').map(str::trim).enumerate() {
            if entry.is_empty() && raw.trim().is_empty() {
                break;
            }
            let position = index + 1;
            let Some((key, value)) = entry.split_once('=') else {
                return Err(format!(
                    "entry {position} has no '='; write key=value pairs separated by commas"
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                return Err(format!("entry {position} has an empty key"));
            }
            if key.len() > TAG_KEY_MAX_LEN {
                return Err(format!(
                    "the key of entry {position} is {} characters long; CloudFormation takes at most {TAG_KEY_MAX_LEN}",
                    key.len()
                ));
            }
            if key.to_ascii_lowercase().starts_with("aws:") {
                return Err(format!(
                    "the key {key:?} starts with aws:, which AWS keeps for itself"
                ));
            }
            if key.starts_with(RESERVED_KEY_PREFIX) {
                return Err(format!(
                    "the key {key:?} is under {RESERVED_KEY_PREFIX}, which cargo xtask deploy keeps for the tags that say whose a stack is"
                ));
            }
            if !key.chars().all(allowed) {
                return Err(format!(
                    "the key {key:?} holds a character tags do not take (letters, digits, spaces and _.:/=+-@ only)"
                ));
            }
            if value.is_empty() {
                return Err(format!("the tag {key:?} has an empty value"));
            }
            if value.chars().count() > TAG_VALUE_MAX_LEN {
                return Err(format!(
                    "the value of the tag {key:?} is longer than CloudFormation's {TAG_VALUE_MAX_LEN} characters"
                ));
            }
            if !value.chars().all(allowed) {
                return Err(format!(
                    "the value of the tag {key:?} holds a character tags do not take (letters, digits, spaces and _.:/=+-@ only)"
                ));
            }
            if tags.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(format!("the key {key:?} is given twice"));
            }
        }
        let most = STACK_TAGS_MAX - OWNERSHIP_TAG_COUNT;
        if tags.len() > most {
            return Err(format!(
                "has {} tags; a stack takes {STACK_TAGS_MAX}, and cargo xtask deploy writes {OWNERSHIP_TAG_COUNT}, so at most {most}",
                tags.len()
            ));
        }
        Ok(UserTags(tags))
    }

    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// `TAGS` (default none), checked by [`UserTags::parse`].
pub fn user_tags(settings: &RawSettings) -> Result<UserTags, SettingError> {
    settings
        .get(TAGS_SETTING)
        .map_or(Ok(UserTags::default()), UserTags::parse)
        .map_err(|problem| SettingError {
            name: TAGS_SETTING,
            problem,
        })
}

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

    /// The tags a stack operation carries: these, and the user's beside
    /// them (whose keys never collide with these: [`UserTags::parse`]).
    pub fn tags_with(&self, user: &UserTags) -> BTreeMap<String, String> {
        let mut tags = user.0.clone();
        tags.extend(self.tags());
        tags
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

    #[test]
    fn user_tags_go_beside_ours_within_cloudformations_limits() {
        let tags = UserTags::parse("team=payments, cost-center = 42 ,note=a=b").unwrap();
        assert_eq!(
            tags.as_map(),
            &BTreeMap::from([
                ("cost-center".to_owned(), "42".to_owned()),
                ("note".to_owned(), "a=b".to_owned()),
                ("team".to_owned(), "payments".to_owned()),
            ])
        );
        let all = Ownership::app("evs").tags_with(&tags);
        assert_eq!(all.len(), 3 + OWNERSHIP_TAG_COUNT);
        assert_eq!(Ownership::read(&all), Tagged::Owned(Ownership::app("evs")));
        assert_eq!(UserTags::parse("").unwrap(), UserTags::default());
        let most = STACK_TAGS_MAX - OWNERSHIP_TAG_COUNT;
        let fits: Vec<String> = (0..most).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            UserTags::parse(&fits.join(",")).unwrap().as_map().len(),
            most
        );
        let over = format!("{},extra=v", fits.join(","));
        let long_key = format!("{}=v", "k".repeat(TAG_KEY_MAX_LEN + 1));
        let long_value = format!("k={}", "v".repeat(TAG_VALUE_MAX_LEN + 1));
        for bad in [
            "team",
            "=x",
            "team=",
            "a=1,a=2",
            "aws:team=x",
            "AWS:team=x",
            &format!("{DEPLOYMENT_TAG}=other"),
            &format!("{ROLE_TAG}=data"),
            "te#am=x",
            "team=x;y",
            "a=1,,b=2",
            &long_key,
            &long_value,
            &over,
        ] {
            let settings = RawSettings::from_pairs(&[(TAGS_SETTING, bad)]);
            let err = user_tags(&settings).unwrap_err();
            assert_eq!(err.name, TAGS_SETTING, "{bad}");
        }
        let secret = RawSettings::from_pairs(&[(TAGS_SETTING, "team=s3cr3t;x")]);
        let err = user_tags(&secret).unwrap_err().to_string();
        assert!(
            !err.contains("s3cr3t"),
            "a tag's value is never echoed: {err}"
        );
    }
}
