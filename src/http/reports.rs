//! `POST /v1/reports` (the app and the portal) and `GET /v1/reports/{tracking_code}`.
//!
//! The receive path does only what the answer needs: authenticate, read the body within its
//! limits (media streamed to disk, checked as they arrive), check it, compute the record's
//! disposition (pure CPU, the same code the pipeline runs), seal the raw bytes and commit
//! them through the group-commit writer. 202 is sent only after that commit. Everything else
//! (recording, delivery) happens later from the stored message.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hue_intake_adapters::app::{self, Checked};
use hue_intake_adapters::triage::Standing;
use hue_intake_adapters::{attachment, replies};
use hue_intake_schemas::{Channel, Disposition, Kind, Reply, TrackingCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use super::problem::Problem;
use super::rate_limit;
use crate::media_store::{Staged, UploadError};
use crate::pipeline::{Assigned, MessageMeta, raw_associated_data};
use crate::store::{Allocation, Incoming, Received, StoreError};

/// The answer to an accepted message: it is durably stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Acknowledgement {
    /// The record's id (UUIDv7).
    pub id: Uuid,
    /// Give this to the citizen: `HUE-XXXX-XXXX`.
    pub tracking_code: String,
    pub disposition: Disposition,
    /// What to tell the citizen, in the report's language (R3): the acknowledgement with the
    /// tracking code, and any notice, question or refusal that applies.
    pub reply: Reply,
}

/// Public status of a tracking code. No personal data and no report text.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PublicStatus {
    pub tracking_code: String,
    pub kind: Kind,
    pub channel: Channel,
    pub received_at: DateTime<Utc>,
    /// `received` (stored, being processed), `recorded` (canonical record made, waiting to go
    /// downstream, e.g. deferred to 07:30), `delivered` (passed to the case system).
    pub status: &'static str,
    pub disposition: Disposition,
    pub in_reply_to: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A body read and checked, with its media staged on disk.
pub(super) struct Upload {
    pub(super) raw: Bytes,
    pub(super) checked: Checked,
    pub(super) staged: Vec<Staged>,
}

/// Submit a report, an interaction (`in_reply_to`) or a rating (`in_reply_to` + `rating`).
///
/// JSON, or `multipart/form-data` with a `report` part holding the JSON and one part per
/// media file. A repeated `client_message_id` with the same body returns the first answer;
/// with a different body, 409.
#[utoipa::path(post, path = "/v1/reports", tag = "reports",
    request_body(content(
        (hue_intake_schemas::ReportBody = "application/json"),
        (MultipartReport = "multipart/form-data"),
    )),
    responses(
        (status = 202, description = "Stored durably; the record follows", body = Acknowledgement),
        (status = 400, description = "Malformed body, unknown or missing field", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token's channel does not post here", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "client_message_id reused for a different body", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body or media file too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Content type or media type not accepted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "in_reply_to names no report", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address or reports from this account (rate_limits); nothing stored; Retry-After says when to retry", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot commit; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn create(State(app): State<AppState>, request: Request) -> Result<Response, Problem> {
    let received_at = Utc::now();
    let client = app.clients.authenticate(request.headers())?.clone();
    let channel = client.channel;
    if !matches!(channel, Channel::App | Channel::Portal) {
        refused(channel, StatusCode::FORBIDDEN);
        return Err(Problem::forbidden("this token belongs to a channel that does not post reports here"));
    }
    let upload = match read_upload(&app, request).await {
        Ok(upload) => upload,
        Err(problem) => {
            refused(channel, StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST));
            return Err(problem);
        }
    };
    // Per Hue-S account (R8: the account is only hashed in memory, never logged). Reports
    // without an account are limited by address only.
    if let Some(account) = upload.checked.body.account_id.as_deref()
        && let Err(wait) = app.rate_limits.check_sender("account", account)
    {
        app.media.discard(upload.staged).await;
        return Ok(rate_limit::too_many(rate_limit::Scope::Sender, "/v1/reports", wait));
    }
    match accept(&app, channel, &client.name, received_at, &upload).await {
        Ok(response) => Ok(response),
        Err(problem) => {
            app.media.discard(upload.staged).await;
            refused(channel, StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST));
            Err(problem)
        }
    }
}

