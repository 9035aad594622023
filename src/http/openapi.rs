//! The OpenAPI 3.1 document of the JSON API, generated from the handlers and types, served at
//! `/openapi.json` and committed as `schemas/json/openapi.json` (a test fails on drift).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, core, health, hotline, media, problem, reports, webhooks};
use crate::store::sanctions;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hue-intake",
        description = "Intake gateway of Huế's field-report service Hue-S (Decision 30/2022). \
                       Every error is application/problem+json (RFC 9457).",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        reports::create,
        reports::status,
        media::serve,
        hotline::calls,
        hotline::check,
        hotline::wards,
        admin::list,
        admin::show,
        admin::report,
        admin::confirm,
        admin::dismiss,
        admin::lift,
        core::updates,
        webhooks::facebook_handshake,
        webhooks::facebook_event,
        webhooks::zalo_event,
        health::healthz,
        health::readyz,
        health::metrics
    ),
    components(schemas(
        problem::Problem,
        health::Readiness,
        health::ChannelReadiness,
        reports::Acknowledgement,
        reports::PublicStatus,
        hotline::CallCheck,
        hotline::OutOfScope,
        hotline::WardCheck,
        hotline::WardName,
        hue_intake_schemas::CallBody,
        admin::ReportViolation,
        admin::Reason,
        admin::Lift,
        admin::SanctionList,
        sanctions::ReporterSanctions,
        sanctions::ReporterStanding,
        sanctions::SanctionChange,
        sanctions::SanctionEvent,
        sanctions::ViolationEntry,
        hue_intake_schemas::CoreUpdate,
        hue_intake_schemas::CoreStatus,
        crate::core_updates::UpdateAnswer,
        crate::core_updates::RelayAnswer,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "reports", description = "Reports, interactions and ratings from first-party clients"),
        (name = "sanctions", description = "R12 sanctions: staff and the case system (admin tokens)"),
        (name = "core", description = "Results back from the case system, relayed to the reporter (R9, R10)"),
        (name = "webhooks", description = "Facebook Page and Zalo OA webhooks, signed by the platforms"),
        (name = "operations", description = "Health and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A client's token from [clients.NAME] in the config; it fixes the client's channel.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "core",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The case system's token from [core] token in the config."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "staff",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A staff or case-system token from [staff.NAME] in the config; its role decides what it may do.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON.
pub fn document() -> serde_json::Value {
    let mut doc = ApiDoc::openapi();
    // The version is the API's contract version, not the crate's build.
    doc.info.version = "1".to_owned();
    serde_json::to_value(doc).expect("the OpenAPI document serialises")
}

pub async fn serve_document() -> Json<serde_json::Value> {
    Json(document())
}
