//! End to end, reading the log: the streams listed in pages, a stream's
//! events forward and backward in pages, metadata round trips, and the
//! refusals that name what to fix.

use super::*;

impl Harness {
    /// `GET <path>` with these query parameters.
    async fn get(&self, path: &str, params: &[(&str, &str)]) -> (StatusCode, Value) {
        let request = self
            .http
            .get(format!("{}{path}", self.base))
            .header("x-api-key", API_KEY)
            .query(params);
        self.send(request).await
    }
}

fn event_ids(page: &Value) -> Vec<u64> {
    page["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["eventId"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

pub(super) async fn the_log_reads_in_pages_both_ways_with_its_metadata(mode: Mode) {
    let h = Harness::start(mode).await;
    let stream = unique_name("read");
    let metadata = json!({"correlationId": "corr-1", "causationId": "cmd-1", "tenant": "acme"});
    let mut first = event(&stream, "ITEM_CREATED", "a", Some(1));
    first["metadata"] = metadata.clone();
    let (status, body) = h.post("/addEvent", &first).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for n in 2..=7 {
        h.append(&stream, "ITEM_AMOUNT_CHANGED", "a", Some(n)).await;
    }

    // Forward in pages of 3, following `next`.
    let mut seen = Vec::new();
    let mut from = None::<u64>;
    loop {
        let from_text = from.map(|f| f.to_string());
        let mut params = vec![("streamId", stream.as_str()), ("limit", "3")];
        if let Some(from) = &from_text {
            params.push(("from", from));
        }
        let (status, page) = h.get("/readStream", &params).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(page["version"], 6, "{page}");
        seen.extend(event_ids(&page));
        match page["next"].as_u64() {
            Some(next) => from = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, (0..=6).collect::<Vec<_>>());

    // Backward from the end, then from inside.
    let (_, page) = h
        .get(
            "/readStream",
            &[
                ("streamId", &stream),
                ("direction", "backward"),
                ("limit", "4"),
            ],
        )
        .await;
    assert_eq!(event_ids(&page), [6, 5, 4, 3], "{page}");
    assert_eq!(page["next"], 2, "{page}");
    let (_, page) = h
        .get(
            "/readStream",
            &[
                ("streamId", &stream),
                ("direction", "backward"),
                ("from", "1"),
            ],
        )
        .await;
    assert_eq!(event_ids(&page), [1, 0], "{page}");
    assert!(page.get("next").is_none(), "{page}");
    assert_eq!(page["events"][1]["metadata"], metadata, "{page}");
    assert_eq!(page["events"][1]["type"], "ITEM_CREATED", "{page}");
    assert!(page["events"][0].get("metadata").is_none(), "{page}");

    // Past the end: empty, with the version.
    let (status, page) = h
        .get("/readStream", &[("streamId", &stream), ("from", "7")])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["events"], json!([]), "{page}");
    assert_eq!(page["version"], 6, "{page}");

    // The stream in the list, with its version.
    let mut listed = Vec::new();
    let mut cursor = None::<String>;
    loop {
        let mut params = vec![("limit", "1")];
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor));
        }
        let (status, page) = h.get("/listStreams", &params).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        listed.extend(page["streams"].as_array().cloned().unwrap_or_default());
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mine: Vec<&Value> = listed
        .iter()
        .filter(|s| s["streamId"] == stream.as_str())
        .collect();
    assert_eq!(mine.len(), 1, "{listed:?}");
    assert_eq!(mine[0]["version"], 6);
}

pub(super) async fn reads_of_the_log_refuse_what_they_cannot_serve(mode: Mode) {
    let h = Harness::start(mode).await;
    let (status, body) = h
        .get("/readStream", &[("streamId", &unique_name("nobody"))])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "STREAM_NOT_FOUND", "{body}");
    for (params, field) in [
        (vec![], "streamId"),
        (
            vec![("streamId", "s"), ("direction", "sideways")],
            "direction",
        ),
        (vec![("streamId", "s"), ("from", "-1")], "from"),
        (vec![("streamId", "s"), ("limit", "1001")], "limit"),
    ] {
        let (status, body) = h.get("/readStream", &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {body}");
        assert_eq!(body["error"]["field"], field, "{params:?}: {body}");
    }
    for (params, field) in [
        (vec![("limit", "0")], "limit"),
        (vec![("cursor", "!!")], "cursor"),
    ] {
        let (status, body) = h.get("/listStreams", &params).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{params:?}: {body}");
        assert_eq!(body["error"]["field"], field, "{params:?}: {body}");
    }
    // Bad metadata names its key and stores nothing.
    let stream = unique_name("bad-metadata");
    let mut bad = event(&stream, "ITEM_CREATED", "a", Some(1));
    bad["metadata"] = json!({"correlationId": "", "note": "fine"});
    let (status, body) = h.post("/addEvent", &bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "metadata.correlationId", "{body}");
    bad["metadata"] = json!({"count": 3});
    let (_, body) = h.post("/addEvent", &bad).await;
    assert_eq!(body["error"]["field"], "metadata.count", "{body}");
    let (status, _) = h.get("/readStream", &[("streamId", &stream)]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
