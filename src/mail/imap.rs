//! Opening an IMAP session as configured: implicit TLS, STARTTLS or (for a server on this
//! machine only) plaintext, then LOGIN with a password or AUTHENTICATE XOAUTH2 with a token.
//!
//! async-imap brings no TLS of its own (reference/rust-anchors.md): the stream below is a
//! tokio TCP stream, or tokio-rustls over one, behind one type so that a session is the same
//! type whatever the security. Failures come back as [`Failure`]s whose `reason` is a fixed
//! phrase for `/readyz` and logs (never the server's text, which may echo what we sent).

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{Mail, Security};

/// How long connecting, the TLS handshake and login may take together.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The connection under an IMAP session.
#[derive(Debug)]
pub enum MailStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// An authenticated session on the configured server.
pub type ImapSession = Session<MailStream>;

impl AsyncRead for MailStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MailStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_flush(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MailStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MailStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why a session could not be opened or went on: `reason` for operators (fixed words),
/// `detail` for the log line (an I/O or protocol error, no credentials).
#[derive(Debug)]
pub struct Failure {
    pub reason: &'static str,
    pub detail: String,
    /// The server refused our credentials: retrying soon will not help, so the back-off is
    /// not reset and the health says so.
    pub login_refused: bool,
}

impl Failure {
    pub fn new(reason: &'static str, detail: impl fmt::Display) -> Failure {
        Failure { reason, detail: detail.to_string(), login_refused: false }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

/// SASL XOAUTH2 (Gmail, Microsoft 365): one message carrying the user and the bearer token.
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        // A second challenge is the server's error report (JSON); answering it with the same
        // string makes the server end the exchange with NO, which is what we want to see.
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

/// Connects, secures and logs in as `mail` says; the session is not yet in a mailbox.
pub async fn open(mail: &Mail, tls: Arc<rustls::ClientConfig>) -> Result<ImapSession, Failure> {
    match tokio::time::timeout(CONNECT_TIMEOUT, open_inner(mail, tls)).await {
        Ok(result) => result,
        Err(_) => Err(Failure::new("the IMAP server did not answer in time", "connect and login timed out")),
    }
}

async fn open_inner(mail: &Mail, tls: Arc<rustls::ClientConfig>) -> Result<ImapSession, Failure> {
    let host = mail.imap_host.as_deref().unwrap_or_default();
    let tcp = TcpStream::connect((host, mail.imap_port))
        .await
        .map_err(|e| Failure::new("cannot connect to the IMAP server", e))?;
    let _ = tcp.set_nodelay(true);
    let client = match mail.imap_security {
        Security::Tls => {
            let mut client = Client::new(MailStream::Tls(Box::new(handshake(host, tcp, tls).await?)));
            greeting(&mut client).await?;
            client
        }
        Security::Starttls => {
            let mut client = Client::new(MailStream::Plain(tcp));
            greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| Failure::new("the IMAP server refused STARTTLS", e))?;
            let MailStream::Plain(tcp) = client.into_inner() else { unreachable!("the stream was made plain above") };
            // No greeting after STARTTLS: the next thing said is ours (RFC 3501 §6.2.1).
            Client::new(MailStream::Tls(Box::new(handshake(host, tcp, tls).await?)))
        }
        Security::Plain => {
            let mut client = Client::new(MailStream::Plain(tcp));
            greeting(&mut client).await?;
            client
        }
    };
    login(mail, client).await
}

async fn handshake(
    host: &str,
    tcp: TcpStream,
    tls: Arc<rustls::ClientConfig>,
) -> Result<TlsStream<TcpStream>, Failure> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| Failure::new("mail.imap_host is not a valid TLS server name", e))?;
    TlsConnector::from(tls).connect(name, tcp).await.map_err(|e| Failure::new("TLS with the IMAP server failed", e))
}

async fn greeting(client: &mut Client<MailStream>) -> Result<(), Failure> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::new("the IMAP server closed the connection", "no greeting")),
        Err(e) => Err(Failure::new("the IMAP server sent no greeting", e)),
    }
}

async fn login(mail: &Mail, client: Client<MailStream>) -> Result<ImapSession, Failure> {
    let user = mail.imap_username.as_deref().unwrap_or_default();
    let result = match (&mail.imap_oauth2_token, &mail.imap_password) {
        (Some(token), _) => client.authenticate("XOAUTH2", XOAuth2 { user, token }).await,
        (None, Some(password)) => client.login(user, password).await,
        (None, None) => return Err(Failure::new("no IMAP credentials configured", "mail.imap_password")),
    };
    result.map_err(|(e, _client)| match e {
        // The server's text is not logged: some servers echo the user name.
        async_imap::error::Error::No(_) | async_imap::error::Error::Bad(_) => Failure {
            reason: "the IMAP server refused the login",
            detail: "NO or BAD answer to LOGIN/AUTHENTICATE".to_owned(),
            login_refused: true,
        },
        other => Failure::new("the IMAP connection failed during login", other),
    })
}
