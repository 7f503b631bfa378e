//! [`Storage`] on OpenDAL: a local directory, S3, WebDAV or Google Drive. No OpenDAL type
//! leaves this file.
//!
//! OpenDAL is async; this adapter owns a small tokio runtime and drives OpenDAL's blocking
//! operator from the engine's threads. What each backend needs for [`Storage::create`]'s
//! promise (durable, atomic, never overwriting) differs, and SPEC §12.4 records it:
//!
//! * local: OpenDAL's atomic write (temp file, fsync, rename), then an fsync of the parent
//!   directory, which OpenDAL does not do, so the file's name is durable too;
//! * S3: one PUT with `If-None-Match: *`, which the service makes atomic;
//! * WebDAV: a PUT to a temporary name, then `MOVE` with `Overwrite: F`, which fails if the
//!   target exists (servers ignore `If-None-Match` on PUT; OpenDAL's own rename always
//!   overwrites, so this file sends the MOVE itself);
//! * Google Drive: look the name up, then upload. Drive allows two files of one name, so two
//!   writers racing on one name can both succeed; every name cairn writes concurrently is
//!   unique or content-addressed (the same name always holds the same bytes), so the
//!   duplicates are harmless, and [`Storage::remove`] deletes until the name is gone.
//!
//! Every remote upload is confirmed by a stat of the stored length before `create` returns.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use opendal::{ErrorKind as DalKind, OperationContext, blocking, services};

use super::http::{self, HttpFailure};
use super::{Location, ObjectMeta, Storage, StorageError, StorageErrorKind, StorageOptions};

/// Name of the directory, inside the repository, where files are written before their rename.
pub(crate) const TEMP_DIR: &str = "tmp";
/// Uploads at once to a remote backend unless the options say otherwise. Each holds its
/// pack (8 MiB by default) in memory while it is sent; two keep a link busy while one
/// request waits for its answer, and cost about 20 MiB less than four, which were no faster
/// against loopback servers (BENCHMARKS.md, storage backends).
const REMOTE_CONNECTIONS: usize = 2;
/// Uploads at once to a local directory: the disk, not latency, is the limit.
const LOCAL_CONNECTIONS: usize = 2;
/// How long Drive's search index may take to show a write. Google documents no bound; this
/// is a generous guess (its lag is usually well under a second), since waiting it out costs
/// only a slower prune.
const DRIVE_LISTING_LAG: std::time::Duration = std::time::Duration::from_secs(30);
/// How many copies of one name a Drive delete removes before giving up.
const MAX_DRIVE_DUPLICATES: usize = 16;

/// Storage backed by an OpenDAL operator.
pub struct OpendalStorage {
    op: blocking::Operator,
    /// Keeps the runtime the operator runs on alive; also runs WebDAV's MOVE.
    runtime: tokio::runtime::Runtime,
    location: String,
    backend: Backend,
    /// Where packs are assembled before they are stored.
    spool_dir: PathBuf,
    connections: usize,
    /// See [`Storage::listing_lag`].
    listing_lag: std::time::Duration,
}

/// What differs between backends.
enum Backend {
    Local {
        /// The repository's directory.
        root: PathBuf,
        /// Directories whose own entry (and their parents') has been fsynced.
        durable_dirs: Mutex<HashSet<PathBuf>>,
    },
    S3,
    Webdav(WebdavMove),
    Gdrive {
        /// How this storage was opened: a fresh operator (one without OpenDAL's memory of
        /// its own deletes) is needed to see whether a name is really gone.
        location: Location,
        options: Box<StorageOptions>,
    },
}

impl OpendalStorage {
    /// Storage in a local directory (created on first write).
    pub fn local(root: &Path) -> Result<OpendalStorage, StorageError> {
        OpendalStorage::open(&Location::Local(root.to_path_buf()), &StorageOptions::default())
    }

