//! The storage conformance suite: what every adapter of the domain ports
//! (`EventStore`, `ReadModel`, `Checkpoints`, `ReplayJobs`, `ParkedRecords`) must do, whatever its backend,
//! and what the replays run over them must do whatever befalls their runs
//! (`runs.rs`).
//!
//! Each case is a public async function taking a fresh [`Stores`]; the
//! [`conformance_tests!`](crate::conformance_tests) macro turns all of them
//! into `#[tokio::test]`s for one adapter (the calling crate needs `tokio`
//! with the `macros` and `rt-multi-thread` features). Every case uses stream
//! ids and checkpoint names of its own, so adapters may share tables between
//! cases and runs.

use std::any::Any;
use std::sync::Arc;

use domain::{Checkpoints, EventStore, ParkedRecords, ReadModel, ReplayJobs};

/// A fresh, isolated set of the ports under test.
#[derive(Clone)]
pub struct Stores {
    pub events: Arc<dyn EventStore>,
    pub read_model: Arc<dyn ReadModel>,
    pub checkpoints: Arc<dyn Checkpoints>,
    pub replay_jobs: Arc<dyn ReplayJobs>,
    pub parked: Arc<dyn ParkedRecords>,
    /// What must live as long as the ports (a temporary directory).
    keep_alive: Option<Arc<dyn Any + Send + Sync>>,
    /// Writes streams' first events as the adapter's appends store them,
    /// in bulk, for the cases about many streams on a backend where ten
    /// thousand appends one by one would take minutes (the emulator).
    pub(crate) seed_first_events: Option<SeedFirstEvents>,
}

/// See [`Stores::seeding_first_events_with`].
pub type SeedFirstEvents = Arc<
    dyn Fn(Vec<domain::RecordedEvent>) -> futures::future::BoxFuture<'static, ()> + Send + Sync,
>;

impl Stores {
    /// The set made of one value that implements all three ports.
    pub fn from_one<S>(store: S) -> Self
    where
        S: EventStore + ReadModel + Checkpoints + ReplayJobs + ParkedRecords + 'static,
    {
        let store = Arc::new(store);
        Stores {
            events: store.clone(),
            read_model: store.clone(),
            checkpoints: store.clone(),
            replay_jobs: store.clone(),
            parked: store,
            keep_alive: None,
            seed_first_events: None,
        }
    }

    /// The same set, creating the many streams of the listing cases with
    /// `seed`, which must store each event (every one the first of its
    /// stream) exactly as an append of it would.
    pub fn seeding_first_events_with(mut self, seed: SeedFirstEvents) -> Self {
        self.seed_first_events = Some(seed);
        self
    }

    /// The same set, keeping `guard` (say, the store's temporary
    /// directory) alive until the last port is dropped.
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Self {
        self.keep_alive = Some(Arc::new(guard));
        self
    }
}

