//! `AWS::CloudWatch::Alarm`: an alarm on one metric (its `Ref` is the
//! alarm's name; `Fn::GetAtt` has `Arn`). `AWS::CloudWatch::Dashboard`: a
//! dashboard, its body a JSON document (its `Ref` is the name).

use serde::Serialize;

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    /// Absent: CloudFormation makes one up, which no one recognises.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_name: Option<Expr>,
    /// What the alarm means and what to do; shown with every notification.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarm_description: Option<String>,
    pub namespace: Expr,
    pub metric_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dimensions: Vec<Dimension>,
    pub statistic: Statistic,
    /// Seconds: 10, 30, or a multiple of 60.
    pub period: u32,
    pub evaluation_periods: u32,
    pub threshold: f64,
    pub comparison_operator: ComparisonOperator,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub treat_missing_data: Option<TreatMissingData>,
    /// Notified on entering ALARM.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarm_actions: Vec<Expr>,
    /// Notified on returning to OK.
    #[serde(rename = "OKActions", skip_serializing_if = "Vec::is_empty")]
    pub ok_actions: Vec<Expr>,
}

/// A metric dimension: which function, queue or API the metric is of.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    pub name: String,
    pub value: Expr,
}

impl Dimension {
    pub fn new(name: &str, value: Expr) -> Self {
        Dimension {
            name: name.to_owned(),
            value,
        }
    }
}

/// The statistics an alarm can compare (percentiles are `ExtendedStatistic`,
/// which the alarms here do not use).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Statistic {
    Average,
    Maximum,
    Minimum,
    SampleCount,
    Sum,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ComparisonOperator {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
}

/// What a period without data counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum TreatMissingData {
    Breaching,
    NotBreaching,
    Ignore,
    Missing,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dashboard {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard_name: Option<Expr>,
    /// The dashboard's JSON document, as a string (CloudFormation takes it
    /// so), usually a `Fn::Sub` filling in names known at deploy time.
    pub dashboard_body: Expr,
}
