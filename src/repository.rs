//! A repository: created with [`Repository::init`], opened with [`Repository::open`]. It holds
//! the storage, the decoded config and the subkeys, and reads and writes whole files
//! (config, index, snapshots) in the ways SPEC §3–§5 prescribe.

use std::sync::Arc;

use cairn_format::config::{ChunkerParams, Config};
use cairn_format::header::FileKind;
use cairn_format::id::{KeyId, ObjectId};

use crate::chunker::Chunker;
use crate::crypto::{KdfParams, MasterKey, Password, content_hash, random_bytes};
use crate::error::{Damage, Error, ObjectKind, Result};
use crate::key_slot::{self, SlotSecret};
use crate::layout::{self, CONFIG_PATH};
use crate::recovery_code::RecoveryCode;
use crate::seal::{SealedFile, Sealer};
use crate::storage::{Storage, StorageErrorKind};

/// Settings of a new repository. The defaults suit app data on phones and desktops.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Argon2id parameters of the first key slot.
    pub kdf: KdfParams,
    /// Chunk sizes (SPEC §6).
    pub chunker: ChunkerParams,
    /// zstd level 1..=22, or 0 to store everything uncompressed.
    pub compression_level: u8,
    /// Size at which data packs are closed.
    pub data_pack_len: u32,
    /// Size at which tree packs are closed.
    pub tree_pack_len: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: key_slot::DEFAULT_KDF,
            chunker: ChunkerParams { min_len: 256 << 10, avg_len: 1 << 20, max_len: 4 << 20 },
            compression_level: 3,
            data_pack_len: 8 << 20,
            tree_pack_len: 4 << 20,
        }
    }
}

/// How to unlock a repository.
pub enum Credentials {
    /// A password of one of the repository's key slots. A recovery code typed where a
    /// password is asked for works too.
    Password(Password),
    /// A recovery code (see [`Repository::add_recovery_code`]).
    RecoveryCode(RecoveryCode),
    /// The master key itself, as exported by [`Repository::master_key`].
    MasterKey(MasterKey),
}

/// An open repository.
pub struct Repository {
    storage: Arc<dyn Storage>,
    config: Config,
    sealer: Sealer,
    master: MasterKey,
    /// The key slot that opened the repository (none when opened with the master key).
    key_id: Option<KeyId>,
    /// Where warnings about damaged repository files go.
    warning_sink: Option<WarningSink>,
}

/// Receives warnings about repository files that were skipped because they are damaged.
pub type WarningSink = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

impl Repository {
    /// Creates a repository in empty storage, with one key slot for `password`.
    ///
    /// The key slot is written before the config: a repository exists once its config does,
    /// and an interrupted `init` leaves at most an unused key slot.
    pub fn init(storage: Arc<dyn Storage>, password: &Password, options: &InitOptions) -> Result<Repository> {
        let master = MasterKey::generate().map_err(|e| Error::system("random number generation", e))?;
        Repository::init_with_master(storage, password, options, master)
    }

    /// Creates a repository that shares `source`'s master key and chunk sizes (`cairn init
    /// --from-repo A --share-keys`), so that the same content is cut into the same chunks
    /// under the same ids in both: [`Repository::copy_from`] then moves blobs between them
    /// as they are, without reading files and cutting them again (SPEC §12.6).
    ///
    /// The new repository has its own id and key slots, so nothing of one repository can be
    /// passed off as the other's (SPEC §5.2), but whoever opens either can read both: make
    /// it only for a copy of the same data (an app's local staging repository and its cloud
    /// repository). `options.chunker` is ignored: the source's chunk sizes are used.
    pub fn init_sharing_keys(
        storage: Arc<dyn Storage>,
        password: &Password,
        options: &InitOptions,
        source: &Repository,
    ) -> Result<Repository> {
        let options = InitOptions { chunker: source.config.chunker, ..options.clone() };
        Repository::init_with_master(storage, password, &options, source.master.duplicate())
    }

