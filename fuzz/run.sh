#!/usr/bin/env bash
# Fuzz every target of fuzz/ for SECONDS each (default 60), one after the
# other, and print each one's exec/s and corpus size at the end. Exits
# non-zero if any target crashed (libFuzzer saves the input under
# fuzz/artifacts/<target>/; core/tests/fuzz_regressions.rs replays it).
# Prints SKIPPED and exits 0 where fuzzing is impossible (no nightly, no
# cargo-fuzz and no way to install it).
#
#   fuzz/run.sh [SECONDS]
#
# The committed corpus fuzz/corpus/<target>/ is only read: new inputs go to
# fuzz/target/corpus/<target>/, kept between runs. To fold what is worth
# keeping into the committed corpus (only inputs that reach new code edges;
# -use_counters=0 keeps the corpus small), then check it with
# `cargo test -p portico-core --test fuzz_regressions`:
#
#   cd fuzz && cargo +nightly fuzz run -s none T corpus/T target/corpus/T -- \
#       -merge=1 -use_counters=0
#
# Built without a sanitizer: portico-core forbids unsafe code, so what
# fuzzing looks for is panics (overflow checks and debug assertions are on)
# and broken invariants, which need none, and runs faster without one.
# The corpus size printed is libFuzzer's (seeds and new inputs together).
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -eq 0 ]; then
    echo "usage: $0 [SECONDS]   (a whole number of seconds per target, default 60)" >&2
    exit 2
fi

if ! nightly="$(cargo +nightly --version 2>&1)"; then
    echo "SKIPPED: no nightly toolchain (cargo +nightly --version: $(head -n 1 <<<"$nightly"))"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed; installing it (cargo install cargo-fuzz --locked)"
    install_log="$(mktemp)"
    if ! cargo install cargo-fuzz --locked >"$install_log" 2>&1; then
        echo "cargo install cargo-fuzz failed:"
        tail -n 20 "$install_log"
        rm -f "$install_log"
        echo "SKIPPED: cargo-fuzz could not be installed"
        exit 0
    fi
    rm -f "$install_log"
fi

# CARGO_TARGET_DIR from the caller would send these builds elsewhere: the
# fuzz workspace builds in fuzz/target.
fuzz=(cargo +nightly fuzz)
common=(--fuzz-dir "$here" --target-dir "$here/target" --sanitizer none)

if ! "${fuzz[@]}" build "${common[@]}"; then
    echo "FAILED: the fuzz targets do not build" >&2
    exit 1
fi

mapfile -t targets < <("${fuzz[@]}" list --fuzz-dir "$here")
logs="$here/target/logs"
mkdir -p "$logs"
summary=()
failed=()
for target in "${targets[@]}"; do
    scratch="$here/target/corpus/$target"
    mkdir -p "$scratch" "$here/corpus/$target"
    log="$logs/$target.log"
    echo "=== $target: ${seconds}s (log: $log)"
    # The first corpus directory gets the new inputs; the second is the
    # committed seed corpus.
    "${fuzz[@]}" run "${common[@]}" "$target" "$scratch" "$here/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -dict="$here/http.dict" >"$log" 2>&1
    status=$?
    if [ "$status" -ne 0 ]; then
        failed+=("$target")
        echo "--- $target FAILED (exit $status):"
        if grep -qE 'panicked at|ERROR: libFuzzer' "$log"; then
            grep -E -A4 'panicked at|ERROR: libFuzzer' "$log" | head -n 20
            grep -E 'Test unit written to' "$log" | tail -n 1
        else
            tail -n 40 "$log"
        fi
    fi
    # libFuzzer's last status line ("#123 DONE cov: .. corp: 45/1234b ..")
    # and its final stats ("stat::average_exec_per_sec: 4567").
    execs="$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)"
    runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)"
    corpus="$(grep -o 'corp: [0-9]*/[0-9]*[KMG]*b' "$log" | tail -n 1 | sed 's/corp: //')"
    summary+=("$(printf '%-24s %10s %12s %16s %8s' "$target" "${execs:-?}" "${runs:-?}" \
        "${corpus:-?}" "$([ "$status" -eq 0 ] && echo ok || echo CRASH)")")
done

echo
printf '%-24s %10s %12s %16s %8s\n' target exec/s runs "corpus (n/size)" result
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
    echo "crashed: ${failed[*]} (inputs in $here/artifacts/)"
    exit 1
fi
