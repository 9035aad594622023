//! The load and fault harness (issue 8 item 1): owns one whole run, from the set-up to the
//! verdict. Shared by `cargo bench --bench chaos` (the documented command, release binary, any
//! length) and the bounded CI run `tests/it/chaos.rs` (debug binary, ~30 s).
//!
//! One run: a small tmpfs is mounted as the data directory (unmounted by a guard, also on
//! failure); the real `hue-intake serve` runs on it with both webhooks, an app client, an
//! operator, the mail poller on the real Dovecot of `scripts/mail-servers`, and an HTTP sink to
//! a double of the core case system served here. Mixed traffic goes out at a set rate: signed
//! Messenger and Zalo webhooks, app reports as JSON and as multipart with a small JPEG, hotline
//! calls, mails APPENDed over IMAP. Every message carries a unique marker (its id on its
//! channel, which the record's `sources` name) and the same recognisable fake personal data.
//! Meanwhile a schedule of faults: SIGKILL and restart on the same data directory and port;
//! the core answering 503, then refusing connections, then back; the tmpfs filled to ENOSPC,
//! then freed. After the traffic stops it waits (polling, with a deadline) until every
//! acknowledged message is at the core and the outbox is empty, stops the gateway, and
//! reconciles: every message that got a 2xx (or whose APPEND succeeded) is in exactly one
//! record delivered to the core (app and hotline under the tracking code their 202 gave), no
//! record key came with two bodies, no marker is in two records, and no personal data is in the
//! logs (debug level), the metrics, the core's payloads or the data directory. It returns the
//! figures and the list of failures.

#![allow(dead_code)] // the test does not parse flags; the bench does

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const APP_TOKEN: &str = "chaos-app-token-0123456789abcdef";
const FB_APP_SECRET: &str = "chaos-fb-app-secret";
const FB_PAGE_ID: &str = "102938475610293";
const ZALO_APP_ID: &str = "4411223344556677889";
const ZALO_OA_SECRET: &str = "chaos-zalo-oa-secret";
const IMAP_PORT: u16 = 10143;
const IMAP_PASSWORD: &str = "hue-test";

// The fake personal data every message carries (R8): none of it may come out anywhere.
const NAME: &str = "Tôn Nữ Kiều Trinh";
const PHONE: &str = "0905 777 313";
const EMAIL: &str = "kieu.trinh.chaos@example.vn";
const TEXT_PHONE: &str = "0913 468 024";
const TEXT_EMAIL: &str = "lien.he.chaos@example.com";
const CALLER: &str = "0234 3 811 717";
/// Messenger PSIDs and Zalo user ids are personal data; each message has its own sender (one
/// draft per sender), all under these prefixes, which the leak search looks for.
const PSID_PREFIX: &str = "9909090";
const ZALO_USER_PREFIX: &str = "8808080";

/// What a run does; `--help` of the bench explains each.
#[derive(Debug, Clone)]
pub struct Options {
    pub seconds: u64,
    /// Messages per second, all channels together.
    pub rate: u32,
    pub kills: u32,
    /// Length of the core outage; default 15 % of the run.
    pub core_down_secs: Option<f64>,
    /// Length of the disk-full period; default 15 % of the run.
    pub disk_full_secs: Option<f64>,
    /// Size of the tmpfs; default enough for the run's messages (at least 64 MiB).
    pub tmpfs_mib: Option<u64>,
    /// Longest wait for the outbox to drain after the traffic stops.
    pub drain_secs: u64,
    /// Retries of an HTTP message after a 5xx or no answer (same body).
    pub retries: u32,
    /// One more SIGKILL half-way through the disk-full period, restarting on the full disk.
    pub kill_while_full: bool,
    /// Keep the work directory (config, logs) instead of deleting it.
    pub keep: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: 60,
            rate: 100,
            kills: 2,
            core_down_secs: None,
            disk_full_secs: None,
            tmpfs_mib: None,
            drain_secs: 180,
            retries: 2,
            kill_while_full: true,
            keep: false,
        }
    }
}

pub const USAGE: &str = "\
cargo bench --bench chaos -- [FLAGS]

Mixed traffic on every channel at a set rate against the real `hue-intake serve`, with faults
(SIGKILL + restart, core down, disk full), then a reconciliation. Needs root (tmpfs mount) and
the mail servers (HUE_TEST_MAIL_DIR=/var/tmp/hue-intake-mail ./scripts/mail-servers start).

  --seconds N        length of the traffic, in seconds (default 60)
  --rate N           messages per second over all channels (default 100); the mix per ten
                     messages: 3 Messenger, 3 Zalo, 1 app JSON, 1 app multipart with a JPEG,
                     1 hotline call, 1 mail APPENDed to Dovecot
  --kills N          SIGKILLs of the gateway, each followed by a restart on the same data
                     directory and port (default 2; in the first and last quarter of the run)
  --core-down S      seconds the core is down, half answering 503, half refusing connections
                     (default 15 % of the run, from 25 % of it)
  --disk-full S      seconds the tmpfs stays full (a filler file written to ENOSPC), from 50 %
                     of the run (default 15 % of the run)
  --tmpfs-mib N      size of the tmpfs data directory (default: room for the run, >= 64)
  --drain-secs N     longest wait for every acknowledged message to be delivered after the
                     traffic stops (default 180)
  --retries N        retries of an HTTP message after a 5xx or no answer, same body, 0.3 s,
                     0.6 s … apart, as apps and the platforms retry (default 2)
  --no-kill-while-full
                     no SIGKILL half-way through the disk-full period (by default the
                     gateway is also killed then and restarted on the full disk)
  --keep             keep the work directory (config, gateway logs) and print its path
  --help             this text

Exit status 0 when nothing acknowledged was lost, nothing was delivered twice and no personal
data leaked; 1 otherwise (the failures are printed); 2 on bad flags.";