fn refused(channel: Channel, status: StatusCode) {
    metrics::counter!(
        "hue_intake_requests_refused_total",
        "channel" => channel.as_str(), "status" => status.as_str().to_owned()
    )
    .increment(1);
}

pub(super) async fn accept(
    app: &AppState,
    channel: Channel,
    client: &str,
    received_at: DateTime<Utc>,
    upload: &Upload,
) -> Result<Response, Problem> {
    let checked = &upload.checked;
    if let Some(code) = &checked.in_reply_to
        && !app.store.is_report(code.as_str()).await.map_err(store_problem)?
    {
        {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-report",
                "no report has this tracking code",
            )
            .at("/in_reply_to"));
        }
    }
    let raw_sha256 = attachment::sha256_hex(&upload.raw);
    let media: Vec<_> = upload.staged.iter().map(|s| s.item().clone()).collect();
    let fingerprint = fingerprint(&raw_sha256, &media);
    let record_id = crate::ids::new_record_id();
    let tracking_code = crate::ids::new_tracking_code();
    let assigned = |standing| Assigned {
        channel,
        received_at,
        raw_sha256: &raw_sha256,
        record_id,
        tracking_code: tracking_code.clone(),
        standing,
    };
    let mut normalized = app.decoder.app(checked, media.clone(), assigned(Standing::default()));
    // R12: the reporter is known only once decoded (reporter.ref). Most reporters have no
    // sanctions, so only theirs pay for a second decode with their standing. The standing is
    // stored with the message so the pipeline reproduces exactly this record.
    let standing =
        app.store.standing(&normalized.report.reporter.reference, received_at).await.map_err(store_problem)?;
    if standing != Standing::default() {
        normalized = app.decoder.app(checked, media.clone(), assigned(standing));
    }
    let message_id = checked.body.client_message_id.clone();
    let meta = serde_json::to_string(&MessageMeta { media, client: Some(client.to_owned()), standing })
        .expect("meta serialises");
    let incoming = Incoming {
        channel,
        raw_sealed: app.sealer.seal(&upload.raw, &raw_associated_data(channel, &message_id)),
        message_id,
        received_at,
        raw_sha256,
        fingerprint,
        meta,
        allocation: Some(Allocation {
            record_id,
            tracking_code: tracking_code.to_string(),
            kind: normalized.report.kind,
            disposition: normalized.report.disposition.clone(),
        }),
    };
    // Staged media go into place (synced) before the message that names them is committed.
    // On a duplicate they are the same content-addressed files, so nothing is wasted.
    app.media.commit(&upload.staged).await.map_err(|e| {
        tracing::error!(error = %e, "Media could not be stored.");
        Problem::unavailable("media could not be stored")
    })?;
    let received = app.store.receive(incoming).await.map_err(store_problem)?;
    let zone = app.decoder.rules.zone;
    match received {
        Received::Stored { allocation: Some(a), .. } => {
            metrics::counter!("hue_intake_messages_received_total", "channel" => channel.as_str()).increment(1);
            tracing::info!(%channel, record_id = %a.record_id, tracking_code = %a.tracking_code, disposition = a.disposition.state.as_str(), "Report received.");
            let reply = replies::compose(&normalized.report, &standing, zone);
            Ok(acknowledge(a, reply, false))
        }
        Received::Duplicate { allocation: Some(a), meta } => {
            metrics::counter!("hue_intake_messages_duplicate_total", "channel" => channel.as_str()).increment(1);
            // The same body says the same thing: the first answer's reply, rebuilt from its code,
            // its disposition and the standing stored with it (the reporter's may have changed).
            let first_standing = serde_json::from_str::<MessageMeta>(&meta).map(|m| m.standing).unwrap_or(standing);
            let mut first = normalized.report;
            first.tracking_code.clone_from(&a.tracking_code);
            first.disposition = a.disposition.clone();
            let reply = replies::compose(&first, &first_standing, zone);
            Ok(acknowledge(a, reply, true))
        }
        Received::Conflict => {
            Err(Problem::conflict("this client_message_id was used before for a different body")
                .at("/client_message_id"))
        }
        Received::Stored { allocation: None, .. } | Received::Duplicate { allocation: None, .. } => {
            tracing::error!(%channel, "A first-party message was stored without an allocation.");
            Err(Problem::internal())
        }
    }
}

