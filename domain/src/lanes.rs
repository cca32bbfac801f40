//! What replay jobs and lanes are, and the port that keeps them: the
//! types the rules of [`crate::jobs`] read and write.
//!
//! A [`ReplayLane`] holds the replay running on it and at most one queued
//! behind it; the running replay's progress lives there, with the lease
//! and the token of the run working on it.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, StreamId};
use crate::limits::REPLAY_STATUS_RETENTION_SECS;
use crate::ports::StoreError;
use crate::replay::{RebuildProgress, ReplayProgress, ReplayScope, ReplayTarget};

/// How long a replay stays held by its run without a step: longer than a
/// step takes (a page of events, with its retries), short enough that a
/// run that died is resumed soon.
pub const LEASE: Duration = Duration::minutes(3);

/// How many times in a row a replay is resumed without a step before it
/// is failed: a run that dies at the same step every time is not tried
/// forever, and its lane goes to the replay queued behind it.
pub const MAX_STALLS: u32 = 5;

/// Which replays a lane puts in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LaneKey {
    /// One stream's replays.
    Stream(StreamId),
    /// Rebuilds of every stream.
    AllStreams,
}

impl LaneKey {
    /// The lane's name in storage: the stream id, or the empty string for
    /// the all-streams lane (no stream id is empty).
    pub fn as_key(&self) -> &str {
        match self {
            LaneKey::Stream(stream_id) => stream_id.as_str(),
            LaneKey::AllStreams => "",
        }
    }

    /// The lane named `key` in storage.
    pub fn from_key(key: &str) -> Result<LaneKey, StoreError> {
        if key.is_empty() {
            return Ok(LaneKey::AllStreams);
        }
        StreamId::parse(key, "streamId")
            .map(LaneKey::Stream)
            .map_err(|err| StoreError::Corrupt(format!("a replay lane named `{key}`: {err}")))
    }

    /// The lane of the replays of `scope`.
    pub fn of(scope: &ReplayScope) -> LaneKey {
        match scope {
            ReplayScope::Stream(target) => LaneKey::Stream(target.stream_id.clone()),
            ReplayScope::AllStreams => LaneKey::AllStreams,
        }
    }

    /// What a replay in this lane from `from_event_id` covers.
    pub fn scope(&self, from_event_id: EventId) -> ReplayScope {
        match self {
            LaneKey::Stream(stream_id) => ReplayScope::Stream(ReplayTarget {
                stream_id: stream_id.clone(),
                from_event_id,
            }),
            LaneKey::AllStreams => ReplayScope::AllStreams,
        }
    }
}

impl std::fmt::Display for LaneKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LaneKey::Stream(stream_id) => write!(f, "stream {stream_id}"),
            LaneKey::AllStreams => f.write_str("all streams"),
        }
    }
}

/// The message that runs a replay (starts it, continues it, or resumes
/// it): the replay function's input. Where the run starts from is in the
/// replay's lane, not here, so any copy of the message does the same.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RequestFields", into = "RequestFields")]
pub struct ReplayRequest {
    pub replay_id: String,
    pub lane: LaneKey,
}

/// [`ReplayRequest`] on the wire: `{"replayId", "streamId"}` or
/// `{"replayId", "allStreams": true}`. Messages of earlier versions
/// carried `fromEventId` and `progress` too; they are ignored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestFields {
    replay_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream_id: Option<StreamId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all_streams: bool,
}

impl TryFrom<RequestFields> for ReplayRequest {
    type Error = String;

    fn try_from(fields: RequestFields) -> Result<Self, String> {
        let lane = match (fields.stream_id, fields.all_streams) {
            (Some(stream_id), false) => LaneKey::Stream(stream_id),
            (None, true) => LaneKey::AllStreams,
            _ => return Err("a replay request names either a streamId or allStreams".into()),
        };
        Ok(ReplayRequest {
            replay_id: fields.replay_id,
            lane,
        })
    }
}

impl From<ReplayRequest> for RequestFields {
    fn from(request: ReplayRequest) -> Self {
        let (stream_id, all_streams) = match request.lane {
            LaneKey::Stream(stream_id) => (Some(stream_id), false),
            LaneKey::AllStreams => (None, true),
        };
        RequestFields {
            replay_id: request.replay_id,
            stream_id,
            all_streams,
        }
    }
}

/// Where a replay job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplayState {
    Queued,
    Running,
    Done,
    Failed,
}

impl ReplayState {
    /// Done or failed: the job never changes again.
    pub fn ended(self) -> bool {
        matches!(self, ReplayState::Done | ReplayState::Failed)
    }
}

/// What a rebuild of every stream counted, as its job reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamCounts {
    pub streams_replayed: u64,
    pub streams_queued: u64,
    pub streams_failed: u64,
}

/// One replay job as stored and as `GET /replayStatus` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayJob {
    pub replay_id: String,
    #[serde(flatten)]
    pub scope: ReplayScope,
    pub state: ReplayState,
    pub events_applied: u64,
    /// A rebuild's counts.
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub streams: Option<StreamCounts>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The rebuild this stream replay is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

