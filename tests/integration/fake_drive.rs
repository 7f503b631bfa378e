//! A FAKE Google Drive: the Drive v3 HTTP API, as OpenDAL's `gdrive` service speaks it,
//! served in-process on a loopback socket; and cairn's storage driven through it.
//!
//! cairn's Google Drive backend is tested against this fake, not against Google. No local
//! Drive server exists (see servers.md), and OpenDAL's gdrive service hard-codes Google's
//! hosts; cairn's HTTP transport sends their requests here instead when
//! `CAIRN_GDRIVE_ENDPOINT` (`StorageOptions::gdrive.endpoint`) is set. Tests against the real
//! Drive stay opt-in, with a token from the environment.
//!
//! The fake reproduces what a backup meets on the real Drive and a naive fake would hide:
//! * two files may share a name in one folder; a lookup finds the newest;
//! * a delete moves a file to the trash: searches stop finding it, a fetch by id still works;
//! * searches lag behind writes ([`FakeDrive::set_listing_lag`]), fetches by id do not;
//! * a file's `size` comes only when `fields` asks for it, as a JSON string; listings come
//!   in pages of at most 1000;
//! * rate limits and outages in Drive's error format ([`FakeDrive::fail_next`]), and a
//!   token check.
//!
//! It serves the requests OpenDAL 0.59.5 sends (servers.md lists them). Anything else is
//! answered 501, naming the request, so that a change in cairn or OpenDAL that needs more
//! fails loudly here instead of passing against a guess.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::iter::Peekable;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::str::Chars;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cairn::storage::{
    GdriveCredentials, RetryPolicy, Secret, Storage, StorageError, StorageErrorKind, StorageOptions,
};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::harness::random_bytes;

/// The MIME type that makes a Drive file a folder.
const FOLDER_MIME: &str = "application/vnd.google-apps.folder";
/// The id behind My Drive's `root` alias.
const ROOT_ID: &str = "0AFakeDriveRootUk9PVA";
/// Files per page when a request names no `pageSize`, as on Drive.
const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page Drive sends, whatever `pageSize` asks.
const MAX_PAGE_SIZE: usize = 1000;
/// What Drive returns of a file when the request names no `fields`.
const DEFAULT_FILE_FIELDS: &str = "kind,id,name,mimeType";
/// What Drive returns of a listing when the request names no `fields`.
const DEFAULT_LIST_FIELDS: &str = "kind,incompleteSearch,nextPageToken,files(kind,id,name,mimeType)";
/// Page tokens are this and an offset: opaque to clients, like Drive's.
const PAGE_TOKEN_PREFIX: &str = "fake-page-";
/// 2026-01-01T00:00:00Z. The fake's clock starts there and moves 1 ms per change, so
/// modification times always differ and order writes the same way in every run.
const CLOCK_START_MS: u64 = 1_767_225_600_000;
/// A request body larger than this is refused, so a runaway client cannot exhaust memory.
const MAX_BODY: usize = 256 << 20;

/// A failure the fake answers with instead of serving a request, in Drive's error format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DriveFailure {
    /// 403 `rateLimitExceeded`, "Rate Limit Exceeded": the project's quota.
    RateLimitExceeded,
    /// 403 `userRateLimitExceeded`, "User rate limit exceeded.": the per-user quota.
    UserRateLimitExceeded,
    /// 429 with a `Retry-After` header.
    TooManyRequests { retry_after_secs: u64 },
    /// 503 `backendError`.
    ServerError,
    /// 401 `authError`, as for an expired or revoked token.
    Unauthorized,
}

impl DriveFailure {
    fn response(self) -> Response {
        match self {
            DriveFailure::RateLimitExceeded => {
                drive_error(403, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
            }
            DriveFailure::UserRateLimitExceeded => {
                drive_error(403, "usageLimits", "userRateLimitExceeded", "User rate limit exceeded.")
            }
            DriveFailure::TooManyRequests { retry_after_secs } => {
                drive_error(429, "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
                    .with_header("Retry-After", retry_after_secs.to_string())
            }
            DriveFailure::ServerError => drive_error(503, "global", "backendError", "Backend Error"),
            DriveFailure::Unauthorized => drive_error(401, "global", "authError", "Invalid Credentials")
                .with_header("WWW-Authenticate", r#"Bearer realm="https://accounts.google.com/""#.into()),
        }
    }
}

/// A fake Google Drive on a loopback port; dropping it stops the server.
pub struct FakeDrive {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the server's threads share.
struct Shared {
    drive: Mutex<Drive>,
    stopping: AtomicBool,
    /// Open connections by number, shut down on drop: a client's pooled keep-alive
    /// connection would otherwise keep its thread waiting for ever.
    connections: Mutex<HashMap<u64, TcpStream>>,
}

impl FakeDrive {
    /// The only access token the fake accepts.
    pub const TOKEN: &'static str = "fake-drive-token";

    /// Starts a fake with an empty My Drive.
    pub fn start() -> FakeDrive {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port for the fake Drive");
        let address = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            drive: Mutex::new(Drive::new()),
            stopping: AtomicBool::new(false),
            connections: Mutex::default(),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("fake-drive".into())
                .spawn(move || accept(&listener, &shared))
                .unwrap()
        };
        FakeDrive { address, shared, acceptor: Some(acceptor) }
    }

    /// `http://127.0.0.1:PORT`, what replaces Google's hosts.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// `StorageOptions` pointing at this fake with a valid token.
    pub fn options(&self) -> StorageOptions {
        StorageOptions {
            gdrive: GdriveCredentials {
                access_token: Some(Secret::new(Self::TOKEN)),
                endpoint: Some(self.endpoint()),
                ..GdriveCredentials::default()
            },
            // The fake's listings lag only when a test says so (`set_listing_lag`).
            listing_lag: Some(Duration::ZERO),
            ..StorageOptions::default()
        }
    }

    /// The next `count` requests are answered with this failure instead of being served.
    pub fn fail_next(&self, failure: DriveFailure, count: usize) {
        self.drive().failure = (count > 0).then_some((failure, count));
    }

    /// New files appear in `q=` searches and listings only this long after their upload (a
    /// fetch by id finds them at once), as Drive's search index lags behind its writes.
    pub fn set_listing_lag(&self, lag: Duration) {
        self.drive().listing_lag = lag;
    }

    /// Creates a second file with the same name in the folder at `folder_path` (from My
    /// Drive, `/`-separated), as Drive allows and racing writers cause.
    pub fn add_duplicate(&self, folder_path: &str, name: &str, content: &[u8]) {
        let mut drive = self.drive();
        let folder = drive
            .folder_at(folder_path)
            .unwrap_or_else(|| panic!("no folder {folder_path} on the fake Drive"));
        drive.insert(name, "application/octet-stream", folder, content.to_vec());
    }

    /// Requests answered so far, failures included.
    pub fn requests(&self) -> u64 {
        self.drive().requests
    }

    /// Files and folders in the trash: deletes trash, they never erase.
    pub fn trashed(&self) -> usize {
        self.drive().files.values().filter(|file| file.trashed).count()
    }

    fn drive(&self) -> MutexGuard<'_, Drive> {
        lock(&self.shared.drive)
    }
}

impl Drop for FakeDrive {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees the flag and ends.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for connection in lock(&self.shared.connections).values() {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

/// A lock that a panicking test thread does not poison for the others.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts connections until the fake is dropped, each served on its own thread.
fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for (number, stream) in (0u64..).zip(listener.incoming()) {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else { continue };
        lock(&shared.connections).insert(number, handle);
        let shared = Arc::clone(shared);
        std::thread::spawn(move || {
            // A connection ends when the client closes it or breaks the protocol; the
            // client sees either, the fake has nothing to report.
            let _ = serve(stream, &shared);
            lock(&shared.connections).remove(&number);
        });
    }
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1: requests with Content-Length or chunked bodies, keep-alive connections.

/// One request, its body complete.
struct Request {
    method: String,
    /// The target's path, without the query.
    path: String,
    /// Query parameters, decoded.
    query: HashMap<String, String>,
    /// Header names in lower case.
    headers: HashMap<String, String>,
    body: Vec<u8>,
    /// Whether the connection closes after this request.
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// One response; always sent with a Content-Length.
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response { status, headers: vec![("Content-Type", content_type.to_string())], body }
    }

    fn json(status: u16, value: &Value) -> Response {
        Response::new(status, "application/json; charset=UTF-8", value.to_string().into_bytes())
    }

    fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }
}

/// Answers a connection's requests in order until the client closes it.
fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let request = match read_request(&mut reader) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let response = Response::new(400, "text/plain", e.to_string().into_bytes());
                return write_response(&mut writer, &response, true);
            }
            Err(e) => return Err(e),
        };
        let response = lock(&shared.drive).handle(&request);
        write_response(&mut writer, &response, request.close)?;
        if request.close {
            return Ok(());
        }
    }
}

