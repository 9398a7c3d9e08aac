//! The payee's preimages, kept in a file (JSON: hash hex → preimage hex) written atomically
//! (temporary file, fsync, rename) before any hash is committed, so a committed hash always has
//! its preimage on disk.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use lnedge_node::bitcoin::hashes::{sha256, Hash};

/// Why the preimage file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PreimageError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a preimage file.
    #[error("{path}: not a preimage file ({message})")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The preimage file.
pub struct PreimageFile {
    path: PathBuf,
    by_hash: BTreeMap<[u8; 32], [u8; 32]>,
}

impl std::fmt::Debug for PreimageFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreimageFile")
            .field("path", &self.path)
            .field("preimages", &self.by_hash.len())
            .finish()
    }
}

/// `SHA256(preimage)`.
pub fn hash_of(preimage: &[u8; 32]) -> [u8; 32] {
    sha256::Hash::hash(preimage).to_byte_array()
}

fn parse32(text: &str) -> Option<[u8; 32]> {
    hex::decode(text).ok()?.try_into().ok()
}

impl PreimageFile {
    /// Opens the file at `path`, or starts an empty one (written on the first
    /// [`generate`](Self::generate)).
    pub fn open(path: &Path) -> Result<Self, PreimageError> {
        let io = |source| PreimageError::Io { path: path.to_owned(), source };
        let corrupt = |message: String| PreimageError::Corrupt { path: path.to_owned(), message };
        let by_hash = match std::fs::read(path) {
            Ok(bytes) => {
                let map: BTreeMap<String, String> =
                    serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
                let mut by_hash = BTreeMap::new();
                for (hash, preimage) in map {
                    let (Some(h), Some(p)) = (parse32(&hash), parse32(&preimage)) else {
                        return Err(corrupt(format!("entry {hash} is not two 32-byte hex values")));
                    };
                    if hash_of(&p) != h {
                        return Err(corrupt(format!("the preimage of {hash} does not hash to it")));
                    }
                    by_hash.insert(h, p);
                }
                by_hash
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(PreimageFile { path: path.to_owned(), by_hash })
    }

    /// Makes `n` fresh preimages, writes them to the file, and returns their hashes.
    pub fn generate(&mut self, n: usize) -> Result<Vec<[u8; 32]>, PreimageError> {
        let mut hashes = Vec::with_capacity(n);
        for _ in 0..n {
            let preimage: [u8; 32] = rand::random();
            let hash = hash_of(&preimage);
            self.by_hash.insert(hash, preimage);
            hashes.push(hash);
        }
        self.save()?;
        Ok(hashes)
    }

    /// The preimage of `hash`, if this file holds it.
    pub fn preimage(&self, hash: &[u8; 32]) -> Option<[u8; 32]> {
        self.by_hash.get(hash).copied()
    }

    /// How many preimages the file holds.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the file holds none.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    fn save(&self) -> Result<(), PreimageError> {
        let io = |source| PreimageError::Io { path: self.path.clone(), source };
        let map: BTreeMap<String, String> =
            self.by_hash.iter().map(|(h, p)| (hex::encode(h), hex::encode(p))).collect();
        let json = serde_json::to_vec_pretty(&map).map_err(|e| io(std::io::Error::other(e)))?;
        let private = |e: lnedge_node::private_fs::PrivateFsError| io(std::io::Error::other(e));
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            lnedge_node::private_fs::create_dir(dir).map_err(private)?;
        }
        // The preimages are the payee's money: only its user may read them.
        let tmp = self.path.with_extension("tmp");
        // A leftover from an interrupted save may have been made with looser modes: start anew.
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, lnedge_node::private_fs::FILE_MODE);
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(&json).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preimages_survive_reopening_and_corruption_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p.json");
        let mut file = PreimageFile::open(&path).expect("open");
        let hashes = file.generate(3).expect("generate");
        let again = PreimageFile::open(&path).expect("reopen");
        assert_eq!(again.len(), 3);
        for h in &hashes {
            assert_eq!(hash_of(&again.preimage(h).expect("kept")), *h);
        }
        std::fs::write(&path, "{\"00\":\"11\"}").expect("write");
        let err = PreimageFile::open(&path).expect_err("corrupt");
        assert!(err.to_string().contains("not two 32-byte hex values"), "{err}");
    }

    /// The preimages are the payee's money: the file and a directory it creates are private to
    /// the user (found before: 0644 in a 0755 directory).
    #[cfg(unix)]
    #[test]
    fn the_preimage_file_is_private() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("payee/p.json");
        PreimageFile::open(&path).expect("open").generate(1).expect("generate");
        let mode = lnedge_node::private_fs::mode_of;
        assert_eq!(mode(&path).expect("mode"), 0o600);
        assert_eq!(mode(&dir.path().join("payee")).expect("mode"), 0o700);
    }
}
