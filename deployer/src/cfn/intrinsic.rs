//! Values of template fields: a literal, or an intrinsic function that
//! CloudFormation resolves at deploy time.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

/// The name of a resource, parameter or output inside a template.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LogicalId(String);

impl LogicalId {
    /// CloudFormation accepts only ASCII letters and digits, up to 255.
    /// Logical IDs come from the stack definition's code, never from user
    /// input, so a bad one is a bug in that code and stops it at once.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        assert!(
            !id.is_empty() && id.len() <= 255 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "invalid CloudFormation logical ID {id:?}: use 1 to 255 ASCII letters and digits"
        );
        LogicalId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{"Ref": id}`: a parameter's value, or a resource's primary
    /// identifier (a table's name, a function's name, an API's id, ...).
    pub fn reference<T>(&self) -> Value<T> {
        Value::Intrinsic(Intrinsic::Ref(RefTarget::Logical(self.clone())))
    }

    /// `{"Fn::GetAtt": [id, attribute]}`; only through [`ResourceId`],
    /// which knows which attributes its resource has.
    fn get_att<T>(&self, attribute: Attribute) -> Value<T> {
        Value::Intrinsic(Intrinsic::GetAtt(self.clone(), attribute))
    }
}

/// A resource's logical ID that knows the resource's type (`R`, its
/// properties struct), so it offers the `Fn::GetAtt` attributes that type
/// has and no other: a table's `stream_arn()`, a function's `arn()`. A
/// `GetAtt` a resource lacks does not compile.
pub struct ResourceId<R> {
    id: LogicalId,
    resource: PhantomData<fn() -> R>,
}

impl<R> ResourceId<R> {
    /// See [`LogicalId::new`].
    pub fn new(id: impl Into<String>) -> Self {
        ResourceId {
            id: LogicalId::new(id),
            resource: PhantomData,
        }
    }

    /// The untyped id: for `Ref`, `DependsOn` and map keys.
    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    fn sub_attribute(&self, attribute: Attribute) -> String {
        format!("${{{}.{}}}", self.id, attribute.name())
    }
}

impl<R> Deref for ResourceId<R> {
    type Target = LogicalId;

    fn deref(&self) -> &LogicalId {
        &self.id
    }
}

impl<R> Clone for ResourceId<R> {
    fn clone(&self) -> Self {
        ResourceId {
            id: self.id.clone(),
            resource: PhantomData,
        }
    }
}

impl<R> fmt::Debug for ResourceId<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.id, f)
    }
}

impl<R> fmt::Display for ResourceId<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.id, f)
    }
}

impl<R> From<ResourceId<R>> for LogicalId {
    fn from(id: ResourceId<R>) -> LogicalId {
        id.id
    }
}

/// Resource types whose `Fn::GetAtt` has `Arn`.
pub trait HasArn {}

impl<R: HasArn> ResourceId<R> {
    /// `{"Fn::GetAtt": [id, "Arn"]}`.
    pub fn arn<T>(&self) -> Value<T> {
        self.id.get_att(Attribute::Arn)
    }

    /// `${Id.Arn}` in a `Fn::Sub` template.
    pub fn sub_arn(&self) -> String {
        self.sub_attribute(Attribute::Arn)
    }
}

impl ResourceId<super::dynamodb::Table> {
    /// `{"Fn::GetAtt": [id, "StreamArn"]}`: the table's stream.
    pub fn stream_arn<T>(&self) -> Value<T> {
        self.id.get_att(Attribute::StreamArn)
    }
}

impl ResourceId<super::apigateway::RestApi> {
    /// `{"Fn::GetAtt": [id, "RootResourceId"]}`: the id of `/`.
    pub fn root_resource_id<T>(&self) -> Value<T> {
        self.id.get_att(Attribute::RootResourceId)
    }
}

impl ResourceId<super::sqs::Queue> {
    /// `{"Ref": id}`: a queue's `Ref` is its URL, what senders address.
    pub fn url<T>(&self) -> Value<T> {
        self.id.reference()
    }

    /// `{"Fn::GetAtt": [id, "QueueName"]}`.
    pub fn queue_name<T>(&self) -> Value<T> {
        self.id.get_att(Attribute::QueueName)
    }
}

impl HasArn for super::dynamodb::Table {}
impl HasArn for super::events::Rule {}
impl HasArn for super::iam::Role {}
impl HasArn for super::lambda::Function {}
impl HasArn for super::logs::LogGroup {}
impl HasArn for super::s3::Bucket {}
impl HasArn for super::sqs::Queue {}

impl fmt::Display for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The pseudo parameters CloudFormation defines in every stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pseudo {
    AccountId,
    Partition,
    Region,
    StackName,
    UrlSuffix,
}

impl Pseudo {
    pub fn name(self) -> &'static str {
        match self {
            Pseudo::AccountId => "AWS::AccountId",
            Pseudo::Partition => "AWS::Partition",
            Pseudo::Region => "AWS::Region",
            Pseudo::StackName => "AWS::StackName",
            Pseudo::UrlSuffix => "AWS::URLSuffix",
        }
    }

    pub fn reference<T>(self) -> Value<T> {
        Value::Intrinsic(Intrinsic::Ref(RefTarget::Pseudo(self)))
    }
}

/// What `Ref` points at.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefTarget {
    Logical(LogicalId),
    Pseudo(Pseudo),
}

impl RefTarget {
    fn name(&self) -> &str {
        match self {
            RefTarget::Logical(id) => id.as_str(),
            RefTarget::Pseudo(pseudo) => pseudo.name(),
        }
    }
}

/// The `Fn::GetAtt` attributes this app reads; a new one is a new variant,
/// so a typo cannot reach a template, and a method on [`ResourceId`] of
/// the types that have it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Attribute {
    /// Most resources: the ARN.
    Arn,
    /// `AWS::DynamoDB::Table`: the ARN of its stream.
    StreamArn,
    /// `AWS::ApiGateway::RestApi`: the id of the `/` resource.
    RootResourceId,
    /// `AWS::SQS::Queue`: the queue's name.
    QueueName,
}

impl Attribute {
    pub fn name(self) -> &'static str {
        match self {
            Attribute::Arn => "Arn",
            Attribute::StreamArn => "StreamArn",
            Attribute::RootResourceId => "RootResourceId",
            Attribute::QueueName => "QueueName",
        }
    }
}

/// An intrinsic function, serialized in CloudFormation's long form
/// (`{"Fn::Sub": ...}`), which YAML and JSON templates both accept.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Intrinsic {
    Ref(RefTarget),
    GetAtt(LogicalId, Attribute),
    /// The template string (with `${Name}` and `${Name.Attribute}`
    /// placeholders) and its extra variables.
    Sub(String, BTreeMap<String, Expr>),
    /// The separator and the parts.
    Join(String, Vec<Expr>),
}

impl Serialize for Intrinsic {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        match self {
            Intrinsic::Ref(target) => map.serialize_entry("Ref", target.name())?,
            Intrinsic::GetAtt(id, attribute) => {
                map.serialize_entry("Fn::GetAtt", &[id.as_str(), attribute.name()])?
            }
            Intrinsic::Sub(template, variables) if variables.is_empty() => {
                map.serialize_entry("Fn::Sub", template)?
            }
            Intrinsic::Sub(template, variables) => {
                map.serialize_entry("Fn::Sub", &SubWithVariables(template, variables))?
            }
            Intrinsic::Join(separator, parts) => {
                map.serialize_entry("Fn::Join", &JoinArguments(separator, parts))?
            }
        }
        map.end()
    }
}

/// `[template, {variables}]`: a heterogeneous list.
struct SubWithVariables<'a>(&'a String, &'a BTreeMap<String, Expr>);

impl Serialize for SubWithVariables<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(2))?;
        seq.serialize_element(self.0)?;
        seq.serialize_element(self.1)?;
        seq.end()
    }
}

/// `[separator, [parts]]`.
struct JoinArguments<'a>(&'a String, &'a Vec<Expr>);

impl Serialize for JoinArguments<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(2))?;
        seq.serialize_element(self.0)?;
        seq.serialize_element(self.1)?;
        seq.end()
    }
}

/// A field value: a literal of type `T`, or an intrinsic function that
/// resolves to one.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value<T> {
    Literal(T),
    Intrinsic(Intrinsic),
}

/// The common case: a string or something that resolves to one.
pub type Expr = Value<String>;

impl<T: Serialize> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Literal(value) => value.serialize(serializer),
            Value::Intrinsic(intrinsic) => intrinsic.serialize(serializer),
        }
    }
}

impl Expr {
    /// `{"Fn::Sub": template}`; placeholders name parameters, resources
    /// (`${Api}`), attributes (`${Function.Arn}`) or pseudo parameters.
    pub fn sub(template: impl Into<String>) -> Self {
        Value::Intrinsic(Intrinsic::Sub(template.into(), BTreeMap::new()))
    }

    /// `{"Fn::Sub": [template, variables]}`.
    pub fn sub_with(template: impl Into<String>, variables: BTreeMap<String, Expr>) -> Self {
        Value::Intrinsic(Intrinsic::Sub(template.into(), variables))
    }

    /// `{"Fn::Join": [separator, parts]}`.
    pub fn join(separator: impl Into<String>, parts: Vec<Expr>) -> Self {
        Value::Intrinsic(Intrinsic::Join(separator.into(), parts))
    }

    /// The literal string, if this is one.
    pub fn as_literal(&self) -> Option<&str> {
        match self {
            Value::Literal(text) => Some(text),
            Value::Intrinsic(_) => None,
        }
    }
}

impl From<&str> for Expr {
    fn from(text: &str) -> Self {
        Value::Literal(text.to_owned())
    }
}

impl From<String> for Expr {
    fn from(text: String) -> Self {
        Value::Literal(text)
    }
}

impl<T> From<Intrinsic> for Value<T> {
    fn from(intrinsic: Intrinsic) -> Self {
        Value::Intrinsic(intrinsic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn json_of(value: &Expr) -> serde_json::Value {
        serde_json::to_value(value).expect("serializable")
    }

    #[test]
    fn intrinsics_serialize_in_long_form() {
        let api = ResourceId::<crate::cfn::apigateway::RestApi>::new("Api");
        assert_eq!(json_of(&api.reference()), json!({"Ref": "Api"}));
        assert_eq!(
            json_of(&Pseudo::UrlSuffix.reference()),
            json!({"Ref": "AWS::URLSuffix"})
        );
        assert_eq!(
            json_of(&api.root_resource_id()),
            json!({"Fn::GetAtt": ["Api", "RootResourceId"]})
        );
        assert_eq!(
            json_of(&Expr::sub("${Api}/prod")),
            json!({"Fn::Sub": "${Api}/prod"})
        );
        assert_eq!(
            json_of(&Expr::sub_with(
                "${Name}-x",
                BTreeMap::from([("Name".to_owned(), Pseudo::StackName.reference())])
            )),
            json!({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "AWS::StackName"}}]})
        );
        assert_eq!(
            json_of(&Expr::join(
                "-",
                vec!["a".into(), Pseudo::Region.reference()]
            )),
            json!({"Fn::Join": ["-", ["a", {"Ref": "AWS::Region"}]]})
        );
        assert_eq!(json_of(&"plain".into()), json!("plain"));
    }

    #[test]
    #[should_panic(expected = "invalid CloudFormation logical ID")]
    fn logical_ids_are_alphanumeric() {
        LogicalId::new("add-event");
    }
}
