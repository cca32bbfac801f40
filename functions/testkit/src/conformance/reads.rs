//! The cases of `EventStore::read_events`, what `GET /readStream` pages
//! through, of event metadata, and of listing streams at size.

use domain::{
    Direction, EventMetadata, EventsPage, EventsQuery, PageSize, RecordedEvent, StreamSummary,
};
use serde_json::json;

use super::support::*;

fn query(stream: &StreamId, direction: Direction, from: Option<u64>, limit: usize) -> EventsQuery {
    EventsQuery {
        stream_id: stream.clone(),
        direction,
        from: from.map(EventId::new),
        limit: PageSize::new(limit).expect("a page size"),
    }
}

async fn page(stores: &Stores, query: &EventsQuery) -> Option<EventsPage> {
    stores
        .events
        .read_events(query)
        .await
        .unwrap_or_else(|err| panic!("read {query:?}: {err:?}"))
}

/// Follows `next` from `first` to the end, checking each page's bounds.
async fn read_through(stores: &Stores, first: EventsQuery) -> Vec<RecordedEvent> {
    let mut query = first;
    let mut events = Vec::new();
    loop {
        let page = page(stores, &query).await.expect("a known stream");
        assert!(
            page.events.len() <= query.limit.get(),
            "a page holds at most its limit"
        );
        assert!(
            page.events.iter().all(|e| e.stream_id == query.stream_id),
            "a page holds only its stream's events"
        );
        events.extend(page.events);
        match page.next {
            Some(next) => query.from = Some(next),
            None => return events,
        }
    }
}

/// Forward and backward, in pages that do not divide the stream, every
/// event comes once in order, each page starting where the last said, and
/// each page carries the stream's version.
pub async fn events_read_in_pages_forward_and_backward_each_once(stores: Stores) {
    let stream = unique_stream("read-pages");
    let mut appended = Vec::new();
    for n in 0..23 {
        let command = if n == 0 {
            created(&stream, "a", 1)
        } else {
            changed(&stream, "a", n)
        };
        appended.push(append(&stores, command, n as i64).await);
    }
    let forward = read_through(&stores, query(&stream, Direction::Forward, None, 5)).await;
    assert_eq!(forward, appended);
    let backward = read_through(&stores, query(&stream, Direction::Backward, None, 4)).await;
    let mut reversed = appended.clone();
    reversed.reverse();
    assert_eq!(backward, reversed);

    let first = page(&stores, &query(&stream, Direction::Backward, None, 4))
        .await
        .expect("a known stream");
    assert_eq!(first.version, version(22));
    assert_eq!(ids(&first.events), [22, 21, 20, 19]);
    assert_eq!(first.next, Some(EventId::new(18)));
    let middle = page(&stores, &query(&stream, Direction::Forward, Some(10), 5))
        .await
        .expect("a known stream");
    assert_eq!(middle.version, version(22));
    assert_eq!(ids(&middle.events), [10, 11, 12, 13, 14]);
    assert_eq!(middle.next, Some(EventId::new(15)));
    let from_inside = page(&stores, &query(&stream, Direction::Backward, Some(2), 5))
        .await
        .expect("a known stream");
    assert_eq!(ids(&from_inside.events), [2, 1, 0]);
    assert_eq!(from_inside.next, None);
}

/// An unknown stream reads as none, in either direction; a known one read
/// forward past its end is an empty page that still says its version, and
/// backward from past its end starts at its last event.
pub async fn an_unknown_stream_reads_as_none_and_past_the_end_as_empty(stores: Stores) {
    let unknown = unique_stream("read-unknown");
    for direction in [Direction::Forward, Direction::Backward] {
        assert_eq!(
            page(&stores, &query(&unknown, direction, None, 10)).await,
            None
        );
    }
    // A refused append leaves the stream unknown.
    rejection(&stores, changed(&unknown, "a", 1)).await;
    assert_eq!(
        page(&stores, &query(&unknown, Direction::Forward, None, 10)).await,
        None
    );

    let stream = unique_stream("read-past-end");
    append(&stores, created(&stream, "a", 1), 0).await;
    append(&stores, changed(&stream, "a", 2), 1).await;
    let past = page(&stores, &query(&stream, Direction::Forward, Some(2), 10))
        .await
        .expect("a known stream");
    assert!(past.events.is_empty());
    assert_eq!((past.version, past.next), (version(1), None));
    let back = page(&stores, &query(&stream, Direction::Backward, Some(99), 10))
        .await
        .expect("a known stream");
    assert_eq!(ids(&back.events), [1, 0]);
}

/// Appends landing while a reader pages forward: it sees every event up to
/// where it stops once, in order, with no gap, and ends at the version it
/// last read.
pub async fn a_forward_read_during_appends_sees_each_event_once(stores: Stores) {
    let stream = unique_stream("read-while-appending");
    append(&stores, created(&stream, "a", 0), 0).await;
    let writer = {
        let events = stores.events.clone();
        let stream = stream.clone();
        tokio::spawn(async move {
            for n in 1..=60u64 {
                try_append(&*events, &changed(&stream, "a", n), at(n as i64))
                    .await
                    .expect("an append");
            }
        })
    };
    let mut seen = Vec::new();
    let mut from = EventId::FIRST;
    let mut reads = 0;
    loop {
        reads += 1;
        assert!(reads < 10_000, "the reader never caught up");
        let page = page(
            &stores,
            &EventsQuery::forward(stream.clone(), from, PageSize::new(3).expect("3")),
        )
        .await
        .expect("a known stream");
        assert!(
            page.version.get() >= seen.len() as i64 - 1,
            "the version is never behind what was read"
        );
        seen.extend(ids(&page.events));
        match page.next {
            Some(next) => from = next,
            None if writer.is_finished() && page.version.get() == 60 => break,
            None => {
                from = seen
                    .last()
                    .map_or(EventId::FIRST, |last| EventId::new(last + 1));
                tokio::task::yield_now().await;
            }
        }
    }
    writer.await.expect("the writer ran");
    assert_eq!(seen, (0..=60).collect::<Vec<_>>());
}

