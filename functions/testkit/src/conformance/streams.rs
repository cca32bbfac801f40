//! The cases of `EventStore::list_streams`: the list of streams a rebuild
//! walks and `GET /listStreams` pages through.

use domain::StreamSummary;

use super::support::*;

/// This case's streams among those listed, page by page from the start of
/// its own ids (other cases may share the store).
async fn listed_streams(stores: &Stores, prefix: &str, limit: usize) -> Vec<Vec<StreamSummary>> {
    let start = StreamId::parse(prefix, "streamId").expect("a valid prefix");
    let mut after = Some(start);
    let mut pages = Vec::new();
    loop {
        let page = stores
            .events
            .list_streams(after.as_ref(), limit)
            .await
            .expect("list the streams");
        assert!(
            page.streams.len() <= limit,
            "a page holds at most its limit"
        );
        let mine: Vec<StreamSummary> = page
            .streams
            .iter()
            .filter(|summary| summary.stream_id.as_str().starts_with(prefix))
            .cloned()
            .collect();
        let past_mine = page
            .streams
            .iter()
            .any(|summary| !summary.stream_id.as_str().starts_with(prefix));
        after = page.streams.last().map(|last| last.stream_id.clone());
        if !mine.is_empty() {
            pages.push(mine);
        }
        if !page.more || past_mine {
            return pages;
        }
        assert!(
            after.is_some(),
            "more streams follow an empty page: {page:?}"
        );
    }
}

/// Streams are listed once each, in byte order of their ids, with their
/// last event's id and time; a refused append lists nothing, and pages
/// follow one another with no gap and no repeat.
pub async fn streams_list_in_id_order_with_their_version_and_last_write(stores: Stores) {
    let prefix = unique_stream("list-streams").as_str().to_owned();
    let named = |suffix: &str| {
        StreamId::parse(format!("{prefix}-{suffix}"), "streamId").expect("a valid stream id")
    };
    // Byte order, not character order: "Z" < "a" < "é".
    let ids = ["é", "a", "Z", "b-1", "b"].map(named);
    let mut expected = Vec::new();
    for (n, stream) in ids.iter().enumerate() {
        let mut last = None;
        for round in 0..=n {
            let command = if round == 0 {
                created(stream, "x", 1)
            } else {
                changed(stream, "x", round as u64)
            };
            last = Some(append(&stores, command, 10 * n as i64 + round as i64).await);
        }
        let last = last.expect("an event");
        expected.push(StreamSummary {
            stream_id: stream.clone(),
            version: last.event_id,
            updated_at: last.recorded_at,
        });
    }
    // Refused: its stream has no event and is not listed.
    let refused = named("refused");
    let err = stores
        .events
        .append(&changed(&refused, "x", 1), at(99))
        .await
        .expect_err("changing an absent item is refused");
    assert!(matches!(err, AppendError::Rejected(_)), "{err:?}");
    expected.sort_by(|a, b| a.stream_id.as_str().cmp(b.stream_id.as_str()));

    let whole: Vec<StreamSummary> = listed_streams(&stores, &prefix, 1000).await.concat();
    assert_eq!(whole, expected);
    let paged = listed_streams(&stores, &prefix, 2).await;
    assert!(paged.len() >= 3, "pages of two: {paged:?}");
    assert_eq!(paged.concat(), expected, "pages follow one another");
}
