//! Typed configuration: embedded defaults → TOML file → environment (`HUE_INTAKE__…`).
//!
//! The embedded defaults are `deploy/hue-intake.example.toml` itself, so the documented
//! reference and the running defaults cannot disagree. This module only reads and checks
//! configuration; it opens no files beyond the config file and creates nothing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveTime;
use figment::Figment;
use figment::providers::{Env, Format, Toml};
use hue_intake_adapters::attachment::Limits;
use hue_intake_adapters::triage::Rules;
use hue_intake_schemas::Channel;
use serde::Deserialize;

/// The documented defaults, compiled in.
pub const DEFAULTS_TOML: &str = include_str!("../deploy/hue-intake.example.toml");

/// Prefix of environment variables; sections and keys are separated by `__`.
pub const ENV_PREFIX: &str = "HUE_INTAKE__";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub store: Store,
    pub media: Media,
    pub privacy: Privacy,
    pub triage: Triage,
    pub geo: Geo,
    pub sink: Sink,
    /// Downstream destinations by name; none configured means one file sink named `file`
    /// writing `reports.jsonl` under the data directory (the embedded default).
    #[serde(default)]
    pub sinks: BTreeMap<String, SinkTarget>,
    pub log: Log,
    pub chat: Chat,
    pub facebook: Facebook,
    pub zalo: Zalo,
    pub mail: Mail,
    /// The case system's results endpoint (issue 7 item 5).
    pub core: Core,
    /// Rate limits per source address and per sender (issue 8 item 5).
    pub rate_limits: RateLimits,
    /// Whether this process folds stored messages into records.
    pub pipeline: PipelineSection,
    #[serde(default)]
    pub clients: BTreeMap<String, Client>,
    /// Staff and the case system on the admin API (R12 sanctions).
    #[serde(default)]
    pub staff: BTreeMap<String, StaffMember>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Server {
    pub listen: SocketAddr,
    /// The gateway's public base URL (e.g. `https://gw.hue.gov.vn`): signed media links given
    /// to Open311 receivers start with it. Without it, no `media_url` is sent.
    #[serde(default)]
    pub public_url: Option<String>,
    pub request_timeout_secs: u64,
    pub max_json_bytes: usize,
    pub max_concurrent_requests: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    pub data_dir: PathBuf,
    pub group_commit_max_batch: usize,
    pub max_database_bytes: Option<u64>,
    /// `postgres://` or `postgresql://`: the store is PostgreSQL there; unset: SQLite in
    /// `data_dir`.
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Media {
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
    pub max_audio_bytes: u64,
    pub max_file_bytes: u64,
    pub max_report_bytes: u64,
    pub max_files_per_report: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Privacy {
    pub seal_key: Option<String>,
    pub seal_key_id: String,
    /// Earlier sealing keys by id (base64), kept after a rotation so values sealed under them
    /// still open; new values are sealed with `seal_key` only.
    #[serde(default)]
    pub previous_keys: BTreeMap<String, String>,
    /// The id of the key `reporter.ref` is derived from (default: `seal_key_id`). Set it to the
    /// first key's id when rotating, so every reporter keeps their reference (R12 counts).
    #[serde(default)]
    pub reporter_ref_key_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Triage {
    pub night_start: String,
    pub night_end: String,
    pub incomplete_hold_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Geo {
    pub boundaries: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    /// Most records delivered per batch.
    pub batch_size: usize,
    /// How often due records are looked for besides the wake-up after each commit (ms).
    pub poll_interval_ms: u64,
    /// First back-off after a failed attempt (ms); it doubles per failure, with jitter.
    pub retry_base_ms: u64,
    /// Longest back-off (s): a destination down for an hour is probed at least this often.
    pub retry_max_secs: u64,
    /// Longest wait for one delivery (HTTP answer, NATS acknowledgement), in seconds.
    pub timeout_secs: u64,
}

/// One downstream destination (`[sinks.<name>]`). The URL's scheme says what it is:
/// `file:PATH`, `http(s)://…` (the core case system), `open311+http(s)://BASE` (GeoReport v2),
/// `nats://HOST:PORT` (JetStream).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkTarget {
    pub url: String,
    /// HTTP: a bearer token sent as `Authorization`.
    #[serde(default)]
    pub bearer_token: Option<String>,
    /// HTTP: when set, `X-Hue-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`.
    #[serde(default)]
    pub signing_secret: Option<String>,
    /// Open311: the `api_key` (required).
    #[serde(default)]
    pub api_key: Option<String>,
    /// Open311: `jurisdiction_id`, when the endpoint serves several.
    #[serde(default)]
    pub jurisdiction_id: Option<String>,
    /// Open311: `service_code` per category code (SPEC §6).
    #[serde(default)]
    pub service_codes: BTreeMap<String, String>,
    /// Open311: `service_code` of records without a mapped category (required).
    #[serde(default)]
    pub default_service_code: Option<String>,
    /// Open311: how long signed media links stay valid, in seconds.
    #[serde(default = "default_media_url_ttl_secs")]
    pub media_url_ttl_secs: u64,
    /// NATS: the subject records are published to (required).
    #[serde(default)]
    pub subject: Option<String>,
    /// NATS: a JetStream stream to create (or update) over `subject` at start; without it the
    /// stream must exist already.
    #[serde(default)]
    pub stream: Option<String>,
    /// NATS: the stream's duplicate window in seconds (re-publishes inside it are dropped).
    #[serde(default = "default_duplicate_window_secs")]
    pub duplicate_window_secs: u64,
}

fn default_media_url_ttl_secs() -> u64 {
    7 * 24 * 3600
}

fn default_duplicate_window_secs() -> u64 {
    24 * 3600
}

/// What kind of destination a sink URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    File(PathBuf),
    Http(String),
    /// The GeoReport v2 base URL (without `/requests.json`).
    Open311(String),
    Nats(String),
}

impl SinkTarget {
    pub fn kind(&self) -> anyhow::Result<SinkKind> {
        let url = self.url.trim();
        if let Some(path) = url.strip_prefix("file:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                anyhow::bail!("a file sink URL needs a path, e.g. file:reports.jsonl");
            }
            return Ok(SinkKind::File(PathBuf::from(path)));
        }
        if let Some(base) = url.strip_prefix("open311+")
            && (base.starts_with("http://") || base.starts_with("https://"))
        {
            return Ok(SinkKind::Open311(base.trim_end_matches('/').to_owned()));
        }
        if url.starts_with("http://") || url.starts_with("https://") {
            return Ok(SinkKind::Http(url.to_owned()));
        }
        if url.starts_with("nats://") || url.starts_with("tls://") {
            return Ok(SinkKind::Nats(url.to_owned()));
        }
        anyhow::bail!("the URL must start with file:, http(s)://, open311+http(s):// or nats://")
    }

    /// The embedded default: the file sink.
    pub fn default_file() -> SinkTarget {
        SinkTarget {
            url: "file:reports.jsonl".to_owned(),
            bearer_token: None,
            signing_secret: None,
            api_key: None,
            jurisdiction_id: None,
            service_codes: BTreeMap::new(),
            default_service_code: None,
            media_url_ttl_secs: default_media_url_ttl_secs(),
            subject: None,
            stream: None,
            duplicate_window_secs: default_duplicate_window_secs(),
        }
    }

    fn validate(&self, name: &str) -> anyhow::Result<()> {
        let kind = self.kind().map_err(|e| anyhow::anyhow!("sinks.{name}.url: {e}"))?;
        match kind {
            SinkKind::Open311(_) => {
                if self.api_key.is_none() {
                    anyhow::bail!("sinks.{name}.api_key is required for an Open311 sink");
                }
                if self.default_service_code.is_none() {
                    anyhow::bail!("sinks.{name}.default_service_code is required for an Open311 sink");
                }
            }
            SinkKind::Nats(_) if self.subject.is_none() => {
                anyhow::bail!("sinks.{name}.subject is required for a NATS sink");
            }
            _ => {}
        }
        Ok(())
    }
}

/// Assembly, media fetching and replies of the chat channels (Facebook, Zalo).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chat {
    pub quiet_secs: u64,
    pub max_draft_secs: u64,
    pub max_webhook_bytes: usize,
    pub fetch_attempts: u32,
    pub fetch_timeout_secs: u64,
    pub send_attempts: u32,
    pub send_timeout_secs: u64,
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
}

