//! What a CloudFormation status means to the deploy engine: the questions
//! it asks (is an operation running, did it fail, did it roll back, can the
//! stack be updated or must it be deleted first) as methods on the SDK's
//! own status enums, so no caller compares status names; and the status
//! each operation on a stack ends at when it succeeds ([`OperationKind`]).
//!
//! A status not listed here (one newer than the SDK arrives as its
//! `Unknown` variant) is judged by CloudFormation's naming, `*_IN_PROGRESS`
//! while an operation runs and `*_FAILED` when one failed, and is never
//! taken as fit to deploy over: a deploy waits for it or leaves it to a
//! person.

pub use aws_sdk_cloudformation::types::{ResourceStatus, StackStatus};

/// What a deploy can do with the stack it finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// No stack: create it.
    Create,
    /// A failed first create (ROLLBACK_COMPLETE) or one whose change set
    /// never ran (REVIEW_IN_PROGRESS): the stack holds nothing and cannot
    /// be updated; it is deleted before it is created again.
    DeleteThenCreate,
    /// Settled: update through a change set.
    Update,
    /// An operation is running: wait for it.
    Busy,
    /// Needs a person (e.g. UPDATE_ROLLBACK_FAILED, DELETE_FAILED).
    Stuck,
}

/// An operation CloudFormation runs on a whole stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationKind {
    Creation,
    Update,
    Deletion,
    /// Bringing existing resources into the stack (an IMPORT change set).
    Import,
}

impl OperationKind {
    /// For messages: "the update of the stack demo".
    pub fn noun(self) -> &'static str {
        match self {
            OperationKind::Creation => "creation",
            OperationKind::Update => "update",
            OperationKind::Deletion => "deletion",
            OperationKind::Import => "import",
        }
    }

    /// The status the stack ends at when the operation succeeded; any
    /// other end is a failure.
    pub fn success(self) -> StackStatus {
        match self {
            OperationKind::Creation => StackStatus::CreateComplete,
            OperationKind::Update => StackStatus::UpdateComplete,
            OperationKind::Deletion => StackStatus::DeleteComplete,
            OperationKind::Import => StackStatus::ImportComplete,
        }
    }
}

/// The questions the engine asks of a stack's status.
pub trait StackStatusExt {
    /// An operation is running on the stack (including REVIEW_IN_PROGRESS,
    /// a stack made by a change set that has not run).
    fn is_in_progress(&self) -> bool;
    /// The end of an operation: the status stays until the next one.
    fn is_settled(&self) -> bool {
        !self.is_in_progress()
    }
    /// An operation failed and left the stack for a person to repair.
    fn is_failed(&self) -> bool;
    /// An operation failed and CloudFormation undid it.
    fn is_rolled_back(&self) -> bool;
    /// The stack is gone.
    fn is_deleted(&self) -> bool;
    /// The stack holds nothing and cannot be updated; see
    /// [`Standing::DeleteThenCreate`].
    fn needs_delete_then_create(&self) -> bool;
    /// Settled with its resources in place: a change set may update it.
    fn accepts_updates(&self) -> bool;
    /// What a deploy does with a stack in this status.
    fn standing(&self) -> Standing {
        if self.is_deleted() {
            Standing::Create
        } else if self.needs_delete_then_create() {
            Standing::DeleteThenCreate
        } else if self.accepts_updates() {
            Standing::Update
        } else if self.is_in_progress() {
            Standing::Busy
        } else {
            Standing::Stuck
        }
    }
}

impl StackStatusExt for StackStatus {
    fn is_in_progress(&self) -> bool {
        match self {
            StackStatus::CreateInProgress
            | StackStatus::DeleteInProgress
            | StackStatus::ImportInProgress
            | StackStatus::ImportRollbackInProgress
            | StackStatus::ReviewInProgress
            | StackStatus::RollbackInProgress
            | StackStatus::UpdateCompleteCleanupInProgress
            | StackStatus::UpdateInProgress
            | StackStatus::UpdateRollbackCompleteCleanupInProgress
            | StackStatus::UpdateRollbackInProgress => true,
            other => other.as_str().ends_with("_IN_PROGRESS"),
        }
    }

    fn is_failed(&self) -> bool {
        match self {
            StackStatus::CreateFailed
            | StackStatus::DeleteFailed
            | StackStatus::ImportRollbackFailed
            | StackStatus::RollbackFailed
            | StackStatus::UpdateFailed
            | StackStatus::UpdateRollbackFailed => true,
            other => other.as_str().ends_with("_FAILED"),
        }
    }

    fn is_rolled_back(&self) -> bool {
        matches!(
            self,
            StackStatus::ImportRollbackComplete
                | StackStatus::RollbackComplete
                | StackStatus::UpdateRollbackComplete
        )
    }

    fn is_deleted(&self) -> bool {
        *self == StackStatus::DeleteComplete
    }

    fn needs_delete_then_create(&self) -> bool {
        matches!(
            self,
            StackStatus::RollbackComplete | StackStatus::ReviewInProgress
        )
    }

    fn accepts_updates(&self) -> bool {
        matches!(
            self,
            StackStatus::CreateComplete
                | StackStatus::ImportComplete
                | StackStatus::ImportRollbackComplete
                | StackStatus::UpdateComplete
                | StackStatus::UpdateRollbackComplete
        )
    }
}

