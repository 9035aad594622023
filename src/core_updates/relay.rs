//! Which way a result from the core reaches its reporter, decided when it arrives:
//!
//! | report's channel | relayed | else |
//! |---|---|---|
//! | Facebook (Messenger) | inside 24 h of the citizen's last message: a normal message (`UPDATE`); inside 7 days: `MESSAGE_TAG` `HUMAN_AGENT` | e-mail if known, else not relayed |
//! | Facebook (a comment) | never again on Facebook: the one private reply was the acknowledgement | e-mail if known, else not relayed |
//! | Zalo | inside 48 h of the citizen's last message and under 8 replies since it (the free reply quota, channels.md §2.8), quoting that message | e-mail if known, else not relayed |
//! | e-mail | by e-mail, in the report's thread, subject `[HUE-…]` | — |
//! | app, portal, hotline | by e-mail when the reporter gave an address | nothing: the app polls the status |
//!
//! "E-mail known" means an address in the sealed reporter vault (R8): the one the reporter
//! gave, or one written in their report. A `resolved` result carries the rating question
//! (R9): quick replies on Messenger, buttons on Zalo, "reply 1, 2 or 3" by e-mail.

use chrono::{DateTime, Duration, Utc};
use hue_intake_adapters::identity::Identity;
use hue_intake_adapters::results::{self, Ask};
use hue_intake_schemas::{Channel, CoreStatus, CoreUpdate, TrackingCode};

use super::Core;
use crate::mail::smtp;
use crate::store::StoreError;
use crate::store::chat::{Choice, Messaging, NewReply, Recipient, ReplyOptions, ReplyPurpose};
use crate::store::core_updates::ReportRef;

/// Messenger's standard window.
pub fn facebook_window() -> Duration {
    Duration::hours(24)
}

/// `HUMAN_AGENT`'s window.
pub fn human_agent_window() -> Duration {
    Duration::days(7)
}

/// Zalo's free reply window after the user's last message.
pub fn zalo_window() -> Duration {
    Duration::hours(48)
}

/// Zalo's free replies per user message.
pub const ZALO_QUOTA: u64 = 8;

/// What the relay can use.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The channels the reply worker sends on (configured tokens, SMTP).
    pub enabled: Vec<Channel>,
    pub message_id_domain: String,
    /// The key of the e-mail recipient hash (the pipeline's, so the mail rate limit sees
    /// these replies too).
    pub reporter_key: Vec<u8>,
}

/// The decision.
#[derive(Debug)]
pub struct Plan {
    pub route: &'static str,
    pub reason: Option<&'static str>,
    pub reply: Option<NewReply>,
    pub rating_requested: bool,
}

/// Where a chat result goes when it can go on the chat channel.
enum Chat {
    Messenger { psid: String, messaging: Messaging },
    Zalo { user_id: String, quote: String },
}

