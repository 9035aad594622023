//! The hostile input suite (issue 8 item 4): one catalogue of what an attacker, a broken
//! client or a careless platform can send, each case against the real server (in process on
//! port 0, or the real binary where the logs are read) with its expected clear answer. The
//! catalogue, in plain English, is `docs/HOSTILE.md`; its test names are the functions here.
//!
//! What every case checks, as it applies: the status and the problem+json answer (`type`,
//! `detail`, the offending field), that a refused input stored nothing, that an authentic but
//! unreadable message is kept raw in quarantine and counted, and that the answer came within a
//! bound (no hang, no panic). Requests reqwest will not make (a lying Content-Length, a body
//! dripped a byte at a time, a client that never sends its body) are written by hand over TCP.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::chat::{FB_PAGE_ID, facebook_signature, messenger, now_ms, with_chat, zalo, zalo_at, zalo_signature};
use crate::common::{APP_TOKEN, Server, jpeg_with_exif, jpeg_with_gps, problem, stored_messages};

/// How long any single hostile request may take to be answered (the machine is shared: loose).
const PROMPT: Duration = Duration::from_secs(5);

/// A report body of the app channel.
fn report(id: &str, description: &str) -> Value {
    json!({"client_message_id": id, "description": description, "location": {"lat": 16.4637, "lon": 107.5909}})
}

// ---------------------------------------------------------------------------------------------
// HTTP by hand.

/// An answer read off a raw connection.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
    /// From the request's first byte to the answer's last.
    took: Duration,
}

impl Answer {
    /// Asserts a problem+json answer with this status; returns the problem.
    fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}\n{}", self.head, String::from_utf8_lossy(&self.body));
        assert!(self.head.to_ascii_lowercase().contains("content-type: application/problem+json"), "{}", self.head);
        let p: Value = serde_json::from_slice(&self.body).unwrap();
        assert_eq!(p["status"], status);
        assert!(p["type"].as_str().unwrap().starts_with("urn:hue-intake:problem:"), "{p}");
        p
    }
}

/// Sends a request line and headers (`head`, without the blank line) over a fresh connection,
/// then `pieces` of body `pause` apart in the background, and reads the answer meanwhile.
/// The pause is the hostile client's pace, not a synchronisation.
async fn exchange(server: &Server, head: &str, pieces: Vec<Vec<u8>>, pause: Duration) -> Answer {
    let started = Instant::now();
    let stream = TcpStream::connect(server.base.trim_start_matches("http://")).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(format!("{head}\r\n").as_bytes()).await.unwrap();
    let sender = tokio::spawn(async move {
        for piece in pieces {
            tokio::time::sleep(pause).await;
            // The server may answer and close before the client is done: that is the point.
            if writer.write_all(&piece).await.is_err() {
                return;
            }
        }
        // Keep the connection open (a client that never finishes) until aborted.
        std::future::pending::<()>().await;
    });
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length {
                    return;
                }
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    sender.abort();
    assert!(read.is_ok(), "no answer within 30 s");
    let took = started.elapsed();
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer");
    let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    Answer { status, head, body: buffer[end + 4..].to_vec(), took }
}

/// The request line and headers of a POST to `path` (Host and Content-Type set).
fn post_head(path: &str, token: Option<&str>, extra: &str) -> String {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    format!("POST {path} HTTP/1.1\r\nHost: hue.test\r\nContent-Type: application/json\r\n{auth}{extra}")
}

/// One chunk of a `Transfer-Encoding: chunked` body.
fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// A Zalo POST with a signature header of the test's choosing.
async fn post_zalo_signed_as(server: &Server, body: &[u8], signature: Option<&str>) -> reqwest::Response {
    let mut request =
        server.http.post(server.url("/webhooks/zalo")).header("content-type", "application/json").body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("x-zevent-signature", signature);
    }
    request.send().await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. Signatures: forged, replayed, stale, from the future.

#[tokio::test]
async fn forged_facebook_and_zalo_signatures_are_401_and_nothing_is_stored() {
    let server = Server::start_with(with_chat).await;
    let fb_refused = "hue_intake_webhook_refused_total{channel=\"facebook\",reason=\"signature\"}";
    let zalo_refused = "hue_intake_webhook_refused_total{channel=\"zalo\",reason=\"signature\"}";
    let (fb_before, zalo_before) = (server.metric(fb_refused).await, server.metric(zalo_refused).await);

    let body = messenger("PSID-HOSTILE-1", "m.hostile-1", json!({"text": "Cây đổ ở đường Lê Lợi"}));
    let forged = [
        Some(facebook_signature(b"another body")), // a real signature of other bytes
        Some(format!("sha256={}", "0".repeat(64))),
        Some(format!("sha256={}", "z".repeat(64))),
        Some("sha256=abc".to_owned()),
        Some(facebook_signature(&body).replace("sha256=", "sha1=")),
        None,
    ];
    for signature in &forged {
        let p = problem(server.post_facebook(&body, signature.as_deref()).await, 401).await;
        assert_eq!(p["type"], "urn:hue-intake:problem:unauthorized");
        assert!(p["detail"].as_str().unwrap().contains("X-Hub-Signature-256"), "{p}");
    }

    let (zbody, ts) = zalo("user_send_text", "ZU-HOSTILE-1", "zh-forged", json!({"text": "Ngập đường Hùng Vương"}));
    let zforged = [
        Some(zalo_signature(b"another body", &ts)),
        Some(zalo_signature(&zbody, &(ts.parse::<i64>().unwrap() - 1_000).to_string())), // another timestamp
        Some(format!("mac={}", "0".repeat(64))),
        Some(zalo_signature(&zbody, &ts).replace("mac=", "")),
        None,
    ];
    for signature in &zforged {
        let p = problem(post_zalo_signed_as(&server, &zbody, signature.as_deref()).await, 401).await;
        assert!(p["detail"].as_str().unwrap().to_lowercase().contains("signature"), "{p}");
    }
    assert_eq!(stored_messages(server.dir.path(), None).await, 0, "a forged body was stored");
    assert!(server.metric(fb_refused).await >= fb_before + forged.len() as f64);
    assert!(server.metric(zalo_refused).await >= zalo_before + zforged.len() as f64);

    // The same bodies, signed right, are taken: the refusals above were the signatures'.
    assert_eq!(server.post_facebook_signed(&body).await.status(), 200);
    assert_eq!(server.post_zalo(&(zbody, ts)).await.status(), 200);
    assert_eq!(stored_messages(server.dir.path(), None).await, 2);
}

