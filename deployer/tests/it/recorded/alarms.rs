//! `status`'s alarm lines against recorded CloudWatch answers: moto
//! 5.2.5 neither creates `AWS::CloudWatch::Alarm` through CloudFormation
//! nor speaks the CBOR protocol the SDK's CloudWatch client uses
//! (smithy RPC v2 CBOR, the protocol of CloudWatch's API model), so the
//! answer is built here as CloudWatch sends it: DescribeAlarms'
//! `MetricAlarms`, each with `AlarmName`, `StateValue` and
//! `StateUpdatedTimestamp`
//! (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html>).

use aws_smithy_cbor::Encoder;
use aws_smithy_types::DateTime;
use deployer::overview::alarms::{AlarmState, alarm_states};

use super::*;

/// A DescribeAlarms answer holding `alarms` (name, state, since).
fn described_alarms(alarms: &[(&str, &str, i64)]) -> ReplayEvent {
    let mut encoder = Encoder::new(Vec::new());
    encoder.map(1).str("MetricAlarms").array(alarms.len());
    for (name, state, since) in alarms {
        encoder
            .map(3)
            .str("AlarmName")
            .str(name)
            .str("StateValue")
            .str(state)
            .str("StateUpdatedTimestamp")
            .timestamp(&DateTime::from_secs(*since));
    }
    let response = http::Response::builder()
        .status(200)
        .header("content-type", "application/cbor")
        .header("smithy-protocol", "rpc-v2-cbor");
    reply(response, SdkBody::from(encoder.into_writer()))
}

#[tokio::test]
async fn status_shows_each_alarms_state_and_since_when_and_one_cloudwatch_lacks() {
    let replay = StaticReplayClient::new(vec![described_alarms(&[
        ("recorded-replay-failed", "ALARM", 1_767_225_600),
        ("recorded-add-event-errors", "OK", 1_767_139_200),
    ])]);
    let aws = aws(&replay).await;
    let names = [
        "recorded-add-event-errors".to_owned(),
        "recorded-replay-failed".to_owned(),
        "recorded-deleted-by-hand".to_owned(),
    ];
    let states = alarm_states(&aws.cloudwatch, &names)
        .await
        .expect("the states");
    assert_eq!(
        states,
        [
            AlarmState {
                name: names[0].clone(),
                state: "OK".to_owned(),
                since: Some("2025-12-31T00:00:00Z".to_owned()),
            },
            AlarmState {
                name: names[1].clone(),
                state: "ALARM".to_owned(),
                since: Some("2026-01-01T00:00:00Z".to_owned()),
            },
            AlarmState {
                name: names[2].clone(),
                state: "not found".to_owned(),
                since: None,
            },
        ]
    );
    // One request, naming the alarms.
    let requests: Vec<_> = replay.actual_requests().collect();
    assert_eq!(requests.len(), 1);
    let body = requests[0].body().bytes().expect("a body");
    for name in &names {
        assert!(
            body.windows(name.len()).any(|w| w == name.as_bytes()),
            "{name} not asked for"
        );
    }
}