/// The Facebook Page. The webhook is on when `app_secret` and `verify_token` are set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facebook {
    pub page_id: Option<String>,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    pub page_access_token: Option<String>,
    pub graph_base_url: String,
    pub graph_version: String,
}

impl Facebook {
    pub fn webhook_enabled(&self) -> bool {
        self.app_secret.is_some() && self.verify_token.is_some()
    }
}

/// The Zalo Official Account. The webhook is on when `app_id` and `oa_secret_key` are set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zalo {
    pub app_id: Option<String>,
    pub oa_secret_key: Option<String>,
    pub app_secret_key: Option<String>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub signature_freshness_secs: u64,
    pub openapi_base_url: String,
    pub oauth_base_url: String,
}

impl Zalo {
    pub fn webhook_enabled(&self) -> bool {
        self.app_id.is_some() && self.oa_secret_key.is_some()
    }
}

/// The mailbox dttm@: IMAP in, SMTP out (reference/channels.md §3).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mail {
    pub imap_host: Option<String>,
    pub imap_port: u16,
    pub imap_security: Security,
    pub allow_plaintext: bool,
    pub imap_username: Option<String>,
    pub imap_password: Option<String>,
    pub imap_oauth2_token: Option<String>,
    pub mailbox: String,
    pub processed_mailbox: String,
    pub ca_file: Option<PathBuf>,
    pub idle_renew_secs: u64,
    pub poll_interval_secs: u64,
    pub fetch_batch: u32,
    pub reconnect_min_secs: u64,
    pub reconnect_max_secs: u64,
    pub max_message_bytes: u64,
    pub smtp_host: Option<String>,
    pub smtp_port: u16,
    pub smtp_security: Security,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<String>,
    pub from_address: String,
    pub from_name: String,
    pub message_id_domain: String,
    pub max_replies_per_address_per_day: u32,
    pub smtp_timeout_secs: u64,
}

