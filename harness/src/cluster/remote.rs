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
    #[error("fetching {url}: {source}")]
    Fetch {
        /// The URL.
        url: String,
        /// What failed.
        #[source]
        source: FetchError,
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
    /// The system's root certificates could not be loaded (no HTTPS without them).
    #[error("loading the system's root certificates: {message}")]
    RootCertificates {
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

/// Why a download failed (the URL is the caller's to add).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL does not parse.
    #[error("bad URL: {0}")]
    BadUrl(String),
    /// The URL is not `https://`.
    #[error("remote manifests are fetched over https:// only")]
    NotHttps,
    /// No answer in time.
    #[error("no answer within {0}s")]
    NoAnswer(u64),
    /// The connection or the request failed (the HTTP client's words).
    #[error("{0}")]
    Transport(String),
    /// A redirect without a `Location` header (the status).
    #[error("{0} without a Location header")]
    NoLocation(String),
    /// A redirect whose target does not parse.
    #[error("redirect to `{target}`: bad URL: {message}")]
    RedirectBadUrl {
        /// The target, escaped for a terminal.
        target: String,
        /// The parser's words.
        message: String,
    },
    /// A redirect `redirect_target` refuses: off `https://`, or to another host or port.
    #[error("redirect to `{target}` refused: {why}")]
    RedirectRefused {
        /// The target, escaped for a terminal.
        target: String,
        /// Why it is refused.
        why: String,
    },
    /// Too many redirects.
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
    /// A status other than success or redirect.
    #[error("HTTP {0}")]
    Status(String),
    /// The body is over the limit (in bytes).
    #[error("larger than the {0}-byte limit for a remote manifest")]
    TooLarge(u64),
    /// The body did not arrive in time.
    #[error("body not received within {0}s")]
    BodyTimeout(u64),
    /// Reading the body failed.
    #[error("{0}")]
    Body(String),
}

/// The most a remote manifest may weigh: the limit of every manifest file
/// ([`crate::input::MANIFEST`]).
pub const MAX_REMOTE_BYTES: u64 = crate::input::MANIFEST.max_bytes;

/// Downloads a URL's content.
pub trait Fetcher: Send + Sync {
    /// The body of a successful GET of `url`.
    fn fetch(&self, url: &str) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send;

    /// The body of `url` if it is at most `limit` bytes, with its SHA-256 (lower-case hex).
    /// The default fetches the whole body, then checks; [`HttpsFetcher`] stops reading at the
    /// limit and hashes while it streams.
    fn fetch_hashed(
        &self,
        url: &str,
        limit: u64,
    ) -> impl Future<Output = Result<(Vec<u8>, String), FetchError>> + Send {
        async move {
            let bytes = self.fetch(url).await?;
            if bytes.len() as u64 > limit {
                return Err(FetchError::TooLarge(limit));
            }
            let digest = sha256_hex(&bytes);
            Ok((bytes, digest))
        }
    }
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
        // A cached file is read only if it is a regular file within the size limit.
        let cached = tokio::fs::metadata(&path)
            .await
            .is_ok_and(|m| m.is_file() && m.len() <= MAX_REMOTE_BYTES);
        if cached && let Ok(bytes) = tokio::fs::read(&path).await {
            if sha256_hex(&bytes) == pin {
                return text(url, bytes);
            }
            tracing::warn!(path = %path.display(), "cached manifest is corrupt; fetching it again");
        }
        let (bytes, actual) =
            fetcher
                .fetch_hashed(url, MAX_REMOTE_BYTES)
                .await
                .map_err(|source| RemoteError::Fetch {
                    url: url.to_string(),
                    source,
                })?;
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

/// Fetches over HTTPS only, with the system's root certificates, following redirects only to
/// `https://` on the same host and port (never a downgrade to plain HTTP, never another host),
/// reading at most the size limit and hashing the body as it streams in.
pub struct HttpsFetcher {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

/// How many redirects a fetch follows.
const MAX_REDIRECTS: usize = 5;

impl HttpsFetcher {
    /// A fetcher whose requests each give up after `timeout`.
    pub fn new(timeout: Duration) -> Result<HttpsFetcher, RemoteError> {
        let builder = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| RemoteError::RootCertificates {
                message: e.to_string(),
            })?;
        Ok(HttpsFetcher::from_builder(builder, timeout))
    }

    fn from_builder(
        builder: hyper_rustls::HttpsConnectorBuilder<hyper_rustls::builderstates::WantsSchemes>,
        timeout: Duration,
    ) -> HttpsFetcher {
        let connector = builder.https_only().enable_http1().build();
        HttpsFetcher {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// GETs `url`, following redirects as [`redirect_target`] allows, and streams the body
    /// within `limit`.
    async fn get(&self, url: &str, limit: u64) -> Result<(Vec<u8>, String), FetchError> {
        let mut uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| FetchError::BadUrl(e.to_string()))?;
        if uri.scheme_str() != Some("https") {
            return Err(FetchError::NotHttps);
        }
        for _ in 0..=MAX_REDIRECTS {
            let response = tokio::time::timeout(self.timeout, self.client.get(uri.clone()))
                .await
                .map_err(|_| FetchError::NoAnswer(self.timeout.as_secs()))?
                .map_err(|e| FetchError::Transport(e.to_string()))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(http::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or_else(|| FetchError::NoLocation(status.to_string()))?;
                uri = redirect_target(&uri, location)?;
                continue;
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.to_string()));
            }
            let declared = response
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
            if declared.is_some_and(|n| n > limit) {
                return Err(FetchError::TooLarge(limit));
            }
            return tokio::time::timeout(self.timeout, read_body(response.into_body(), limit))
                .await
                .map_err(|_| FetchError::BodyTimeout(self.timeout.as_secs()))?;
        }
        Err(FetchError::TooManyRedirects)
    }
}

/// Reads `body` up to `limit` bytes, hashing each chunk as it arrives; refuses it as soon as it
/// goes over.
async fn read_body<B>(mut body: B, limit: u64) -> Result<(Vec<u8>, String), FetchError>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FetchError::Body(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if (bytes.len() + data.len()) as u64 > limit {
                return Err(FetchError::TooLarge(limit));
            }
            hasher.update(&data);
            bytes.extend_from_slice(&data);
        }
    }
    let digest = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((bytes, digest))
}

