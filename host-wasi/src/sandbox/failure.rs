//! How a call into the guest fails, and wasmtime's errors in anyhow's
//! terms.

use anyhow::anyhow;
use wasmtime::Trap;

/// Why a call into the guest failed. Either way the instance is dropped.
#[derive(Debug)]
pub(crate) enum GuestFailure {
    /// It ran past its time budget (epoch deadline): 503.
    Timeout,
    /// It trapped, ran out of memory, or returned nonsense: 500.
    Fault(anyhow::Error),
}

/// A trap from the epoch deadline is a timeout; anything else a fault.
pub(super) fn classify(error: wasmtime::Error) -> GuestFailure {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        GuestFailure::Timeout
    } else {
        GuestFailure::Fault(wasm_error(error))
    }
}

/// wasmtime's error type into anyhow, keeping the whole message chain.
pub(crate) fn wasm_error(error: wasmtime::Error) -> anyhow::Error {
    anyhow!("{error:#}")
}
