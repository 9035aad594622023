//! `GET /v1/media/{sha256}`: report media for receivers holding a signed link (Open311's
//! `media_url`). Only links the gateway signed open files, and only until they expire; the
//! answer to anything else is the same 403, so a caller learns nothing about which files exist.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::AppState;
use super::problem::Problem;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// The file's MIME type, as signed.
    #[serde(rename = "type")]
    mime: String,
    /// When the link stops working (Unix seconds), as signed.
    expires: i64,
    /// Hex HMAC-SHA256 over the file's SHA-256, type and expiry.
    sig: String,
}

#[utoipa::path(get, path = "/v1/media/{sha256}", tag = "media",
    params(("sha256" = String, Path, description = "The file's SHA-256, lower-case hex"), LinkQuery),
    responses(
        (status = 200, description = "The file, with the signed type", content_type = "application/octet-stream"),
        (status = 403, description = "Not a link the gateway signed, expired, or no such file", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address (rate_limits.per_address_*); Retry-After says when to retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn serve(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    link: Result<Query<LinkQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let refused = || Problem::forbidden("this media link is not valid or has expired");
    // A link that does not even parse is refused like any other invalid link.
    let Query(link) = link.map_err(|_| refused())?;
    let links = state.media_links.as_ref().ok_or_else(refused)?;
    let well_formed = sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !well_formed || !links.verify(&sha256, &link.mime, link.expires, &link.sig, chrono::Utc::now()) {
        return Err(refused());
    }
    let bytes = tokio::fs::read(state.media.path_of(&sha256)).await.map_err(|_| refused())?;
    let mime = HeaderValue::from_str(&link.mime).map_err(|_| refused())?;
    Ok((
        [(header::CONTENT_TYPE, mime), (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"))],
        bytes,
    )
        .into_response())
}
