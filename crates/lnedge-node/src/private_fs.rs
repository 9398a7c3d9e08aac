//! Files only the service's own user may read.
//!
//! What lnedge keeps on disk grants value: the node store holds the preimage of every invoice it
//! settles by itself (so of every pool entry), the gateway's database holds refund `k1` values,
//! the payee agent's file holds its preimages. Directories are created `0700` and files `0600`,
//! whatever the process's umask, and [`secure_tree`] checks (and tightens) a data directory at
//! start, so a directory left readable by an older build or by hand is fixed before it is used.
//!
//! SQLite creates a database's `-wal` and `-shm` files with the mode of the database file, so a
//! database created with [`create_file`] first keeps all three private.
//!
//! On non-Unix targets these functions create what is asked and check nothing.

use std::io;
use std::path::{Path, PathBuf};

/// The mode of a private directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a private file.
pub const FILE_MODE: u32 = 0o600;

/// Why a data directory could not be made private.
#[derive(Debug, thiserror::Error)]
pub enum PrivateFsError {
    /// A path could not be created, listed or inspected.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A path readable by other users could not be made private (another owner, a read-only
    /// mount, …).
    #[error(
        "{path} is open to other users (mode {mode:o}) and could not be made private: {source}; \
         fix its owner or mode by hand"
    )]
    CannotTighten {
        /// The path.
        path: PathBuf,
        /// Its permission bits as found.
        mode: u32,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn unreadable(path: &Path) -> impl FnOnce(io::Error) -> PrivateFsError + '_ {
    move |source| PrivateFsError::Unreadable { path: path.to_owned(), source }
}

/// Creates `dir` and its missing parents with mode `0700`, and tightens `dir` itself if it
/// already existed open to others.
pub fn create_dir(dir: &Path) -> Result<(), PrivateFsError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir).map_err(unreadable(dir))?;
    tighten(dir, DIR_MODE).map(|_| ())
}

/// Creates the file at `path` (empty) with mode `0600` if it does not exist, and tightens it if
/// it exists open to others. The contents of an existing file are left as they are.
pub fn create_file(path: &Path) -> Result<(), PrivateFsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    options.open(path).map_err(unreadable(path))?;
    tighten(path, FILE_MODE).map(|_| ())
}

/// Walks `root` (not following symbolic links) and gives every directory mode `0700` and every
/// file `0600` where group or others had any access. Answers the paths it tightened, so the
/// caller can say so; fails naming the first path it could not read or fix.
pub fn secure_tree(root: &Path) -> Result<Vec<PathBuf>, PrivateFsError> {
    let mut tightened = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).map_err(unreadable(&path))?;
        if meta.file_type().is_symlink() {
            continue;
        }
        let mode = if meta.is_dir() { DIR_MODE } else { FILE_MODE };
        if tighten(&path, mode)? {
            tightened.push(path.clone());
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(unreadable(&path))? {
                pending.push(entry.map_err(unreadable(&path))?.path());
            }
        }
    }
    tightened.sort();
    Ok(tightened)
}

/// Sets `path`'s mode to `mode` if group or others have any access; answers whether it did.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> Result<bool, PrivateFsError> {
    use std::os::unix::fs::PermissionsExt;
    let found = std::fs::symlink_metadata(path).map_err(unreadable(path))?.permissions().mode();
    if found & 0o077 == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        PrivateFsError::CannotTighten { path: path.to_owned(), mode: found & 0o7777, source }
    })?;
    Ok(true)
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> Result<bool, PrivateFsError> {
    Ok(false)
}

/// The permission bits of `path` (tests and diagnostics).
#[cfg(unix)]
pub fn mode_of(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::symlink_metadata(path)?.permissions().mode() & 0o7777)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn created_paths_are_private_whatever_was_asked_before() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir).unwrap(), 0o700);
        assert_eq!(mode_of(&temp.path().join("a")).unwrap(), 0o700);
        let file = dir.join("store.sqlite3");
        create_file(&file).unwrap();
        assert_eq!(mode_of(&file).unwrap(), 0o600);

        // An existing, open file keeps its contents and loses the others' access.
        std::fs::write(&file, b"kept").unwrap();
        set_mode(&file, 0o644);
        create_file(&file).unwrap();
        assert_eq!(mode_of(&file).unwrap(), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"kept");
    }

    #[test]
    fn a_loose_tree_is_tightened_and_reported() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("data");
        std::fs::create_dir_all(root.join("node/ldk")).unwrap();
        std::fs::write(root.join("gateway.sqlite3"), b"x").unwrap();
        std::fs::write(root.join("node/ldk/seed"), b"y").unwrap();
        std::fs::write(root.join("pool.key"), b"z").unwrap();
        for (path, mode) in [
            (root.clone(), 0o755),
            (root.join("node"), 0o750),
            (root.join("node/ldk"), 0o700),
            (root.join("gateway.sqlite3"), 0o644),
            (root.join("node/ldk/seed"), 0o640),
            (root.join("pool.key"), 0o600),
        ] {
            set_mode(&path, mode);
        }
        let tightened = secure_tree(&root).unwrap();
        assert_eq!(
            tightened,
            vec![
                root.clone(),
                root.join("gateway.sqlite3"),
                root.join("node"),
                root.join("node/ldk/seed")
            ]
        );
        for dir in [&root, &root.join("node"), &root.join("node/ldk")] {
            assert_eq!(mode_of(dir).unwrap(), 0o700, "{}", dir.display());
        }
        for file in ["gateway.sqlite3", "node/ldk/seed", "pool.key"] {
            assert_eq!(mode_of(&root.join(file)).unwrap(), 0o600, "{file}");
        }
        // A second look finds nothing to do.
        assert!(secure_tree(&root).unwrap().is_empty());
    }

    #[test]
    fn a_missing_root_is_named() {
        let temp = tempfile::tempdir().unwrap();
        let missing = temp.path().join("nope");
        let err = secure_tree(&missing).unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