fn acknowledge(allocation: Allocation, reply: Reply, replayed: bool) -> Response {
    let ack = Acknowledgement {
        id: allocation.record_id,
        tracking_code: allocation.tracking_code,
        disposition: allocation.disposition,
        reply,
    };
    let mut response = (StatusCode::ACCEPTED, Json(ack)).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// What tells a retry from a different message under the same id: the raw body and the media.
fn fingerprint(raw_sha256: &str, media: &[hue_intake_schemas::MediaItem]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(raw_sha256.as_bytes());
    for item in media {
        hasher.update(b"\n");
        hasher.update(item.sha256.as_deref().unwrap_or("").as_bytes());
    }
    attachment::hex(&hasher.finalize())
}

pub(super) fn store_problem(error: StoreError) -> Problem {
    match error {
        StoreError::Unavailable(reason) => {
            tracing::warn!(%reason, "Store unavailable; answering 503.");
        }
        other => tracing::error!(error = %other, "Store failed; answering 503."),
    }
    Problem::unavailable("the message could not be stored; nothing was kept, retry later")
}

async fn read_upload(app: &AppState, request: Request) -> Result<Upload, Problem> {
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => read_json(app, request).await,
        "multipart/form-data" => read_multipart(app, request).await,
        _ => Err(Problem::unsupported_media_type("send application/json or multipart/form-data")),
    }
}

async fn read_json(app: &AppState, request: Request) -> Result<Upload, Problem> {
    let raw = read_limited(app, request).await?;
    let checked = app::parse(&raw)?;
    let limits = &app.limits;
    if checked.body.media.len() > limits.files_per_report {
        return Err(
            Problem::too_large(&format!("a report may carry at most {} files", limits.files_per_report)).at("/media")
        );
    }
    let mut staged = Vec::new();
    let mut total = 0u64;
    for (i, media) in checked.body.media.iter().enumerate() {
        let pointer = format!("/media/{i}");
        let decoded = match base64::engine::general_purpose::STANDARD.decode(media.data_base64.trim()) {
            Ok(bytes) => bytes,
            Err(_) => {
                app.media.discard(staged).await;
                return Err(Problem::new(StatusCode::BAD_REQUEST, "invalid-field", "data_base64 is not valid base64")
                    .at(format!("{pointer}/data_base64")));
            }
        };
        total += decoded.len() as u64;
        match app.media.stage_bytes(&decoded, limits, total, pointer).await {
            Ok(s) => staged.push(s),
            Err(e) => {
                app.media.discard(staged).await;
                return Err(upload_problem(e, None));
            }
        }
    }
    Ok(Upload { raw, checked, staged })
}

/// A JSON body read whole under `server.max_json_bytes` (413 beyond; a declared length is
/// refused before reading).
pub(super) async fn read_limited(app: &AppState, request: Request) -> Result<Bytes, Problem> {
    let limit = app.max_json_bytes;
    let too_large = || Problem::too_large(&format!("JSON bodies may be at most {limit} bytes"));
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let raw = axum::body::to_bytes(request.into_body(), limit)
        .await
        .map_err(|e| if over_limit(&e) { too_large() } else { incomplete_body() })?;
    Ok(raw)
}

/// Whether reading a body under a limit failed because the body went over it (rather than
/// breaking off or being badly framed).
pub(super) fn over_limit(error: &axum::Error) -> bool {
    std::error::Error::source(error).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
}

/// A body that broke off or was badly framed (chunked encoding): the client's fault, not size.
pub(super) fn incomplete_body() -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "incomplete-body", "the body could not be read to its end")
}

async fn read_multipart(app: &AppState, request: Request) -> Result<Upload, Problem> {
    let mut multipart = Multipart::from_request(request, &())
        .await
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "malformed", e.body_text()))?;
    let mut staged: Vec<Staged> = Vec::new();
    let result = read_parts(app, &mut multipart, &mut staged).await;
    match result {
        Ok(raw) => {
            let parsed = app::parse(&raw).map_err(Problem::from).and_then(|checked| {
                if checked.body.media.is_empty() {
                    Ok(checked)
                } else {
                    Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid-field",
                        "in multipart bodies, send media as parts, not inline",
                    )
                    .at("/media"))
                }
            });
            match parsed {
                Ok(checked) => Ok(Upload { raw, checked, staged }),
                Err(problem) => {
                    app.media.discard(staged).await;
                    Err(problem.part("report"))
                }
            }
        }
        Err(problem) => {
            app.media.discard(staged).await;
            Err(problem)
        }
    }
}

