//! What a refused append write tells about its stream. Each put of the
//! write asks for its row as it was when its condition failed
//! (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), and DynamoDB returns
//! it in that put's `CancellationReason` (`Item`); a reason coded `None`
//! says the put's condition held. HEAD, the item row and the key's row
//! each either held as assumed or came back, so the state is known and
//! the append decides again and writes, without a read
//! (docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_CancellationReason.html,
//! docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_Put.html).
//! A failed condition without its row leaves the state unknown: read it.
//! Trusting a reason is safe either way: a state it misreports is only
//! assumed by the next write, whose conditions check it again.

use aws_sdk_dynamodb::types::CancellationReason;
use domain::{DecisionState, IdempotencyKey, RememberedAppend, StoreError, Version};

use super::DynamoStore;
use super::codec::{Item, boolean, number};
use super::schema::{HEAD_ENTRY, LIVE, VERSION};

/// The state of a stream when a write was refused, as its reasons show.
#[derive(Debug)]
pub(super) struct Current {
    pub state: DecisionState,
    /// What the command's key held, if it holds anything.
    pub remembered: Option<RememberedAppend>,
}

/// One put's reason: its condition held, or failed on this row, or the
/// reason does not say.
enum Outcome<'a> {
    Held,
    FailedOn(&'a Item),
    Unknown,
}

fn outcome(reason: Option<&CancellationReason>) -> Outcome<'_> {
    let Some(reason) = reason else {
        return Outcome::Unknown;
    };
    match (reason.code(), reason.item()) {
        // "If no error occurred for the associated item an error with a
        // Null code and Null message will be present"; DynamoDB and the
        // emulator write that null code as "None".
        (None | Some("None"), _) => Outcome::Held,
        (Some("ConditionalCheckFailed"), Some(row)) => Outcome::FailedOn(row),
        _ => Outcome::Unknown,
    }
}

impl DynamoStore {
    /// The stream's state from a refused write's `reasons` (positional:
    /// event, HEAD, item row, then the key's row when the command has a
    /// key), given the state the write `assumed`; `None` when a reason
    /// leaves any of it unknown.
    pub(super) fn current_from_reasons(
        &self,
        stream: &str,
        item_entry: &str,
        key: Option<&IdempotencyKey>,
        assumed: &DecisionState,
        reasons: &[CancellationReason],
    ) -> Result<Option<Current>, StoreError> {
        let version = match outcome(reasons.get(1)) {
            Outcome::Held => assumed.version,
            Outcome::FailedOn(head) => self.head_version(stream, Some(head))?,
            Outcome::Unknown => return Ok(None),
        };
        let item_live = match outcome(reasons.get(2)) {
            Outcome::Held => assumed.item_live,
            Outcome::FailedOn(row) => self.item_live(stream, item_entry, Some(row))?,
            Outcome::Unknown => return Ok(None),
        };
        let remembered = match key {
            None => None,
            Some(key) => match outcome(reasons.get(3)) {
                // Free, or held by an expired request: nothing to recall.
                Outcome::Held => None,
                Outcome::FailedOn(row) => self.remembered_from(key, Some(row))?,
                Outcome::Unknown => return Ok(None),
            },
        };
        Ok(Some(Current {
            state: DecisionState { version, item_live },
            remembered,
        }))
    }

    /// The version a HEAD row holds; a stream without one is empty.
    pub(super) fn head_version(
        &self,
        stream: &str,
        head: Option<&Item>,
    ) -> Result<Version, StoreError> {
        let Some(head) = head else {
            return Ok(Version::EMPTY);
        };
        let corrupt = |problem: String| self.corrupt_index_row(stream, HEAD_ENTRY, problem);
        let raw: i64 = number(head, VERSION).map_err(corrupt)?;
        Version::new(raw).ok_or_else(|| corrupt(format!("version {raw} is below -1")))
    }

    /// Whether an item row says its item is live; no row, not live.
    pub(super) fn item_live(
        &self,
        stream: &str,
        item_entry: &str,
        row: Option<&Item>,
    ) -> Result<bool, StoreError> {
        match row {
            None => Ok(false),
            Some(row) => boolean(row, LIVE)
                .map_err(|problem| self.corrupt_index_row(stream, item_entry, problem)),
        }
    }

    fn corrupt_index_row(&self, stream: &str, entry: &str, problem: String) -> StoreError {
        StoreError::Corrupt(format!(
            "{} row ({stream}, {entry}): {problem}",
            self.tables.stream_index
        ))
    }
}
