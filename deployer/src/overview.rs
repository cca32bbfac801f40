//! `status`: a deployment at a glance: both stacks and their state (each
//! refused when it is not this deployment's), the API URL, whether each
//! deployed function runs the code a build makes now, the projector's
//! stream mapping, the rebuild of every stream that runs, and the records
//! the projector parked.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine;
use domain::{ParkedRecord, ParkedRecords};
use service::dynamo::{DynamoStore, TableNames};

use crate::bundle::Manifest;
use crate::deploy::Aws;
use crate::deploy::aws::SdkResultExt;
use crate::deploy::stacks::{self, StackInfo};
use crate::stack::{
    API_ID, API_URL_OUTPUT, FAILURE_QUEUE_URL_OUTPUT, Function, FunctionResources, Table,
    TableResources, data_stack_name,
};

/// The most parked records listed; the count goes on past them.
const PARKED_SHOWN: usize = 5;
/// The most parked records counted (a page of the partition).
const PARKED_COUNTED: usize = 1000;

/// A stack's name and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackState {
    pub name: String,
    /// `None`: there is no such stack.
    pub status: Option<String>,
    pub reason: Option<String>,
}

/// Whether a deployed function runs the code a build makes now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    /// The deployed package is the one built now.
    Current,
    /// Another package is deployed: a deploy would update it.
    Differs,
    /// The function is not deployed.
    Missing,
    /// No build to compare with.
    NotCompared,
}

/// The deployment at a glance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overview {
    pub app: StackState,
    pub data: StackState,
    pub api_url: Option<String>,
    pub failure_queue_url: Option<String>,
    /// Per function, by name.
    pub functions: BTreeMap<String, Code>,
    /// The projector's event source mapping: its state and last result.
    pub mapping: Option<(String, String)>,
    /// How many records are parked (at most [`PARKED_COUNTED`]), and the
    /// first few.
    pub parked_count: usize,
    pub parked: Vec<ParkedRecord>,
    /// The rebuild of every stream that runs or waits, if any.
    pub rebuild: Option<domain::ReplayJob>,
}

/// Looks at the deployment of `stack_name`; with `built`, compares each
/// function's deployed code with it.
pub async fn overview(
    aws: &Aws,
    stack_name: &str,
    built: Option<&Manifest>,
) -> anyhow::Result<Overview> {
    let data_name = data_stack_name(stack_name);
    // Refused when either stack is not this deployment's.
    let survey = crate::deploy::survey::survey(aws, stack_name).await?;
    let (app, data) = (survey.app, survey.data);
    let app_ids = match &app {
        Some(info) => stacks::physical_ids(&aws.cloudformation, &info.id).await?,
        None => BTreeMap::new(),
    };
    let data_ids = match &data {
        Some(info) => stacks::physical_ids(&aws.cloudformation, &info.id).await?,
        None => BTreeMap::new(),
    };

    let mut functions = BTreeMap::new();
    for function in Function::ALL {
        let code = match app_ids.get(function.logical_id().as_str()) {
            None => Code::Missing,
            Some(name) => {
                let deployed = aws
                    .lambda
                    .get_function_configuration()
                    .function_name(name)
                    .send()
                    .await;
                match deployed {
                    Err(err)
                        if err
                            .as_service_error()
                            .is_some_and(|e| e.is_resource_not_found_exception()) =>
                    {
                        Code::Missing
                    }
                    Err(err) => {
                        return Err(err)
                            .with_sdk_context(|| format!("cannot read the function {name}"));
                    }
                    Ok(configuration) => {
                        match built.and_then(|manifest| manifest.functions.get(function.name())) {
                            None => Code::NotCompared,
                            Some(artifact)
                                if configuration.code_sha256()
                                    == Some(lambda_code_sha256(&artifact.sha256).as_str()) =>
                            {
                                Code::Current
                            }
                            Some(_) => Code::Differs,
                        }
                    }
                }
            }
        };
        functions.insert(function.name().to_owned(), code);
    }

    let mapping = match app_ids.get(Function::Projector.logical_id().as_str()) {
        None => None,
        Some(projector) => {
            let listed = aws
                .lambda
                .list_event_source_mappings()
                .function_name(projector)
                .send()
                .await
                .with_sdk_context(|| "cannot list the projector's event source mappings")?;
            listed.event_source_mappings().first().map(|mapping| {
                (
                    mapping.state().unwrap_or("unknown").to_owned(),
                    mapping
                        .last_processing_result()
                        .unwrap_or("no batch yet")
                        .to_owned(),
                )
            })
        }
    };

    let (parked_count, parked) = match data_ids.get(Table::StreamIndex.logical_id().as_str()) {
        None => (0, Vec::new()),
        Some(stream_index) => {
            // Only the stream index is read; the other names are unused.
            let tables = TableNames {
                events: String::new(),
                stream_index: stream_index.clone(),
                read_model: String::new(),
                replays: String::new(),
            };
            let store = DynamoStore::new(aws.dynamodb.clone(), tables);
            let all = store
                .parked(None, PARKED_COUNTED)
                .await
                .map_err(|err| anyhow::anyhow!("cannot list the parked records: {err}"))?;
            (all.len(), all.into_iter().take(PARKED_SHOWN).collect())
        }
    };

    let rebuild = match (&app, &data) {
        // A stack that lacks its tables (a first deploy cut short) has
        // no rebuild to show.
        (Some(_), Some(_)) => match crate::replays::DeployedReplays::find(aws, stack_name).await {
            Ok(replays) => replays.current_rebuild().await?,
            Err(_) => None,
        },
        _ => None,
    };
    let api_url = app.as_ref().and_then(|info| {
        info.outputs.get(API_URL_OUTPUT).cloned().or_else(|| {
            app_ids
                .get(API_ID)
                .map(|id| crate::stack::api_url(id, &aws.region))
        })
    });
    Ok(Overview {
        app: state(stack_name, app.as_ref()),
        data: state(&data_name, data.as_ref()),
        api_url,
        failure_queue_url: app
            .as_ref()
            .and_then(|info| info.outputs.get(FAILURE_QUEUE_URL_OUTPUT).cloned()),
        functions,
        mapping,
        parked_count,
        parked,
        rebuild,
    })
}

