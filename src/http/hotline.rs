//! The call centre 1900 1075 (SPEC §7): `POST /v1/hotline/calls` stores a call like any
//! report (idempotent by `call_id`, answered 202 with the tracking code to read back),
//! `POST /v1/hotline/check` runs the regulation engine on a call being typed without storing
//! anything (what is missing, out of scope with the script to read, the night window, the
//! ward found), `GET /v1/hotline/wards` lists Huế's wards and their former names for the
//! console's address field. Each operator has a bearer token (`hue-intake operators`).

use axum::Json;
use axum::extract::{Request, State};
use axum::response::Response;
use chrono::Utc;
use hue_intake_adapters::geo::{OLD_UNITS, WARDS};
use hue_intake_adapters::hotline;
use hue_intake_adapters::replies;
use hue_intake_adapters::triage::Standing;
use hue_intake_schemas::{Channel, Disposition, MissingField, Reply, Scope, UrgencyLevel, Window};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::problem::Problem;
use super::reports::{Upload, accept, read_limited, store_problem};
use crate::pipeline::Assigned;

/// Stands for the tracking code in a checked call's texts: the code exists only once the call
/// is submitted.
pub const CODE_PLACEHOLDER: &str = "HUE-____-____";

/// What the regulation engine says about a call being typed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallCheck {
    pub disposition: Disposition,
    /// Items the report still lacks (R4, R6).
    #[schema(value_type = Vec<String>)]
    pub missing: Vec<MissingField>,
    /// Set when the matter is not a field report (R5): what to read to the caller.
    pub out_of_scope: Option<OutOfScope>,
    /// Whether the call falls in the night window (R2).
    pub night_window: bool,
    /// ISO 639-1 code of the text, `und` when unknown.
    pub language: String,
    #[schema(value_type = String)]
    pub urgency: UrgencyLevel,
    pub ward: WardCheck,
    /// What the caller would be told.
    pub reply: Reply,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutOfScope {
    pub reason: Option<String>,
    /// The text for the operator to read to the caller.
    pub script: String,
}

/// Whether the address places the call in one of Huế's wards.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WardCheck {
    /// `found`, `ambiguous` (a former unit's name that two of today's wards share: ask which),
    /// `not_found` (an address that names no ward it can place), or `none` (no address or
    /// coordinates yet).
    pub state: &'static str,
    pub code: Option<String>,
    pub name: Option<String>,
}

/// A ward for the address autocomplete.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WardName {
    pub code: &'static str,
    pub name: &'static str,
    /// The units merged into it on 1 July 2025 (people still say them).
    pub old_names: Vec<&'static str>,
}

/// The operator behind the request's bearer token, or 401.
async fn operator(app: &AppState, headers: &axum::http::HeaderMap) -> Result<String, Problem> {
    let digest = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| crate::hotline::operators::digest(token.trim()))
        .ok_or_else(|| Problem::unauthorized("send Authorization: Bearer <operator token>"))?;
    app.store
        .operator_by_token(&digest)
        .await
        .map_err(store_problem)?
        .ok_or_else(|| Problem::unauthorized("unknown or revoked operator token"))
}

