//! Benchmark of the mailbox: MIME normalisation throughput, and a backlog drained from Dovecot.
//!
//! `cargo bench --bench mail` (add `-- --seconds N --backlog N --fetch-batch N`):
//! - **parse**: `hue_intake_adapters::email::parse` over realistic citizen mails, each kind in
//!   turn for `--seconds` (default 3) per kind: UTF-8 plain text, quoted-printable, base64,
//!   windows-1258, HTML only, and a photo report with a ~1 MB JPEG attachment (base64). Prints
//!   messages/s and MB/s (of raw message bytes) per kind and for the mix.
//! - **drain**: `--backlog` mails (default 10,000, about 1 KB each) appended to the INBOX of a
//!   fresh `@hue.test` user on the Dovecot of `scripts/mail-servers start` (skipped with a note
//!   when it is not running), then the poller (implicit TLS on 10993, the test CA) started on a
//!   fresh store and timed until every mail is committed and moved (the checkpoint reaches the
//!   last UID). Prints messages/s. The pipeline does not run: this is the poller's own rate
//!   (IMAP fetch, sealing, group commit, UID MOVE).
//!
//! Numbers are measured, not asserted: this is not a test.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hue_intake::chat::health::ChannelHealth;
use hue_intake::config::{Config, Security};
use hue_intake::mail::Poller;
use hue_intake::seal::Sealer;
use hue_intake::store::{Options, Store};
use hue_intake_schemas::Channel;
use tokio_util::sync::CancellationToken;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/adapters/tests/fixtures/email");

