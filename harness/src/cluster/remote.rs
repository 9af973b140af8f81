//! Third-party manifests (an ingress controller, say) fetched by URL, checked against the
//! SHA-256 the scenario pins, and cached under `$XDG_CACHE_HOME/netpol-harness` so that a run
//! needs the network once per manifest version.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest, Sha256};

/// Why a remote manifest could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RemoteError {
    /// The download failed.
    #[error("fetching {url}: {message}")]
    Fetch {
        /// The URL.
        url: String,
        /// What failed.
        message: String,
    },
    /// The content is not what the scenario pinned.
    #[error(
        "{url}: SHA-256 mismatch: the scenario pins {expected}, the server sent {actual}; refusing it (update the pin only after reviewing the new manifest)"
    )]
    Mismatch {
        /// The URL.
        url: String,
        /// The pinned digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },
    /// The scenario's pin is not a SHA-256.
    #[error("{url}: `{sha256}` is not a hex SHA-256 (64 hex digits)")]
    BadPin {
        /// The URL.
        url: String,
        /// The pin.
        sha256: String,
    },
    /// The cache could not be used.
    #[error("manifest cache {}: {message}", path.display())]
    Cache {
        /// The path.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The content is not UTF-8.
    #[error("{url}: the manifest is not UTF-8 text")]
    NotText {
        /// The URL.
        url: String,
    },
}

/// Downloads a URL's content.
pub trait Fetcher: Send + Sync {
    /// The body of a successful GET of `url`.
    fn fetch(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, String>> + Send;
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A directory of manifests named by their SHA-256.
#[derive(Debug, Clone)]
pub struct ManifestCache {
    dir: PathBuf,
}

impl ManifestCache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> ManifestCache {
        ManifestCache { dir: dir.into() }
    }

    /// `$XDG_CACHE_HOME/netpol-harness`, else `$HOME/.cache/netpol-harness`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(base.join("netpol-harness"))
    }

    /// The manifest at `url`, which must hash to `sha256`: from the cache when a file there
    /// still hashes right, else fetched, checked and then cached.
    pub async fn get(
        &self,
        url: &str,
        sha256: &str,
        fetcher: &impl Fetcher,
    ) -> Result<String, RemoteError> {
        let pin = sha256.to_ascii_lowercase();
        if pin.len() != 64 || !pin.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(RemoteError::BadPin {
                url: url.to_string(),
                sha256: sha256.to_string(),
            });
        }
        let path = self.dir.join(format!("{pin}.yaml"));
        if let Ok(bytes) = tokio::fs::read(&path).await {
            if sha256_hex(&bytes) == pin {
                return text(url, bytes);
            }
            tracing::warn!(path = %path.display(), "cached manifest is corrupt; fetching it again");
        }
        let bytes = fetcher
            .fetch(url)
            .await
            .map_err(|message| RemoteError::Fetch {
                url: url.to_string(),
                message,
            })?;
        let actual = sha256_hex(&bytes);
        if actual != pin {
            return Err(RemoteError::Mismatch {
                url: url.to_string(),
                expected: pin,
                actual,
            });
        }
        self.store(&path, &bytes).await?;
        text(url, bytes)
    }

    /// Writes atomically (a temporary file renamed into place) so that a crash never leaves a
    /// half-written manifest under a valid name.
    async fn store(&self, path: &Path, bytes: &[u8]) -> Result<(), RemoteError> {
        let cache_error = |e: std::io::Error| RemoteError::Cache {
            path: self.dir.clone(),
            message: e.to_string(),
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(cache_error)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        tokio::fs::write(&tmp, bytes).await.map_err(cache_error)?;
        tokio::fs::rename(&tmp, path).await.map_err(cache_error)
    }
}

fn text(url: &str, bytes: Vec<u8>) -> Result<String, RemoteError> {
    String::from_utf8(bytes).map_err(|_| RemoteError::NotText {
        url: url.to_string(),
    })
}

/// Fetches over HTTPS (or HTTP) with the system's root certificates, following redirects.
pub struct HttpsFetcher {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

/// How many redirects a fetch follows.
const MAX_REDIRECTS: usize = 5;

impl HttpsFetcher {
    /// A fetcher whose requests each give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpsFetcher, RemoteError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| RemoteError::Fetch {
                url: String::new(),
                message: format!("loading the system's root certificates: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(HttpsFetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }
}

impl Fetcher for HttpsFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut current = url.to_string();
        for _ in 0..=MAX_REDIRECTS {
            let uri: http::Uri = current.parse().map_err(|e| format!("bad URL: {e}"))?;
            let response = tokio::time::timeout(self.timeout, self.client.get(uri.clone()))
                .await
                .map_err(|_| format!("no answer within {}s", self.timeout.as_secs()))?
                .map_err(|e| e.to_string())?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| format!("{status} without a Location header"))?;
                current = resolve_location(&uri, location);
                continue;
            }
            if !status.is_success() {
                return Err(format!("HTTP {status}"));
            }
            let body = tokio::time::timeout(self.timeout, response.into_body().collect())
                .await
                .map_err(|_| format!("body not received within {}s", self.timeout.as_secs()))?
                .map_err(|e| e.to_string())?;
            return Ok(body.to_bytes().to_vec());
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }
}

