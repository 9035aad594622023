//! The HTTP server loop: accepts connections and serves the router on each over HTTP/1.1, as
//! `axum::serve` does, plus a deadline for every request's headers.
//!
//! `axum::serve` gives hyper no timer, so hyper's header read timeout never runs: a client that
//! sent half its headers held its connection for ever, and graceful shutdown waited for it for
//! ever (SIGTERM never finished; found by the hostile suite). Here each connection has the
//! timer and must deliver each request's headers within `header_timeout` (an idle keep-alive
//! connection is closed after as long). On shutdown, accepting stops, each connection finishes
//! the request in flight and closes, and [`serve`] returns once all have.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

/// Serves `router` on `listener` until `shutdown` is cancelled and every connection is done.
pub async fn serve(listener: TcpListener, router: Router, header_timeout: Duration, shutdown: CancellationToken) {
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: pass, then accept again (as
                    // axum::serve does) rather than spin.
                    tracing::warn!(error = %e, "Accepting a connection failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        // The peer's address, as `into_make_service_with_connect_info` would give it: the rate
        // limit per client address reads it.
        let service = TowerToHyperService::new(router.clone().map_request(move |r: Request<Incoming>| {
            let mut request = r.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        }));
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let finished = tokio::select! {
                result = connection.as_mut() => result,
                () = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(e) = finished {
                tracing::debug!(error = %e, "Connection ended with an error.");
            }
        });
    }
    connections.close();
    connections.wait().await;
}
