//! Replies by e-mail over SMTP (lettre, pooled connections, TLS on the ring provider).
//!
//! Every mail we send says it is automatic (`Auto-Submitted: auto-replied`, RFC 3834, and
//! `X-Auto-Response-Suppress: All` for Exchange), carries our loop header and our own
//! Message-ID `<reply id@mail.message_id_domain>`, and threads under the citizen's mail
//! (`In-Reply-To`, `References`), so that their reply comes back to the report (R10) and an
//! out-of-office answer to it is recognised as machine mail and never answered.

use std::time::Duration;

use anyhow::Context as _;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use uuid::Uuid;

use crate::chat::send::{Failure, Fault};
use crate::config::{Mail, Security};

/// The header on everything we send: a mail carrying it that comes back in is our own.
pub const LOOP_HEADER: &str = "X-Hue-Intake-Loop";

/// One reply to send.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub in_reply_to: Option<&'a str>,
    pub references: &'a [String],
    pub text: &'a str,
    pub reply_id: Uuid,
}

/// The SMTP side of the mail channel.
#[derive(Clone)]
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    message_id_domain: String,
}

impl std::fmt::Debug for Smtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smtp").field("message_id_domain", &self.message_id_domain).finish_non_exhaustive()
    }
}

/// Our Message-ID of a reply, without angle brackets.
pub fn message_id(reply_id: Uuid, domain: &str) -> String {
    format!("{reply_id}@{domain}")
}

impl Smtp {
    /// The sender for `[mail]`, or `None` when no SMTP server is configured.
    pub fn from_config(mail: &Mail) -> anyhow::Result<Option<Smtp>> {
        let Some(host) = mail.smtp_host.as_deref().filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let tls = || -> anyhow::Result<TlsParameters> {
            let mut params = TlsParameters::builder(host.to_owned());
            if let Some(path) = &mail.ca_file {
                let pem = super::tls::read_pem(path)?;
                let cert = Certificate::from_pem(&pem)
                    .with_context(|| format!("mail.ca_file {} is not a PEM certificate", path.display()))?;
                params = params.add_root_certificate(cert);
            }
            params.build_rustls().context("TLS parameters for SMTP")
        };
        let tls = match mail.smtp_security {
            Security::Tls => Tls::Wrapper(tls()?),
            Security::Starttls => Tls::Required(tls()?),
            Security::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(mail.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(mail.smtp_timeout_secs.max(1))));
        if let (Some(user), Some(password)) = (&mail.smtp_username, &mail.smtp_password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        let from = Mailbox::new(
            Some(mail.from_name.clone()).filter(|n| !n.is_empty()),
            mail.from_address.parse().context("mail.from_address is not an e-mail address")?,
        );
        Ok(Some(Smtp { transport: builder.build(), from, message_id_domain: mail.message_id_domain.clone() }))
    }

    /// Sends one reply; answers our Message-ID (without brackets).
    pub async fn send(&self, mail: Outgoing<'_>) -> Result<String, Failure> {
        let id = message_id(mail.reply_id, &self.message_id_domain);
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| Failure::new(Fault::Permanent, "the recipient is not a valid e-mail address"))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{id}>")))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-replied".to_owned()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "All".to_owned()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str(LOOP_HEADER), self.message_id_domain.clone()));
        if let Some(parent) = mail.in_reply_to {
            builder = builder.in_reply_to(format!("<{parent}>"));
        }
        let references: Vec<String> = mail.references.iter().map(|r| format!("<{r}>")).collect();
        if !references.is_empty() {
            builder = builder.references(references.join(" "));
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.to_owned())
            .map_err(|e| Failure::new(Fault::Permanent, format!("the reply cannot be built: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(id),
            Err(e) => Err(failure(&e)),
        }
    }
}

/// What an SMTP error means for the reply: 5xx refusals are final, everything else (4xx,
/// timeouts, connection failures) may pass later. The reason names the SMTP code, never the
/// address.
fn failure(e: &lettre::transport::smtp::Error) -> Failure {
    let code = e.status().map(|c| c.to_string());
    let reason = match &code {
        Some(code) => format!("SMTP server answered {code}"),
        None if e.is_timeout() => "SMTP server timed out".to_owned(),
        None => "SMTP connection failed".to_owned(),
    };
    // Refused credentials: nothing improves until the configuration does.
    if code.as_deref().is_some_and(|c| ["530", "534", "535"].iter().any(|a| c.starts_with(a))) {
        Failure::new(Fault::Auth, reason)
    } else if e.is_permanent() {
        Failure::new(Fault::Permanent, reason)
    } else {
        Failure::new(Fault::Transient, reason)
    }
}
