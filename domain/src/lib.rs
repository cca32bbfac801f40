//! The event-sourcing core of the service, shared by the Lambda functions,
//! local mode and the tests.
//!
//! Pure by design: no AWS crate and no I/O runtime. Storage is reached only
//! through the ports in [`ports`]; the async functions here ([`replay`]) only
//! await those ports, so any executor can drive them.

pub mod error;
pub mod event;
pub mod ids;
pub mod ports;
pub mod projection;
pub mod replay;
pub mod rules;
pub mod validate;

pub use error::{ErrorCode, Invalid};
pub use event::{Amount, DomainEvent, EventType, RecordedEvent};
pub use ids::{EventId, ItemId, StreamId, Version};
pub use ports::{
    AppendError, ApplyMode, ApplyOutcome, Checkpoints, EventStore, ItemView, ReadModel, StoreError,
};
pub use projection::{ItemChange, ItemState, StreamFold, coalesce};
pub use replay::{ReplayReport, ReplayRequest, ReplayTarget};
pub use rules::{AppendCommand, DecisionState, Rejection, decide};

/// The largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The longest string (in characters) accepted for any id.
pub const MAX_STRING_CHARS: usize = 256;
/// The largest amount: the largest integer JSON numbers carry exactly.
pub const MAX_AMOUNT: u64 = (1 << 53) - 1;
