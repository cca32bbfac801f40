//! The limits on what the API accepts: one definition each, read by the
//! validation here and by the adapters and the template elsewhere.

/// The largest request body the API accepts.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// The longest string (in characters) accepted for any id.
pub const MAX_STRING_CHARS: usize = 256;
/// The largest amount: the largest integer JSON numbers carry exactly.
pub const MAX_AMOUNT: u64 = (1 << 53) - 1;
