//! Starting a real server for a test, and small helpers around it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hue_intake::config::{Client, Config};
use hue_intake_schemas::Channel;
use serde_json::Value;
use tempfile::TempDir;

pub const APP_TOKEN: &str = "app-token-0123456789abcdef";
pub const PORTAL_TOKEN: &str = "portal-token-0123456789abcdef";
pub const HOTLINE_TOKEN: &str = "hotline-token-0123456789abcdef";

/// A configuration for tests: temp data dir, three clients, no night window (so results do
/// not depend on the hour the suite runs), port 0.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::defaults();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.store.data_dir = dir.to_path_buf();
    c.triage.night_start = "00:00".into();
    c.triage.night_end = "00:00".into();
    // Every test client is 127.0.0.1 and most post under one account: the limits are tried
    // in rate_limits.rs, which turns them on.
    c.rate_limits.per_address_per_minute = 0;
    c.rate_limits.per_sender_per_minute = 0;
    for (name, channel, token) in [
        ("mobile", Channel::App, APP_TOKEN),
        ("portal", Channel::Portal, PORTAL_TOKEN),
        ("callcentre", Channel::Hotline, HOTLINE_TOKEN),
    ] {
        c.clients.insert(name.into(), Client { channel, token: token.into() });
    }
    c
}

pub struct Server {
    pub base: String,
    pub dir: TempDir,
    pub http: reqwest::Client,
    running: Option<hue_intake::Running>,
    delivered: tokio::sync::watch::Receiver<u64>,
}

impl Server {
    pub async fn start() -> Server {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Server {
        // reqwest is built without a rustls provider of its own; a client built before one
        // is installed panics (reference/rust-anchors.md §2.2).
        hue_intake::net::install_crypto_provider();
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(dir.path());
        adjust(&mut config);
        if std::env::var_os("TEST_LOG").is_some() {
            hue_intake::telemetry::init_logging(&config.log);
        }
        let listener = tokio::net::TcpListener::bind(config.server.listen).await.unwrap();
        let running = hue_intake::start(config, listener).await.unwrap();
        let base = format!("http://{}", running.address);
        let delivered = running.delivered.clone();
        Server { base, dir, http: reqwest::Client::new(), running: Some(running), delivered }
    }

    /// The running server's store (to queue replies as the pipeline would, and inspect them).
    pub fn store(&self) -> hue_intake::store::Store {
        self.running.as_ref().expect("running").store.clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_json(&self, token: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url("/v1/reports")).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn post_raw(&self, token: Option<&str>, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        let mut request = self.http.post(self.url("/v1/reports")).header("content-type", content_type).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Waits (event-driven, bounded) until `n` records have been delivered since start.
    pub async fn delivered(&mut self, n: u64) {
        let reached = tokio::time::timeout(Duration::from_secs(20), self.delivered.wait_for(|d| *d >= n)).await.is_ok();
        let got = *self.delivered.borrow();
        assert!(reached, "{n} deliveries did not happen within 20 s (got {got})");
    }

    pub fn sink_path(&self) -> PathBuf {
        self.dir.path().join("reports.jsonl")
    }

    pub fn sink_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.sink_path())
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("each sink line is JSON"))
            .collect()
    }

    /// Graceful shutdown; returns the data directory for inspection.
    pub async fn stop(mut self) -> TempDir {
        self.running.take().unwrap().stop().await.unwrap();
        self.dir
    }
}

/// Asserts an error answer is problem+json with this status; returns the problem.
pub async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().starts_with("urn:hue-intake:problem:"));
    body
}

/// The committed canonical report schema, as a validator.
pub fn report_validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(hue_intake_schemas::REPORT_SCHEMA_JSON).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

pub fn assert_valid_report(record: &Value) {
    let validator = report_validator();
    let errors: Vec<String> = validator.iter_errors(record).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "record does not match the schema: {errors:#?}");
}

/// Every byte under a directory, for "this never leaks" checks (shared with the chaos harness).
pub use crate::pii::all_bytes_under;

