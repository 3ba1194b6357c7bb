#!/usr/bin/env bash
# Regenerates docs/listing.png (1000x700) and docs/listing-phone.png
# (390x800): headless Chromium's view of a directory listing portico
# serves, for the docs. Needs chromium; builds portico (debug) with cargo,
# into $CARGO_TARGET_DIR if set.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --quiet -p portico
portico="${CARGO_TARGET_DIR:-target}/debug/portico"

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A small project, sizes and dates fixed so the pictures only change when
# the page does.
site="$work/site/my-project"
mkdir -p "$site"/{assets,docs,src,.git}
file() { # path size date
    truncate -s "$2" "$site/$1"
    touch -d "$3" "$site/$1"
}
file assets/logo.svg 3912 "2025-02-03 10:12 UTC"
file docs/guide.md 8420 "2025-03-01 16:40 UTC"
file src/main.rs 1204 "2025-03-12 08:05 UTC"
file .git/HEAD 23 "2025-03-14 09:26 UTC"
file README.md 2187 "2025-03-14 09:26 UTC"
file app.js 14663 "2025-03-13 18:52 UTC"
file photo.jpg 1893421 "2024-11-30 14:03 UTC"
file "notes (draft).txt" 612 "2025-03-10 21:17 UTC"
file "café.txt" 48 "2025-01-07 12:00 UTC"
file package.json 731 "2025-02-20 11:31 UTC"
file styles.css 5310 "2025-03-13 18:50 UTC"
file report-2024.pdf 412087 "2025-01-15 09:44 UTC"

"$portico" --port 0 --bind 127.0.0.1 "$work/site" >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*' "$work/log" || true)
    [ -n "$url" ] && break
    sleep 0.1
done
[ -n "$url" ] || { cat "$work/log" >&2; exit 1; }

shot() { # output size
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage \
        --no-proxy-server --no-first-run --disable-background-networking \
        --disable-component-update --disable-sync --disable-extensions \
        --hide-scrollbars --user-data-dir="$work/profile" \
        --screenshot="$1" --window-size="$2" "${url}my-project/" 2>/dev/null
}
shot docs/listing.png 1000,700
shot docs/listing-phone.png 390,800
echo "wrote docs/listing.png and docs/listing-phone.png"
