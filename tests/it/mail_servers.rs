//! The real mail servers of the test suite (Dovecot for IMAP, Postfix for SMTP delivering into
//! Dovecot), started by `scripts/mail-servers start` (which `scripts/test` runs first), and
//! small async helpers to put mails in and read them back.
//!
//! Fixed ports on 127.0.0.1: IMAP 10143 (plaintext, STARTTLS offered), IMAPS 10993, SMTP 10025
//! (STARTTLS offered, no auth needed from 127.0.0.1 for `@hue.test`), SMTPS 10465. Any user
//! `<name>@hue.test` exists and logs in with [`MailServers::password`]; mail for it goes to its
//! INBOX. Use [`unique_user`] so tests running in parallel never share a mailbox. The servers'
//! certificate (for `localhost` and `127.0.0.1`, self-signed) is [`MailServers::ca_file`].

#![allow(dead_code)] // an API for the other test modules; not every helper is used by all

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// A logged-in IMAP session over plaintext TCP (test tooling only).
pub type ImapSession = async_imap::Session<TcpStream>;

/// Where the mail servers listen and how to log in.
#[derive(Debug)]
pub struct MailServers {
    /// IMAP, plaintext with STARTTLS offered (10143).
    pub imap_port: u16,
    /// IMAP over implicit TLS (10993).
    pub imaps_port: u16,
    /// SMTP (Postfix), STARTTLS offered (10025).
    pub smtp_port: u16,
    /// SMTP over implicit TLS (10465).
    pub smtps_port: u16,
    /// The self-signed certificate both servers present (PEM); trust it as the only root.
    pub ca_file: PathBuf,
    /// The password of every `@hue.test` user.
    pub password: &'static str,
}

/// The mail servers, checked once per test binary: panics with a clear message if IMAP does not
/// answer. The state dir is `$HUE_TEST_MAIL_DIR` (default `/var/tmp/hue-intake-mail`).
pub fn servers() -> &'static MailServers {
    static SERVERS: OnceLock<MailServers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let dir = std::env::var_os("HUE_TEST_MAIL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/tmp/hue-intake-mail"));
        let s = MailServers {
            imap_port: 10143,
            imaps_port: 10993,
            smtp_port: 10025,
            smtps_port: 10465,
            ca_file: dir.join("cert.pem"),
            password: "hue-test",
        };
        for (what, port) in [("IMAP", s.imap_port), ("SMTP", s.smtp_port)] {
            let answered = std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2));
            assert!(
                answered.is_ok(),
                "the test mail servers are not running ({what} 127.0.0.1:{port} does not answer): run scripts/mail-servers start"
            );
        }
        assert!(
            s.ca_file.is_file(),
            "{} is missing: run scripts/mail-servers start (or set HUE_TEST_MAIL_DIR to its state dir)",
            s.ca_file.display()
        );
        s
    })
}

/// A user no other call returns: `<prefix>-<uuid v7 simple>@hue.test`.
pub fn unique_user(prefix: &str) -> String {
    format!("{prefix}-{}@hue.test", uuid::Uuid::now_v7().simple())
}

/// A logged-in IMAP session for `user` on the plaintext port.
pub async fn imap(user: &str) -> ImapSession {
    imap_at(([127, 0, 0, 1], servers().imap_port).into(), user).await
}

/// A logged-in IMAP session for `user` through any address speaking plaintext IMAP (e.g. a
/// [`CutProxy`] in front of the IMAP port).
pub async fn imap_at(addr: SocketAddr, user: &str) -> ImapSession {
    let password = servers().password;
    let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect IMAP {addr}: {e}"));
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .unwrap_or_else(|e| panic!("IMAP greeting from {addr}: {e}"))
        .unwrap_or_else(|| panic!("IMAP {addr} closed before its greeting"));
    client.login(user, password).await.unwrap_or_else(|(e, _)| panic!("IMAP login {user} at {addr}: {e}"))
}

/// Appends one raw message to `user`'s `mailbox`, creating the mailbox if missing.
pub async fn append(user: &str, mailbox: &str, raw: &[u8]) {
    let mut session = imap(user).await;
    if session.select(mailbox).await.is_err() {
        session.create(mailbox).await.unwrap_or_else(|e| panic!("CREATE {mailbox} for {user}: {e}"));
    }
    session.append(mailbox, None, None, raw).await.unwrap_or_else(|e| panic!("APPEND to {mailbox} of {user}: {e}"));
    let _ = session.logout().await;
}

/// The raw bytes of every message in `user`'s `mailbox`, by UID order; empty if the mailbox
/// does not exist.
pub async fn fetch_all(user: &str, mailbox: &str) -> Vec<Vec<u8>> {
    let mut session = imap(user).await;
    let messages = fetch_selected(&mut session, mailbox).await.unwrap_or_default();
    let _ = session.logout().await;
    messages
}