/// Messages stored in the data directory's SQLite file (rows of `inbound`), of one channel or
/// of all; read-only, so it works beside a running server too.
pub async fn stored_messages(dir: &Path, channel: Option<&str>) -> i64 {
    let db = dir.join("hue-intake.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    let n = sqlx::query_scalar("SELECT count(*) FROM inbound WHERE ?1 IS NULL OR channel = ?1")
        .bind(channel)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    n
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A minimal JPEG carrying an EXIF GPS position (degrees given as decimal, written as D/M/S
/// rationals the way phones do).
pub fn jpeg_with_gps(lat: f64, lon: f64) -> Vec<u8> {
    fn dms(value: f64) -> [(u32, u32); 3] {
        let v = value.abs();
        let d = v.trunc();
        let m = ((v - d) * 60.0).trunc();
        let s = ((v - d) * 60.0 - m) * 60.0;
        [(d as u32, 1), (m as u32, 1), ((s * 10000.0).round() as u32, 10000)]
    }
    // TIFF, little-endian. IFD0 at 8 with one entry (GPS IFD pointer); GPS IFD after it.
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend(8u32.to_le_bytes());
    let ifd0_len = 2 + 12 + 4;
    let gps_ifd = 8 + ifd0_len as u32;
    tiff.extend(1u16.to_le_bytes());
    tiff.extend(0x8825u16.to_le_bytes());
    tiff.extend(4u16.to_le_bytes()); // LONG
    tiff.extend(1u32.to_le_bytes());
    tiff.extend(gps_ifd.to_le_bytes());
    tiff.extend(0u32.to_le_bytes());
    let entries = 4u16;
    let gps_len = 2 + 12 * entries as u32 + 4;
    let data_at = gps_ifd + gps_len;
    let mut gps = Vec::new();
    gps.extend(entries.to_le_bytes());
    let mut data = Vec::new();
    let mut entry = |tag: u16, typ: u16, count: u32, inline: Option<[u8; 4]>, payload: Vec<u8>| {
        gps.extend(tag.to_le_bytes());
        gps.extend(typ.to_le_bytes());
        gps.extend(count.to_le_bytes());
        match inline {
            Some(bytes) => gps.extend(bytes),
            None => {
                gps.extend((data_at + data.len() as u32).to_le_bytes());
                data.extend(payload);
            }
        }
    };
    let rationals = |v: [(u32, u32); 3]| {
        v.iter().flat_map(|(n, d)| n.to_le_bytes().into_iter().chain(d.to_le_bytes())).collect::<Vec<u8>>()
    };
    entry(1, 2, 2, Some([if lat >= 0.0 { b'N' } else { b'S' }, 0, 0, 0]), vec![]);
    entry(2, 5, 3, None, rationals(dms(lat)));
    entry(3, 2, 2, Some([if lon >= 0.0 { b'E' } else { b'W' }, 0, 0, 0]), vec![]);
    entry(4, 5, 3, None, rationals(dms(lon)));
    gps.extend(0u32.to_le_bytes());
    tiff.extend(gps);
    tiff.extend(data);
    jpeg_with_exif(&tiff)
}

/// A minimal JPEG whose APP1 segment holds `tiff` as its EXIF block.
pub fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend(tiff);
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe1];
    jpeg.extend(((app1.len() + 2) as u16).to_be_bytes());
    jpeg.extend(app1);
    // A tiny rest of a JPEG: enough for sniffing; no decoder reads the pixels.
    jpeg.extend([0xff, 0xdb, 0x00, 0x04, 0x00, 0x00, 0xff, 0xd9]);
    jpeg.resize(jpeg.len().max(128), 0);
    jpeg
}

pub const STAFF_TOKEN: &str = "staff-token-lan-0123456789abcdef";
pub const CASE_TOKEN: &str = "case-system-token-0123456789abcdef";

/// Adds the admin API's members: `lan` (staff) and `case-system` (case_system).
pub fn with_staff(config: &mut Config) {
    use hue_intake::config::{StaffMember, StaffRole};
    config.staff.insert("lan".into(), StaffMember { token: STAFF_TOKEN.into(), role: StaffRole::Staff });
    config.staff.insert("case-system".into(), StaffMember { token: CASE_TOKEN.into(), role: StaffRole::CaseSystem });
}

impl Server {
    pub async fn admin_get(&self, token: Option<&str>, path: &str) -> reqwest::Response {
        let mut request = self.http.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    pub async fn admin_post(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }
}

pub use crate::pg_schema::PgSchema;
