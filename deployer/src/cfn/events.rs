//! `AWS::Events::Rule`: a schedule that invokes a target.

use serde::Serialize;

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `rate(5 minutes)`, `cron(...)`.
    pub schedule_expression: String,
    pub state: RuleState,
    pub targets: Vec<RuleTarget>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleState {
    Enabled,
}

/// What the rule invokes, and with what: `input` is sent as it is instead
/// of the scheduled event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleTarget {
    pub arn: Expr,
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}
