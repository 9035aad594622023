//! The Open311 GeoReport v2 sink: `POST {base}/requests.json`, form-encoded, one service
//! request per report (channels.md §4).
//!
//! The category maps to a `service_code` (config, with a default); the place is `lat`/`long`
//! when known, else `address_string` (the address, then the ward, then "Huế", most specific
//! first, as the spec orders it); the description leads with the tracking code so the two
//! systems can be matched, and is cut to the spec's 4000 characters; the first photo goes as
//! `media_url`, a signed link the gateway serves until it expires. No personal data is sent:
//! the spec's name, email and phone fields stay empty (R8). Interactions and ratings have no
//! place in GeoReport v2; they are settled without a request (counted as skipped).
//!
//! The answer is an array holding `service_request_id` or `token` (kept as the remote id,
//! the token as `token:<token>`); errors are an array of `{code, description}`, read into the
//! dead letter's reason.

use std::time::Duration;

use chrono::Utc;
use serde_json::Value;

use super::http::{client, judge, one_by_one, retry_after, transport_error};
use super::{MediaLinks, Outcome};
use crate::config::SinkTarget;
use crate::store::Due;

/// GeoReport v2's limit on `description`.
const MAX_DESCRIPTION_CHARS: usize = 4000;

#[derive(Debug)]
pub struct Open311Sink {
    client: reqwest::Client,
    requests_url: String,
    api_key: String,
    jurisdiction_id: Option<String>,
    service_codes: std::collections::BTreeMap<String, String>,
    default_service_code: String,
    media: Option<MediaLinks>,
    media_ttl: chrono::Duration,
}

impl Open311Sink {
    pub fn new(base: &str, target: &SinkTarget, timeout: Duration, media: Option<MediaLinks>) -> anyhow::Result<Self> {
        Ok(Open311Sink {
            client: client(timeout)?,
            requests_url: format!("{base}/requests.json"),
            api_key: target.api_key.clone().ok_or_else(|| anyhow::anyhow!("an Open311 sink needs api_key"))?,
            jurisdiction_id: target.jurisdiction_id.clone(),
            service_codes: target.service_codes.clone(),
            default_service_code: target
                .default_service_code
                .clone()
                .ok_or_else(|| anyhow::anyhow!("an Open311 sink needs default_service_code"))?,
            media,
            media_ttl: chrono::Duration::seconds(target.media_url_ttl_secs.min(i64::MAX as u64) as i64),
        })
    }

    /// One request per report, in order; stops at the first record not taken.
    pub async fn deliver(&self, batch: &[Due]) -> Vec<Outcome> {
        one_by_one(batch, |due| self.post(due)).await
    }

    async fn post(&self, due: &Due) -> Outcome {
        let record: Value = match serde_json::from_str(&due.body) {
            Ok(v) => v,
            Err(_) => return Outcome::Dead("the stored record is not JSON".to_owned()),
        };
        if record["kind"].as_str() != Some("report") {
            metrics::counter!("hue_intake_sink_skipped_total", "sink" => "open311", "kind" => record["kind"].as_str().unwrap_or("unknown").to_owned()).increment(1);
            return Outcome::Delivered(None);
        }
        let form = self.form(&record);
        match self.client.post(&self.requests_url).form(&form).send().await {
            Ok(response) => {
                let status = response.status();
                let retry_after = retry_after(&response);
                let body = response.bytes().await.unwrap_or_default();
                match judge(status, &body, retry_after, request_id) {
                    // The error array, when the receiver sent one, says more than the status.
                    Outcome::Dead(reason) => {
                        Outcome::Dead(errors_of(&body).map_or(reason, |errors| {
                            super::short_reason(&format!("HTTP {}: {errors}", status.as_u16()))
                        }))
                    }
                    other => other,
                }
            }
            Err(e) => Outcome::Retry { error: transport_error(&e), retry_after: None },
        }
    }

    /// The form fields of one report.
    pub fn form(&self, record: &Value) -> Vec<(&'static str, String)> {
        let mut form = vec![("api_key", self.api_key.clone())];
        if let Some(jurisdiction) = &self.jurisdiction_id {
            form.push(("jurisdiction_id", jurisdiction.clone()));
        }
        let code = record["category"]["code"].as_str().and_then(|c| self.service_codes.get(c));
        form.push(("service_code", code.unwrap_or(&self.default_service_code).clone()));
        let location = &record["location"];
        match (location["lat"].as_f64(), location["lon"].as_f64()) {
            (Some(lat), Some(lon)) => {
                form.push(("lat", lat.to_string()));
                form.push(("long", lon.to_string()));
            }
            _ => form.push(("address_string", address_string(location))),
        }
        form.push(("description", description(record)));
        if let (Some(links), Some(media)) = (&self.media, first_photo(record)) {
            form.push(("media_url", links.link(media.0, media.1, Utc::now() + self.media_ttl)));
        }
        form
    }
}

/// Most specific first: the address as given, the ward, the city.
fn address_string(location: &Value) -> String {
    let parts: Vec<&str> = [location["address"].as_str(), location["ward"]["name"].as_str(), Some("Huế")]
        .into_iter()
        .flatten()
        .filter(|p| !p.trim().is_empty())
        .collect();
    parts.join(", ")
}

