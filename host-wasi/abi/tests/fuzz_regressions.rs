//! The `guest_answer` fuzz target's invariants, under `cargo test` on
//! stable: every file of `fuzz/corpus/guest_answer/` and of
//! `fuzz/artifacts/guest_answer/` (crashes libFuzzer saved, if any) goes
//! through the target's own check, included from `fuzz/src/guest.rs`
//! (`core/tests/fuzz_regressions.rs` does the same for the core's
//! targets, which need no `portico_abi`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub, dead_code)]
#[path = "../../../fuzz/src/guest.rs"]
mod guest;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files(kind: &str) -> Vec<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz").join(kind).join("guest_answer");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.is_file() && !path.file_name().unwrap().to_string_lossy().starts_with('.')
        })
        .collect()
}

fn replay(paths: &[PathBuf]) {
    let failed: Vec<String> = paths
        .iter()
        .filter(|path| {
            let bytes = std::fs::read(path).unwrap();
            catch_unwind(AssertUnwindSafe(|| guest::guest_answer(&bytes))).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "these inputs break guest_answer's invariants: {failed:#?}");
}

#[test]
fn the_committed_corpus_keeps_every_invariant() {
    let corpus = files("corpus");
    assert!(!corpus.is_empty(), "fuzz/corpus/guest_answer/ is missing or empty");
    replay(&corpus);
}

#[test]
fn saved_crashes_keep_every_invariant() {
    replay(&files("artifacts"));
}

/// The corpus reaches what the invariants are about: a response that
/// names a file, whose ranges fit, decoded from memory.
#[test]
fn the_corpus_reaches_a_response_with_a_file() {
    use portico_abi::{decode_block, ranges_fit};
    use portico_core::Step;
    let reached = files("corpus").iter().any(|path| {
        let bytes = std::fs::read(path).unwrap();
        let Some(block) = bytes.get(4..) else { return false };
        let at = usize::from(bytes[1]);
        let mut memory = vec![0; at];
        memory.extend_from_slice(&u32::try_from(block.len() + 4).unwrap().to_le_bytes());
        memory.extend_from_slice(block);
        let input_len = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
        match decode_block(&memory, at, input_len, Vec::new()) {
            Ok(result) => matches!(&result.step,
                Step::Respond { response, .. } if response.body.handle().is_some() && ranges_fit(response)),
            Err(_) => false,
        }
    });
    assert!(reached, "no input of the corpus is a response with a file");
}
