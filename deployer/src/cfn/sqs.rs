//! `AWS::SQS::Queue`: a standard queue. Its `Ref` is the queue's URL; its
//! `Fn::GetAtt` has `Arn` and `QueueName`. `AWS::SQS::QueuePolicy`: the
//! resource policy of queues.

use serde::Serialize;

use super::Expr;
use super::iam::PolicyDocument;

/// The resource policy of the queues at `queues` (their URLs).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueuePolicy {
    pub queues: Vec<Expr>,
    pub policy_document: PolicyDocument,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    /// Absent: CloudFormation names it after the stack and logical ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_name: Option<Expr>,
    /// How long a message is kept; see [`RetentionSeconds`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_retention_period: Option<RetentionSeconds>,
    /// Encryption at rest with keys SQS owns (no KMS key, no KMS grants).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqs_managed_sse_enabled: Option<bool>,
}

/// A message retention period SQS accepts: 60 seconds to 14 days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RetentionSeconds(u32);

impl RetentionSeconds {
    /// The longest retention SQS offers.
    pub const FOURTEEN_DAYS: RetentionSeconds = RetentionSeconds(14 * 24 * 60 * 60);

    /// `None` outside 60..=1,209,600, which SQS refuses.
    pub const fn new(seconds: u32) -> Option<RetentionSeconds> {
        if seconds >= 60 && seconds <= Self::FOURTEEN_DAYS.0 {
            Some(RetentionSeconds(seconds))
        } else {
            None
        }
    }

    pub const fn seconds(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_is_bounded_as_sqs_bounds_it() {
        assert_eq!(RetentionSeconds::FOURTEEN_DAYS.seconds(), 1_209_600);
        assert_eq!(
            RetentionSeconds::new(60).map(RetentionSeconds::seconds),
            Some(60)
        );
        assert_eq!(RetentionSeconds::new(59), None);
        assert_eq!(RetentionSeconds::new(1_209_601), None);
    }
}
