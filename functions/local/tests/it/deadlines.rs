//! Local mode on DynamoDB whose endpoint stops answering (a proxy on
//! 127.0.0.1 in front of the emulator that swallows everything): every
//! route answers 503 with `Retry-After` within its function's time limit,
//! and the projector's stalled calls end on their own, so once DynamoDB
//! answers again the events appended since are projected.

use std::time::{Duration, Instant};

use local::{LocalConfig, LocalServer, Storage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use service::api::Route;
use service::functions::Function;
use testkit::stall::StallingProxy;
use testkit::unique_name;

const API_KEY: &str = "deadline-test-key-0123456789";
/// How much later than its function's time limit a request counts as
/// hung (the test fails then rather than wait on).
const HUNG_AFTER: Duration = Duration::from_secs(10);
/// How long the projector may take to catch up once DynamoDB answers.
const CATCH_UP: Duration = Duration::from_secs(60);

struct Client {
    http: reqwest::Client,
    base: String,
    stream: String,
}

impl Client {
    fn request(&self, route: Route) -> reqwest::RequestBuilder {
        let url = format!("{}/{}", self.base, route.path_part());
        let request = match route.function() {
            Function::AddEvent => self.http.post(url).json(&json!({
                "streamId": self.stream, "type": "ITEM_CREATED",
                "data": {"itemId": "late", "amount": 1}
            })),
            Function::ListItems => self.http.get(url).query(&[("streamId", &self.stream)]),
            Function::TriggerReplay => self
                .http
                .post(url)
                .json(&json!({"streamId": self.stream, "fromEventId": 0})),
            Function::ReplayStatus => self.http.get(url).query(&[("replayId", "r-1")]),
            Function::ListStreams => self.http.get(url),
            Function::ReadStream => self.http.get(url).query(&[("streamId", &self.stream)]),
            Function::Projector | Function::Replay => unreachable!("{route:?} is no route"),
        };
        request
            .header("x-api-key", API_KEY)
            .timeout(route.function().timeout() + HUNG_AFTER)
    }

    /// Status, `Retry-After` and body of `request`, and how long it took.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> (StatusCode, Option<String>, Value, Duration) {
        let started = Instant::now();
        let response = request.send().await.expect("an answer before the limit");
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned());
        let body = response.json().await.expect("a JSON body");
        (status, retry_after, body, started.elapsed())
    }

    async fn add(&self, item: &str) {
        let body = json!({
            "streamId": self.stream, "type": "ITEM_CREATED",
            "data": {"itemId": item, "amount": 1}
        });
        let request = self
            .http
            .post(format!("{}/addEvent", self.base))
            .header("x-api-key", API_KEY)
            .json(&body);
        let (status, _, body, _) = self.send(request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Waits until the stream lists exactly `items`.
    async fn wait_listed(&self, items: &[&str]) {
        let started = Instant::now();
        loop {
            let (status, _, body, _) = self
                .send(self.request(Function::ListItems.route().expect("a route")))
                .await;
            let listed: Vec<&str> = body["items"]
                .as_array()
                .map(|items| items.iter().filter_map(|i| i["itemId"].as_str()).collect())
                .unwrap_or_default();
            if status == StatusCode::OK && listed == items {
                return;
            }
            assert!(
                started.elapsed() < CATCH_UP,
                "after {CATCH_UP:?} the stream lists {body} ({status}), not {items:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_503_in_time_while_dynamodb_stalls_and_projection_resumes_after() {
    let proxy = StallingProxy::forwarding(testkit::moto::shared_endpoint());
    let config = LocalConfig {
        port: 0,
        storage: Storage::DynamoDb {
            endpoint: proxy.endpoint(),
            table_prefix: unique_name("deadlines"),
        },
        api_key: service::settings::ApiKey::new(API_KEY),
        default_stream: domain::StreamId::parse("deadlines", "streamId").unwrap(),
    };
    let server = LocalServer::start(config).await.expect("the server starts");
    let client = Client {
        http: reqwest::Client::new(),
        base: server.url(),
        stream: unique_name("stalled"),
    };
    client.add("before").await;
    client.wait_listed(&["before"]).await;

    proxy.stall();
    let answers =
        futures::future::join_all(Route::ALL.map(|route| client.send(client.request(route)))).await;
    for (route, (status, retry_after, body, took)) in Route::ALL.into_iter().zip(answers) {
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{route:?}: {body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{route:?}");
        assert_eq!(
            body["error"]["code"], "STORE_UNAVAILABLE",
            "{route:?}: {body}"
        );
        let limit = route.function().timeout();
        assert!(took < limit, "{route:?} took {took:?}, past its {limit:?}");
    }

    proxy.resume();
    client.add("after").await;
    client.wait_listed(&["after", "before"]).await;
    let stopping = tokio::time::timeout(Duration::from_secs(30), server.stop());
    stopping
        .await
        .expect("the server stops in time")
        .expect("a clean stop");
}
