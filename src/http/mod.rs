//! The HTTP surface: routes, shared state and the middleware every route gets (request ids,
//! tracing, timeouts, load shedding, problem+json for every error).
//!
//! Handlers live in one module per resource. This module must not hold business logic: it
//! wires handlers to the store, the decoder and the sealer held in [`AppState`].

pub mod admin;
pub mod auth;
pub mod console;
pub mod core;
pub mod health;
pub mod hotline;
pub mod media;
pub mod openapi;
pub mod problem;
pub mod rate_limit;
pub mod reports;
pub mod serve;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{StatusCode, header};
use axum::middleware::{from_fn_with_state, map_response};
use axum::routing::{get, post};
use hue_intake_adapters::attachment::Limits;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::media_store::MediaStore;
use crate::pipeline::Decoder;
use crate::seal::Sealer;
use crate::store::Store;

/// What handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub sealer: Sealer,
    pub decoder: Arc<Decoder>,
    pub clients: Arc<auth::Clients>,
    /// Staff and case-system tokens of the admin API (R12).
    pub staff: Arc<auth::Staff>,
    pub media: MediaStore,
    pub limits: Limits,
    pub max_json_bytes: usize,
    pub metrics: PrometheusHandle,
    /// What the chat workers last saw of each platform (shown by `/readyz`).
    pub chat_health: crate::chat::health::ChannelHealth,
    /// Secrets and limits of the platforms' webhooks.
    pub webhooks: Arc<webhooks::Webhooks>,
    /// Signs and checks links to report media (`server.public_url` set).
    pub media_links: Option<crate::deliver::MediaLinks>,
    /// Results back from the case system (its token, the relay's settings).
    pub core: crate::core_updates::Core,
    /// Quotas per client address and per sender (429 beyond them).
    pub rate_limits: Arc<rate_limit::RateLimits>,
}

/// Limits of the HTTP layer.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub request_timeout: Duration,
    pub max_concurrent_requests: usize,
}

pub fn router(state: AppState, limits: HttpLimits) -> Router {
    // The public API, open to every phone and browser, is limited per client address; the
    // authenticated staff routes and the platforms' webhooks are not (see rate_limit).
    let public = Router::new()
        // Multipart uploads are capped per file and per report while they stream; JSON bodies
        // by max_json_bytes. The extractor's default 2 MB limit would cut both short.
        .route("/v1/reports", post(reports::create).layer(DefaultBodyLimit::disable()))
        .route("/v1/reports/{tracking_code}", get(reports::status))
        .route("/v1/media/{sha256}", get(media::serve))
        .route_layer(from_fn_with_state(state.rate_limits.clone(), rate_limit::by_address));
    let routes = Router::new()
        .merge(public)
        .route("/v1/hotline/calls", post(hotline::calls))
        .route("/v1/hotline/check", post(hotline::check))
        .route("/v1/hotline/wards", get(hotline::wards))
        .route("/v1/admin/sanctions", get(admin::list))
        .route("/v1/admin/sanctions/{reporter_ref}", get(admin::show))
        .route("/v1/admin/sanctions/{reporter_ref}/lift", post(admin::lift))
        .route("/v1/admin/violations", post(admin::report))
        .route("/v1/admin/violations/{id}/confirm", post(admin::confirm))
        .route("/v1/admin/violations/{id}/dismiss", post(admin::dismiss))
        .route("/v1/core/updates", post(core::updates))
        // Webhook bodies are read under chat.max_webhook_bytes by the handlers themselves.
        .route(
            "/webhooks/facebook",
            get(webhooks::facebook_handshake).post(webhooks::facebook_event).layer(DefaultBodyLimit::disable()),
        )
        .route("/webhooks/zalo", post(webhooks::zalo_event).layer(DefaultBodyLimit::disable()))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve_document))
        .merge(console::routes())
        .fallback(|| async { problem::Problem::not_found("no such resource") })
        .with_state(state)
        .layer(axum::middleware::from_fn(auth::refuse_query_credentials));
    // Innermost first: panics, overload and timeouts become bare statuses, which the
    // problem layer then dresses as problem+json; request ids and tracing wrap it all.
    routes
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::new())
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async { StatusCode::SERVICE_UNAVAILABLE }))
                .load_shed()
                .concurrency_limit(limits.max_concurrent_requests)
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout)),
        )
        .layer(map_response(problem::ensure_problem_body))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    header::HeaderName::from_static("x-hub-signature-256"),
                    header::HeaderName::from_static("x-zevent-signature"),
                ]))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    // Method, route template and request id only: no query, no body, no headers.
                    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
                    let request_id =
                        request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                    tracing::info_span!("request", method = %request.method(), route = route.as_deref().unwrap_or("-"), %request_id)
                }))
                .layer(PropagateRequestIdLayer::x_request_id()),
        )
}