fn malformed(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// The next request, or `None` when the client closed the connection between requests.
fn read_request(reader: &mut impl BufRead) -> io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (words.next(), words.next(), words.next()) else {
        return Err(malformed(format!("bad request line {line:?}")));
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers = read_headers(reader)?;
    let connection = headers.get("connection").map(|v| v.to_ascii_lowercase()).unwrap_or_default();
    let close = connection.contains("close") || (version != "HTTP/1.1" && !connection.contains("keep-alive"));
    let body = read_body(reader, &headers)?;
    Ok(Some(Request {
        method: method.to_string(),
        path: path.to_string(),
        query: parse_query(query),
        headers,
        body,
        close,
    }))
}

/// Header lines up to the blank line, names in lower case.
fn read_headers(reader: &mut impl BufRead) -> io::Result<HashMap<String, String>> {
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Ok(headers);
        }
        let (name, value) = line.split_once(':').ok_or_else(|| malformed(format!("bad header {line:?}")))?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

fn read_body(reader: &mut impl BufRead, headers: &HashMap<String, String>) -> io::Result<Vec<u8>> {
    if headers.get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return read_chunked(reader);
    }
    let len = match headers.get("content-length") {
        Some(value) => {
            value.parse::<usize>().map_err(|_| malformed(format!("bad Content-Length {value:?}")))?
        }
        None => 0,
    };
    if len > MAX_BODY {
        return Err(malformed(format!("a body of {len} bytes is more than the fake takes")));
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(body)
}

/// A `Transfer-Encoding: chunked` body: chunks of a hexadecimal size, each followed by
/// CRLF, up to an empty chunk and optional trailers.
fn read_chunked(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| malformed(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            read_headers(reader)?;
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(malformed("a chunked body larger than the fake takes"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf)?;
        if &crlf != b"\r\n" {
            return Err(malformed("a chunk not followed by CRLF"));
        }
    }
}

fn write_response(writer: &mut impl Write, response: &Response, close: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\n",
        response.status,
        reason_phrase(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(&[head.as_bytes(), &response.body].concat())?;
    writer.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Query parameters, `+` and `%XX` decoded.
fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (b'+', None) => out.push(b' '),
            (byte, None) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---------------------------------------------------------------------------------------
// The Drive: files by id, and the operations OpenDAL uses.

/// A file or a folder.
struct DriveFile {
    id: String,
    name: String,
    mime_type: String,
    /// Exactly one on My Drive (Drive has refused second parents since 2020); none for the root.
    parents: Vec<String>,
    content: Vec<u8>,
    created_ms: u64,
    modified_ms: u64,
    /// Trashed by a client; what it contains counts as trashed too.
    trashed: bool,
    /// When searches start to find the file (never, for My Drive itself).
    searchable_from: Option<Instant>,
}

impl DriveFile {
    fn is_folder(&self) -> bool {
        self.mime_type == FOLDER_MIME
    }

    /// The Drive `File` resource; a response carries the part its `fields` selects.
    fn resource(&self, in_trash: bool) -> Value {
        let mut resource = json!({
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": self.parents,
            "trashed": in_trash,
            "createdTime": rfc3339(self.created_ms),
            "modifiedTime": rfc3339(self.modified_ms),
        });
        if !self.is_folder() {
            // Drive sends its int64 fields as JSON strings.
            resource["size"] = Value::String(self.content.len().to_string());
        }
        resource
    }
}

/// A handler's answer; errors are responses too, so handlers can use `?`.
type Answer = Result<Response, Response>;

/// The whole Drive, and the knobs tests turn.
struct Drive {
    /// By id. Ids grow with creation, so iteration is in creation order.
    files: BTreeMap<String, DriveFile>,
    next_id: u64,
    clock_ms: u64,
    requests: u64,
    listing_lag: Duration,
    failure: Option<(DriveFailure, usize)>,
}

impl Drive {
    fn new() -> Drive {
        let root = DriveFile {
            id: ROOT_ID.into(),
            name: "My Drive".into(),
            mime_type: FOLDER_MIME.into(),
            parents: Vec::new(),
            content: Vec::new(),
            created_ms: CLOCK_START_MS,
            modified_ms: CLOCK_START_MS,
            trashed: false,
            // My Drive itself is never a search result.
            searchable_from: None,
        };
        Drive {
            files: BTreeMap::from([(ROOT_ID.to_string(), root)]),
            next_id: 0,
            clock_ms: CLOCK_START_MS,
            requests: 0,
            listing_lag: Duration::ZERO,
            failure: None,
        }
    }

    /// Answers one request: with an injected failure, a refusal of its token, or by serving it.
    fn handle(&mut self, request: &Request) -> Response {
        self.requests += 1;
        if let Some(failure) = self.take_failure() {
            return failure.response();
        }
        let expected = format!("Bearer {}", FakeDrive::TOKEN);
        if request.header("authorization") != Some(expected.as_str()) {
            return DriveFailure::Unauthorized.response();
        }
        self.route(request).unwrap_or_else(|error| error)
    }

    fn take_failure(&mut self) -> Option<DriveFailure> {
        let (failure, left) = self.failure.as_mut()?;
        let failure = *failure;
        *left -= 1;
        if *left == 0 {
            self.failure = None;
        }
        Some(failure)
    }

    fn route(&mut self, request: &Request) -> Answer {
        let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
        match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["drive", "v3", "files"]) => self.list(request),
            ("POST", ["drive", "v3", "files"]) => self.create(request),
            ("GET", ["drive", "v3", "files", id]) => self.get(request, id),
            ("PATCH", ["drive", "v3", "files", id]) => self.update(request, id),
            ("POST", ["upload", "drive", "v3", "files"]) => self.upload(request),
            ("PATCH", ["upload", "drive", "v3", "files", id]) => self.overwrite(request, id),
            _ => Err(not_implemented(&format!("{} {}", request.method, request.path))),
        }
    }

    /// `files.list`: the files a search (`q`) finds, sorted (`orderBy`), one page of them.
    fn list(&self, request: &Request) -> Answer {
        let query =
            request.param("q").map(Query::parse).transpose().map_err(|why| bad_parameter("q", &why))?;
        let order = OrderBy::parse(request.param("orderBy").unwrap_or_default())
            .map_err(|why| bad_parameter("orderBy", &why))?;
        let page_size = match request.param("pageSize") {
            None => DEFAULT_PAGE_SIZE,
            Some(text) => {
                text.parse::<usize>().map_err(|_| bad_parameter("pageSize", text))?.clamp(1, MAX_PAGE_SIZE)
            }
        };
        let offset = match request.param("pageToken") {
            None => 0,
            Some(token) => token
                .strip_prefix(PAGE_TOKEN_PREFIX)
                .and_then(|offset| offset.parse().ok())
                .ok_or_else(|| bad_parameter("pageToken", token))?,
        };
        let fields = selected_fields(request, DEFAULT_LIST_FIELDS)?;
        let now = Instant::now();
        let mut found: Vec<(&DriveFile, bool)> = self
            .files
            .values()
            .filter(|file| file.searchable_from.is_some_and(|from| from <= now))
            .map(|file| (file, self.in_trash(file)))
            .filter(|&(file, in_trash)| query.as_ref().is_none_or(|query| query.matches(file, in_trash)))
            .collect();
        found.sort_by(|a, b| order.compare(a.0, b.0));
        let page: Vec<Value> = found
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|&(file, in_trash)| file.resource(in_trash))
            .collect();
        let mut list = json!({"kind": "drive#fileList", "incompleteSearch": false, "files": page});
        if offset + page_size < found.len() {
            list["nextPageToken"] = json!(format!("{PAGE_TOKEN_PREFIX}{}", offset + page_size));
        }
        Ok(Response::json(200, &fields.project(&list)))
    }

    /// `files.get`: a file's metadata, or its content with `alt=media`.
    fn get(&self, request: &Request, id: &str) -> Answer {
        let file = self.file(id).ok_or_else(|| not_found(id))?;
        if request.param("alt") == Some("media") {
            return download(file, request.header("range"));
        }
        self.resource_response(file, request)
    }

    /// `files.create` without content: how OpenDAL makes folders.
    fn create(&mut self, request: &Request) -> Answer {
        let metadata = parse_json(&request.body)?;
        let id = self.insert_from_metadata(&metadata, "application/octet-stream", Vec::new())?;
        self.resource_response(&self.files[&id], request)
    }

    /// `files.create` with content, `uploadType=multipart`: a JSON metadata part, then the
    /// content.
    fn upload(&mut self, request: &Request) -> Answer {
        if request.param("uploadType") != Some("multipart") {
            return Err(not_implemented(&format!("uploadType={:?}", request.param("uploadType"))));
        }
        let content_type = request.header("content-type").unwrap_or_default();
        let parts = parse_multipart(content_type, &request.body).map_err(|why| bad_request(&why))?;
        let (metadata, media) = metadata_and_media(&parts).map_err(|why| bad_request(&why))?;
        let media_type = media.headers.get("content-type").map_or("application/octet-stream", String::as_str);
        let id = self.insert_from_metadata(&parse_json(metadata.body)?, media_type, media.body.to_vec())?;
        self.resource_response(&self.files[&id], request)
    }

    /// `files.update` with content, `uploadType=media`: the body replaces the content.
    fn overwrite(&mut self, request: &Request, id: &str) -> Answer {
        if request.param("uploadType") != Some("media") {
            return Err(not_implemented(&format!("overwrite uploadType={:?}", request.param("uploadType"))));
        }
        let now = self.tick();
        let file = self.files.get_mut(canonical_id(id)).ok_or_else(|| not_found(id))?;
        file.content.clone_from(&request.body);
        file.modified_ms = now;
        self.resource_response(&self.files[canonical_id(id)], request)
    }

    /// `files.update` of metadata. The fake knows `trashed`, which is all OpenDAL's deletes
    /// change.
    fn update(&mut self, request: &Request, id: &str) -> Answer {
        let changes = parse_json(&request.body)?;
        let changes = changes.as_object().ok_or_else(parse_failure)?;
        if let Some(key) = changes.keys().find(|key| key.as_str() != "trashed") {
            return Err(not_implemented(&format!("changing {key:?} of a file")));
        }
        let file = self.files.get_mut(canonical_id(id)).ok_or_else(|| not_found(id))?;
        if let Some(trashed) = changes.get("trashed").and_then(Value::as_bool) {
            file.trashed = trashed;
        }
        self.resource_response(&self.files[canonical_id(id)], request)
    }

    /// A file's resource, cut to the request's `fields`.
    fn resource_response(&self, file: &DriveFile, request: &Request) -> Answer {
        let fields = selected_fields(request, DEFAULT_FILE_FIELDS)?;
        Ok(Response::json(200, &fields.project(&file.resource(self.in_trash(file)))))
    }

    /// Creates a file from Drive metadata (`name`, `mimeType`, `parents`) and returns its id.
    fn insert_from_metadata(
        &mut self,
        metadata: &Value,
        media_type: &str,
        content: Vec<u8>,
    ) -> Result<String, Response> {
        let parent = match metadata["parents"].as_array().map(Vec::as_slice) {
            None | Some([]) => ROOT_ID.to_string(),
            Some([parent]) => {
                let id = parent.as_str().unwrap_or_default();
                self.file(id).filter(|parent| parent.is_folder()).ok_or_else(|| not_found(id))?.id.clone()
            }
            Some(_) => return Err(bad_parameter("parents", "a file has exactly one parent")),
        };
        let name = metadata["name"].as_str().unwrap_or("Untitled");
        let mime_type = metadata["mimeType"].as_str().unwrap_or(media_type);
        Ok(self.insert(name, mime_type, parent, content))
    }

    /// Creates a file and returns its id. Searches find it once the listing lag has passed.
    fn insert(&mut self, name: &str, mime_type: &str, parent: String, content: Vec<u8>) -> String {
        self.next_id += 1;
        let id = format!("1FakeDrive{:020}", self.next_id);
        let now = self.tick();
        let file = DriveFile {
            id: id.clone(),
            name: name.to_string(),
            mime_type: mime_type.to_string(),
            parents: vec![parent],
            content,
            created_ms: now,
            modified_ms: now,
            trashed: false,
            searchable_from: Some(Instant::now() + self.listing_lag),
        };
        self.files.insert(id.clone(), file);
        id
    }

    fn tick(&mut self) -> u64 {
        self.clock_ms += 1;
        self.clock_ms
    }

    /// The file with this id, or My Drive for `root`.
    fn file(&self, id: &str) -> Option<&DriveFile> {
        self.files.get(canonical_id(id))
    }

    /// Whether the file, or a folder above it, is in the trash.
    fn in_trash(&self, file: &DriveFile) -> bool {
        file.trashed
            || file.parents.iter().filter_map(|id| self.files.get(id)).any(|parent| self.in_trash(parent))
    }

    /// The id of the folder at a `/`-separated path from My Drive, taking the newest of
    /// each name, for test setup.
    fn folder_at(&self, path: &str) -> Option<String> {
        path.split('/').filter(|name| !name.is_empty()).try_fold(ROOT_ID.to_string(), |parent, name| {
            self.files
                .values()
                .filter(|f| {
                    f.is_folder() && f.name == name && f.parents.contains(&parent) && !self.in_trash(f)
                })
                .max_by_key(|f| f.modified_ms)
                .map(|f| f.id.clone())
        })
    }
}

/// My Drive's real id for its `root` alias; any other id unchanged.
fn canonical_id(id: &str) -> &str {
    if id == "root" { ROOT_ID } else { id }
}

/// `alt=media`: the content, or the part a `Range: bytes=…` header asks for (206).
fn download(file: &DriveFile, range: Option<&str>) -> Answer {
    if file.is_folder() {
        return Err(drive_error(
            403,
            "global",
            "fileNotDownloadable",
            "Only files with binary content can be downloaded.",
        ));
    }
    let content = &file.content;
    // An empty file has no byte a range could name; like most servers, the fake then ignores
    // the header rather than refuse the read.
    let Some(range) = range.filter(|_| !content.is_empty()) else {
        return Ok(Response::new(200, &file.mime_type, content.clone()));
    };
    let len = content.len();
    let Some((first, last)) = satisfiable_range(range, len) else {
        return Err(Response::new(416, "text/plain", Vec::new())
            .with_header("Content-Range", format!("bytes */{len}")));
    };
    Ok(Response::new(206, &file.mime_type, content[first..=last].to_vec())
        .with_header("Content-Range", format!("bytes {first}-{last}/{len}")))
}

/// The first and last byte a `bytes=first-[last]` or `bytes=-suffix` range names in `len`
/// bytes, cut at the end; `None` when it names none of them.
fn satisfiable_range(header: &str, len: usize) -> Option<(usize, usize)> {
    let (first, last) = header.strip_prefix("bytes=")?.split_once('-')?;
    let last_byte = len.checked_sub(1)?;
    if first.is_empty() {
        let suffix: usize = last.parse().ok()?;
        return (suffix > 0).then(|| (len.saturating_sub(suffix), last_byte));
    }
    let first: usize = first.parse().ok()?;
    let last = if last.is_empty() { last_byte } else { last.parse::<usize>().ok()?.min(last_byte) };
    (first <= last).then_some((first, last))
}

/// An error in Drive's format.
fn drive_error(status: u16, domain: &str, reason: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"error": {
            "errors": [{"domain": domain, "reason": reason, "message": message}],
            "code": status,
            "message": message,
        }}),
    )
}

