//! `POST /v1/core/updates`: the case system ("the core") posts a report's handling result;
//! the gateway stores it and relays it to the reporter (R9), see [`crate::core_updates`].
//!
//! Authentication is the core's own bearer token (`[core] token`); with none configured the
//! route answers 404, so an unconfigured gateway does not pretend to take results. Errors
//! are problem+json and name fields by pointer, never their values (the message is the
//! agency's words, a tracking code is not secret but is not echoed either).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use hue_intake_adapters::error::InputError;
use hue_intake_schemas::{CoreUpdate, TrackingCode};

use super::AppState;
use super::problem::Problem;
use crate::core_updates::{self, Refused, UpdateAnswer};

/// Store and relay one update.
#[utoipa::path(post, path = "/v1/core/updates", tag = "core",
    request_body(content((CoreUpdate = "application/json"))),
    responses(
        (status = 202, description = "Stored durably and its relay queued (or recorded as not relayed); a repeat of the update_id returns the first answer", body = UpdateAnswer),
        (status = 400, description = "Malformed body, unknown, missing or invalid field (pointer named)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong core token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No report has this tracking code, or the endpoint is not enabled (no [core] token)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "update_id reused for a different update", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot commit; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("core" = [])))]
pub async fn updates(State(app): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, Problem> {
    let received_at = Utc::now();
    let core = &app.core;
    let Some(expected) = core.token_digest else {
        return Err(Problem::not_found("results from the core are not enabled here: set [core] token"));
    };
    let token = super::auth::bearer(&headers)?;
    // Digests compared (as the other tokens are looked up): a mismatch position says
    // something about a digest, nothing about the token.
    if super::auth::digest(token) != expected {
        return Err(Problem::unauthorized("unknown token"));
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(Problem::unsupported_media_type("send application/json"));
    }
    if body.len() > app.max_json_bytes {
        return Err(Problem::too_large("the body is larger than server.max_json_bytes"));
    }
    let update: CoreUpdate = InputError::parse_json(&body).map_err(Problem::from)?;
    let code = check(&update)?;
    match core_updates::accept(core, update, code, received_at, core.now()).await {
        Ok(answer) => Ok((StatusCode::ACCEPTED, Json(answer)).into_response()),
        Err(Refused::UnknownReport) => Err(Problem::not_found("no report has this tracking code").at("/tracking_code")),
        Err(Refused::Conflict) => {
            Err(Problem::conflict("this update_id was used for a different update").at("/update_id"))
        }
        Err(Refused::Store(e)) => {
            tracing::warn!(error = %e, "Store failed on a core update; answering 503.");
            Err(Problem::unavailable("the store cannot commit now; nothing was stored, retry later"))
        }
    }
}

/// Field checks the types cannot express; the pointer names the field, never its value.
fn check(update: &CoreUpdate) -> Result<TrackingCode, Problem> {
    let invalid =
        |pointer: &str, detail: &str| Problem::new(StatusCode::BAD_REQUEST, "invalid-field", detail).at(pointer);
    let blank_or_long = |value: &str, max: usize| value.trim().is_empty() || value.chars().count() > max;
    if blank_or_long(&update.update_id, 200) {
        return Err(invalid("/update_id", "update_id must be 1 to 200 characters"));
    }
    if blank_or_long(&update.agency, 200) {
        return Err(invalid("/agency", "agency must be 1 to 200 characters"));
    }
    if blank_or_long(&update.message, 4000) {
        return Err(invalid("/message", "message must be 1 to 4000 characters"));
    }
    TrackingCode::parse(update.tracking_code.trim())
        .map_err(|_| invalid("/tracking_code", "tracking_code must look like HUE-XXXX-XXXX"))
}