impl Mail {
    /// The poller runs when a mailbox is configured.
    pub fn poller_enabled(&self) -> bool {
        self.imap_host.as_deref().is_some_and(|h| !h.is_empty())
    }

    /// Replies go out by e-mail when an SMTP server is configured.
    pub fn smtp_enabled(&self) -> bool {
        self.smtp_host.as_deref().is_some_and(|h| !h.is_empty())
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.poller_enabled() {
            if self.imap_username.is_none() {
                anyhow::bail!("mail.imap_username must be set when mail.imap_host is");
            }
            if self.imap_password.is_none() && self.imap_oauth2_token.is_none() {
                anyhow::bail!("mail.imap_password or mail.imap_oauth2_token must be set when mail.imap_host is");
            }
            if self.imap_security == Security::Plain && !self.allow_plaintext {
                anyhow::bail!(
                    "mail.imap_security = \"plain\" sends the password in clear: set mail.allow_plaintext = true for a local server"
                );
            }
            if self.mailbox == self.processed_mailbox {
                anyhow::bail!("mail.processed_mailbox must differ from mail.mailbox");
            }
            if self.fetch_batch == 0 {
                anyhow::bail!("mail.fetch_batch must be at least 1");
            }
        }
        if self.smtp_enabled() && self.smtp_security == Security::Plain && !self.allow_plaintext {
            anyhow::bail!(
                "mail.smtp_security = \"plain\" sends mail in clear: set mail.allow_plaintext = true for a local server"
            );
        }
        Ok(())
    }
}

/// `[core]`: the case system posting results back (`POST /v1/core/updates`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Core {
    /// The core's bearer token; `None`: the endpoint is not enabled (404).
    #[serde(default)]
    pub token: Option<String>,
    /// Seconds between recomputations of the R10 overdue gauge.
    pub overdue_refresh_secs: u64,
    /// Added to the clock when judging reply windows (drills and tests; 0 in production).
    pub clock_offset_secs: i64,
}

