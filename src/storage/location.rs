//! Repository locations as users write them (README: Storage backends):
//!
//! * `/path/to/repo`, `local:/path/to/repo` — a local directory (also a synced folder such as
//!   iCloud Drive's);
//! * `s3:http(s)://HOST[:PORT]/BUCKET[/PREFIX]` — an S3 bucket, optionally under a prefix;
//! * `webdav:http(s)://HOST[:PORT][/PATH]` — a WebDAV collection;
//! * `gdrive:/FOLDER` — a folder of the Google Drive the credentials belong to.
//!
//! Credentials never come from a location: a location is printed in messages and logs.

use super::{StorageError, StorageErrorKind};

/// A parsed repository location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A local directory.
    Local(std::path::PathBuf),
    /// An S3 bucket.
    S3 {
        /// `http(s)://host[:port]`.
        endpoint: String,
        /// The bucket's name.
        bucket: String,
        /// The repository's prefix in the bucket, without slashes at either end; may be empty.
        prefix: String,
    },
    /// A WebDAV collection.
    Webdav {
        /// `http(s)://host[:port]`.
        endpoint: String,
        /// The collection's path, without slashes at either end; may be empty.
        path: String,
    },
    /// A Google Drive folder.
    Gdrive {
        /// The folder's path from the Drive's root, without slashes at either end.
        folder: String,
    },
}

impl Location {
    /// Parses a location, or says in one line what is wrong with it.
    pub fn parse(text: &str) -> Result<Location, StorageError> {
        let bad = |why: &str| {
            let shown = redact(text);
            StorageError::new(
                StorageErrorKind::Other,
                "open",
                &shown,
                "",
                format!("invalid repository location: {why}"),
            )
        };
        if let Some(rest) = text.strip_prefix("s3:") {
            let (endpoint, path) = split_url(rest).map_err(|why| bad(&why))?;
            let (bucket, prefix) = path.split_once('/').unwrap_or((path.as_str(), ""));
            if !(3..=63).contains(&bucket.len()) {
                return Err(bad("s3 needs a bucket of 3 to 63 characters: s3:https://HOST/BUCKET[/PREFIX]"));
            }
            return Ok(Location::S3 {
                endpoint,
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if let Some(rest) = text.strip_prefix("webdav:") {
            let (endpoint, path) = split_url(rest).map_err(|why| bad(&why))?;
            return Ok(Location::Webdav { endpoint, path });
        }
        if let Some(rest) = text.strip_prefix("gdrive:") {
            let folder = rest.trim_matches('/');
            if folder.is_empty() {
                return Err(bad("gdrive needs a folder: gdrive:/Backups/app"));
            }
            return Ok(Location::Gdrive { folder: folder.to_string() });
        }
        let path = text.strip_prefix("local:").unwrap_or(text);
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(bad(&format!(
                "unknown scheme {scheme}://; use s3:{scheme}://…, webdav:{scheme}://… or a local path"
            )));
        }
        Ok(Location::Local(path.into()))
    }

    /// Whether the location is reached over a network (and so needs retries).
    #[must_use]
    pub fn is_remote(&self) -> bool {
        !matches!(self, Location::Local(_))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { endpoint, bucket, prefix } if prefix.is_empty() => {
                write!(f, "s3:{endpoint}/{bucket}")
            }
            Location::S3 { endpoint, bucket, prefix } => write!(f, "s3:{endpoint}/{bucket}/{prefix}"),
            Location::Webdav { endpoint, path } if path.is_empty() => write!(f, "webdav:{endpoint}"),
            Location::Webdav { endpoint, path } => write!(f, "webdav:{endpoint}/{path}"),
            Location::Gdrive { folder } => write!(f, "gdrive:/{folder}"),
        }
    }
}

/// `text` with any user information of a URL (`user:password@`) replaced by `***@`.
fn redact(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else { return text.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

/// Splits `http(s)://host[:port]/path` into the endpoint and the path (no slashes at its
/// ends). Refuses user information: passwords in URLs end up in shell history and logs.
fn split_url(url: &str) -> Result<(String, String), String> {
    let (scheme, rest) =
        url.split_once("://").ok_or_else(|| format!("{url} is not an http:// or https:// URL"))?;
    if scheme != "http" && scheme != "https" {
        return Err(format!("{scheme}:// is not supported; use http:// or https://"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return Err(
            "credentials do not belong in the URL; set them in the environment or the config file".into()
        );
    }
    if authority.is_empty() {
        return Err(format!("{url} has no host"));
    }
    Ok((format!("{scheme}://{authority}"), path.trim_matches('/').to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        assert_eq!(Location::parse("/srv/repo").unwrap(), Location::Local("/srv/repo".into()));
        assert_eq!(Location::parse("local:rel/repo").unwrap(), Location::Local("rel/repo".into()));
        assert_eq!(
            Location::parse("s3:http://127.0.0.1:9000/bucket/a/b/").unwrap(),
            Location::S3 {
                endpoint: "http://127.0.0.1:9000".into(),
                bucket: "bucket".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            Location::parse("s3:https://s3.amazonaws.com/bucket").unwrap(),
            Location::S3 {
                endpoint: "https://s3.amazonaws.com".into(),
                bucket: "bucket".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Location::parse("webdav:https://dav.example/remote.php/dav").unwrap(),
            Location::Webdav { endpoint: "https://dav.example".into(), path: "remote.php/dav".into() }
        );
        assert_eq!(
            Location::parse("gdrive:/Backups/app/").unwrap(),
            Location::Gdrive { folder: "Backups/app".into() }
        );
    }

    #[test]
    fn display_round_trips() {
        for text in
            ["s3:http://h:1/bucket/p", "s3:https://h/bucket", "webdav:http://h:2/x/y", "gdrive:/a/b", "/r"]
        {
            assert_eq!(Location::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn refuses_credentials_and_unknown_schemes() {
        for text in [
            "webdav:https://user:pw@dav.example/x",
            "s3:ftp://h/bucket",
            "s3:http://h/b",
            "gdrive:/",
            "sftp://host/x",
            "",
            "webdav:nourl",
        ] {
            let error = Location::parse(text).unwrap_err();
            assert!(error.message.starts_with("invalid repository location"), "{text}: {error}");
            assert!(!error.to_string().contains("pw@"), "{error}");
        }
    }
}
