//! [`Session`]: what the steps of one command on one stack share. It holds
//! no step itself: each step is a function of the module that owns it,
//! taking the session first (see [`super`]).

use super::aws::Aws;
use super::in_flight::InFlight;
use super::progress::Progress;
use super::request::DeployOptions;
use crate::stack::tags::Ownership;

/// One command's work on one stack: the clients, whose the stack is, the
/// options, where progress goes and what is in flight.
pub(crate) struct Session<'a> {
    pub aws: &'a Aws,
    /// Whose the stack is: its name, and the tags its change sets carry.
    pub ownership: Ownership,
    pub stack_name: String,
    pub options: &'a DeployOptions,
    pub progress: &'a Progress,
    pub in_flight: &'a InFlight,
}

impl<'a> Session<'a> {
    /// For the public entry points, which take these one by one.
    pub fn new(
        aws: &'a Aws,
        ownership: Ownership,
        options: &'a DeployOptions,
        progress: &'a Progress,
        in_flight: &'a InFlight,
    ) -> Session<'a> {
        Session {
            aws,
            stack_name: ownership.stack_name(),
            ownership,
            options,
            progress,
            in_flight,
        }
    }
}
