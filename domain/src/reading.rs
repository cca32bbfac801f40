//! Reading a stream's events a page at a time, forward or backward: what a
//! read asks, and how a page is cut from what a store fetched, so every
//! store pages alike.

use crate::event::RecordedEvent;
use crate::ids::{EventId, StreamId, Version};
use crate::limits::MAX_EVENTS_PAGE_BYTES;
use crate::paging::PageSize;

/// Which way a read goes through the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Up from `from` (the first event by default).
    Forward,
    /// Down from `from` (the last event by default).
    Backward,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Backward => "backward",
        }
    }
}

/// `GET /readStream`: a page of a stream's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsQuery {
    pub stream_id: StreamId,
    pub direction: Direction,
    /// The first event of the page; the default of its direction when
    /// `None`.
    pub from: Option<EventId>,
    pub limit: PageSize,
}

impl EventsQuery {
    pub fn forward(stream_id: StreamId, from: EventId, limit: PageSize) -> Self {
        EventsQuery {
            stream_id,
            direction: Direction::Forward,
            from: Some(from),
            limit,
        }
    }

    /// Where the page starts in a stream whose last event is `last`, or
    /// `None` when a forward read starts past the end (an empty page).
    pub fn start(&self, last: EventId) -> Option<EventId> {
        match self.direction {
            Direction::Forward => {
                let from = self.from.unwrap_or(EventId::FIRST);
                (from <= last).then_some(from)
            }
            Direction::Backward => Some(self.from.map_or(last, |from| from.min(last))),
        }
    }

    /// The ids the page may hold, in its order: what a store fetches (at
    /// most `limit` of them, fewer where its own limits say so).
    pub fn ids(&self, last: EventId) -> Vec<EventId> {
        let Some(start) = self.start(last) else {
            return Vec::new();
        };
        let limit = self.limit.get() as u64;
        match self.direction {
            Direction::Forward => (start.get()..=last.get().min(start.get() + limit - 1))
                .map(EventId::new)
                .collect(),
            Direction::Backward => (start.get().saturating_sub(limit - 1)..=start.get())
                .rev()
                .map(EventId::new)
                .collect(),
        }
    }
}

/// One page of a stream's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventsPage {
    pub stream_id: StreamId,
    /// The stream's last event id when it was read.
    pub version: Version,
    /// In the query's direction, contiguous.
    pub events: Vec<RecordedEvent>,
    /// Where the following page starts, when more events follow in the
    /// query's direction.
    pub next: Option<EventId>,
}

impl EventsPage {
    /// Cuts the page of `query` from `fetched`, the events a store read
    /// from the page's start in its direction, in that order; `last` is the
    /// stream's last event id as the store read it. The page keeps the run
    /// that starts at the start with no gap, no more than `limit` events
    /// and [`MAX_EVENTS_PAGE_BYTES`] of data and metadata (but always its
    /// first event), and says where the next page starts: a client that
    /// follows `next` reads every event once, whatever is appended
    /// meanwhile.
    pub fn cut(query: &EventsQuery, last: EventId, fetched: Vec<RecordedEvent>) -> EventsPage {
        // An append that landed between the store's two reads is in the
        // page: the version is never behind what the page shows.
        let last = fetched
            .iter()
            .map(|event| event.event_id)
            .fold(last, EventId::max);
        let mut events = Vec::new();
        let mut expected = query.start(last);
        let mut bytes = 0;
        for event in fetched {
            if Some(event.event_id) != expected || events.len() >= query.limit.get() {
                break;
            }
            bytes += page_bytes(&event);
            if !events.is_empty() && bytes > MAX_EVENTS_PAGE_BYTES {
                break;
            }
            expected = match query.direction {
                Direction::Forward => Some(event.event_id.next()),
                Direction::Backward => event.event_id.get().checked_sub(1).map(EventId::new),
            };
            events.push(event);
        }
        let next = match (events.last(), query.direction) {
            (None, _) => None,
            (Some(event), Direction::Forward) => {
                (event.event_id < last).then(|| event.event_id.next())
            }
            (Some(event), Direction::Backward) => {
                event.event_id.get().checked_sub(1).map(EventId::new)
            }
        };
        EventsPage {
            stream_id: query.stream_id.clone(),
            version: Version::of_last(last),
            events,
            next,
        }
    }
}