impl Fetcher for HttpsFetcher {
    async fn fetch(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.get(url, MAX_REMOTE_BYTES)
            .await
            .map(|(bytes, _)| bytes)
    }

    async fn fetch_hashed(&self, url: &str, limit: u64) -> Result<(Vec<u8>, String), FetchError> {
        self.get(url, limit).await
    }
}

/// Where a redirect from `base` to `location` may go: `https://` on the same host and port
/// only. The pin protects the content, but a redirect to plain HTTP would leak the request and
/// a redirect to another host would let that host see (and time) it.
fn redirect_target(base: &http::Uri, location: &str) -> Result<http::Uri, FetchError> {
    let target = || crate::escape::terminal(location).into_owned();
    let refused = |why: String| FetchError::RedirectRefused {
        target: target(),
        why,
    };
    let next: http::Uri =
        resolve_location(base, location)
            .parse()
            .map_err(|e: http::uri::InvalidUri| FetchError::RedirectBadUrl {
                target: target(),
                message: e.to_string(),
            })?;
    if next.scheme_str() != Some("https") {
        return Err(refused(
            "remote manifests are fetched over https:// only".to_string(),
        ));
    }
    let same = |u: &http::Uri| {
        u.authority()
            .map(|a| (a.host().to_ascii_lowercase(), a.port_u16().unwrap_or(443)))
    };
    if same(&next) != same(base) {
        return Err(refused(format!(
            "it leaves {} (pin a URL on the final host)",
            base.authority().map_or("", |a| a.as_str())
        )));
    }
    Ok(next)
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
        async fn fetch(&self, _url: &str) -> Result<Vec<u8>, FetchError> {
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

    /// A TLS server on loopback (a self-signed certificate for 127.0.0.1, made for these tests
    /// only) answering every connection with `respond(path)`; counts connections.
    struct LoopbackServer {
        port: u16,
        connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    }

    const CERT: &str = include_str!("remote/loopback-cert.pem");
    const KEY: &str = include_str!("remote/loopback-key.pem");

    impl LoopbackServer {
        async fn start(tls: bool, respond: fn(&str, u16) -> Vec<u8>) -> LoopbackServer {
            use rustls::pki_types::pem::PemObject;
            use rustls::pki_types::{CertificateDer, PrivateKeyDer};
            use tokio::io::{AsyncReadExt, AsyncWriteExt};

            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let counter = connections.clone();
            let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap()],
                PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap(),
            )
            .unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
                            mut s: S,
                            port: u16,
                            respond: fn(&str, u16) -> Vec<u8>,
                        ) {
                            let mut head = Vec::new();
                            let mut buf = [0u8; 1024];
                            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                                match s.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => head.extend_from_slice(&buf[..n]),
                                }
                            }
                            let head = String::from_utf8_lossy(&head);
                            let path = head.split(' ').nth(1).unwrap_or("/");
                            let _ = s.write_all(&respond(path, port)).await;
                            let _ = s.shutdown().await;
                        }
                        if tls {
                            if let Ok(s) = acceptor.accept(stream).await {
                                serve(s, port, respond).await;
                            }
                        } else {
                            serve(stream, port, respond).await;
                        }
                    });
                }
            });
            LoopbackServer { port, connections }
        }

        fn connections(&self) -> usize {
            self.connections.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// A fetcher that trusts the loopback certificate only.
    fn loopback_fetcher() -> HttpsFetcher {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        HttpsFetcher::from_builder(
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config),
            Duration::from_secs(10),
        )
    }

    fn ok(body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }

    fn redirect(to: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn fetches_over_https_with_the_digest_computed_while_streaming() {
        let server = LoopbackServer::start(true, |path, port| match path {
            "/moved" => redirect(&format!("https://127.0.0.1:{port}/x.yaml")),
            "/x.yaml" => ok(BODY.as_bytes()),
            // No Content-Length: only the streaming count can stop it.
            _ => {
                let mut r = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
                r.extend(std::iter::repeat_n(b'a', 4096));
                r
            }
        })
        .await;
        let fetcher = loopback_fetcher();
        let base = format!("https://127.0.0.1:{}", server.port);
        let (bytes, digest) = fetcher
            .fetch_hashed(&format!("{base}/moved"), 1 << 20)
            .await
            .unwrap();
        assert_eq!(bytes, BODY.as_bytes());
        assert_eq!(digest, sha256_hex(BODY.as_bytes()));
        let err = fetcher
            .fetch_hashed(&format!("{base}/endless"), 1000)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "larger than the 1000-byte limit for a remote manifest"
        );
        let err = fetcher
            .fetch_hashed(&format!("{base}/x.yaml"), 10)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("10-byte limit"), "{err}");
        // Through the cache: the pin is checked against the streamed digest.
        let dir = tempfile::tempdir().unwrap();
        let cache = ManifestCache::new(dir.path());
        let wrong = sha256_hex(b"other");
        assert!(matches!(
            cache.get(&format!("{base}/x.yaml"), &wrong, &fetcher).await,
            Err(RemoteError::Mismatch { .. })
        ));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn redirects_never_downgrade_nor_change_host_and_http_is_refused() {
        let plain = LoopbackServer::start(false, |_, _| ok(b"apiVersion: v1")).await;
        let plain_port = plain.port;
        let server = LoopbackServer::start(true, |path, port| match path {
            "/to-http" => redirect(&format!("http://127.0.0.1:{port}/x")),
            "/to-host" => redirect(&format!("https://localhost:{port}/x")),
            "/to-port" => redirect("https://127.0.0.1:1/x"),
            _ => ok(b"ok"),
        })
        .await;
        let fetcher = loopback_fetcher();
        let base = format!("https://127.0.0.1:{}", server.port);
        let err = fetcher.fetch(&format!("{base}/to-http")).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("refused: remote manifests are fetched over https:// only"),
            "{err}"
        );
        let err = fetcher.fetch(&format!("{base}/to-host")).await.unwrap_err();
        assert!(
            err.to_string().contains("refused: it leaves 127.0.0.1:"),
            "{err}"
        );
        let err = fetcher.fetch(&format!("{base}/to-port")).await.unwrap_err();
        assert!(err.to_string().contains("refused: it leaves"), "{err}");
        let err = fetcher
            .fetch(&format!("http://127.0.0.1:{plain_port}/x"))
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "remote manifests are fetched over https:// only"
        );
        assert_eq!(plain.connections(), 0, "nothing was sent over plain HTTP");
        assert_eq!(server.connections(), 3);
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
