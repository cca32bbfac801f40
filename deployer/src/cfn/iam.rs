//! `AWS::IAM::Role` with inline policies, and IAM policy documents.

use serde::Serialize;

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
        }
    }

    /// A trust policy statement: `service` (e.g. `lambda.amazonaws.com`)
    /// may assume the role.
    pub fn service_may_assume_role(service: &str) -> Self {
        Statement {
            sid: None,
            effect: Effect::Allow,
            principal: Some(Principal {
                service: vec![service.to_owned()],
            }),
            action: vec!["sts:AssumeRole".to_owned()],
            resource: Vec::new(),
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
    pub service: Vec<String>,
}
