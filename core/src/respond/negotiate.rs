//! Content negotiation: where `Accept-Encoding` will choose a precompressed
//! sibling (`x.br`, `x.zst`, `x.gz`) of the file a plan serves. For now a
//! pass-through: every plan is served as resolved.

use super::Plan;
use crate::Request;

/// Every plan passes through unchanged.
pub(crate) fn encoding<H>(plan: Plan<H>, _request: &Request<'_>) -> Plan<H> {
    plan
}
