//! Liveness, readiness and metrics endpoints for the operations team and their probes.

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

/// The store takes writes (a real write through the group-commit writer).
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to take messages", body = Health),
        (status = 503, description = "The store cannot commit", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(app): State<AppState>) -> Result<Json<Health>, Problem> {
    match tokio::time::timeout(Duration::from_secs(2), app.store.check_writable()).await {
        Ok(Ok(())) => Ok(Json(Health { status: "ready" })),
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