/// Metadata comes back with its event, from a read and from a repeat of
/// its idempotent request; an event without metadata reads back without.
pub async fn metadata_is_stored_with_its_event_and_read_back(stores: Stores) {
    let stream = unique_stream("read-metadata");
    let metadata = EventMetadata::from_json(
        &json!({
            "correlationId": "😀".repeat(250),
            "causationId": "cause-1",
            "tenant": "acme",
            "note": "x".repeat(3000),
        }),
        "metadata",
    )
    .expect("valid metadata");
    let key = unique_key("metadata");
    let command = keyed(
        created(&stream, "a", 1).with_metadata(metadata.clone()),
        &key,
    );
    let first = append(&stores, command.clone(), 0).await;
    assert_eq!(first.metadata, metadata);
    let repeat = try_append(&*stores.events, &command, at(1))
        .await
        .expect("a repeat answers");
    assert_eq!(
        (repeat.event_id, &repeat.metadata),
        (first.event_id, &metadata)
    );
    // The same key with other metadata is another request.
    let other = keyed(
        created(&stream, "a", 1).with_metadata(EventMetadata::default()),
        &key,
    );
    assert!(matches!(
        rejection(&stores, other).await,
        domain::Rejection::IdempotencyKeyReused { .. }
    ));
    append(&stores, changed(&stream, "a", 2), 2).await;
    let events = read_through(&stores, query(&stream, Direction::Forward, None, 10)).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].metadata, metadata);
    assert!(events[1].metadata.is_empty());
    assert_eq!(read_all(&stores, &stream).await, events);
}

/// A stream whose id is 1,000 bytes of UTF-8 reads and lists like any.
pub async fn a_stream_with_the_longest_id_reads_and_lists(stores: Stores) {
    // 249 four-byte characters and four of a unique id: 1,000 bytes, 253
    // characters, within both limits.
    let prefix = "😀".repeat(249);
    let unique = unique_stream("x");
    let tail: String = unique.as_str().chars().rev().take(4).collect();
    let stream = StreamId::parse(format!("{prefix}{tail}"), "streamId").expect("the longest id");
    assert_eq!(stream.as_str().len(), 1000);
    let recorded = append(&stores, created(&stream, "a", 1), 0).await;
    let read = page(&stores, &query(&stream, Direction::Backward, None, 10))
        .await
        .expect("a known stream");
    assert_eq!(read.events, std::slice::from_ref(&recorded));
    // The prefix sorts just before the stream.
    let start = StreamId::parse(prefix, "streamId").expect("a prefix");
    let listed = stores
        .events
        .list_streams(Some(&start), 1)
        .await
        .expect("list the streams");
    assert_eq!(
        listed.streams,
        [StreamSummary {
            stream_id: stream,
            version: recorded.event_id,
            updated_at: recorded.recorded_at,
        }]
    );
}

/// Ten thousand streams list in full pages, each once, in id order.
pub async fn ten_thousand_streams_list_in_pages_each_once(stores: Stores) {
    const STREAMS: usize = 10_000;
    let prefix = unique_stream("many").as_str().to_owned();
    let ids: Vec<StreamId> = (0..STREAMS)
        .map(|n| StreamId::parse(format!("{prefix}-{n:05}"), "streamId").expect("an id"))
        .collect();
    match &stores.seed_first_events {
        Some(seed) => {
            let events = ids
                .iter()
                .map(|stream| created(stream, "a", 1).recorded(EventId::FIRST, at(0)))
                .collect();
            seed(events).await;
        }
        None => {
            let writers: Vec<_> = ids
                .chunks(STREAMS / 16)
                .map(|chunk| {
                    let events = stores.events.clone();
                    let chunk = chunk.to_vec();
                    tokio::spawn(async move {
                        for stream in chunk {
                            try_append(&*events, &created(&stream, "a", 1), at(0))
                                .await
                                .expect("an append");
                        }
                    })
                })
                .collect();
            for writer in futures::future::join_all(writers).await {
                writer.expect("a writer ran");
            }
        }
    }
    let mut after = Some(StreamId::parse(prefix.clone(), "streamId").expect("a prefix"));
    let mut listed = Vec::new();
    loop {
        let page = stores
            .events
            .list_streams(after.as_ref(), domain::MAX_PAGE_ITEMS)
            .await
            .expect("list the streams");
        let mine: Vec<StreamId> = page
            .streams
            .iter()
            .map(|summary| summary.stream_id.clone())
            .take_while(|id| id.as_str().starts_with(&prefix))
            .collect();
        let done = mine.len() < page.streams.len() || !page.more;
        if !done {
            assert_eq!(
                mine.len(),
                domain::MAX_PAGE_ITEMS,
                "a page short of its end is full"
            );
        }
        after = page.streams.last().map(|last| last.stream_id.clone());
        listed.extend(mine);
        if done {
            break;
        }
    }
    assert_eq!(listed, ids);
}