/// `[pipeline]`: the worker that folds stored messages into records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSection {
    /// `false`: this process only receives (acknowledges and stores); another instance on the
    /// same PostgreSQL database, or this one's next start, makes the records.
    pub enabled: bool,
}

/// `[rate_limits]`: GCRA quotas per client address (public API) and per sender identity
/// (app/portal account, Messenger PSID, Zalo user), answered 429 with `Retry-After`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// Sustained requests per minute from one address; 0 turns the address limit off.
    pub per_address_per_minute: u32,
    /// Requests one address may make at once before the sustained rate applies.
    pub per_address_burst: u32,
    /// Sustained messages per minute from one sender; 0 turns the sender limit off.
    pub per_sender_per_minute: u32,
    /// Messages one sender may send at once before the sustained rate applies.
    pub per_sender_burst: u32,
    /// Proxies (addresses or CIDR blocks) whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

/// How a mail connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded with STARTTLS before anything is sent.
    Starttls,
    /// No TLS (a server on this machine only; needs `mail.allow_plaintext`).
    Plain,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Log {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Auto,
    Json,
    Pretty,
}

/// A first-party client: its channel and bearer token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub channel: Channel,
    pub token: String,
}

/// A member of staff, or the case system, on the admin API: bearer token and role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffMember {
    pub token: String,
    pub role: StaffRole,
}

/// What a staff token may do on the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Everything: list, show, report, confirm, dismiss, lift.
    Staff,
    /// Only report violations (`POST /v1/admin/violations`).
    CaseSystem,
}

