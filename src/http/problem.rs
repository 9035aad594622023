//! Errors as `application/problem+json` (RFC 9457), the only error format the API speaks.
//!
//! To add a kind of problem: add a constructor here with its status and a stable `type`
//! slug, use it at the call site, and list its status on the route's OpenAPI `responses`.
//! Details say what is wrong and where (`pointer`, `part`), never the offending value: it may
//! be personal data (R8). Responses that other layers produce with a bare status (timeouts,
//! 404, 405, load shedding) are rewritten into this format by [`ensure_problem_body`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hue_intake_adapters::error::{InputError, Refusal};
use serde::Serialize;
use utoipa::ToSchema;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// A problem report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:hue-intake:problem:<slug>`.
    #[serde(rename = "type", serialize_with = "type_uri")]
    #[schema(value_type = String)]
    pub slug: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// JSON pointer (RFC 6901) of the offending field, for invalid fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub pointer: Option<Box<str>>,
    /// Name of the offending multipart part.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub part: Option<Box<str>>,
    /// Seconds after which a retry may succeed (503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, slug: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            slug,
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            pointer: None,
            part: None,
            retry_after: None,
        }
    }

    pub fn at(mut self, pointer: impl Into<String>) -> Self {
        let pointer = pointer.into();
        self.pointer = (!pointer.is_empty()).then(|| pointer.into_boxed_str());
        self
    }

    pub fn part(mut self, name: impl Into<String>) -> Self {
        self.part = Some(name.into().into_boxed_str());
        self
    }

    pub fn unauthorized(detail: &str) -> Self {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    pub fn forbidden(detail: &str) -> Self {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn not_found(detail: &str) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    pub fn conflict(detail: &str) -> Self {
        Problem::new(StatusCode::CONFLICT, "conflict", detail)
    }

    pub fn unsupported_media_type(detail: &str) -> Self {
        Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", detail)
    }

    pub fn too_large(detail: &str) -> Self {
        Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    /// The store cannot commit: nothing was stored, the client should retry.
    pub fn unavailable(detail: &str) -> Self {
        let mut p = Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        p.retry_after = Some(5);
        p
    }

    pub fn internal() -> Self {
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; it has been logged")
    }
}

fn type_uri<S: serde::Serializer>(slug: &&'static str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("urn:hue-intake:problem:{slug}"))
}

impl From<InputError> for Problem {
    fn from(e: InputError) -> Self {
        let (status, slug) = match e.refusal {
            Refusal::Malformed => (StatusCode::BAD_REQUEST, "malformed"),
            Refusal::UnknownField => (StatusCode::BAD_REQUEST, "unknown-field"),
            Refusal::Missing => (StatusCode::BAD_REQUEST, "missing-field"),
            Refusal::Invalid => (StatusCode::BAD_REQUEST, "invalid-field"),
            Refusal::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
            Refusal::UnsupportedMedia => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
        };
        Problem::new(status, slug, e.detail).at(e.pointer)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&self).expect("problems serialise");
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Middleware: any error response that is not problem+json yet becomes one.
pub async fn ensure_problem_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_problem =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if is_problem {
        return response;
    }
    let (slug, detail) = match status {
        StatusCode::NOT_FOUND => ("not-found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => ("method-not-allowed", "this resource does not take that method"),
        StatusCode::REQUEST_TIMEOUT => ("timeout", "the request took longer than the server allows"),
        StatusCode::PAYLOAD_TOO_LARGE => ("too-large", "the body is larger than this endpoint accepts"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "the server is overloaded; retry later"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported-media-type", "content type not accepted here"),
        _ if status.is_client_error() => ("bad-request", "the request was not accepted"),
        _ => ("internal", "internal error; it has been logged"),
    };
    let mut problem = Problem::new(status, slug, detail);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        problem.retry_after = Some(1);
    }
    let (mut parts, body) = problem.into_response().into_parts();
    // Keep headers the original set (e.g. Allow on 405), replacing only the body's type.
    let original = response.headers().clone();
    for (name, value) in original.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            parts.headers.entry(name).or_insert(value.clone());
        }
    }
    Response::from_parts(parts, body)
}
