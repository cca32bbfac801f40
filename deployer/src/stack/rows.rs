//! Which rows of the stream index a function's role may write: the
//! narrowing of its `dynamodb:PutItem` grant there, in IAM's own terms.
//!
//! The stream index holds several kinds of rows (`service::dynamo::schema`):
//! a stream's `HEAD` and `ITEM#...` rows, keyed by the stream id; the
//! list of streams, a `STREAM#<id>` row each in the partition `streams`; an
//! idempotency key's row, in a partition `idempotency-key#<key>` of its own;
//! parked records, all in the partition `parked-records`; and the local
//! followers' checkpoints, in the partition `checkpoints`.
//!
//! Who writes what:
//! - add-event writes stream rows (a new stream's row in the list too) and
//!   idempotency-key rows. Their partition
//!   keys are data: any stream id a client sends (a stream may even be
//!   called `parked-records`, its rows then sit in that partition beside
//!   the parked ones, under other sort keys) and any key. So its grant
//!   cannot list partitions, and a deny on the other writers' partitions
//!   would refuse appends to streams of those names. IAM has no condition
//!   on sort keys. What it can name is the attributes a request writes or
//!   tests (`dynamodb:Attributes`): add-event may write rows made only of
//!   the attributes of stream and idempotency-key rows, so never a parked
//!   record's (`reason`, `record`, `parkedAt`) or a checkpoint's
//!   (`position`). An allow-list, as the DynamoDB guide advises over
//!   deny-lists ("Using IAM policy conditions for fine-grained access
//!   control", <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/specifying-conditions.html>).
//! - the projector parks what it cannot decode: only the partition
//!   `parked-records` (`dynamodb:LeadingKeys`), only parked rows'
//!   attributes.
//! - nothing deployed writes checkpoints (only local mode's followers do),
//!   so no role may.
//!
//! Both keys take `ForAllValues:StringEquals`, which the guide requires
//! for `LeadingKeys`; every PutItem carries its partition key and its
//! attributes, so neither key is ever absent (where `ForAllValues` would
//! hold vacuously). The key attributes are in every list, as the guide
//! requires. Reads (GetItem, BatchGetItem) are not narrowed: a read
//! without a projection names no attributes, and reading rows changes
//! nothing.

use service::dynamo::schema::{
    APPENDED_TO, ENTRY, EVENT_ID, EXPIRES_AT, FINGERPRINT, LAST_EVENT_ID, LIVE, PARKED_AT,
    PARKED_RECORDS_STREAM, REASON, RECORD, RECORDED_AT, STREAM_ID, VERSION,
};

use crate::cfn::iam::{ConditionOperator, Statement};

/// The rows a write grant may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rows {
    /// The partition keys it may write (`dynamodb:LeadingKeys`); `None`:
    /// any, for rows keyed by data.
    pub partitions: Option<&'static [&'static str]>,
    /// Every attribute a written row may carry or a condition may test
    /// (`dynamodb:Attributes`), the keys included.
    pub attributes: &'static [&'static str],
}

/// add-event's rows: a stream's `HEAD` (version, last write) and `ITEM#`
/// rows (live, last event id), its row in the list of streams (keys
/// only), and idempotency-key rows (fingerprint, the append they name,
/// when they expire).
pub const STREAM_AND_IDEMPOTENCY_KEY_ROWS: Rows = Rows {
    partitions: None,
    attributes: &[
        STREAM_ID,
        ENTRY,
        VERSION,
        LIVE,
        LAST_EVENT_ID,
        FINGERPRINT,
        APPENDED_TO,
        EVENT_ID,
        RECORDED_AT,
        EXPIRES_AT,
    ],
};

/// The projector's rows: parked records, in their one partition.
pub const PARKED_RECORD_ROWS: Rows = Rows {
    partitions: Some(&[PARKED_RECORDS_STREAM]),
    attributes: &[STREAM_ID, ENTRY, REASON, RECORD, PARKED_AT],
};

/// The IAM condition key of the partition key a request touches.
pub const LEADING_KEYS: &str = "dynamodb:LeadingKeys";
/// The IAM condition key of the attributes a request names.
pub const ATTRIBUTES: &str = "dynamodb:Attributes";

impl Rows {
    /// `statement`, narrowed to these rows.
    pub(crate) fn narrow(self, statement: Statement) -> Statement {
        let statement = match self.partitions {
            Some(partitions) => statement.when(
                ConditionOperator::ForAllValuesStringEquals,
                LEADING_KEYS,
                partitions,
            ),
            None => statement,
        };
        statement.when(
            ConditionOperator::ForAllValuesStringEquals,
            ATTRIBUTES,
            self.attributes,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use service::dynamo::schema::{CHECKPOINTS_STREAM, POSITION};

    #[test]
    fn no_writer_may_write_another_kind_of_row() {
        let parked_only = [REASON, RECORD, PARKED_AT];
        for attribute in parked_only.iter().chain([&POSITION]) {
            assert!(
                !STREAM_AND_IDEMPOTENCY_KEY_ROWS
                    .attributes
                    .contains(attribute),
                "add-event may write {attribute}"
            );
        }
        for attribute in [VERSION, LIVE, FINGERPRINT, POSITION] {
            assert!(
                !PARKED_RECORD_ROWS.attributes.contains(&attribute),
                "the projector may write {attribute}"
            );
        }
        let partitions = PARKED_RECORD_ROWS.partitions.unwrap_or_default();
        assert!(!partitions.contains(&CHECKPOINTS_STREAM));
        for rows in [STREAM_AND_IDEMPOTENCY_KEY_ROWS, PARKED_RECORD_ROWS] {
            assert!(
                rows.attributes.contains(&STREAM_ID) && rows.attributes.contains(&ENTRY),
                "the key attributes are listed"
            );
        }
    }
}
