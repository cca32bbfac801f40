//! One log line, readable: the functions' JSON lines (tracing-subscriber's
//! JSON format, `service::telemetry`) as time, function, level, request
//! and message with the other fields after it; anything else (Lambda's
//! own `START`/`END`/`REPORT` lines, a panic message) as it is.

use chrono::DateTime;
use serde_json::Value;
use service::functions::Function;

/// Whether a line is coloured (a terminal) or plain (a pipe, a file, a
/// test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    Colour,
}

/// How many characters of a request ID are shown: enough to tell the
/// requests of a few minutes apart.
const REQUEST_ID_CHARS: usize = 8;

/// The line for the event `message` that `function` logged at `timestamp`
/// (milliseconds since the Unix epoch, shown as UTC):
/// `<HH:MM:SS.mmm> <function> <LEVEL> <request> <message> key=value ...`
/// for a JSON line, `<HH:MM:SS.mmm> <function> <message>` for any other.
pub fn render(function: Function, timestamp: i64, message: &str, style: Style) -> String {
    let time = DateTime::from_timestamp_millis(timestamp).map_or_else(
        || "--:--:--.---".to_owned(),
        |t| t.format("%H:%M:%S%.3f").to_string(),
    );
    let width = Function::longest_name_len();
    let mut line = format!(
        "{} {}",
        paint(&time, DIM, style),
        paint(&format!("{function:<width$}"), CYAN, style)
    );
    let message = message.trim_end();
    match Structured::parse(message) {
        Some(event) => {
            let level = format!("{:<5}", event.level);
            let request = format!(
                "{:<REQUEST_ID_CHARS$}",
                event.request.as_deref().unwrap_or("-")
            );
            line.push(' ');
            line.push_str(&paint(&level, level_colour(&event.level), style));
            line.push(' ');
            line.push_str(&paint(&request, DIM, style));
            if !event.message.is_empty() {
                line.push(' ');
                line.push_str(&event.message);
            }
            for (key, value) in event.fields {
                line.push(' ');
                line.push_str(&paint(&format!("{key}="), DIM, style));
                line.push_str(&value);
            }
        }
        None => {
            line.push(' ');
            line.push_str(message);
        }
    }
    line
}

/// A JSON line of tracing-subscriber, as far as it is shown.
struct Structured {
    level: String,
    /// The short request ID of the invocation's span.
    request: Option<String>,
    message: String,
    /// The other fields, sorted by key, values compact.
    fields: Vec<(String, String)>,
}

impl Structured {
    /// `None` unless `line` is a JSON object with `fields`.
    fn parse(line: &str) -> Option<Structured> {
        if !line.starts_with('{') {
            return None;
        }
        let value: Value = serde_json::from_str(line).ok()?;
        let object = value.as_object()?;
        let fields = object.get("fields")?.as_object()?;
        let level = object
            .get("level")
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_owned();
        let request = object
            .get("spans")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|span| span.get("requestId")?.as_str())
            .map(|id| id.chars().take(REQUEST_ID_CHARS).collect());
        let message = match fields.get("message") {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let mut rest: Vec<(String, String)> = fields
            .iter()
            // `log.*`: where a `log` record came from (file, line, module),
            // added when one is turned into a tracing event.
            .filter(|(key, _)| *key != "message" && !key.starts_with("log."))
            .map(|(key, value)| (key.clone(), compact(value)))
            .collect();
        rest.sort();
        Some(Structured {
            level,
            request,
            message,
            fields: rest,
        })
    }
}

/// A field's value as `key=value` shows it: a string bare when it has no
/// space, quote or `=`, else quoted; anything else as compact JSON.
fn compact(value: &Value) -> String {
    match value {
        Value::String(text)
            if !text.is_empty()
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=') =>
        {
            text.clone()
        }
        other => other.to_string(),
    }
}

const DIM: &str = "2";
const CYAN: &str = "36";

fn level_colour(level: &str) -> &'static str {
    match level {
        "ERROR" => "31",
        "WARN" => "33",
        "INFO" => "32",
        "DEBUG" => "34",
        "TRACE" => "35",
        _ => "0",
    }
}

fn paint(text: &str, colour: &str, style: Style) -> String {
    match style {
        Style::Plain => text.to_owned(),
        Style::Colour => format!("\x1b[{colour}m{text}\x1b[0m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-05-01T12:34:56.789Z.
    const AT: i64 = 1_714_566_896_789;

    fn plain(function: Function, message: &str) -> String {
        render(function, AT, message, Style::Plain)
    }

    #[test]
    fn a_json_line_shows_level_request_message_and_sorted_fields() {
        let line = r#"{"timestamp":"2024-05-01T12:34:56.789012Z","level":"INFO","fields":{"message":"appended","stream_id":"s-1","version":3,"ok":true,"note":"two words"},"target":"service::api","spans":[{"name":"Lambda runtime invoke","requestId":"8f5c2a1e-0b9d-4c4e-9d35-3f2a1b0c9d8e","xrayTraceId":"Root=1-6632"}]}"#;
        assert_eq!(
            plain(Function::AddEvent, line),
            r#"12:34:56.789 add-event      INFO  8f5c2a1e appended note="two words" ok=true stream_id=s-1 version=3"#
        );
    }

    #[test]
    fn a_json_line_without_a_request_or_message_still_lines_up() {
        let line = r#"{"timestamp":"x","level":"WARN","fields":{"batch":{"records":2}},"target":"service::projector"}"#;
        assert_eq!(
            plain(Function::Projector, line),
            r#"12:34:56.789 projector      WARN  -        batch={"records":2}"#
        );
        let line = r#"{"level":"ERROR","fields":{"message":"failed","log.file":"src/x.rs","log.line":3,"error":""},"spans":[]}"#;
        assert_eq!(
            plain(Function::Replay, line),
            r#"12:34:56.789 replay         ERROR -        failed error="""#
        );
    }

    #[test]
    fn lambdas_own_lines_and_anything_not_json_are_shown_as_they_are() {
        for message in [
            "START RequestId: 8f5c2a1e-0b9d-4c4e-9d35-3f2a1b0c9d8e Version: $LATEST",
            "END RequestId: 8f5c2a1e-0b9d-4c4e-9d35-3f2a1b0c9d8e",
            "REPORT RequestId: 8f5c2a1e-0b9d-4c4e-9d35-3f2a1b0c9d8e\tDuration: 1.52 ms\tBilled Duration: 36 ms",
            "thread 'main' panicked at src/main.rs:3:5",
            "{not json",
            r#"{"level":"INFO","message":"no fields object"}"#,
            "[1,2]",
        ] {
            assert_eq!(
                plain(Function::ListItems, &format!("{message}\n")),
                format!("12:34:56.789 list-items     {message}")
            );
        }
    }

    #[test]
    fn colour_marks_the_parts_only_when_asked() {
        let line = r#"{"level":"ERROR","fields":{"message":"boom"}}"#;
        let coloured = render(Function::AddEvent, AT, line, Style::Colour);
        assert!(coloured.contains("\x1b[31mERROR\x1b[0m"), "{coloured:?}");
        assert!(
            coloured.contains("\x1b[2m12:34:56.789\x1b[0m"),
            "{coloured:?}"
        );
        assert!(!plain(Function::AddEvent, line).contains('\x1b'));
    }
}