fn not_found(id: &str) -> Response {
    drive_error(404, "global", "notFound", &format!("File not found: {id}."))
}

fn bad_parameter(name: &str, why: &str) -> Response {
    drive_error(400, "global", "invalid", &format!("Invalid Value for {name}: {why}"))
}

fn bad_request(why: &str) -> Response {
    drive_error(400, "global", "badRequest", &format!("Bad Request: {why}"))
}

fn parse_failure() -> Response {
    drive_error(400, "global", "parseError", "Parse Error")
}

/// 501 for what OpenDAL does not send today.
fn not_implemented(what: &str) -> Response {
    drive_error(501, "global", "notImplemented", &format!("the fake Drive does not implement {what}"))
}

fn parse_json(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|_| parse_failure())
}

/// The request's `fields` selection, or Drive's default for the kind of response.
fn selected_fields(request: &Request, default: &str) -> Result<Fields, Response> {
    let text = request.param("fields").unwrap_or(default);
    Fields::parse(text).map_err(|why| bad_parameter("fields", &why))
}

/// RFC 3339 in UTC with milliseconds, as Drive writes times.
fn rfc3339(unix_ms: u64) -> String {
    let (days, ms) = (unix_ms / 86_400_000, unix_ms % 86_400_000);
    let (year, month, day) = civil_date(days);
    let (hour, minute, second, milli) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z")
}

