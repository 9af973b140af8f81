//! Probes from outside the cluster (`from: outside`), made by the harness itself: HTTP to the
//! ingress controller through the kind node's host port mapping (127.0.0.1:80 by default).

use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::probe::Outcome;

/// An HTTP client for outside probes.
#[derive(Debug, Clone)]
pub struct OutsideClient {
    address: SocketAddr,
}

impl OutsideClient {
    /// A client sending requests to `address`.
    pub fn new(address: SocketAddr) -> OutsideClient {
        OutsideClient { address }
    }

    /// The address requests go to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// One request: the status, or blocked when nothing answers within `timeout`, or refused.
    pub async fn http(
        &self,
        method: &str,
        path: &str,
        host: &str,
        timeout: Duration,
    ) -> (Outcome, String) {
        let started = Instant::now();
        // A library caller may pass any duration; a day is far past any probe's purpose and
        // keeps the addition from overflowing.
        let deadline = started + timeout.min(Duration::from_secs(86_400));
        let elapsed = || format!("{} ms", started.elapsed().as_millis());
        let stream = match tokio::time::timeout_at(deadline, TcpStream::connect(self.address)).await
        {
            Err(_) => {
                return (
                    Outcome::Blocked,
                    format!("connect timed out after {}", elapsed()),
                );
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return (Outcome::Refused, format!("{}: {e}", self.address));
            }
            Ok(Err(e)) => return (Outcome::Error(format!("{}: {e}", self.address)), elapsed()),
            Ok(Ok(s)) => s,
        };
        let (mut sender, connection) =
            match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await {
                Ok(pair) => pair,
                Err(e) => return (Outcome::Error(format!("HTTP handshake: {e}")), elapsed()),
            };
        let driver = tokio::spawn(connection);
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, host)
            .body(Empty::<Bytes>::new());
        let request = match request {
            Ok(r) => r,
            Err(e) => return (Outcome::Error(format!("bad request: {e}")), String::new()),
        };
        let result = tokio::time::timeout_at(deadline, sender.send_request(request)).await;
        driver.abort();
        match result {
            Err(_) => (
                Outcome::Blocked,
                format!("no response within {}", elapsed()),
            ),
            Ok(Err(e)) => (Outcome::Error(format!("HTTP: {e}")), elapsed()),
            Ok(Ok(response)) => (Outcome::HttpStatus(response.status().as_u16()), elapsed()),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    #[tokio::test]
    async fn statuses_refusals_and_silence() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            // A second connection that never answers.
            let (_silent, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_millis(500)).await;
            request
        });
        let client = OutsideClient::new(address);
        let (outcome, _) = client
            .http("POST", "/echo", "echo.local", Duration::from_secs(5))
            .await;
        assert_eq!(outcome, Outcome::HttpStatus(503));
        let (outcome, _) = client
            .http("GET", "/", "localhost", Duration::from_millis(200))
            .await;
        assert_eq!(outcome, Outcome::Blocked);
        let request = server.await.unwrap();
        assert!(request.starts_with("POST /echo HTTP/1.1"), "{request}");
        assert!(
            request.to_lowercase().contains("host: echo.local"),
            "{request}"
        );

        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = closed.local_addr().unwrap();
        drop(closed);
        let (outcome, _) = OutsideClient::new(address)
            .http("GET", "/", "localhost", Duration::from_secs(1))
            .await;
        assert_eq!(outcome, Outcome::Refused);
    }
}
