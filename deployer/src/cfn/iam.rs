//! `AWS::IAM::Role` with inline policies, and IAM policy documents (also
//! the resource policies of buckets and queues).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub assume_role_policy_document: PolicyDocument,
    /// ARNs of managed policies attached to the role.
    #[serde(rename = "ManagedPolicyArns", skip_serializing_if = "Vec::is_empty")]
    pub managed_policy_arns: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<InlinePolicy>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InlinePolicy {
    pub policy_name: String,
    pub policy_document: PolicyDocument,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    pub version: PolicyVersion,
    pub statement: Vec<Statement>,
}

impl PolicyDocument {
    pub fn new(statement: Vec<Statement>) -> Self {
        PolicyDocument {
            version: PolicyVersion::V2012_10_17,
            statement,
        }
    }
}

/// The policy language version; the older one lacks policy variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PolicyVersion {
    #[serde(rename = "2012-10-17")]
    V2012_10_17,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub effect: Effect,
    /// Only in trust policies (who may assume the role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    pub action: Vec<String>,
    /// Absent only in trust policies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Expr>,
    /// When the statement applies; every operator and key must hold.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub condition: BTreeMap<ConditionOperator, BTreeMap<String, ConditionValues>>,
}

impl Statement {
    /// Allows `actions` on `resources`.
    pub fn allow(actions: &[&str], resources: Vec<Expr>) -> Self {
        Statement {
            sid: None,
            effect: Effect::Allow,
            principal: None,
            action: actions.iter().map(|action| (*action).to_owned()).collect(),
            resource: resources,
            condition: BTreeMap::new(),
        }
    }

    /// Denies `actions` on `resources` to everyone (a resource policy's
    /// statement) when `key` is `values` under `operator`.
    pub fn deny_everyone_when(
        actions: &[&str],
        resources: Vec<Expr>,
        operator: ConditionOperator,
        key: &str,
        values: &[&str],
    ) -> Self {
        Statement {
            sid: None,
            effect: Effect::Deny,
            principal: Some(Principal::everyone()),
            action: actions.iter().map(|action| (*action).to_owned()).collect(),
            resource: resources,
            condition: BTreeMap::new(),
        }
        .when(operator, key, values)
    }

    /// Adds a condition: `key` must match `values` under `operator`.
    pub fn when(mut self, operator: ConditionOperator, key: &str, values: &[&str]) -> Self {
        self.condition.entry(operator).or_default().insert(
            key.to_owned(),
            ConditionValues(values.iter().map(|v| (*v).to_owned()).collect()),
        );
        self
    }

    /// A trust policy statement: `service` (e.g. `lambda.amazonaws.com`)
    /// may assume the role.
    pub fn service_may_assume_role(service: &str) -> Self {
        Statement {
            sid: None,
            effect: Effect::Allow,
            principal: Some(Principal {
                service: vec![service.to_owned()],
                aws: Vec::new(),
            }),
            action: vec!["sts:AssumeRole".to_owned()],
            resource: Vec::new(),
            condition: BTreeMap::new(),
        }
    }

    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Effect {
    Allow,
    Deny,
}

/// Who a trust policy statement is about. A struct, not an enum: serde_yaml
/// would write an enum variant as a YAML tag (`!Service`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    /// Service principals, e.g. `lambda.amazonaws.com`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<String>,
    /// AWS principals (accounts, roles); `*` is everyone.
    #[serde(rename = "AWS", skip_serializing_if = "Vec::is_empty")]
    pub aws: Vec<String>,
}

impl Principal {
    /// Every caller, signed or not: what a resource policy's deny names.
    pub fn everyone() -> Self {
        Principal {
            service: Vec::new(),
            aws: vec!["*".to_owned()],
        }
    }
}

/// A condition operator of the IAM policy language (the ones this project
/// writes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ConditionOperator {
    Bool,
    StringEquals,
    /// Every value of a multivalued key is in the list (true when the key
    /// is absent: use it only on keys every request of the action has).
    #[serde(rename = "ForAllValues:StringEquals")]
    ForAllValuesStringEquals,
}

/// A condition's values: written as a string when there is one, as a list
/// otherwise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionValues(pub Vec<String>);

impl Serialize for ConditionValues {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deny_without_tls_reads_as_aws_writes_it() {
        let statement = Statement::deny_everyone_when(
            &["s3:*"],
            vec!["arn:aws:s3:::b".into()],
            ConditionOperator::Bool,
            "aws:SecureTransport",
            &["false"],
        );
        assert_eq!(
            serde_json::to_value(&statement).expect("serializes"),
            serde_json::json!({
                "Effect": "Deny",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::b"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            })
        );
        let narrowed = Statement::allow(&["dynamodb:PutItem"], vec!["t".into()]).when(
            ConditionOperator::ForAllValuesStringEquals,
            "dynamodb:LeadingKeys",
            &["a", "b"],
        );
        assert_eq!(
            serde_json::to_value(&narrowed).expect("serializes")["Condition"],
            serde_json::json!({"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["a", "b"]}})
        );
    }
}