/// Selects `mailbox` and fetches every message; `None` if it cannot be selected (missing).
async fn fetch_selected(session: &mut ImapSession, mailbox: &str) -> Option<Vec<Vec<u8>>> {
    let selected = session.select(mailbox).await.ok()?;
    if selected.exists == 0 {
        return Some(Vec::new());
    }
    let fetches: Vec<_> = session
        .uid_fetch("1:*", "(UID BODY.PEEK[])")
        .await
        .unwrap_or_else(|e| panic!("UID FETCH in {mailbox}: {e}"))
        .try_collect()
        .await
        .unwrap_or_else(|e| panic!("UID FETCH in {mailbox}: {e}"));
    let mut by_uid: Vec<(u32, Vec<u8>)> =
        fetches.iter().map(|f| (f.uid.unwrap_or(0), f.body().unwrap_or_default().to_vec())).collect();
    by_uid.sort_by_key(|(uid, _)| *uid);
    Some(by_uid.into_iter().map(|(_, raw)| raw).collect())
}

/// Waits until `user`'s `mailbox` holds at least `n` messages and returns all of them (as
/// [`fetch_all`]). Event-driven: the selected mailbox is watched with IMAP IDLE; each IDLE round
/// is capped at one second so a change racing the start of IDLE is still seen. While the mailbox
/// does not exist yet, it is looked for again every 100 ms. Panics after `timeout`, naming what
/// it waited for and what it found.
pub async fn wait_for_messages(user: &str, mailbox: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut session = imap(user).await;
    let mut seen = None;
    loop {
        let selected = session.select(mailbox).await.ok();
        let exists = selected.as_ref().map(|m| m.exists as usize);
        seen = exists.or(seen);
        if exists.is_some_and(|e| e >= n) {
            let messages = fetch_selected(&mut session, mailbox).await.unwrap_or_default();
            let _ = session.logout().await;
            return messages;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "waited {timeout:?} for {n} message(s) in {mailbox} of {user}; found {}",
            match seen {
                Some(count) => format!("{count}"),
                None => "no such mailbox".to_owned(),
            }
        );
        if selected.is_none() {
            tokio::time::sleep(left.min(Duration::from_millis(100))).await;
            continue;
        }
        let mut idle = session.idle();
        idle.init().await.unwrap_or_else(|e| panic!("IDLE on {mailbox} of {user}: {e}"));
        let (wait, _stop) = idle.wait_with_timeout(left.min(Duration::from_secs(1)));
        wait.await.unwrap_or_else(|e| panic!("IDLE on {mailbox} of {user}: {e}"));
        session = idle.done().await.unwrap_or_else(|e| panic!("IDLE DONE on {mailbox} of {user}: {e}"));
    }
}

/// Deletes and re-creates `user`'s `mailbox` (creating it if missing), so that it is empty and
/// has a new UIDVALIDITY; asserts the UIDVALIDITY changed. Returns the new UIDVALIDITY.
///
/// INBOX cannot be deleted in Dovecot: for it, every message is expunged over IMAP and the
/// UIDVALIDITY is raised with `doveadm mailbox update` against the test instance's config
/// (`$HUE_TEST_MAIL_DIR/dovecot.conf`; needs the same machine and root, as the servers do).
pub async fn recreate_mailbox(user: &str, mailbox: &str) -> u32 {
    let mut session = imap(user).await;
    let (before, exists) = match session.select(mailbox).await {
        Ok(m) => (m.uid_validity, m.exists),
        Err(_) => (None, 0),
    };
    if mailbox.eq_ignore_ascii_case("INBOX") {
        let before = before.expect("INBOX has a UIDVALIDITY");
        if exists > 0 {
            session
                .run_command_and_check_ok("STORE 1:* +FLAGS.SILENT (\\Deleted)")
                .await
                .unwrap_or_else(|e| panic!("STORE \\Deleted in INBOX of {user}: {e}"));
            session
                .run_command_and_check_ok("EXPUNGE")
                .await
                .unwrap_or_else(|e| panic!("EXPUNGE INBOX of {user}: {e}"));
        }
        let _ = session.logout().await;
        let conf = servers().ca_file.with_file_name("dovecot.conf");
        let next = before.wrapping_add(1).max(1);
        let status = std::process::Command::new("doveadm")
            .arg("-c")
            .arg(&conf)
            .args(["mailbox", "update", "-u", user, "--uid-validity", &next.to_string(), "INBOX"])
            .status()
            .expect("run doveadm");
        assert!(status.success(), "doveadm mailbox update --uid-validity for INBOX of {user} failed");
        session = imap(user).await;
    } else if before.is_some() {
        session.close().await.unwrap_or_else(|e| panic!("CLOSE {mailbox} of {user}: {e}"));
        session.delete(mailbox).await.unwrap_or_else(|e| panic!("DELETE {mailbox} of {user}: {e}"));
        session.create(mailbox).await.unwrap_or_else(|e| panic!("CREATE {mailbox} of {user}: {e}"));
    } else {
        session.create(mailbox).await.unwrap_or_else(|e| panic!("CREATE {mailbox} of {user}: {e}"));
    }
    let after = session
        .select(mailbox)
        .await
        .unwrap_or_else(|e| panic!("SELECT {mailbox} of {user}: {e}"))
        .uid_validity
        .expect("UIDVALIDITY in SELECT answer");
    assert_ne!(before, Some(after), "UIDVALIDITY of {mailbox} of {user} did not change on re-creation");
    let _ = session.logout().await;
    after
}