fn main() {
    hue_intake::net::install_crypto_provider();
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let arg = |name: &str, default: u64| value(name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let seconds = arg("--seconds", 3);
    let backlog = arg("--backlog", 10_000) as u32;
    let fetch_batch = arg("--fetch-batch", Config::defaults().mail.fetch_batch as u64) as u32;

    println!("hue-intake mail benchmark");
    println!();
    println!("MIME normalisation (hue_intake_adapters::email::parse), {seconds} s per kind:");
    println!("{:<28} {:>10} {:>12} {:>10}", "kind", "bytes", "messages/s", "MB/s");
    let corpus = corpus();
    let (mut all_messages, mut all_bytes, mut all_time) = (0u64, 0u64, Duration::ZERO);
    for (name, raw) in &corpus {
        assert!(hue_intake_adapters::email::parse(raw).is_ok(), "{name} parses");
        let (messages, elapsed) = parse_for(raw, Duration::from_secs(seconds));
        let bytes = messages * raw.len() as u64;
        println!(
            "{:<28} {:>10} {:>12.0} {:>10.1}",
            name,
            raw.len(),
            messages as f64 / elapsed.as_secs_f64(),
            bytes as f64 / elapsed.as_secs_f64() / 1e6
        );
        all_messages += messages;
        all_bytes += bytes;
        all_time += elapsed;
    }
    // The mix: equal time per kind, so the photo report weighs as much as the short texts.
    println!(
        "{:<28} {:>10} {:>12.0} {:>10.1}",
        "mix (equal time per kind)",
        "",
        all_messages as f64 / all_time.as_secs_f64(),
        all_bytes as f64 / all_time.as_secs_f64() / 1e6
    );
    println!();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match runtime.block_on(drain(backlog, fetch_batch)) {
        Ok(row) => {
            println!("Backlog drained from Dovecot by the poller (TLS, fetch_batch {fetch_batch}):");
            println!("{:<28} {:>10} {:>12} {:>10}", "", "messages", "seconds", "messages/s");
            println!(
                "{:<28} {:>10} {:>12.2} {:>10.0}",
                "append (4 IMAP sessions)", backlog, row.append, row.append_rate
            );
            println!("{:<28} {:>10} {:>12.2} {:>10.0}", "drain (commit + move)", backlog, row.drain, row.drain_rate);
        }
        Err(why) => println!("Backlog drain skipped: {why}"),
    }
}

/// Parses `raw` repeatedly for about `budget`; returns how many and how long exactly.
fn parse_for(raw: &[u8], budget: Duration) -> (u64, Duration) {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < budget {
        for _ in 0..8 {
            black_box(hue_intake_adapters::email::parse(black_box(raw)).ok());
        }
        n += 8;
    }
    (n, started.elapsed())
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(FIXTURES).join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Realistic mails: the golden corpus's kinds, made report-sized, and a photo report.
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    let text = "Đèn đường trước số 12 Lê Lợi, phường Vĩnh Ninh bị hỏng ba hôm nay, buổi tối rất tối và \
                nguy hiểm cho người đi đường. Đề nghị cơ quan chức năng kiểm tra, sửa chữa sớm. ";
    let long = text.repeat(6);
    let header = |ct: &str, cte: &str| {
        format!(
            "Return-Path: <nva@example.vn>\r\nFrom: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_A?= <nva@example.vn>\r\n\
             To: dttm@hue.gov.vn\r\nDate: Mon, 2 Nov 2026 08:15:00 +0700\r\nMessage-ID: <bench-1@mail.example.vn>\r\n\
             Subject: =?UTF-8?B?xJDDqG4gxJHGsOG7nW5nIGjhu49uZw==?=\r\nMIME-Version: 1.0\r\n\
             Content-Type: {ct}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        )
    };
    let plain = format!("{}{long}\r\n", header("text/plain; charset=utf-8", "8bit")).into_bytes();
    let qp = format!("{}{}\r\n", header("text/plain; charset=utf-8", "quoted-printable"), quoted_printable(&long))
        .into_bytes();
    let b64 =
        format!("{}{}\r\n", header("text/plain; charset=utf-8", "base64"), base64_lines(long.as_bytes())).into_bytes();
    let html = format!(
        "{}<html><head><style>p {{ margin: 0 }}</style></head><body><div>Chào anh chị,</div><p>{}</p>\
         <ul><li>Đèn số 1</li><li>Đèn số 2</li></ul><p>Cảm ơn&nbsp;ạ!</p></body></html>\r\n",
        header("text/html; charset=utf-8", "8bit"),
        long.replace(". ", ".</p><p>")
    )
    .into_bytes();
    let photo = photo_report(text);
    vec![
        ("utf-8 plain", plain),
        ("quoted-printable", qp),
        ("base64 text", b64),
        ("windows-1258 (golden)", fixture("windows_1258.eml")),
        ("html only", html),
        ("photo report, 1 MB jpeg", photo),
    ]
}

fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    encoded.as_bytes().chunks(76).map(|l| std::str::from_utf8(l).unwrap()).collect::<Vec<_>>().join("\r\n")
}

fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    let mut line = 0;
    for b in text.bytes() {
        let piece = if b.is_ascii_alphanumeric() || b == b' ' || b == b',' || b == b'.' {
            (b as char).to_string()
        } else {
            format!("={b:02X}")
        };
        if line + piece.len() > 75 {
            out.push_str("=\r\n");
            line = 0;
        }
        line += piece.len();
        out.push_str(&piece);
    }
    out
}

/// A multipart report: text and a ~1 MB JPEG (random entropy-coded data behind a JPEG
/// header, as a phone photo looks to a MIME parser), base64 in 76-column lines.
fn photo_report(text: &str) -> Vec<u8> {
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01];
    jpeg.extend([0x00, 0x01, 0x00, 0x00]);
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    while jpeg.len() < 1_000_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        jpeg.extend_from_slice(&state.to_le_bytes());
    }
    jpeg.extend([0xFF, 0xD9]);
    format!(
        "From: =?UTF-8?Q?Tr=E1=BA=A7n_Th=E1=BB=8B_B=C3=ACnh?= <binh@example.vn>\r\nTo: dttm@hue.gov.vn\r\n\
         Date: Mon, 2 Nov 2026 08:15:00 +0700\r\nMessage-ID: <photo-1@mail.example.vn>\r\n\
         Subject: =?UTF-8?Q?=E1=BB=94_g=C3=A0_L=C3=AA_L=E1=BB=A3i?=\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}\r\n\
         --b1\r\nContent-Type: image/jpeg; name=\"IMG_2041.jpg\"\r\nContent-Disposition: attachment; filename=\"IMG_2041.jpg\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        base64_lines(&jpeg)
    )
    .into_bytes()
}