/// The Gregorian date `days` after 1970-01-01. Counts in 400-year eras of 146 097 days whose
/// years start on 1 March, so that the leap day ends a year.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let since_era_0 = days + 719_468; // 0000-03-01 to 1970-01-01
    let era = since_era_0 / 146_097;
    let day_of_era = since_era_0 % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    (era * 400 + year_of_era + u64::from(month <= 2), month, day)
}

// ---------------------------------------------------------------------------------------
// Drive's search language (`q`), field selections (`fields`) and sort orders (`orderBy`).

/// A search, in the part of Drive's language OpenDAL uses: `name = '…'`, `mimeType = '…'`,
/// `trashed = true|false`, `'id' in parents`, `!=`, `not`, `and`, `or` and parentheses.
#[derive(Debug)]
enum Query {
    All(Vec<Query>),
    Any(Vec<Query>),
    Not(Box<Query>),
    Name(String),
    MimeType(String),
    Trashed(bool),
    InParents(String),
}

impl Query {
    fn parse(text: &str) -> Result<Query, String> {
        let mut parser = QueryParser { tokens: tokenize(text)?, at: 0 };
        let query = parser.any()?;
        match parser.next() {
            None => Ok(query),
            Some(extra) => Err(format!("unexpected {extra:?} in {text:?}")),
        }
    }

    fn matches(&self, file: &DriveFile, in_trash: bool) -> bool {
        match self {
            Query::All(terms) => terms.iter().all(|term| term.matches(file, in_trash)),
            Query::Any(terms) => terms.iter().any(|term| term.matches(file, in_trash)),
            Query::Not(term) => !term.matches(file, in_trash),
            Query::Name(name) => file.name == *name,
            Query::MimeType(mime_type) => file.mime_type == *mime_type,
            Query::Trashed(trashed) => in_trash == *trashed,
            Query::InParents(id) => file.parents.iter().any(|parent| parent == canonical_id(id)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// A `'…'` string, escapes resolved.
    Text(String),
    Word(String),
    Open,
    Close,
    Equals,
    NotEquals,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '(' => tokens.push(Token::Open),
            ')' => tokens.push(Token::Close),
            '=' => tokens.push(Token::Equals),
            '!' if chars.next_if_eq(&'=').is_some() => tokens.push(Token::NotEquals),
            '\'' => tokens.push(Token::Text(quoted(&mut chars)?)),
            c if c.is_whitespace() => {}
            c if c.is_alphanumeric() => {
                let mut word = c.to_string();
                while let Some(c) = chars.next_if(|c| c.is_alphanumeric()) {
                    word.push(c);
                }
                tokens.push(Token::Word(word));
            }
            other => return Err(format!("unexpected {other:?}")),
        }
    }
    Ok(tokens)
}

/// The rest of a `'…'` string, in which a backslash escapes the next character.
fn quoted(chars: &mut impl Iterator<Item = char>) -> Result<String, String> {
    let mut text = String::new();
    loop {
        match chars.next() {
            Some('\'') => return Ok(text),
            Some('\\') => text.push(chars.next().ok_or("an escape at the end")?),
            Some(c) => text.push(c),
            None => return Err("an unterminated string".into()),
        }
    }
}

/// Recursive descent over the tokens; `and` binds tighter than `or`.
struct QueryParser {
    tokens: Vec<Token>,
    at: usize,
}

impl QueryParser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    /// Takes the next token if it is the word `word`.
    fn next_word_is(&mut self, word: &str) -> bool {
        let found = matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w == word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, expected: &Token) -> Result<(), String> {
        match self.next() {
            Some(token) if token == *expected => Ok(()),
            other => Err(format!("expected {expected:?}, found {other:?}")),
        }
    }