    fn init_with_master(
        storage: Arc<dyn Storage>,
        password: &Password,
        options: &InitOptions,
        master: MasterKey,
    ) -> Result<Repository> {
        match storage.len(CONFIG_PATH) {
            Ok(_) => {
                return Err(Error::RepositoryExists { location: storage.location().to_string() });
            }
            Err(e) if e.kind == StorageErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut repo_id = ObjectId::ZERO;
        random_bytes(&mut repo_id.0).map_err(|e| Error::system("random number generation", e))?;
        let config = Config {
            repo_id,
            chunker: options.chunker,
            compression_level: options.compression_level,
            data_pack_len: options.data_pack_len,
            tree_pack_len: options.tree_pack_len,
            created_unix_s: crate::clock::now().secs,
        };
        let mut bytes =
            config.encode_unsigned().map_err(|e| Error::invalid("repository settings", e.to_string()))?;
        let sealer = Sealer::new(master.subkeys(), repo_id, config.compression_level);
        let mac = sealer.config_mac(&bytes);
        bytes.extend_from_slice(&mac);
        let key_id = key_slot::create_slot(
            storage.as_ref(),
            repo_id,
            &master,
            &SlotSecret::Password(password, options.kdf),
        )?;
        storage.create(CONFIG_PATH, bytes).map_err(|e| match e.kind {
            StorageErrorKind::AlreadyExists => {
                Error::RepositoryExists { location: storage.location().to_string() }
            }
            _ => e.into(),
        })?;
        Ok(Repository { storage, config, sealer, master, key_id: Some(key_id), warning_sink: None })
    }

    /// Opens an existing repository.
    pub fn open(storage: Arc<dyn Storage>, credentials: &Credentials) -> Result<Repository> {
        let bytes = match storage.read(CONFIG_PATH, cairn_format::limits::CONFIG_FILE_LEN) {
            Ok(bytes) => bytes,
            Err(e) if e.kind == StorageErrorKind::NotFound => {
                return Err(Error::NoRepository { location: storage.location().to_string() });
            }
            Err(e) if e.kind == StorageErrorKind::TooLarge => {
                return Err(Error::corrupt(ObjectKind::Config, CONFIG_PATH, Damage::TooLarge));
            }
            Err(e) => return Err(e.into()),
        };
        let (config, signed, mac) =
            Config::decode(&bytes).map_err(|e| Error::from_format(ObjectKind::Config, CONFIG_PATH, e))?;
        let (master, key_id) = match credentials {
            Credentials::Password(password) => {
                let code = std::str::from_utf8(password.bytes()).ok().and_then(RecoveryCode::parse);
                let mut secrets = Vec::with_capacity(2);
                if let Some(code) = &code {
                    secrets.push(SlotSecret::RecoveryCode(code));
                }
                secrets.push(SlotSecret::Password(password, key_slot::DEFAULT_KDF));
                let (master, id) = key_slot::open(storage.as_ref(), config.repo_id, &secrets)?;
                (master, Some(id))
            }
            Credentials::RecoveryCode(code) => {
                let secrets = [SlotSecret::RecoveryCode(code)];
                let (master, id) = key_slot::open(storage.as_ref(), config.repo_id, &secrets)?;
                (master, Some(id))
            }
            Credentials::MasterKey(key) => (key.duplicate(), None),
        };
        let sealer = Sealer::new(master.subkeys(), config.repo_id, config.compression_level);
        if sealer.config_mac(signed) != mac {
            return match credentials {
                Credentials::MasterKey(_) => {
                    Err(Error::WrongPassword { location: storage.location().to_string() })
                }
                Credentials::Password(_) | Credentials::RecoveryCode(_) => {
                    Err(Error::corrupt(ObjectKind::Config, CONFIG_PATH, Damage::Checksum))
                }
            };
        }
        tracing::debug!(location = storage.location(), "repository opened");
        Ok(Repository { storage, config, sealer, master, key_id, warning_sink: None })
    }

    /// The repository's config.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Where the repository is.
    #[must_use]
    pub fn location(&self) -> &str {
        self.storage.location()
    }

    /// The master key, for apps that keep it in a platform keystore and open the repository
    /// with [`Credentials::MasterKey`]. Whoever holds it can read and write everything.
    #[must_use]
    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// The key slot that opened the repository; `None` when it was opened with the master key.
    #[must_use]
    pub fn key_id(&self) -> Option<KeyId> {
        self.key_id
    }

    /// Sends warnings about damaged repository files (skipped index or snapshot files) to
    /// `sink` instead of only to the `tracing` log.
    pub fn set_warning_sink(&mut self, sink: WarningSink) {
        self.warning_sink = Some(sink);
    }

    /// Reports a damaged file that an operation skipped.
    pub(crate) fn warn(&self, message: &str) {
        tracing::warn!("{message}");
        if let Some(sink) = &self.warning_sink {
            sink(message);
        }
    }

    pub(crate) fn set_key_id(&mut self, id: KeyId) {
        self.key_id = Some(id);
    }

    /// A second handle on the storage, for threads that outlive a borrow (the lock refresher).
    pub(crate) fn storage_handle(&self) -> Arc<dyn Storage> {
        Arc::clone(&self.storage)
    }

    /// A sealer of its own, for threads that outlive a borrow (the lock refresher).
    pub(crate) fn duplicate_sealer(&self) -> Sealer {
        Sealer::new(self.master.subkeys(), self.config.repo_id, self.config.compression_level)
    }

    pub(crate) fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    pub(crate) fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    pub(crate) fn chunker(&self) -> Chunker {
        self.sealer.chunker(self.config.chunker)
    }

    /// The chunker of SQLite dumps (SPEC §16.4): the repository's key, small chunks.
    pub(crate) fn dump_chunker(&self) -> Chunker {
        self.sealer.chunker(cairn_format::sqlite::DUMP_CHUNKER)
    }

    /// Seals `body` as a file of `kind`, stores it under the hash of its bytes and returns
    /// that id and the file's length. Storing the same bytes twice is harmless.
    pub(crate) fn write_file(&self, kind: SealedFile, body: &[u8]) -> Result<(ObjectId, u64)> {
        let bytes = self.sealer.seal_file(kind, body).map_err(|e| Error::system("encryption", e))?;
        let id = content_hash(&bytes);
        let len = bytes.len() as u64;
        match self.storage.create(&layout::file_path(kind.file_kind(), &id), bytes) {
            Ok(()) => {}
            Err(e) if e.kind == StorageErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        Ok((id, len))
    }

    /// Reads the file of `kind` named `id`, checks its bytes against its name, and returns
    /// the decrypted payload body.
    pub(crate) fn read_file(&self, kind: SealedFile, id: &ObjectId) -> Result<Vec<u8>> {
        reread_once_if_damaged(|| self.read_file_once(kind, id))
    }

    fn read_file_once(&self, kind: SealedFile, id: &ObjectId) -> Result<Vec<u8>> {
        let object = object_kind(kind.file_kind());
        let bytes = self
            .storage
            .read(&layout::file_path(kind.file_kind(), id), kind.max_file_len())
            .map_err(|e| match e.kind {
                StorageErrorKind::NotFound => Error::corrupt(object, id, Damage::Missing),
                StorageErrorKind::TooLarge => Error::corrupt(object, id, Damage::TooLarge),
                _ => e.into(),
            })?;
        if content_hash(&bytes) != *id {
            return Err(Error::corrupt(object, id, Damage::Checksum));
        }
        self.sealer.open_file(kind, &bytes).map_err(|damage| match damage {
            Damage::Format(e) => Error::from_format(object, id, e),
            other => Error::corrupt(object, id, other),
        })
    }

    /// Ids of every file of `kind`, sorted.
    pub(crate) fn list(&self, kind: FileKind) -> Result<Vec<ObjectId>> {
        Ok(layout::list_ids(self.storage.as_ref(), kind)?)
    }
}

/// Runs `read` again once when what it read was damaged (failed its checksum, its
/// authentication or its decoding): bytes can be damaged in transit (a bad proxy, a flaky
/// cable) rather than in storage, and a second download tells the two apart. Damage that
/// persists is reported as it is; a missing object is not read again.
pub(crate) fn reread_once_if_damaged<T>(read: impl Fn() -> Result<T>) -> Result<T> {
    match read() {
        Err(Error::Corrupt {
            damage: Damage::Checksum | Damage::Decryption | Damage::Format(_) | Damage::Truncated,
            ..
        }) => {
            let again = read();
            if again.is_ok() {
                tracing::warn!("a download was damaged in transit; reading it again succeeded");
            }
            again
        }
        other => other,
    }
}

/// The error vocabulary's name for a file kind.
pub(crate) fn object_kind(kind: FileKind) -> ObjectKind {
    match kind {
        FileKind::Config => ObjectKind::Config,
        FileKind::Key => ObjectKind::Key,
        FileKind::Pack => ObjectKind::Pack,
        FileKind::Index => ObjectKind::Index,
        FileKind::Snapshot => ObjectKind::Snapshot,
        FileKind::Lock => ObjectKind::Lock,
        FileKind::Policy => ObjectKind::Policy,
    }
}