#[tokio::test]
async fn a_replayed_signed_body_is_answered_200_each_time_and_stored_once() {
    let mut server = Server::start_with(with_chat).await;
    let duplicates = "hue_intake_webhook_bodies_total{channel=\"facebook\",outcome=\"duplicate\"}";
    let before = server.metric(duplicates).await;
    let fb = messenger("PSID-HOSTILE-2", "m.hostile-2", json!({"text": "Ổ gà lớn ở kiệt 4 Trần Phú"}));
    let zl = zalo("user_send_text", "ZU-HOSTILE-2", "zh-replay", json!({"text": "Rác tràn ra đường Hùng Vương"}));
    for _ in 0..3 {
        assert_eq!(server.post_facebook_signed(&fb).await.status(), 200);
        assert_eq!(server.post_zalo(&zl).await.status(), 200);
    }
    assert_eq!(stored_messages(server.dir.path(), None).await, 2, "each body once");
    assert!(server.metric(duplicates).await >= before + 2.0);
    server.delivered(2).await;
    let mut ids: Vec<String> =
        server.sink_lines().iter().map(|r| r["sources"][0]["message_id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, ["facebook:m.hostile-2", "zalo:zh-replay"], "one record each");
}

#[tokio::test]
async fn zalo_timestamps_outside_the_freshness_window_either_side_are_401() {
    let server = Server::start_with(|c| {
        with_chat(c);
        c.zalo.signature_freshness_secs = 60;
    })
    .await;
    let stale = "hue_intake_webhook_refused_total{channel=\"zalo\",reason=\"stale\"}";
    let before = server.metric(stale).await;
    for (offset_ms, word) in [(-120_000i64, "older"), (120_000, "ahead"), (-86_400_000 * 365, "older")] {
        let ts = (now_ms() + offset_ms).to_string();
        let body = zalo_at("user_send_text", "ZU-HOSTILE-3", &format!("zh{offset_ms}"), json!({"text": "Cây đổ"}), &ts);
        let p = problem(server.post_zalo(&body).await, 401).await;
        assert!(p["detail"].as_str().unwrap().contains(word), "{p}");
    }
    assert_eq!(stored_messages(server.dir.path(), None).await, 0);
    assert!(server.metric(stale).await >= before + 3.0);
    // Inside the window (30 s old) it is taken.
    let ts = (now_ms() - 30_000).to_string();
    let fresh = zalo_at("user_send_text", "ZU-HOSTILE-3", "zh-fresh", json!({"text": "Cây đổ"}), &ts);
    assert_eq!(server.post_zalo(&fresh).await.status(), 200);
    assert_eq!(stored_messages(server.dir.path(), None).await, 1);
}

// ---------------------------------------------------------------------------------------------
// 2. Huge and deeply nested JSON.

#[tokio::test]
async fn bodies_over_the_cap_are_413_declared_or_chunked_a_broken_body_is_400_and_nothing_is_stored() {
    let server = Server::start_with(|c| {
        with_chat(c);
        c.server.max_json_bytes = 65_536;
        c.chat.max_webhook_bytes = 65_536;
    })
    .await;
    for (path, token) in [("/v1/reports", Some(APP_TOKEN)), ("/webhooks/facebook", None), ("/webhooks/zalo", None)] {
        // A declared gigabyte, and not one byte of it sent: refused from the headers.
        let declared =
            exchange(&server, &post_head(path, token, "Content-Length: 1073741824\r\n"), Vec::new(), Duration::ZERO)
                .await;
        let p = declared.problem(413);
        assert_eq!(p["type"], "urn:hue-intake:problem:too-large", "{path}: {p}");
        assert!(declared.took < PROMPT, "{path}: {:?}", declared.took);
        // No length: 4 MiB offered in chunks, refused once past the cap.
        let pieces = (0..256).map(|_| chunk(&[b' '; 16_384])).collect();
        let chunked = exchange(
            &server,
            &post_head(path, token, "Transfer-Encoding: chunked\r\n"),
            pieces,
            Duration::from_millis(2),
        )
        .await;
        chunked.problem(413);
        assert!(chunked.took < PROMPT, "{path}: {:?}", chunked.took);
        // Badly framed chunks are a broken body, not a large one.
        let broken = vec![b"zz\r\n{}\r\n0\r\n\r\n".to_vec()];
        let head = post_head(path, token, "Transfer-Encoding: chunked\r\n");
        let p = exchange(&server, &head, broken, Duration::ZERO).await.problem(400);
        assert_eq!(p["type"], "urn:hue-intake:problem:incomplete-body", "{path}: {p}");
    }
    assert_eq!(stored_messages(server.dir.path(), None).await, 0);
}

#[tokio::test]
async fn deeply_nested_json_is_400_on_the_api_and_a_signed_webhook_body_of_it_is_quarantined() {
    let mut server = Server::start_with(with_chat).await;
    let nest = |inner: &str| format!("{}{inner}{}", "[".repeat(100_000), "]".repeat(100_000));
    // The API reads into typed fields: the first `[` where a string belongs is refused, naming
    // the field, without descending; a nested top level is no report either.
    let deep = format!(r#"{{"client_message_id":"deep-1","description":{}}}"#, nest("\"Cây đổ\""));
    let started = Instant::now();
    let p = problem(server.post_raw(Some(APP_TOKEN), "application/json", deep.into_bytes()).await, 400).await;
    assert_eq!((&p["type"], &p["pointer"]), (&json!("urn:hue-intake:problem:invalid-field"), &json!("/description")));
    let p = problem(server.post_raw(Some(APP_TOKEN), "application/json", nest("1").into_bytes()).await, 400).await;
    assert_eq!(p["type"], "urn:hue-intake:problem:invalid-field", "{p}");
    assert!(started.elapsed() < PROMPT);

    // Messenger: authentic (signed over the bytes), so stored and answered 200; the pipeline
    // cannot read it and keeps it raw in quarantine, counted.
    let quarantined = "hue_intake_quarantined_total{channel=\"facebook\"}";
    let before = server.metric(quarantined).await;
    let body = format!(
        r#"{{"object":"page","entry":[{{"id":"{FB_PAGE_ID}","time":1,"messaging":[{{"sender":{{"id":"PSID-DEEP"}},"recipient":{{"id":"{FB_PAGE_ID}"}},"timestamp":1,"message":{{"mid":"m.deep","text":{}}}}}]}}]}}"#,
        nest("\"x\"")
    );
    assert_eq!(server.post_facebook_signed(body.as_bytes()).await.status(), 200);
    let (_, kept) = settled(&server, 1).await;
    let sha = hue_intake_adapters::media::sha256_hex(body.as_bytes());
    assert_eq!(kept[0].message_id, format!("body:{sha}"));
    assert!(kept[0].reason.contains("recursion"), "{}", kept[0].reason);
    assert!(server.metric(quarantined).await >= before + 1.0);

    // Zalo: the signature covers the body's own app_id and timestamp, which cannot be read out
    // of it, so it cannot be told authentic: 401, nothing stored.
    let ts = now_ms().to_string();
    let zbody = format!(
        r#"{{"app_id":"{}","timestamp":"{ts}","event_name":"user_send_text","sender":{{"id":"ZU-DEEP"}},"message":{{"msg_id":"zdeep","text":{}}}}}"#,
        crate::chat::ZALO_APP_ID,
        nest("\"x\"")
    );
    let p = problem(
        post_zalo_signed_as(&server, zbody.as_bytes(), Some(&zalo_signature(zbody.as_bytes(), &ts))).await,
        401,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("app_id"), "{p}");
    assert_eq!(stored_messages(server.dir.path(), None).await, 1, "only the Messenger body");

    // The pipeline goes on: a normal message after it becomes a record.
    let normal = messenger("PSID-DEEP", "m.after-deep", json!({"text": "Đèn đường hỏng ở kiệt 12 Nguyễn Trãi"}));
    assert_eq!(server.post_facebook_signed(&normal).await.status(), 200);
    server.delivered(1).await;
    assert_eq!(server.sink_lines()[0]["sources"][0]["message_id"], "facebook:m.after-deep");
}

// ---------------------------------------------------------------------------------------------
// 3. Slow clients.

#[tokio::test]
async fn a_slow_or_silent_body_gets_408_within_the_request_timeout_while_others_are_served() {
    let server = Server::start_with(|c| {
        with_chat(c);
        c.server.request_timeout_secs = 1;
    })
    .await;
    let timeout = Duration::from_secs(1);
    let head = |path: &str, token| post_head(path, token, "Content-Length: 4000\r\n");
    // One byte every 50 ms: 4000 bytes would take 200 s.
    let drip = || (0..4000).map(|_| b" ".to_vec()).collect::<Vec<_>>();
    let (api, webhook) = (head("/v1/reports", Some(APP_TOKEN)), head("/webhooks/facebook", None));
    let slow = exchange(&server, &api, drip(), Duration::from_millis(50));
    let silent = exchange(&server, &api, Vec::new(), Duration::ZERO);
    let silent_webhook = exchange(&server, &webhook, Vec::new(), Duration::ZERO);
    // Meanwhile an ordinary report: answered, and before the slow ones are cut off.
    let normal = async {
        let started = Instant::now();
        let response = server.post_json(APP_TOKEN, &report("normal-1", "Ổ gà lớn trước số 10 Lê Lợi")).await;
        (response.status().as_u16(), started.elapsed())
    };
    let (slow, silent, silent_webhook, (status, normal_took)) = tokio::join!(slow, silent, silent_webhook, normal);
    assert_eq!(status, 202);
    assert!(normal_took < timeout, "the normal request waited {normal_took:?}");
    for answer in [&slow, &silent, &silent_webhook] {
        let p = answer.problem(408);
        assert_eq!(p["type"], "urn:hue-intake:problem:timeout", "{p}");
        assert!(answer.took >= timeout && answer.took < timeout + PROMPT, "{:?}", answer.took);
    }
    assert_eq!(stored_messages(server.dir.path(), None).await, 1, "only the normal report");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off_and_does_not_hold_up_shutdown() {
    let server = Server::start_with(|c| c.server.request_timeout_secs = 1).await;
    let address = server.base.trim_start_matches("http://").to_owned();
    // Half a request head, then nothing: the connection is closed once the deadline passes.
    let mut half = TcpStream::connect(&address).await.unwrap();
    half.write_all(b"POST /v1/reports HTTP/1.1\r\nHost: hue.test\r\n").await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PROMPT, half.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the connection is still open after {:?}", started.elapsed());
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    assert!(answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
    // Another one connected at shutdown: shutdown still finishes (it used to wait for ever).
    let mut second = TcpStream::connect(&address).await.unwrap();
    second.write_all(b"GET /healthz HTTP/1.1\r\nHo").await.unwrap();
    // A full request on a third connection: once answered, the second was accepted before it.
    let probe = exchange(&server, "GET /healthz HTTP/1.1\r\nHost: hue.test\r\n", Vec::new(), Duration::ZERO).await;
    assert_eq!(probe.status, 200);
    let started = Instant::now();
    assert!(tokio::time::timeout(Duration::from_secs(10), server.stop()).await.is_ok(), "shutdown hung");
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    drop(second);
}

// ---------------------------------------------------------------------------------------------
// 4. Decompression-bomb-like images and hostile EXIF.

/// A PNG that declares `width`×`height` pixels and carries none.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 6, 0, 0, 0]); // 8-bit RGBA: 16 GiB once decoded
    png.extend(13u32.to_be_bytes());
    png.extend(&ihdr);
    png.extend(crc32(&ihdr).to_be_bytes());
    png.extend(0u32.to_be_bytes());
    png.extend(b"IEND");
    png.extend(crc32(b"IEND").to_be_bytes());
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A baseline JPEG whose frame header declares 65535×65535 pixels.
fn jpeg_declaring_65535_square() -> Vec<u8> {
    let mut jpeg = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 0x08, 0xff, 0xff, 0xff, 0xff, 0x03];
    jpeg.extend([1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    jpeg.extend([0xff, 0xd9]);
    jpeg.resize(128, 0);
    jpeg
}

/// TIFF (little-endian) blocks whose IFDs are hostile.
fn hostile_tiffs() -> Vec<(&'static str, Vec<u8>)> {
    let le16 = |v: u16| v.to_le_bytes();
    let le32 = |v: u32| v.to_le_bytes();
    let tiff = |ifd: &[&[u8]]| {
        let mut t = b"II*\0".to_vec();
        t.extend(le32(8));
        for part in ifd {
            t.extend(*part);
        }
        t
    };
    // One IFD entry: tag, type, count, value/offset.
    let entry = |tag: u16, typ: u16, count: u32, value: u32| {
        let mut e = le16(tag).to_vec();
        e.extend(le16(typ));
        e.extend(le32(count));
        e.extend(le32(value));
        e
    };
    vec![
        // IFD0's GPS pointer points back at IFD0.
        ("gps ifd loop", tiff(&[&le16(1), &entry(0x8825, 4, 1, 8), &le32(0)])),
        // IFD0's next-IFD offset points at itself.
        ("next ifd loop", tiff(&[&le16(0), &le32(8)])),
        // 65535 entries announced, none there.
        ("huge entry count", tiff(&[&le16(0xffff), &le32(0)])),
        // The GPS IFD far past the end of the block.
        ("offset past the end", tiff(&[&le16(1), &entry(0x8825, 4, 1, 0xffff_ff00), &le32(0)])),
        // A GPS latitude of 2^31 rationals (16 GiB).
        (
            "huge value count",
            tiff(&[&le16(1), &entry(0x8825, 4, 1, 26), &le32(0), &le16(1), &entry(2, 5, 0x7fff_ffff, 8), &le32(0)]),
        ),
    ]
}

#[tokio::test]
async fn bomb_like_images_and_hostile_exif_are_accepted_as_bytes_without_gps_or_harm() {
    let mut server = Server::start_with(with_chat).await;
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("png 65535x65535".into(), png_declaring(65_535, 65_535)),
        ("jpeg 65535x65535".into(), jpeg_declaring_65535_square()),
    ];
    files.extend(hostile_tiffs().into_iter().map(|(name, tiff)| (name.to_owned(), jpeg_with_exif(&tiff))));
    // The control: a sound EXIF position, read from the same upload.
    files.push(("control".into(), jpeg_with_gps(16.4700, 107.5800)));
    let mut form = reqwest::multipart::Form::new().text(
        "report",
        json!({"client_message_id": "bombs-1", "description": "Ảnh cây đổ chắn đường ở phường Phú Hội"}).to_string(),
    );
    for (i, (_, bytes)) in files.iter().enumerate() {
        form = form.part(
            format!("photo{i}"),
            reqwest::multipart::Part::bytes(bytes.clone())
                .file_name(format!("{i}.jpg"))
                .mime_str("image/jpeg")
                .unwrap(),
        );
    }
    let started = Instant::now();
    let response =
        server.http.post(server.url("/v1/reports")).bearer_auth(APP_TOKEN).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    server.delivered(1).await;
    let record = &server.sink_lines()[0];
    crate::common::assert_valid_report(record);
    let media = record["media"].as_array().unwrap();
    assert_eq!(media.len(), files.len());
    for ((name, bytes), item) in files.iter().zip(media) {
        assert_eq!(item["bytes"], bytes.len(), "{name}: stored as sent");
        if name == "control" {
            assert_eq!(item["gps"]["lat"], 16.47, "{name}");
        } else {
            assert!(item["gps"].is_null(), "{name}: a broken EXIF gives no position: {item}");
        }
    }
    assert_eq!(media[0]["mime"], "image/png");
    // The place is the control's: nothing else had one.
    assert_eq!(record["location"]["source"], "photo_exif");
    assert_eq!(record["location"]["lat"], 16.47);
}

// ---------------------------------------------------------------------------------------------
// 5. MIME bombs, 6. header injection through reply addresses, 7b. path tricks in mail.

/// A mail from `from` whose top-level part is `part` (its own headers, a blank line, its body).
fn mime_mail(from: &str, subject: &str, extra_headers: &str, part: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: dttm@hue.test\r\nSubject: {subject}\r\nMessage-ID: <{}@citizen.test>\r\n\
         Date: Sun, 29 Nov 2026 09:00:00 +0700\r\n{extra_headers}MIME-Version: 1.0\r\n{part}\r\n",
        uuid::Uuid::now_v7()
    )
    .into_bytes()
}

const TEXT_PART: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
                         Cây đổ chắn ngang đường Lê Lợi, phường Phú Hội.";

/// `depth` multiparts, each inside the last, the text at the bottom.
fn nested_multiparts(depth: usize) -> String {
    let mut part = TEXT_PART.to_owned();
    for level in (0..depth).rev() {
        part =
            format!("Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n{part}\r\n--b{level}--");
    }
    part
}

/// `depth` forwarded messages, each inside the last, the text at the bottom.
fn nested_forwards(depth: usize) -> String {
    let mut part = TEXT_PART.to_owned();
    for level in (0..depth).rev() {
        part = format!("Content-Type: message/rfc822\r\n\r\nFrom: f{level}@hue.test\r\nSubject: Fwd {level}\r\n{part}");
    }
    part
}

/// A text part and `attachments` small PNG files, all in one multipart.
fn many_parts(attachments: usize) -> String {
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD.encode(png_declaring(1, 1));
    let mut part = format!("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n--p\r\n{TEXT_PART}\r\n");
    for i in 0..attachments {
        part.push_str(&format!(
            "--p\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"a{i}.png\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{png}\r\n"
        ));
    }
    part.push_str("--p--");
    part
}

/// Waits (bounded) until `n` stored messages have been dealt with: made a record or were
/// quarantined. Returns the records and the quarantine.
async fn settled(server: &Server, n: usize) -> (Vec<Value>, Vec<hue_intake::store::Quarantined>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let records = server.sink_lines();
        let quarantined = server.store().quarantined(100).await.unwrap();
        if records.len() + quarantined.len() >= n {
            return (records, quarantined);
        }
        let titles: Vec<&Value> = records.iter().map(|r| &r["title"]).collect();
        assert!(
            Instant::now() < deadline,
            "{} of {n} messages dealt with in 30 s: {titles:?}",
            titles.len() + quarantined.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mime_bombs_are_read_within_limits_quickly_and_the_mailbox_goes_on() {
    use crate::mail_servers::unique_user;
    // Records without a place go downstream at once (not held), so every mail shows.
    let (server, ingest) = crate::mail::gateway(|c| c.triage.incomplete_hold_secs = 0).await;
    let skipped = "hue_intake_mail_attachments_skipped_total{reason=\"too_many\"}";
    let skipped_before = server.metric(skipped).await;
    let bombs = [
        mime_mail(&unique_user("deep"), "Nested 200", "", &nested_multiparts(200)),
        mime_mail(&unique_user("wide"), "Parts 5000", "", &many_parts(4_999)),
        mime_mail(&unique_user("fwd"), "Forwards 200", "", &nested_forwards(200)),
    ];
    let started = Instant::now();
    for raw in &bombs {
        crate::mail::store(&ingest, raw).await;
    }
    // And a mail that makes the MIME parser itself panic (the fuzzing run's reproducer).
    let quarantined_mail = "hue_intake_quarantined_total{channel=\"email\"}";
    let quarantined_before = server.metric(quarantined_mail).await;
    let panics = include_bytes!("../../adapters/tests/hostile/mail-parser-panic.eml");
    crate::mail::store(&ingest, panics).await;
    let sentinel = crate::mail::mail(&unique_user("carol"), "Đèn hỏng", "", "Đèn đường hỏng ở đường Nguyễn Huệ.");
    crate::mail::store(&ingest, &sentinel).await;
    let (records, quarantined) = settled(&server, 5).await;
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    let titles: Vec<&Value> = records.iter().map(|r| &r["title"]).collect();
    let reasons: Vec<&str> = quarantined.iter().map(|q| q.reason.as_str()).collect();
    assert_eq!(reasons, ["the mail does not parse: the body is not an RFC 5322 message"], "recorded {titles:?}");
    assert!(server.metric(quarantined_mail).await >= quarantined_before + 1.0);
    assert_eq!(records.len(), 4, "{titles:?}");
    assert_eq!(records.last().unwrap()["title"], "Đèn hỏng");
    let by_title = |title: &str| records.iter().find(|r| r["title"] == title).unwrap_or_else(|| panic!("{title}"));
    // 200 nested multiparts: the text at the bottom is found.
    let deep = by_title("Nested 200");
    assert!(deep["description"].as_str().unwrap().contains("Cây đổ chắn ngang"), "{deep}");
    // 5000 parts: the text, and the first files up to the per-report cap; the rest counted.
    let wide = by_title("Parts 5000");
    assert!(wide["description"].as_str().unwrap().contains("Cây đổ chắn ngang"), "{wide}");
    assert_eq!(wide["media"].as_array().unwrap().len(), 10);
    assert!(server.metric(skipped).await >= skipped_before + 1.0);
    // 200 nested forwards: followed a few levels deep, no further.
    let forwarded = by_title("Forwards 200");
    let text = forwarded["description"].as_str().unwrap();
    assert_eq!(text.matches(hue_intake_adapters::email::FORWARDED_MARKER).count(), 3, "{text}");
    for record in &records {
        crate::common::assert_valid_report(record);
    }
    drop(ingest);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_of_a_million_reply_prefixes_or_brackets_are_read_quickly() {
    use crate::mail_servers::unique_user;
    let (server, ingest) = crate::mail::gateway(|c| c.triage.incomplete_hold_secs = 0).await;
    let started = Instant::now();
    // 4 MB and 1 MB of header, well under mail.max_message_bytes.
    let prefixes = format!("{}Cây đổ ở đường Lê Lợi", "Re: ".repeat(1_000_000));
    let brackets = format!("{}Cây đổ ở đường Lê Lợi]", "[".repeat(1_000_000));
    for subject in [&prefixes, &brackets] {
        crate::mail::store(&ingest, &crate::mail::mail(&unique_user("subject"), subject, "", "Cây đổ.")).await;
    }
    let sentinel = crate::mail::mail(&unique_user("carol"), "Đèn hỏng", "", "Đèn đường hỏng ở đường Nguyễn Huệ.");
    crate::mail::store(&ingest, &sentinel).await;
    let (records, quarantined) = settled(&server, 3).await;
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert!(quarantined.is_empty());
    assert_eq!(records[0]["title"], "Cây đổ ở đường Lê Lợi", "the prefixes are gone");
    assert!(records[1]["title"].as_str().unwrap().chars().count() <= 120);
    drop(ingest);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_injection_through_from_reply_to_and_subject_never_reaches_the_reply() {
    use crate::mail_servers::{fetch_all, unique_user, wait_for_messages};
    let (mut server, ingest) = crate::mail::gateway(|_| {}).await;
    let alice = unique_user("alice");
    let victim = unique_user("victim");
    // Encoded words decode to CR LF followed by a header: in the display name, the Reply-To
    // and the subject. (A raw CR LF cannot be sent: it ends the header line.)
    let q = |s: &str| s.replace("\r\n", "=0D=0A").replace(' ', "_");
    let from = format!("=?utf-8?q?{}?= <{alice}>", q(&format!("An\r\nBcc: {victim}\r\nX-Injected: from")));
    let reply_to = format!("Reply-To: =?utf-8?q?{}?= <{victim}>\r\n", q("x\r\nX-Injected: reply-to"));
    let subject =
        format!("=?utf-8?q?C=C3=A2y_=C4=91=E1=BB=95{}?=", q(&format!("\r\nX-Injected: subject\r\nBcc: {victim}")));
    let raw = mime_mail(&from, &subject, &reply_to, TEXT_PART);
    crate::mail::store(&ingest, &raw).await;
    let record = crate::mail::record(&mut server, 1).await;
    let code = record["tracking_code"].as_str().unwrap().to_owned();
    // The acknowledgement goes to the From address, and only there.
    let replies = wait_for_messages(&alice, "INBOX", 1, Duration::from_secs(30)).await;
    let reply = String::from_utf8_lossy(&replies[0]).into_owned();
    let headers = &reply[..reply.find("\r\n\r\n").unwrap()];
    for line in headers.lines() {
        let lower = line.to_ascii_lowercase();
        assert!(!lower.starts_with("x-injected") && !lower.starts_with("bcc"), "injected header: {line}\n{headers}");
    }
    // The subject's words stay words: collapsed onto one (folded) header line, never a header
    // of their own.
    let to = crate::mail::header(&reply, "To").unwrap();
    assert!(to.contains(&alice), "{to}");
    let subject = hue_intake_adapters::email::parse(&replies[0]).unwrap().subject.unwrap();
    assert!(subject.starts_with(&format!("[{code}]")), "{subject}");
    assert!(!subject.contains('\r') && !subject.contains('\n'), "{subject:?}");
    // Postfix handled the reply as one message: had it a second recipient, its copy would be
    // queued with it. The victim's mailbox is empty.
    assert!(fetch_all(&victim, "INBOX").await.is_empty(), "the victim got mail");
    drop(ingest);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 7. Path tricks in attachment file names.

/// File names that try to leave the media store or fool a reader.
fn hostile_names() -> Vec<Vec<u8>> {
    vec![
        b"../../etc/passwd".to_vec(),
        b"/etc/shadow".to_vec(),
        b"..\\..\\win.ini".to_vec(),
        "ảnh\u{202e}gpj.exe".as_bytes().to_vec(),
        format!("{}.png", "x".repeat(500)).into_bytes(),
        b"../../../../../../tmp/hue-intake-escape.png".to_vec(),
    ]
}

/// A multipart report body written by hand (reqwest would clean the file names).
fn multipart_with_names(report: &Value, names: &[Vec<u8>]) -> (String, Vec<u8>) {
    let boundary = "hostile-7f3a9c";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"report\"\r\nContent-Type: application/json\r\n\r\n{report}\r\n"
    )
    .into_bytes();
    for (i, name) in names.iter().enumerate() {
        body.extend(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"photo{i}\"; filename=\"").as_bytes(),
        );
        body.extend(name);
        body.extend(b"\"\r\nContent-Type: image/png\r\n\r\n");
        // Distinct bytes per file: a PNG with a different trailing byte.
        let mut png = png_declaring(1, 1);
        png.push(i as u8);
        body.extend(png);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// Asserts every file under the data directory is one the gateway owns: media named by their
/// SHA-256 under `media/<2 hex>/`, and its own database, keys and sink; and no file anywhere
/// under it carries a hostile name.
fn assert_only_content_addressed_media(dir: &Path) {
    for path in walk(dir) {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for bad in ["passwd", "shadow", "win.ini", "\u{202e}", "escape", "xxxxxxxxxx"] {
            assert!(!name.contains(bad), "a file named after the upload: {}", path.display());
        }
        if path.is_dir() {
            continue;
        }
        let relative = path.strip_prefix(dir).unwrap();
        if relative.starts_with("media") {
            let parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            assert_eq!(parts.len(), 3, "{}", relative.display());
            assert!(parts[2].len() == 64 && parts[2].starts_with(&parts[1]), "{}", relative.display());
            assert!(parts[2].bytes().all(|b| b.is_ascii_hexdigit()), "{}", relative.display());
        }
    }
    assert!(!Path::new("/tmp/hue-intake-escape.png").exists());
}

/// What a record says about its media: kind, type, size, hash, where; never a file name.
fn assert_media_without_names(record: &Value, n: usize) {
    let media = record["media"].as_array().unwrap();
    assert_eq!(media.len(), n, "{record}");
    for item in media {
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        for key in keys {
            assert!(["kind", "mime", "bytes", "sha256", "uri", "gps"].contains(&key), "{key} in {item}");
        }
        assert!(item["uri"].as_str().unwrap().starts_with("blob:sha256:"), "{item}");
    }
    let text = record.to_string();
    for bad in ["passwd", "shadow", "win.ini", "\u{202e}", "escape", "xxxxxxxxxx"] {
        assert!(!text.contains(bad), "{bad} in {text}");
    }
}

#[tokio::test]
async fn path_tricks_in_uploaded_file_names_write_nothing_outside_the_media_store() {
    let mut server = Server::start_with(with_chat).await;
    let names = hostile_names();
    let body = report("names-1", "Ảnh ổ gà trước số 10 Lê Lợi");
    let (content_type, raw) = multipart_with_names(&body, &names);
    let response = server.post_raw(Some(APP_TOKEN), &content_type, raw).await;
    assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
    // A NUL byte in a part's headers is not HTTP: the whole upload is refused, naming nothing.
    let (content_type, raw) = multipart_with_names(&report("names-2", "Ảnh"), &[b"a\0b.png".to_vec()]);
    let p = problem(server.post_raw(Some(APP_TOKEN), &content_type, raw).await, 400).await;
    assert_eq!(p["type"], "urn:hue-intake:problem:malformed", "{p}");
    server.delivered(1).await;
    let records = server.sink_lines();
    assert_eq!(records.len(), 1);
    assert_media_without_names(&records[0], names.len());
    assert_only_content_addressed_media(server.dir.path());
    assert_eq!(stored_messages(server.dir.path(), None).await, 1);
}

#[tokio::test]
async fn an_upload_of_5000_parts_is_413_at_the_first_file_over_the_count_and_leaves_nothing() {
    let server = Server::start_with(with_chat).await;
    let names: Vec<Vec<u8>> = (0..5_000).map(|i| format!("p{i}.png").into_bytes()).collect();
    let (content_type, raw) = multipart_with_names(&report("parts-1", "Ảnh ổ gà"), &names);
    let started = Instant::now();
    let p = problem(server.post_raw(Some(APP_TOKEN), &content_type, raw).await, 413).await;
    assert!(started.elapsed() < PROMPT, "{:?}", started.elapsed());
    assert_eq!(p["part"], "photo10", "the eleventh file is named: {p}");
    assert_eq!(stored_messages(server.dir.path(), None).await, 0);
    // The ten files staged before the refusal were thrown away.
    let media = server.dir.path().join("media");
    let left: Vec<_> = walk(&media).into_iter().filter(|p| p.is_file()).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Every path under `dir` (none if it does not exist).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        out.push(path);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_in_mail_attachment_names_write_nothing_outside_the_media_store() {
    use base64::Engine as _;
    let (mut server, ingest) = crate::mail::gateway(|_| {}).await;
    let mut names: Vec<String> = hostile_names().into_iter().map(|n| String::from_utf8(n).unwrap()).collect();
    names.push("a\0b.png".to_owned());
    let mut part = format!("Content-Type: multipart/mixed; boundary=\"n\"\r\n\r\n--n\r\n{TEXT_PART}\r\n");
    for (i, name) in names.iter().enumerate() {
        let mut png = png_declaring(1, 1);
        png.push(i as u8);
        // Both ways a name is given: the plain parameter, and RFC 2231 (percent-encoded UTF-8).
        let encoded: String = name.bytes().map(|b| format!("%{b:02X}")).collect();
        part.push_str(&format!(
            "--n\r\nContent-Type: image/png; name=\"{}\"\r\nContent-Disposition: attachment; filename*=utf-8''{encoded}\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            name.replace('\0', ""),
            base64::engine::general_purpose::STANDARD.encode(&png)
        ));
    }
    part.push_str("--n--");
    let raw = mime_mail(&crate::mail_servers::unique_user("names"), "Ảnh ổ gà", "", &part);
    crate::mail::store(&ingest, &raw).await;
    let record = crate::mail::record(&mut server, 1).await;
    assert_media_without_names(&record, names.len());
    assert_only_content_addressed_media(server.dir.path());
    drop(ingest);
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 8. SQL and HTML in text fields.

#[tokio::test]
async fn sql_and_html_in_text_fields_are_plain_text_stored_verbatim_and_never_markup() {
    let mut server = Server::start_with(with_chat).await;
    let description = "Ống nước vỡ ở số 5 Lê Lợi'; DROP TABLE inbound;-- <script>alert(1)</script>";
    let title = "<img src=x onerror=alert(1)> \" OR \"1\"=\"1";
    let address = "Robert'); DROP TABLE records;--";
    let id = "x'); DELETE FROM inbound WHERE ('1'='1";
    let body = json!({"client_message_id": id, "title": title, "description": description,
        "location": {"lat": 16.4637, "lon": 107.5909, "address": address}});
    let response = server.post_json(APP_TOKEN, &body).await;
    assert_eq!(response.status(), 202);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let ack: Value = response.json().await.unwrap();
    // The store still works afterwards: another report, and both codes look up.
    let second: Value =
        server.post_json(APP_TOKEN, &report("after-sql", "Cây đổ ở kiệt 3 Bà Triệu")).await.json().await.unwrap();
    server.delivered(2).await;
    let records = server.sink_lines();
    let record = records.iter().find(|r| r["id"] == ack["id"]).unwrap();
    assert_eq!(record["description"], description, "verbatim");
    assert_eq!(record["title"], title, "verbatim");
    assert_eq!(record["location"]["address"], address, "verbatim");
    assert_eq!(record["sources"][0]["message_id"], format!("app:{id}"));
    for code in [&ack["tracking_code"], &second["tracking_code"]] {
        let status =
            server.http.get(server.url(&format!("/v1/reports/{}", code.as_str().unwrap()))).send().await.unwrap();
        assert_eq!(status.status(), 200);
        assert!(!status.text().await.unwrap().contains('<'), "the public status carries no report text");
    }
    assert_eq!(stored_messages(server.dir.path(), None).await, 2);
    // The operator console: its page allows no inline script, and its script puts server text
    // into the page as text only.
    let page = server.http.get(server.url("/console")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    let script = server.http.get(server.url("/console/console.js")).send().await.unwrap().text().await.unwrap();
    assert!(script.contains("textContent") && !script.contains("innerHTML") && !script.contains("outerHTML"));
}

#[tokio::test]
async fn duplicate_keys_and_control_characters_in_json_get_a_clear_answer() {
    let mut server = Server::start_with(with_chat).await;
    // Two descriptions: which one would a second parser read? Neither: refused, named.
    let twice = r#"{"client_message_id":"dup-1","description":"Cây đổ ở Lê Lợi","description":"Khác hẳn"}"#;
    let p = problem(server.post_raw(Some(APP_TOKEN), "application/json", twice.as_bytes().to_vec()).await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("duplicate"), "{p}");
    assert!(!p.to_string().contains("Khác"), "{p}");
    // A NUL in a key is refused; in a text it is dropped from the record's text.
    let p = problem(server.post_json(APP_TOKEN, &report("nul\u{0}id", "Cây đổ")).await, 400).await;
    assert_eq!(p["pointer"], "/client_message_id");
    let ack = server.post_json(APP_TOKEN, &report("nul-1", "Cây đổ\u{0} chắn\u{1b}[31m đường Lê Lợi")).await;
    assert_eq!(ack.status(), 202);
    server.delivered(1).await;
    let description = server.sink_lines()[0]["description"].as_str().unwrap().to_owned();
    assert!(!description.chars().any(|c| c.is_control() && c != '\n'), "{description:?}");
    assert!(description.contains("đường Lê Lợi"), "{description:?}");
    assert_eq!(stored_messages(server.dir.path(), None).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_hotline_calls_get_the_same_clear_answers() {
    let mut server = Server::start_with(with_chat).await;
    let token = hue_intake::hotline::operators::issue(&server.store(), "op-hostile").await.unwrap();
    let call = |id: &str, transcript: &str| {
        json!({"call_id": id, "operator_id": "op-hostile", "consent": false, "transcript": transcript,
               "address": "12 Lê Lợi'); DROP TABLE records;--", "lat": 16.4637, "lon": 107.5909})
    };
    let post = |body: Vec<u8>| {
        server
            .http
            .post(server.url("/v1/hotline/calls"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let limit = hue_intake_adapters::app::MAX_DESCRIPTION_CHARS;
    let long = format!("KH: {}", "e\u{0323}\u{0302}".repeat(limit + 1));
    let p = problem(post(call("long", &long).to_string().into_bytes()).await.unwrap(), 400).await;
    assert_eq!(p["pointer"], "/transcript", "{p}");
    let deep = format!(r#"{{"call_id":"deep","transcript":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
    let p = problem(post(deep.into_bytes()).await.unwrap(), 400).await;
    assert_eq!(p["pointer"], "/transcript", "{p}");
    assert_eq!(stored_messages(server.dir.path(), None).await, 0);
    let said = "KH: <script>alert(1)</script> cây đổ'; DROP TABLE inbound;--";
    assert_eq!(post(call("sql", said).to_string().into_bytes()).await.unwrap().status(), 202);
    server.delivered(1).await;
    let record = &server.sink_lines()[0];
    assert_eq!(record["description"], "<script>alert(1)</script> cây đổ'; DROP TABLE inbound;--");
    assert_eq!(record["location"]["address"], "12 Lê Lợi'); DROP TABLE records;--");
}

// ---------------------------------------------------------------------------------------------
// 9. Tokens in query strings.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_in_query_strings_are_refused_and_never_logged() {
    hue_intake::net::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    // No core listens there: deliveries fail and are retried, which the logs then speak of too.
    let config = crate::privacy::write_config(dir.path(), "http://127.0.0.1:9");
    let log = dir.path().join("serve.log");
    let (mut child, address) = crate::privacy::spawn_logging(&config, &log).await;
    let http = reqwest::Client::new();
    let url = |path: &str| format!("http://{address}{path}");
    let body = report("query-1", "Ổ gà lớn trước số 10 Lê Lợi");
    let attempts = [
        http.post(url(&format!("/v1/reports?access_token={APP_TOKEN}"))).json(&body),
        http.post(url(&format!("/v1/reports?token={APP_TOKEN}"))).json(&body),
        // Next to a valid header too: the token has leaked into a URL; the client must stop.
        http.post(url(&format!("/v1/reports?access_token={APP_TOKEN}"))).bearer_auth(APP_TOKEN).json(&body),
        http.post(url(&format!("/v1/reports?Access_Token={APP_TOKEN}&x=1"))).bearer_auth(APP_TOKEN).json(&body),
        http.post(url(&format!("/v1/reports?x=1&access%5Ftoken={APP_TOKEN}"))).bearer_auth(APP_TOKEN).json(&body),
        http.post(url(&format!("/v1/hotline/calls?token={APP_TOKEN}"))).json(&body),
        http.get(url(&format!("/v1/reports/HUE-0000-0000?access_token={APP_TOKEN}"))),
    ];
    for attempt in attempts {
        let p = problem(attempt.send().await.unwrap(), 401).await;
        assert!(!p.to_string().contains(APP_TOKEN), "{p}");
    }
    // The header alone is how it is done.
    let ok = http.post(url("/v1/reports")).bearer_auth(APP_TOKEN).json(&body).send().await.unwrap();
    assert_eq!(ok.status(), 202);
    let metrics = http.get(url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(crate::spawn::terminate(&mut child), "clean exit");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("/v1/reports"), "the logs speak of the requests");
    assert!(!logs.contains(APP_TOKEN), "a token from a query string is in the logs");
    assert!(!metrics.contains(APP_TOKEN));
    assert_eq!(stored_messages(&dir.path().join("data"), None).await, 1, "only the report sent the right way");
}

// ---------------------------------------------------------------------------------------------
// 10. Oversized Vietnamese text.

#[tokio::test]
async fn oversized_vietnamese_text_is_400_naming_the_field_whatever_its_normal_form() {
    let mut server = Server::start_with(with_chat).await;
    let limit = hue_intake_adapters::app::MAX_DESCRIPTION_CHARS;
    // "ệ" is one scalar value in NFC, three in NFD (e, U+0323, U+0302).
    let nfc = "ệ";
    let nfd = "e\u{0323}\u{0302}";
    let refused = [
        ("nfc over", nfc.repeat(limit + 1), "/description"),
        ("nfd over", nfd.repeat(limit + 1), "/description"),
        ("far over", "Đường ngập sâu ".repeat(20_000), "/description"),
        ("combining flood over", format!("a{}", "\u{0301}".repeat(2 * limit)), "/description"),
    ];
    for (case, text, pointer) in &refused {
        let started = Instant::now();
        let p = problem(server.post_json(APP_TOKEN, &report(case, text)).await, 400).await;
        assert_eq!(p["pointer"], *pointer, "{case}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(&limit.to_string()), "{case}: {p}");
        assert!(!p["detail"].as_str().unwrap().contains(nfc), "{case}: problems never quote the text");
        assert!(started.elapsed() < PROMPT, "{case}: {:?}", started.elapsed());
    }
    let p = problem(
        server
            .post_json(
                APP_TOKEN,
                &json!({"client_message_id": "title over",
        "title": nfd.repeat(1_001), "description": "Cây đổ"}),
            )
            .await,
        400,
    )
    .await;
    assert_eq!(p["pointer"], "/title");
    assert_eq!(stored_messages(server.dir.path(), None).await, 0);

    // Within the limit, counted as the record keeps it (NFC): the same text either way, and a
    // flood of combining marks, are taken, and the title stays within its 120.
    let accepted = [
        ("nfc at limit", nfc.repeat(limit)),
        ("nfd at limit", nfd.repeat(limit)),
        ("flood", format!("a{}", "\u{0301}".repeat(10_000))),
    ];
    for (case, text) in &accepted {
        let started = Instant::now();
        let response = server.post_json(APP_TOKEN, &report(case, text)).await;
        assert_eq!(response.status(), 202, "{case}: {}", response.text().await.unwrap());
        assert!(started.elapsed() < PROMPT, "{case}: {:?}", started.elapsed());
    }
    server.delivered(3).await;
    let records = server.sink_lines();
    for record in &records {
        crate::common::assert_valid_report(record);
        let description = record["description"].as_str().unwrap();
        assert!(description.chars().count() <= limit, "{}", description.chars().count());
        assert!(record["title"].as_str().unwrap().chars().count() <= 120);
    }
    let nfd_record = records.iter().find(|r| r["sources"][0]["message_id"] == "app:nfd at limit").unwrap();
    assert_eq!(nfd_record["description"], nfc.repeat(limit), "stored in NFC");
}
