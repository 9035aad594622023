//! The admin API of sanctions (R12): staff list and inspect reporters' standing, confirm or
//! dismiss violations and lift locks; the case system reports violations it finds.
//!
//! Authentication is by the `[staff.NAME]` tokens (never a client's), authorisation by role:
//! `case_system` may only report. Every change needs a `why`, recorded with the member's name
//! in the audit. Answers name reporters only by their pseudonymous `reporter_ref` and never
//! carry sealed data or report text (R8). The rules are the store's; this module only
//! translates HTTP to store calls and answers to problem+json.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hue_intake_adapters::error::InputError;
use hue_intake_schemas::TrackingCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::auth::StaffMember;
use super::problem::Problem;
use crate::config::StaffRole;
use crate::store::StoreError;
use crate::store::sanctions::{
    Change, LockScope, ReporterSanctions, ReporterStanding, SanctionChange, SanctionError, SanctionFilter,
    ViolationSource, reason,
};

/// The most reporters one list answer holds.
pub const MAX_LIST: usize = 1000;

/// `POST /v1/admin/violations`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"tracking_code": "HUE-7KQ4-M2XD", "why": "insults the ward officer (case 2026/1142)"})))]
pub struct ReportViolation {
    /// The record that violated R12: `HUE-XXXX-XXXX`, case-insensitive.
    #[schema(pattern = r"^[Hh][Uu][Ee]-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}-[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{4}$")]
    pub tracking_code: String,
    /// Why it is a violation; recorded in the audit. Required, not blank.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000)]
    pub why: Option<String>,
}

/// `POST /v1/admin/violations/{id}/confirm` and `…/dismiss`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"why": "checked the wording: abusive"})))]
pub struct Reason {
    /// Why; recorded in the audit. Required, not blank.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000)]
    pub why: Option<String>,
}

/// `POST /v1/admin/sanctions/{reporter_ref}/lift`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"scope": "account", "why": "the reporter apologised; agreed with the head of office"})))]
pub struct Lift {
    /// `account` (report violations) or `interaction`.
    pub scope: LockScope,
    /// Why; recorded in the audit. Required, not blank.
    #[serde(default)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 2000)]
    pub why: Option<String>,
}

/// Reporters with violations or locks.
#[derive(Debug, Serialize, ToSchema)]
pub struct SanctionList {
    pub reporters: Vec<ReporterStanding>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only reporters with a lock in force now.
    pub locked: Option<bool>,
    /// Only reporters with violations waiting for review.
    pub review: Option<bool>,
    /// At most this many (default 100, at most 1000), most recently changed first.
    pub limit: Option<usize>,
}

fn staff_only(member: &StaffMember) -> Result<(), Problem> {
    match member.role {
        StaffRole::Staff => Ok(()),
        StaffRole::CaseSystem => Err(Problem::forbidden("the case system may only report violations")),
    }
}

/// A JSON body, checked strictly (unknown fields refused with their pointer).
fn body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, bytes: &Bytes) -> Result<T, Problem> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !content_type.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(Problem::unsupported_media_type("send application/json"));
    }
    InputError::parse_json(bytes).map_err(Problem::from)
}

/// The reason for a change, required ([`reason`] says what the audit keeps of it).
fn why(value: Option<String>) -> Result<String, Problem> {
    reason(value.as_deref()).map_err(|detail| {
        let slug =
            if value.as_deref().is_some_and(|v| !v.trim().is_empty()) { "invalid-field" } else { "missing-field" };
        Problem::new(StatusCode::BAD_REQUEST, slug, detail).at("/why")
    })
}

fn sanction_problem(error: SanctionError) -> Problem {
    match error {
        SanctionError::NotFound(what) => Problem::not_found(what),
        SanctionError::Conflict(why) => Problem::conflict(&why),
        SanctionError::Store(e) => store_problem(e),
    }
}

fn store_problem(error: StoreError) -> Problem {
    tracing::warn!(error = %error, "Store failed on the admin API; answering 503.");
    Problem::unavailable("the store cannot answer now; nothing was changed, retry later")
}

/// Reporters with violations or locks, most recently changed first.
#[utoipa::path(get, path = "/v1/admin/sanctions", tag = "sanctions",
    params(ListQuery),
    responses(
        (status = 200, description = "Reporters", body = SanctionList),
        (status = 400, description = "A filter that does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The case system may only report", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff" = [])))]
pub async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Result<Json<SanctionList>, Problem> {
    staff_only(app.staff.authenticate(&headers)?)?;
    let filter = SanctionFilter {
        locked: query.locked.unwrap_or(false),
        review: query.review.unwrap_or(false),
        limit: query.limit.unwrap_or(100).clamp(1, MAX_LIST),
        ..SanctionFilter::default()
    };
    let reporters = app.store.list_sanctions(&filter).await.map_err(store_problem)?;
    Ok(Json(SanctionList { reporters }))
}

/// One reporter's standing, violations and audit events (newest first).
#[utoipa::path(get, path = "/v1/admin/sanctions/{reporter_ref}", tag = "sanctions",
    params(("reporter_ref" = String, Path, description = "The pseudonymous reporter reference, `rp_…`")),
    responses(
        (status = 200, description = "The reporter's sanctions", body = ReporterSanctions),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The case system may only report", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No sanctions recorded for this reporter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff" = [])))]
