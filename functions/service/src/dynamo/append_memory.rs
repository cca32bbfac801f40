//! What a warm store remembers of the streams it appended to: each
//! stream's version and the liveness of the items it saw, so its next
//! append can skip the read and write at once, its conditions checking
//! every assumption. Only a hint: a stale entry costs one refused write
//! (whose cancellation reasons bring the current rows), never a wrong
//! append. Bounded: at most [`MAX_STREAMS`] streams of [`MAX_ITEMS`] items.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use domain::{DecisionState, Version};

/// Streams remembered; past it the least recently used one is forgotten.
const MAX_STREAMS: usize = 1024;
/// Items remembered per stream; past it the stream's items are forgotten.
const MAX_ITEMS: usize = 128;

/// A stream as last seen: its version, and the items known at it.
struct StreamSeen {
    version: Version,
    items_live: HashMap<String, bool>,
    last_used: u64,
}

#[derive(Default)]
struct Seen {
    streams: HashMap<String, StreamSeen>,
    clock: u64,
}

/// The memory of one store and its clones.
#[derive(Default)]
pub(super) struct AppendMemory(Mutex<Seen>);

impl fmt::Debug for AppendMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let streams = self.lock().streams.len();
        write!(f, "AppendMemory({streams} streams)")
    }
}

impl AppendMemory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        // The map stays consistent under any panic (every change is one
        // insert or remove), so a poisoned lock is still good.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The state to write against without reading: the stream's last seen
    /// version, and the item's liveness as seen, or `guess_live` (what the
    /// command needs) for an item not seen; `None` for a stream not seen.
    pub(super) fn assumed(
        &self,
        stream: &str,
        item_entry: &str,
        guess_live: bool,
    ) -> Option<DecisionState> {
        let mut seen = self.lock();
        seen.clock += 1;
        let now = seen.clock;
        let stream = seen.streams.get_mut(stream)?;
        stream.last_used = now;
        Some(DecisionState {
            version: stream.version,
            item_live: stream
                .items_live
                .get(item_entry)
                .copied()
                .unwrap_or(guess_live),
        })
    }

    /// Learns that `stream` is at `version` and its item at `item_entry`
    /// is live or not, as read or as written on top of `previous`; items
    /// seen at another version than `previous` are forgotten, as others
    /// may have changed them since.
    pub(super) fn learn(
        &self,
        stream: &str,
        previous: Version,
        version: Version,
        item_entry: &str,
        live: bool,
    ) {
        let mut seen = self.lock();
        seen.clock += 1;
        let now = seen.clock;
        if !seen.streams.contains_key(stream) && seen.streams.len() >= MAX_STREAMS {
            let oldest = seen
                .streams
                .iter()
                .min_by_key(|(_, stream)| stream.last_used)
                .map(|(name, _)| name.clone());
            if let Some(oldest) = oldest {
                seen.streams.remove(&oldest);
            }
        }
        let entry = seen
            .streams
            .entry(stream.to_owned())
            .or_insert_with(|| StreamSeen {
                version,
                items_live: HashMap::new(),
                last_used: now,
            });
        if entry.version != previous || entry.items_live.len() >= MAX_ITEMS {
            entry.items_live.clear();
        }
        entry.version = version;
        entry.last_used = now;
        entry.items_live.insert(item_entry.to_owned(), live);
    }

    /// Forgets `stream`: after an answer that leaves its state unknown.
    pub(super) fn forget(&self, stream: &str) {
        self.lock().streams.remove(stream);
    }
}

#[cfg(test)]
mod tests {
    //! The memory's bounds and what it keeps across versions.

    use super::*;

    fn v(version: i64) -> Version {
        Version::new(version).unwrap()
    }

    #[test]
    fn items_seen_at_another_version_are_forgotten_and_unseen_ones_guessed() {
        let memory = AppendMemory::default();
        assert_eq!(memory.assumed("s", "ITEM#a", true), None);
        memory.learn("s", Version::EMPTY, v(0), "ITEM#a", true);
        memory.learn("s", v(0), v(1), "ITEM#b", true);
        let state = memory.assumed("s", "ITEM#a", false).unwrap();
        assert_eq!((state.version, state.item_live), (v(1), true));
        assert!(!memory.assumed("s", "ITEM#c", false).unwrap().item_live);
        assert!(memory.assumed("s", "ITEM#c", true).unwrap().item_live);
        // Learned from a read at version 5: what was seen at 1 may be stale.
        memory.learn("s", v(5), v(5), "ITEM#b", false);
        assert!(!memory.assumed("s", "ITEM#a", false).unwrap().item_live);
        assert!(!memory.assumed("s", "ITEM#b", true).unwrap().item_live);
        memory.forget("s");
        assert_eq!(memory.assumed("s", "ITEM#b", true), None);
    }

    #[test]
    fn the_least_recently_used_stream_goes_first_and_items_are_capped() {
        let memory = AppendMemory::default();
        for i in 0..MAX_STREAMS {
            memory.learn(&format!("s{i}"), v(0), v(0), "ITEM#a", true);
        }
        // s0 used again: s1 is now the oldest.
        assert!(memory.assumed("s0", "ITEM#a", false).is_some());
        memory.learn("new", v(0), v(0), "ITEM#a", true);
        assert!(memory.assumed("s0", "ITEM#a", false).is_some());
        assert_eq!(memory.assumed("s1", "ITEM#a", false), None);
        assert_eq!(memory.lock().streams.len(), MAX_STREAMS);

        for i in 0..=MAX_ITEMS {
            memory.learn("new", v(0), v(0), &format!("ITEM#{i}"), true);
        }
        assert!(memory.lock().streams["new"].items_live.len() <= MAX_ITEMS);
    }
}