impl Config {
    /// Loads defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut figment = Figment::from(Toml::string(DEFAULTS_TOML));
        if let Some(path) = file {
            if !path.exists() {
                anyhow::bail!("config file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        Self::from_figment(figment)
    }

    /// Only the embedded defaults (tests and `normalize` without a file build on this).
    pub fn defaults() -> Config {
        Self::from_figment(Figment::from(Toml::string(DEFAULTS_TOML))).expect("the embedded defaults are valid")
    }

    fn from_figment(figment: Figment) -> anyhow::Result<Config> {
        let config: Config = figment.extract().map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.night_rules()?;
        for (name, client) in &self.clients {
            if !matches!(client.channel, Channel::App | Channel::Portal) {
                anyhow::bail!(
                    "clients.{name}.channel must be app or portal (other channels authenticate their own way)"
                );
            }
            if client.token.len() < 16 {
                anyhow::bail!("clients.{name}.token must be at least 16 characters");
            }
        }
        for (name, member) in &self.staff {
            if member.token.len() < 16 {
                anyhow::bail!("staff.{name}.token must be at least 16 characters");
            }
            // One token, one identity: a client token must never also open the admin API.
            if self.clients.values().any(|c| c.token == member.token) {
                anyhow::bail!("staff.{name}.token is also a client's token; give staff their own");
            }
        }
        if let Some(token) = &self.core.token {
            if token.len() < 16 {
                anyhow::bail!("core.token must be at least 16 characters");
            }
            if self.clients.values().any(|c| &c.token == token) || self.staff.values().any(|m| &m.token == token) {
                anyhow::bail!("core.token is also a client's or staff token; give the core its own");
            }
        }
        self.mail.validate()?;
        for (name, target) in &self.sinks {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                anyhow::bail!("sinks.{name}: a sink name is letters, digits, _ and - only");
            }
            target.validate(name)?;
        }
        if self.store.group_commit_max_batch == 0 || self.sink.batch_size == 0 {
            anyhow::bail!("store.group_commit_max_batch and sink.batch_size must be at least 1");
        }
        Ok(())
    }

    /// R2's window as configured.
    pub fn night_rules(&self) -> anyhow::Result<Rules> {
        let parse = |key: &str, value: &str| {
            NaiveTime::parse_from_str(value, "%H:%M")
                .map_err(|_| anyhow::anyhow!("triage.{key} must be a local time as HH:MM, e.g. 07:30"))
        };
        Ok(Rules {
            night_start: parse("night_start", &self.triage.night_start)?,
            night_end: parse("night_end", &self.triage.night_end)?,
            ..Rules::default()
        })
    }

    pub fn media_limits(&self) -> Limits {
        Limits {
            image: self.media.max_image_bytes,
            video: self.media.max_video_bytes,
            audio: self.media.max_audio_bytes,
            file: self.media.max_file_bytes,
            per_report: self.media.max_report_bytes,
            files_per_report: self.media.max_files_per_report,
        }
    }

    /// The configured sinks by name, or the embedded default (one file sink named `file`).
    pub fn sink_targets(&self) -> BTreeMap<String, SinkTarget> {
        if self.sinks.is_empty() {
            BTreeMap::from([("file".to_owned(), SinkTarget::default_file())])
        } else {
            self.sinks.clone()
        }
    }

    /// A path from the config: absolute as is, relative under the data directory.
    pub fn data_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() { path.to_path_buf() } else { self.store.data_dir.join(path) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_the_documented_ones() {
        let c = Config::defaults();
        assert_eq!(c.server.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.store.data_dir, PathBuf::from("./data"));
        assert_eq!(c.store.database_url, None, "SQLite unless a database is named");
        assert_eq!(c.media.max_image_bytes, 20 * 1024 * 1024);
        assert_eq!(c.media.max_video_bytes, 100 * 1024 * 1024);
        assert!(c.clients.is_empty());
        assert!(c.staff.is_empty(), "no admin access unless configured");
        assert!(c.privacy.seal_key.is_none());
        let rules = c.night_rules().unwrap();
        assert_eq!(rules, Rules::default());
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "[server]\nlisten = \"127.0.0.1:9999\"\n[clients.mobile]\nchannel = \"app\"\ntoken = \"0123456789abcdef\"\n",
        )
        .unwrap();
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(Toml::file(&file))
            .merge(figment::providers::Serialized::default("sink.batch_size", 7));
        let c =
            Config::from_figment(figment.merge(Toml::string("[store]\ndatabase_url = \"postgres://db/hue\""))).unwrap();
        assert_eq!(c.store.database_url.as_deref(), Some("postgres://db/hue"));
        assert_eq!(c.server.listen.port(), 9999);
        assert_eq!(c.clients["mobile"].channel, Channel::App);
        assert_eq!(c.sink.batch_size, 7);
    }

    #[test]
    fn trusted_proxies_can_come_from_the_environment() {
        // Env parses each value as figment's Value (deploy/compose.yaml sets the list so).
        let list: figment::value::Value = r#"["172.16.0.0/12", "10.0.0.0/8"]"#.parse().unwrap();
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(figment::providers::Serialized::default("rate_limits.trusted_proxies", list));
        let c = Config::from_figment(figment).unwrap();
        assert_eq!(c.rate_limits.trusted_proxies, ["172.16.0.0/12", "10.0.0.0/8"]);
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge(Toml::string("[triage]\nnight_end = \"7h30\""));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("triage.night_end"), "{err}");
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(Toml::string("[clients.x]\nchannel = \"zalo\"\ntoken = \"0123456789abcdef\""));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("clients.x.channel"), "{err}");
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(Toml::string("[staff.lan]\nrole = \"staff\"\ntoken = \"short\""));
        let err = Config::from_figment(figment).unwrap_err().to_string();
        assert!(err.contains("staff.lan.token"), "{err}");
        let figment = Figment::from(Toml::string(DEFAULTS_TOML))
            .merge(Toml::string("[staff.lan]\nrole = \"janitor\"\ntoken = \"0123456789abcdef\""));
        assert!(Config::from_figment(figment).is_err());
        let figment = Figment::from(Toml::string(DEFAULTS_TOML)).merge(Toml::string("[server]\nlisten_typo = 1"));
        assert!(Config::from_figment(figment).is_err());
    }
}