impl Options {
    /// Reads the flags (cargo's own `--bench` is ignored). `Err` is the message to print.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut i = 0;
        while i < args.len() {
            let flag = args[i].as_str();
            let mut value = || -> Result<&str, String> {
                i += 1;
                args.get(i).map(String::as_str).ok_or_else(|| format!("{flag} needs a value"))
            };
            fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
                v.parse().map_err(|_| format!("{flag}: not a number: {v:?}"))
            }
            match flag {
                "--bench" => {}
                "--seconds" => o.seconds = number(flag, value()?)?,
                "--rate" => o.rate = number(flag, value()?)?,
                "--kills" => o.kills = number(flag, value()?)?,
                "--core-down" => o.core_down_secs = Some(number(flag, value()?)?),
                "--disk-full" => o.disk_full_secs = Some(number(flag, value()?)?),
                "--tmpfs-mib" => o.tmpfs_mib = Some(number(flag, value()?)?),
                "--drain-secs" => o.drain_secs = number(flag, value()?)?,
                "--retries" => o.retries = number(flag, value()?)?,
                "--no-kill-while-full" => o.kill_while_full = false,
                "--keep" => o.keep = true,
                "--help" | "-h" => return Err(USAGE.to_owned()),
                other => return Err(format!("unknown flag {other:?}\n\n{USAGE}")),
            }
            i += 1;
        }
        if o.seconds < 10 || o.rate == 0 {
            return Err("--seconds must be at least 10 and --rate at least 1".to_owned());
        }
        Ok(o)
    }

    fn core_down(&self) -> Duration {
        Duration::from_secs_f64(self.core_down_secs.unwrap_or(self.seconds as f64 * 0.15))
    }

    fn disk_full(&self) -> Duration {
        Duration::from_secs_f64(self.disk_full_secs.unwrap_or(self.seconds as f64 * 0.15))
    }

    /// Room for every message of the run (about 12 KiB each stored: sealed raw body, record,
    /// events, outbox row, media, indexes, WAL), never below 64 MiB.
    fn tmpfs(&self) -> u64 {
        self.tmpfs_mib.unwrap_or_else(|| (self.seconds * u64::from(self.rate) * 12 / 1024).max(64))
    }
}

// ---------------------------------------------------------------------------------------------
// Channels and messages

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Channel {
    Facebook,
    Zalo,
    App,
    AppMedia,
    Hotline,
    Mail,
}

impl Channel {
    const ALL: [Channel; 6] =
        [Channel::Facebook, Channel::Zalo, Channel::App, Channel::AppMedia, Channel::Hotline, Channel::Mail];
    /// The mix, per ten messages.
    const MIX: [Channel; 10] = [
        Channel::Facebook,
        Channel::Zalo,
        Channel::App,
        Channel::Facebook,
        Channel::Zalo,
        Channel::AppMedia,
        Channel::Hotline,
        Channel::Facebook,
        Channel::Zalo,
        Channel::Mail,
    ];

    fn name(self) -> &'static str {
        match self {
            Channel::Facebook => "facebook",
            Channel::Zalo => "zalo",
            Channel::App => "app json",
            Channel::AppMedia => "app jpeg",
            Channel::Hotline => "hotline",
            Channel::Mail => "mail",
        }
    }
}

/// How a message was answered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    /// An HTTP status; a successful IMAP APPEND counts as 200.
    Status(u16),
    /// No answer: `connect` (refused), `timeout`, `cut` (the connection closed mid-way).
    Transport(&'static str),
}

impl Answer {
    fn ok(&self) -> bool {
        matches!(self, Answer::Status(200..=299))
    }
}

/// One message sent, and what came back.
#[derive(Debug, Clone)]
struct Sent {
    channel: Channel,
    /// The `sources[].message_id` its record will name.
    source: String,
    answer: Answer,
    /// The tracking code of a 202 (app, hotline).
    code: Option<String>,
    /// When it was sent and answered, from the start of the run.
    sent: Duration,
    answered: Duration,
    /// 0 for the first attempt, then each retry of the same body.
    attempt: u32,
}

/// Message `n` of the run: where it goes, its body and headers, the source its record names.
struct Message {
    path: &'static str,
    body: Body,
    headers: Vec<(&'static str, String)>,
    source: String,
}

enum Body {
    Json(Vec<u8>),
    Multipart(String, Vec<u8>),
}

/// A small JPEG (the magic bytes the gateway sniffs, a JFIF header, filler, the end marker),
/// made unique by the marker so every upload is its own file on the data directory.
fn jpeg(marker: &str) -> Vec<u8> {
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0];
    jpeg.extend([0xff, 0xfe]);
    let comment = format!("chaos {marker} ").repeat(64);
    jpeg.extend(((comment.len() + 2) as u16).to_be_bytes());
    jpeg.extend(comment.as_bytes());
    jpeg.extend([0xff, 0xd9]);
    jpeg
}

/// The description every channel sends: an in-scope, polite report with a place, the marker,
/// and contacts in the text (which the gateway must take out).
fn text(marker: &str, n: u64) -> String {
    format!(
        "Đèn đường hỏng trước số {} Lê Lợi, phường Vĩnh Ninh, tối om cả đoạn ({marker}). Liên hệ {TEXT_PHONE} hoặc {TEXT_EMAIL}.",
        n % 200 + 1
    )
}

fn message(channel: Channel, marker: &str, n: u64) -> Message {
    let text = text(marker, n);
    match channel {
        Channel::Facebook => {
            let ms = chrono::Utc::now().timestamp_millis();
            let mid = format!("m.{marker}");
            let body = serde_json::to_vec(&json!({
                "object": "page",
                "entry": [{ "id": FB_PAGE_ID, "time": ms, "messaging": [{
                    "sender": { "id": format!("{PSID_PREFIX}{n:010}") }, "recipient": { "id": FB_PAGE_ID },
                    "timestamp": ms, "message": { "mid": mid, "text": text }
                }]}]
            }))
            .unwrap();
            let signature = crate::signing::facebook(FB_APP_SECRET, &body);
            Message {
                path: "/webhooks/facebook",
                body: Body::Json(body),
                headers: vec![("x-hub-signature-256", signature)],
                source: format!("facebook:{mid}"),
            }
        }
        Channel::Zalo => {
            let timestamp = chrono::Utc::now().timestamp_millis().to_string();
            let body = serde_json::to_vec(&json!({
                "app_id": ZALO_APP_ID, "user_id_by_app": "3300112233445566778", "event_name": "user_send_text",
                "timestamp": timestamp, "sender": { "id": format!("{ZALO_USER_PREFIX}{n:012}") },
                "recipient": { "id": "2012345678901234567" }, "message": { "text": text, "msg_id": marker }
            }))
            .unwrap();
            let signature = crate::signing::zalo(ZALO_APP_ID, ZALO_OA_SECRET, &body, &timestamp);
            Message {
                path: "/webhooks/zalo",
                body: Body::Json(body),
                headers: vec![("x-zevent-signature", signature)],
                source: format!("zalo:{marker}"),
            }
        }
        Channel::App | Channel::AppMedia => {
            let report = json!({
                "client_message_id": marker,
                "reporter": { "name": NAME, "phone": PHONE, "email": EMAIL }, "consent": false,
                "description": format!("Tôi là {NAME}. {text}"),
                "location": { "lat": 16.4637, "lon": 107.5909 }, "category": "lighting_power"
            });
            let body = serde_json::to_vec(&report).unwrap();
            Message {
                path: "/v1/reports",
                body: if channel == Channel::App {
                    Body::Json(body)
                } else {
                    Body::Multipart(report.to_string(), jpeg(marker))
                },
                headers: vec![("authorization", format!("Bearer {APP_TOKEN}"))],
                source: format!("app:{marker}"),
            }
        }
        Channel::Hotline => {
            let call = json!({
                "call_id": marker, "operator_id": "op-chaos", "caller_number": CALLER, "caller_name": NAME,
                "caller_email": EMAIL, "consent": false,
                "transcript": format!("KH: Tôi là {NAME}, số {CALLER}. {text}\nĐTV: Dạ em ghi nhận."),
                "address": "12 Lê Lợi, phường Thuận Hóa", "lat": 16.4637, "lon": 107.5909, "urgent": false
            });
            Message {
                path: "/v1/hotline/calls",
                body: Body::Json(serde_json::to_vec(&call).unwrap()),
                // The operator's token is only known at run time: added by the sender.
                headers: Vec::new(),
                source: format!("hotline:{marker}"),
            }
        }
        Channel::Mail => unreachable!("mails go over IMAP"),
    }
}

