//! A deploy over a kept event log rebuilds the new read model from the
//! whole log: the new stream mapping delivers only what the table's
//! stream still holds (24 hours on AWS; nothing here, where moto swallows
//! records behind a mapping), so only a rebuild of every stream brings
//! back the items whose events came before it.

use deployer::replays::DeployedReplays;
use domain::{
    Amount, AppendCommand, DomainEvent, EventStore, ItemId, LaneKey, ReplayRequest, ReplayScope,
    ReplayState, StreamFold, StreamId,
};
use service::dynamo::DynamoStore;
use service::replay_runs::{ReplayInvocation, handle_invocation};

use crate::emulated::{Emulated, always, options};

/// The deployed tables, by the names both stacks gave them.
async fn deployed_store(emulated: &Emulated) -> DynamoStore {
    DynamoStore::new(
        emulated.aws.dynamodb.clone(),
        emulated.deployed_tables().await,
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deploy_over_a_kept_log_rebuilds_every_stream_into_the_new_read_model() {
    let emulated = Emulated::new("rebuild").await;
    let build = emulated.build(&[]);
    emulated
        .deploy(&build, &options())
        .await
        .expect("the first deploy");
    let lines = emulated.progress.lines().join("\n");
    assert!(
        !lines.contains("rebuilding"),
        "no log, no rebuild:\n{lines}"
    );

    // Events no stream mapping of the next deploy will deliver.
    let first = deployed_store(&emulated).await;
    let mut logs = Vec::new();
    for stream in ["kept-a", "kept-b"] {
        let stream = StreamId::parse(stream, "streamId").expect("a stream id");
        let mut log = Vec::new();
        for (n, item) in ["x", "y", "x"].into_iter().enumerate() {
            let item_id = ItemId::parse(item, "itemId").expect("an item id");
            let amount = Amount::new(n as u64 + 1).expect("an amount");
            let event = if n < 2 {
                DomainEvent::ItemCreated { item_id, amount }
            } else {
                DomainEvent::ItemAmountChanged { item_id, amount }
            };
            let command = AppendCommand::new(stream.clone(), event, None);
            log.push(
                first
                    .append(&command, chrono::Utc::now())
                    .await
                    .expect("an append"),
            );
        }
        logs.push((stream, log));
    }

    emulated
        .destroy(false, &mut always(true))
        .await
        .expect("destroy, keeping the event store");
    let before = emulated.progress.lines().len();
    emulated
        .deploy(&build, &options())
        .await
        .expect("the deploy over the kept log");
    let said = emulated.progress.lines()[before..].join("\n");
    let rebuild_id = said
        .split("rebuilding it from every stream, replay ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("the deploy started no rebuild:\n{said}"))
        .to_owned();

    // What the replay function does with the invocation the deploy sent
    // (moto runs no function code): the same handler, on the deployed
    // tables.
    let store = deployed_store(&emulated).await;
    let replays = DeployedReplays::find(&emulated.aws, &emulated.stack)
        .await
        .expect("the deployment's replays");
    let queued = replays
        .current_rebuild()
        .await
        .expect("the rebuild reads")
        .expect("a rebuild runs or waits");
    assert_eq!(
        (queued.replay_id.as_str(), &queued.scope),
        (rebuild_id.as_str(), &ReplayScope::AllStreams)
    );
    let dispatcher = testkit::faults::RecordingDispatcher::default();
    let invocation = ReplayInvocation::Run(ReplayRequest {
        replay_id: rebuild_id.clone(),
        lane: LaneKey::AllStreams,
    });
    let job = handle_invocation(&store, &store, &store, &dispatcher, &invocation, &|| false)
        .await
        .expect("the rebuild runs")
        .expect("its job");
    assert_eq!(job.state, ReplayState::Done, "{job:?}");
    assert_eq!(job.events_applied, 6);
    assert_eq!(job.streams.map(|s| s.streams_replayed), Some(2));
    for (stream, log) in &logs {
        assert_eq!(
            testkit::listed(&store, stream).await,
            StreamFold::of(log).items(),
            "{stream}"
        );
    }

    // The read model holds the log now: the next deploy starts nothing.
    let before = emulated.progress.lines().len();
    emulated
        .deploy(&build, &options())
        .await
        .expect("an unchanged deploy");
    let said = emulated.progress.lines()[before..].join("\n");
    assert!(!said.contains("rebuilding"), "{said}");
    emulated
        .destroy(true, &mut always(true))
        .await
        .expect("destroy with the data");
}
