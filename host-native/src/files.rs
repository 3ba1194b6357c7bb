//! The web root on the real file system, confined with cap-std.

use std::io;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions, OpenOptionsExt as _};
use portico_core::{FileId, FileInfo, FileLookup, Lookup, SafePath};

/// A directory every lookup stays beneath: cap-std resolves each path
/// relative to the directory's handle (with `openat2(RESOLVE_BENEATH)` on
/// Linux), so neither `..` nor a symbolic link can leave it, whatever the
/// core's sanitiser lets through.
#[derive(Debug)]
pub struct RootDir {
    dir: Dir,
}

impl RootDir {
    /// Open `path` as the web root. This is the server's only ambient file
    /// system access; everything after goes through the handle.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(path).map_err(|error| match error.kind() {
            io::ErrorKind::NotFound => {
                anyhow!("cannot serve '{}': no such directory", path.display())
            }
            _ => anyhow::Error::new(error).context(format!("cannot serve '{}'", path.display())),
        })?;
        if !meta.is_dir() {
            bail!("cannot serve '{}': not a directory", path.display());
        }
        let dir = Dir::open_ambient_dir(path, ambient_authority())
            .with_context(|| format!("cannot open web root '{}'", path.display()))?;
        Ok(Self { dir })
    }

    /// A second handle to the root directory, for a sandbox that must see
    /// the very tree this host streams from (not whatever the path names
    /// by the time it is opened again).
    pub fn try_clone_dir(&self) -> io::Result<Dir> {
        self.dir.try_clone()
    }

    /// Open a file below the root for reading, for a host that was told a
    /// path rather than handed a file (the WASI host). Same confinement as
    /// [`FileLookup::lookup`].
    pub fn open_file(&self, path: &SafePath) -> io::Result<(std::fs::File, std::fs::Metadata)> {
        let mut options = OpenOptions::new();
        // O_NONBLOCK: opening a FIFO someone left in the root must not
        // block the connection thread waiting for a writer.
        options.read(true).custom_flags(libc::O_NONBLOCK);
        let rel = if path.is_root() { "." } else { path.as_str() };
        let file = self.dir.open_with(rel, &options)?.into_std();
        let meta = file.metadata()?;
        Ok((file, meta))
    }
}

impl FileLookup for RootDir {
    type Handle = std::fs::File;

    fn lookup(&self, path: &SafePath) -> Lookup<std::fs::File> {
        match self.open_file(path) {
            Ok((_, meta)) if meta.is_dir() => Lookup::Directory,
            Ok((file, meta)) if meta.is_file() => Lookup::File(
                FileInfo::new(file, meta.len())
                    .modified(meta.modified().ok())
                    .id(Some(file_id(&meta))),
            ),
            // Sockets, FIFOs, devices: not something to serve.
            Ok(_) => Lookup::NotFound,
            // cap-std reports a symlink that leads out of the root as
            // PermissionDenied: a 403 like an unreadable file.
            Err(error) => Lookup::from_io_error(&error),
        }
    }

    /// From metadata alone (`statx`, following symlinks beneath the root):
    /// a listing asks this of every entry and must not open each file.
    fn stat(&self, path: &SafePath) -> Lookup<()> {
        let rel = if path.is_root() { "." } else { path.as_str() };
        match self.dir.metadata(rel) {
            Ok(meta) if meta.is_dir() => Lookup::Directory,
            Ok(meta) if meta.is_file() => Lookup::File(
                FileInfo::new((), meta.len()).modified(meta.modified().ok().map(|t| t.into_std())),
            ),
            Ok(_) => Lookup::NotFound,
            Err(error) => Lookup::from_io_error(&error),
        }
    }

    fn read_dir(&self, dir: &SafePath, visit: &mut dyn FnMut(&str)) -> Result<(), Lookup<()>> {
        let rel = if dir.is_root() { "." } else { dir.as_str() };
        let entries = self.dir.read_dir(rel).map_err(|error| Lookup::from_io_error(&error))?;
        for entry in entries {
            // An entry that vanished or cannot be read mid-listing is
            // left out; the rest of the directory is still listed.
            let Ok(entry) = entry else { continue };
            if let Some(name) = entry.file_name().to_str() {
                visit(name);
            }
        }
        Ok(())
    }
}

/// Which file `meta` describes: its device and inode.
pub fn file_id(meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt as _;
    FileId { device: meta.dev(), inode: meta.ino() }
}
