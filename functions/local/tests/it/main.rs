//! Local mode's tests, in one binary so the AWS SDK is linked once: the
//! server end to end over HTTP, its answers while DynamoDB stalls, the
//! projector through injected failures,
//! the API key kept out of the logs, the projector's convergence property
//! on SQLite, `openapi.yaml` against the routes and error codes, the
//! SQLite adapter against
//! the conformance suite, and local mode at size (100,000 items, replays
//! of 20,000 events).

mod at_size;
mod deadlines;
mod e2e;
mod failures;
mod logs;
mod openapi;
mod projection_props;
mod sqlite_conformance;

use domain::{ItemView, ListQuery, PageSize, ReadModel, StreamId};

/// Every live item of `stream`, read page by page with `limit` items a page,
/// checking each page against the paging contract on the way.
async fn list_all(read_model: &dyn ReadModel, stream: &StreamId, limit: usize) -> Vec<ItemView> {
    let mut query = ListQuery {
        stream_id: stream.clone(),
        after: None,
        limit: PageSize::new(limit).expect("a page size"),
    };
    let mut all: Vec<ItemView> = Vec::new();
    loop {
        let page = read_model.list(&query).await.expect("list");
        assert!(page.items.len() <= limit, "a page holds at most its limit");
        assert!(
            !page.more || page.items.len() == limit,
            "a page short of its limit is the last"
        );
        let next = page.next_cursor();
        all.extend(page.items);
        match next {
            Some(cursor) => query.after = Some(cursor.into_item_id()),
            None => return all,
        }
    }
}