/// The questions the engine asks of a resource's status.
pub trait ResourceStatusExt {
    /// The resource's operation failed.
    fn is_failed(&self) -> bool;
}

impl ResourceStatusExt for ResourceStatus {
    fn is_failed(&self) -> bool {
        match self {
            ResourceStatus::CreateFailed
            | ResourceStatus::DeleteFailed
            | ResourceStatus::ExportFailed
            | ResourceStatus::ExportRollbackFailed
            | ResourceStatus::ImportFailed
            | ResourceStatus::ImportRollbackFailed
            | ResourceStatus::RollbackFailed
            | ResourceStatus::UpdateFailed
            | ResourceStatus::UpdateRollbackFailed => true,
            other => other.as_str().ends_with("_FAILED"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Statuses newer than the SDK, one for each kind of name.
    const NEWER: [&str; 3] = [
        "NEWER_THING_IN_PROGRESS",
        "NEWER_THING_FAILED",
        "NEWER_THING_COMPLETE",
    ];

    /// Every stack status the SDK knows, then the newer ones.
    fn statuses() -> impl Iterator<Item = (&'static str, StackStatus)> {
        StackStatus::values()
            .iter()
            .copied()
            .chain(NEWER)
            .map(|name| (name, StackStatus::from(name)))
    }

    #[test]
    fn each_stack_status_maps_to_what_a_deploy_does() {
        for (status, standing) in [
            ("REVIEW_IN_PROGRESS", Standing::DeleteThenCreate),
            ("DELETE_COMPLETE", Standing::Create),
            ("ROLLBACK_COMPLETE", Standing::DeleteThenCreate),
            ("CREATE_COMPLETE", Standing::Update),
            ("UPDATE_COMPLETE", Standing::Update),
            ("UPDATE_ROLLBACK_COMPLETE", Standing::Update),
            ("IMPORT_COMPLETE", Standing::Update),
            ("IMPORT_ROLLBACK_COMPLETE", Standing::Update),
            ("CREATE_IN_PROGRESS", Standing::Busy),
            ("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", Standing::Busy),
            (
                "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
                Standing::Busy,
            ),
            ("DELETE_IN_PROGRESS", Standing::Busy),
            ("NEWER_THING_IN_PROGRESS", Standing::Busy),
            ("UPDATE_ROLLBACK_FAILED", Standing::Stuck),
            ("ROLLBACK_FAILED", Standing::Stuck),
            ("DELETE_FAILED", Standing::Stuck),
            ("CREATE_FAILED", Standing::Stuck),
            ("UPDATE_FAILED", Standing::Stuck),
            ("NEWER_THING_FAILED", Standing::Stuck),
            ("NEWER_THING_COMPLETE", Standing::Stuck),
        ] {
            assert_eq!(StackStatus::from(status).standing(), standing, "{status}");
        }
    }

    /// Exactly the statuses CloudFormation names `*_IN_PROGRESS` are in
    /// progress; everything else is settled.
    #[test]
    fn in_progress_is_the_running_phase_of_an_operation() {
        for (name, status) in statuses() {
            let running = name.ends_with("_IN_PROGRESS");
            assert_eq!(status.is_in_progress(), running, "{name}");
            assert_eq!(status.is_settled(), !running, "{name}");
        }
    }

    #[test]
    fn failed_rolled_back_and_deleted_are_the_statuses_named_so() {
        for (name, status) in statuses() {
            assert_eq!(status.is_failed(), name.ends_with("_FAILED"), "{name}");
            assert_eq!(
                status.is_rolled_back(),
                name.ends_with("ROLLBACK_COMPLETE"),
                "{name}"
            );
            assert_eq!(status.is_deleted(), name == "DELETE_COMPLETE", "{name}");
        }
    }

    /// A stack is either fit for an update, waited for, recreated, gone,
    /// or left to a person: never two of these, and each status the SDK
    /// knows is one of them (a new one must be classified here).
    #[test]
    fn every_status_has_exactly_one_standing() {
        for (name, status) in statuses() {
            let answers = [
                status.accepts_updates(),
                status.needs_delete_then_create(),
                status.is_deleted(),
                status.is_in_progress() && !status.needs_delete_then_create(),
                status.is_failed(),
            ];
            let yes = answers.iter().filter(|&&answer| answer).count();
            let expected = usize::from(name != "NEWER_THING_COMPLETE");
            assert_eq!(yes, expected, "{name}: {answers:?}");
        }
    }

    /// A success is an end an operation is followed to, and leaves a
    /// stack the next deploy updates (or, deleted, creates).
    #[test]
    fn each_operation_succeeds_at_a_settled_status() {
        for (kind, standing) in [
            (OperationKind::Creation, Standing::Update),
            (OperationKind::Update, Standing::Update),
            (OperationKind::Deletion, Standing::Create),
            (OperationKind::Import, Standing::Update),
        ] {
            let status = kind.success();
            assert!(status.is_settled() && !status.is_failed(), "{kind:?}");
            assert_eq!(status.standing(), standing, "{kind:?}");
        }
    }

    #[test]
    fn a_resource_failed_when_its_status_says_so() {
        for value in ResourceStatus::values()
            .iter()
            .copied()
            .chain(["NEWER_THING_FAILED", "NEWER_THING_COMPLETE"])
        {
            assert_eq!(
                ResourceStatus::from(value).is_failed(),
                value.ends_with("_FAILED"),
                "{value}"
            );
        }
    }
}
