//! The contracts of hue-intake as Rust types: the canonical report v1 (SPEC §1), tracking
//! codes (SPEC §2), category codes (SPEC §6) and the first-party inbound bodies (SPEC §7).
//!
//! This crate owns the *shape* of what crosses the gateway's edges and nothing else: no I/O,
//! no clocks, no randomness, no business rules. Field names and enumeration values are a
//! contract with the case system and the clients; the committed JSON Schema
//! (`json/report.v1.schema.json`) is generated from these types and a test fails when the two
//! drift apart.

#![forbid(unsafe_code)]

pub mod core;
pub mod inbound;
pub mod reply;
pub mod report;
pub mod tracking;

pub use core::{CoreStatus, CoreUpdate};
pub use inbound::{CallBody, InboundLocation, InboundMedia, InboundReporter, ReportBody};
pub use reply::Reply;
pub use report::*;
pub use tracking::{TrackingCode, TrackingCodeError};

/// The JSON Schema of the canonical report v1, as generated from the types (Draft 2020-12).
///
/// Every property is listed as required: the gateway always writes every key, with `null`
/// where there is no value (SPEC §1), and consumers may rely on that.
pub fn report_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(report::Report);
    let mut value = serde_json::to_value(schema).expect("a generated schema is always valid JSON");
    require_every_property(&mut value);
    value
}

fn require_every_property(node: &mut serde_json::Value) {
    match node {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(props)) = map.get("properties") {
                let all: Vec<serde_json::Value> = props.keys().cloned().map(serde_json::Value::String).collect();
                map.insert("required".to_owned(), serde_json::Value::Array(all));
            }
            map.values_mut().for_each(require_every_property);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(require_every_property),
        _ => {}
    }
}

/// The committed copy of the schema, for tests and for `hue-intake schema`.
pub const REPORT_SCHEMA_JSON: &str = include_str!("../json/report.v1.schema.json");

/// The JSON Schema of `POST /v1/core/updates` (Draft 2020-12), generated from [`CoreUpdate`].
pub fn core_update_json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(core::CoreUpdate)).expect("a generated schema is always valid JSON")
}

/// The committed copy of the core update schema.
pub const CORE_UPDATE_SCHEMA_JSON: &str = include_str!("../json/core_update.v1.schema.json");
