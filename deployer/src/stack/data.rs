//! The data stack, `<STACK_NAME>-data`: the event store (the events table
//! and the stream index), the data nothing can rebuild, apart from
//! everything else. `destroy` removes the app stack and keeps this one;
//! the next deploy attaches the app to it again with every event intact.
//!
//! The app stack does not import its values (an export would tie the two
//! stacks' lifetimes together): the deployer reads the data stack's tables
//! and passes what the app needs as parameters, one per [`DataOutput`].
//!
//! It also holds the role API Gateway writes the stage's access log with
//! ([`LOGGING_ROLE_ID`]): the account's CloudWatch role is one setting for
//! every API in the region, so the role it names must outlive the app
//! stack (`deploy::logging_role` points the setting at it when needed).

use super::{Table, TableResources};
use crate::cfn::iam::{self, PolicyDocument, Statement};
use crate::cfn::{Expr, LogicalId, Output, Parameter, Pseudo, Template};

/// The role API Gateway may write CloudWatch logs with, for the account's
/// API Gateway setting.
pub const LOGGING_ROLE_ID: &str = "ApiCloudWatchRole";
/// The output holding its ARN.
pub const LOGGING_ROLE_OUTPUT: &str = "ApiCloudWatchRoleArn";

/// What follows the app's stack name in its data stack's name.
pub const DATA_STACK_SUFFIX: &str = "-data";

/// The data stack of the app stack `app_stack`.
pub fn data_stack_name(app_stack: &str) -> String {
    format!("{app_stack}{DATA_STACK_SUFFIX}")
}

/// What the app stack takes from the data stack: each an output of the
/// data stack and a parameter of the app stack, under one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataOutput {
    EventsTableName,
    EventsTableArn,
    /// The events table's DynamoDB stream, which the projector reads.
    EventsStreamArn,
    StreamIndexTableName,
    StreamIndexTableArn,
}

impl DataOutput {
    pub const ALL: [DataOutput; 5] = [
        DataOutput::EventsTableName,
        DataOutput::EventsTableArn,
        DataOutput::EventsStreamArn,
        DataOutput::StreamIndexTableName,
        DataOutput::StreamIndexTableArn,
    ];

    /// The output's (and the app parameter's) logical ID.
    pub const fn name(self) -> &'static str {
        match self {
            DataOutput::EventsTableName => "EventsTableName",
            DataOutput::EventsTableArn => "EventsTableArn",
            DataOutput::EventsStreamArn => "EventsStreamArn",
            DataOutput::StreamIndexTableName => "StreamIndexTableName",
            DataOutput::StreamIndexTableArn => "StreamIndexTableArn",
        }
    }

    /// The table it is about.
    pub const fn table(self) -> Table {
        match self {
            DataOutput::EventsTableName
            | DataOutput::EventsTableArn
            | DataOutput::EventsStreamArn => Table::Events,
            DataOutput::StreamIndexTableName | DataOutput::StreamIndexTableArn => {
                Table::StreamIndex
            }
        }
    }

    fn description(self) -> String {
        let table = self.table().env_var();
        match self {
            DataOutput::EventsTableName | DataOutput::StreamIndexTableName => {
                format!("The {table} table's name")
            }
            DataOutput::EventsTableArn | DataOutput::StreamIndexTableArn => {
                format!("The {table} table's ARN")
            }
            DataOutput::EventsStreamArn => "The EVENTS_TABLE table's stream ARN".to_owned(),
        }
    }

    /// Its value in the data stack.
    fn value(self) -> Expr {
        let table = self.table().logical_id();
        match self {
            DataOutput::EventsTableName | DataOutput::StreamIndexTableName => table.reference(),
            DataOutput::EventsTableArn | DataOutput::StreamIndexTableArn => table.arn(),
            DataOutput::EventsStreamArn => table.stream_arn(),
        }
    }

    /// Its value in the app stack: the parameter's.
    pub(crate) fn in_app(self) -> Expr {
        LogicalId::new(self.name()).reference()
    }

    /// Declares it as a parameter of the app stack.
    pub(crate) fn add_parameter(self, template: &mut Template) {
        template.parameter(
            self.name(),
            Parameter {
                min_length: Some(1),
                ..Parameter::string(format!(
                    "{}, from the data stack (cargo xtask deploy passes it)",
                    self.description()
                ))
            },
        );
    }
}

/// Whether `table` lives in the data stack (and outlives the app).
pub fn in_data_stack(table: Table) -> bool {
    matches!(table, Table::Events | Table::StreamIndex)
}

/// The data stack's template, its role without a permissions boundary.
pub fn data_stack() -> Template {
    data_stack_with(None)
}

/// The data stack's template, its role bounded by the managed policy
/// `permissions_boundary` (`PERMISSIONS_BOUNDARY`) when given.
pub fn data_stack_with(permissions_boundary: Option<&str>) -> Template {
    let mut template = Template::new(
        "Event-sourcing service, data: the event store, kept when the app is destroyed (generated by cargo xtask deploy; do not edit)",
    );
    for table in Table::ALL.into_iter().filter(|table| in_data_stack(*table)) {
        template.resource(table.logical_id().as_str(), table.definition());
    }
    for output in DataOutput::ALL {
        template.output(
            output.name(),
            Output::new(output.description(), output.value()),
        );
    }
    let role = template.resource(
        LOGGING_ROLE_ID,
        iam::Role {
            description: Some(
                "Lets API Gateway write this region's API logs to CloudWatch Logs (the account's API Gateway CloudWatch role)".to_owned(),
            ),
            assume_role_policy_document: PolicyDocument::new(vec![
                Statement::service_may_assume_role("apigateway.amazonaws.com"),
            ]),
            managed_policy_arns: vec![Expr::sub(format!(
                "arn:${{{}}}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
                Pseudo::Partition.name()
            ))],
            policies: Vec::new(),
            permissions_boundary: permissions_boundary.map(Expr::from),
        },
    );
    template.output(
        LOGGING_ROLE_OUTPUT,
        Output::new(
            "The role the account's API Gateway setting names for CloudWatch logs, unless it names another that works",
            role.arn(),
        ),
    );
    template
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_stack_holds_the_event_store_and_outputs_what_the_app_takes() {
        let template = data_stack();
        let resources: Vec<&str> = template.resources.keys().map(LogicalId::as_str).collect();
        assert_eq!(
            resources,
            [LOGGING_ROLE_ID, "EventsTable", "StreamIndexTable"]
        );
        let outputs: Vec<&str> = template.outputs.keys().map(LogicalId::as_str).collect();
        let mut expected: Vec<&str> = DataOutput::ALL.iter().map(|o| o.name()).collect();
        expected.push(LOGGING_ROLE_OUTPUT);
        expected.sort_unstable();
        assert_eq!(outputs, expected);
        for output in DataOutput::ALL {
            assert!(in_data_stack(output.table()), "{output:?}");
        }
        assert_eq!(data_stack_name("evs"), "evs-data");
    }
}