    fn any(&mut self) -> Result<Query, String> {
        self.joined("or", QueryParser::all, Query::Any)
    }

    fn all(&mut self) -> Result<Query, String> {
        self.joined("and", QueryParser::term, Query::All)
    }

    /// Operands separated by `word`, joined by `join` when there is more than one.
    fn joined(
        &mut self,
        word: &str,
        operand: fn(&mut QueryParser) -> Result<Query, String>,
        join: fn(Vec<Query>) -> Query,
    ) -> Result<Query, String> {
        let mut operands = vec![operand(self)?];
        while self.next_word_is(word) {
            operands.push(operand(self)?);
        }
        Ok(if operands.len() == 1 { operands.remove(0) } else { join(operands) })
    }

    fn term(&mut self) -> Result<Query, String> {
        match self.next() {
            Some(Token::Open) => {
                let query = self.any()?;
                self.expect(&Token::Close)?;
                Ok(query)
            }
            Some(Token::Word(word)) if word == "not" => Ok(Query::Not(Box::new(self.term()?))),
            Some(Token::Text(id)) => {
                self.expect(&Token::Word("in".into()))?;
                self.expect(&Token::Word("parents".into()))?;
                Ok(Query::InParents(id))
            }
            Some(Token::Word(field)) => self.comparison(&field),
            other => Err(format!("unexpected {other:?}")),
        }
    }

    /// `field = value` or `field != value`, after the field.
    fn comparison(&mut self, field: &str) -> Result<Query, String> {
        let negated = match self.next() {
            Some(Token::Equals) => false,
            Some(Token::NotEquals) => true,
            other => return Err(format!("expected = or != after {field}, found {other:?}")),
        };
        let query = match (field, self.next()) {
            ("name", Some(Token::Text(name))) => Query::Name(name),
            ("mimeType", Some(Token::Text(mime_type))) => Query::MimeType(mime_type),
            ("trashed", Some(Token::Word(value))) if value == "true" || value == "false" => {
                Query::Trashed(value == "true")
            }
            (field, value) => return Err(format!("cannot compare {field} with {value:?}")),
        };
        Ok(if negated { Query::Not(Box::new(query)) } else { query })
    }
}

/// A `fields` selection: everything (`*`), or named fields, each with its own selection in
/// parentheses (`nextPageToken,files(id,size)`).
enum Fields {
    All,
    Only(Vec<(String, Fields)>),
}

impl Fields {
    fn parse(text: &str) -> Result<Fields, String> {
        let mut chars = text.chars().peekable();
        let fields = Fields::parse_list(&mut chars)?;
        match chars.next() {
            None => Ok(fields),
            Some(c) => Err(format!("unexpected {c:?}")),
        }
    }

    /// A comma-separated list, up to a `)` or the end.
    fn parse_list(chars: &mut Peekable<Chars<'_>>) -> Result<Fields, String> {
        let mut named = Vec::new();
        loop {
            let mut name = String::new();
            while let Some(c) = chars.next_if(|c| c.is_alphanumeric() || *c == '*') {
                name.push(c);
            }
            if name.is_empty() {
                return Err("an empty field name".into());
            }
            let selection = if chars.next_if_eq(&'(').is_some() {
                let inner = Fields::parse_list(chars)?;
                chars.next_if_eq(&')').ok_or("a missing )")?;
                inner
            } else {
                Fields::All
            };
            named.push((name, selection));
            if chars.next_if_eq(&',').is_none() {
                break;
            }
        }
        Ok(if named.iter().any(|(name, _)| name == "*") { Fields::All } else { Fields::Only(named) })
    }

    /// The selected part of `value`; a selection applies to each element of an array.
    fn project(&self, value: &Value) -> Value {
        match (self, value) {
            (Fields::Only(_), Value::Array(items)) => {
                Value::Array(items.iter().map(|item| self.project(item)).collect())
            }
            (Fields::Only(named), Value::Object(object)) => Value::Object(
                named
                    .iter()
                    .filter_map(|(name, selection)| {
                        Some((name.clone(), selection.project(object.get(name)?)))
                    })
                    .collect(),
            ),
            _ => value.clone(),
        }
    }
}

/// A sort order (`orderBy`): keys, each optionally `desc`.
struct OrderBy(Vec<(SortKey, bool)>);

#[derive(Clone, Copy)]
enum SortKey {
    CreatedTime,
    ModifiedTime,
    Name,
}

impl OrderBy {
    fn parse(text: &str) -> Result<OrderBy, String> {
        let key = |spec: &str| {
            let mut words = spec.split_whitespace();
            let key = match words.next() {
                Some("createdTime") => SortKey::CreatedTime,
                Some("modifiedTime") => SortKey::ModifiedTime,
                Some("name") => SortKey::Name,
                other => return Err(format!("cannot sort by {other:?}")),
            };
            match (words.next(), words.next()) {
                (None, None) => Ok((key, false)),
                (Some("desc"), None) => Ok((key, true)),
                _ => Err(format!("bad sort key {spec:?}")),
            }
        };
        text.split(',').filter(|spec| !spec.trim().is_empty()).map(key).collect::<Result<_, _>>().map(OrderBy)
    }

    fn compare(&self, a: &DriveFile, b: &DriveFile) -> std::cmp::Ordering {
        self.0
            .iter()
            .map(|&(key, descending)| {
                let order = match key {
                    SortKey::CreatedTime => a.created_ms.cmp(&b.created_ms),
                    SortKey::ModifiedTime => a.modified_ms.cmp(&b.modified_ms),
                    SortKey::Name => a.name.cmp(&b.name),
                };
                if descending { order.reverse() } else { order }
            })
            .find(|order| order.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    }
}

// ---------------------------------------------------------------------------------------
// Multipart bodies, split byte by byte: content may hold anything, CRLF and dashes included.

/// One part of a multipart body.
struct Part<'a> {
    /// Header names in lower case.
    headers: HashMap<String, String>,
    body: &'a [u8],
}

impl Part<'_> {
    /// The `name` of a `multipart/form-data` part.
    fn form_name(&self) -> Option<&str> {
        let disposition = self.headers.get("content-disposition")?;
        let name = disposition.split(';').find_map(|param| param.trim().strip_prefix("name="))?;
        Some(name.trim_matches('"'))
    }
}

