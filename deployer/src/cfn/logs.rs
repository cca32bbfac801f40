//! `AWS::Logs::LogGroup`.

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
