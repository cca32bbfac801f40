//! What the tests share: the storage conformance suite and an in-memory
//! store that passes it, the project venv and the AWS emulator, a proxy
//! that makes the emulator stall, a Lambda Runtime API stub and the checks
//! that run the function binaries against it, and unique names for what
//! tests create.

pub mod aws_calls;
pub mod capacity;
pub mod conformance;
pub mod faults;
pub mod function_binary;
pub mod memory;
pub mod moto;
pub mod runtime_api;
pub mod stall;
pub mod venv;

/// Appends `count` events to `stream`, over ten items `i0`..`i9`: each is
/// created, then only its amount changes (event `n` sets amount `n`).
/// What tests of replays use to make a log of any length; the fold of the
/// result is the ten items' last amounts.
pub async fn seed_amount_changes(
    events: &dyn domain::EventStore,
    stream: &domain::StreamId,
    count: u64,
) -> Vec<domain::RecordedEvent> {
    use domain::{Amount, AppendCommand, DomainEvent, ItemId};
    let mut log = Vec::new();
    for n in 0..count {
        let item_id = ItemId::parse(format!("i{}", n % 10), "itemId").expect("a valid item id");
        let amount = Amount::new(n).expect("a valid amount");
        let event = if n < 10 {
            DomainEvent::ItemCreated { item_id, amount }
        } else {
            DomainEvent::ItemAmountChanged { item_id, amount }
        };
        let command = AppendCommand {
            stream_id: stream.clone(),
            event,
            expected_version: None,
            idempotency: None,
            metadata: Default::default(),
        };
        let recorded = events
            .append(&command, chrono::Utc::now())
            .await
            .expect("an append of a valid event");
        log.push(recorded);
    }
    log
}

/// The stream's live items as (id, amount), read in pages of 3 so that
/// every caller also exercises the cursor; each page is checked against
/// its limit. What the tests compare with `StreamFold::items`.
pub async fn listed(
    read_model: &dyn domain::ReadModel,
    stream: &domain::StreamId,
) -> Vec<(domain::ItemId, domain::Amount)> {
    use domain::{ItemView, ListQuery, PageSize};
    const LIMIT: usize = 3;
    let mut all = Vec::new();
    let mut query = ListQuery {
        stream_id: stream.clone(),
        after: None,
        limit: PageSize::new(LIMIT).expect("a page size"),
    };
    loop {
        let page = read_model.list(&query).await.expect("list");
        assert!(page.items.len() <= LIMIT, "a page holds at most its limit");
        assert!(
            !page.more || page.items.len() == LIMIT,
            "a page short of its limit is the last"
        );
        let next = page.next_cursor();
        all.extend(
            page.items
                .into_iter()
                .map(|ItemView { item_id, amount }| (item_id, amount)),
        );
        match next {
            Some(cursor) => query.after = Some(cursor.into_item_id()),
            None => return all,
        }
    }
}

/// A name no other test, run or process uses: `<label>-<pid>-<time>-<n>`.
/// Tests that share one emulator name everything they create with it.
pub fn unique_name(label: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{label}-{}-{nanos:x}-{n}", std::process::id())
}