/// The parts of a multipart body, delimited by the boundary `content_type` names.
fn parse_multipart<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<Part<'a>>, String> {
    if !content_type.to_ascii_lowercase().starts_with("multipart/") {
        return Err(format!("an upload of {content_type:?}, not multipart"));
    }
    let boundary = content_type
        .split(';')
        .find_map(|param| param.trim().strip_prefix("boundary="))
        .ok_or("a multipart body without a boundary")?
        .trim_matches('"');
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    // The first delimiter may open the body, without a line break before it.
    let mut at = if body.starts_with(&delimiter[2..]) {
        delimiter.len() - 2
    } else {
        find(body, &delimiter, 0).ok_or("no boundary in the body")? + delimiter.len()
    };
    let mut parts = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err("a boundary not followed by a line break".into());
        }
        let end = find(body, &delimiter, at + 2).ok_or("a part without a closing boundary")?;
        parts.push(parse_part(&body[at + 2..end])?);
        at = end + delimiter.len();
    }
}

/// A part's headers and body, split at the first blank line (which opens a part without
/// headers).
fn parse_part(bytes: &[u8]) -> Result<Part<'_>, String> {
    let (head, body) = if let Some(body) = bytes.strip_prefix(b"\r\n") {
        (&[][..], body)
    } else {
        let split = find(bytes, b"\r\n\r\n", 0).ok_or("a part without a blank line")?;
        (&bytes[..split], &bytes[split + 4..])
    };
    let head = std::str::from_utf8(head).map_err(|_| "part headers that are not UTF-8")?;
    let headers = head
        .split("\r\n")
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Ok(Part { headers, body })
}

/// The metadata and the media part of an upload: by name in `multipart/form-data`
/// (OpenDAL's `metadata` and `file`), by position in `multipart/related` (Drive's documented
/// form).
fn metadata_and_media<'p, 'a>(parts: &'p [Part<'a>]) -> Result<(&'p Part<'a>, &'p Part<'a>), String> {
    let pick = |name: &str, index: usize| {
        parts
            .iter()
            .find(|part| part.form_name() == Some(name))
            .or_else(|| parts.get(index).filter(|part| part.form_name().is_none()))
    };
    match (pick("metadata", 0), pick("file", 1)) {
        (Some(metadata), Some(media)) => Ok((metadata, media)),
        _ => Err("an upload needs a metadata part and a media part".into()),
    }
}

/// Where `needle` first occurs in `haystack` at or after `from`.
fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack.get(from..)?.windows(needle.len()).position(|window| window == needle).map(|at| at + from)
}

// ---------------------------------------------------------------------------------------
// Tests: cairn's real storage, through OpenDAL's real gdrive service, against the fake.

/// Retries fast enough for tests: 10 ms doubling, five attempts.
fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        first_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        budget: Duration::from_secs(30),
    }
}

/// cairn's storage on `folder` of the fake, spooling in `spool`. Each call makes a new
/// OpenDAL operator, without the memory of its own recent writes that an operator keeps for
/// 15 s: what another process would see.
fn open(fake: &FakeDrive, folder: &str, spool: &Path) -> Arc<dyn Storage> {
    let options =
        StorageOptions { retry: quick_retries(), spool_dir: Some(spool.to_path_buf()), ..fake.options() };
    cairn::storage::open(&format!("gdrive:/{folder}"), &options).unwrap()
}

fn kind<T: std::fmt::Debug>(result: Result<T, StorageError>) -> StorageErrorKind {
    result.expect_err("expected a failure").kind
}

#[test]
fn gdrive_fake_round_trip() {
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    let storage = open(&fake, "Backups/round-trip", spool.path());

    storage.create("config", b"repository config".to_vec()).unwrap();
    assert_eq!(storage.read("config", 100).unwrap(), b"repository config");
    assert_eq!(kind(storage.create("config", b"other".to_vec())), StorageErrorKind::AlreadyExists);

    let pack = random_bytes((3 << 20) + 12_345, 7);
    let spool_file = storage.spool_dir().join("pack-upload");
    std::fs::write(&spool_file, &pack).unwrap();
    storage.create_from_spool("data/5f/5fab", &spool_file).unwrap();
    assert!(!spool_file.exists(), "the spool file is consumed once stored");
    assert_eq!(storage.len("data/5f/5fab").unwrap(), pack.len() as u64);
    assert_eq!(storage.read("data/5f/5fab", 4 << 20).unwrap(), pack);
    assert_eq!(storage.read_range("data/5f/5fab", 1_000_000, 70_000).unwrap(), &pack[1_000_000..1_070_000]);
    let tail = pack.len() as u64 - 4;
    assert!(storage.read_range("data/5f/5fab", tail, 8).is_err(), "a read past the end is never short");

    let listed: BTreeMap<String, u64> = open(&fake, "Backups/round-trip", spool.path())
        .list("")
        .unwrap()
        .into_iter()
        .map(|m| (m.path, m.len))
        .collect();
    let expected = BTreeMap::from([
        ("config".to_string(), storage.len("config").unwrap()),
        ("data/5f/5fab".to_string(), storage.len("data/5f/5fab").unwrap()),
    ]);
    assert_eq!(listed, expected, "a recursive listing of files only, with their lengths");

    storage.remove("config").unwrap();
    storage.remove("config").unwrap();
    assert_eq!(kind(storage.len("config")), StorageErrorKind::NotFound);
    assert_eq!(kind(storage.read("config", 100)), StorageErrorKind::NotFound);
    assert_eq!(kind(storage.read_range("config", 0, 1)), StorageErrorKind::NotFound);
    assert_eq!(fake.trashed(), 1, "a delete moves the file to the trash, once");
    let reopened = open(&fake, "Backups/round-trip", spool.path());
    assert_eq!(kind(reopened.len("config")), StorageErrorKind::NotFound, "also for a new operator");
    assert_eq!(reopened.read("data/5f/5fab", 4 << 20).unwrap(), pack);
}

/// A read past the end is a truncated file to the pack reader, not a storage failure:
/// `OutOfRange`, whatever the server does with such a range (Drive sends the bytes it has).
#[test]
fn gdrive_fake_read_past_the_end_is_out_of_range() {
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    let storage = open(&fake, "Backups/short", spool.path());
    storage.create("data/ab/abcd", b"0123456789".to_vec()).unwrap();
    assert_eq!(storage.read_range("data/ab/abcd", 6, 4).unwrap(), b"6789");
    let error = storage.read_range("data/ab/abcd", 6, 8).unwrap_err();
    assert_eq!(error.kind, StorageErrorKind::OutOfRange, "{error}");
    let error = storage.read_range("data/ab/abcd", 10, 1).unwrap_err();
    assert_eq!(error.kind, StorageErrorKind::OutOfRange, "{error}");
}

/// The storage contract every backend passes (backends.rs), through the fake.
#[test]
fn gdrive_fake_contract() {
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    crate::backends::check_contract(open(&fake, "Backups/contract", spool.path()).as_ref());
}

