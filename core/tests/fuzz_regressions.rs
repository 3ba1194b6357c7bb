//! The fuzz targets' invariants, under `cargo test` on stable.
//!
//! Every file of `fuzz/corpus/<target>/` (the committed corpus) and of
//! `fuzz/artifacts/<target>/` (crashes libFuzzer saved, if any) goes
//! through the check its target runs, so a change that breaks what fuzzing
//! once established fails here without libFuzzer or nightly (as
//! x509-parser's `tests/run_all_fuzz_files.rs`). The checks are the fuzz
//! crate's own, included from `fuzz/src/lib.rs`.
//!
//! Every crash fuzzing finds also becomes a named regression test, with its
//! bytes inline, next to the behaviour it broke (the first, found by
//! connection_chunks, is `chunk_data_may_start_with_lf_in_any_split` in
//! `connection.rs`); its input stays under `fuzz/artifacts/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(unreachable_pub)]
#[path = "../../fuzz/src/lib.rs"]
mod invariants;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The check a target runs, by its directory name.
fn check_for(target: &str) -> invariants::Check {
    match invariants::TARGETS.iter().find(|(name, _)| *name == target) {
        Some(&(_, check)) => check,
        None => panic!("fuzz/*/{target}/ belongs to no fuzz target: add it to TARGETS"),
    }
}

/// Run every file under `fuzz/<kind>/<target>/` through its target's check,
/// and say how many files each target had. Hidden files (libFuzzer's
/// scratch files) are skipped. A missing `fuzz/<kind>/` is no files.
fn replay(kind: &str) -> Vec<(String, usize)> {
    let Ok(dirs) = std::fs::read_dir(fuzz_dir().join(kind)) else { return Vec::new() };
    let mut counts = Vec::new();
    let mut failed = Vec::new();
    for dir in dirs {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let target = dir.file_name().unwrap().to_string_lossy().into_owned();
        if invariants::REPLAYED_ELSEWHERE.iter().any(|(name, _)| *name == target) {
            continue;
        }
        let check = check_for(&target);
        let mut count = 0;
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if hidden(&file) || !file.is_file() {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap();
            // Keep going past a failure, so one run names every failing file.
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                failed.push(file.display().to_string());
            }
            count += 1;
        }
        counts.push((target, count));
    }
    assert!(failed.is_empty(), "these inputs break their target's invariant: {failed:#?}");
    counts
}

fn hidden(path: &Path) -> bool {
    path.file_name().is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

#[test]
fn the_committed_corpus_keeps_every_invariant() {
    let counts = replay("corpus");
    // Every target has a corpus, so none of them is checked vacuously.
    for (target, _) in invariants::TARGETS {
        let count = counts.iter().find(|(name, _)| name == target).map_or(0, |(_, n)| *n);
        assert!(count > 0, "fuzz/corpus/{target}/ is missing or empty");
    }
}

#[test]
fn saved_crashes_keep_every_invariant() {
    replay("artifacts");
}

/// The committed corpus still reaches what the invariants are about:
/// requests, skipped bodies, refusals and closes on a connection, and
/// heads both httparse and portico accept. Without this, a corpus that
/// drifted into garbage would pass the replay above vacuously.
#[test]
fn the_corpus_reaches_every_outcome() {
    use invariants::Seen;
    let files = |target: &str| {
        let dir = fuzz_dir().join("corpus").join(target);
        let paths = std::fs::read_dir(dir).unwrap().map(|f| f.unwrap().path());
        paths.filter(|p| !hidden(p)).map(|p| std::fs::read(p).unwrap())
    };

    let mut seen = [false; 4];
    for input in files("connection_chunks") {
        let input =
            input.get(1 + usize::from(input.first().map_or(0, |c| c >> 4))..).unwrap_or(&[]);
        for event in invariants::drive(portico_core::Limits::default(), [input], false) {
            match event {
                Seen::Request(_) => seen[0] = true,
                Seen::Discard(_) => seen[1] = true,
                Seen::Reject(_) => seen[2] = true,
                Seen::Close => seen[3] = true,
                Seen::End { .. } => {}
            }
        }
    }
    assert_eq!(seen, [true; 4], "requests, discards, rejects, closes");

    let both_complete = files("differential_httparse")
        .filter(|input| {
            let mut slots = [httparse::EMPTY_HEADER; 100];
            let theirs = httparse::Request::new(&mut slots).parse(input);
            let ours = portico_core::parse_request(input, &portico_core::Limits::default());
            matches!(theirs, Ok(httparse::Status::Complete(_)))
                && matches!(ours, Ok(portico_core::Parsed::Complete(_)))
        })
        .count();
    assert!(both_complete >= 50, "only {both_complete} heads both parsers accept");
}

/// The committed corpora of the static-file targets still reach what their
/// invariants are about: every kind of answer `respond` gives to a file
/// (conditional, ranged, encoded, listed), every outcome of the range
/// rules, and a value from every field parser.
#[test]
fn the_corpus_reaches_every_static_file_answer() {
    use portico_core::fields::{
        AcceptEncoding, EntityTag, RangeSelection, Tags, parse_http_date, parse_range, parse_tags,
        select_ranges,
    };
    use portico_core::{Body, Limits, Parsed, parse_request};
    let files = |target: &str| {
        let dir = fuzz_dir().join("corpus").join(target);
        let paths = std::fs::read_dir(dir).unwrap().map(|f| f.unwrap().path());
        paths.filter(|p| !hidden(p)).map(|p| std::fs::read(p).unwrap()).collect::<Vec<_>>()
    };

    let mut answers = std::collections::BTreeSet::new();
    for input in files("parse_request") {
        let Ok(Parsed::Complete(request)) = parse_request(&input, &Limits::default()) else {
            continue;
        };
        let response = invariants::site_response(&request);
        let status = response.status();
        answers.insert(status.to_string());
        if response.headers().get("content-encoding").is_some() {
            answers.insert(format!("{status} encoded"));
        }
        match response.body() {
            Body::Parts { .. } => answers.insert(format!("{status} multipart")),
            Body::Bytes(_) if response.headers().get("content-security-policy").is_some() => {
                answers.insert("listing".to_owned())
            }
            _ => false,
        };
    }
    for expected in
        ["200 encoded", "204", "206", "206 encoded", "206 multipart", "304", "406", "412", "416"]
            .into_iter()
            .chain(["listing"])
    {
        assert!(answers.contains(expected), "no {expected} in {answers:?}");
    }

    let mut outcomes = [false; 4];
    for input in files("ranges_differential") {
        let Some((text, len)) = invariants::range_case(&input) else { continue };
        match parse_range(&text).map(|specs| select_ranges(&specs, len as u64)) {
            None => outcomes[0] = true,
            Some(RangeSelection::Unsatisfiable) => outcomes[1] = true,
            Some(RangeSelection::Ranges(parts)) => outcomes[1 + parts.len().min(2)] = true,
        }
    }
    assert_eq!(outcomes, [true; 4], "ignored, unsatisfiable, one part, several parts");

    let mut values = [false; 6];
    for input in files("fields") {
        let lines = || input.split(|&b| b == b'\n');
        values[0] |= EntityTag::parse(&input).is_some();
        values[1] |= matches!(parse_tags(lines()), Some(Tags::List(_)));
        values[2] |= matches!(parse_tags(lines()), Some(Tags::Any));
        values[3] |= parse_range(&input).is_some();
        values[4] |= parse_http_date(&input).is_some();
        values[5] |= !AcceptEncoding::parse(lines()).preferred().is_empty();
    }
    assert_eq!(values, [true; 6], "a tag, a tag list, *, a range, a date, a coding");
}
