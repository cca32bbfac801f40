//! A typed model of the CloudFormation templates this project writes.
//!
//! Only what the app's stack uses is modelled; fields carry CloudFormation's
//! names and are left out when `None` (or empty), and fixed vocabularies
//! are enums, so a misspelt property or value does not compile.
//! Maps are `BTreeMap`s: the same template always serializes to the same
//! bytes, whatever order the stack definition inserts things in.

pub mod apigateway;
pub mod dynamodb;
pub mod events;
pub mod iam;
pub mod intrinsic;
pub mod lambda;
pub mod logs;
pub mod s3;
pub mod sqs;

use std::collections::{BTreeMap, BTreeSet};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

pub use intrinsic::{
    Attribute, Expr, HasArn, Intrinsic, LogicalId, Pseudo, RefTarget, ResourceId, Value,
};

/// The only template format version there is.
pub const FORMAT_VERSION: &str = "2010-09-09";

/// A whole template.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Template {
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    #[serde(rename = "Description", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "Parameters", skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<LogicalId, Parameter>,
    #[serde(rename = "Resources")]
    pub resources: BTreeMap<LogicalId, Resource>,
    #[serde(rename = "Outputs", skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<LogicalId, Output>,
}

impl Template {
    pub fn new(description: impl Into<String>) -> Self {
        Template {
            format_version: FORMAT_VERSION,
            description: Some(description.into()),
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Adds a parameter and returns its id, for `Ref`s.
    pub fn parameter(&mut self, id: &str, parameter: Parameter) -> LogicalId {
        let id = LogicalId::new(id);
        self.ensure_unused(&id);
        self.parameters.insert(id.clone(), parameter);
        id
    }

    /// Adds a resource and returns its id, typed by `R` (its properties
    /// struct), for `Ref`s and the `Fn::GetAtt`s that type has.
    pub fn resource<R: Into<Resource>>(&mut self, id: &str, resource: R) -> ResourceId<R> {
        let id = ResourceId::new(id);
        self.ensure_unused(&id);
        self.resources.insert(id.id().clone(), resource.into());
        id
    }

    pub fn output(&mut self, id: &str, output: Output) {
        let id = LogicalId::new(id);
        assert!(
            !self.outputs.contains_key(&id),
            "output {id} is defined twice in the stack definition"
        );
        self.outputs.insert(id, output);
    }

    /// Parameters and resources share one namespace; a clash is a bug in
    /// the stack definition (it would silently replace a resource).
    fn ensure_unused(&self, id: &LogicalId) {
        assert!(
            !self.parameters.contains_key(id) && !self.resources.contains_key(id),
            "logical ID {id} is defined twice in the stack definition"
        );
    }

    /// The template as YAML.
    pub fn to_yaml(&self) -> Result<String, serde_yaml::Error> {
        serde_yaml::to_string(self)
    }

    /// The template as pretty-printed JSON, ending with a newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        let mut json = serde_json::to_string_pretty(self)?;
        json.push('\n');
        Ok(json)
    }
}

/// The type of a template parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ParameterType {
    String,
    Number,
}

/// A template parameter.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    #[serde(rename = "Type")]
    pub kind: ParameterType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Masks the value in the console, the API and events (for secrets).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_echo: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
}

impl Parameter {
    /// A string parameter with a description and nothing else.
    pub fn string(description: impl Into<String>) -> Self {
        Parameter {
            kind: ParameterType::String,
            description: Some(description.into()),
            default: None,
            no_echo: false,
            min_length: None,
            max_length: None,
            allowed_pattern: None,
            constraint_description: None,
        }
    }
}

/// A template output.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub value: Expr,
    /// Makes the value importable by other stacks under this name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export: Option<Export>,
}

impl Output {
    pub fn new(description: impl Into<String>, value: Expr) -> Self {
        Output {
            description: Some(description.into()),
            value,
            export: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Export {
    pub name: Expr,
}

/// What happens to a resource's physical thing when the resource leaves
/// the stack (`DeletionPolicy`) or is replaced (`UpdateReplacePolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Policy {
    Delete,
    Retain,
    RetainExceptOnCreate,
    Snapshot,
}

/// A resource: its typed properties plus the attributes every resource
/// may have.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub properties: Properties,
    pub depends_on: BTreeSet<LogicalId>,
    pub deletion_policy: Option<Policy>,
    pub update_replace_policy: Option<Policy>,
}

impl Resource {
    pub fn depends_on(mut self, ids: impl IntoIterator<Item = LogicalId>) -> Self {
        self.depends_on.extend(ids);
        self
    }

    /// Keeps the physical resource when it is deleted from the stack or
    /// replaced by an update.
    pub fn retained(mut self) -> Self {
        self.deletion_policy = Some(Policy::Retain);
        self.update_replace_policy = Some(Policy::Retain);
        self
    }

    /// Deletes the physical resource with the stack or on replacement,
    /// said explicitly (for stateful resources whose data can be lost).
    pub fn deleted(mut self) -> Self {
        self.deletion_policy = Some(Policy::Delete);
        self.update_replace_policy = Some(Policy::Delete);
        self
    }

    pub fn type_name(&self) -> &'static str {
        self.properties.type_name()
    }
}