/// A citizen's mail: the sender's name and address in `From`, contacts in the text.
fn mail(marker: &str, n: u64) -> (Vec<u8>, String) {
    let name = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, NAME);
    let id = format!("{marker}@chaos.example.org");
    let raw = format!(
        "From: =?UTF-8?B?{name}?= <{EMAIL}>\r\nTo: dttm@hue.test\r\nSubject: Den duong hong {n}\r\n\
         Message-ID: <{id}>\r\nDate: {}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        chrono::Utc::now().to_rfc2822(),
        text(marker, n)
    );
    (raw.into_bytes(), format!("email:{id}"))
}

// ---------------------------------------------------------------------------------------------
// The core double

/// The city's case system: takes each POST (201 with a case id) unless it is down (503). Keeps
/// the first body under each `Idempotency-Key`, counts resends of the same body, and keeps
/// every other body under a known key as a conflict (a duplicate).
#[derive(Clone, Default)]
struct Core {
    down: Arc<AtomicBool>,
    posts: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    resends: Arc<AtomicU64>,
    state: Arc<Mutex<CoreState>>,
}

#[derive(Default)]
struct CoreState {
    /// Body by record id (= Idempotency-Key).
    taken: BTreeMap<String, String>,
    /// Record ids by source message id: more than one is a duplicate.
    by_source: BTreeMap<String, BTreeSet<String>>,
    /// Tracking code by record id.
    codes: BTreeMap<String, String>,
    conflicts: Vec<(String, String)>,
    problems: Vec<String>,
    /// When the last record was first taken, from the start of the run.
    last_taken: Option<Instant>,
}

async fn core_post(State(core): State<Core>, headers: HeaderMap, body: Bytes) -> (StatusCode, axum::Json<Value>) {
    core.posts.fetch_add(1, Ordering::Relaxed);
    if core.down.load(Ordering::SeqCst) {
        core.refused.fetch_add(1, Ordering::Relaxed);
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "title": "Service Unavailable" })));
    }
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = String::from_utf8_lossy(&body).into_owned();
    let record: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let mut state = core.state.lock().unwrap();
    if key.is_empty() || record["id"].as_str() != Some(key.as_str()) {
        state.problems.push(format!("a POST whose Idempotency-Key {key:?} is not its record id"));
    }
    match state.taken.get(&key) {
        Some(first) if *first == text => {
            core.resends.fetch_add(1, Ordering::Relaxed);
        }
        Some(_) => state.conflicts.push((key.clone(), text)),
        None => {
            for source in record["sources"].as_array().into_iter().flatten() {
                if let Some(id) = source["message_id"].as_str() {
                    state.by_source.entry(id.to_owned()).or_default().insert(key.clone());
                }
            }
            if let Some(code) = record["tracking_code"].as_str() {
                state.codes.insert(key.clone(), code.to_owned());
            }
            state.taken.insert(key.clone(), text);
            state.last_taken = Some(Instant::now());
        }
    }
    (StatusCode::CREATED, axum::Json(json!({ "case_id": format!("CASE-{}", key.get(..8).unwrap_or("x")) })))
}

/// The core's listener: stopped to refuse connections, started again on the same port.
struct CoreServer {
    core: Core,
    port: u16,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl CoreServer {
    async fn start(core: Core, port: u16) -> CoreServer {
        // The port was just freed by `stop`: rebinding may need a moment (polled, bounded).
        let deadline = Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind the core double again on {port}: {e}"),
            }
        };
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().route("/intake/records", axum::routing::post(core_post)).with_state(core.clone());
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
        });
        CoreServer { core, port, stop, task }
    }

    /// Closes the listener (new connections are refused); open connections are closed too.
    async fn stop(self) -> (Core, u16) {
        self.stop.cancel();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(3), self.task).await.is_err() {
            abort.abort();
        }
        (self.core, self.port)
    }
}

// ---------------------------------------------------------------------------------------------
// The gateway process and its data directory

/// A tmpfs mounted for the run; unmounted when dropped (also while unwinding from a failure).
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, mib: u64) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| format!("mkdir {}: {e}", path.display()))?;
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(path)
            .status()
            .map_err(|e| format!("mount: {e}"))?;
        if !status.success() {
            return Err(format!("mount -t tmpfs on {} failed ({status}); the harness needs root", path.display()));
        }
        Ok(Tmpfs { path: path.to_owned() })
    }

    /// Bytes in use on the tmpfs (`df`'s used column).
    fn used_bytes(&self) -> u64 {
        let out = Command::new("df").args(["-B1", "--output=used"]).arg(&self.path).output();
        out.ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()))
            .unwrap_or(0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount").arg(&self.path).status().is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds it (a gateway that would not die): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.path).status();
        }
    }
}

/// Writes a filler file on `dir` until the file system says ENOSPC; returns its size.
fn fill(path: &Path) -> std::io::Result<u64> {
    let mut file = std::fs::File::create(path)?;
    let mut total = 0u64;
    for chunk in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        let buf = vec![0xa5u8; chunk];
        loop {
            match file.write(&buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => return Err(e),
            }
        }
    }
    Ok(total)
}

/// The `hue-intake serve` process of the run (restarted after each kill).
struct Gateway {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    starts: u32,
    peak_rss_kib: u64,
}

impl Gateway {
    /// Starts it; returns how long until it announced its address, or `Err` if it did not
    /// (it exited, or said nothing for 30 s): the watcher then tries again, as systemd would.
    fn start(&mut self) -> Result<Duration, String> {
        let started = Instant::now();
        self.starts += 1;
        let (config, log) = (self.config.clone(), self.log.clone());
        let spawned = std::panic::catch_unwind(move || {
            crate::spawn::spawn_serve_logged(env!("CARGO_BIN_EXE_hue-intake"), &config, Some(&log))
        });
        match spawned {
            Ok((child, _)) => {
                self.child = Some(child);
                Ok(started.elapsed())
            }
            Err(_) => {
                self.child = None;
                Err(format!("start {} failed", self.starts))
            }
        }
    }

