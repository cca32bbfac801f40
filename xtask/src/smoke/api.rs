//! The HTTP side of `smoke`: one client for the API at a URL with its
//! key, every request under a timeout, each answer as its status and its
//! JSON body (or the text it was when not JSON).

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An answer: its status and body.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

/// The API at a URL, with its key.
pub struct Api {
    http: reqwest::Client,
    url: String,
    api_key: String,
}

impl Api {
    pub fn new(url: &str, api_key: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("cannot make an HTTP client")?;
        Ok(Api {
            http,
            url: url.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        })
    }

    /// `POST /addEvent`, with an `Idempotency-Key` when given one.
    pub async fn add_event(
        &self,
        stream: &str,
        kind: &str,
        item: &str,
        amount: Option<i64>,
        idempotency_key: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let data = match amount {
            Some(amount) => json!({"itemId": item, "amount": amount}),
            None => json!({"itemId": item}),
        };
        let mut request = self
            .http
            .post(format!("{}/addEvent", self.url))
            .header("x-api-key", &self.api_key)
            .json(&json!({"streamId": stream, "type": kind, "data": data}));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    /// `GET /listTestItems` of `stream`, one page.
    pub async fn list(
        &self,
        stream: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> anyhow::Result<Answer> {
        let mut query = vec![("streamId", stream.to_owned())];
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        if let Some(cursor) = cursor {
            query.push(("cursor", cursor.to_owned()));
        }
        let request = self
            .http
            .get(format!("{}/listTestItems", self.url))
            .header("x-api-key", &self.api_key)
            .query(&query);
        self.send(request).await
    }

    /// `POST /triggerReplay` of `stream` from its first event.
    pub async fn trigger_replay(&self, stream: &str) -> anyhow::Result<Answer> {
        let request = self
            .http
            .post(format!("{}/triggerReplay", self.url))
            .header("x-api-key", &self.api_key)
            .json(&json!({"streamId": stream, "fromEventId": 0}));
        self.send(request).await
    }

    /// `GET /replayStatus`.
    pub async fn replay_status(&self, replay_id: &str) -> anyhow::Result<Answer> {
        let request = self
            .http
            .get(format!("{}/replayStatus", self.url))
            .header("x-api-key", &self.api_key)
            .query(&[("replayId", replay_id)]);
        self.send(request).await
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let response = request
            .send()
            .await
            .with_context(|| format!("no answer from {}", self.url))?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .with_context(|| format!("cannot read the answer of {}", self.url))?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, body })
    }
}
