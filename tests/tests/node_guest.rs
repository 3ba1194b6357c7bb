//! Portability: the guest module runs in another WASI runtime, Node.js's
//! `node:wasi`, driven through the ABI with the very code docs/ABI.md
//! shows (configure, encode calls, decode result blocks), then checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use portico_tests::{Host, run_to_exit};

/// The example of docs/ABI.md, taken from the page itself so the two
/// cannot drift apart, made runnable here: the root and module come from
/// the command line, and the example's closing lines give way to checks.
fn driver() -> String {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/ABI.md"),
    )
    .expect("docs/ABI.md");
    let start = doc.find("```js\n").expect("a js example in docs/ABI.md") + "```js\n".len();
    let example = &doc[start..];
    let example = &example[..example.find("```").expect("the example ends")];
    let body = &example[example.find("const wasi = new WASI(").expect("the WASI setup")..];
    let body = &body[..body.find("const now = ").expect("the example's last lines")];
    let body = body
        .replace("'/path/to/site'", "root")
        .replace("await readFile('portico_guest.wasm')", "readFileSync(wasmPath)");
    format!("{PRELUDE}{body}{CHECKS}{END}")
}

const PRELUDE: &str = r#"const { readFileSync } = require('node:fs');
const { WASI } = require('node:wasi');
const assert = require('node:assert/strict');
const [wasmPath, root] = process.argv.slice(2);

(async () => {
"#;

const CHECKS: &str = r#"
// --- the checks (not in docs/ABI.md) ---
const fieldOf = (r, name) => (r.fields.find(([n]) => n.toLowerCase() === name.toLowerCase()) || [])[1];
assert.equal(g.portico_abi_version(), 5);
const get = step(new Uint8Array(32), enc.encode('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), 784111777, 0);
assert.equal(get.action, 2);
assert.equal(get.status, 200);
assert.equal(get.consumed, 33);
assert.equal(get.keepAlive, true);
assert.ok(get.head.startsWith('HTTP/1.1 200 OK\r\n') && get.head.endsWith('\r\n\r\n'), get.head);
assert.equal(get.awaitingHead, true);
assert.equal(get.inputComplete, false);
assert.equal(get.wakeAt, null);
assert.equal(get.bodyKind, 2);
assert.equal(get.file.path, 'index.html');
assert.equal(get.file.size, 24n);
assert.equal(get.offset, 0n);
assert.equal(get.length, 24n);
assert.equal(get.file.flags, 3, 'the guest reports the time and identity it saw');
assert.equal(fieldOf(get, 'Content-Length'), '24');
assert.equal(fieldOf(get, 'Date'), 'Sun, 06 Nov 1994 08:49:37 GMT');
assert.equal(fieldOf(get, 'X-Served-By'), 'node', 'the site configuration reached the guest');
const missing = step(new Uint8Array(32), enc.encode('GET /nope HTTP/1.1\r\nHost: example\r\n\r\n'), 784111777, 0);
assert.equal(missing.status, 404);
assert.equal(missing.bodyKind, 1);
assert.ok(Buffer.from(missing.body).toString().includes('404 Not Found'));
const partialInput = enc.encode('GET / HTTP/1.1\r\nHo');
const partial = step(new Uint8Array(32), partialInput, 784111777, 5e9);
assert.equal(partial.action, 0);
assert.equal(partial.consumed, 0);
assert.equal(partial.wakeAt, 15000000000n, 'the head deadline: 5 s + the 10 s head timeout');
const early = step(partial.state, partialInput, 784111777, 14e9, true);
assert.equal(early.action, 0, 'waking before the deadline changes nothing');
const late = step(partial.state, partialInput, 784111777, 15e9, true);
assert.equal(late.action, 2);
assert.equal(late.status, 408);
assert.equal(late.keepAlive, false);
const last = step(new Uint8Array(32), enc.encode('GET / HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n'), 784111777, 0);
assert.equal(last.keepAlive, false);
assert.equal(last.inputComplete, true, 'the last request, without a body: nothing more should come');
assert.equal(g.portico_configure(put(site), site.length), 2, 'configured once only');
console.log(JSON.stringify({ version: g.portico_abi_version(), status: get.status, timeout: late.status, checks: 'all passed' }));

"#;

const END: &str = "})().catch((e) => { console.error(e); process.exit(1); });\n";

#[test]
fn the_guest_answers_a_get_under_node_wasi() {
    let node_ok = Command::new("node").arg("--version").output().is_ok_and(|o| o.status.success());
    if !node_ok {
        eprintln!("SKIPPED the_guest_answers_a_get_under_node_wasi: `node` is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("index.html"), b"<h1>hello from node</h1>").unwrap();
    let wasm = dir.path().join("portico_guest.wasm");
    let (status, _, err) = run_to_exit(Host::Wasi, &["--export-module", wasm.to_str().unwrap()]);
    assert!(status.success(), "export failed: {err}");
    let script = dir.path().join("drive.js");
    std::fs::write(&script, driver()).unwrap();

    let out = Command::new("node")
        .arg("--no-warnings")
        .arg(&script)
        .arg(&wasm)
        .arg(&root)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));

    // The script asserts every field itself (node:assert); this is the
    // proof it got to the end.
    assert!(
        stdout.contains(r#"{"version":5,"status":200,"timeout":408,"checks":"all passed"}"#),
        "{stdout}"
    );
}