    fn sample_rss(&mut self) {
        if let Some(child) = &self.child {
            self.peak_rss_kib = self.peak_rss_kib.max(crate::spawn::peak_rss_kib(child.id()));
        }
    }

    fn kill(&mut self) {
        self.sample_rss();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The exit status if the process ended on its own.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, graceful; whether it exited cleanly.
    fn terminate(&mut self) -> bool {
        self.sample_rss();
        self.child.take().is_some_and(|mut child| crate::spawn::terminate(&mut child))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The run's configuration. The per-address rate limit is off: all the traffic comes from
/// 127.0.0.1, standing for many citizens (the per-sender limits stay on; each sender sends one
/// message and its retries).
fn write_config(path: &Path, data: &Path, port: u16, core_port: u16, mail_user: &str, ca_file: &Path) {
    let key = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [11u8; 32]);
    std::fs::write(
        path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\ndata_dir = \"{data}\"\n[privacy]\nseal_key = \"{key}\"\n\
             [triage]\nnight_start = \"00:00\"\nnight_end = \"00:00\"\nincomplete_hold_secs = 0\n\
             [chat]\nquiet_secs = 1\nmax_draft_secs = 3\n\
             [sink]\npoll_interval_ms = 100\nretry_base_ms = 100\nretry_max_secs = 1\ntimeout_secs = 5\n\
             [sinks.core]\nurl = \"http://127.0.0.1:{core_port}/intake/records\"\n\
             [rate_limits]\nper_address_per_minute = 0\n\
             [log]\nlevel = \"debug\"\n\
             [facebook]\napp_secret = \"{FB_APP_SECRET}\"\nverify_token = \"chaos-verify-token\"\npage_id = \"{FB_PAGE_ID}\"\n\
             [zalo]\napp_id = \"{ZALO_APP_ID}\"\noa_secret_key = \"{ZALO_OA_SECRET}\"\n\
             [mail]\nimap_host = \"127.0.0.1\"\nimap_port = {IMAP_PORT}\nimap_security = \"starttls\"\n\
             imap_username = \"{mail_user}\"\nimap_password = \"{IMAP_PASSWORD}\"\nca_file = \"{ca}\"\n\
             poll_interval_secs = 1\nidle_renew_secs = 60\nreconnect_min_secs = 1\nreconnect_max_secs = 2\n\
             [clients.chaos]\nchannel = \"app\"\ntoken = \"{APP_TOKEN}\"\n",
            data = data.display(),
            ca = ca_file.display(),
        ),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The run

/// What every task of the run shares.
struct Shared {
    start: Instant,
    run_id: String,
    base: String,
    operator: String,
    http: reqwest::Client,
    sent: Mutex<Vec<Sent>>,
    core: Core,
}

impl Shared {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn marker(&self, n: u64) -> String {
        format!("chx{}n{n:07}", self.run_id)
    }

    fn record(&self, sent: Sent) {
        self.sent.lock().unwrap().push(sent);
    }

    /// Sources of the messages acknowledged before `before` (from the start of the run).
    fn acked_before(&self, before: Duration) -> BTreeSet<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.answer.ok() && s.answered < before)
            .map(|s| s.source.clone())
            .collect()
    }

    fn all_delivered(&self, sources: &BTreeSet<String>) -> bool {
        let state = self.core.state.lock().unwrap();
        sources.iter().all(|s| state.by_source.contains_key(s))
    }

    async fn metrics(&self) -> Option<String> {
        let answer =
            self.http.get(format!("{}/metrics", self.base)).timeout(Duration::from_secs(3)).send().await.ok()?;
        answer.text().await.ok()
    }
}

/// Sends message `n` like a client would: up to `retries` more times with the same body after
/// a 5xx or no answer (platforms and apps retry), each attempt recorded.
async fn send_http(shared: Arc<Shared>, channel: Channel, n: u64, retries: u32) {
    let marker = shared.marker(n);
    let message = message(channel, &marker, n);
    let url = format!("{}{}", shared.base, message.path);
    for attempt in 0..=retries {
        let mut request = shared.http.post(&url);
        request = match &message.body {
            Body::Json(body) => request.header("content-type", "application/json").body(body.clone()),
            Body::Multipart(report, jpeg) => {
                let form = reqwest::multipart::Form::new()
                    .part(
                        "report",
                        reqwest::multipart::Part::text(report.clone()).mime_str("application/json").unwrap(),
                    )
                    .part("photo", reqwest::multipart::Part::bytes(jpeg.clone()).file_name("anh.jpg"));
                request.multipart(form)
            }
        };
        for (name, value) in &message.headers {
            request = request.header(*name, value);
        }
        if channel == Channel::Hotline {
            request = request.bearer_auth(&shared.operator);
        }
        let sent = shared.now();
        let (answer, code) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let code = match response.json::<Value>().await {
                    Ok(body) if status == 202 => body["tracking_code"].as_str().map(str::to_owned),
                    _ => None,
                };
                (Answer::Status(status), code)
            }
            Err(e) if e.is_connect() => (Answer::Transport("connect"), None),
            Err(e) if e.is_timeout() => (Answer::Transport("timeout"), None),
            Err(_) => (Answer::Transport("cut"), None),
        };
        let final_answer = answer.ok() || matches!(answer, Answer::Status(400..=499));
        shared.record(Sent {
            channel,
            source: message.source.clone(),
            answer,
            code,
            sent,
            answered: shared.now(),
            attempt,
        });
        if final_answer {
            break;
        }
        // A client's back-off (pacing, not synchronisation).
        tokio::time::sleep(Duration::from_millis(300 * u64::from(attempt + 1))).await;
    }
}

type ImapSession = async_imap::Session<tokio::net::TcpStream>;

async fn imap_session(user: &str) -> Option<ImapSession> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", IMAP_PORT)).await.ok()?;
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.ok()??;
    client.login(user, IMAP_PASSWORD).await.ok()
}

/// Appends the mails it is given to the run's INBOX over one IMAP session (reopened when it
/// fails); each successful APPEND is an acknowledged message.
async fn mail_sender(
    shared: Arc<Shared>,
    user: String,
    queue: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<u64>>>,
) {
    let mut session: Option<ImapSession> = None;
    loop {
        let next = queue.lock().await.recv().await;
        let Some(n) = next else { break };
        let (raw, source) = mail(&shared.marker(n), n);
        let sent = shared.now();
        if session.is_none() {
            session = imap_session(&user).await;
        }
        let answer = match session.as_mut() {
            Some(s) => match s.append("INBOX", None, None, &raw).await {
                Ok(()) => Answer::Status(200),
                Err(_) => {
                    session = None;
                    Answer::Transport("cut")
                }
            },
            None => Answer::Transport("connect"),
        };
        shared.record(Sent {
            channel: Channel::Mail,
            source,
            answer,
            code: None,
            sent,
            answered: shared.now(),
            attempt: 0,
        });
    }
    if let Some(mut s) = session {
        let _ = s.logout().await;
    }
}