fn description(record: &Value) -> String {
    let code = record["tracking_code"].as_str().unwrap_or_default();
    let title = record["title"].as_str().unwrap_or_default();
    let text = record["description"].as_str().unwrap_or_default();
    let body = if text.starts_with(title) { text.to_owned() } else { format!("{title}\n{text}") };
    let full = format!("[{code}] {}", body.trim());
    match full.char_indices().nth(MAX_DESCRIPTION_CHARS) {
        Some((cut, _)) => full[..cut].to_owned(),
        None => full,
    }
}

/// The first image of the record: its SHA-256 and type.
fn first_photo(record: &Value) -> Option<(&str, &str)> {
    record["media"].as_array()?.iter().find_map(|m| {
        if m["kind"].as_str() != Some("image") {
            return None;
        }
        Some((m["sha256"].as_str()?, m["mime"].as_str()?))
    })
}

/// `service_request_id`, or `token:<token>`, from the answer's first element.
fn request_id(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let first = answer.as_array()?.first()?;
    let text = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    text(&first["service_request_id"]).or_else(|| text(&first["token"]).map(|t| format!("token:{t}")))
}

/// `code description; …` from GeoReport's error array.
fn errors_of(body: &[u8]) -> Option<String> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let errors: Vec<String> = answer
        .as_array()?
        .iter()
        .map(|e| {
            let code = match &e["code"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => String::new(),
            };
            format!("{code} {}", e["description"].as_str().unwrap_or_default()).trim().to_owned()
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(media: Option<MediaLinks>) -> Open311Sink {
        let mut target = crate::config::SinkTarget::default_file();
        target.url = "open311+http://127.0.0.1:9/georeport/v2".into();
        target.api_key = Some("key-1".into());
        target.default_service_code = Some("KHAC".into());
        target.service_codes.insert("trees".into(), "CAY-XANH".into());
        Open311Sink::new("http://127.0.0.1:9/georeport/v2", &target, Duration::from_secs(1), media).unwrap()
    }

    #[test]
    fn a_report_becomes_georeport_fields_without_personal_data() {
        let record = serde_json::json!({
            "tracking_code": "HUE-7K3M-9Q2A", "kind": "report",
            "title": "Cây đổ chắn đường", "description": "Cây đổ chắn đường Lê Lợi.",
            "category": {"code": "trees", "confidence": 0.8},
            "location": {"lat": 16.4637, "lon": 107.5909, "address": null, "ward": null},
            "media": [{"kind": "image", "mime": "image/jpeg", "sha256": "ab".repeat(32)}],
            "reporter": {"ref": "rp_1", "has_name": true}
        });
        let links = MediaLinks::new(b"k", "https://gw.example");
        let form = sink(Some(links)).form(&record);
        let get = |k: &str| form.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("service_code"), Some("CAY-XANH"));
        assert_eq!(get("lat"), Some("16.4637"));
        assert_eq!(get("long"), Some("107.5909"));
        assert_eq!(get("address_string"), None);
        assert_eq!(get("description"), Some("[HUE-7K3M-9Q2A] Cây đổ chắn đường Lê Lợi."));
        assert!(get("media_url").unwrap().starts_with("https://gw.example/v1/media/abab"));
        for personal in ["email", "phone", "first_name", "last_name", "account_id", "device_id"] {
            assert_eq!(get(personal), None, "{personal} is never sent (R8)");
        }
    }

    #[test]
    fn without_coordinates_the_address_goes_most_specific_first() {
        let record = serde_json::json!({
            "tracking_code": "HUE-7K3M-9Q2A", "kind": "report", "title": "Ngập", "description": "x".repeat(5000),
            "category": null,
            "location": {"lat": null, "lon": null, "address": "kiệt 12 Nguyễn Trãi", "ward": {"code": "1", "name": "Phú Xuân"}},
            "media": []
        });
        let form = sink(None).form(&record);
        let get = |k: &str| form.iter().find(|(key, _)| *key == k).map(|(_, v)| v.clone());
        assert_eq!(get("service_code").as_deref(), Some("KHAC"));
        assert_eq!(get("address_string").as_deref(), Some("kiệt 12 Nguyễn Trãi, Phú Xuân, Huế"));
        assert_eq!(get("description").unwrap().chars().count(), MAX_DESCRIPTION_CHARS);
        assert_eq!(get("media_url"), None);
    }

    #[test]
    fn answers_and_error_arrays_are_read() {
        assert_eq!(
            request_id(br#"[{"service_request_id":"638344","service_notice":"ok"}]"#).as_deref(),
            Some("638344")
        );
        assert_eq!(request_id(br#"[{"token":"12345"}]"#).as_deref(), Some("token:12345"));
        assert_eq!(
            errors_of(br#"[{"code":400,"description":"service_code not found"},{"code":"X","description":"lat"}]"#)
                .as_deref(),
            Some("400 service_code not found; X lat")
        );
    }
}
