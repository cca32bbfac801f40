//! Strict parsing of request bodies into domain commands. Every refusal
//! names the field and says what a valid value looks like.

use crate::error::{ErrorCode, Invalid};
use crate::event::DomainEvent;
use crate::idempotency::{IDEMPOTENCY_KEY_HEADER, IdempotencyKey};
use crate::ids::{EventId, ItemId, StreamId, Version};
use crate::json::{ObjectReader, integer_in_range, json_object};
use crate::limits::{DEFAULT_EVENTS_PAGE, DEFAULT_STREAMS_PAGE, MAX_AMOUNT};
use crate::metadata::EventMetadata;
use crate::paging::{Cursor, ListQuery, PageSize, StreamsQuery};
use crate::reading::{Direction, EventsQuery};
use crate::replay::{ReplayScope, ReplayTarget};
use crate::rules::AppendCommand;

/// `POST /addEvent`: `{"streamId", "type", "data", "expectedVersion"?,
/// "metadata"?}`.
pub fn append_command(body: &[u8]) -> Result<AppendCommand, Invalid> {
    let object = json_object(body)?;
    let reader = ObjectReader::new(
        &object,
        "",
        &["streamId", "type", "data", "expectedVersion", "metadata"],
    )?;
    let stream_id = StreamId::parse(reader.required_str("streamId")?, "streamId")?;
    let type_name = reader.required_str("type")?;
    let data = reader.required("data")?;
    let event = DomainEvent::from_wire(type_name, data)?;
    let expected_version = match reader.optional("expectedVersion") {
        None => None,
        Some(value) => {
            let raw = integer_in_range(value, "expectedVersion", -1, MAX_AMOUNT as i64)?;
            Version::new(raw)
        }
    };
    let metadata = match reader.optional("metadata") {
        None => EventMetadata::default(),
        Some(value) => EventMetadata::from_json(value, "metadata")?,
    };
    Ok(AppendCommand::new(stream_id, event, expected_version).with_metadata(metadata))
}

/// The `Idempotency-Key` header of `POST /addEvent`, given as its raw
/// values: absent, or sent once with a valid key.
pub fn idempotency_key(values: &[&[u8]]) -> Result<Option<IdempotencyKey>, Invalid> {
    match values {
        [] => Ok(None),
        [value] => {
            let text = std::str::from_utf8(value).map_err(|_| {
                Invalid::field(
                    ErrorCode::InvalidValue,
                    IDEMPOTENCY_KEY_HEADER,
                    format!("{IDEMPOTENCY_KEY_HEADER} is not printable ASCII"),
                )
            })?;
            IdempotencyKey::parse(text).map(Some)
        }
        _ => Err(Invalid::field(
            ErrorCode::InvalidValue,
            IDEMPOTENCY_KEY_HEADER,
            format!(
                "{IDEMPOTENCY_KEY_HEADER} is sent {} times; send it once",
                values.len()
            ),
        )),
    }
}

/// `POST /triggerReplay`: `{"streamId", "fromEventId"}`, or
/// `{"allStreams": true}` for a rebuild of every stream from 0.
pub fn replay_target(body: &[u8]) -> Result<ReplayScope, Invalid> {
    let object = json_object(body)?;
    let reader = ObjectReader::new(&object, "", &["streamId", "fromEventId", "allStreams"])?;
    if let Some(all) = reader.optional("allStreams") {
        if *all != serde_json::Value::Bool(true) {
            return Err(Invalid::field(
                ErrorCode::InvalidValue,
                "allStreams",
                "`allStreams` can only be true (a rebuild of every stream); to replay one stream, send streamId and fromEventId instead",
            ));
        }
        if let Some(other) = ["streamId", "fromEventId"]
            .into_iter()
            .find(|name| reader.optional(name).is_some())
        {
            return Err(Invalid::field(
                ErrorCode::InvalidValue,
                other,
                format!(
                    "`{other}` cannot go with `allStreams`: a rebuild replays every stream from 0; send one or the other"
                ),
            ));
        }
        return Ok(ReplayScope::AllStreams);
    }
    let stream_id = StreamId::parse(reader.required_str("streamId")?, "streamId")?;
    let from = integer_in_range(
        reader.required("fromEventId")?,
        "fromEventId",
        0,
        MAX_AMOUNT as i64,
    )?;
    Ok(ReplayScope::Stream(ReplayTarget {
        stream_id,
        from_event_id: EventId::new(from as u64),
    }))
}

