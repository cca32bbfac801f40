//! The smoke check's steps, over the HTTP API alone, in a stream of their
//! own: the six steps of the service's first example (create an item, see
//! it listed, change its amount, see it, delete it, see it gone), an
//! idempotent retry, a paged list, a replay to `done`, then an
//! `ITEM_DELETED` for every item still live (events are never removed, so
//! the stream's name says what it was). The read model is eventually
//! consistent: every check of the list waits for it, up to a deadline.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::api::{Answer, Api};

/// How long the checks wait.
#[derive(Clone, Copy, Debug)]
pub struct SmokeLimits {
    /// For the list to show what was appended.
    pub projection: Duration,
    /// For the replay to end.
    pub replay: Duration,
    /// Between two looks.
    pub poll: Duration,
}

impl Default for SmokeLimits {
    fn default() -> Self {
        SmokeLimits {
            projection: Duration::from_secs(60),
            replay: Duration::from_secs(5 * 60),
            poll: Duration::from_millis(250),
        }
    }
}

/// A step that passed.
#[derive(Clone, Debug)]
pub struct Step {
    pub name: String,
    pub latency: Duration,
    pub detail: String,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok  {:<44} {:>8.1} ms  {}",
            self.name,
            self.latency.as_secs_f64() * 1000.0,
            self.detail
        )
    }
}

/// The step that failed, and what it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepFailed {
    pub step: String,
    pub saw: String,
}

impl fmt::Display for StepFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "smoke step \"{}\" failed: {}", self.step, self.saw)
    }
}

impl std::error::Error for StepFailed {}

/// A name for a smoke run's stream: `smoke-<UTC time>-<random>`.
pub fn stream_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "smoke-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ"),
        &random[..8]
    )
}

/// Runs every step against `api` in `stream`, telling `passed` of each as
/// it passes; the steps, or the first that failed.
pub async fn smoke(
    api: &Api,
    stream: &str,
    limits: &SmokeLimits,
    passed: &mut dyn FnMut(&Step),
) -> Result<Vec<Step>, StepFailed> {
    let mut run = Run {
        api,
        stream,
        limits,
        fold: BTreeMap::new(),
        steps: Vec::new(),
        passed,
    };
    run.all().await?;
    Ok(run.steps)
}

/// What a step saw that it should not have.
type Saw = String;

struct Run<'a, 'p> {
    api: &'a Api,
    stream: &'a str,
    limits: &'a SmokeLimits,
    /// What the list must show once projected: item → amount.
    fold: BTreeMap<String, i64>,
    steps: Vec<Step>,
    passed: &'p mut dyn FnMut(&Step),
}

impl Run<'_, '_> {
    async fn all(&mut self) -> Result<(), StepFailed> {
        // The six steps of the first example.
        let step = "create item 1 (ITEM_CREATED, amount 225)";
        let started = Instant::now();
        let event = self
            .append(step, "ITEM_CREATED", "1", Some(225), None)
            .await?;
        self.passed(step, started, format!("event {event}"));
        self.list_shows("list shows item 1 at 225").await?;

        let step = "change item 1's amount to 500";
        let started = Instant::now();
        let event = self
            .append(step, "ITEM_AMOUNT_CHANGED", "1", Some(500), None)
            .await?;
        self.passed(step, started, format!("event {event}"));
        self.list_shows("list shows item 1 at 500").await?;

        let step = "delete item 1 (ITEM_DELETED)";
        let started = Instant::now();
        let event = self.append(step, "ITEM_DELETED", "1", None, None).await?;
        self.passed(step, started, format!("event {event}"));
        self.list_shows("list no longer shows item 1").await?;

        self.idempotent_retry().await?;

        let step = "create item 4 (ITEM_CREATED, amount 75)";
        let started = Instant::now();
        let event = self
            .append(step, "ITEM_CREATED", "4", Some(75), None)
            .await?;
        self.passed(step, started, format!("event {event}"));

        self.paged_list().await?;
        self.replay().await?;

        // Events are never removed: what is left live is deleted.
        let step = "ITEM_DELETED for every item created";
        let started = Instant::now();
        let live: Vec<String> = self.fold.keys().cloned().collect();
        for item in &live {
            self.append(step, "ITEM_DELETED", item, None, None).await?;
        }
        self.passed(step, started, format!("items {} deleted", live.join(", ")));
        self.list_shows("list shows no item left").await
    }

