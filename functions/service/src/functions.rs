//! The Lambda functions of the app: the one list that the function crates,
//! the build, the template, the routes, the wiring and the binary checks
//! all read, and the environment variables the template sets on them and
//! they read. Adding a function (a route among them) is its crate under
//! `functions/` plus a variant here; the compiler asks for the rest.

use std::time::Duration;

use aws_lambda_events::http::Method;

use crate::dynamo::schema::Table;

/// One Lambda function; its crate (and binary) is [`Function::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    AddEvent,
    ListItems,
    TriggerReplay,
    ReplayStatus,
    ListStreams,
    ReadStream,
    Projector,
    Replay,
}

/// What a function serves: what invokes it, and so what its handler takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serves {
    /// An HTTP route of the API, through API Gateway's proxy events.
    Route(Route),
    /// Batches of the events table's change stream: the projector.
    EventsStream,
    /// Replay runs, their continuations and the sweep's schedule.
    Replays,
}

impl Function {
    /// Every function. The crates under `functions/` must be exactly these
    /// (`the_function_crates_are_exactly_the_function_list`).
    pub const ALL: [Function; 8] = [
        Function::AddEvent,
        Function::ListItems,
        Function::TriggerReplay,
        Function::ReplayStatus,
        Function::ListStreams,
        Function::ReadStream,
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
            Function::ListStreams => "list-streams",
            Function::ReadStream => "read-stream",
            Function::Projector => "projector",
            Function::Replay => "replay",
        }
    }

    /// What invokes the function: for a route, its method and path.
    pub const fn serves(self) -> Serves {
        match self {
            Function::AddEvent => Serves::Route(Route::post(self, "addEvent")),
            Function::ListItems => Serves::Route(Route::get(self, "listTestItems")),
            Function::TriggerReplay => Serves::Route(Route::post(self, "triggerReplay")),
            Function::ReplayStatus => Serves::Route(Route::get(self, "replayStatus")),
            Function::ListStreams => Serves::Route(Route::get(self, "listStreams")),
            Function::ReadStream => Serves::Route(Route::get(self, "readStream")),
            Function::Projector => Serves::EventsStream,
            Function::Replay => Serves::Replays,
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
            | Function::ReplayStatus
            | Function::ListStreams
            | Function::ReadStream => Duration::from_secs(10),
            Function::Projector => Duration::from_secs(60),
            // Replays are asynchronous and hand over before this runs out.
            Function::Replay => Duration::from_secs(900),
        }
    }

    /// The variables the function reads, which the template sets on it:
    /// every table's name (each function builds the whole store at
    /// start-up; names grant nothing, the role decides access), the log
    /// filter, and what its handler needs of its own.
    pub fn environment(self) -> Vec<EnvVar> {
        let mut variables: Vec<EnvVar> = Table::ALL.into_iter().map(EnvVar::Table).collect();
        variables.push(EnvVar::RustLog);
        variables.extend_from_slice(match self {
            Function::ListItems => &[EnvVar::TestStreamId],
            // They start replay runs: a new replay, or one whose run died.
            Function::TriggerReplay | Function::ReplayStatus => &[EnvVar::ReplayFunctionName],
            Function::AddEvent
            | Function::ListStreams
            | Function::ReadStream
            | Function::Projector
            | Function::Replay => &[],
        });
        variables
    }

    /// The HTTP route the function serves, if it is behind the API.
    pub const fn route(self) -> Option<Route> {
        match self.serves() {
            Serves::Route(route) => Some(route),
            Serves::EventsStream | Serves::Replays => None,
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

/// An HTTP route of the API: a function behind it, with the method and
/// path [`Function::serves`] declares for it. The template and local mode
/// both read [`Route::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Route {
    function: Function,
    method: RouteMethod,
    path_part: &'static str,
}

/// The methods the routes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum RouteMethod {
    Get,
    Post,
}

impl Route {
    /// Every route, in the order of [`Function::ALL`].
    pub const ALL: [Route; Route::COUNT] = {
        let mut all = [Route::nth(0); Route::COUNT];
        let mut n = 1;
        while n < Route::COUNT {
            all[n] = Route::nth(n);
            n += 1;
        }
        all
    };

