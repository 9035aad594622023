//! The mail poller against the real Dovecot of `scripts/mail-servers`: new mail while idling,
//! a SIGKILL of `hue-intake poll-mail` in the middle of a 200-mail backlog, a UIDVALIDITY
//! change, a cut connection, STARTTLS and implicit TLS with the test CA, a refused login.
//!
//! Every test has its own `@hue.test` user. Nothing sleeps to synchronise: the tests wait on
//! the mailbox itself (IMAP IDLE in `wait_for_messages`) or on a condition checked with a
//! deadline. The pipeline's e-mail stage is not asserted on here: only what the poller owns,
//! the stored raw messages (`message_ids`) and the mailboxes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hue_intake::chat::health::ChannelHealth;
use hue_intake::config::{Mail, Security};
use hue_intake::mail::Poller;
use hue_intake::seal::Sealer;
use hue_intake::store::{Options, Store};
use hue_intake_schemas::Channel;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::common::Server;
use crate::mail_servers::{self, CutProxy, servers, unique_user, wait_for_messages};

const WAIT: Duration = Duration::from_secs(30);

/// A citizen's mail with `id` as Message-ID (stored without the angle brackets).
fn mail(id: &str, n: usize) -> Vec<u8> {
    format!(
        "From: =?UTF-8?Q?Nguy=E1=BB=85n_V=C4=83n_A?= <nva{n}@example.org>\r\n\
         To: dttm@hue.test\r\n\
         Subject: =?UTF-8?B?xJDDqG4gxJHGsOG7nW5nIGjhu49uZw==?= {n}\r\n\
         Message-ID: <{id}>\r\n\
         Date: Sun, 29 Nov 2026 10:00:00 +0700\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\
         Đèn đường hỏng trước số {n} Lê Lợi, phường Vĩnh Ninh.\r\n"
    )
    .into_bytes()
}

fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|n| format!("{prefix}-{n}@example.org")).collect()
}

/// The `[mail]` section for `user` on Dovecot: STARTTLS on 10143 with the test CA, IDLE the
/// only wake-up (an hour between polls), a short reconnect back-off.
fn mail_config(user: &str) -> Mail {
    let s = servers();
    let mut mail = hue_intake::config::Config::defaults().mail;
    mail.imap_host = Some("127.0.0.1".into());
    mail.imap_port = s.imap_port;
    mail.imap_security = Security::Starttls;
    mail.imap_username = Some(user.into());
    mail.imap_password = Some(s.password.into());
    mail.ca_file = Some(s.ca_file.clone());
    mail.poll_interval_secs = 3600;
    mail.idle_renew_secs = 3600;
    mail.reconnect_min_secs = 1;
    mail.reconnect_max_secs = 1;
    mail
}

/// A poller running in this process on its own store.
struct Running {
    store: Store,
    health: ChannelHealth,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start_poller(mail: Mail) -> Running {
    hue_intake::net::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let store =
        Store::open_sqlite(dir.path(), Options { group_commit_max_batch: 64, max_database_bytes: None }).await.unwrap();
    let health = ChannelHealth::default();
    let poller = Poller::new(&mail, store.clone(), Sealer::new("test", &[7; 32]), health.clone()).unwrap();
    let stop = CancellationToken::new();
    let task = tokio::spawn(poller.run(stop.clone()));
    Running { store, health, stop, task, _dir: dir }
}

impl Running {
    /// The channel's state as `/readyz` would show it: (state, detail).
    fn email(&self) -> Option<(String, Option<String>)> {
        self.health.snapshot().get(&Channel::Email).map(|s| (s.state.to_owned(), s.detail.clone()))
    }

    async fn wait_health(&self, state: &str) -> Option<String> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let now = self.email();
            if let Some((s, detail)) = &now
                && s == state
            {
                return detail.clone();
            }
            assert!(tokio::time::Instant::now() < deadline, "email never became {state}: {now:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the poller (promptly, also while idling); the store stays open, in its directory.
    async fn stop(self) -> (Store, tempfile::TempDir) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task).await.expect("the poller stops promptly").unwrap();
        (self.store, self._dir)
    }
}

/// Waits until `user`'s `mailbox` is empty.
async fn wait_empty(user: &str, mailbox: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let left = mail_servers::fetch_all(user, mailbox).await.len();
        if left == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{mailbox} still holds {left} message(s)");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn message_ids_of(raws: &[Vec<u8>]) -> Vec<String> {
    raws.iter().map(|r| hue_intake_adapters::email::message_id_of(r).expect("a Message-ID")).collect()
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v
}

#[tokio::test]
async fn new_mail_while_idling_is_stored_then_moved_to_processed() {
    let user = unique_user("idle");
    let poller = start_poller(mail_config(&user)).await;
    // Connected, first (empty) round done, idling: polls are an hour apart, so only IDLE can
    // bring the mail appended now in time.
    poller.wait_health("ok").await;
    mail_servers::append(&user, "INBOX", &mail("idle-1@example.org", 1)).await;
    let processed = wait_for_messages(&user, "Processed", 1, WAIT).await;
    assert_eq!(message_ids_of(&processed), ["idle-1@example.org"]);
    wait_empty(&user, "INBOX").await;
    let (store, _dir) = poller.stop().await;
    // Moved only after the commit: it is in the store.
    assert_eq!(store.message_ids(Channel::Email).await.unwrap(), ["idle-1@example.org"]);
    assert!(store.mail_checkpoint("INBOX").await.unwrap().is_some_and(|c| c.last_uid >= 1));
    store.close().await;
}

