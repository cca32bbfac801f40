//! What a command has in flight on AWS, so that Ctrl-C can clean up after
//! it: a change set not yet executed is deleted; a running operation is
//! left to CloudFormation, which completes or rolls it back on its own.

use std::sync::{Arc, Mutex};

use super::aws::Aws;
use super::change_sets;
use super::progress::Progress;
use super::status::OperationKind;

/// What is in flight, so an interrupted command can clean up after itself.
#[derive(Clone, Debug, Default)]
pub struct InFlight(Arc<Mutex<Step>>);

#[derive(Clone, Debug, Default)]
pub(super) enum Step {
    #[default]
    Idle,
    /// A change set (its ARN) exists and has not been executed.
    ChangeSet { id: String },
    /// CloudFormation is running an operation on the stack.
    Operation { stack: String, kind: OperationKind },
}

impl InFlight {
    pub(super) fn set(&self, step: Step) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = step;
    }

    /// After Ctrl-C: removes a change set that was not executed, or says
    /// that CloudFormation carries on with the running operation (it
    /// finishes or rolls back on its own; nothing is left half-done).
    pub async fn interrupted(&self, aws: &Aws, progress: &Progress) {
        let step = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match step {
            Step::Idle => progress.line("interrupted; nothing was in progress on AWS"),
            Step::ChangeSet { id } => {
                match change_sets::delete_change_set(&aws.cloudformation, &id).await {
                    Ok(()) => progress.line(format!(
                        "interrupted; deleted the change set {id}, which had not run: the stack is unchanged"
                    )),
                    Err(err) => progress.line(format!(
                        "interrupted; the change set {id} had not run, but deleting it failed ({err:#}); the next deploy replaces it"
                    )),
                }
            }
            Step::Operation { stack, kind } => progress.line(format!(
                "interrupted; CloudFormation carries on with the {} of {stack} on its own and completes or rolls it back; run the command again once it has finished",
                kind.noun()
            )),
        }
    }
}
