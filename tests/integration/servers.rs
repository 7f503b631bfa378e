//! Repositories on the real S3 (moto) and WebDAV (rclone) servers that `.ci/servers.sh`
//! starts on loopback. Each call gets a fresh prefix, so tests share the servers safely.
//!
//! Without the `CAIRN_TEST_*` variables the tests skip, saying so, so that a bare
//! `cargo test` passes on a machine without the servers; under CI (`CI=true`) a missing
//! variable fails the test instead, so a broken server start cannot hide behind skips.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cairn::storage::{RetryPolicy, Secret, StorageOptions};

/// A network backend the tests can run against.
#[derive(Clone, Copy, Debug)]
pub enum Server {
    S3,
    Webdav,
}

/// A fresh, empty repository location on a server, with what it takes to reach it.
pub struct RemoteLocation {
    /// `s3:http://…/cairn-test/t-…` or `webdav:http://…/t-…`.
    pub location: String,
    /// Credentials for the library.
    pub options: StorageOptions,
    /// The same credentials as the environment variables the `cairn` binary reads.
    pub env: Vec<(&'static str, String)>,
}

/// Retries quick enough for tests, patient enough for a loaded machine.
pub fn test_retry_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        first_delay: Duration::from_millis(20),
        max_delay: Duration::from_secs(2),
        budget: Duration::from_mins(1),
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// A unique prefix per call: process, counter and time.
fn unique_prefix() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("t-{}-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed), nanos % 1_000_000_000)
}

/// A new location on `server`, or `None` (after saying why on stderr) when the server is
/// not configured and this is not CI.
pub fn remote(server: Server) -> Option<RemoteLocation> {
    let names: &[&str] = match server {
        Server::S3 => &[
            "CAIRN_TEST_S3_ENDPOINT",
            "CAIRN_TEST_S3_BUCKET",
            "CAIRN_TEST_S3_REGION",
            "CAIRN_TEST_S3_ACCESS_KEY_ID",
            "CAIRN_TEST_S3_SECRET_ACCESS_KEY",
        ],
        Server::Webdav => {
            &["CAIRN_TEST_WEBDAV_ENDPOINT", "CAIRN_TEST_WEBDAV_USERNAME", "CAIRN_TEST_WEBDAV_PASSWORD"]
        }
    };
    let values: Option<Vec<String>> = names.iter().map(|n| var(n)).collect();
    let Some(values) = values else {
        assert!(
            var("CI").as_deref() != Some("true"),
            "{server:?} test server not configured under CI: .ci/servers.sh must export {names:?}"
        );
        eprintln!("skipping: {server:?} server not configured (source .ci/servers.sh to run this test)");
        return None;
    };
    let prefix = unique_prefix();
    let mut options = StorageOptions { retry: test_retry_policy(), ..StorageOptions::default() };
    Some(match server {
        Server::S3 => {
            let [endpoint, bucket, region, key, secret] = <[String; 5]>::try_from(values).unwrap();
            options.s3.access_key_id = Some(Secret::new(key.clone()));
            options.s3.secret_access_key = Some(Secret::new(secret.clone()));
            options.s3.region = Some(region.clone());
            RemoteLocation {
                location: format!("s3:{endpoint}/{bucket}/{prefix}"),
                options,
                env: vec![
                    ("AWS_ACCESS_KEY_ID", key),
                    ("AWS_SECRET_ACCESS_KEY", secret),
                    ("AWS_DEFAULT_REGION", region),
                ],
            }
        }
        Server::Webdav => {
            let [endpoint, user, password] = <[String; 3]>::try_from(values).unwrap();
            options.webdav.username = Some(user.clone());
            options.webdav.password = Some(Secret::new(password.clone()));
            RemoteLocation {
                location: format!("webdav:{endpoint}/{prefix}"),
                options,
                env: vec![("CAIRN_WEBDAV_USERNAME", user), ("CAIRN_WEBDAV_PASSWORD", password)],
            }
        }
    })
}