    /// The same `Idempotency-Key` twice answers one event, and the next
    /// append is the very next event: nothing was stored twice.
    async fn idempotent_retry(&mut self) -> Result<(), StepFailed> {
        let step = "idempotent retry (one Idempotency-Key twice)";
        let started = Instant::now();
        let key = uuid::Uuid::new_v4().to_string();
        let first = self
            .append(step, "ITEM_CREATED", "2", Some(5), Some(&key))
            .await?;
        let retry = self
            .post(step, "ITEM_CREATED", "2", Some(5), Some(&key))
            .await?;
        let retried = event_id(&retry)
            .ok_or_else(|| self.failed(step, format!("the retry answered {retry}")))?;
        if retry.status != 201 || retried != first {
            return Err(self.failed(
                step,
                format!(
                    "the first append stored event {first}; the retry with its key answered {retry}"
                ),
            ));
        }
        let next = self
            .append(step, "ITEM_CREATED", "3", Some(40), None)
            .await?;
        if next != first + 1 {
            return Err(self.failed(
                step,
                format!("the append after the retry stored event {next}, not {}: the retry stored an event", first + 1),
            ));
        }
        self.passed(
            step,
            started,
            format!("both answered event {first}; the next append is event {next}"),
        );
        Ok(())
    }

    /// The list read in pages smaller than the items: every page followed
    /// by its `nextCursor`, their union the fold.
    async fn paged_list(&mut self) -> Result<(), StepFailed> {
        let step = "paged list (limit 2, following nextCursor)";
        let started = Instant::now();
        self.wait_for_fold(step).await?;
        let mut items = BTreeMap::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            pages += 1;
            if pages > 10 {
                return Err(
                    self.failed(step, "more than 10 pages of 2 items for 3 items".to_owned())
                );
            }
            let answer = self
                .api
                .list(self.stream, Some(2), cursor.as_deref())
                .await
                .map_err(|err| self.failed(step, format!("{err:#}")))?;
            let page = self.items(step, &answer)?;
            if page.len() > 2 {
                return Err(self.failed(
                    step,
                    format!("a page of limit 2 held {}: {answer}", page.len()),
                ));
            }
            items.extend(page);
            match answer.body.get("nextCursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        if items != self.fold || pages < 2 {
            return Err(self.failed(
                step,
                format!("{pages} pages held {items:?}; the fold is {:?}", self.fold),
            ));
        }
        self.passed(
            step,
            started,
            format!("{} items over {pages} pages", items.len()),
        );
        Ok(())
    }

    /// A replay of the stream from its first event, followed to `done`;
    /// the list is still the fold after it.
    async fn replay(&mut self) -> Result<(), StepFailed> {
        let step = "replay to done";
        let started = Instant::now();
        let answer = self
            .api
            .trigger_replay(self.stream)
            .await
            .map_err(|err| self.failed(step, format!("{err:#}")))?;
        let replay_id = match (
            answer.status,
            answer.body.get("replayId").and_then(Value::as_str),
        ) {
            (202, Some(id)) => id.to_owned(),
            _ => return Err(self.failed(step, format!("POST /triggerReplay answered {answer}"))),
        };
        let deadline = Instant::now() + self.limits.replay;
        let status = loop {
            let answer = self
                .api
                .replay_status(&replay_id)
                .await
                .map_err(|err| self.failed(step, format!("{err:#}")))?;
            if answer.status != 200 {
                return Err(self.failed(
                    step,
                    format!("GET /replayStatus of replay {replay_id} answered {answer}"),
                ));
            }
            match answer.body.get("state").and_then(Value::as_str) {
                Some("done") => break answer,
                Some("failed") => {
                    return Err(self.failed(step, format!("replay {replay_id} failed: {answer}")));
                }
                _ if Instant::now() >= deadline => {
                    return Err(self.failed(
                        step,
                        format!(
                            "replay {replay_id} was not done after {} s; it last showed {answer}",
                            self.limits.replay.as_secs()
                        ),
                    ));
                }
                _ => tokio::time::sleep(self.limits.poll).await,
            }
        };
        self.wait_for_fold(step).await?;
        let applied = status
            .body
            .get("eventsApplied")
            .cloned()
            .unwrap_or(Value::Null);
        self.passed(
            step,
            started,
            format!(
                "replay {replay_id} done, {applied} events applied; the list is still the fold"
            ),
        );
        Ok(())
    }

