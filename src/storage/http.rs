//! The HTTP transport under OpenDAL's network services (S3, WebDAV, Google Drive).
//!
//! OpenDAL classifies HTTP failures per service, and not the way a backup needs: its gdrive
//! service treats 429 and Drive's 403 `rateLimitExceeded` as permanent, and its WebDAV service
//! reports 401 as "unexpected". This transport classifies every response the same way for all
//! services before the service sees it, so [`super::opendal`] can map failures to
//! [`StorageErrorKind`] and the retry layer retries exactly the transient ones:
//!
//! | response | kind |
//! |---|---|
//! | 408, 423, 425, 429, 500, 502, 503, 504 (S3 `SlowDown` is a 503) | transient (`Retry-After` kept) |
//! | 403 whose body names `rateLimitExceeded`, `userRateLimitExceeded` or `SlowDown` | transient |
//! | 403 whose body names `storageQuotaExceeded` or `quotaExceeded`; 507 | storage full |
//! | 401, any other 403 | unauthorized |
//!
//! It also sets timeouts (reqwest has none by default: a dropped phone connection would hang
//! forever) and, for tests, redirects Google's hosts to a fake Drive.

use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use opendal::{Buffer, HttpBody, HttpTransport, HttpTransporter};

use super::StorageErrorKind;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a connection may stay silent while a request or response is under way.
const READ_TIMEOUT: Duration = Duration::from_mins(2);
/// How much of an error body is read to classify it.
const ERROR_BODY_LIMIT: usize = 64 * 1024;
/// Hosts the gdrive service hard-codes, redirected by [`Transport::redirect`].
const GOOGLE_HOSTS: [&str; 2] = ["https://www.googleapis.com", "https://oauth2.googleapis.com"];

/// A classified HTTP failure, carried as the source of the OpenDAL error.
#[derive(Debug, thiserror::Error)]
#[error("HTTP {status}{reason}")]
pub(super) struct HttpFailure {
    pub(super) status: u16,
    pub(super) kind: StorageErrorKind,
    pub(super) retry_after: Option<Duration>,
    /// The service's error code, when the body named one (`: rateLimitExceeded`).
    reason: String,
}

/// The transport for one operator.
struct Transport {
    inner: opendal_http_transport_reqwest::ReqwestTransport,
    /// `http://host:port` that replaces Google's hosts (a fake Drive in tests).
    redirect: Option<String>,
}

/// A transporter for a new operator; `redirect` sends Google's hosts elsewhere.
pub(super) fn transporter(redirect: Option<String>) -> Result<HttpTransporter, String> {
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot set up HTTPS: {e}"))?;
    Ok(HttpTransporter::new(Transport {
        inner: opendal_http_transport_reqwest::ReqwestTransport::new(client),
        redirect,
    }))
}

/// rustls needs a process-wide crypto provider; cairn uses ring (deps: no aws-lc build).
fn install_crypto_provider() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        // An app embedding cairn may have installed its own provider already: keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl HttpTransport for Transport {
    async fn fetch(&self, mut req: http::Request<Buffer>) -> opendal::Result<http::Response<HttpBody>> {
        if let Some(base) = &self.redirect {
            let uri = req.uri().to_string();
            if let Some(rest) = GOOGLE_HOSTS.iter().find_map(|host| uri.strip_prefix(host)) {
                *req.uri_mut() = format!("{base}{rest}").parse().map_err(|e| {
                    opendal::Error::new(opendal::ErrorKind::ConfigInvalid, "bad CAIRN_GDRIVE_ENDPOINT")
                        .set_source(e)
                })?;
            }
        }
        let response = self.inner.fetch(req).await?;
        classify(response).await
    }
}

