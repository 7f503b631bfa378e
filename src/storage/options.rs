//! How to reach a storage: credentials, limits, retries. Apps fill [`StorageOptions`] in
//! code; the `cairn` command fills it from the environment ([`StorageOptions::from_env`]) and
//! the config file.

use zeroize::Zeroizing;

use super::faults::FaultPlan;
use super::retry::{RetryObserver, RetryPolicy};

/// A credential: zeroized when dropped, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a credential.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(Zeroizing::new(value.into()))
    }

    /// The credential, for handing to the service client.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// S3 credentials and addressing.
#[derive(Clone, Debug, Default)]
pub struct S3Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: Option<Secret>,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: Option<Secret>,
    /// `AWS_SESSION_TOKEN`, for temporary credentials.
    pub session_token: Option<Secret>,
    /// `AWS_DEFAULT_REGION` (or `AWS_REGION`); `us-east-1` when unset.
    pub region: Option<String>,
    /// Path-style addressing (`https://host/bucket/key`), which most S3-compatible servers
    /// need; `None` chooses virtual-host style for `amazonaws.com` and path style elsewhere.
    /// `CAIRN_S3_PATH_STYLE=true|false`.
    pub path_style: Option<bool>,
}

/// WebDAV credentials (HTTP basic authentication).
#[derive(Clone, Debug, Default)]
pub struct WebdavCredentials {
    /// `CAIRN_WEBDAV_USERNAME`.
    pub username: Option<String>,
    /// `CAIRN_WEBDAV_PASSWORD`.
    pub password: Option<Secret>,
}

/// Google Drive credentials: an access token, or a refresh token with its OAuth client.
#[derive(Clone, Debug, Default)]
pub struct GdriveCredentials {
    /// `CAIRN_GDRIVE_ACCESS_TOKEN`: used as is, until it expires.
    pub access_token: Option<Secret>,
    /// `CAIRN_GDRIVE_REFRESH_TOKEN`: exchanged for access tokens as needed.
    pub refresh_token: Option<Secret>,
    /// `CAIRN_GDRIVE_CLIENT_ID`, the OAuth client the refresh token was issued to.
    pub client_id: Option<String>,
    /// `CAIRN_GDRIVE_CLIENT_SECRET`.
    pub client_secret: Option<Secret>,
    /// `CAIRN_GDRIVE_ENDPOINT`: send Drive's requests to this `http://host:port` instead of
    /// Google's hosts. For tests against a fake Drive; never needed with the real one.
    pub endpoint: Option<String>,
}

/// How to open a storage.
#[derive(Clone, Default)]
pub struct StorageOptions {
    /// S3 credentials and addressing.
    pub s3: S3Credentials,
    /// WebDAV credentials.
    pub webdav: WebdavCredentials,
    /// Google Drive credentials.
    pub gdrive: GdriveCredentials,
    /// Uploads (and downloads) at once; the backend's default when `None`.
    pub connections: Option<usize>,
    /// Upload limit in bytes per second.
    pub limit_upload: Option<u64>,
    /// Download limit in bytes per second.
    pub limit_download: Option<u64>,
    /// How transient failures of remote backends are retried.
    pub retry: RetryPolicy,
    /// Told about every retry, for progress displays ("waiting 30 s to retry …").
    pub on_retry: Option<RetryObserver>,
    /// Test-only fault injection below the retries (`CAIRN_TEST_FAULTS`).
    pub faults: Option<FaultPlan>,
    /// Where packs are assembled for remote backends; a cache directory when `None`.
    pub spool_dir: Option<std::path::PathBuf>,
    /// How long listings may lag behind writes ([`Storage::listing_lag`](super::Storage::listing_lag));
    /// the backend's own figure when `None` (30 s for Google Drive, else none).
    /// `CAIRN_LISTING_LAG` (seconds).
    pub listing_lag: Option<std::time::Duration>,
}

impl std::fmt::Debug for StorageOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageOptions")
            .field("s3", &self.s3)
            .field("webdav", &self.webdav)
            .field("gdrive", &self.gdrive)
            .field("connections", &self.connections)
            .field("limit_upload", &self.limit_upload)
            .field("limit_download", &self.limit_download)
            .field("retry", &self.retry)
            .field("faults", &self.faults)
            .field("listing_lag", &self.listing_lag)
            .finish_non_exhaustive()
    }
}

impl StorageOptions {
    /// Options from the documented environment variables (README: Storage backends).
    /// Unset variables stay `None`; a malformed one is an error naming it.
    pub fn from_env() -> Result<StorageOptions, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let secret = |name: &str| var(name).map(Secret::new);
        let path_style = match var("CAIRN_S3_PATH_STYLE").as_deref() {
            None => None,
            Some("true" | "1") => Some(true),
            Some("false" | "0") => Some(false),
            Some(other) => return Err(format!("CAIRN_S3_PATH_STYLE={other}: use true or false")),
        };
        let faults = match var("CAIRN_TEST_FAULTS") {
            Some(spec) => Some(FaultPlan::parse(&spec).map_err(|e| format!("CAIRN_TEST_FAULTS: {e}"))?),
            None => None,
        };
        let listing_lag = match var("CAIRN_LISTING_LAG") {
            Some(text) => Some(
                text.parse::<f64>()
                    .ok()
                    .and_then(|secs| std::time::Duration::try_from_secs_f64(secs).ok())
                    .ok_or_else(|| format!("CAIRN_LISTING_LAG={text}: use a number of seconds"))?,
            ),
            None => None,
        };
        Ok(StorageOptions {
            s3: S3Credentials {
                access_key_id: secret("AWS_ACCESS_KEY_ID"),
                secret_access_key: secret("AWS_SECRET_ACCESS_KEY"),
                session_token: secret("AWS_SESSION_TOKEN"),
                region: var("AWS_DEFAULT_REGION").or_else(|| var("AWS_REGION")),
                path_style,
            },
            webdav: WebdavCredentials {
                username: var("CAIRN_WEBDAV_USERNAME"),
                password: secret("CAIRN_WEBDAV_PASSWORD"),
            },
            gdrive: GdriveCredentials {
                access_token: secret("CAIRN_GDRIVE_ACCESS_TOKEN"),
                refresh_token: secret("CAIRN_GDRIVE_REFRESH_TOKEN"),
                client_id: var("CAIRN_GDRIVE_CLIENT_ID"),
                client_secret: secret("CAIRN_GDRIVE_CLIENT_SECRET"),
                endpoint: var("CAIRN_GDRIVE_ENDPOINT"),
            },
            faults,
            listing_lag,
            ..StorageOptions::default()
        })
    }
}