/// What an event weighs in a page: its data and metadata as JSON, its
/// type, and a margin for the fields around them.
fn page_bytes(event: &RecordedEvent) -> usize {
    const ENVELOPE: usize = 96;
    event.event.data().to_string().len()
        + event.metadata.encoded_len()
        + event.event.event_type().as_str().len()
        + ENVELOPE
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::event::{Amount, DomainEvent};
    use crate::ids::ItemId;
    use crate::metadata::EventMetadata;

    fn stream() -> StreamId {
        StreamId::parse("s", "streamId").unwrap()
    }

    fn event(id: u64, item: &str) -> RecordedEvent {
        RecordedEvent {
            stream_id: stream(),
            event_id: EventId::new(id),
            recorded_at: Utc::now(),
            event: DomainEvent::ItemCreated {
                item_id: ItemId::parse(item, "itemId").unwrap(),
                amount: Amount::new(1).unwrap(),
            },
            metadata: EventMetadata::default(),
        }
    }

    fn query(direction: Direction, from: Option<u64>, limit: usize) -> EventsQuery {
        EventsQuery {
            stream_id: stream(),
            direction,
            from: from.map(EventId::new),
            limit: PageSize::new(limit).unwrap(),
        }
    }

    /// Reads the stream of `last + 1` events with `query`, as a store would.
    fn read(query: &EventsQuery, last: u64) -> EventsPage {
        let fetched = query
            .ids(EventId::new(last))
            .into_iter()
            .map(|id| event(id.get(), "i"))
            .collect();
        EventsPage::cut(query, EventId::new(last), fetched)
    }

    fn ids(page: &EventsPage) -> Vec<u64> {
        page.events.iter().map(|e| e.event_id.get()).collect()
    }

    #[test]
    fn forward_pages_cover_the_stream_once_and_stop_at_its_end() {
        let mut from = Some(0);
        let mut seen = Vec::new();
        while let Some(start) = from {
            let page = read(&query(Direction::Forward, Some(start), 3), 9);
            assert_eq!(page.version, Version::of_last(EventId::new(9)));
            seen.extend(ids(&page));
            from = page.next.map(EventId::get);
        }
        assert_eq!(seen, (0..=9).collect::<Vec<_>>());
    }

    #[test]
    fn backward_pages_start_at_the_last_event_and_stop_at_the_first() {
        let first = read(&query(Direction::Backward, None, 4), 9);
        assert_eq!(ids(&first), [9, 8, 7, 6]);
        assert_eq!(first.next, Some(EventId::new(5)));
        let last = read(&query(Direction::Backward, Some(1), 4), 9);
        assert_eq!(ids(&last), [1, 0]);
        assert_eq!(last.next, None);
        // From past the end: from the last event.
        assert_eq!(
            ids(&read(&query(Direction::Backward, Some(50), 2), 9)),
            [9, 8]
        );
    }

    #[test]
    fn forward_from_past_the_end_is_empty_with_the_version() {
        let page = read(&query(Direction::Forward, Some(10), 5), 9);
        assert!(page.events.is_empty());
        assert_eq!(page.next, None);
        assert_eq!(page.version.get(), 9);
    }

    #[test]
    fn a_gap_or_a_disorder_in_what_was_fetched_ends_the_page_there() {
        let q = query(Direction::Forward, Some(0), 10);
        let fetched = vec![event(0, "a"), event(1, "a"), event(3, "a")];
        let page = EventsPage::cut(&q, EventId::new(3), fetched);
        assert_eq!(ids(&page), [0, 1]);
        assert_eq!(page.next, Some(EventId::new(2)));
    }

    #[test]
    fn an_event_appended_between_the_reads_raises_the_version() {
        let q = query(Direction::Forward, Some(0), 10);
        let fetched = vec![event(0, "a"), event(1, "a"), event(2, "a")];
        let page = EventsPage::cut(&q, EventId::new(1), fetched);
        assert_eq!(ids(&page), [0, 1, 2]);
        assert_eq!(page.version.get(), 2);
        assert_eq!(page.next, None);
    }

    #[test]
    fn a_page_of_large_events_stops_at_its_byte_budget() {
        // The largest id (1,000 bytes) and the largest metadata.
        let big = "😀".repeat(250);
        let note = "x".repeat(crate::limits::MAX_METADATA_BYTES - 11);
        let metadata =
            EventMetadata::from_json(&serde_json::json!({ "note": note }), "metadata").unwrap();
        let q = query(Direction::Forward, Some(0), 1000);
        let fetched: Vec<_> = (0..1000)
            .map(|id| RecordedEvent {
                metadata: metadata.clone(),
                ..event(id, &big)
            })
            .collect();
        let one = page_bytes(&fetched[0]);
        let page = EventsPage::cut(&q, EventId::new(999), fetched);
        assert_eq!(page.events.len(), MAX_EVENTS_PAGE_BYTES / one);
        assert_eq!(page.next, Some(EventId::new(page.events.len() as u64)));
    }
}