impl From<Properties> for Resource {
    fn from(properties: Properties) -> Self {
        Resource {
            properties,
            depends_on: BTreeSet::new(),
            deletion_policy: None,
            update_replace_policy: None,
        }
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("Type", self.type_name())?;
        if let Some(policy) = &self.deletion_policy {
            map.serialize_entry("DeletionPolicy", policy)?;
        }
        if let Some(policy) = &self.update_replace_policy {
            map.serialize_entry("UpdateReplacePolicy", policy)?;
        }
        if !self.depends_on.is_empty() {
            map.serialize_entry("DependsOn", &self.depends_on)?;
        }
        self.properties.serialize_entry(&mut map)?;
        map.end()
    }
}

/// Declares the resource types: the `Properties` enum, each variant's
/// CloudFormation type name, and `From` for each properties struct.
macro_rules! resource_types {
    ($($variant:ident($props:ty) => $type_name:literal,)*) => {
        /// A resource's type together with its properties.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Properties {
            $($variant($props),)*
        }

        impl Properties {
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Properties::$variant(_) => $type_name,)*
                }
            }

            fn serialize_entry<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                match self {
                    $(Properties::$variant(properties) => map.serialize_entry("Properties", properties),)*
                }
            }
        }

        $(
            impl From<$props> for Properties {
                fn from(properties: $props) -> Self {
                    Properties::$variant(properties)
                }
            }

            impl From<$props> for Resource {
                fn from(properties: $props) -> Self {
                    Resource::from(Properties::$variant(properties))
                }
            }
        )*
    };
}

resource_types! {
    ApiGatewayAccount(apigateway::Account) => "AWS::ApiGateway::Account",
    ApiGatewayApiKey(apigateway::ApiKey) => "AWS::ApiGateway::ApiKey",
    ApiGatewayDeployment(apigateway::Deployment) => "AWS::ApiGateway::Deployment",
    ApiGatewayMethod(apigateway::Method) => "AWS::ApiGateway::Method",
    ApiGatewayResource(apigateway::Resource) => "AWS::ApiGateway::Resource",
    ApiGatewayRestApi(apigateway::RestApi) => "AWS::ApiGateway::RestApi",
    ApiGatewayStage(apigateway::Stage) => "AWS::ApiGateway::Stage",
    ApiGatewayUsagePlan(apigateway::UsagePlan) => "AWS::ApiGateway::UsagePlan",
    ApiGatewayUsagePlanKey(apigateway::UsagePlanKey) => "AWS::ApiGateway::UsagePlanKey",
    DynamoDbTable(dynamodb::Table) => "AWS::DynamoDB::Table",
    EventsRule(events::Rule) => "AWS::Events::Rule",
    IamRole(iam::Role) => "AWS::IAM::Role",
    LambdaEventInvokeConfig(lambda::EventInvokeConfig) => "AWS::Lambda::EventInvokeConfig",
    LambdaEventSourceMapping(lambda::EventSourceMapping) => "AWS::Lambda::EventSourceMapping",
    LambdaFunction(lambda::Function) => "AWS::Lambda::Function",
    LambdaPermission(lambda::Permission) => "AWS::Lambda::Permission",
    LogsLogGroup(logs::LogGroup) => "AWS::Logs::LogGroup",
    S3Bucket(s3::Bucket) => "AWS::S3::Bucket",
    S3BucketPolicy(s3::BucketPolicy) => "AWS::S3::BucketPolicy",
    SqsQueue(sqs::Queue) => "AWS::SQS::Queue",
    SqsQueuePolicy(sqs::QueuePolicy) => "AWS::SQS::QueuePolicy",
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Template {
        let mut template = Template::new("sample");
        let group = template.resource(
            "Logs",
            logs::LogGroup {
                log_group_name: Some("/x".into()),
                retention_in_days: Some(logs::RetentionDays::Days30),
            },
        );
        template.output("GroupArn", Output::new("arn", group.arn()));
        template
    }

    #[test]
    fn a_template_serializes_with_cloudformation_names() {
        let json = serde_json::to_value(sample()).expect("serializable");
        assert_eq!(
            json,
            json!({
                "AWSTemplateFormatVersion": "2010-09-09",
                "Description": "sample",
                "Resources": {"Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
                    "LogGroupName": "/x", "RetentionInDays": 30}}},
                "Outputs": {"GroupArn": {"Description": "arn",
                    "Value": {"Fn::GetAtt": ["Logs", "Arn"]}}},
            })
        );
    }

    #[test]
    fn resource_attributes_come_before_properties() {
        let resource = Resource::from(logs::LogGroup {
            log_group_name: None,
            retention_in_days: None,
        })
        .retained()
        .depends_on([LogicalId::new("B"), LogicalId::new("A")]);
        let yaml = serde_yaml::to_string(&resource).expect("serializable");
        assert_eq!(
            yaml,
            "Type: AWS::Logs::LogGroup\nDeletionPolicy: Retain\nUpdateReplacePolicy: Retain\nDependsOn:\n- A\n- B\nProperties: {}\n"
        );
    }

    #[test]
    #[should_panic(expected = "defined twice")]
    fn a_logical_id_is_used_once() {
        let mut template = sample();
        template.parameter("Logs", Parameter::string("clash"));
    }
}