impl ReplayJob {
    /// The job of `entry` in the lane `key`, as it stands.
    pub fn of(key: &LaneKey, entry: &LaneEntry, state: ReplayState, now: DateTime<Utc>) -> Self {
        let (events_applied, streams) = match &entry.rebuild {
            Some(rebuild) => (
                rebuild.events_applied_so_far(),
                Some(StreamCounts {
                    streams_replayed: rebuild.streams_replayed,
                    streams_queued: rebuild.streams_queued,
                    streams_failed: rebuild.streams_failed,
                }),
            ),
            None => (
                entry.progress.as_ref().map_or(0, |p| p.events_applied),
                (*key == LaneKey::AllStreams).then(StreamCounts::default),
            ),
        };
        ReplayJob {
            replay_id: entry.replay_id.clone(),
            scope: key.scope(entry.from_event_id),
            state,
            events_applied,
            streams,
            error: None,
            updated_at: now,
            parent: entry.parent.clone(),
        }
    }

    /// When storage may forget the job.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.updated_at + Duration::seconds(REPLAY_STATUS_RETENTION_SECS)
    }

    /// The lane the job runs in.
    pub fn lane(&self) -> LaneKey {
        LaneKey::of(&self.scope)
    }
}

/// A replay in a lane: enough to run it, and where it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LaneEntry {
    pub replay_id: String,
    pub from_event_id: EventId,
    /// A stream replay's progress, as its run last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<ReplayProgress>,
    /// A rebuild's progress, as its run last reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebuild: Option<RebuildProgress>,
    /// The run working on it: set by [`claim`], cleared when the run hands
    /// over or is found dead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The rebuild this replay is a child of, which runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Times resumed since its last step.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub stalls: u32,
}

fn is_zero(stalls: &u32) -> bool {
    *stalls == 0
}

impl LaneEntry {
    pub(crate) fn new(replay_id: &str, from_event_id: EventId) -> LaneEntry {
        LaneEntry {
            replay_id: replay_id.to_owned(),
            from_event_id,
            progress: None,
            rebuild: None,
            run: None,
            parent: None,
            stalls: 0,
        }
    }

    /// The run that resumes it: its own, or its rebuild's.
    pub(crate) fn resumed_by(&self, key: &LaneKey) -> ReplayRequest {
        match &self.parent {
            Some(parent) => ReplayRequest {
                replay_id: parent.clone(),
                lane: LaneKey::AllStreams,
            },
            None => ReplayRequest {
                replay_id: self.replay_id.clone(),
                lane: key.clone(),
            },
        }
    }
}

/// A lane's replays: the one running, and the one queued behind it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayLane {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<LaneEntry>,
    /// Until when the running replay is taken as alive without a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued: Option<LaneEntry>,
}

impl ReplayLane {
    /// Whether a replay runs and its lease ran out at `now`.
    pub fn stalled_at(&self, now: DateTime<Utc>) -> bool {
        self.running.is_some() && self.lease_until.is_none_or(|until| now > until)
    }

    /// The running entry if it is `replay_id`.
    pub(crate) fn running_replay(&mut self, replay_id: &str) -> Option<&mut LaneEntry> {
        self.running
            .as_mut()
            .filter(|entry| entry.replay_id == replay_id)
    }

    /// The running entry if it is `replay_id` worked on by `run` (`None`:
    /// by no run).
    pub(crate) fn held_by(&mut self, replay_id: &str, run: Option<&str>) -> Option<&mut LaneEntry> {
        self.running_replay(replay_id)
            .filter(|entry| entry.run.as_deref() == run)
    }

    /// Gives the lane to the queued replay (or frees it); the request that
    /// starts it.
    pub(crate) fn hand_over(&mut self, key: &LaneKey, now: DateTime<Utc>) -> Option<ReplayRequest> {
        self.running = self.queued.take();
        self.lease_until = self.running.as_ref().map(|_| now + LEASE);
        self.running.as_ref().map(|next| next.resumed_by(key))
    }

    /// Deals with a running replay whose lease ran out: resumes it (its
    /// run is taken as dead), or fails it after [`MAX_STALLS`] resumes
    /// with no step and hands the lane over. Returns the job rows to write
    /// and the run to start.
    pub(crate) fn on_stall(
        &mut self,
        key: &LaneKey,
        now: DateTime<Utc>,
    ) -> (Vec<ReplayJob>, Option<ReplayRequest>) {
        let Some(running) = self.running.as_mut() else {
            return (Vec::new(), None);
        };
        running.run = None;
        running.stalls += 1;
        if running.stalls <= MAX_STALLS {
            self.lease_until = Some(now + LEASE);
            return (Vec::new(), Some(running.resumed_by(key)));
        }
        let mut failed = ReplayJob::of(key, running, ReplayState::Failed, now);
        failed.error = Some(format!(
            "stopped making progress: resumed {MAX_STALLS} times without completing a step"
        ));
        (vec![failed], self.hand_over(key, now))
    }
}

/// A lane as stored, with the revision a commit must find to replace it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredLane {
    pub lane: ReplayLane,
    pub revision: u64,
}

