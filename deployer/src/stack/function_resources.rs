//! The names and sizes the template gives each of the app's functions:
//! logical IDs, the deployed name, memory and time limits.

use service::functions::Function;

use crate::cfn::iam;
use crate::cfn::lambda;
use crate::cfn::logs;
use crate::cfn::{Expr, LogicalId, Pseudo, ResourceId};

/// What the template makes of each of the app's functions
/// ([`service::functions::Function`], the one list of them): logical IDs,
/// memory and time limits, and what its role may do.
pub trait FunctionResources: Copy {
    /// The stem of the function's logical IDs. Never derived from the
    /// variant's name: a logical ID is a resource's identity, and renaming
    /// it would replace the resource.
    fn stem(self) -> &'static str;
    fn logical_id(self) -> ResourceId<lambda::Function>;
    fn role_id(self) -> ResourceId<iam::Role>;
    fn log_group_id(self) -> ResourceId<logs::LogGroup>;
    /// The parameter holding the S3 key of the function's zip.
    fn code_key_parameter(self) -> LogicalId;
    /// The deployed name, `<stack name>-<function>`: fixed so that the log
    /// group (which the role's policy names) can exist before the function.
    fn deployed_name(self) -> Expr;
    fn memory_mb(self) -> u32;
    fn timeout_seconds(self) -> u32;
}

impl FunctionResources for Function {
    fn stem(self) -> &'static str {
        match self {
            Function::AddEvent => "AddEvent",
            Function::ListItems => "ListItems",
            Function::TriggerReplay => "TriggerReplay",
            Function::ReplayStatus => "ReplayStatus",
            Function::ListStreams => "ListStreams",
            Function::ReadStream => "ReadStream",
            Function::Projector => "Projector",
            Function::Replay => "Replay",
        }
    }

    fn logical_id(self) -> ResourceId<lambda::Function> {
        ResourceId::new(format!("{}Function", self.stem()))
    }

    fn role_id(self) -> ResourceId<iam::Role> {
        ResourceId::new(format!("{}Role", self.stem()))
    }

    fn log_group_id(self) -> ResourceId<logs::LogGroup> {
        ResourceId::new(format!("{}LogGroup", self.stem()))
    }

    fn code_key_parameter(self) -> LogicalId {
        LogicalId::new(format!("{}CodeKey", self.stem()))
    }

    fn deployed_name(self) -> Expr {
        Expr::sub(format!("${{{}}}-{}", Pseudo::StackName.name(), self.name()))
    }

    fn memory_mb(self) -> u32 {
        match self {
            // CPU scales with memory; replays fold whole streams.
            Function::Replay => 512,
            Function::AddEvent
            | Function::ListItems
            | Function::TriggerReplay
            | Function::ReplayStatus
            | Function::ListStreams
            | Function::ReadStream
            | Function::Projector => 256,
        }
    }

    fn timeout_seconds(self) -> u32 {
        u32::try_from(self.timeout().as_secs()).unwrap_or(u32::MAX)
    }
}