fn write_poll_config(dir: &Path, user: &str) -> PathBuf {
    let s = servers();
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\ndata_dir = \"{data}\"\n\
             [mail]\nimap_host = \"127.0.0.1\"\nimap_port = {port}\nimap_security = \"starttls\"\n\
             imap_username = \"{user}\"\nimap_password = \"{password}\"\nca_file = \"{ca}\"\n\
             fetch_batch = 2\npoll_interval_secs = 3600\nreconnect_min_secs = 1\nreconnect_max_secs = 1\n",
            data = dir.join("data").display(),
            port = s.imap_port,
            password = s.password,
            ca = s.ca_file.display(),
        ),
    )
    .unwrap();
    path
}

fn spawn_poll_mail(config: &Path) -> Child {
    let stderr = if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() };
    Command::new(env!("CARGO_BIN_EXE_hue-intake"))
        .args(["poll-mail", "--config"])
        .arg(config)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("hue-intake poll-mail starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_mail_killed_mid_backlog_and_restarted_stores_every_mail_exactly_once() {
    const MAILS: usize = 200;
    let user = unique_user("kill");
    let expected = ids("kill", 0..MAILS);
    {
        // About 64 KB each (a long report with a quoted thread): the drain takes long enough
        // for the kill to land in the middle of it.
        let padding = "> Đèn đường trước số 12 Lê Lợi vẫn chưa được sửa, buổi tối rất nguy hiểm.\r\n".repeat(800);
        let mut session = mail_servers::imap(&user).await;
        for (n, id) in expected.iter().enumerate() {
            let mut raw = mail(id, n);
            raw.extend_from_slice(padding.as_bytes());
            session.append("INBOX", None, None, raw).await.unwrap();
        }
        let _ = session.logout().await;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = write_poll_config(dir.path(), &user);

    let mut child = spawn_poll_mail(&config);
    // Batches of 2: the kill lands while most of the backlog is still in the inbox, between
    // any two steps (fetch, commit, move, checkpoint).
    wait_for_messages(&user, "Processed", 20, WAIT).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let moved_before_kill = mail_servers::fetch_all(&user, "Processed").await.len();
    assert!(moved_before_kill < MAILS, "the kill came after the whole backlog was drained");

    let mut child = spawn_poll_mail(&config);
    let processed = wait_for_messages(&user, "Processed", MAILS, Duration::from_secs(120)).await;
    wait_empty(&user, "INBOX").await;
    assert!(crate::spawn::terminate(&mut child), "poll-mail exits cleanly on SIGTERM");

    let moved = message_ids_of(&processed);
    assert_eq!(moved.len(), MAILS, "each mail moved once");
    assert_eq!(sorted(&moved), sorted(&expected));
    let store =
        Store::open_sqlite(&dir.path().join("data"), Options { group_commit_max_batch: 8, max_database_bytes: None })
            .await
            .unwrap();
    let stored = store.message_ids(Channel::Email).await.unwrap();
    assert_eq!(stored.len(), MAILS, "each mail stored exactly once (killed after {moved_before_kill} moves)");
    assert_eq!(stored.iter().collect::<BTreeSet<_>>().len(), MAILS);
    assert_eq!(sorted(&stored), sorted(&expected));
    // Oldest first: receive order is append order.
    assert_eq!(stored, expected, "stored in UID order");
    store.close().await;
}

#[tokio::test]
async fn a_uidvalidity_change_resyncs_without_storing_anything_twice() {
    let user = unique_user("uidv");
    let mut config = mail_config(&user);
    config.mailbox = "Reports".into();
    let old = ids("uidv", 0..4);
    mail_servers::append(&user, "Reports", &mail(&old[0], 0)).await;
    mail_servers::append(&user, "Reports", &mail(&old[1], 1)).await;
    let poller = start_poller(config).await;
    wait_for_messages(&user, "Processed", 2, WAIT).await;
    let before = poller.store.mail_checkpoint("Reports").await.unwrap().expect("a checkpoint");
    assert_eq!(before.last_uid, 2);

    // The mailbox is replaced under the poller: new UIDVALIDITY, UIDs from 1 again. One mail
    // already stored comes back (a restore from backup does that), two are new.
    let uidvalidity = mail_servers::recreate_mailbox(&user, "Reports").await;
    assert_ne!(uidvalidity, before.uidvalidity);
    for (n, id) in [(0, &old[0]), (2, &old[2]), (3, &old[3])] {
        mail_servers::append(&user, "Reports", &mail(id, n)).await;
    }
    // All three are moved (the repeat too: it is stored, so it may leave the inbox).
    wait_for_messages(&user, "Processed", 5, WAIT).await;
    wait_empty(&user, "Reports").await;
    let (store, _dir) = poller.stop().await;
    assert_eq!(store.message_ids(Channel::Email).await.unwrap(), old, "no duplicate, the new ones stored");
    let after = store.mail_checkpoint("Reports").await.unwrap().unwrap();
    assert_eq!(after.uidvalidity, uidvalidity);
    assert_eq!(after.last_uid, 3);
    store.close().await;
}

async fn readyz(server: &Server) -> Value {
    let response = server.http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200, "a failing mailbox does not make the gateway unready");
    response.json().await.unwrap()
}

