//! The deployment's CloudWatch dashboard, named after the stack: appends
//! per minute, each route's latency (p50 and p99 of its function's
//! duration), the projector's iterator age, errors and throttles per
//! function, the failure queue's depth, and replay activity. Its body is
//! typed structs serialized to JSON, with `${...}` placeholders that
//! CloudFormation's `Fn::Sub` fills in (the stack's name, the region, the
//! queue's name).

use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use service::functions::{Function, Route};

use super::FunctionResources;
use super::alarms::{REPLAY_FAILED_METRIC, metric_namespace_sub};
use super::failures::FAILURE_QUEUE_ID;
use crate::cfn::cloudwatch::Dashboard;
use crate::cfn::{Attribute, Expr, Pseudo, Template};

/// The dashboard's logical ID.
pub const DASHBOARD_ID: &str = "Dashboard";
/// The widgets' grid: two columns of 12 of the dashboard's 24 units.
const WIDGET_WIDTH: u32 = 12;
const WIDGET_HEIGHT: u32 = 6;
/// Each point is a minute.
const PERIOD_SECONDS: u32 = 60;

/// The dashboard's URL in the console of `region`'s partition; the
/// dashboard is named after the stack. `None` where there is no public
/// console.
pub fn dashboard_url(region: &str, stack_name: &str) -> Option<String> {
    crate::partition::console_host(region).map(|host| {
        format!("https://{host}/cloudwatch/home?region={region}#dashboards:name={stack_name}")
    })
}

/// A dashboard body: its widgets.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Body {
    pub widgets: Vec<Widget>,
}

/// A metric widget at its place in the grid.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Widget {
    #[serde(rename = "type")]
    pub kind: WidgetKind,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub properties: MetricWidget,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WidgetKind {
    Metric,
}

/// A graph of metrics over time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricWidget {
    pub title: String,
    pub region: String,
    pub view: View,
    pub stacked: bool,
    pub period: u32,
    pub metrics: Vec<MetricLine>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum View {
    #[serde(rename = "timeSeries")]
    TimeSeries,
}

/// One line of a graph: `[namespace, metric, dimension, value, ...,
/// {stat, label}]`, as CloudWatch's dashboard body has it.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricLine {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub options: LineOptions,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LineOptions {
    /// `Sum`, `Maximum`, `p50`, `p99`, ...
    pub stat: String,
    pub label: String,
}

impl Serialize for MetricLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(&self.namespace)?;
        seq.serialize_element(&self.metric)?;
        for (name, value) in &self.dimensions {
            seq.serialize_element(name)?;
            seq.serialize_element(value)?;
        }
        seq.serialize_element(&self.options)?;
        seq.end()
    }
}

fn line(
    namespace: &str,
    metric: &str,
    dimensions: &[(&str, String)],
    stat: &str,
    label: String,
) -> MetricLine {
    MetricLine {
        namespace: namespace.to_owned(),
        metric: metric.to_owned(),
        dimensions: dimensions
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect(),
        options: LineOptions {
            stat: stat.to_owned(),
            label,
        },
    }
}

/// A line of a Lambda metric of `function`.
fn lambda(metric: &str, function: Function, stat: &str, label: String) -> MetricLine {
    line(
        "AWS/Lambda",
        metric,
        &[("FunctionName", function.deployed_name_sub())],
        stat,
        label,
    )
}