/// Where replay jobs and lanes are kept.
#[async_trait]
pub trait ReplayJobs: Send + Sync {
    /// The lane `key`, if it ever had one.
    async fn lane(&self, key: &LaneKey) -> Result<Option<StoredLane>, StoreError>;

    /// Stores `lane` (at revision `expected + 1`, or 0 when `expected` is
    /// `None`) and writes every job of `jobs`, all or nothing, if the
    /// stored lane is still at `expected` (`None`: no lane). `Ok(false)`,
    /// with nothing written, when it is not.
    async fn commit(
        &self,
        key: &LaneKey,
        expected: Option<u64>,
        lane: &ReplayLane,
        jobs: &[ReplayJob],
    ) -> Result<bool, StoreError>;

    /// The job `replay_id`, as last written; `None` if unknown or expired.
    async fn job(&self, replay_id: &str) -> Result<Option<ReplayJob>, StoreError>;

    /// Up to `limit` lanes with a running replay, after `after` in key
    /// order (the sweep's list: cost in proportion to the lanes held). May
    /// lag a commit a little; the sweep reads each lane again.
    async fn held_lanes(
        &self,
        after: Option<&LaneKey>,
        limit: usize,
    ) -> Result<Vec<LaneKey>, StoreError>;
}

/// A run's report of where it got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunProgress {
    Stream(ReplayProgress),
    Rebuild(RebuildProgress),
}

impl RunProgress {
    /// Sets `entry`'s progress; whether it moved.
    pub(crate) fn set(self, entry: &mut LaneEntry) -> bool {
        match self {
            RunProgress::Stream(progress) => {
                let moved = entry.progress.as_ref() != Some(&progress);
                entry.progress = Some(progress);
                moved
            }
            RunProgress::Rebuild(rebuild) => {
                let moved = entry.rebuild.as_ref() != Some(&rebuild);
                entry.rebuild = Some(rebuild);
                moved
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_a_stream_or_every_stream_and_read_earlier_versions_messages() {
        let stream = StreamId::parse("s-1", "streamId").unwrap();
        for (request, text) in [
            (
                ReplayRequest {
                    replay_id: "r".into(),
                    lane: LaneKey::Stream(stream.clone()),
                },
                r#"{"replayId":"r","streamId":"s-1"}"#,
            ),
            (
                ReplayRequest {
                    replay_id: "r".into(),
                    lane: LaneKey::AllStreams,
                },
                r#"{"replayId":"r","allStreams":true}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&request).unwrap(), text);
            assert_eq!(
                serde_json::from_str::<ReplayRequest>(text).unwrap(),
                request
            );
        }
        // What earlier versions sent: the progress is the lane's now.
        let earlier = r#"{"replayId":"r","streamId":"s-1","fromEventId":3,"progress":{"phase":"apply","next":7,"eventsApplied":0,"itemsWritten":0,"itemsSuperseded":0,"rowsRemoved":0}}"#;
        assert_eq!(
            serde_json::from_str::<ReplayRequest>(earlier).unwrap().lane,
            LaneKey::Stream(stream)
        );
        assert!(serde_json::from_str::<ReplayRequest>(r#"{"replayId":"r"}"#).is_err());
    }

    #[test]
    fn jobs_keep_their_scope_and_counts_and_read_earlier_versions_rows() {
        let all = ReplayJob {
            replay_id: "r".into(),
            scope: ReplayScope::AllStreams,
            state: ReplayState::Running,
            events_applied: 12,
            streams: Some(StreamCounts {
                streams_replayed: 2,
                streams_queued: 1,
                streams_failed: 0,
            }),
            error: None,
            updated_at: DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            parent: None,
        };
        let text = serde_json::to_string(&all).unwrap();
        assert!(text.contains(r#""allStreams":true"#), "{text}");
        assert!(text.contains(r#""streamsReplayed":2"#), "{text}");
        assert!(!text.contains("streamId"), "{text}");
        assert_eq!(serde_json::from_str::<ReplayJob>(&text).unwrap(), all);

        let earlier = r#"{"replayId":"old","streamId":"s","fromEventId":4,"state":"done","eventsApplied":9,"updatedAt":"2026-12-01T00:00:00Z","progress":{"phase":"done","eventsApplied":9,"itemsWritten":1,"itemsSuperseded":0,"rowsRemoved":0}}"#;
        let job: ReplayJob = serde_json::from_str(earlier).unwrap();
        assert_eq!(job.scope.from_event_id(), EventId::new(4));
        assert_eq!(
            job.lane(),
            LaneKey::Stream(StreamId::parse("s", "streamId").unwrap())
        );
        assert_eq!(
            (job.state, job.events_applied, job.streams),
            (ReplayState::Done, 9, None)
        );
    }

    #[test]
    fn the_all_streams_lane_is_the_one_key_no_stream_can_have() {
        assert_eq!(LaneKey::from_key(""), Ok(LaneKey::AllStreams));
        let stream = LaneKey::from_key("a").unwrap();
        assert_eq!(stream.as_key(), "a");
        assert_eq!(LaneKey::AllStreams.as_key(), "");
    }
}