/// Reads every part: the `report` JSON into memory (within the JSON limit), media to disk.
async fn read_parts(app: &AppState, multipart: &mut Multipart, staged: &mut Vec<Staged>) -> Result<Bytes, Problem> {
    let limits = &app.limits;
    let mut report: Option<Bytes> = None;
    let mut total = 0u64;
    let malformed =
        |e: axum::extract::multipart::MultipartError| Problem::new(StatusCode::BAD_REQUEST, "malformed", e.body_text());
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or("").to_owned();
        if name == "report" {
            let mut buffer = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(malformed)? {
                buffer.extend_from_slice(&chunk);
                if buffer.len() > app.max_json_bytes {
                    return Err(Problem::too_large(&format!(
                        "the report part may be at most {} bytes",
                        app.max_json_bytes
                    ))
                    .part(name));
                }
            }
            report = Some(Bytes::from(buffer));
            continue;
        }
        if staged.len() >= limits.files_per_report {
            return Err(
                Problem::too_large(&format!("a report may carry at most {} files", limits.files_per_report)).part(name)
            );
        }
        let pointer = format!("/media/{}", staged.len());
        let mut upload = app.media.begin(pointer).await.map_err(|e| upload_problem(e.into(), Some(&name)))?;
        loop {
            let chunk = match field.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    upload.abort().await;
                    return Err(malformed(e));
                }
            };
            total += chunk.len() as u64;
            if let Err(e) = upload.push(&chunk, limits, total).await {
                upload.abort().await;
                return Err(upload_problem(e, Some(&name)));
            }
        }
        staged.push(upload.finish(limits, total).await.map_err(|e| upload_problem(e, Some(&name)))?);
    }
    report.ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "missing-part",
            "a multipart report needs a part named `report` holding the JSON",
        )
        .part("report")
    })
}

fn upload_problem(error: UploadError, part: Option<&str>) -> Problem {
    let problem = match error {
        UploadError::Refused(e) => Problem::from(e),
        UploadError::Io(e) => {
            tracing::error!(error = %e, "Media storage failed.");
            Problem::unavailable("media could not be stored")
        }
    };
    match part {
        Some(name) => problem.part(name),
        None => problem,
    }
}

/// Multipart form of `POST /v1/reports` (for the OpenAPI document).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct MultipartReport {
    /// The report JSON, as for `application/json` but without inline `media`.
    report: hue_intake_schemas::ReportBody,
    /// Media files, one part each (any part name other than `report`).
    #[schema(format = Binary, content_media_type = "application/octet-stream")]
    media: Vec<String>,
}

/// Public status of a report, interaction or rating.
#[utoipa::path(get, path = "/v1/reports/{tracking_code}", tag = "reports",
    params(("tracking_code" = String, Path, description = "HUE-XXXX-XXXX, case-insensitive",
        pattern = "^[Hh][Uu][Ee]-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}$")),
    responses(
        (status = 200, description = "Status", body = PublicStatus),
        (status = 400, description = "Not a tracking code", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such tracking code", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address (rate_limits.per_address_*); Retry-After says when to retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn status(State(app): State<AppState>, Path(code): Path<String>) -> Result<Json<PublicStatus>, Problem> {
    let code = TrackingCode::parse(&code)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-field", e.to_string()).at("/tracking_code"))?;
    let status = app.store.status(code.as_str()).await.map_err(store_problem)?;
    let status = status.ok_or_else(|| Problem::not_found("no report has this tracking code"))?;
    Ok(Json(PublicStatus {
        tracking_code: status.tracking_code,
        kind: status.kind,
        channel: status.channel,
        received_at: status.received_at,
        status: match (status.recorded, status.delivered_at) {
            (_, Some(_)) => "delivered",
            (true, None) => "recorded",
            (false, None) => "received",
        },
        disposition: status.disposition,
        in_reply_to: status.in_reply_to,
        delivered_at: status.delivered_at,
    }))
}