/// The dashboard's graphs, in reading order.
fn graphs() -> Vec<(String, Vec<MetricLine>)> {
    let per_function = |metric: &str| -> Vec<MetricLine> {
        Function::ALL
            .into_iter()
            .map(|f| lambda(metric, f, "Sum", f.name().to_owned()))
            .collect()
    };
    let latency = Route::ALL
        .into_iter()
        .flat_map(|route| {
            ["p50", "p99"].map(|stat| {
                let label = format!("{} /{} {stat}", route.method(), route.path_part());
                lambda("Duration", route.function(), stat, label)
            })
        })
        .collect();
    let namespace = metric_namespace_sub();
    vec![
        (
            "Appends per minute (add-event invocations)".to_owned(),
            vec![lambda(
                "Invocations",
                Function::AddEvent,
                "Sum",
                "appends".to_owned(),
            )],
        ),
        (
            "Latency per route (function duration, ms)".to_owned(),
            latency,
        ),
        (
            "Projector iterator age (ms behind the stream)".to_owned(),
            vec![lambda(
                "IteratorAge",
                Function::Projector,
                "Maximum",
                "iterator age".to_owned(),
            )],
        ),
        (
            "Failure queue depth".to_owned(),
            vec![line(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[(
                    "QueueName",
                    format!("${{{FAILURE_QUEUE_ID}.{}}}", Attribute::QueueName.name()),
                )],
                "Maximum",
                "records".to_owned(),
            )],
        ),
        ("Errors per function".to_owned(), per_function("Errors")),
        (
            "Throttles per function".to_owned(),
            per_function("Throttles"),
        ),
        (
            "Replays (runs and failures)".to_owned(),
            vec![
                lambda(
                    "Invocations",
                    Function::Replay,
                    "Sum",
                    "replay runs".to_owned(),
                ),
                line(
                    &namespace,
                    REPLAY_FAILED_METRIC,
                    &[],
                    "Sum",
                    "replays failed".to_owned(),
                ),
            ],
        ),
    ]
}

/// The body, with its `${...}` placeholders.
pub fn body() -> Body {
    let region = format!("${{{}}}", Pseudo::Region.name());
    let widgets = graphs()
        .into_iter()
        .enumerate()
        .map(|(index, (title, metrics))| {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            Widget {
                kind: WidgetKind::Metric,
                x: (index % 2) * WIDGET_WIDTH,
                y: (index / 2) * WIDGET_HEIGHT,
                width: WIDGET_WIDTH,
                height: WIDGET_HEIGHT,
                properties: MetricWidget {
                    title,
                    region: region.clone(),
                    view: View::TimeSeries,
                    stacked: false,
                    period: PERIOD_SECONDS,
                    metrics,
                },
            }
        })
        .collect();
    Body { widgets }
}

pub(super) fn add_dashboard(template: &mut Template) {
    let json = serde_json::to_string(&body()).expect("the dashboard body serializes");
    template.resource(
        DASHBOARD_ID,
        Dashboard {
            dashboard_name: Some(Pseudo::StackName.reference()),
            dashboard_body: Expr::sub(json),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_opens_the_dashboard_in_the_regions_console() {
        assert_eq!(
            dashboard_url("eu-west-1", "evs").as_deref(),
            Some(
                "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards:name=evs"
            )
        );
        assert!(
            dashboard_url("cn-north-1", "evs")
                .unwrap()
                .contains("console.amazonaws.cn")
        );
    }

    #[test]
    fn the_body_has_a_graph_per_concern_and_only_known_placeholders() {
        let json = serde_json::to_string(&body()).unwrap();
        // Every placeholder is one Fn::Sub resolves.
        let known = [
            "${AWS::Region}",
            "${AWS::StackName}",
            "${FailureQueue.QueueName}",
        ];
        let mut rest = json.as_str();
        while let Some(start) = rest.find("${") {
            let end = rest[start..].find('}').expect("closed") + start + 1;
            assert!(known.contains(&&rest[start..end]), "{}", &rest[start..end]);
            rest = &rest[end..];
        }
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let widgets = value["widgets"].as_array().unwrap();
        assert_eq!(widgets.len(), 7);
        let latency = &widgets[1]["properties"]["metrics"];
        assert_eq!(latency.as_array().unwrap().len(), 2 * Route::ALL.len());
        assert_eq!(
            latency[0],
            serde_json::json!(["AWS/Lambda", "Duration", "FunctionName", "${AWS::StackName}-add-event", {"stat": "p50", "label": "POST /addEvent p50"}])
        );
        for widget in widgets {
            assert!(widget["x"].as_u64().unwrap() + widget["width"].as_u64().unwrap() <= 24);
        }
    }
}
