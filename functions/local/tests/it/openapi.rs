//! `openapi.yaml` against the code it documents: the routes are exactly
//! `Route::ALL`, every error code the service can answer is in the
//! document's code enum, and the limits and event types are the domain's.
//! (`cargo xtask test` also runs schemathesis from it against local mode.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use aws_lambda_events::encodings::Body;
use domain::validate::MAX_REPLAY_ID_CHARS;
use domain::{
    ErrorCode, EventType, IdempotencyKey, ItemId, MAX_AMOUNT, MAX_PAGE_ITEMS, MAX_STRING_CHARS,
    Rejection, StoreError, Version,
};
use serde_json::Value;
use service::api::Route;

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn document() -> Value {
    let path = project_root().join("openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_yaml::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not YAML: {err}", path.display()))
}

fn at<'a>(document: &'a Value, pointer: &str) -> &'a Value {
    document
        .pointer(pointer)
        .unwrap_or_else(|| panic!("openapi.yaml has nothing at {pointer}"))
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .expect("a list")
        .iter()
        .map(|item| item.as_str().expect("a string").to_owned())
        .collect()
}

/// The operations of the document, as `(method, path)`.
fn operations(document: &Value) -> BTreeSet<(String, String)> {
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let paths = at(document, "/paths").as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(|method| (method.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_documented_operations_are_exactly_the_routes() {
    let document = document();
    let routes: BTreeSet<(String, String)> = Route::ALL
        .into_iter()
        .map(|route| {
            (
                route.method().as_str().to_lowercase(),
                format!("/{}", route.path_part()),
            )
        })
        .collect();
    assert_eq!(operations(&document), routes);

    // The key on every route, and the 403 it answers without it.
    let security = at(&document, "/security");
    assert_eq!(security, &serde_json::json!([{"apiKey": []}]));
    let scheme = at(&document, "/components/securitySchemes/apiKey");
    assert_eq!(
        (&scheme["type"], &scheme["in"], &scheme["name"]),
        (&"apiKey".into(), &"header".into(), &"x-api-key".into())
    );
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][&method];
        assert!(
            operation.get("security").is_none(),
            "{method} {path} must not override the API key"
        );
        assert_eq!(
            operation["responses"]["403"]["$ref"], "#/components/responses/Forbidden",
            "{method} {path} answers 403 without the key"
        );
    }
}

/// One refusal of each kind. A new variant stops this compiling until it
/// is added here, and so checked against the document.
fn every_rejection() -> Vec<Rejection> {
    let item_id = ItemId::parse("1", "itemId").unwrap();
    let all = vec![
        Rejection::ItemAlreadyExists {
            item_id: item_id.clone(),
        },
        Rejection::ItemNotFound {
            item_id,
            event_type: EventType::ItemDeleted,
        },
        Rejection::VersionConflict {
            expected: Version::EMPTY,
            current: Version::new(0).unwrap(),
        },
        Rejection::IdempotencyKeyReused {
            key: IdempotencyKey::parse("k").unwrap(),
        },
    ];
    for rejection in &all {
        match rejection {
            Rejection::ItemAlreadyExists { .. }
            | Rejection::ItemNotFound { .. }
            | Rejection::VersionConflict { .. }
            | Rejection::IdempotencyKeyReused { .. } => {}
        }
    }
    all
}

/// The code `service::http::store_failure` answers for each kind of
/// storage failure.
fn store_failure_codes() -> Vec<String> {
    let failures = [
        StoreError::Unavailable("down".into()),
        StoreError::Contention("busy".into()),
        StoreError::Corrupt("garbled".into()),
    ];
    failures
        .iter()
        .map(|failure| {
            match failure {
                StoreError::Unavailable(_) | StoreError::Contention(_) | StoreError::Corrupt(_) => {
                }
            }
            let response = service::http::store_failure(failure);
            let Some(Body::Text(text)) = response.body else {
                panic!("a text body for {failure}");
            };
            let body: Value = serde_json::from_str(&text).expect("a JSON body");
            body["error"]["code"].as_str().expect("a code").to_owned()
        })
        .collect()
}

/// The codes written out in `error_response(status, "CODE", ...)` calls
/// in the service's source: the answers no enum lists (`REPLAY_NOT_FOUND`).
fn literal_codes() -> BTreeSet<String> {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("a source folder") {
            let path = entry.expect("an entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    rust_files(&project_root().join("functions/service/src"), &mut files);
    let mut codes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a source file");
        for (at, _) in text.match_indices("error_response(") {
            let rest = text[at + "error_response(".len()..].trim_start();
            let Some(rest) = rest
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .strip_prefix(',')
            else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('"') else {
                continue;
            };
            let code: String = rest.chars().take_while(|&c| c != '"').collect();
            codes.insert(code);
        }
    }
    codes
}

#[test]
fn every_error_code_the_service_answers_is_documented() {
    let document = document();
    let documented = strings(at(&document, "/components/schemas/ErrorCode/enum"));

    let literal = literal_codes();
    assert!(
        literal.contains("REPLAY_NOT_FOUND"),
        "the source scan finds the 404's code: {literal:?}"
    );
    let mut answered: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect();
    answered.extend(every_rejection().iter().map(|r| r.code().to_owned()));
    answered.extend(store_failure_codes());
    answered.extend(literal);

    let missing: Vec<&String> = answered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "openapi.yaml's ErrorCode enum lacks {missing:?}"
    );
    // The one shared error body carries it.
    assert_eq!(
        at(
            &document,
            "/components/schemas/Error/properties/error/properties/code/$ref"
        ),
        "#/components/schemas/ErrorCode"
    );
}

#[test]
fn the_documented_event_types_and_limits_are_the_domains() {
    let document = document();
    let types: BTreeSet<String> = EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    assert_eq!(
        strings(at(&document, "/components/schemas/EventType/enum")),
        types
    );
    let mapping = at(
        &document,
        "/components/schemas/AddEventRequest/discriminator/mapping",
    );
    let mapped: BTreeSet<String> = mapping
        .as_object()
        .expect("a mapping")
        .keys()
        .cloned()
        .collect();
    assert_eq!(mapped, types);
    // The request is one of exactly the mapped schemas.
    let one_of: BTreeSet<&str> = at(&document, "/components/schemas/AddEventRequest/oneOf")
        .as_array()
        .expect("a list")
        .iter()
        .map(|schema| schema["$ref"].as_str().expect("a $ref"))
        .collect();
    let targets: BTreeSet<&str> = mapping
        .as_object()
        .unwrap()
        .values()
        .map(|schema| schema.as_str().expect("a $ref"))
        .collect();
    assert_eq!(one_of, targets);
    for (name, schema) in mapping.as_object().unwrap() {
        let schema = schema.as_str().unwrap().trim_start_matches('#');
        assert_eq!(
            at(&document, &format!("{schema}/properties/type/const")),
            name
        );
    }

    let number = |pointer: &str| at(&document, pointer).as_u64().expect("a number");
    assert_eq!(
        number("/components/schemas/Id/maxLength"),
        MAX_STRING_CHARS as u64
    );
    assert_eq!(number("/components/schemas/Amount/maximum"), MAX_AMOUNT);
    assert_eq!(number("/components/schemas/EventId/maximum"), MAX_AMOUNT);
    let parameter = |path: &str, name: &str| -> &Value {
        document["paths"][path]["get"]["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|parameter| parameter["name"] == name)
            .unwrap_or_else(|| panic!("GET {path} documents no {name}"))
    };
    assert_eq!(
        parameter("/listTestItems", "limit")["schema"]["maximum"],
        MAX_PAGE_ITEMS
    );
    assert_eq!(
        parameter("/replayStatus", "replayId")["schema"]["maxLength"],
        MAX_REPLAY_ID_CHARS
    );
    assert_eq!(
        number("/components/schemas/ReplayAccepted/properties/replayId/maxLength"),
        MAX_REPLAY_ID_CHARS as u64
    );
}
