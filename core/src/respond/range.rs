//! Range requests (RFC 9110 §14): where `Range` and `If-Range` will turn a
//! file plan into 206 (one range, or `multipart/byteranges` as
//! [`crate::Body::Parts`]) or 416. For now a pass-through.

use super::Plan;
use crate::Request;

/// Every plan passes through unchanged.
pub(crate) fn select<H>(plan: Plan<H>, _request: &Request<'_>) -> Plan<H> {
    plan
}