/// Post a call: stored, then answered with the tracking code to read back to the caller.
#[utoipa::path(post, path = "/v1/hotline/calls", tag = "hotline",
    request_body(content((hue_intake_schemas::CallBody = "application/json"))),
    responses(
        (status = 202, description = "Stored durably; the record follows", body = super::reports::Acknowledgement),
        (status = 400, description = "Malformed body, unknown or missing field (call_id, transcript)", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked operator token", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "call_id reused for a different call", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "in_reply_to names no report", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The store cannot commit; nothing was stored", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn calls(State(app): State<AppState>, request: Request) -> Result<Response, Problem> {
    let received_at = Utc::now();
    let operator = operator(&app, request.headers()).await?;
    let raw = read_limited(&app, request).await?;
    let (_, checked) = hotline::parse(&raw)?;
    let upload = Upload { raw, checked, staged: Vec::new() };
    accept(&app, Channel::Hotline, &operator, received_at, &upload).await
}

/// Check a call being typed: nothing is stored.
#[utoipa::path(post, path = "/v1/hotline/check", tag = "hotline",
    request_body(content((hue_intake_schemas::CallBody = "application/json"))),
    responses(
        (status = 200, description = "What the regulation engine says now", body = CallCheck),
        (status = 400, description = "Malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, unknown or revoked operator token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn check(State(app): State<AppState>, request: Request) -> Result<Json<CallCheck>, Problem> {
    let received_at = Utc::now();
    operator(&app, request.headers()).await?;
    let raw = read_limited(&app, request).await?;
    let mut call: hue_intake_schemas::CallBody =
        hue_intake_adapters::error::InputError::parse_json(&raw).map_err(Problem::from)?;
    // A call being typed has no id yet, and may have no words yet: checked as it stands.
    if call.call_id.trim().is_empty() {
        call.call_id = "check".to_owned();
    }
    let mut body = hotline::report_body(&call);
    if body.description.is_none() {
        body.description = Some(String::new());
    }
    let checked = hue_intake_adapters::app::Checked {
        in_reply_to: body.in_reply_to.as_deref().and_then(|c| hue_intake_schemas::TrackingCode::parse(c).ok()),
        body,
    };
    let raw_sha256 = hue_intake_adapters::attachment::sha256_hex(&raw);
    let assigned = |standing| Assigned {
        channel: Channel::Hotline,
        received_at,
        raw_sha256: &raw_sha256,
        record_id: crate::ids::new_record_id(),
        tracking_code: crate::ids::new_tracking_code(),
        standing,
    };
    let first = app.decoder.app(&checked, Vec::new(), assigned(Standing::default()));
    let standing = app.store.standing(&first.report.reporter.reference, received_at).await.map_err(store_problem)?;
    let report = app.decoder.app(&checked, Vec::new(), assigned(standing)).report;
    // The code here is a stand-in (nothing is stored): shown as blanks, so that no operator
    // reads a code to a caller before the call is submitted.
    let mut reply = replies::compose(&report, &standing, app.decoder.rules.zone);
    reply.text = reply.text.replace(&report.tracking_code, CODE_PLACEHOLDER);
    let out_of_scope = (report.triage.scope == Scope::OutOfScope).then(|| OutOfScope {
        reason: report
            .triage
            .scope_reason
            .and_then(|r| serde_json::to_value(r).ok().and_then(|v| v.as_str().map(str::to_owned))),
        script: reply.text.clone(),
    });
    let ward = match &report.location {
        None => WardCheck { state: "none", code: None, name: None },
        Some(location) => match (&location.ward, &location.address) {
            (Some(w), _) => WardCheck { state: "found", code: Some(w.code.clone()), name: Some(w.name.clone()) },
            // A former unit's name that two of today's wards share: the operator asks which.
            (None, Some(address))
                if app.decoder.geo.match_address(address) == hue_intake_adapters::geo::AddressMatch::Ambiguous =>
            {
                WardCheck { state: "ambiguous", code: None, name: None }
            }
            (None, _) => WardCheck { state: "not_found", code: None, name: None },
        },
    };
    Ok(Json(CallCheck {
        disposition: report.disposition,
        missing: report.triage.missing,
        out_of_scope,
        night_window: report.triage.window == Window::Night,
        language: report.language.code,
        urgency: report.urgency.level,
        ward,
        reply,
    }))
}

/// Huế's 40 wards and the former units merged into each, for the address field.
///
/// Behind the operator's token like the rest of the API: the console's login uses it to
/// check the token.
#[utoipa::path(get, path = "/v1/hotline/wards", tag = "hotline",
    responses(
        (status = 200, description = "The wards, phường first", body = Vec<WardName>),
        (status = 401, description = "Missing, unknown or revoked operator token", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = [])))]
pub async fn wards(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<WardName>>, Problem> {
    operator(&app, &headers).await?;
    Ok(Json(
        WARDS
            .iter()
            .map(|w| WardName {
                code: w.code,
                name: w.name,
                old_names: OLD_UNITS.iter().filter(|o| o.successor == w.code).map(|o| o.name).collect(),
            })
            .collect(),
    ))
}