/// Sends messages at the set rate until `stop` (from the start of the run), then waits for the
/// answers of those in flight.
async fn traffic(shared: Arc<Shared>, rate: u32, retries: u32, stop: Duration, mail_user: String) -> u64 {
    let (mail_tx, mail_rx) = tokio::sync::mpsc::channel::<u64>(100_000);
    let mail_rx = Arc::new(tokio::sync::Mutex::new(mail_rx));
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..3 {
        senders.spawn(mail_sender(shared.clone(), mail_user.clone(), mail_rx.clone()));
    }
    // A ticker paces the traffic (not a synchronisation): missed ticks are made up, so the
    // mean rate is the one asked for.
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    let mut in_flight = tokio::task::JoinSet::new();
    let mut n = 0u64;
    while shared.now() < stop {
        ticker.tick().await;
        let channel = Channel::MIX[(n % 10) as usize];
        if channel == Channel::Mail {
            let _ = mail_tx.send(n).await;
        } else {
            in_flight.spawn(send_http(shared.clone(), channel, n, retries));
        }
        n += 1;
        while in_flight.try_join_next().is_some() {}
    }
    drop(mail_tx);
    while in_flight.join_next().await.is_some() {}
    while senders.join_next().await.is_some() {}
    n
}

/// The figures of one fault.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// (at, restart time) per kill.
    pub kills: Vec<(Duration, Duration)>,
    pub unexpected_exits: Vec<String>,
    pub core_down: Option<(Duration, Duration)>,
    /// From the core's return until the first record taken.
    pub core_first_delivery: Option<Duration>,
    /// From the core's return until every message acknowledged before it was delivered.
    pub core_drain: Option<Duration>,
    pub disk_full: Option<(Duration, Duration)>,
    pub filler_bytes: u64,
    /// From freeing the disk until the first 2xx to a request sent after it.
    pub disk_recovery: Option<Duration>,
}

fn failed_starts(since: Duration, attempts: u32, until: Option<Duration>) -> String {
    let until = until.map_or("the end".to_owned(), |t| format!("{:.1} s", t.as_secs_f64()));
    format!("the gateway could not start from {:.1} s to {until} ({attempts} attempts)", since.as_secs_f64())
}

/// SIGKILL, then a restart at once; a restart that fails is noted (the watcher retries).
async fn kill_and_restart(gateway: &Arc<Mutex<Gateway>>, at: Duration, figures: &mut Faults) {
    let restart = with_gateway(gateway, |g| {
        g.kill();
        g.start()
    })
    .await;
    match restart {
        Ok(took) => figures.kills.push((at, took)),
        Err(e) => {
            figures.kills.push((at, Duration::MAX));
            figures.unexpected_exits.push(format!("no restart after the kill at {:.1} s ({e})", at.as_secs_f64()));
        }
    }
}

/// Runs `what` on the blocking pool with the gateway locked (kill, start, terminate).
async fn with_gateway<T: Send + 'static>(
    gateway: &Arc<Mutex<Gateway>>,
    what: impl FnOnce(&mut Gateway) -> T + Send + 'static,
) -> T {
    let gateway = gateway.clone();
    tokio::task::spawn_blocking(move || what(&mut gateway.lock().unwrap())).await.unwrap()
}

async fn sleep_until(shared: &Shared, at: Duration) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(shared.start + at)).await;
}

