//! Outbound HTTP: one way to build a client for the platforms' APIs and CDNs (rustls on
//! ring, explicit timeouts, no proxy surprises).

use std::time::Duration;

/// Installs ring as the process's rustls provider. reqwest is built without a provider of
/// its own (no aws-lc-rs), so a client built before this panics; every entry point calls it.
pub fn install_crypto_provider() {
    // Err means a provider is already installed (a second call, or a test harness): fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Why a request failed, in a fixed phrase: reqwest's own text names the URL, which may carry
/// signatures or tokens and must not reach logs or stored errors.
pub fn failure_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_builder() {
        "invalid URL"
    } else {
        "request failed"
    }
}

/// A client whose every request is bounded by `timeout` (reqwest has none by default).
pub fn client(timeout: Duration) -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .user_agent(concat!("hue-intake/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .build()
        .expect("an HTTP client with rustls on ring builds")
}
