//! Which API failures are retried and how, and which ones mean "write with create/replace".

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::cluster::ClusterError;

/// Whether a failure is worth retrying: throttling (429), server errors (5xx) and transport
/// errors. Client errors (4xx) never are: retrying them hides bugs.
pub fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code == 429 || (500..=599).contains(&s.code),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// Backoff for transient failures: 200 ms doubling to 5 s, six retries, with jitter.
pub(super) fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(5))
        .with_max_times(6)
        .with_jitter()
}

/// Runs `f`, retrying transient failures only.
pub(super) async fn retry<T, Fut>(f: impl FnMut() -> Fut) -> Result<T, kube::Error>
where
    Fut: Future<Output = Result<T, kube::Error>>,
{
    f.retry(backoff())
        .sleep(tokio::time::sleep)
        .when(is_transient)
        .notify(|e, d| tracing::debug!(error = %e, "transient API error; retrying in {d:?}"))
        .await
}

/// Whether an apply patch failed because the server cannot do server-side apply for this
/// object, so that create/replace is the way to write it:
/// - 415: the resource does not accept apply patches;
/// - 404 for the object itself (not its namespace): server-side apply creates missing objects,
///   but the Calico API server 3.32.0 answers NotFound when it should create a tiered policy
///   (NetworkPolicy, GlobalNetworkPolicy; projectcalico/calico#12841);
/// - 500 "no serializer defined" (an API server without the apply-patch codec) or "key not
///   found" (an apply reaching a store as an update of a missing object): the Calico API server
///   before it supported server-side apply (projectcalico/calico#4959).
pub fn apply_unsupported(e: &kube::Error) -> bool {
    let kube::Error::Api(s) = e else { return false };
    match s.code {
        415 => true,
        404 => s.details.as_ref().is_none_or(|d| d.kind != "namespaces"),
        500 => s.message.contains("no serializer defined") || s.message.contains("key not found"),
        _ => false,
    }
}

/// The error for a failed request, keeping what kube-rs returned under what the harness was
/// doing.
pub(super) fn api_error(action: impl Into<String>, source: kube::Error) -> ClusterError {
    ClusterError::Api {
        action: action.into(),
        source,
    }
}

/// Whether the API server answered 404 Not Found.
pub(super) fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
