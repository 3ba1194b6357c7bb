//! Builds the guest module (`guest/`, for wasm32-wasip1) so a plain
//! `cargo build -p portico-wasi` embeds it: no separate step to forget.

use std::path::{Path, PathBuf};
use std::process::{Command, exit};

const TARGET: &str = "wasm32-wasip1";

fn main() {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    let out_dir = PathBuf::from(env("OUT_DIR"));
    // Everything the guest's build reads: its sources, the core's, and the
    // workspace files that set versions, profiles and the toolchain.
    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "abi/src",
        "abi/Cargo.toml",
        "../core/src",
        "../core/Cargo.toml",
        "../Cargo.toml",
        "../Cargo.lock",
        "../rust-toolchain.toml",
    ] {
        println!("cargo:rerun-if-changed={}", manifest_dir.join(path).display());
    }
    ensure_target();

    let target_dir = out_dir.join("guest-target");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .args(["build", "--release", "-p", "portico-guest", "--target", TARGET])
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // The guest ships without debug info: 170 KB instead of 2.4 MB.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "true")
        // Small enough for whole-program optimisation, and a call saved
        // counts for more under wasmtime than natively.
        .env("CARGO_PROFILE_RELEASE_LTO", "fat")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1");
    // What the outer build set for *its* compilation (flags, wrappers such
    // as clippy-driver, the jobserver) must not leak into the guest's, or
    // the nested cargo misbuilds or waits on the outer one.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cargo.env_remove(var);
    }
    let status = cargo.status().unwrap_or_else(|e| fail(&format!("cannot run cargo: {e}")));
    if !status.success() {
        fail("building the guest module (portico-guest for wasm32-wasip1) failed; see above");
    }
    let built = target_dir.join(TARGET).join("release").join("portico_guest.wasm");
    let dest = out_dir.join("portico_guest.wasm");
    if let Err(e) = std::fs::copy(&built, &dest) {
        fail(&format!("cannot copy {}: {e}", built.display()));
    }
}

/// `RUSTUP_AUTO_INSTALL=0` means rust-toolchain.toml's target list is not
/// installed by itself: add the target as wasm-pack does, or say exactly
/// what to run.
fn ensure_target() {
    let sysroot = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| PathBuf::from(s.trim()));
    let installed = |root: &Path| root.join("lib/rustlib").join(TARGET).join("lib").is_dir();
    if sysroot.as_deref().is_some_and(installed) {
        return;
    }
    println!("cargo:warning=the {TARGET} target is missing; running `rustup target add {TARGET}`");
    let added = Command::new("rustup").args(["target", "add", TARGET]).status();
    if !matches!(added, Ok(s) if s.success()) {
        fail(&format!("the {TARGET} target is not installed; run: rustup target add {TARGET}"));
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| fail(&format!("{name} is not set")))
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1)
}