#[test]
fn gdrive_fake_listing_past_one_page_is_complete() {
    const FILES: usize = 1100;
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    let writer = open(&fake, "Backups/many", spool.path());
    let names: Vec<String> = (0..FILES).map(|i| format!("index/{i:04}")).collect();
    std::thread::scope(|scope| {
        for part in names.chunks(FILES.div_ceil(4)) {
            let writer = &writer;
            scope.spawn(move || {
                for (i, name) in part.iter().enumerate() {
                    writer.create(name, vec![b'i'; i % 5 + 1]).unwrap();
                }
            });
        }
    });
    // A new operator: the writer's would add its own recent writes to what Drive lists.
    let reader = open(&fake, "Backups/many", spool.path());
    let before = fake.requests();
    let listed: BTreeMap<String, u64> =
        reader.list("index").unwrap().into_iter().map(|meta| (meta.path, meta.len)).collect();
    let list_requests = fake.requests() - before;
    assert_eq!(listed.len(), FILES, "every file, each once");
    assert!(list_requests < 10, "lengths come with the pages, not a stat per file: {list_requests} requests");
    for name in names.iter().step_by(97) {
        assert_eq!(listed[name], reader.len(name).unwrap(), "{name}: listed length equals stat length");
    }
}

#[test]
fn gdrive_fake_rate_limits_are_retried() {
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    let storage = open(&fake, "Backups/limits", spool.path());
    storage.create("keys/k1", b"key".to_vec()).unwrap();
    for failure in [
        DriveFailure::RateLimitExceeded,
        DriveFailure::UserRateLimitExceeded,
        DriveFailure::ServerError,
        DriveFailure::TooManyRequests { retry_after_secs: 1 },
    ] {
        fake.fail_next(failure, 2);
        let (before, started) = (fake.requests(), Instant::now());
        assert_eq!(storage.read("keys/k1", 100).unwrap(), b"key", "{failure:?} is retried");
        assert!(fake.requests() >= before + 3, "{failure:?}: two refusals, then served");
        if let DriveFailure::TooManyRequests { retry_after_secs } = failure {
            let asked = Duration::from_secs(2 * retry_after_secs);
            assert!(started.elapsed() >= asked, "each retry waits as long as Retry-After asks");
        }
    }
    fake.fail_next(DriveFailure::UserRateLimitExceeded, 3);
    storage.create("keys/k2", b"second key".to_vec()).unwrap();
    assert_eq!(open(&fake, "Backups/limits", spool.path()).read("keys/k2", 100).unwrap(), b"second key");
}

#[test]
fn gdrive_fake_refused_token_fails_at_once() {
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    let storage = open(&fake, "Backups/auth", spool.path());
    storage.create("config", b"config".to_vec()).unwrap();

    let interactive = StorageOptions {
        retry: RetryPolicy::interactive(),
        spool_dir: Some(spool.path().to_path_buf()),
        ..fake.options()
    };
    let storage = cairn::storage::open("gdrive:/Backups/auth", &interactive).unwrap();
    fake.fail_next(DriveFailure::Unauthorized, 1);
    let before = fake.requests();
    let error = storage.len("config").unwrap_err();
    assert_eq!(error.kind, StorageErrorKind::Unauthorized, "{error}");
    assert_eq!(fake.requests(), before + 1, "a refused token is not retried");

    let wrong = StorageOptions {
        gdrive: GdriveCredentials {
            access_token: Some(Secret::new("revoked-token")),
            ..interactive.gdrive.clone()
        },
        ..interactive.clone()
    };
    let storage = cairn::storage::open("gdrive:/Backups/auth", &wrong).unwrap();
    let started = Instant::now();
    let error = storage.create("other", b"x".to_vec()).unwrap_err();
    assert_eq!(error.kind, StorageErrorKind::Unauthorized, "{error}");
    assert!(started.elapsed() < Duration::from_millis(500), "no retry waits: {:?}", started.elapsed());
    assert!(!error.to_string().contains("revoked-token"), "the token is never shown: {error}");
}

/// Drive keeps every file of a name; OpenDAL's delete trashes the newest one. A remove must
/// leave none, or a later process finds the older copy: for a pruned index, one that names
/// deleted packs.
#[test]
fn gdrive_fake_remove_deletes_every_duplicate() {
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    open(&fake, "Backups/dups", spool.path()).create("snapshots/s1", b"first".to_vec()).unwrap();
    fake.add_duplicate("Backups/dups/snapshots", "s1", b"second copy");

    let storage = open(&fake, "Backups/dups", spool.path());
    assert_eq!(storage.read("snapshots/s1", 100).unwrap(), b"second copy", "a lookup finds the newest copy");
    assert_eq!(storage.list("snapshots").unwrap().len(), 1, "a listing shows the name once");
    storage.remove("snapshots/s1").unwrap();
    assert_eq!(fake.trashed(), 2, "both copies went to the trash");
    assert_eq!(kind(storage.len("snapshots/s1")), StorageErrorKind::NotFound);
    let reopened = open(&fake, "Backups/dups", spool.path());
    assert_eq!(kind(reopened.len("snapshots/s1")), StorageErrorKind::NotFound, "also for a new operator");
}

#[test]
fn gdrive_fake_searches_lag_behind_writes() {
    const LAG: Duration = Duration::from_secs(1);
    let fake = FakeDrive::start();
    let spool = TempDir::new().unwrap();
    let writer = open(&fake, "Backups/lag", spool.path());
    writer.create("config", b"config".to_vec()).unwrap();
    fake.set_listing_lag(LAG);
    writer.create("locks/l1", b"lock".to_vec()).unwrap();
    assert_eq!(writer.len("locks/l1").unwrap(), 4, "the writer knows the file's id");

    let reader = open(&fake, "Backups/lag", spool.path());
    assert_eq!(kind(reader.len("locks/l1")), StorageErrorKind::NotFound, "a search does not find it yet");
    assert!(reader.list("locks").unwrap().is_empty(), "nor does a listing");
    std::thread::sleep(LAG);
    assert_eq!(reader.len("locks/l1").unwrap(), 4, "found after the lag");
    assert_eq!(reader.list("locks").unwrap().len(), 1);
}

/// A minimal HTTP/1.1 client on one keep-alive connection, to check the fake's protocol
/// without OpenDAL's choices in between.
struct RawClient {
    reader: BufReader<TcpStream>,
}

impl RawClient {
    fn connect(fake: &FakeDrive) -> RawClient {
        RawClient { reader: BufReader::new(TcpStream::connect(fake.address).unwrap()) }
    }

    /// Sends `head` (request line and headers, each ending in CRLF; Content-Length is added
    /// unless the body is chunked) and `body`; returns the status and the body.
    fn send(&mut self, head: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let length = if head.contains("Transfer-Encoding") {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let request = [head.as_bytes(), length.as_bytes(), b"\r\n", body].concat();
        self.reader.get_mut().write_all(&request).unwrap();
        let mut status = String::new();
        self.reader.read_line(&mut status).unwrap();
        let status = status.split_whitespace().nth(1).unwrap().parse().unwrap();
        let headers = read_headers(&mut self.reader).unwrap();
        let mut body = vec![0; headers["content-length"].parse().unwrap()];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }

    /// An authorized request whose answer must be 200 with a JSON body.
    fn json(&mut self, method_and_target: &str, extra_headers: &str, body: &[u8]) -> Value {
        let head = format!(
            "{method_and_target} HTTP/1.1\r\nAuthorization: Bearer {}\r\n{extra_headers}",
            FakeDrive::TOKEN
        );
        let (status, body) = self.send(&head, body);
        assert_eq!(status, 200, "{method_and_target}: {}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).unwrap()
    }
}

#[test]
fn gdrive_fake_speaks_drive_errors_and_uploads() {
    let fake = FakeDrive::start();
    let mut client = RawClient::connect(&fake);
    let (status, body) = client.send("GET /drive/v3/files HTTP/1.1\r\n", b"");
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, &error["error"]["code"]), (401, &json!(401)));
    assert_eq!(error["error"]["errors"][0]["reason"], "authError");
    let auth = format!("Authorization: Bearer {}\r\n", FakeDrive::TOKEN);
    let (status, body) = client.send(&format!("GET /drive/v3/files/nope HTTP/1.1\r\n{auth}"), b"");
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!((status, &error["error"]["errors"][0]["reason"]), (404, &json!("notFound")));