    /// How many functions serve a route.
    const COUNT: usize = {
        let (mut count, mut i) = (0, 0);
        while i < Function::ALL.len() {
            if Function::ALL[i].route().is_some() {
                count += 1;
            }
            i += 1;
        }
        count
    };

    /// The `n`th route of [`Function::ALL`]; evaluated at compile time, so
    /// an `n` past the last is a build error, never a panic at run time.
    const fn nth(n: usize) -> Route {
        let (mut seen, mut i) = (0, 0);
        while i < Function::ALL.len() {
            if let Some(route) = Function::ALL[i].route() {
                if seen == n {
                    return route;
                }
                seen += 1;
            }
            i += 1;
        }
        panic!("there are fewer routes than that")
    }

    /// `GET /<path_part>`, served by `function`.
    pub(crate) const fn get(function: Function, path_part: &'static str) -> Route {
        Route {
            function,
            method: RouteMethod::Get,
            path_part,
        }
    }

    /// `POST /<path_part>`, served by `function`.
    pub(crate) const fn post(function: Function, path_part: &'static str) -> Route {
        Route {
            function,
            method: RouteMethod::Post,
            path_part,
        }
    }

    /// The function behind the route.
    pub const fn function(self) -> Function {
        self.function
    }

    pub fn method(self) -> Method {
        match self.method {
            RouteMethod::Get => Method::GET,
            RouteMethod::Post => Method::POST,
        }
    }

    /// The resource path, without a leading slash.
    pub const fn path_part(self) -> &'static str {
        self.path_part
    }

    pub fn matching(method: &Method, path: &str) -> Option<Route> {
        let path = path.trim_end_matches('/').trim_start_matches('/');
        Self::ALL
            .into_iter()
            .find(|route| route.path_part() == path && route.method() == *method)
    }
}

/// The function's name, as its crate and binary are called.
impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so widths and alignment in format strings apply.
        f.pad(self.name())
    }
}

/// An environment variable the template sets on a function and the
/// function reads ([`Function::environment`]): one name for both sides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EnvVar {
    /// The name of a table ([`Table::env_var`]).
    Table(Table),
    /// The stream `GET /listTestItems` lists when asked for none; also a
    /// setting of `.env`.
    TestStreamId,
    /// The replay function's name, where replays are started.
    ReplayFunctionName,
    /// The log filter.
    RustLog,
}

impl EnvVar {
    pub const fn as_str(self) -> &'static str {
        match self {
            EnvVar::Table(table) => table.env_var(),
            EnvVar::TestStreamId => "TEST_STREAM_ID",
            EnvVar::ReplayFunctionName => "REPLAY_FUNCTION_NAME",
            EnvVar::RustLog => "RUST_LOG",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_its_function_and_back() {
        for route in Route::ALL {
            assert_eq!(route.function().route(), Some(route));
        }
        for function in Function::ALL {
            if let Some(route) = function.route() {
                assert_eq!(
                    route.function(),
                    function,
                    "{function} declares another's route"
                );
                assert!(
                    Route::ALL.contains(&route),
                    "{function}'s route is not listed"
                );
            }
        }
        let behind_the_api: Vec<Function> = Function::ALL
            .into_iter()
            .filter(|function| function.route().is_some())
            .collect();
        assert_eq!(
            Route::ALL.map(Route::function),
            behind_the_api.as_slice(),
            "in the order of Function::ALL"
        );
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

    #[test]
    fn each_function_reads_every_table_the_log_filter_and_its_own_variables_once() {
        for function in Function::ALL {
            let variables = function.environment();
            let names: std::collections::BTreeSet<&str> =
                variables.iter().map(|variable| variable.as_str()).collect();
            assert_eq!(names.len(), variables.len(), "{function}: a name twice");
            for table in Table::ALL {
                assert!(names.contains(table.env_var()), "{function}: no {table:?}");
            }
            assert!(names.contains("RUST_LOG"), "{function}");
        }
        assert!(
            Function::ListItems
                .environment()
                .contains(&EnvVar::TestStreamId)
        );
    }
}
