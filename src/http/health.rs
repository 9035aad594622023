//! Liveness, readiness and metrics endpoints for the operations team and their probes.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::Problem;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store, and what the chat workers last saw of each platform.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`, or `degraded` when a chat channel is failing: the gateway still takes every
    /// message then (hence 200), but replies on that channel wait.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Channels by name: `facebook` and `zalo` once a worker has talked to the platform,
    /// `email` whenever the mail poller runs (failing while it has no IMAP session).
    pub channels: BTreeMap<String, ChannelReadiness>,
}

/// One chat channel's state as its workers last saw it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelReadiness {
    /// `ok` or `failing`.
    #[schema(example = "failing")]
    pub state: &'static str,
    /// Why it is failing, in words an operator can act on (never a token or personal data).
    #[schema(example = "Facebook refused the Page access token (code 190)")]
    pub detail: Option<String>,
}

/// The store takes writes (a real write through the group-commit writer); the chat channels'
/// health. A failing channel is reported (`degraded`) but does not make the gateway unready.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to take messages (status `degraded` when a chat channel is failing)", body = Readiness),
        (status = 503, description = "The store cannot commit", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Readiness>, Problem> {
    match tokio::time::timeout(Duration::from_secs(2), app.store.check_writable()).await {
        Ok(Ok(())) => {
            let channels: BTreeMap<String, ChannelReadiness> = app
                .chat_health
                .snapshot()
                .into_iter()
                .map(|(channel, s)| {
                    (channel.as_str().to_owned(), ChannelReadiness { state: s.state, detail: s.detail })
                })
                .collect();
            let degraded = channels.values().any(|c| c.state != "ok");
            Ok(Json(Readiness { status: if degraded { "degraded" } else { "ready" }, channels }))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "Readiness check failed.");
            Err(Problem::unavailable("the store cannot commit"))
        }
        Err(_) => Err(Problem::unavailable("the store did not commit within 2 s")),
    }
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(app): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render()).into_response()
}
