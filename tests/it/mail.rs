//! The mail channel end to end, past the poller: stored mails → records (reports,
//! interactions threaded by R10, no record for machine mail) → replies sent by SMTP to the
//! real Postfix, read back from the real Dovecot (`scripts/mail-servers`).
//!
//! Mails are stored with [`Ingest`] exactly as the poller stores them; the poller itself is
//! tested against Dovecot in `mail_poller`.

use std::time::Duration;

use chrono::Utc;
use hue_intake::config::Security;
use hue_intake::mail::Ingest;
use hue_intake::seal::Sealer;
use serde_json::Value;

use crate::common::Server;
use crate::mail_servers::{self, servers, unique_user, wait_for_messages};

const WAIT: Duration = Duration::from_secs(30);

/// A gateway that sends replies through Postfix (STARTTLS, the test CA trusted by config).
pub(crate) async fn gateway(adjust: impl FnOnce(&mut hue_intake::config::Config)) -> (Server, Ingest) {
    let servers = servers();
    let server = Server::start_with(|c| {
        c.mail.smtp_host = Some("127.0.0.1".into());
        c.mail.smtp_port = servers.smtp_port;
        c.mail.smtp_security = Security::Starttls;
        c.mail.ca_file = Some(servers.ca_file.clone());
        c.mail.from_address = "dttm@hue.test".into();
        c.mail.message_id_domain = "gw.hue.test".into();
        adjust(c);
    })
    .await;
    let config = hue_intake::config::Config::defaults();
    let sealer = Sealer::from_config(&config.privacy, server.dir.path()).unwrap();
    let ingest = Ingest::new(server.store(), sealer);
    (server, ingest)
}