/// Polls `check` every 20 ms until it holds or `limit` passes; how long it took.
async fn poll_for(limit: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if check() {
            return Some(started.elapsed());
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The fault schedule: kills in the first and last quarter, the core down from 25 % of the
/// run, the disk full from 50 %.
#[allow(clippy::too_many_arguments)]
async fn faults(
    shared: Arc<Shared>,
    options: Options,
    gateway: Arc<Mutex<Gateway>>,
    core_server: CoreServer,
    filler: PathBuf,
    metrics_seen: Arc<Mutex<Vec<String>>>,
) -> (Faults, CoreServer) {
    let total = Duration::from_secs(options.seconds);
    let mut figures = Faults::default();
    let mut events: Vec<(Duration, u8)> = Vec::new();
    for i in 0..options.kills {
        // Alternate between [5 %, 22 %] and [80 %, 95 %] of the run, evenly inside each.
        let (zone, k) = (i % 2, i / 2);
        let per_zone = if zone == 0 { options.kills.div_ceil(2) } else { options.kills / 2 };
        let (from, to) = if zone == 0 { (0.05, 0.22) } else { (0.80, 0.95) };
        let at = from + (to - from) * f64::from(k + 1) / f64::from(per_zone + 1);
        events.push((total.mul_f64(at), 0));
    }
    events.push((total.mul_f64(0.25), 1));
    events.push((total.mul_f64(0.50), 2));
    events.sort();
    let mut core_server = Some(core_server);
    for (at, kind) in events {
        sleep_until(&shared, at).await;
        match kind {
            0 => {
                if let Some(m) = shared.metrics().await {
                    metrics_seen.lock().unwrap().push(m);
                }
                let at = shared.now();
                kill_and_restart(&gateway, at, &mut figures).await;
            }
            1 => {
                let down = options.core_down();
                let server = core_server.take().unwrap();
                let from = shared.now();
                // First half: up but answering 503; second half: connections refused.
                server.core.down.store(true, Ordering::SeqCst);
                sleep_until(&shared, from + down / 2).await;
                let (core, port) = server.stop().await;
                sleep_until(&shared, from + down).await;
                let server = CoreServer::start(core.clone(), port).await;
                core.down.store(false, Ordering::SeqCst);
                let back = shared.now();
                figures.core_down = Some((from, back - from));
                core_server = Some(server);
                let taken_before = core.state.lock().unwrap().last_taken;
                let acked = shared.acked_before(back);
                let back_at = Instant::now();
                figures.core_first_delivery = poll_for(Duration::from_secs(60), || {
                    core.state.lock().unwrap().last_taken.is_some_and(|t| t > back_at && Some(t) != taken_before)
                })
                .await;
                // Measured from the core's return, like the first delivery.
                figures.core_drain = poll_for(Duration::from_secs(120), || shared.all_delivered(&acked))
                    .await
                    .map(|_| back_at.elapsed());
            }
            _ => {
                let full = options.disk_full();
                let filling = shared.now();
                match fill(&filler) {
                    Ok(bytes) => figures.filler_bytes = bytes,
                    Err(e) => figures.unexpected_exits.push(format!("could not fill the disk: {e}")),
                }
                let from = shared.now();
                if options.kill_while_full {
                    // Half-way: SIGKILL, and a restart on the full disk (it must start, answer
                    // 503 until the disk is freed, and lose nothing it acknowledged before).
                    sleep_until(&shared, filling + full / 2).await;
                    let at = shared.now();
                    kill_and_restart(&gateway, at, &mut figures).await;
                }
                sleep_until(&shared, filling + full).await;
                let _ = std::fs::remove_file(&filler);
                let freed = shared.now();
                figures.disk_full = Some((from, freed - from));
                let first_ok = || {
                    shared
                        .sent
                        .lock()
                        .unwrap()
                        .iter()
                        .any(|s| s.sent >= freed && s.answer.ok() && s.channel != Channel::Mail)
                };
                figures.disk_recovery = poll_for(Duration::from_secs(60), first_ok).await.map(|_| {
                    let sent = shared.sent.lock().unwrap();
                    sent.iter()
                        .filter(|s| s.sent >= freed && s.answer.ok() && s.channel != Channel::Mail)
                        .map(|s| s.answered - freed)
                        .min()
                        .unwrap_or_default()
                });
            }
        }
    }
    (figures, core_server.unwrap())
}

/// Watches the gateway while the run lasts: samples its peak RSS and restarts it (counted as a
/// failure) if it exits on its own.
async fn watch(shared: Arc<Shared>, gateway: Arc<Mutex<Gateway>>, stop: CancellationToken) -> Vec<String> {
    let mut exits = Vec::new();
    let mut failing_since: Option<(Duration, u32)> = None;
    while !stop.is_cancelled() {
        let exited = match gateway.try_lock() {
            Ok(mut g) => {
                g.sample_rss();
                g.exited()
            }
            Err(_) => None,
        };
        if let Some(status) = exited {
            exits.push(format!("the gateway exited on its own at {:.1} s ({status})", shared.now().as_secs_f64()));
        }
        // Not running (it exited, or a restart failed): start it again, as systemd would.
        if exited.is_some() || gateway.try_lock().is_ok_and(|g| g.child.is_none()) {
            let started = with_gateway(&gateway, |g| {
                g.child = None;
                g.start()
            })
            .await;
            // One line per streak of failed starts, not one per attempt.
            match (started, failing_since) {
                (Err(_), None) => failing_since = Some((shared.now(), 1)),
                (Err(_), Some((since, attempts))) => failing_since = Some((since, attempts + 1)),
                (Ok(_), Some((since, attempts))) => {
                    exits.push(failed_starts(since, attempts, Some(shared.now())));
                    failing_since = None;
                }
                (Ok(_), None) => {}
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    if let Some((since, attempts)) = failing_since {
        exits.push(failed_starts(since, attempts, None));
    }
    exits
}

/// The value of one Prometheus sample line starting with `prefix`.
fn metric(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.split_whitespace().last()?.parse().ok())
}

/// The verdict and the figures of a run.
#[derive(Debug, Default)]
pub struct Report {
    pub options: Option<Options>,
    pub sent: u64,
    pub per_channel: BTreeMap<String, BTreeMap<String, u64>>,
    pub messages_per_channel: BTreeMap<String, u64>,
    pub acked: u64,
    /// HTTP attempts after the first, and messages acknowledged only on one of them.
    pub retries: u64,
    pub acked_on_retry: u64,
    pub delivered_records: u64,
    pub core_posts: u64,
    pub core_refused: u64,
    pub resends: u64,
    pub duplicates: Vec<String>,
    pub lost: Vec<String>,
    pub unmatched_records: u64,
    pub leaks: Vec<String>,
    pub failures: Vec<String>,
    pub faults: Faults,
    pub disk_full_answers: BTreeMap<String, u64>,
    pub acked_while_full: u64,
    pub acked_while_full_delivered: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub peak_rss_kib: u64,
    pub drain: Option<Duration>,
    pub tmpfs_mib: u64,
    pub tmpfs_used_bytes: u64,
    pub log_bytes: u64,
    pub log_errors: u64,
    pub workdir: Option<PathBuf>,
}

/// One whole run; panics only on set-up errors it cannot go on from (no mail servers, no root).
pub fn run(options: Options) -> Report {
    hue_intake::net::install_crypto_provider();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run_async(options))
}

async fn run_async(options: Options) -> Report {
    let mail_dir = std::env::var_os("HUE_TEST_MAIL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/hue-intake-mail"));
    let ca_file = mail_dir.join("cert.pem");
    assert!(
        ca_file.is_file() && std::net::TcpStream::connect(("127.0.0.1", IMAP_PORT)).is_ok(),
        "the mail servers are not running: HUE_TEST_MAIL_DIR={} ./scripts/mail-servers start",
        mail_dir.display()
    );
    let work = tempfile::Builder::new().prefix("hue-chaos-").tempdir().unwrap();
    let tmpfs = Tmpfs::mount(&work.path().join("disk"), options.tmpfs()).unwrap_or_else(|e| panic!("{e}"));
    let data = tmpfs.path.join("data");
    let run_id = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let mail_user = format!("chaos-{run_id}@hue.test");
    let core = Core::default();
    let core_server = CoreServer::start(core.clone(), 0).await;
    let port = free_port();
    let config = work.path().join("chaos.toml");
    write_config(&config, &data, port, core_server.port, &mail_user, &ca_file);
    let issued = Command::new(env!("CARGO_BIN_EXE_hue-intake"))
        .args(["operators", "add", "op-chaos", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(issued.status.success(), "hue-intake operators add: {issued:?}");
    let operator = String::from_utf8(issued.stdout).unwrap().trim().to_owned();

    let log = work.path().join("gateway.log");
    let mut gw = Gateway { config, log: log.clone(), child: None, starts: 0, peak_rss_kib: 0 };
    gw.start().expect("the gateway starts");
    let gateway = Arc::new(Mutex::new(gw));
    let shared = Arc::new(Shared {
        start: Instant::now(),
        run_id,
        base: format!("http://127.0.0.1:{port}"),
        operator,
        http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
        sent: Mutex::new(Vec::new()),
        core: core.clone(),
    });
    println!(
        "chaos: {} s at {} messages/s, {} kills, core down {:.1} s, disk full {:.1} s, tmpfs {} MiB, work dir {}",
        options.seconds,
        options.rate,
        options.kills,
        options.core_down().as_secs_f64(),
        options.disk_full().as_secs_f64(),
        options.tmpfs(),
        work.path().display()
    );

    let metrics_seen = Arc::new(Mutex::new(Vec::new()));
    let stop_watch = CancellationToken::new();
    let watcher = tokio::spawn(watch(shared.clone(), gateway.clone(), stop_watch.clone()));
    let fault_task = tokio::spawn(faults(
        shared.clone(),
        options.clone(),
        gateway.clone(),
        core_server,
        tmpfs.path.join("filler"),
        metrics_seen.clone(),
    ));
    let sent_total =
        traffic(shared.clone(), options.rate, options.retries, Duration::from_secs(options.seconds), mail_user).await;
    let (faults, core_server) = fault_task.await.unwrap();

    // Drain: every acknowledged message at the core and nothing pending in the outbox (the
    // gauge is refreshed every few seconds), polled with a deadline.
    let drain_started = Instant::now();
    let acked = shared.acked_before(Duration::MAX);
    let deadline = Duration::from_secs(options.drain_secs);
    let mut drain = None;
    while drain_started.elapsed() < deadline {
        let pending = shared.metrics().await.and_then(|m| metric(&m, "hue_intake_outbox_pending{sink=\"core\"}"));
        if shared.all_delivered(&acked) && pending == Some(0.0) {
            drain = Some(drain_started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    if let Some(m) = shared.metrics().await {
        metrics_seen.lock().unwrap().push(m);
    }
    stop_watch.cancel();
    let unexpected = watcher.await.unwrap();
    let clean = with_gateway(&gateway, |g| g.terminate()).await;
    let peak_rss_kib = gateway.lock().unwrap().peak_rss_kib;
    let _ = core_server.stop().await;

    let mut report = Report {
        sent: sent_total,
        peak_rss_kib,
        drain,
        tmpfs_mib: options.tmpfs(),
        tmpfs_used_bytes: tmpfs.used_bytes(),
        ..Report::default()
    };
    if !clean {
        report.failures.push("the gateway did not exit cleanly on SIGTERM after the drain".to_owned());
    }
    if drain.is_none() {
        report.failures.push(format!("not drained within {} s of the end of the traffic", options.drain_secs));
    }
    report.failures.extend(unexpected);
    report.failures.extend(faults.unexpected_exits.iter().cloned());
    reconcile(&shared, &faults, &mut report);

    // The leak search: logs of every instance, every metrics page scraped, every payload the
    // core received, every byte left on the data directory.
    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    report.log_bytes = logs.len() as u64;
    let metrics = metrics_seen.lock().unwrap().join("\n");
    let payloads = {
        let state = core.state.lock().unwrap();
        let mut all: Vec<&str> = state.taken.values().map(String::as_str).collect();
        all.extend(state.conflicts.iter().map(|(_, body)| body.as_str()));
        all.join("\n")
    };
    let disk = String::from_utf8_lossy(&crate::pii::all_bytes_under(&data)).into_owned();
    let needles = crate::pii::needles(
        &[NAME, "Kiều Trinh", EMAIL, TEXT_EMAIL, PSID_PREFIX, ZALO_USER_PREFIX],
        &[PHONE, TEXT_PHONE, CALLER],
    );
    // The search can find things: the markers are in the logs, the payloads.
    if !payloads.contains(&shared.marker(0)[..10]) {
        report.failures.push("the leak search saw no marker in the core payloads".to_owned());
    }
    report.leaks = crate::pii::found(
        &needles,
        &[("logs", &logs), ("metrics", &metrics), ("payloads to the core", &payloads), ("the data directory", &disk)],
    );
    if logs.contains("panicked at") {
        report.failures.push("the gateway panicked (see its log)".to_owned());
    }
    report.log_errors = logs.lines().filter(|l| l.contains("\"level\":\"ERROR\"")).count() as u64;
    if logs.lines().count() < 100 {
        report.failures.push("the gateway logged almost nothing: the log search would prove nothing".to_owned());
    }
    report.faults = faults;
    report.options = Some(options.clone());
    if options.keep {
        report.workdir = Some(work.keep());
    }
    drop(tmpfs);
    report
}

/// Every acknowledged message in exactly one record at the core, under its code; no marker in
/// two records; no key with two bodies.
fn reconcile(shared: &Shared, faults: &Faults, report: &mut Report) {
    let sent = shared.sent.lock().unwrap();
    let state = shared.core.state.lock().unwrap();
    report.delivered_records = state.taken.len() as u64;
    report.core_posts = shared.core.posts.load(Ordering::Relaxed);
    report.core_refused = shared.core.refused.load(Ordering::Relaxed);
    report.resends = shared.core.resends.load(Ordering::Relaxed);
    report.failures.extend(state.problems.iter().take(5).cloned());
    for (key, _) in &state.conflicts {
        report.duplicates.push(format!("record {key} delivered again with another body"));
    }
    let mut latencies = Vec::new();
    let mut matched: BTreeSet<&str> = BTreeSet::new();
    // Source -> (channel, acknowledged, tracking codes of its 202s, attempt of the last 2xx).
    let mut messages: BTreeMap<&str, (Channel, bool, BTreeSet<String>, u32)> = BTreeMap::new();
    let mut acked_while_full: BTreeSet<&str> = BTreeSet::new();
    for s in sent.iter() {
        let label = match &s.answer {
            Answer::Status(200..=299) => "2xx".to_owned(),
            Answer::Status(code) => code.to_string(),
            Answer::Transport(kind) => (*kind).to_owned(),
        };
        *report.per_channel.entry(s.channel.name().to_owned()).or_default().entry(label.clone()).or_default() += 1;
        if let Some((from, length)) = faults.disk_full
            && s.sent >= from
            && s.sent < from + length
            && s.channel != Channel::Mail
        {
            if s.answer.ok() {
                acked_while_full.insert(s.source.as_str());
            }
            *report.disk_full_answers.entry(label).or_default() += 1;
        }
        if s.attempt > 0 {
            report.retries += 1;
        }
        let message = messages.entry(s.source.as_str()).or_insert((s.channel, false, BTreeSet::new(), 0));
        if s.answer.ok() {
            message.1 = true;
            message.2.extend(s.code.clone());
            message.3 = message.3.max(s.attempt);
            if s.channel != Channel::Mail {
                latencies.push(s.answered - s.sent);
            }
        }
    }
    // Per message (all its attempts): in at most one record; if acknowledged, in exactly one,
    // under the one code its 202s gave.
    for (source, (channel, acked, codes, attempt)) in &messages {
        *report.messages_per_channel.entry(channel.name().to_owned()).or_default() += 1;
        let records = state.by_source.get(*source);
        let count = records.map_or(0, BTreeSet::len);
        if count > 1 {
            report.duplicates.push(format!("{source} is in {count} records"));
        }
        if let Some(records) = records {
            matched.extend(records.iter().map(String::as_str));
        }
        if !acked {
            continue;
        }
        report.acked += 1;
        if *attempt > 0 {
            report.acked_on_retry += 1;
        }
        if codes.len() > 1 {
            report.failures.push(format!("{source}: its attempts were acknowledged under {} codes", codes.len()));
        }
        match records.and_then(|r| r.first()) {
            None => report.lost.push(format!("{source} ({}) acknowledged, never delivered", channel.name())),
            Some(record) => {
                if let Some(code) = codes.first()
                    && state.codes.get(record) != Some(code)
                {
                    report.failures.push(format!("{source} delivered under another code than its 202's"));
                }
            }
        }
    }
    // The 2xx given while the disk was full must have been real commits: each is delivered.
    report.acked_while_full = acked_while_full.len() as u64;
    report.acked_while_full_delivered =
        acked_while_full.iter().filter(|s| state.by_source.contains_key(**s)).count() as u64;
    report.unmatched_records = state.taken.keys().filter(|k| !matched.contains(k.as_str())).count() as u64;
    latencies.sort();
    let pick = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    report.p50 = pick(0.50);
    report.p99 = pick(0.99);
    if let Some((_, _)) = faults.disk_full {
        let refused = report.disk_full_answers.get("503").copied().unwrap_or(0);
        if refused == 0 {
            report.failures.push("the disk was full and the gateway never answered 503".to_owned());
        }
        if faults.disk_recovery.is_none() {
            report.failures.push("no 2xx within 60 s of the disk being freed (stuck)".to_owned());
        }
    }
    if faults.core_drain.is_none() && faults.core_down.is_some() {
        report.failures.push("the backlog of the core outage was not delivered within 120 s".to_owned());
    }
}

impl Report {
    /// Everything that makes the run fail: lost, duplicated, leaked, or a gateway that misbehaved.
    pub fn verdict(&self) -> Vec<String> {
        let mut all = self.failures.clone();
        all.extend(self.lost.iter().take(20).map(|l| format!("LOST: {l}")));
        if self.lost.len() > 20 {
            all.push(format!("LOST: … {} in all", self.lost.len()));
        }
        all.extend(self.duplicates.iter().take(20).map(|d| format!("DUPLICATE: {d}")));
        all.extend(self.leaks.iter().map(|l| format!("LEAK: {l}")));
        all
    }

    pub fn print(&self) {
        let secs = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.2} s", d.as_secs_f64()));
        println!();
        println!(
            "{:<10} {:>8} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7}  other",
            "channel", "messages", "answers", "2xx", "503", "connect", "cut", "timeout"
        );
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for channel in Channel::ALL {
            let row = self.per_channel.get(channel.name()).cloned().unwrap_or_default();
            let get = |k: &str| row.get(k).copied().unwrap_or(0);
            let other: Vec<String> = row
                .iter()
                .filter(|(k, _)| !["2xx", "503", "connect", "cut", "timeout"].contains(&k.as_str()))
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            println!(
                "{:<10} {:>8} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7}  {}",
                channel.name(),
                self.messages_per_channel.get(channel.name()).copied().unwrap_or(0),
                row.values().sum::<u64>(),
                get("2xx"),
                get("503"),
                get("connect"),
                get("cut"),
                get("timeout"),
                other.join(", ")
            );
            for (k, v) in row {
                *totals.entry(k).or_default() += v;
            }
        }
        let get = |k: &str| totals.get(k).copied().unwrap_or(0);
        println!(
            "{:<10} {:>8} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7}",
            "all",
            self.sent,
            totals.values().sum::<u64>(),
            get("2xx"),
            get("503"),
            get("connect"),
            get("cut"),
            get("timeout")
        );
        println!();
        let f = &self.faults;
        for (i, (at, restart)) in f.kills.iter().enumerate() {
            let full = f.disk_full.is_some_and(|(from, length)| *at >= from && *at < from + length);
            let restart = if *restart == Duration::MAX {
                "not restarted".to_owned()
            } else {
                format!("restarted and listening in {:.2} s", restart.as_secs_f64())
            };
            println!(
                "kill {}: SIGKILL at {:.1} s{}, {restart}",
                i + 1,
                at.as_secs_f64(),
                if full { " (disk full)" } else { "" }
            );
        }
        if let Some((from, length)) = f.core_down {
            println!(
                "core down: from {:.1} s for {:.1} s (503, then refused connections); first delivery after {}, \
                 every message acknowledged before its return delivered after {}",
                from.as_secs_f64(),
                length.as_secs_f64(),
                secs(f.core_first_delivery),
                secs(f.core_drain)
            );
        }
        if let Some((from, length)) = f.disk_full {
            let answers: Vec<String> = self.disk_full_answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            println!(
                "disk full: from {:.1} s for {:.1} s ({} MiB of filler); HTTP answers meanwhile {} ({} messages \
                 acknowledged, {} of them delivered); first 2xx after freeing {}",
                from.as_secs_f64(),
                length.as_secs_f64(),
                f.filler_bytes / (1 << 20),
                answers.join(", "),
                self.acked_while_full,
                self.acked_while_full_delivered,
                f.disk_recovery.map_or("-".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3))
            );
        }
        println!(
            "drain after the traffic: {}; core: {} POSTs, {} answered 503, {} resends of a delivered record (same body)",
            secs(self.drain),
            self.core_posts,
            self.core_refused,
            self.resends
        );
        println!(
            "messages {}, retries {} ({} messages acknowledged on a retry), acknowledged {}",
            self.sent, self.retries, self.acked_on_retry, self.acked
        );
        println!(
            "delivered records {}, records matching no message {}, duplicates {}, lost {}, leaks {}",
            self.delivered_records,
            self.unmatched_records,
            self.duplicates.len(),
            self.lost.len(),
            self.leaks.len()
        );
        println!(
            "ack latency (HTTP 2xx) p50 {:.2} ms, p99 {:.2} ms; peak RSS {:.1} MiB; tmpfs {} MiB, {:.1} MiB used at the end; \
             gateway log {:.1} MiB (debug), {} ERROR lines",
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.peak_rss_kib as f64 / 1024.0,
            self.tmpfs_mib,
            self.tmpfs_used_bytes as f64 / f64::from(1 << 20),
            self.log_bytes as f64 / f64::from(1 << 20),
            self.log_errors
        );
        if let Some(dir) = &self.workdir {
            println!("work dir kept: {}", dir.display());
        }
        let verdict = self.verdict();
        if verdict.is_empty() {
            println!("verdict: PASS (nothing lost, nothing duplicated, no personal data found)");
        } else {
            println!("verdict: FAIL");
            for line in verdict {
                println!("  {line}");
            }
        }
    }
}