/// A TCP proxy on 127.0.0.1 (port 0) to a local target port, to break connections on purpose.
/// Dropping it stops accepting and closes every connection.
pub struct CutProxy {
    /// Where clients connect instead of the target.
    pub addr: SocketAddr,
    target: u16,
    refusing: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    open: Arc<Mutex<Vec<AbortHandle>>>,
    acceptor: AbortHandle,
}

impl CutProxy {
    /// Starts a proxy to `127.0.0.1:target_port`.
    pub async fn start(target_port: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let refusing = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let open: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let acceptor = tokio::spawn({
            let (refusing, accepted, open) = (refusing.clone(), accepted.clone(), open.clone());
            async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else { continue };
                    if refusing.load(Ordering::SeqCst) {
                        drop(inbound);
                        continue;
                    }
                    accepted.fetch_add(1, Ordering::SeqCst);
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    let mut open = open.lock().unwrap();
                    open.retain(|t| !t.is_finished());
                    open.push(task.abort_handle());
                }
            }
        })
        .abort_handle();
        CutProxy { addr, target: target_port, refusing, accepted, open, acceptor }
    }

    /// The port the proxy forwards to.
    pub fn target(&self) -> u16 {
        self.target
    }

    /// Drops every open connection at once (both sides see the TCP connection close); new
    /// connections are still accepted unless [`CutProxy::refuse`] is set.
    pub fn cut(&self) {
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// While `true`, new connections are closed right after accept (not counted).
    pub fn refuse(&self, refuse: bool) {
        self.refusing.store(refuse, Ordering::SeqCst);
    }

    /// How many connections were accepted and forwarded so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut();
    }
}

#[tokio::test]
async fn mail_servers_round_trip() {
    use lettre::AsyncTransport as _;

    let s = servers();

    // IMAP: append, fetch back.
    let poll = unique_user("poll");
    let raw = b"From: a@example.org\r\nTo: poll@hue.test\r\nSubject: appended\r\nMessage-ID: <a1@example.org>\r\n\r\nhello\r\n";
    assert!(fetch_all(&poll, "INBOX").await.is_empty());
    assert!(fetch_all(&poll, "Nope").await.is_empty(), "a missing mailbox reads as empty");
    append(&poll, "INBOX", raw).await;
    append(&poll, "Other", raw).await;
    assert_eq!(fetch_all(&poll, "INBOX").await, vec![raw.to_vec()]);
    assert_eq!(fetch_all(&poll, "Other").await.len(), 1);

    // SMTP into Postfix, delivered by LMTP into Dovecot, seen through IDLE.
    let to = unique_user("reply");
    let email = lettre::Message::builder()
        .from("gateway@example.org".parse().unwrap())
        .to(to.parse().unwrap())
        .subject("sent by SMTP")
        .body("reply body".to_owned())
        .unwrap();
    let mailer =
        lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1").port(s.smtp_port).build();
    let (got, sent) = tokio::join!(wait_for_messages(&to, "INBOX", 1, Duration::from_secs(20)), mailer.send(email));
    sent.expect("Postfix accepts mail for @hue.test");
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("Subject: sent by SMTP"), "{text}");
    assert!(text.contains("reply body"), "{text}");

    // A re-created mailbox is empty and has a new UIDVALIDITY.
    let first = recreate_mailbox(&poll, "Other").await;
    assert!(fetch_all(&poll, "Other").await.is_empty());
    let second = recreate_mailbox(&poll, "Other").await;
    assert_ne!(first, second);
    let inbox_before = recreate_mailbox(&poll, "INBOX").await;
    assert!(fetch_all(&poll, "INBOX").await.is_empty(), "a re-created INBOX is empty");
    assert_ne!(recreate_mailbox(&poll, "INBOX").await, inbox_before);

    // A cut through the proxy breaks the open session; new sessions still work.
    let proxy = CutProxy::start(s.imap_port).await;
    let mut session = imap_at(proxy.addr, &poll).await;
    session.select("INBOX").await.unwrap();
    assert_eq!(proxy.connections(), 1);
    proxy.cut();
    assert!(session.noop().await.is_err(), "a command after the cut fails");
    let mut again = imap_at(proxy.addr, &poll).await;
    again.noop().await.unwrap();
    assert_eq!(proxy.connections(), 2);
    proxy.refuse(true);
    let refused = TcpStream::connect(proxy.addr).await.unwrap();
    let mut client = async_imap::Client::new(refused);
    assert!(client.read_response().await.ok().flatten().is_none(), "no greeting while refusing");
    assert_eq!(proxy.connections(), 2);
    proxy.refuse(false);
    let _ = again.logout().await;
}
