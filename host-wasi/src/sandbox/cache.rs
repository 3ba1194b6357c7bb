//! The guest's native code, compiled once and kept on disk across runs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use wasmtime::{Engine, Module};

use super::failure::wasm_error;

/// Compile `wasm`, or load the native code compiled by an earlier run. The
/// cache file is keyed by the module's SHA-256 and the engine's
/// compatibility hash (wasmtime version, settings, CPU), and lives in a
/// directory only this user owns and can write: loading native code is
/// only as safe as that directory, so anything else is not used.
pub(super) fn load_module(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Module> {
    let key = cache_key(engine, wasm);
    let cache = cache_dir().map(|dir| dir.join(format!("guest-{key}.cwasm")));
    if let Some(path) = cache.as_deref().filter(|p| private(p, false)) {
        // SAFETY: the file is one this program serialised from this exact
        // module with this exact engine (the key), owned by this user and
        // writable by nobody else, in a directory likewise private;
        // wasmtime also checks the engine compatibility header.
        #[allow(unsafe_code)]
        let loaded = unsafe { Module::deserialize_file(engine, path) };
        if let Ok(module) = loaded {
            return Ok(module);
        }
    }
    let module =
        Module::new(engine, wasm).map_err(wasm_error).context("cannot compile the guest module")?;
    if let Some(path) = cache {
        // A cache that cannot be written only costs start-up time.
        let _ = store_module(&module, &path);
    }
    Ok(module)
}

fn store_module(module: &Module, path: &Path) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let bytes = module.serialize().map_err(wasm_error)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    // create_new: O_EXCL, which also refuses to follow a symlink planted
    // at the temporary name; mode 0600.
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    let written = file.write_all(&bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok(written?)
}

/// Owned by this user, not a symlink, and (for a directory: also not
/// readable or searchable by) nobody else can write it.
fn private(path: &Path, directory: bool) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    let kind_ok = if directory { meta.is_dir() } else { meta.is_file() };
    let others = if directory { 0o077 } else { 0o022 };
    kind_ok && meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & others == 0
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    use std::hash::{Hash as _, Hasher};
    /// Feeds `Hash` output into SHA-256.
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut sha = Sha(Sha256::new());
    sha.write(wasm);
    engine.precompile_compatibility_hash().hash(&mut sha);
    sha.0.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// `$XDG_CACHE_HOME/portico` or `~/.cache/portico`, created with mode 0700,
/// if it is [`private`].
fn cache_dir() -> Option<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let dir = base.join("portico");
    let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir);
    private(&dir, true).then_some(dir)
}