pub(crate) fn mail(from: &str, subject: &str, headers: &str, body: &str) -> Vec<u8> {
    let id = uuid::Uuid::now_v7();
    format!(
        "From: Nguyễn Văn An <{from}>\r\nTo: dttm@hue.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@citizen.test>\r\n\
         Date: Sun, 29 Nov 2026 09:00:00 +0700\r\n{headers}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub(crate) fn header<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    raw.lines().find(|l| l.to_ascii_lowercase().starts_with(&prefix)).map(|l| l[prefix.len()..].trim())
}

pub(crate) fn message_id_of(raw: &[u8]) -> String {
    hue_intake_adapters::email::message_id_of(raw).unwrap()
}

pub(crate) async fn store(ingest: &Ingest, raw: &[u8]) {
    ingest.ingest(raw, Utc::now()).await.unwrap();
}

/// The n-th (1-based) delivered record.
pub(crate) async fn record(server: &mut Server, n: u64) -> Value {
    server.delivered(n).await;
    server.sink_lines()[(n - 1) as usize].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_becomes_a_report_and_the_acknowledgement_threads_under_it() {
    let (mut server, ingest) = gateway(|_| {}).await;
    let alice = unique_user("alice");
    let first = mail(
        &alice,
        "Cây đổ chắn đường",
        "",
        "Cây lớn đổ chắn ngang đường Lê Lợi, phường Phú Hội. Gọi tôi 0905 123 456.",
    );
    store(&ingest, &first).await;
    let report = record(&mut server, 1).await;
    assert_eq!(report["channel"], "email");
    assert_eq!(report["kind"], "report");
    assert_eq!(report["title"], "Cây đổ chắn đường");
    assert_eq!(report["sources"][0]["message_id"], format!("email:{}", message_id_of(&first)));
    assert_eq!(report["reporter"]["has_email"], true);
    let text = report.to_string();
    assert!(!text.contains(&alice) && !text.contains("0905"), "personal data stays out of the record (R8)");
    let code = report["tracking_code"].as_str().unwrap().to_owned();

    // The acknowledgement, from Postfix into Alice's mailbox.
    let replies = wait_for_messages(&alice, "INBOX", 1, WAIT).await;
    let ack = String::from_utf8_lossy(&replies[0]).into_owned();
    let subject = hue_intake_adapters::email::parse(&replies[0]).unwrap().subject.unwrap();
    assert!(subject.starts_with(&format!("[{code}]")), "{subject}");
    assert_eq!(header(&ack, "In-Reply-To"), Some(format!("<{}>", message_id_of(&first)).as_str()));
    assert_eq!(header(&ack, "Auto-Submitted"), Some("auto-replied"));
    assert!(header(&ack, "X-Hue-Intake-Loop").is_some());
    let ours = message_id_of(&replies[0]);
    assert!(ours.ends_with("@gw.hue.test"), "{ours}");

    // Alice answers our mail (threaded by In-Reply-To, subject without the code): an
    // interaction, with her quoted history removed.
    let answer = mail(
        &alice,
        "Re: cây đổ",
        &format!("In-Reply-To: <{ours}>\r\nReferences: <{}> <{ours}>\r\n", message_id_of(&first)),
        "Cây vẫn chưa được dọn.\n\nVào CN, 29 thg 11, 2026 lúc 09:01 Hue-S đã viết:\n> Phản ánh đã được tiếp nhận",
    );
    store(&ingest, &answer).await;
    let interaction = record(&mut server, 2).await;
    assert_eq!(interaction["kind"], "interaction");
    assert_eq!(interaction["in_reply_to"], code.as_str());
    assert_eq!(interaction["description"], "Cây vẫn chưa được dọn.");

    // The code in the subject, from the reporter: an interaction; from a stranger: a new
    // report (R10 against thread hijacking).
    store(&ingest, &mail(&alice, &format!("[{code}] thêm ảnh"), "", "Thêm thông tin: cây to lắm.")).await;
    let tagged = record(&mut server, 3).await;
    assert_eq!(tagged["kind"], "interaction");
    assert_eq!(tagged["in_reply_to"], code.as_str());
    let mallory = unique_user("mallory");
    store(&ingest, &mail(&mallory, &format!("Re: [{code}] cây đổ"), "", "Ổ gà lớn ở kiệt 5 Trần Phú.")).await;
    let foreign = record(&mut server, 4).await;
    assert_eq!(foreign["kind"], "report");
    assert_eq!(foreign["in_reply_to"], Value::Null);
    // The store closes with its last handle: the test's own goes first.
    drop(ingest);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn machine_mail_makes_no_record_and_a_bounce_fails_its_reply() {
    let (mut server, ingest) = gateway(|_| {}).await;
    let bob = unique_user("bob");
    store(&ingest, &mail(&bob, "Rác", "", "Rác tràn ra đường Hùng Vương.")).await;
    record(&mut server, 1).await;
    let ack = wait_for_messages(&bob, "INBOX", 1, WAIT).await;
    let ours = message_id_of(&ack[0]);
    let reply_id = uuid::Uuid::parse_str(ours.split('@').next().unwrap()).unwrap();

    // An out-of-office answer to our acknowledgement, then a bounce of it.
    let ooo = mail(
        &bob,
        "Vắng mặt: Re: Rác",
        &format!("Auto-Submitted: auto-replied\r\nIn-Reply-To: <{ours}>\r\n"),
        "Tôi đi vắng.",
    );
    store(&ingest, &ooo).await;
    let bounce = format!(
        "From: Mail Delivery System <MAILER-DAEMON@hue.test>\r\nTo: dttm@hue.test\r\nSubject: Undelivered Mail\r\n\
         Message-ID: <{}@mx.hue.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@hue.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{ours}>\r\nSubject: x\r\n\r\n--b--\r\n",
        uuid::Uuid::now_v7()
    );
    store(&ingest, bounce.as_bytes()).await;
    // A sentinel after them: once it is a record, both were processed (in order).
    let carol = unique_user("carol");
    store(&ingest, &mail(&carol, "Đèn hỏng", "", "Đèn đường hỏng ở đường Nguyễn Huệ.")).await;
    let sentinel = record(&mut server, 2).await;
    assert_eq!(sentinel["title"], "Đèn hỏng", "machine mail made no record");
    let status = server.store().reply_status(reply_id).await.unwrap().unwrap();
    assert_eq!(status.state, "failed", "the bounce marks our reply failed");
    // Carol's acknowledgement arrives; Bob got nothing for his robot's mails.
    wait_for_messages(&carol, "INBOX", 1, WAIT).await;
    assert_eq!(mail_servers::fetch_all(&bob, "INBOX").await.len(), 1);
    // The store closes with its last handle: the test's own goes first.
    drop(ingest);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_to_one_address_are_rate_limited_and_oversized_mail_is_quarantined_and_answered() {
    let (mut server, ingest) = gateway(|c| {
        c.mail.max_replies_per_address_per_day = 2;
        c.mail.max_message_bytes = 4000;
    })
    .await;
    let loopy = unique_user("loopy");
    for i in 0..3 {
        store(&ingest, &mail(&loopy, &format!("Ổ gà {i}"), "", "Ổ gà ở đường Trần Hưng Đạo.")).await;
    }
    let dave = unique_user("dave");
    let big = mail(&dave, "Ảnh lớn", "", &"A".repeat(5000));
    store(&ingest, &big).await;
    let carol = unique_user("carol");
    store(&ingest, &mail(&carol, "Ngập", "", "Ngập nước ở đường Bà Triệu.")).await;
    // Three reports from the loop, none from the oversized mail, then Carol's.
    let last = record(&mut server, 4).await;
    assert_eq!(last["title"], "Ngập");
    let quarantined = server.store().quarantined(10).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].message_id, message_id_of(&big));
    assert!(quarantined[0].reason.contains("mail.max_message_bytes"), "{}", quarantined[0].reason);
    // Dave is told; replies are sent oldest first, so once Carol has hers the loop's are out.
    let told = wait_for_messages(&dave, "INBOX", 1, WAIT).await;
    let notice = hue_intake_adapters::email::parse(&told[0]).unwrap();
    assert!(notice.body_text.contains("4000") || notice.body_text.contains("1 MB"), "{}", notice.body_text);
    wait_for_messages(&carol, "INBOX", 1, WAIT).await;
    assert_eq!(mail_servers::fetch_all(&loopy, "INBOX").await.len(), 2, "at most 2 replies a day to one address");
    // The store closes with its last handle: the test's own goes first.
    drop(ingest);
    server.stop().await;
}

/// The whole path as deployed: a citizen's mail goes through Postfix into the dttm@ mailbox in
/// Dovecot, `serve`'s poller reads it (implicit TLS, the test CA), the pipeline makes the
/// record, and the acknowledgement goes back through Postfix into the citizen's mailbox.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_reads_the_mailbox_and_answers_the_citizen_by_mail() {
    use lettre::AsyncTransport;
    let s = servers();
    let dttm = unique_user("dttm");
    let (mut server, ingest) = gateway(|c| {
        c.mail.imap_host = Some("127.0.0.1".into());
        c.mail.imap_port = s.imaps_port;
        c.mail.imap_security = Security::Tls;
        c.mail.imap_username = Some(dttm.clone());
        c.mail.imap_password = Some(s.password.into());
        c.mail.from_address = dttm.clone();
    })
    .await;
    drop(ingest);
    let alice = unique_user("alice");
    let raw = mail(&alice, "Cây đổ", "", "Cây đổ chắn đường Lê Lợi, phường Phú Hội.");
    let envelope = lettre::address::Envelope::new(Some(alice.parse().unwrap()), vec![dttm.parse().unwrap()]).unwrap();
    lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(s.smtp_port)
        .build()
        .send_raw(&envelope, &raw)
        .await
        .unwrap();
    let report = record(&mut server, 1).await;
    assert_eq!(report["channel"], "email");
    assert_eq!(report["sources"][0]["message_id"], format!("email:{}", message_id_of(&raw)));
    let code = report["tracking_code"].as_str().unwrap().to_owned();
    let ack = wait_for_messages(&alice, "INBOX", 1, WAIT).await;
    let subject = hue_intake_adapters::email::parse(&ack[0]).unwrap().subject.unwrap();
    assert!(subject.contains(&code), "{subject}");
    // The mail was moved out of the inbox once stored.
    wait_for_messages(&dttm, "Processed", 1, WAIT).await;
    assert!(mail_servers::fetch_all(&dttm, "INBOX").await.is_empty());
    server.stop().await;
}

/// An attached photo goes through the app channel's checks into the media store, and its
/// EXIF position places the report (SPEC §8: EXIF fills the place when the mail has none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_photo_is_stored_and_its_gps_places_the_report() {
    let (mut server, ingest) = gateway(|_| {}).await;
    let raw = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/tests/fixtures/email/photo_with_gps.eml"),
    )
    .unwrap();
    store(&ingest, &raw).await;
    let report = record(&mut server, 1).await;
    assert_eq!(report["location"]["source"], "photo_exif");
    assert_eq!(report["location"]["ward"]["name"], "Thuận Hóa");
    let sha = report["media"][0]["sha256"].as_str().unwrap();
    let stored = server.dir.path().join("media").join(&sha[..2]).join(sha);
    assert_eq!(hue_intake_adapters::media::sha256_hex(&std::fs::read(stored).unwrap()), sha);
    drop(ingest);
    server.stop().await;
}
