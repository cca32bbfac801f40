//! The alarms' part of `status`: each alarm the app stack holds (found
//! by its logical ID among the stack's resources), its state and since
//! when, from CloudWatch's DescribeAlarms.

use aws_sdk_cloudwatch::Client;

use crate::deploy::aws::SdkResultExt;

/// DescribeAlarms' most alarm names per request.
const NAMES_PER_REQUEST: usize = 100;

/// An alarm and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlarmState {
    pub name: String,
    /// `OK`, `ALARM`, `INSUFFICIENT_DATA`; `not found` when the stack
    /// names an alarm CloudWatch does not have.
    pub state: String,
    /// When it entered that state (RFC 3339), if CloudWatch says.
    pub since: Option<String>,
}

/// The state of each alarm of `names`, in that order.
pub async fn alarm_states(client: &Client, names: &[String]) -> anyhow::Result<Vec<AlarmState>> {
    let mut found = std::collections::BTreeMap::new();
    for chunk in names.chunks(NAMES_PER_REQUEST) {
        let mut next_token = None;
        loop {
            let page = client
                .describe_alarms()
                .set_alarm_names(Some(chunk.to_vec()))
                .set_next_token(next_token.take())
                .send()
                .await
                .with_sdk_context(|| "cannot read the alarms' states")?;
            for alarm in page.metric_alarms() {
                let Some(name) = alarm.alarm_name() else {
                    continue;
                };
                let state = alarm
                    .state_value()
                    .map_or("unknown", |state| state.as_str())
                    .to_owned();
                let since = alarm
                    .state_updated_timestamp()
                    .and_then(|at| at.fmt(aws_smithy_types::date_time::Format::DateTime).ok());
                found.insert(name.to_owned(), (state, since));
            }
            match page.next_token() {
                Some(token) => next_token = Some(token.to_owned()),
                None => break,
            }
        }
    }
    Ok(names
        .iter()
        .map(|name| {
            let (state, since) = found
                .remove(name)
                .unwrap_or_else(|| ("not found".to_owned(), None));
            AlarmState {
                name: name.clone(),
                state,
                since,
            }
        })
        .collect())
}
