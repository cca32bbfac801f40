//! The Lambda functions of the app: the one list that the function crates,
//! the build, the template and the binary checks all read. Adding a
//! function is its crate under `functions/` plus a variant here.

use std::time::Duration;

use crate::api::Route;

/// One Lambda function; its crate (and binary) is [`Function::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    AddEvent,
    ListItems,
    TriggerReplay,
    ReplayStatus,
    Projector,
    Replay,
}

impl Function {
    pub const ALL: [Function; 6] = [
        Function::AddEvent,
        Function::ListItems,
        Function::TriggerReplay,
        Function::ReplayStatus,
        Function::Projector,
        Function::Replay,
    ];

    /// The function's crate and binary, and the suffix of its deployed name.
    pub const fn name(self) -> &'static str {
        match self {
            Function::AddEvent => "add-event",
            Function::ListItems => "list-items",
            Function::TriggerReplay => "trigger-replay",
            Function::ReplayStatus => "replay-status",
            Function::Projector => "projector",
            Function::Replay => "replay",
        }
    }

    /// How long an invocation may run: the template's `Timeout`, and the
    /// deadline local mode gives a request of the route.
    pub const fn timeout(self) -> Duration {
        match self {
            // API Gateway gives up after 29 s anyway.
            Function::AddEvent
            | Function::ListItems
            | Function::TriggerReplay
            | Function::ReplayStatus => Duration::from_secs(10),
            Function::Projector => Duration::from_secs(60),
            // Replays are asynchronous and hand over before this runs out.
            Function::Replay => Duration::from_secs(900),
        }
    }

    /// The HTTP route the function serves, if it is behind the API.
    pub const fn route(self) -> Option<Route> {
        match self {
            Function::AddEvent => Some(Route::AddEvent),
            Function::ListItems => Some(Route::ListItems),
            Function::TriggerReplay => Some(Route::TriggerReplay),
            Function::ReplayStatus => Some(Route::ReplayStatus),
            Function::Projector | Function::Replay => None,
        }
    }

    /// The function that serves `route`.
    pub fn for_route(route: Route) -> Function {
        match route {
            Route::AddEvent => Function::AddEvent,
            Route::ListItems => Function::ListItems,
            Route::TriggerReplay => Function::TriggerReplay,
            Route::ReplayStatus => Function::ReplayStatus,
        }
    }

    /// The function whose crate and binary is `name`.
    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The length of the longest [`Function::name`]: what a deployed name
    /// (`<stack>-<function>`) must leave room for.
    pub const fn longest_name_len() -> usize {
        let mut longest = 0;
        let mut i = 0;
        while i < Function::ALL.len() {
            let len = Function::ALL[i].name().len();
            if len > longest {
                longest = len;
            }
            i += 1;
        }
        longest
    }
}

/// The function's name, as its crate and binary are called.
impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so widths and alignment in format strings apply.
        f.pad(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_function_and_back() {
        for route in Route::ALL {
            assert_eq!(Function::for_route(route).route(), Some(route));
        }
        let behind_the_api = Function::ALL.iter().filter(|f| f.route().is_some()).count();
        assert_eq!(behind_the_api, Route::ALL.len());
    }

    #[test]
    fn names_are_unique_and_found_again() {
        for function in Function::ALL {
            assert_eq!(Function::from_name(function.name()), Some(function));
        }
        assert_eq!(Function::from_name("local"), None);
        assert_eq!(format!("{:<12}|", Function::Replay), "replay      |");
        assert_eq!(Function::longest_name_len(), "trigger-replay".len());
    }
}
