//! The event store adopted with a resource import, and the account's
//! CloudWatch role, against recorded responses.

use super::*;
