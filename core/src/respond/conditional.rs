//! Conditional requests (RFC 9110 §13): where `If-None-Match`,
//! `If-Modified-Since`, `If-Match` and `If-Unmodified-Since` will turn a
//! file plan into 304 or 412. For now a pass-through.

use super::Plan;
use crate::Request;

/// Every plan passes through unchanged.
pub(crate) fn evaluate<H>(plan: Plan<H>, _request: &Request<'_>) -> Plan<H> {
    plan
}