    /// Storage at a parsed location.
    pub fn open(location: &Location, options: &StorageOptions) -> Result<OpendalStorage, StorageError> {
        let shown = location.to_string();
        let setup = |message: String| StorageError::new(StorageErrorKind::Other, "open", &shown, "", message);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("cairn-storage")
            .enable_all()
            .build()
            .map_err(|e| setup(e.to_string()))?;
        let (op, backend, spool_dir) = {
            let _guard = runtime.enter();
            match location {
                Location::Local(path) => {
                    let root = std::path::absolute(path).map_err(|e| setup(e.to_string()))?;
                    let builder = services::Fs::default()
                        .root(&root.display().to_string())
                        .atomic_write_dir(&root.join(TEMP_DIR).display().to_string());
                    let op = opendal::Operator::new(builder).map_err(|e| setup(one_line(&e)))?;
                    let spool = root.join(TEMP_DIR);
                    (op, Backend::Local { root, durable_dirs: Mutex::default() }, spool)
                }
                remote => {
                    let (op, backend) = remote_operator(remote, options).map_err(setup)?;
                    let spool = remote_spool_dir(options).map_err(setup)?;
                    (op, backend, spool)
                }
            }
        };
        let op = {
            let _guard = runtime.enter();
            blocking::Operator::new(op).map_err(|e| setup(one_line(&e)))?
        };
        let connections = match backend {
            Backend::Local { .. } => options.connections.unwrap_or(LOCAL_CONNECTIONS),
            _ => options.connections.unwrap_or(REMOTE_CONNECTIONS),
        }
        .max(1);
        let listing_lag = options.listing_lag.unwrap_or(match backend {
            Backend::Gdrive { .. } => DRIVE_LISTING_LAG,
            _ => std::time::Duration::ZERO,
        });
        Ok(OpendalStorage { op, runtime, location: shown, backend, spool_dir, connections, listing_lag })
    }

    fn error(&self, operation: &'static str, path: &str, err: &opendal::Error) -> StorageError {
        let (kind, retry_after) = classify(err);
        StorageError {
            retry_after,
            ..StorageError::new(kind, operation, &self.location, path, one_line(err))
        }
    }

    fn failure(
        &self,
        kind: StorageErrorKind,
        operation: &'static str,
        path: &str,
        message: String,
    ) -> StorageError {
        StorageError::new(kind, operation, &self.location, path, message)
    }

    fn stat_len(&self, path: &str) -> Result<Option<u64>, StorageError> {
        match self.op.stat(path) {
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == DalKind::NotFound => Ok(None),
            Err(e) => Err(self.error("stat", path, &e)),
        }
    }

    /// After an upload: the storage must report the whole length, or the upload did not
    /// happen as far as cairn is concerned (a proxy or a full quota may truncate silently).
    fn confirm_len(&self, path: &str, expected: u64) -> Result<(), StorageError> {
        match self.stat_len(path)? {
            Some(len) if len == expected => Ok(()),
            Some(len) => Err(self.failure(
                StorageErrorKind::Transient,
                "write",
                path,
                format!("stored {len} bytes of {expected}; the upload will be sent again"),
            )),
            None => Err(self.failure(
                StorageErrorKind::Transient,
                "write",
                path,
                "the upload was acknowledged but the file is not there".into(),
            )),
        }
    }

    fn already_exists(&self, path: &str) -> StorageError {
        self.failure(StorageErrorKind::AlreadyExists, "write", path, "already exists".into())
    }

    /// Makes the directory entry of a just-renamed local file durable, and, the first time a
    /// directory is used, the entries of the directories above it (OpenDAL may just have
    /// created them, and a new directory's name is only durable once its parent is synced).
    fn sync_parent_dir(&self, path: &str) -> Result<(), StorageError> {
        let Backend::Local { root, durable_dirs } = &self.backend else { return Ok(()) };
        let dir = match Path::new(path).parent() {
            Some(parent) => root.join(parent),
            None => root.clone(),
        };
        let fsync = |dir: &Path| {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| {
                self.failure(
                    io_kind(&e),
                    "write",
                    path,
                    format!("fsync of directory {} failed: {e}", dir.display()),
                )
            })
        };
        fsync(&dir)?;
        let mut known = durable_dirs.lock().unwrap_or_else(PoisonError::into_inner);
        if known.contains(&dir) {
            return Ok(());
        }
        // Up to the directory holding the repository, whose entry for it may be new too.
        for ancestor in dir.ancestors().skip(1) {
            fsync(ancestor)?;
            if Some(ancestor) == root.parent() {
                break;
            }
        }
        known.insert(dir);
        Ok(())
    }

    /// WebDAV's MOVE needs the target's collection to exist.
    fn make_parent_dir(&self, mover: &WebdavMove, path: &str) -> Result<(), StorageError> {
        let Some((parent, _)) = path.rsplit_once('/') else { return Ok(()) };
        let dir = format!("{parent}/");
        if mover.made_dirs.lock().unwrap_or_else(PoisonError::into_inner).contains(&dir) {
            return Ok(());
        }
        self.op.create_dir(&dir).map_err(|e| self.error("mkdir", &dir, &e))?;
        mover.made_dirs.lock().unwrap_or_else(PoisonError::into_inner).insert(dir);
        Ok(())
    }
}