pub async fn show(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(reporter_ref): Path<String>,
) -> Result<Json<ReporterSanctions>, Problem> {
    staff_only(app.staff.authenticate(&headers)?)?;
    let found = app.store.reporter_sanctions(&reporter_ref).await.map_err(store_problem)?;
    found.map(Json).ok_or_else(|| Problem::not_found("no sanctions are recorded for this reporter"))
}

/// Report a record as a violation of R12; it counts against its reporter at once.
///
/// A record counts once: reporting it again answers 200 with the existing violation, and a
/// violation the gateway queued for review is confirmed instead of doubled. 201 when a new
/// violation was recorded.
#[utoipa::path(post, path = "/v1/admin/violations", tag = "sanctions",
    request_body = ReportViolation,
    responses(
        (status = 201, description = "Recorded and counted", body = SanctionChange),
        (status = 200, description = "The record already counted, or its review violation is now confirmed", body = SanctionChange),
        (status = 400, description = "Malformed body, unknown field, bad tracking code, missing why", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No record has this tracking code", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Stored but not recorded yet; retry shortly", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff" = [])))]
pub async fn report(State(app): State<AppState>, headers: HeaderMap, bytes: Bytes) -> Result<Response, Problem> {
    let member = app.staff.authenticate(&headers)?;
    let request: ReportViolation = body(&headers, &bytes)?;
    let code = TrackingCode::parse(&request.tracking_code)
        .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, "invalid-field", e.to_string()).at("/tracking_code"))?;
    let why = why(request.why)?;
    let source = match member.role {
        StaffRole::Staff => ViolationSource::Staff,
        StaffRole::CaseSystem => ViolationSource::CaseSystem,
    };
    let change = app
        .store
        .report_violation(code.as_str(), source, Change::now(member.name.clone(), why))
        .await
        .map_err(sanction_problem)?;
    tracing::info!(actor = %member.name, tracking_code = %code, created = change.created, "Violation reported.");
    let status = if change.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(change)).into_response())
}

/// Confirm a violation waiting for review (or reinstate a dismissed one): it counts.
#[utoipa::path(post, path = "/v1/admin/violations/{id}/confirm", tag = "sanctions",
    params(("id" = i64, Path, description = "The violation's id")),
    request_body = Reason,
    responses(
        (status = 200, description = "Confirmed; the standing after it", body = SanctionChange),
        (status = 400, description = "Malformed body, unknown field, missing why", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The case system may only report", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No violation has this id", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already counted", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff" = [])))]
pub async fn confirm(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<SanctionChange>, Problem> {
    let (member, id, why) = violation_change(&app, &headers, &id, &bytes)?;
    let change = app.store.confirm_violation(id, Change::now(member, why)).await.map_err(sanction_problem)?;
    Ok(Json(change))
}

/// Dismiss a violation: it counts no more, and a lock whose count falls below 4 is lifted.
#[utoipa::path(post, path = "/v1/admin/violations/{id}/dismiss", tag = "sanctions",
    params(("id" = i64, Path, description = "The violation's id")),
    request_body = Reason,
    responses(
        (status = 200, description = "Dismissed; the standing after it", body = SanctionChange),
        (status = 400, description = "Malformed body, unknown field, missing why", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The case system may only report", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No violation has this id", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already dismissed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff" = [])))]
pub async fn dismiss(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Json<SanctionChange>, Problem> {
    let (member, id, why) = violation_change(&app, &headers, &id, &bytes)?;
    let change = app.store.dismiss_violation(id, Change::now(member, why)).await.map_err(sanction_problem)?;
    Ok(Json(change))
}

/// Authenticates staff, reads `{why}` and the violation id of a confirm or dismiss.
fn violation_change(
    app: &AppState,
    headers: &HeaderMap,
    id: &str,
    bytes: &Bytes,
) -> Result<(String, i64, String), Problem> {
    let member = app.staff.authenticate(headers)?;
    staff_only(member)?;
    // Not a number names no violation: the same 404 as an unknown number.
    let id: i64 = id.parse().map_err(|_| Problem::not_found("no violation has this id"))?;
    let request: Reason = body(headers, bytes)?;
    Ok((member.name.clone(), id, why(request.why)?))
}

/// Lift a reporter's account or interaction lock; counting in that scope starts again now.
#[utoipa::path(post, path = "/v1/admin/sanctions/{reporter_ref}/lift", tag = "sanctions",
    params(("reporter_ref" = String, Path, description = "The pseudonymous reporter reference, `rp_…`")),
    request_body = Lift,
    responses(
        (status = 200, description = "Lifted; the standing after it", body = SanctionChange),
        (status = 400, description = "Malformed body, unknown field or scope, missing why", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or unknown token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The case system may only report", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No sanctions recorded for this reporter", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/json", body = Problem, content_type = "application/problem+json"),
    ),
    security(("staff" = [])))]
pub async fn lift(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(reporter_ref): Path<String>,
    bytes: Bytes,
) -> Result<Json<SanctionChange>, Problem> {
    let member = app.staff.authenticate(&headers)?;
    staff_only(member)?;
    let request: Lift = body(&headers, &bytes)?;
    let why = why(request.why)?;
    let change = app
        .store
        .lift(&reporter_ref, request.scope, Change::now(member.name.clone(), why))
        .await
        .map_err(sanction_problem)?;
    tracing::info!(actor = %member.name, scope = request.scope.as_str(), "Sanction lifted.");
    Ok(Json(change))
}