pub async fn plan(
    core: &Core,
    report: &ReportRef,
    update: &CoreUpdate,
    code: &TrackingCode,
    now: DateTime<Utc>,
) -> Result<Plan, StoreError> {
    // The vault and the acknowledgement's recipient are opened here and never leave this
    // function except sealed again in the reply.
    let identity: Identity = core
        .sealer
        .open(&report.identity_sealed, report.record_id.to_string().as_bytes())
        .ok()
        .and_then(|plain| serde_json::from_slice(&plain).ok())
        .unwrap_or_default();
    let ack: Option<Recipient> = match core.store.acknowledgement_of(report.record_id).await? {
        Some((id, sealed)) => core
            .sealer
            .open(&sealed, id.to_string().as_bytes())
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok()),
        None => None,
    };
    let email_known =
        identity.email.clone().or_else(|| identity.emails_in_text.first().cloned()).filter(|a| a.contains('@'));
    let settings = &core.relay;
    let enabled = |c: Channel| settings.enabled.contains(&c);

    let mut fallback_reason = None;
    let chat = match report.channel {
        Channel::Facebook => match &ack {
            Some(Recipient::FacebookUser { psid }) if enabled(Channel::Facebook) => {
                match core.store.last_message_from(&report.reporter_ref, Channel::Facebook).await? {
                    Some((at, _)) if now - at < facebook_window() => {
                        Some(Chat::Messenger { psid: psid.clone(), messaging: Messaging::Update })
                    }
                    Some((at, _)) if now - at < human_agent_window() => {
                        Some(Chat::Messenger { psid: psid.clone(), messaging: Messaging::HumanAgent })
                    }
                    _ => {
                        fallback_reason = Some("facebook_window_closed");
                        None
                    }
                }
            }
            Some(Recipient::FacebookComment { .. }) => {
                fallback_reason = Some("facebook_comment");
                None
            }
            _ => {
                fallback_reason = Some("channel_not_configured");
                None
            }
        },
        Channel::Zalo => match &ack {
            Some(Recipient::ZaloUser { user_id, .. }) if enabled(Channel::Zalo) => {
                match core.store.last_message_from(&report.reporter_ref, Channel::Zalo).await? {
                    Some((at, last)) if now - at < zalo_window() => {
                        let sent = core.store.replies_to_reporter(&report.reporter_ref, Channel::Zalo, at).await?;
                        if sent < ZALO_QUOTA {
                            Some(Chat::Zalo { user_id: user_id.clone(), quote: last })
                        } else {
                            fallback_reason = Some("zalo_quota_used");
                            None
                        }
                    }
                    _ => {
                        fallback_reason = Some("zalo_window_closed");
                        None
                    }
                }
            }
            _ => {
                fallback_reason = Some("channel_not_configured");
                None
            }
        },
        _ => None,
    };

    let resolved = update.status == CoreStatus::Resolved;
    let purpose = if resolved { ReplyPurpose::RatingRequest } else { ReplyPurpose::Result };
    let dedupe_key = format!("core:{}", update.update_id);
    let make = |channel: Channel, recipient: &Recipient, ask: Ask, options: Option<ReplyOptions>| {
        let id = crate::ids::new_record_id();
        let text = results::result_text(code, update.status, &update.agency, &update.message, ask);
        let json = serde_json::to_vec(recipient).expect("recipients serialise");
        NewReply {
            id,
            channel,
            purpose,
            dedupe_key: dedupe_key.clone(),
            record_id: Some(report.record_id),
            tracking_code: Some(code.to_string()),
            recipient_sealed: core.sealer.seal(&json, id.to_string().as_bytes()),
            text,
            next_attempt_at: Utc::now(),
            recipient_key: None,
            platform_message_id: None,
            options,
        }
    };
    let choices = || -> Vec<Choice> {
        if !resolved {
            return Vec::new();
        }
        results::LEVELS
            .iter()
            .map(|&r| Choice { title: results::label(r).to_owned(), payload: results::payload(code, r) })
            .collect()
    };
    let ask = if resolved { Ask::Buttons } else { Ask::None };

    match chat {
        Some(Chat::Messenger { psid, messaging }) => {
            let options = ReplyOptions { messaging: Some(messaging), choices: choices() };
            let reply = make(Channel::Facebook, &Recipient::FacebookUser { psid }, ask, Some(options));
            let route = if messaging == Messaging::HumanAgent { "facebook_tag" } else { "facebook" };
            return Ok(Plan { route, reason: None, reply: Some(reply), rating_requested: resolved });
        }
        Some(Chat::Zalo { user_id, quote }) => {
            let options = ReplyOptions { messaging: None, choices: choices() };
            let recipient = Recipient::ZaloUser { user_id, quote: Some(quote) };
            let reply = make(Channel::Zalo, &recipient, ask, Some(options));
            return Ok(Plan { route: "zalo", reason: None, reply: Some(reply), rating_requested: resolved });
        }
        None => {}
    }

    // E-mail: the report's own thread when it came by mail, else a new one to a known address.
    let mail = match (&ack, &email_known) {
        (Some(Recipient::Email { address, subject, in_reply_to, references }), _) => Some(Recipient::Email {
            address: address.clone(),
            subject: subject.clone(),
            in_reply_to: in_reply_to.clone(),
            references: references.clone(),
        }),
        (_, Some(address)) => Some(Recipient::Email {
            address: address.clone(),
            subject: format!("[{code}] Kết quả xử lý phản ánh"),
            in_reply_to: None,
            references: Vec::new(),
        }),
        _ => None,
    };
    let route = if matches!(report.channel, Channel::Facebook | Channel::Zalo) { "email_fallback" } else { "email" };
    match mail {
        Some(recipient) if enabled(Channel::Email) => {
            let Recipient::Email { address, .. } = &recipient else { unreachable!("built as e-mail above") };
            let key = crate::pipeline::email_recipient_key(&settings.reporter_key, address);
            let ask = if resolved { Ask::Reply } else { Ask::None };
            let mut reply = make(Channel::Email, &recipient, ask, None);
            reply.recipient_key = Some(key);
            reply.platform_message_id = Some(smtp::message_id(reply.id, &settings.message_id_domain));
            Ok(Plan { route, reason: fallback_reason, reply: Some(reply), rating_requested: resolved })
        }
        Some(_) => {
            Ok(Plan { route: "none", reason: Some("channel_not_configured"), reply: None, rating_requested: false })
        }
        None => Ok(Plan {
            route: "none",
            reason: Some(fallback_reason.unwrap_or("no_contact")),
            reply: None,
            rating_requested: false,
        }),
    }
}