/// A random name part for temporary files.
fn random_hex() -> String {
    let mut bytes = [0u8; 12];
    // A failing OS random source leaves zeros: the name is then only less unique, and a
    // clash makes the MOVE fail cleanly rather than overwrite.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().fold(String::with_capacity(24), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Builds the operator of a remote backend, with cairn's HTTP transport.
fn remote_operator(
    location: &Location,
    options: &StorageOptions,
) -> Result<(opendal::Operator, Backend), String> {
    let missing = |what: &str| format!("{what} not set; see README: Storage backends");
    let transport = http::transporter(options.gdrive.endpoint.clone())?;
    let (op, backend) = match location {
        Location::Local(_) => unreachable!("handled by the caller"),
        Location::S3 { endpoint, bucket, prefix } => {
            let creds = &options.s3;
            let (Some(key), Some(secret)) = (&creds.access_key_id, &creds.secret_access_key) else {
                return Err(missing("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
            };
            let mut builder = services::S3::default()
                .endpoint(endpoint)
                .bucket(bucket)
                .root(&format!("/{prefix}"))
                .region(creds.region.as_deref().unwrap_or("us-east-1"))
                .access_key_id(key.expose())
                .secret_access_key(secret.expose())
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(token) = &creds.session_token {
                builder = builder.session_token(token.expose());
            }
            let virtual_host = match creds.path_style {
                Some(path_style) => !path_style,
                None => endpoint.ends_with(".amazonaws.com"),
            };
            if virtual_host {
                builder = builder.enable_virtual_host_style();
            }
            (opendal::Operator::new(builder).map_err(|e| one_line(&e))?, Backend::S3)
        }
        Location::Webdav { endpoint, path } => {
            let creds = &options.webdav;
            let mut builder = services::Webdav::default().endpoint(endpoint).root(&format!("/{path}"));
            if let Some(user) = &creds.username {
                builder = builder.username(user);
            }
            if let Some(password) = &creds.password {
                builder = builder.password(password.expose());
            }
            let mover = WebdavMove::new(
                endpoint,
                path,
                creds.username.as_deref(),
                creds.password.as_ref(),
                transport.clone(),
            )?;
            (opendal::Operator::new(builder).map_err(|e| one_line(&e))?, Backend::Webdav(mover))
        }
        Location::Gdrive { folder } => {
            let creds = &options.gdrive;
            let mut builder = services::Gdrive::default().root(&format!("/{folder}"));
            match (&creds.access_token, &creds.refresh_token, &creds.client_id, &creds.client_secret) {
                (Some(token), _, _, _) => builder = builder.access_token(token.expose()),
                (None, Some(refresh), Some(id), Some(secret)) => {
                    builder =
                        builder.refresh_token(refresh.expose()).client_id(id).client_secret(secret.expose());
                }
                _ => {
                    return Err(missing(
                        "CAIRN_GDRIVE_ACCESS_TOKEN (or CAIRN_GDRIVE_REFRESH_TOKEN with CAIRN_GDRIVE_CLIENT_ID \
                         and CAIRN_GDRIVE_CLIENT_SECRET)",
                    ));
                }
            }
            let backend = Backend::Gdrive { location: location.clone(), options: Box::new(options.clone()) };
            (opendal::Operator::new(builder).map_err(|e| one_line(&e))?, backend)
        }
    };
    Ok((op.with_context(OperationContext::new().with_http_transport(transport)), backend))
}

/// Where packs for a remote repository are assembled: a per-user cache directory.
fn remote_spool_dir(options: &StorageOptions) -> Result<PathBuf, String> {
    let dir = options.spool_dir.clone().unwrap_or_else(|| {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("cairn").join("spool")
    });
    std::fs::create_dir_all(&dir)
        .map_err(|e| format!("cannot create the spool directory {}: {e}", dir.display()))?;
    Ok(dir)
}

/// WebDAV `MOVE` with `Overwrite: F`: the atomic create-if-absent of WebDAV.
struct WebdavMove {
    /// `http(s)://host[:port]/path` of the repository, no trailing slash.
    base: String,
    authorization: Option<::http::HeaderValue>,
    /// The operator's transport, shared: the MOVE is classified like every other request.
    transport: opendal::HttpTransporter,
    /// Collections known to exist.
    made_dirs: Mutex<HashSet<String>>,
}

enum MoveError {
    TargetExists,
    Http(opendal::Error),
}

impl WebdavMove {
    fn new(
        endpoint: &str,
        path: &str,
        user: Option<&str>,
        password: Option<&super::Secret>,
        transport: opendal::HttpTransporter,
    ) -> Result<Self, String> {
        let base = if path.is_empty() { endpoint.to_string() } else { format!("{endpoint}/{path}") };
        let authorization = match user {
            Some(user) => {
                use base64::Engine as _;
                let pair = zeroize::Zeroizing::new(format!("{user}:{}", password.map_or("", |p| p.expose())));
                let encoded = zeroize::Zeroizing::new(
                    base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()),
                );
                let mut value = ::http::HeaderValue::try_from(format!("Basic {}", encoded.as_str()))
                    .map_err(|_| "the WebDAV user name has characters HTTP cannot carry".to_string())?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(WebdavMove { base, authorization, transport, made_dirs: Mutex::default() })
    }

    async fn move_no_overwrite(&self, from: &str, to: &str) -> Result<(), MoveError> {
        let build = |e: ::http::Error| {
            MoveError::Http(
                opendal::Error::new(DalKind::Unexpected, "building the MOVE request").set_source(e),
            )
        };
        let mut request = ::http::Request::builder()
            .method("MOVE")
            .uri(format!("{}/{from}", self.base))
            .header("Destination", format!("{}/{to}", self.base))
            .header("Overwrite", "F");
        if let Some(value) = &self.authorization {
            request = request.header(::http::header::AUTHORIZATION, value.clone());
        }
        let request = request.body(opendal::Buffer::new()).map_err(build)?;
        let response = self.transport.send(request).await.map_err(MoveError::Http)?;
        match response.status().as_u16() {
            201 | 204 => Ok(()),
            412 => Err(MoveError::TargetExists),
            status => Err(MoveError::Http(opendal::Error::new(
                DalKind::Unexpected,
                format!("MOVE to {to} answered HTTP {status}"),
            ))),
        }
    }
}

impl Storage for OpendalStorage {
    fn location(&self) -> &str {
        &self.location
    }

    /// By backend; the module documentation says why each way.
    fn create(&self, path: &str, bytes: Vec<u8>) -> Result<(), StorageError> {
        let len = bytes.len() as u64;
        let exclusive = opendal::options::WriteOptions { if_not_exists: true, ..Default::default() };
        match &self.backend {
            Backend::Local { .. } => {
                self.op.write_options(path, bytes, exclusive).map_err(|e| self.error("write", path, &e))?;
                // The rename inside OpenDAL's atomic write is the confirmation.
                return self.sync_parent_dir(path);
            }
            Backend::S3 => {
                self.op.write_options(path, bytes, exclusive).map_err(|e| self.error("write", path, &e))?;
            }
            Backend::Webdav(mover) => {
                let temp = format!("{TEMP_DIR}/upload-{}", random_hex());
                self.op.write(&temp, bytes).map_err(|e| self.error("write", &temp, &e))?;
                let moved = self.make_parent_dir(mover, path).and_then(|()| {
                    self.runtime.block_on(mover.move_no_overwrite(&temp, path)).map_err(|e| match e {
                        MoveError::TargetExists => self.already_exists(path),
                        MoveError::Http(e) => self.error("write", path, &e),
                    })
                });
                if moved.is_err() {
                    let _ = self.op.delete(&temp);
                }
                moved?;
            }
            Backend::Gdrive { .. } => {
                if self.stat_len(path)?.is_some() {
                    return Err(self.already_exists(path));
                }
                self.op.write(path, bytes).map_err(|e| self.error("write", path, &e))?;
            }
        }
        self.confirm_len(path, len)
    }

    fn spool_dir(&self) -> &Path {
        &self.spool_dir
    }

    fn create_from_spool(&self, path: &str, spool_file: &Path) -> Result<(), StorageError> {
        let outcome = match &self.backend {
            Backend::Local { root, .. } => self.rename_into_place(root, path, spool_file),
            // Remote backends take a pack in one request (WebDAV and Drive have no other way),
            // so a pack is in memory while it is sent: packs are a few MiB (SPEC §7.6).
            _ => match std::fs::read(spool_file) {
                Ok(bytes) => self.create(path, bytes),
                Err(e) => Err(self.failure(
                    io_kind(&e),
                    "write",
                    path,
                    format!("cannot read spool file {}: {e}", spool_file.display()),
                )),
            },
        };
        if outcome.is_ok() || outcome.as_ref().is_err_and(|e| e.kind == StorageErrorKind::AlreadyExists) {
            let _ = std::fs::remove_file(spool_file);
        }
        outcome
    }

    fn read(&self, path: &str, max_len: u64) -> Result<Vec<u8>, StorageError> {
        let len = self.len(path)?;
        if len > max_len {
            return Err(self.failure(
                StorageErrorKind::TooLarge,
                "read",
                path,
                format!("{len} bytes, more than the {max_len} any valid file of its kind has"),
            ));
        }
        let bytes = self.op.read(path).map_err(|e| self.error("read", path, &e))?.to_vec();
        if bytes.len() as u64 != len {
            return Err(self.failure(
                StorageErrorKind::Transient,
                "read",
                path,
                format!("got {} bytes of {len}: the download ended early or the file changed", bytes.len()),
            ));
        }
        Ok(bytes)
    }

    fn read_range(&self, path: &str, offset: u64, len: u64) -> Result<Vec<u8>, StorageError> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| self.failure(StorageErrorKind::Other, "read", path, "range overflows".into()))?;
        let options = opendal::options::ReadOptions { range: (offset..end).into(), ..Default::default() };
        let bytes = match self.op.read_options(path, options) {
            Ok(buffer) => buffer.to_vec(),
            Err(e) if e.kind() == DalKind::NotFound => return Err(self.error("read", path, &e)),
            // Services report a range past the end in their own ways (a short body that
            // OpenDAL rejects, HTTP 416 as "unexpected"); the length tells what happened.
            Err(e) => {
                return Err(match self.stat_len(path) {
                    Ok(Some(len_now)) if end > len_now => self.failure(
                        StorageErrorKind::OutOfRange,
                        "read",
                        path,
                        format!("wanted bytes {offset}..{end} of a {len_now}-byte file"),
                    ),
                    _ => self.error("read", path, &e),
                });
            }
        };
        if bytes.len() as u64 != len {
            return Err(self.failure(
                StorageErrorKind::OutOfRange,
                "read",
                path,
                format!("short read: wanted {len} bytes at {offset}, got {}", bytes.len()),
            ));
        }
        Ok(bytes)
    }

    fn len(&self, path: &str) -> Result<u64, StorageError> {
        let meta = self.op.stat(path).map_err(|e| self.error("stat", path, &e))?;
        Ok(meta.content_length())
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        match self.op.delete(path) {
            Ok(()) => {}
            Err(e) if e.kind() == DalKind::NotFound => {}
            Err(e) => return Err(self.error("delete", path, &e)),
        }
        if let Backend::Gdrive { location, options } = &self.backend {
            return self.remove_drive_duplicates(location, options, path);
        }
        self.sync_parent_dir(path)
    }

    fn list(&self, dir: &str) -> Result<Vec<ObjectMeta>, StorageError> {
        let dir = format!("{}/", dir.trim_end_matches('/'));
        let options = opendal::options::ListOptions { recursive: true, ..Default::default() };
        let entries = match self.op.list_options(&dir, options) {
            Ok(entries) => entries,
            Err(e) if e.kind() == DalKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.error("list", &dir, &e)),
        };
        let mut seen = HashSet::with_capacity(entries.len());
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            if !entry.metadata().is_file() || !seen.insert(entry.path().to_string()) {
                continue;
            }
            let path = entry.path().to_string();
            // Not every service fills in lengths while listing (the fs service, Drive);
            // stat what is missing.
            let len = match entry.metadata().content_length() {
                0 => self.len(&path)?,
                len => len,
            };
            out.push(ObjectMeta { path, len });
        }
        Ok(out)
    }

    fn connections(&self) -> usize {
        self.connections
    }

    fn listing_lag(&self) -> std::time::Duration {
        self.listing_lag
    }
}

