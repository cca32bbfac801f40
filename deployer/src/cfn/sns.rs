//! `AWS::SNS::Topic` (its `Ref` is the topic's ARN; `Fn::GetAtt` has
//! `TopicArn` and `TopicName`) and `AWS::SNS::Subscription`.

use serde::Serialize;

use super::Expr;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topic {
    /// Absent: CloudFormation names it after the stack and logical ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<Expr>,
    /// The "From" name of e-mail notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    pub topic_arn: Expr,
    pub protocol: Protocol,
    /// The address: for `email`, the e-mail address (which must confirm
    /// the subscription before anything is delivered).
    pub endpoint: Expr,
}

/// The subscription protocols this project uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Email,
}