/// `GET /listTestItems` query parameters, each optional: `streamId`
/// (`default_stream` when absent), `limit` (the most a page holds when
/// absent) and `cursor` (the first page when absent).
pub fn list_query(
    stream_id: Option<&str>,
    limit: Option<&str>,
    cursor: Option<&str>,
    default_stream: &StreamId,
) -> Result<ListQuery, Invalid> {
    let stream_id = match stream_id {
        None => default_stream.clone(),
        Some(raw) => StreamId::parse(raw, "streamId")?,
    };
    let limit = match limit {
        None => PageSize::MAX,
        Some(raw) => PageSize::parse(raw, "limit")?,
    };
    let after = match cursor {
        None => None,
        Some(raw) => Some(Cursor::<ItemId>::decode(raw, "cursor")?.into_item_id()),
    };
    Ok(ListQuery {
        stream_id,
        after,
        limit,
    })
}

/// `GET /listStreams` query parameters, each optional: `limit`
/// ([`DEFAULT_STREAMS_PAGE`] when absent) and `cursor` (the first page
/// when absent).
pub fn streams_query(limit: Option<&str>, cursor: Option<&str>) -> Result<StreamsQuery, Invalid> {
    let limit = match limit {
        None => PageSize::new(DEFAULT_STREAMS_PAGE).unwrap_or(PageSize::MAX),
        Some(raw) => PageSize::parse(raw, "limit")?,
    };
    let after = match cursor {
        None => None,
        Some(raw) => Some(Cursor::<StreamId>::decode(raw, "cursor")?.into_key()),
    };
    Ok(StreamsQuery { after, limit })
}

/// `GET /readStream` query parameters: `streamId` (required), `direction`
/// (`forward`, the default, or `backward`), `from` (an event id; the
/// first event forward, the last backward, when absent) and `limit`
/// ([`DEFAULT_EVENTS_PAGE`] when absent).
pub fn events_query(
    stream_id: Option<&str>,
    direction: Option<&str>,
    from: Option<&str>,
    limit: Option<&str>,
) -> Result<EventsQuery, Invalid> {
    let stream_id = match stream_id {
        None => {
            return Err(Invalid::field(
                ErrorCode::MissingField,
                "streamId",
                "`streamId` is required: the stream to read",
            ));
        }
        Some(raw) => StreamId::parse(raw, "streamId")?,
    };
    let direction = match direction {
        None | Some("forward") => Direction::Forward,
        Some("backward") => Direction::Backward,
        Some(_) => {
            return Err(Invalid::field(
                ErrorCode::InvalidValue,
                "direction",
                "`direction` must be `forward` or `backward`",
            ));
        }
    };
    let from = match from {
        None => None,
        Some(raw) => Some(EventId::new(
            raw.parse::<u64>()
                .ok()
                .filter(|n| *n <= MAX_AMOUNT)
                .ok_or_else(|| {
                    Invalid::field(
                        ErrorCode::InvalidValue,
                        "from",
                        format!("`from` must be an event id: an integer from 0 to {MAX_AMOUNT}"),
                    )
                })?,
        )),
    };
    let limit = match limit {
        None => PageSize::new(DEFAULT_EVENTS_PAGE).unwrap_or(PageSize::MAX),
        Some(raw) => PageSize::parse(raw, "limit")?,
    };
    Ok(EventsQuery {
        stream_id,
        direction,
        from,
        limit,
    })
}

/// The longest replay id `GET /replayStatus` looks up (ids it hands out
/// are UUIDs, 36 characters).
pub const MAX_REPLAY_ID_CHARS: usize = 128;