    /// Appends an event, answered 201; its event id.
    async fn append(
        &mut self,
        step: &str,
        kind: &str,
        item: &str,
        amount: Option<i64>,
        key: Option<&str>,
    ) -> Result<u64, StepFailed> {
        let answer = self.post(step, kind, item, amount, key).await?;
        match (answer.status, event_id(&answer)) {
            (201, Some(event)) => {
                match amount {
                    Some(amount) => self.fold.insert(item.to_owned(), amount),
                    None => self.fold.remove(item),
                };
                Ok(event)
            }
            _ => Err(self.failed(
                step,
                format!("POST /addEvent ({kind} of item {item}) answered {answer}"),
            )),
        }
    }

    async fn post(
        &self,
        step: &str,
        kind: &str,
        item: &str,
        amount: Option<i64>,
        key: Option<&str>,
    ) -> Result<Answer, StepFailed> {
        self.api
            .add_event(self.stream, kind, item, amount, key)
            .await
            .map_err(|err| self.failed(step, format!("{err:#}")))
    }

    /// A step that waits for the list to show the fold.
    async fn list_shows(&mut self, step: &str) -> Result<(), StepFailed> {
        let started = Instant::now();
        self.wait_for_fold(step).await?;
        let shown: Vec<String> = self
            .fold
            .iter()
            .map(|(item, amount)| format!("{item}={amount}"))
            .collect();
        self.passed(step, started, format!("items [{}]", shown.join(", ")));
        Ok(())
    }

    /// Reads the whole list until it is the fold, up to the projection's
    /// deadline.
    async fn wait_for_fold(&self, step: &str) -> Result<(), StepFailed> {
        let deadline = Instant::now() + self.limits.projection;
        loop {
            let mut items = BTreeMap::new();
            let mut cursor: Option<String> = None;
            loop {
                let answer = self
                    .api
                    .list(self.stream, None, cursor.as_deref())
                    .await
                    .map_err(|err| self.failed(step, format!("{err:#}")))?;
                items.extend(self.items(step, &answer)?);
                match answer.body.get("nextCursor").and_then(Value::as_str) {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            if items == self.fold {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.failed(
                    step,
                    format!(
                        "after {} s the list shows {items:?}, not {:?}: the read model did not catch up",
                        self.limits.projection.as_secs(),
                        self.fold
                    ),
                ));
            }
            tokio::time::sleep(self.limits.poll).await;
        }
    }

    /// A list page's items, from a 200.
    fn items(&self, step: &str, answer: &Answer) -> Result<BTreeMap<String, i64>, StepFailed> {
        let items = match (
            answer.status,
            answer.body.get("items").and_then(Value::as_array),
        ) {
            (200, Some(items)) => items,
            _ => return Err(self.failed(step, format!("GET /listTestItems answered {answer}"))),
        };
        items
            .iter()
            .map(|item| {
                let id = item.get("itemId").and_then(Value::as_str);
                let amount = item.get("amount").and_then(Value::as_i64);
                match (id, amount) {
                    (Some(id), Some(amount)) => Ok((id.to_owned(), amount)),
                    _ => {
                        Err(self
                            .failed(step, format!("GET /listTestItems answered the item {item}")))
                    }
                }
            })
            .collect()
    }

    fn failed(&self, step: &str, saw: Saw) -> StepFailed {
        StepFailed {
            step: step.to_owned(),
            saw,
        }
    }

    fn passed(&mut self, name: &str, started: Instant, detail: String) {
        let step = Step {
            name: name.to_owned(),
            latency: started.elapsed(),
            detail,
        };
        (self.passed)(&step);
        self.steps.push(step);
    }
}

fn event_id(answer: &Answer) -> Option<u64> {
    answer.body.get("eventId").and_then(Value::as_u64)
}
