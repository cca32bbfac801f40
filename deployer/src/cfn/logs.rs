//! `AWS::Logs::LogGroup`, and `AWS::Logs::MetricFilter`: a metric counted
//! from a log group's lines.

use serde::{Serialize, Serializer};

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_group_name: Option<Expr>,
    /// Absent: kept forever.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_in_days: Option<RetentionDays>,
}

/// The retention periods CloudWatch Logs accepts (any other number is
/// rejected at deploy time, so it is not representable here).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionDays {
    Days1,
    Days3,
    Days5,
    Days7,
    Days14,
    Days30,
    Days60,
    Days90,
    Days180,
    Days365,
    Days731,
    Days1827,
    Days3653,
}

impl RetentionDays {
    pub fn days(self) -> u32 {
        match self {
            RetentionDays::Days1 => 1,
            RetentionDays::Days3 => 3,
            RetentionDays::Days5 => 5,
            RetentionDays::Days7 => 7,
            RetentionDays::Days14 => 14,
            RetentionDays::Days30 => 30,
            RetentionDays::Days60 => 60,
            RetentionDays::Days90 => 90,
            RetentionDays::Days180 => 180,
            RetentionDays::Days365 => 365,
            RetentionDays::Days731 => 731,
            RetentionDays::Days1827 => 1827,
            RetentionDays::Days3653 => 3653,
        }
    }
}

impl Serialize for RetentionDays {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.days())
    }
}

/// Counts the lines of a log group that match a pattern as a metric.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_name: Option<Expr>,
    pub log_group_name: Expr,
    /// CloudWatch Logs' filter syntax; `{ $.field = "value" }` for JSON lines.
    pub filter_pattern: String,
    pub metric_transformations: Vec<MetricTransformation>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricTransformation {
    /// Not `AWS/...`: those are AWS's own.
    pub metric_namespace: Expr,
    pub metric_name: String,
    /// What a matching line adds, e.g. `"1"` to count them.
    pub metric_value: String,
    /// What is published for a period without a matching line (a count's
    /// zero, so an alarm sees "none" rather than "no data").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_value: Option<f64>,
}