    // A chunked multipart upload whose content looks like boundaries and line breaks.
    let content = b"--b0und\r\n\r\n\r\n--b0undar--\x00\xff\r\n".to_vec();
    let multipart = [
        &b"--b0undary\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"[..],
        b"Content-Type: application/json\r\n\r\n{\"name\":\"upload\"}\r\n",
        b"--b0undary\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n",
        &content,
        b"\r\n--b0undary--\r\n",
    ]
    .concat();
    let (first, second) = multipart.split_at(40);
    let chunked = [
        format!("{:x}\r\n", first.len()).as_bytes(),
        first,
        format!("\r\n{:x}\r\n", second.len()).as_bytes(),
        second,
        b"\r\n0\r\n\r\n",
    ]
    .concat();
    let upload = client.json(
        "POST /upload/drive/v3/files?uploadType=multipart",
        "Content-Type: multipart/form-data; boundary=b0undary\r\nTransfer-Encoding: chunked\r\n",
        &chunked,
    );
    assert_eq!(upload.as_object().unwrap().len(), 4, "Drive's default fields only: {upload}");
    let id = upload["id"].as_str().unwrap();
    let (status, body) = client
        .send(&format!("GET /drive/v3/files/{id}?alt=media HTTP/1.1\r\n{auth}Range: bytes=2-9\r\n"), b"");
    assert_eq!((status, body.as_slice()), (206, &content[2..=9]));

    let stat = client.json(&format!("GET /drive/v3/files/{id}?fields=name,size,modifiedTime"), "", b"");
    assert_eq!(stat["size"], json!(content.len().to_string()), "sizes are strings");
    assert_eq!(stat["modifiedTime"], "2026-01-01T00:00:00.001Z");
    let trashed =
        client.json(&format!("PATCH /drive/v3/files/{id}?fields=trashed"), "", br#"{"trashed":true}"#);
    assert_eq!(trashed, json!({"trashed": true}));
    let (status, body) = client.send(&format!("GET /drive/v3/files/{id}?alt=media HTTP/1.1\r\n{auth}"), b"");
    assert_eq!((status, body), (200, content), "a trashed file is still served by id");
    let search =
        client.json("GET /drive/v3/files?q=name%20%3D%20%27upload%27%20and%20trashed%20%3D%20false", "", b"");
    assert_eq!(search["files"], json!([]), "but searches no longer find it");
}

#[test]
fn gdrive_fake_pages_like_drive() {
    let fake = FakeDrive::start();
    let mut client = RawClient::connect(&fake);
    let folder = client.json(
        "POST /drive/v3/files",
        "Content-Type: application/json\r\n",
        format!(r#"{{"name":"pages","mimeType":"{FOLDER_MIME}"}}"#).as_bytes(),
    );
    let folder = folder["id"].as_str().unwrap();
    for i in 0..1001 {
        let file = format!(r#"{{"name":"f{i:04}","parents":["{folder}"]}}"#);
        client.json("POST /drive/v3/files", "Content-Type: application/json\r\n", file.as_bytes());
    }
    let search = format!("GET /drive/v3/files?q=%27{folder}%27%20in%20parents%20and%20trashed%20%3D%20false");

    let page = client.json(&search, "", b"");
    assert_eq!(page["files"].as_array().unwrap().len(), 100, "Drive's default page size");
    assert!(
        page["files"][0].get("size").is_none(),
        "no size unless fields asks for it: {}",
        page["files"][0]
    );

    let fields = "fields=nextPageToken,files(name,size)";
    let page = client.json(&format!("{search}&pageSize=5000&{fields}&orderBy=name%20desc"), "", b"");
    assert_eq!(page["files"].as_array().unwrap().len(), 1000, "pages hold at most 1000");
    assert_eq!(page["files"][0], json!({"name": "f1000", "size": "0"}));
    let token = page["nextPageToken"].as_str().unwrap();
    let last = client.json(
        &format!("{search}&pageSize=5000&{fields}&orderBy=name%20desc&pageToken={token}"),
        "",
        b"",
    );
    assert_eq!(last, json!({"files": [{"name": "f0000", "size": "0"}]}), "the last page has no token");
}

/// The repository's whole life on the fake Drive: init, two backups, restore, check with
/// every byte read, forget + prune, check again.
#[test]
fn gdrive_fake_full_cycle() {
    use cairn::{BackupOptions, CancelToken, Credentials, ForgetOptions, InitOptions, NoProgress, Password};

    use crate::harness::{FAST_KDF, PASSWORD, random_bytes, write};
    use crate::prune::{assert_checks_clean, assert_restores};

    let fake = FakeDrive::start();
    let spool = tempfile::TempDir::new().unwrap();
    let storage = open(&fake, "Backups/cycle", spool.path());
    let init = InitOptions { kdf: FAST_KDF, ..InitOptions::default() };
    cairn::Repository::init(storage, &Password::from(PASSWORD), &init).unwrap();
    let repo = cairn::Repository::open(
        open(&fake, "Backups/cycle", spool.path()),
        &Credentials::Password(Password::from(PASSWORD)),
    )
    .unwrap();
    let src = tempfile::TempDir::new().unwrap();
    let data = src.path().join("data");
    let backup = || {
        repo.backup(std::slice::from_ref(&data), &BackupOptions::default(), &NoProgress, &CancelToken::new())
            .unwrap()
            .snapshot
    };
    write(&data.join("app.db"), &random_bytes(3 << 20, 1));
    write(&data.join("media/a.jpg"), &random_bytes(1 << 20, 2));
    backup();
    write(&data.join("app.db"), &random_bytes(3 << 20, 3));
    let second = backup();
    assert_restores(&repo, &second, &data);
    assert_checks_clean(&repo);
    let retention = cairn::format::policy::Retention { keep_last: 1, ..Default::default() };
    repo.forget(&ForgetOptions { retention: Some(retention), ..ForgetOptions::default() }).unwrap();
    let report = repo.prune(&cairn::PruneOptions::default(), &CancelToken::new()).unwrap();
    assert!(report.bytes_removed > 0, "{report:?}");
    assert_checks_clean(&repo);
    assert_restores(&repo, &second, &data);
}

/// Not a test: serves a fake Drive on a loopback port until killed, so that
/// `benches/backends.sh` can measure the `cairn` binary against it
/// (`cargo test --test integration gdrive_fake_serve -- --ignored --nocapture`).
#[test]
#[ignore = "a server for benches/backends.sh, not a test"]
fn gdrive_fake_serve() {
    let fake = FakeDrive::start();
    println!("CAIRN_GDRIVE_ENDPOINT={}", fake.endpoint());
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(Duration::from_hours(1));
    }
}
