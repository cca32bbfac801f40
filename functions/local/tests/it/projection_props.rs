//! The projector's contract, as a property: however a log is delivered —
//! repeated, split into batches of any size, reordered across items and
//! streams — the read model ends equal to the fold of the log.

use chrono::Utc;
use domain::{
    Amount, AppendCommand, DomainEvent, EventId, EventType, ItemId, RecordedEvent, StreamFold,
    StreamId, decide,
};
use local::sqlite::SqliteStore;
use proptest::prelude::*;
use service::projector::project;
use testkit::conformance::event_of;

const STREAMS: usize = 2;
const ITEMS: usize = 5;

/// Turns arbitrary (stream, item, choice, amount) picks into a valid log:
/// each pick becomes an event of the type it picks from `EventType::ALL`,
/// or of the next one after it that the stream rules allow for that item.
fn valid_log(picks: &[(usize, usize, u8, u64)]) -> (Vec<RecordedEvent>, Vec<StreamFold>) {
    let streams: Vec<StreamId> = (0..STREAMS)
        .map(|s| StreamId::parse(format!("stream-{s}"), "streamId").unwrap())
        .collect();
    let mut folds = vec![StreamFold::new(); STREAMS];
    let mut log = Vec::new();
    for &(stream, item, choice, amount) in picks {
        let item_id = ItemId::parse(format!("item-{item}"), "itemId").unwrap();
        let amount = Amount::new(amount).unwrap();
        let fold = &mut folds[stream];
        let state = fold.decision_state(&item_id);
        let types = EventType::ALL.len();
        let event = (0..types)
            .map(|k| EventType::ALL[(usize::from(choice) + k) % types])
            .map(|event_type| event_of(event_type, item_id.clone(), amount))
            .find(|event| {
                let command = AppendCommand::new(streams[stream].clone(), event.clone(), None);
                decide(&state, &command).is_ok()
            })
            .expect("every item takes an event of some type");
        let recorded = RecordedEvent {
            stream_id: streams[stream].clone(),
            event_id: fold.version().next_event_id(),
            recorded_at: Utc::now(),
            event,
            metadata: Default::default(),
        };
        fold.apply(&recorded);
        log.push(recorded);
    }
    (log, folds)
}

fn deliveries()
-> impl Strategy<Value = (Vec<RecordedEvent>, Vec<StreamFold>, Vec<usize>, Vec<usize>)> {
    prop::collection::vec((0..STREAMS, 0..ITEMS, any::<u8>(), 0..1_000u64), 1..60)
        .prop_flat_map(|picks| {
            let n = picks.len();
            (Just(picks), prop::collection::vec(0..n, 0..2 * n))
        })
        .prop_flat_map(|(picks, repeats)| {
            let (log, folds) = valid_log(&picks);
            // Every event at least once, some more than once, in any order.
            let mut order: Vec<usize> = (0..log.len()).collect();
            order.extend(repeats);
            (
                Just(log),
                Just(folds),
                Just(order).prop_shuffle(),
                prop::collection::vec(1usize..12, 1..30),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_delivery_converges_to_the_fold((log, folds, order, sizes) in deliveries()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = SqliteStore::open_in_memory().expect("an in-memory store");
            let mut rest = order.as_slice();
            let mut size = sizes.iter().cycle();
            while !rest.is_empty() {
                let take = (*size.next().unwrap()).min(rest.len());
                let batch: Vec<RecordedEvent> = rest[..take].iter().map(|&i| log[i].clone()).collect();
                rest = &rest[take..];
                let failed = project(&store, &batch).await;
                prop_assert!(failed.is_empty(), "projection failed: {failed:?}");
            }
            for (index, fold) in folds.iter().enumerate() {
                let stream = StreamId::parse(format!("stream-{index}"), "streamId").unwrap();
                // Small pages, so that paging is part of the property.
                let listed: Vec<(ItemId, Amount)> = crate::list_all(&store, &stream, 2)
                    .await
                    .into_iter()
                    .map(|view| (view.item_id, view.amount))
                    .collect();
                prop_assert_eq!(listed, fold.items());
            }
            Ok(())
        })?;
    }
}

#[test]
fn a_late_older_event_cannot_undo_a_delete() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let deletion = EventType::ALL
            .iter()
            .position(|t| *t == EventType::ItemDeleted)
            .unwrap() as u8;
        let (log, folds) = valid_log(&[(0, 1, 0, 7), (0, 1, deletion, 0)]);
        assert!(matches!(log[1].event, DomainEvent::ItemDeleted { .. }));
        let store = SqliteStore::open_in_memory().unwrap();
        assert!(project(&store, &log[1..]).await.is_empty());
        assert!(project(&store, &log[..1]).await.is_empty());
        let stream = log[0].stream_id.clone();
        assert_eq!(crate::list_all(&store, &stream, 1).await, vec![]);
        assert_eq!(folds[0].items(), vec![]);
        assert_eq!(log[1].event_id, EventId::new(1));
    });
}