fn state(name: &str, info: Option<&StackInfo>) -> StackState {
    StackState {
        name: name.to_owned(),
        status: info.map(|info| info.status.to_string()),
        reason: info.and_then(|info| info.status_reason.clone()),
    }
}

/// Lambda's `CodeSha256`: the package's SHA-256 in base64, from its hex.
pub fn lambda_code_sha256(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The overview as lines for a terminal.
pub fn render(overview: &Overview) -> String {
    let mut out = String::new();
    let stack_line = |out: &mut String, label: &str, state: &StackState| {
        let status = state.status.as_deref().unwrap_or("not deployed");
        let reason = state
            .reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let _ = writeln!(out, "{label:<14}{}  {status}{reason}", state.name);
    };
    stack_line(&mut out, "app stack", &overview.app);
    stack_line(&mut out, "data stack", &overview.data);
    if let Some(url) = &overview.api_url {
        let _ = writeln!(out, "{:<14}{url}", "API");
    }
    if let Some(url) = &overview.failure_queue_url {
        let _ = writeln!(out, "{:<14}{url}", "failure queue");
    }
    let _ = writeln!(out, "functions");
    for (name, code) in &overview.functions {
        let said = match code {
            Code::Current => "current (the code a build makes now)",
            Code::Differs => "differs from a build now: cargo xtask deploy updates it",
            Code::Missing => "not deployed",
            Code::NotCompared => "deployed (not compared with a build)",
        };
        let _ = writeln!(out, "  {name:<15}{said}");
    }
    match &overview.mapping {
        Some((state, last)) => {
            let _ = writeln!(out, "{:<14}{state}, last batch: {last}", "stream mapping");
        }
        None => {
            let _ = writeln!(out, "{:<14}none", "stream mapping");
        }
    }
    match &overview.rebuild {
        Some(job) => {
            let _ = writeln!(
                out,
                "{:<14}{}",
                "rebuild",
                crate::replays::describe_job(job)
            );
        }
        None => {
            let _ = writeln!(out, "{:<14}none running", "rebuild");
        }
    }
    if overview.parked_count == 0 {
        let _ = writeln!(out, "{:<14}none", "parked");
    } else {
        let more = if overview.parked_count >= PARKED_COUNTED {
            "+"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<14}{}{more} records the projector can never project:",
            "parked", overview.parked_count
        );
        for record in &overview.parked {
            let _ = writeln!(
                out,
                "  {}  {}  {}",
                domain::event::format_timestamp(record.parked_at),
                record.source,
                record.reason
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambdas_code_hash_is_the_packages_sha256_in_base64() {
        // SHA-256 of the empty string.
        assert_eq!(
            lambda_code_sha256("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