/// Passes a response on, or turns it into a classified error.
async fn classify(response: http::Response<HttpBody>) -> opendal::Result<http::Response<HttpBody>> {
    let status = response.status().as_u16();
    let transient_status = matches!(status, 408 | 423 | 425 | 429 | 500 | 502 | 503 | 504);
    if !(transient_status || matches!(status, 401 | 403 | 507)) {
        return Ok(response);
    }
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = read_error_body(response.into_body()).await;
    let code = error_code(&body);
    let kind = match (status, code) {
        (_, Some("rateLimitExceeded" | "userRateLimitExceeded" | "SlowDown")) => StorageErrorKind::Transient,
        (_, Some("storageQuotaExceeded" | "quotaExceeded")) | (507, _) => StorageErrorKind::StorageFull,
        (401 | 403, _) => StorageErrorKind::Unauthorized,
        _ => StorageErrorKind::Transient,
    };
    let failure =
        HttpFailure { status, kind, retry_after, reason: code.map(|c| format!(": {c}")).unwrap_or_default() };
    let dal_kind = match kind {
        StorageErrorKind::Transient => opendal::ErrorKind::RateLimited,
        StorageErrorKind::Unauthorized => opendal::ErrorKind::PermissionDenied,
        _ => opendal::ErrorKind::Unexpected,
    };
    let error = opendal::Error::new(dal_kind, failure.to_string());
    let error = if kind == StorageErrorKind::Transient { error.set_temporary() } else { error };
    Err(error.set_source(failure))
}

/// Up to [`ERROR_BODY_LIMIT`] bytes of an error response: enough for any service's error
/// document, and no more, whatever the server sends.
async fn read_error_body(body: HttpBody) -> Vec<u8> {
    let mut stream = None;
    let _ = body.map_inner(|inner| {
        stream = Some(inner);
        Box::new(futures::stream::empty())
    });
    let mut out = Vec::new();
    let Some(mut stream) = stream else { return out };
    while out.len() < ERROR_BODY_LIMIT {
        match stream.next().await {
            Some(Ok(buffer)) => out.extend(buffer.to_bytes().iter().take(ERROR_BODY_LIMIT - out.len())),
            _ => break,
        }
    }
    out
}

/// The error code an error body names, among those the classification knows.
fn error_code(body: &[u8]) -> Option<&'static str> {
    const CODES: [&str; 5] =
        ["userRateLimitExceeded", "rateLimitExceeded", "storageQuotaExceeded", "quotaExceeded", "SlowDown"];
    let text = String::from_utf8_lossy(body);
    CODES.into_iter().find(|code| text.contains(code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> http::Response<HttpBody> {
        let bytes = Buffer::from(body.as_bytes().to_vec());
        let len = bytes.len() as u64;
        let mut builder = http::Response::builder().status(status);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(HttpBody::new(futures::stream::iter(vec![Ok(bytes)]), Some(len))).unwrap()
    }

    fn failure(
        status: u16,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (StorageErrorKind, Option<Duration>, bool) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let Err(error) = runtime.block_on(classify(response(status, headers, body))) else {
            panic!("HTTP {status} passed as a success")
        };
        let source = std::error::Error::source(&error).and_then(|s| s.downcast_ref::<HttpFailure>()).unwrap();
        (source.kind, source.retry_after, error.is_temporary())
    }

    #[test]
    fn success_and_not_found_pass_through() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        for status in [200, 206, 404, 412] {
            assert!(runtime.block_on(classify(response(status, &[], "x"))).is_ok(), "{status}");
        }
    }

    #[test]
    fn drive_rate_limits_are_transient_and_auth_is_not() {
        let rate = r#"{"error":{"errors":[{"reason":"rateLimitExceeded"}],"code":403,"message":"Rate Limit Exceeded"}}"#;
        assert_eq!(failure(403, &[], rate), (StorageErrorKind::Transient, None, true));
        let user = r#"{"error":{"errors":[{"reason":"userRateLimitExceeded"}]}}"#;
        assert_eq!(failure(403, &[], user).0, StorageErrorKind::Transient);
        assert_eq!(failure(429, &[("Retry-After", "7")], "").1, Some(Duration::from_secs(7)));
        assert_eq!(failure(503, &[], "<Code>SlowDown</Code>").0, StorageErrorKind::Transient);
        assert_eq!(failure(423, &[], "").0, StorageErrorKind::Transient);
        assert_eq!(failure(401, &[], "").0, StorageErrorKind::Unauthorized);
        assert_eq!(
            failure(403, &[], "<Code>InvalidAccessKeyId</Code>"),
            (StorageErrorKind::Unauthorized, None, false)
        );
        let quota = r#"{"error":{"errors":[{"reason":"storageQuotaExceeded"}]}}"#;
        assert_eq!(failure(403, &[], quota).0, StorageErrorKind::StorageFull);
        assert_eq!(failure(507, &[], "").0, StorageErrorKind::StorageFull);
    }
}
