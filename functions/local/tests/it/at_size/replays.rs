//! Local mode at size, replays: a 20,000-event stream replayed under a
//! reader that never sees a short list, a replay killed mid-way that
//! resumes from its saved progress, and a starting server taking up the
//! replays it finds left over.

use super::*;

/// Appends a log of `events` events over `items` items: each created, then
/// changed, deleted and created again in a fixed pseudo-random order.
async fn append_log(
    store: &SqliteStore,
    s: &StreamId,
    items: usize,
    events: usize,
) -> Vec<RecordedEvent> {
    let mut live = vec![false; items];
    let mut log = Vec::with_capacity(events);
    for n in 0..events {
        let i = if n < items { n } else { (n * 7919) % items };
        let item_id = item(&format!("it-{i}"));
        let value = amount(n as u64);
        let event = match (live[i], n % 10) {
            (false, _) => DomainEvent::ItemCreated {
                item_id,
                amount: value,
            },
            (true, 9) => DomainEvent::ItemDeleted { item_id },
            (true, _) => DomainEvent::ItemAmountChanged {
                item_id,
                amount: value,
            },
        };
        live[i] = !matches!(event, DomainEvent::ItemDeleted { .. });
        let command = AppendCommand {
            stream_id: s.clone(),
            event,
            expected_version: None,
            idempotency: None,
            metadata: Default::default(),
        };
        log.push(store.append(&command, Utc::now()).await.expect("append"));
    }
    log
}