struct DrainRow {
    append: f64,
    append_rate: f64,
    drain: f64,
    drain_rate: f64,
}

fn backlog_mail(n: u32) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_A?= <nva{n}@example.vn>\r\nTo: dttm@hue.test\r\n\
         Date: Mon, 2 Nov 2026 08:15:00 +0700\r\nMessage-ID: <backlog-{n}@mail.example.vn>\r\n\
         Subject: =?UTF-8?B?xJDDqG4gxJHGsOG7nW5nIGjhu49uZw==?= {n}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        "Đèn đường trước số 12 Lê Lợi, phường Vĩnh Ninh bị hỏng ba hôm nay, buổi tối rất tối. ".repeat(6)
    )
    .into_bytes()
}

async fn imap_login(user: &str) -> Result<async_imap::Session<tokio::net::TcpStream>, String> {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", 10143)).await.map_err(|e| format!("IMAP 10143: {e}"))?;
    let mut client = async_imap::Client::new(stream);
    client.read_response().await.map_err(|e| e.to_string())?.ok_or("no IMAP greeting")?;
    client.login(user, "hue-test").await.map_err(|(e, _)| format!("login: {e}"))
}

async fn drain(backlog: u32, fetch_batch: u32) -> Result<DrainRow, String> {
    let mail_dir = std::env::var_os("HUE_TEST_MAIL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/hue-intake-mail"));
    let ca_file = mail_dir.join("cert.pem");
    if !ca_file.is_file() {
        return Err(format!("{} missing: run scripts/mail-servers start", ca_file.display()));
    }
    let user = format!("bench-{}@hue.test", uuid::Uuid::now_v7().simple());
    imap_login(&user).await.map_err(|e| format!("{e} (run scripts/mail-servers start)"))?;

    // Four sessions append interleaved numbers, so mails are not in number order; the drain
    // does not care (UIDs are still 1..=N in a fresh mailbox).
    let started = Instant::now();
    let sessions = 4;
    let mut tasks = Vec::new();
    for s in 0..sessions {
        let user = user.clone();
        tasks.push(tokio::spawn(async move {
            let mut session = imap_login(&user).await?;
            for n in (s..backlog).step_by(sessions as usize) {
                session.append("INBOX", None, None, backlog_mail(n)).await.map_err(|e| format!("APPEND: {e}"))?;
            }
            let _ = session.logout().await;
            Ok::<(), String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let append = started.elapsed().as_secs_f64();

    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Store::open_sqlite(dir.path(), Options { group_commit_max_batch: 256, max_database_bytes: None })
        .await
        .map_err(|e| e.to_string())?;
    let mut mail = Config::defaults().mail;
    mail.imap_host = Some("127.0.0.1".into());
    mail.imap_port = 10993;
    mail.imap_security = Security::Tls;
    mail.imap_username = Some(user.clone());
    mail.imap_password = Some("hue-test".into());
    mail.ca_file = Some(ca_file);
    mail.fetch_batch = fetch_batch;
    let poller = Poller::new(&mail, store.clone(), Sealer::new("bench", &[3; 32]), ChannelHealth::default())
        .map_err(|e| e.to_string())?;
    let wake = store.wakes().messages;
    let stop = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(poller.run(stop.clone()));
    // Done when the checkpoint reaches the last UID (UIDs of a fresh mailbox are 1..=N): every
    // mail committed and moved. Woken by the store's commits, checked at least every 100 ms.
    loop {
        if store.mail_checkpoint("INBOX").await.map_err(|e| e.to_string())?.is_some_and(|c| c.last_uid >= backlog) {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err("the drain took more than 30 minutes".into());
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
    }
    let drain = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = task.await;
    let stored = store.message_ids(Channel::Email).await.map_err(|e| e.to_string())?.len();
    store.close().await;
    if stored != backlog as usize {
        return Err(format!("{stored} mails stored of {backlog}"));
    }
    Ok(DrainRow { append, append_rate: f64::from(backlog) / append, drain, drain_rate: f64::from(backlog) / drain })
}
