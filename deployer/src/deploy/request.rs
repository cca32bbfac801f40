//! What the commands take and give: what to deploy ([`DeployRequest`],
//! and [`Rendered`], the template and parameters CloudFormation gets for
//! it), how ([`DeployOptions`]), the questions asked before anything
//! changes ([`Question`]) and how a deploy ended ([`Outcome`]).

use std::collections::BTreeMap;

use anyhow::Context;

use super::artifacts;
use super::event_store::EventStoreChoice;
use super::wait::Waits;
use crate::bundle::Manifest;
use crate::cfn::Template;
use crate::stack::{API_KEY_PARAMETER, Function, FunctionResources, TEST_STREAM_ID_PARAMETER};

/// A question a command asks before it changes anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Question {
    /// destroy: delete the stack (everything but the retained tables)?
    DestroyStack {
        stack: String,
        region: String,
        retained_tables: Vec<String>,
    },
    /// destroy --delete-data: also delete these tables and every event in
    /// them?
    DeleteData { tables: Vec<String> },
    /// deploy --new-event-store: start a new, empty event store, leaving
    /// these tables (and their events) where the app no longer reads them?
    NewEventStore {
        stack: String,
        retained_tables: String,
    },
}

/// What to deploy.
pub struct DeployRequest<'a> {
    pub stack_name: &'a str,
    pub template: &'a Template,
    pub manifest: &'a Manifest,
    /// Sent as the `NoEcho` parameter; never printed.
    pub api_key: &'a str,
    pub test_stream_id: &'a str,
    /// Asked before a deploy starts a new event store on purpose
    /// ([`EventStoreChoice::New`]); a no stops it.
    pub confirm: &'a dyn Fn(&Question) -> anyhow::Result<bool>,
}

/// A request as CloudFormation gets it.
pub(super) struct Rendered {
    /// The template's text.
    pub body: String,
    /// The template's parameters for this deploy.
    pub parameters: BTreeMap<String, String>,
}

impl DeployRequest<'_> {
    /// The template's text and its parameters; every function must have a
    /// package.
    pub(super) fn render(&self) -> anyhow::Result<Rendered> {
        let body = self
            .template
            .to_yaml()
            .context("cannot render the template")?;
        let mut parameters = BTreeMap::new();
        for function in Function::ALL {
            let artifact = self
                .manifest
                .functions
                .get(function.name())
                .with_context(|| {
                    format!(
                        "the build has no package for {}; run cargo xtask build",
                        function.name()
                    )
                })?;
            parameters.insert(
                function.code_key_parameter().to_string(),
                artifacts::object_key(artifact),
            );
        }
        parameters.insert(API_KEY_PARAMETER.to_owned(), self.api_key.to_owned());
        parameters.insert(
            TEST_STREAM_ID_PARAMETER.to_owned(),
            self.test_stream_id.to_owned(),
        );
        Ok(Rendered { body, parameters })
    }
}

/// How to deploy.
#[derive(Clone, Debug)]
pub struct DeployOptions {
    /// Update function code directly when nothing but code changed.
    pub hotswap: bool,
    /// How often AWS is asked for news, and how long each wait may last.
    pub waits: Waits,
    /// Templates longer than this go through S3.
    pub inline_template_limit: usize,
    /// What to do when the data stack is missing but the event store is not.
    pub event_store: EventStoreChoice,
}

impl DeployOptions {
    /// The defaults, with the waits for an emulator that answers at once
    /// ([`Waits::for_emulator`]).
    pub fn for_emulator() -> DeployOptions {
        DeployOptions {
            waits: Waits::for_emulator(),
            ..DeployOptions::default()
        }
    }
}

impl Default for DeployOptions {
    fn default() -> Self {
        DeployOptions {
            hotswap: false,
            waits: Waits::default(),
            inline_template_limit: artifacts::INLINE_TEMPLATE_LIMIT,
            event_store: EventStoreChoice::default(),
        }
    }
}

/// How a deploy ended well.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The stack already matches: nothing was touched.
    NoChanges,
    /// A change set ran; the stack's outputs afterwards.
    Deployed { outputs: BTreeMap<String, String> },
    /// Only code changed and `--hotswap` updated these functions directly.
    Hotswapped { functions: Vec<String> },
}