/// A redirect's target: absolute, or relative to the request's scheme and authority.
fn resolve_location(base: &http::Uri, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    format!(
        "{}://{}{}",
        base.scheme_str().unwrap_or("https"),
        base.authority().map(|a| a.as_str()).unwrap_or(""),
        location
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Serves fixed content and counts fetches.
    struct FakeFetcher {
        body: Vec<u8>,
        calls: Mutex<usize>,
    }

    impl Fetcher for FakeFetcher {
        async fn fetch(&self, _url: &str) -> Result<Vec<u8>, String> {
            *self.calls.lock().unwrap() += 1;
            Ok(self.body.clone())
        }
    }

    const BODY: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: projectcontour}\n";

    #[tokio::test]
    async fn fetches_once_then_serves_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ManifestCache::new(dir.path().join("c"));
        let fetcher = FakeFetcher {
            body: BODY.into(),
            calls: Mutex::new(0),
        };
        let pin = sha256_hex(BODY.as_bytes());
        assert_eq!(
            cache.get("https://e/x.yaml", &pin, &fetcher).await.unwrap(),
            BODY
        );
        assert_eq!(
            cache
                .get("https://e/x.yaml", &pin.to_uppercase(), &fetcher)
                .await
                .unwrap(),
            BODY
        );
        assert_eq!(*fetcher.calls.lock().unwrap(), 1);
        assert!(dir.path().join("c").join(format!("{pin}.yaml")).exists());
    }

    #[tokio::test]
    async fn refuses_content_that_does_not_match_the_pin_and_caches_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ManifestCache::new(dir.path());
        let fetcher = FakeFetcher {
            body: b"tampered".to_vec(),
            calls: Mutex::new(0),
        };
        let pin = sha256_hex(BODY.as_bytes());
        let err = cache
            .get("https://e/x.yaml", &pin, &fetcher)
            .await
            .unwrap_err();
        assert!(matches!(&err, RemoteError::Mismatch { expected, .. } if *expected == pin));
        assert!(err.to_string().contains("SHA-256 mismatch"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_corrupt_cache_file_is_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let pin = sha256_hex(BODY.as_bytes());
        std::fs::write(dir.path().join(format!("{pin}.yaml")), "garbage").unwrap();
        let cache = ManifestCache::new(dir.path());
        let fetcher = FakeFetcher {
            body: BODY.into(),
            calls: Mutex::new(0),
        };
        assert_eq!(cache.get("u", &pin, &fetcher).await.unwrap(), BODY);
        assert_eq!(*fetcher.calls.lock().unwrap(), 1);
        assert_eq!(
            std::fs::read_to_string(dir.path().join(format!("{pin}.yaml"))).unwrap(),
            BODY
        );
    }

    #[tokio::test]
    async fn bad_pins_are_refused_before_fetching() {
        let cache = ManifestCache::new("/nonexistent");
        let fetcher = FakeFetcher {
            body: vec![],
            calls: Mutex::new(0),
        };
        assert!(matches!(
            cache.get("u", "abc", &fetcher).await,
            Err(RemoteError::BadPin { .. })
        ));
        assert_eq!(*fetcher.calls.lock().unwrap(), 0);
    }

    #[test]
    fn redirects_resolve_relative_locations() {
        let base: http::Uri = "https://github.com/a/b".parse().unwrap();
        assert_eq!(resolve_location(&base, "/c"), "https://github.com/c");
        assert_eq!(
            resolve_location(&base, "https://objects.example/x"),
            "https://objects.example/x"
        );
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
