//! Portability: the guest module runs in another WASI runtime, Node.js's
//! `node:wasi`, driven through the ABI exactly as docs/ABI.md shows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use portico_tests::{Host, run_to_exit};

const SCRIPT: &str = r#"
const { readFileSync } = require('node:fs');
const { WASI } = require('node:wasi');
const [wasmPath, root] = process.argv.slice(2);

(async () => {
  const wasi = new WASI({ version: 'preview1', preopens: { '/': root } });
  const module = await WebAssembly.compile(readFileSync(wasmPath));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  wasi.initialize(instance);
  const g = instance.exports;

  const step = (request) => {
    const state = g.portico_alloc(24);
    new Uint8Array(g.memory.buffer, state, 24).fill(0);
    const input = g.portico_alloc(request.length);
    new Uint8Array(g.memory.buffer, input, request.length).set(request);
    const block = g.portico_step(state, input, request.length, 784111777n, 0);
    const view = new DataView(g.memory.buffer, block);
    const u64 = (at) => Number(view.getBigUint64(at, true));
    const headLen = view.getUint32(24, true), bodyLen = view.getUint32(28, true);
    const out = {
      total: view.getUint32(0, true),
      action: view.getUint32(4, true),
      consumed: view.getUint32(8, true),
      status: view.getUint32(12, true),
      keepAlive: (view.getUint32(16, true) & 1) === 1,
      bodyKind: view.getUint32(20, true),
      fileOffset: u64(32), fileLen: u64(40), fileSize: u64(48),
      head: Buffer.from(g.memory.buffer, block + 80, headLen).toString('latin1'),
      body: Buffer.from(g.memory.buffer, block + 80 + headLen, bodyLen).toString('utf8'),
    };
    g.portico_free(block, out.total);
    g.portico_free(input, request.length);
    g.portico_free(state, 24);
    return out;
  };

  const get = step(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'));
  const missing = step(Buffer.from('GET /nope HTTP/1.1\r\nHost: example\r\n\r\n'));
  const partial = step(Buffer.from('GET / HTTP/1.1\r\nHo'));
  console.log(JSON.stringify({ version: g.portico_abi_version(), get, missing, partial }));
})().catch((e) => { console.error(e); process.exit(1); });
"#;

/// A tiny JSON field reader: the script's output is flat enough.
fn field<'a>(json: &'a str, object: &str, name: &str) -> &'a str {
    let start = json.find(&format!("\"{object}\":{{")).expect("object present");
    let rest = &json[start..];
    let at = rest.find(&format!("\"{name}\":")).expect("field present") + name.len() + 3;
    let rest = &rest[at..];
    match rest.strip_prefix('"') {
        Some(string) => &string[..string.find('"').unwrap()],
        None => &rest[..rest.find([',', '}']).unwrap()],
    }
}

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
    std::fs::write(&script, SCRIPT).unwrap();

    let out = Command::new("node")
        .arg("--no-warnings")
        .arg(&script)
        .arg(&wasm)
        .arg(&root)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "node failed: {}", String::from_utf8_lossy(&out.stderr));

    assert!(stdout.contains("\"version\":1"), "{stdout}");
    // A GET of / : respond (2), 200, the file named for the host to send.
    assert_eq!(field(&stdout, "get", "action"), "2");
    assert_eq!(field(&stdout, "get", "status"), "200");
    assert_eq!(field(&stdout, "get", "keepAlive"), "true");
    assert_eq!(field(&stdout, "get", "bodyKind"), "2");
    assert_eq!(field(&stdout, "get", "body"), "index.html");
    assert_eq!(field(&stdout, "get", "fileLen"), "24");
    assert_eq!(field(&stdout, "get", "fileSize"), "24");
    assert_eq!(field(&stdout, "get", "consumed"), "33");
    let head = field(&stdout, "get", "head");
    assert!(head.starts_with("HTTP/1.1 200 OK\\r\\n"), "{head}");
    assert!(head.contains("Content-Length: 24\\r\\n"), "{head}");
    assert!(head.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT"), "{head}");
    // A miss: a generated 404 page carried as bytes.
    assert_eq!(field(&stdout, "missing", "status"), "404");
    assert_eq!(field(&stdout, "missing", "bodyKind"), "1");
    // Half a request: need more (0), nothing consumed.
    assert_eq!(field(&stdout, "partial", "action"), "0");
    assert_eq!(field(&stdout, "partial", "consumed"), "0");
}