impl OpendalStorage {
    /// Drive keeps every file of a name and a delete trashes one (the newest). OpenDAL's
    /// operator remembers its own deletes, so only a fresh operator sees an older copy; each
    /// round uses a new one, until the name is gone.
    fn remove_drive_duplicates(
        &self,
        location: &Location,
        options: &StorageOptions,
        path: &str,
    ) -> Result<(), StorageError> {
        for _ in 0..MAX_DRIVE_DUPLICATES {
            let fresh = {
                let _guard = self.runtime.enter();
                let (op, _) = remote_operator(location, options)
                    .map_err(|message| self.failure(StorageErrorKind::Other, "delete", path, message))?;
                blocking::Operator::new(op).map_err(|e| self.error("delete", path, &e))?
            };
            match fresh.stat(path) {
                Err(e) if e.kind() == DalKind::NotFound => return Ok(()),
                Err(e) => return Err(self.error("delete", path, &e)),
                Ok(_) => match fresh.delete(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == DalKind::NotFound => return Ok(()),
                    Err(e) => return Err(self.error("delete", path, &e)),
                },
            }
        }
        Err(self.failure(
            StorageErrorKind::Other,
            "delete",
            path,
            format!("still present after {MAX_DRIVE_DUPLICATES} deletes"),
        ))
    }

