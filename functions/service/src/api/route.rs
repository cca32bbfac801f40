//! The routes of the API, each a function behind it: [`Route::ALL`] is
//! read off `Function::ALL`, so a new route is a new `Function` variant.

use aws_lambda_events::http::Method;

use crate::functions::Function;

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
