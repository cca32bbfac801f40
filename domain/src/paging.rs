//! Pages of the read model: how many items a page holds, and the opaque
//! cursor that says where the next page starts (keyset paging by item id,
//! so pages stay correct while writes go on).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ErrorCode, Invalid};
use crate::ids::{ItemId, StreamId};
use crate::limits::MAX_PAGE_ITEMS;

/// How many items a page may hold: 1 to [`MAX_PAGE_ITEMS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageSize(usize);

impl PageSize {
    pub const MAX: PageSize = PageSize(MAX_PAGE_ITEMS);

    pub fn new(items: usize) -> Option<Self> {
        (1..=MAX_PAGE_ITEMS)
            .contains(&items)
            .then_some(PageSize(items))
    }

    /// Reads the `limit` query parameter.
    pub fn parse(text: &str, field: &str) -> Result<Self, Invalid> {
        text.parse::<usize>()
            .ok()
            .and_then(PageSize::new)
            .ok_or_else(|| {
                Invalid::field(
                    ErrorCode::InvalidValue,
                    field,
                    format!("`{field}` must be an integer from 1 to {MAX_PAGE_ITEMS}"),
                )
            })
    }

    pub fn get(self) -> usize {
        self.0
    }
}

/// Where the next page starts: after this item. Opaque to clients (URL-safe
/// base64 of the item id), so its form may change without breaking them.
/// What a cursor points after: an item of a stream's read model, or a
/// stream of the list of streams. Both are ids, under the same rules.
pub trait CursorKey: Clone + AsRef<str> + Sized {
    fn parse_key(text: String, field: &str) -> Result<Self, Invalid>;
}

impl CursorKey for ItemId {
    fn parse_key(text: String, field: &str) -> Result<Self, Invalid> {
        ItemId::parse(text, field)
    }
}

impl CursorKey for StreamId {
    fn parse_key(text: String, field: &str) -> Result<Self, Invalid> {
        StreamId::parse(text, field)
    }
}

/// Where the next page starts: after this key. Opaque to clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor<K = ItemId>(K);

impl Cursor<ItemId> {
    pub fn item_id(&self) -> &ItemId {
        &self.0
    }

    pub fn into_item_id(self) -> ItemId {
        self.0
    }
}

impl<K: CursorKey> Cursor<K> {
    pub fn after(key: K) -> Self {
        Cursor(key)
    }

    pub fn into_key(self) -> K {
        self.0
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_ref())
    }

    /// Reads a cursor this service handed out; anything else is refused.
    pub fn decode(text: &str, field: &str) -> Result<Self, Invalid> {
        let not_ours = || {
            Invalid::field(
                ErrorCode::InvalidValue,
                field,
                format!(
                    "`{field}` is not a cursor this service returned; pass the `nextCursor` of the previous page as is"
                ),
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| not_ours())?;
        let id = String::from_utf8(bytes).map_err(|_| not_ours())?;
        K::parse_key(id, field).map(Cursor).map_err(|_| not_ours())
    }
}

/// One `GET /listTestItems` request: a stream, where to start, how many.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListQuery {
    pub stream_id: StreamId,
    /// Only items whose id sorts after this one (the cursor's item).
    pub after: Option<ItemId>,
    pub limit: PageSize,
}

impl ListQuery {
    /// The first page of a stream, as large as pages go.
    pub fn first_page(stream_id: StreamId) -> Self {
        ListQuery {
            stream_id,
            after: None,
            limit: PageSize::MAX,
        }
    }
}

/// A page of the list of streams: the streams after `after`, in id order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsQuery {
    pub after: Option<StreamId>,
    pub limit: PageSize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_run_from_1_to_1000() {
        assert_eq!(PageSize::parse("1", "limit").unwrap().get(), 1);
        assert_eq!(PageSize::parse("1000", "limit").unwrap(), PageSize::MAX);
        for bad in ["0", "1001", "-1", "ten", "", "1.5"] {
            let err = PageSize::parse(bad, "limit").unwrap_err();
            assert_eq!(err.field.as_deref(), Some("limit"), "{bad}");
        }
    }

    #[test]
    fn a_cursor_round_trips_any_item_id_and_refuses_others() {
        for id in ["a", "ж😀/+=?&", &"x".repeat(256)] {
            let cursor = Cursor::after(ItemId::parse(id, "itemId").unwrap());
            let text = cursor.encode();
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{text} is safe in a query string"
            );
            assert_eq!(Cursor::decode(&text, "cursor").unwrap(), cursor);
        }
        // Not base64, not UTF-8, empty: all name the parameter.
        for bad in ["!!", "__8", ""] {
            let err = Cursor::<ItemId>::decode(bad, "cursor").unwrap_err();
            assert_eq!(err.field.as_deref(), Some("cursor"), "{bad:?}");
        }
    }
}