    fn rename_into_place(&self, root: &Path, path: &str, spool_file: &Path) -> Result<(), StorageError> {
        let relative = spool_file.strip_prefix(root).ok().and_then(Path::to_str).ok_or_else(|| {
            self.failure(
                StorageErrorKind::Other,
                "write",
                path,
                format!("spool file {} is outside the repository", spool_file.display()),
            )
        })?;
        if self.op.exists(path).map_err(|e| self.error("stat", path, &e))? {
            return Err(self.already_exists(path));
        }
        self.op.rename(relative, path).map_err(|e| self.error("write", path, &e))?;
        self.sync_parent_dir(path)
    }
}

/// The kind of an OpenDAL error, and the `Retry-After` the service sent with it.
fn classify(err: &opendal::Error) -> (StorageErrorKind, Option<std::time::Duration>) {
    if let Some(failure) = find_source::<HttpFailure>(err) {
        return (failure.kind, failure.retry_after);
    }
    let kind = match err.kind() {
        DalKind::NotFound => StorageErrorKind::NotFound,
        DalKind::AlreadyExists | DalKind::ConditionNotMatch => StorageErrorKind::AlreadyExists,
        DalKind::PermissionDenied => StorageErrorKind::PermissionDenied,
        DalKind::RangeNotSatisfied => StorageErrorKind::OutOfRange,
        DalKind::RateLimited => StorageErrorKind::Transient,
        _ => match find_source::<std::io::Error>(err) {
            Some(io) => io_kind(io),
            // Connection failures, resets and timeouts: OpenDAL marks them temporary.
            None if err.is_temporary() => StorageErrorKind::Transient,
            None => StorageErrorKind::Other,
        },
    };
    (kind, None)
}

/// OpenDAL wraps the errors underneath; the useful one shows only in the source chain.
fn find_source<T: std::error::Error + 'static>(err: &opendal::Error) -> Option<&T> {
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        source = e.source();
    }
    None
}

fn io_kind(err: &std::io::Error) -> StorageErrorKind {
    use std::io::ErrorKind as Io;
    match err.kind() {
        Io::StorageFull | Io::QuotaExceeded => StorageErrorKind::StorageFull,
        Io::PermissionDenied => StorageErrorKind::PermissionDenied,
        Io::NotFound => StorageErrorKind::NotFound,
        Io::TimedOut | Io::ConnectionReset | Io::ConnectionAborted | Io::Interrupted | Io::UnexpectedEof => {
            StorageErrorKind::Transient
        }
        _ => StorageErrorKind::Other,
    }
}

/// OpenDAL's messages span lines and list context; keep the first line.
fn one_line(err: &opendal::Error) -> String {
    let text = err.to_string();
    text.lines().next().unwrap_or_default().to_string()
}