/// Expands into one `#[tokio::test]` per conformance case. `$make` is an
/// expression whose value is a future of a fresh [`Stores`]; it is evaluated
/// once per test.
///
/// ```text
/// testkit::conformance_tests!(async { Stores::from_one(MyStore::new().await) });
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::conformance_tests!(@cases $make;
            appends_get_contiguous_ids_and_read_back_intact,
            read_stream_pages_from_an_id_with_a_limit,
            creating_a_live_item_again_is_rejected_and_stores_nothing,
            changing_or_deleting_an_absent_item_is_rejected_and_stores_nothing,
            an_item_can_be_created_again_after_its_deletion,
            every_event_type_after_any_two_is_decided_as_the_domain_decides,
            a_stale_expected_version_is_rejected_with_the_current_version,
            concurrent_appends_get_unique_contiguous_ids,
            concurrent_creates_of_one_item_admit_exactly_one,
            concurrent_appends_expecting_one_version_admit_exactly_one,
            streams_are_independent,
            unicode_and_maximum_length_ids_round_trip,
            projection_writes_newer_changes_and_supersedes_same_or_older,
            a_late_older_change_does_not_undo_a_delete,
            replay_mode_rewrites_the_same_version_but_not_an_older_one,
            list_is_sorted_by_byte_order_and_excludes_tombstones,
            list_pages_by_item_id_after_the_cursor_and_skips_tombstones,
            rows_show_tombstones_and_versions_in_item_order,
            remove_takes_a_row_only_at_the_version_read,
            repeated_split_and_reordered_batches_converge_to_the_fold,
            latest_event_ids_name_each_items_last_event,
            a_repeat_with_its_key_answers_the_first_event_and_stores_nothing,
            a_key_sent_with_another_request_is_refused_and_stores_nothing,
            concurrent_requests_with_one_key_append_one_event,
            a_refused_append_leaves_its_key_unused,
            a_key_is_forgotten_a_day_after_its_append,
            replay_from_zero_over_a_corrupted_read_model_equals_the_fold,
            replay_from_k_repairs_the_items_touched_since_k,
            a_replay_never_shows_a_reader_a_missing_or_intermediate_item,
            a_replay_resumes_from_its_saved_progress,
            a_replay_and_the_live_projection_do_not_undo_each_other,
            streams_list_in_id_order_with_their_version_and_last_write,
            events_read_in_pages_forward_and_backward_each_once,
            an_unknown_stream_reads_as_none_and_past_the_end_as_empty,
            a_forward_read_during_appends_sees_each_event_once,
            metadata_is_stored_with_its_event_and_read_back,
            a_stream_with_the_longest_id_reads_and_lists,
            ten_thousand_streams_list_in_pages_each_once,
            checkpoints_start_empty_then_save_and_overwrite,
            parked_records_list_in_source_order_and_a_source_parks_once,
            a_lane_commits_only_at_the_revision_read,
            a_job_is_unknown_until_written_then_reads_back_intact,
            triggers_start_on_a_free_lane_then_share_one_queued_replay,
            a_finished_run_hands_the_lane_to_the_queued_replay,
            concurrent_triggers_of_one_stream_start_exactly_one_replay,
            a_run_that_stopped_reporting_is_resumed_from_its_lanes_progress,
            a_second_or_late_delivery_of_a_run_changes_nothing,
            a_released_replay_is_claimed_at_once_by_the_next_run,
            a_replay_that_never_steps_fails_and_the_queued_one_starts,
            held_lanes_list_the_lanes_with_a_running_replay,
            a_rebuild_borrows_free_streams_and_queues_behind_busy_ones,
            a_replay_survives_a_lane_commit_that_fails,
            a_replay_whose_continuation_was_lost_is_resumed_by_the_sweep,
            a_replay_killed_mid_step_is_resumed_from_its_last_report,
            a_delivery_after_the_end_changes_nothing,
            a_rebuild_replays_every_stream_and_queues_behind_busy_ones,
            a_rebuild_killed_mid_stream_resumes_and_counts_each_stream_once,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::conformance::$case(($make).await).await
            }
        )+
    };
}

mod checkpoints;
mod event_store;
mod idempotency;
mod jobs;
mod lane_rebuilds;
mod lane_runs;
mod parked;
mod read_model;
mod reads;
mod replay;
mod runs;
mod streams;
mod support;

pub use checkpoints::*;
pub use event_store::*;
pub use idempotency::*;
pub use jobs::*;
pub use lane_rebuilds::*;
pub use lane_runs::*;
pub use parked::*;
pub use read_model::*;
pub use reads::*;
pub use replay::*;
pub use runs::*;
pub use streams::*;
pub use support::{event_of, unique_stream};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// A case written here but left out of `conformance_tests!` would
    /// never run on any adapter: every `pub async fn ...(stores: Stores)`
    /// of any file here must be in the macro's list, and nothing else.
    #[test]
    fn every_case_is_in_the_macro_list() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/conformance");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("the conformance directory")
            .map(|entry| entry.expect("a directory entry").path())
            .collect();
        files.sort();
        let source: String = files
            .iter()
            .map(|path| std::fs::read_to_string(path).expect("a case file"))
            .collect();
        let cases: BTreeSet<&str> = source
            .lines()
            .filter_map(|line| line.strip_prefix("pub async fn "))
            .filter(|rest| rest.contains("(stores: Stores)"))
            .filter_map(|rest| rest.split('(').next())
            .collect();
        let start = source
            .find("@cases $make;\n")
            .expect("the macro's list of cases");
        let listed: BTreeSet<&str> = source[start..]
            .lines()
            .skip(1)
            .take_while(|line| !line.trim_start().starts_with(')'))
            .map(|line| line.trim().trim_end_matches(','))
            .filter(|name| !name.is_empty())
            .collect();
        assert!(cases.len() >= 25, "found only {cases:?}");
        assert_eq!(
            cases.difference(&listed).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "cases missing from conformance_tests!"
        );
        assert_eq!(
            listed.difference(&cases).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "listed in conformance_tests! but not a case"
        );
    }
}