/// `GET /replayStatus` query parameter `replayId`: required, 1 to
/// [`MAX_REPLAY_ID_CHARS`] printable ASCII characters.
pub fn replay_id(raw: Option<&str>) -> Result<String, Invalid> {
    let Some(raw) = raw else {
        return Err(Invalid::field(
            ErrorCode::MissingField,
            "replayId",
            "the query parameter replayId is required: the id POST /triggerReplay answered",
        ));
    };
    let printable = raw.chars().all(|c| c.is_ascii_graphic());
    if raw.is_empty() || raw.len() > MAX_REPLAY_ID_CHARS || !printable {
        return Err(Invalid::field(
            ErrorCode::InvalidValue,
            "replayId",
            format!(
                "replayId must be 1 to {MAX_REPLAY_ID_CHARS} printable ASCII characters: the id POST /triggerReplay answered"
            ),
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Amount, EventType};
    use crate::limits::MAX_BODY_BYTES;
    use serde_json::{Value, json};

    fn refused(body: Value) -> Invalid {
        append_command(body.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn an_idempotency_key_header_is_absent_or_sent_once_and_valid() {
        assert_eq!(idempotency_key(&[]), Ok(None));
        assert_eq!(idempotency_key(&[b"k-1"]).unwrap().unwrap().as_str(), "k-1");
        for bad in [&[b"a" as &[u8], b"b"] as &[&[u8]], &[b"\xff"], &[b""]] {
            let err = idempotency_key(bad).unwrap_err();
            assert_eq!(err.field.as_deref(), Some("Idempotency-Key"), "{bad:?}");
        }
    }

    #[test]
    fn accepts_the_originals_example() {
        let body = json!({
            "streamId": "eb724435-02cb-4c68-9d7a-4b6471c5a810",
            "type": "ITEM_CREATED",
            "data": {"itemId": "1", "amount": 225}
        });
        let command = append_command(body.to_string().as_bytes()).unwrap();
        assert_eq!(command.event.event_type(), EventType::ItemCreated);
        assert_eq!(command.expected_version, None);
        assert!(matches!(
            command.event,
            DomainEvent::ItemCreated { amount, .. } if amount == Amount::new(225).unwrap()
        ));
    }

    #[test]
    fn every_malformed_class_names_its_field() {
        let cases = [
            (json!([1]), ErrorCode::WrongType, None),
            (
                json!({"type": "ITEM_DELETED", "data": {"itemId": "1"}}),
                ErrorCode::MissingField,
                Some("streamId"),
            ),
            (
                json!({"streamId": 7, "type": "ITEM_DELETED", "data": {"itemId": "1"}}),
                ErrorCode::WrongType,
                Some("streamId"),
            ),
            (
                json!({"streamId": "", "type": "ITEM_DELETED", "data": {"itemId": "1"}}),
                ErrorCode::InvalidValue,
                Some("streamId"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_EXPLODED", "data": {"itemId": "1"}}),
                ErrorCode::UnknownEventType,
                Some("type"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": "x"}),
                ErrorCode::WrongType,
                Some("data"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {}}),
                ErrorCode::MissingField,
                Some("data.itemId"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {"itemId": ""}}),
                ErrorCode::InvalidValue,
                Some("data.itemId"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1"}}),
                ErrorCode::MissingField,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": "5"}}),
                ErrorCode::WrongType,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 1.5}}),
                ErrorCode::WrongType,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": -1}}),
                ErrorCode::InvalidValue,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": 9_007_199_254_740_992u64}}),
                ErrorCode::InvalidValue,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": u64::MAX}}),
                ErrorCode::InvalidValue,
                Some("data.amount"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {"itemId": "1"}, "expectedVersion": -2}),
                ErrorCode::InvalidValue,
                Some("expectedVersion"),
            ),
            (
                json!({"streamId": "s", "type": "ITEM_DELETED", "data": {"itemId": "1"}, "extra": true}),
                ErrorCode::UnknownField,
                Some("extra"),
            ),
        ];
        for (body, code, field) in cases {
            let err = refused(body.clone());
            assert_eq!(
                (err.code, err.field.as_deref()),
                (code, field),
                "for {body}"
            );
        }
    }

    #[test]
    fn the_largest_exact_integer_is_a_valid_amount() {
        let body = json!({"streamId": "s", "type": "ITEM_CREATED", "data": {"itemId": "1", "amount": MAX_AMOUNT}});
        assert!(append_command(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn body_size_and_syntax_are_checked_first() {
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(
            append_command(&big).unwrap_err().code,
            ErrorCode::PayloadTooLarge
        );
        assert_eq!(
            append_command(b"{\"streamId\":").unwrap_err().code,
            ErrorCode::MalformedJson
        );
        assert_eq!(
            append_command(b"").unwrap_err().code,
            ErrorCode::MalformedJson
        );
    }

    #[test]
    fn replay_targets_need_a_non_negative_start() {
        let ok = replay_target(br#"{"streamId":"s","fromEventId":3}"#).unwrap();
        assert_eq!(ok.from_event_id(), EventId::new(3));
        let err = replay_target(br#"{"streamId":"s","fromEventId":-1}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("fromEventId"));
        let err = replay_target(br#"{"streamId":"s"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingField);
    }

    #[test]
    fn a_rebuild_of_every_stream_is_all_streams_true_and_nothing_else() {
        assert_eq!(
            replay_target(br#"{"allStreams":true}"#),
            Ok(ReplayScope::AllStreams)
        );
        for (body, field) in [
            (&br#"{"allStreams":false}"#[..], "allStreams"),
            (br#"{"allStreams":"yes"}"#, "allStreams"),
            (br#"{"allStreams":true,"streamId":"s"}"#, "streamId"),
            (br#"{"allStreams":true,"fromEventId":0}"#, "fromEventId"),
        ] {
            let err = replay_target(body).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{err}");
        }
    }

    #[test]
    fn list_queries_default_and_name_the_bad_parameter() {
        let default = StreamId::parse("d", "streamId").unwrap();
        let query = list_query(None, None, None, &default).unwrap();
        assert_eq!(query, ListQuery::first_page(default.clone()));
        let cursor = Cursor::after(crate::ids::ItemId::parse("k", "itemId").unwrap());
        let query = list_query(Some("s"), Some("5"), Some(&cursor.encode()), &default).unwrap();
        assert_eq!(query.stream_id.as_str(), "s");
        assert_eq!(query.limit.get(), 5);
        assert_eq!(query.after.as_ref(), Some(cursor.item_id()));
        for (stream, limit, cursor, field) in [
            (Some(""), None, None, "streamId"),
            (None, Some("0"), None, "limit"),
            (None, Some("abc"), None, "limit"),
            (None, None, Some("%%%"), "cursor"),
        ] {
            let err = list_query(stream, limit, cursor, &default).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn a_replay_id_is_required_printable_and_bounded() {
        assert_eq!(
            replay_id(Some("6f1c2b1e-0000-4000-8000-000000000000")).unwrap(),
            "6f1c2b1e-0000-4000-8000-000000000000"
        );
        assert_eq!(replay_id(None).unwrap_err().code, ErrorCode::MissingField);
        let too_long = "a".repeat(MAX_REPLAY_ID_CHARS + 1);
        for bad in ["", "with space", "ünï", too_long.as_str()] {
            let err = replay_id(Some(bad)).unwrap_err();
            assert_eq!(
                (err.code, err.field.as_deref()),
                (ErrorCode::InvalidValue, Some("replayId")),
                "{bad:?}"
            );
        }
        assert!(replay_id(Some(&"a".repeat(MAX_REPLAY_ID_CHARS))).is_ok());
    }

    #[test]
    fn a_field_named_twice_is_refused_naming_its_path() {
        let cases = [
            (
                r#"{"streamId":"a","streamId":"b","type":"ITEM_DELETED","data":{"itemId":"1"}}"#,
                "streamId",
            ),
            (
                r#"{"streamId":"a","type":"ITEM_CREATED","data":{"itemId":"1","amount":1,"amount":2}}"#,
                "data.amount",
            ),
            (
                r#"{"streamId":"a","type":"ITEM_DELETED","data":{"itemId":"1","x":[{"k":1,"k":2}]}}"#,
                "data.x[0].k",
            ),
        ];
        for (body, field) in cases {
            let err = append_command(body.as_bytes()).unwrap_err();
            assert_eq!(
                (err.code, err.field.as_deref()),
                (ErrorCode::DuplicateField, Some(field)),
                "{body}: {err}"
            );
        }
        // The same name in different objects is no duplicate.
        let fine =
            r#"{"streamId":"a","type":"ITEM_CREATED","data":{"itemId":"streamId","amount":1}}"#;
        assert!(append_command(fine.as_bytes()).is_ok());
        // Values still read as serde_json reads them.
        let numbers = r#"{"streamId":"a","fromEventId":9007199254740991}"#;
        assert_eq!(
            replay_target(numbers.as_bytes()).unwrap().from_event_id(),
            EventId::new(9_007_199_254_740_991)
        );
        let trailing = r#"{"streamId":"a","fromEventId":1} x"#;
        assert_eq!(
            replay_target(trailing.as_bytes()).unwrap_err().code,
            ErrorCode::MalformedJson
        );
    }

    #[test]
    fn the_log_queries_take_their_defaults_and_name_a_bad_parameter() {
        let read = events_query(Some("s"), None, None, None).unwrap();
        assert_eq!(read.direction, Direction::Forward);
        assert_eq!((read.from, read.limit.get()), (None, DEFAULT_EVENTS_PAGE));
        let back = events_query(Some("s"), Some("backward"), Some("7"), Some("3")).unwrap();
        assert_eq!(back.direction, Direction::Backward);
        assert_eq!((back.from, back.limit.get()), (Some(EventId::new(7)), 3));
        for (args, field) in [
            ((None, None, None, None), "streamId"),
            ((Some("s"), Some("up"), None, None), "direction"),
            ((Some("s"), None, Some("x"), None), "from"),
            ((Some("s"), None, Some("9007199254740992"), None), "from"),
            ((Some("s"), None, None, Some("0")), "limit"),
        ] {
            let err = events_query(args.0, args.1, args.2, args.3).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{args:?}");
        }
        let list = streams_query(None, None).unwrap();
        assert_eq!((list.after, list.limit.get()), (None, DEFAULT_STREAMS_PAGE));
        let cursor = Cursor::after(StreamId::parse("b", "streamId").unwrap()).encode();
        let next = streams_query(Some("5"), Some(&cursor)).unwrap();
        assert_eq!(next.after.as_ref().map(StreamId::as_str), Some("b"));
        assert_eq!(
            streams_query(None, Some("!!"))
                .unwrap_err()
                .field
                .as_deref(),
            Some("cursor")
        );
    }

    #[test]
    fn an_append_reads_its_metadata_into_its_fingerprint() {
        let body = |metadata: &str| {
            format!(r#"{{"streamId":"s","type":"ITEM_DELETED","data":{{"itemId":"a"}}{metadata}}}"#)
        };
        let plain = append_command(body("").as_bytes()).unwrap();
        assert!(plain.metadata.is_empty());
        let tagged =
            append_command(body(r#","metadata":{"correlationId":"c"}"#).as_bytes()).unwrap();
        assert_eq!(tagged.metadata.correlation_id(), Some("c"));
        let key = IdempotencyKey::parse("k").unwrap();
        assert_ne!(
            plain
                .with_idempotency_key(key.clone())
                .idempotency
                .unwrap()
                .fingerprint,
            tagged
                .with_idempotency_key(key)
                .idempotency
                .unwrap()
                .fingerprint
        );
        let err = append_command(body(r#","metadata":{"n":1}"#).as_bytes()).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("metadata.n"));
    }
}