fn fold_of(log: &[RecordedEvent]) -> Vec<(String, u64)> {
    StreamFold::of(log)
        .items()
        .into_iter()
        .map(|(id, amount)| (id.to_string(), amount.get()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_of_a_large_stream_never_shows_a_reader_a_short_list() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let s = stream("at-size-replay");
    let started = Instant::now();
    let store = store_in(data.path());
    let log = append_log(&store, &s, 5_000, 21_000).await;
    // Projected and right before the replay starts.
    apply_all(&store, &coalesce(&log), 5_000).await;
    let fold = fold_of(&log);
    assert!(fold.len() > 3_000, "{} live items", fold.len());
    let seeded = started.elapsed();

    let server = start_server(data.path()).await;
    let http = reqwest::Client::new();
    assert_eq!(list_over_http(&http, &server, &s).await.0, fold);
    let started = Instant::now();
    let response = http
        .post(format!("{}/triggerReplay", server.url()))
        .header("x-api-key", API_KEY)
        .body(json!({"streamId": s.as_str(), "fromEventId": 0}).to_string())
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let answer: Value = response.json().await.expect("a JSON answer");
    let replay_id = answer["replayId"].as_str().expect("a replayId").to_owned();
    let (mut passes, mut passes_mid_apply, mut pages) = (0usize, 0usize, 0usize);
    let replayed = loop {
        // The server's job row, read through a second handle.
        let job = store
            .job(&replay_id)
            .await
            .expect("the job reads")
            .expect("the job is recorded");
        let (listed, pages_of_pass) = list_over_http(&http, &server, &s).await;
        passes += 1;
        pages += pages_of_pass;
        assert_eq!(
            listed.len(),
            fold.len(),
            "pass {passes} during the replay is short"
        );
        assert_eq!(listed, fold, "pass {passes} during the replay");
        let lane = store
            .lane(&LaneKey::Stream(s.clone()))
            .await
            .expect("the lane reads")
            .and_then(|stored| stored.lane.running);
        match lane.and_then(|running| running.progress) {
            Some(progress) if matches!(progress.phase, ReplayPhase::Apply { next } if next.get() > 0) => {
                passes_mid_apply += 1
            }
            _ => {}
        }
        if job.state != ReplayState::Running && job.state != ReplayState::Queued {
            assert_eq!(job.state, ReplayState::Done, "{job:?}");
            assert_eq!(job.events_applied, log.len() as u64);
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the replay has not ended within 60 s: {job:?}"
        );
    };
    assert!(
        passes >= 3,
        "the reader overlapped the replay {passes} times"
    );
    assert!(
        passes_mid_apply >= 1,
        "no pass started while the replay was applying the log"
    );
    server.stop().await.expect("a clean stop");
    eprintln!(
        "at size: seeded {} events in {seeded:?}; replay from 0 done within {replayed:?}, \
         read {passes} whole lists ({pages} pages) meanwhile, {passes_mid_apply} started mid-apply",
        log.len()
    );
}

/// The event store, counting the events it reads, that stops answering
/// (forever) at the read `stall_at`: a process killed mid-replay.
struct Instrumented {
    store: SqliteStore,
    reads: AtomicU64,
    events_read: AtomicU64,
    stall_at: Option<u64>,
    stalled: Arc<Notify>,
}

impl Instrumented {
    fn new(store: SqliteStore, stall_at: Option<u64>) -> Arc<Self> {
        Arc::new(Instrumented {
            store,
            reads: AtomicU64::new(0),
            events_read: AtomicU64::new(0),
            stall_at,
            stalled: Arc::new(Notify::new()),
        })
    }
}

#[async_trait]
impl EventStore for Instrumented {
    async fn append(
        &self,
        command: &AppendCommand,
        recorded_at: chrono::DateTime<Utc>,
    ) -> Result<RecordedEvent, domain::AppendError> {
        self.store.append(command, recorded_at).await
    }

    async fn read_stream(
        &self,
        stream_id: &StreamId,
        from: EventId,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let read = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        if Some(read) == self.stall_at {
            self.stalled.notify_one();
            std::future::pending::<()>().await;
        }
        let events = self.store.read_stream(stream_id, from, limit).await?;
        self.events_read
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }

    async fn read_events(
        &self,
        query: &domain::EventsQuery,
    ) -> Result<Option<domain::EventsPage>, StoreError> {
        self.store.read_events(query).await
    }

    async fn list_streams(
        &self,
        after: Option<&StreamId>,
        limit: usize,
    ) -> Result<domain::StreamPage, StoreError> {
        self.store.list_streams(after, limit).await
    }

    async fn latest_event_ids(
        &self,
        stream_id: &StreamId,
        items: &[ItemId],
    ) -> Result<Vec<Option<EventId>>, StoreError> {
        self.store.latest_event_ids(stream_id, items).await
    }
}

fn replays_on(events: Arc<Instrumented>, store: &SqliteStore) -> Arc<LocalReplays> {
    LocalReplays::new(events, Arc::new(store.clone()), Arc::new(store.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_killed_mid_way_resumes_from_its_saved_progress() {
    const EVENTS: usize = 10_000;
    const DONE_STEPS: u64 = 3;
    let data = tempfile::tempdir().expect("a temporary folder");
    let s = stream("at-size-resume");
    let store = store_in(data.path());
    let log = append_log(&store, &s, 2_000, EVENTS).await;
    apply_all(&store, &coalesce(&log), 2_000).await;
    // A row the log never had: only the sweep of a replay from 0 removes it.
    apply_all(
        &store,
        &[ItemChange {
            stream_id: s.clone(),
            item_id: item("ghost"),
            version: EventId::new(3),
            state: ItemState::Live { amount: amount(9) },
            recorded_at: Utc::now(),
        }],
        1,
    )
    .await;

    // The first run, in a runtime of its own, stalls at its fourth read of
    // the log, after three steps of the apply phase; dropping the runtime
    // then kills it there, as a crash would.
    let first = Instrumented::new(store.clone(), Some(DONE_STEPS + 1));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let replay_id = unique_name("replay");
    // Admitted as a trigger is: the lane is the replay's.
    let admission = jobs::admit(&store, &replay_id, &from_zero(&s), Utc::now())
        .await
        .expect("admitted");
    assert_eq!(admission.covered_by, replay_id);
    let request = admission.start.expect("a free lane: the replay starts");
    {
        let (replays, request, stalled) = (
            replays_on(first.clone(), &store),
            request.clone(),
            first.stalled.clone(),
        );
        let notified = stalled.notified();
        runtime
            .spawn(async move { LocalDispatcher(replays).dispatch(&request).await })
            .await
            .expect("the dispatch task")
            .expect("dispatched");
        tokio::time::timeout(Duration::from_secs(30), notified)
            .await
            .expect("the first run reaches its fourth read");
    }
    runtime.shutdown_background();
    assert_eq!(
        first.events_read.load(Ordering::SeqCst),
        DONE_STEPS * domain::replay::PAGE_SIZE as u64
    );

    // What it saved in its lane, which it still holds: the apply phase
    // after three pages, the sweep done.
    let second = Instrumented::new(store.clone(), None);
    let replays = replays_on(second.clone(), &store);
    let lane = LaneKey::Stream(s.clone());
    assert_eq!(store.held_lanes(None, 10).await, Ok(vec![lane.clone()]));
    let running = store
        .lane(&lane)
        .await
        .expect("the lane reads")
        .and_then(|stored| stored.lane.running)
        .expect("a running replay");
    assert_eq!(running.replay_id, request.replay_id);
    let saved = running.progress.expect("saved progress");
    let resumed_from = DONE_STEPS * domain::replay::PAGE_SIZE as u64;
    assert_eq!(
        saved.phase,
        ReplayPhase::Apply {
            next: EventId::new(resumed_from)
        }
    );
    assert_eq!(saved.events_applied, resumed_from);
    assert_eq!(saved.rows_removed, 1, "the ghost");
    let listed: Vec<(String, u64)> = crate::list_all(&store, &s, 1000)
        .await
        .into_iter()
        .map(|view| (view.item_id.to_string(), view.amount.get()))
        .collect();
    assert_eq!(listed, fold_of(&log), "the killed replay left the fold");

    // The next start resumes it: it reads only what was left of the log.
    assert_eq!(replays.resume_all().await, Ok(1));
    tokio::time::timeout(Duration::from_secs(60), replays.drain())
        .await
        .expect("the resumed replay ends within 60 s");
    assert_eq!(
        second.events_read.load(Ordering::SeqCst),
        EVENTS as u64 - resumed_from,
        "the resumed run started over"
    );
    let job = store.job(&request.replay_id).await.expect("the job reads");
    let job = job.expect("the job is recorded");
    assert_eq!(
        (job.state, job.events_applied),
        (ReplayState::Done, EVENTS as u64)
    );
    assert_eq!(
        store.held_lanes(None, 10).await,
        Ok(vec![]),
        "the lane is free"
    );
    let listed: Vec<(String, u64)> = crate::list_all(&store, &s, 1000)
        .await
        .into_iter()
        .map(|view| (view.item_id.to_string(), view.amount.get()))
        .collect();
    assert_eq!(listed, fold_of(&log));
    let ids: BTreeSet<String> = listed.into_iter().map(|(id, _)| id).collect();
    assert!(!ids.contains("ghost"));
}

/// `GET /replayStatus` polled (bounded) until the replay is done.
fn from_zero(stream_id: &StreamId) -> ReplayScope {
    ReplayScope::Stream(ReplayTarget {
        stream_id: stream_id.clone(),
        from_event_id: EventId::FIRST,
    })
}

async fn status_when_done(http: &reqwest::Client, server: &LocalServer, replay_id: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = http
            .get(format!("{}/replayStatus", server.url()))
            .header("x-api-key", API_KEY)
            .query(&[("replayId", replay_id)])
            .send()
            .await
            .expect("the server answers");
        assert_eq!(response.status(), StatusCode::OK);
        let status: Value = response.json().await.expect("a JSON status");
        if status["state"] == "done" {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replay {replay_id} not done within 60 s: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_starting_server_resumes_held_replays_and_takes_over_an_old_pending_list() {
    let data = tempfile::tempdir().expect("a temporary folder");
    let (held_stream, old_stream) = (stream("at-start-held"), stream("at-start-old"));
    let store = store_in(data.path());
    let held_log = append_log(&store, &held_stream, 300, 2_500).await;
    let old_log = append_log(&store, &old_stream, 100, 700).await;
    // A replay that got its lane, whose process then stopped before a step.
    let held_id = unique_name("held");
    let admission = jobs::admit(&store, &held_id, &from_zero(&held_stream), Utc::now())
        .await
        .expect("admit");
    assert!(admission.start.is_some());
    // A replay an earlier version left on its pending list.
    let old_id = unique_name("old");
    let pending = json!([{"replayId": old_id, "streamId": old_stream.as_str(), "fromEventId": 0}]);
    store
        .save("replays-pending", &pending.to_string())
        .await
        .expect("the old list is written");

    let server = start_server(data.path()).await;
    let http = reqwest::Client::new();
    let done = status_when_done(&http, &server, &held_id).await;
    assert_eq!(done["eventsApplied"], held_log.len() as u64, "{done}");
    let done = status_when_done(&http, &server, &old_id).await;
    assert_eq!(done["eventsApplied"], old_log.len() as u64, "{done}");
    assert_eq!(
        store.load("replays-pending").await,
        Ok(Some("[]".to_owned())),
        "the old list is emptied once taken over"
    );
    assert_eq!(store.held_lanes(None, 10).await, Ok(vec![]));
    server.stop().await.expect("a clean stop");
}