async fn wait_readyz_email(server: &Server, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let body = readyz(server).await;
        if body["channels"]["email"]["state"] == state {
            return body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz never showed email {state}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cut_connection_shows_in_readyz_and_mail_sent_meanwhile_is_read_after_reconnecting() {
    let user = unique_user("cut");
    let proxy = CutProxy::start(servers().imap_port).await;
    let server = Server::start_with(|c| {
        c.mail = mail_config(&user);
        c.mail.imap_port = proxy.addr.port();
    })
    .await;
    let ready = wait_readyz_email(&server, "ok").await;
    assert_eq!(ready["status"], "ready");
    mail_servers::append(&user, "INBOX", &mail("cut-0@example.org", 0)).await;
    wait_for_messages(&user, "Processed", 1, WAIT).await;

    proxy.refuse(true);
    proxy.cut();
    let ready = wait_readyz_email(&server, "failing").await;
    assert_eq!(ready["status"], "degraded");
    assert!(ready["channels"]["email"]["detail"].as_str().is_some_and(|d| !d.contains(&user)), "{ready}");
    // Sent while the gateway cannot reach the mailbox.
    mail_servers::append(&user, "INBOX", &mail("cut-1@example.org", 1)).await;
    mail_servers::append(&user, "INBOX", &mail("cut-2@example.org", 2)).await;

    proxy.refuse(false);
    let processed = wait_for_messages(&user, "Processed", 3, WAIT).await;
    wait_readyz_email(&server, "ok").await;
    wait_empty(&user, "INBOX").await;
    assert_eq!(sorted(&message_ids_of(&processed)), sorted(&ids("cut", 0..3)));
    assert_eq!(server.store().message_ids(Channel::Email).await.unwrap(), ids("cut", 0..3));
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("hue_intake_mail_reconnects_total"), "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn starttls_and_implicit_tls_work_with_the_test_ca_and_fail_without_it() {
    let s = servers();
    for (security, port) in [(Security::Starttls, s.imap_port), (Security::Tls, s.imaps_port)] {
        let user = unique_user("tls");
        let mut config = mail_config(&user);
        (config.imap_security, config.imap_port) = (security, port);
        let id = format!("tls-{port}@example.org");
        mail_servers::append(&user, "INBOX", &mail(&id, 0)).await;
        let poller = start_poller(config).await;
        wait_for_messages(&user, "Processed", 1, WAIT).await;
        let (store, _dir) = poller.stop().await;
        assert_eq!(store.message_ids(Channel::Email).await.unwrap(), [id], "{security:?}");
        store.close().await;
    }

    // The self-signed certificate is not trusted without mail.ca_file.
    let user = unique_user("untrusted");
    let mut config = mail_config(&user);
    (config.imap_security, config.imap_port, config.ca_file) = (Security::Tls, s.imaps_port, None);
    mail_servers::append(&user, "INBOX", &mail("untrusted@example.org", 0)).await;
    let poller = start_poller(config).await;
    // The first state is "connecting"; then the verdict of the handshake.
    wait_detail(&poller, "TLS with the IMAP server failed").await;
    let (store, _dir) = poller.stop().await;
    assert!(store.message_ids(Channel::Email).await.unwrap().is_empty());
    assert_eq!(mail_servers::fetch_all(&user, "INBOX").await.len(), 1, "nothing moved");
    store.close().await;
}

async fn wait_detail(poller: &Running, needle: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = poller.email();
        if let Some((_, Some(detail))) = &now
            && detail.contains(needle)
        {
            return detail.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "email health never said {needle:?}: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_wrong_password_shows_failing_and_the_poller_keeps_trying_without_crashing() {
    let user = unique_user("badpw");
    let mut config = mail_config(&user);
    config.imap_password = Some("not-the-password".into());
    mail_servers::append(&user, "INBOX", &mail("badpw@example.org", 0)).await;
    let poller = start_poller(config).await;
    let detail = wait_detail(&poller, "refused the login").await;
    assert!(!detail.contains("not-the-password") && !detail.contains(&user), "{detail}");
    assert!(!poller.task.is_finished(), "still running, retrying");
    let (store, _dir) = poller.stop().await;
    assert!(store.message_ids(Channel::Email).await.unwrap().is_empty());
    assert_eq!(mail_servers::fetch_all(&user, "INBOX").await.len(), 1);
    store.close().await;
}

#[test]
fn poll_mail_without_a_mailbox_is_a_one_line_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("[store]\ndata_dir = \"{}\"\n", dir.path().join("data").display())).unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_hue-intake")).args(["poll-mail", "--config"]).arg(&config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("mail.imap_host"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing created");
}
