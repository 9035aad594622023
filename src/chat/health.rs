//! Health of the channels as their workers last saw it (a token refused, sends failing, the
//! mailbox unreachable), shared with `/readyz` and the metrics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hue_intake_schemas::Channel;
use serde::Serialize;

/// What `/readyz` says about one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChannelStatus {
    /// `ok` or `failing`.
    pub state: &'static str,
    /// Why, in words an operator can act on (never a token, never personal data).
    pub detail: Option<String>,
}

/// Shared, cheap to clone.
///
/// A channel may have several parts that fail on their own (e-mail: the IMAP poller reading
/// the mailbox and the SMTP replies): each reports under its own part name, and the channel is
/// failing while any part is, so one part's success never hides the other's failure.
#[derive(Debug, Clone, Default)]
pub struct ChannelHealth {
    inner: Arc<Mutex<BTreeMap<(Channel, &'static str), ChannelStatus>>>,
}

impl ChannelHealth {
    pub fn ok(&self, channel: Channel) {
        self.ok_part(channel, "");
    }

    pub fn failing(&self, channel: Channel, detail: impl Into<String>) {
        self.failing_part(channel, "", detail);
    }

    /// One part of a channel works (`part`: a fixed name such as `imap`).
    pub fn ok_part(&self, channel: Channel, part: &'static str) {
        self.set(channel, part, ChannelStatus { state: "ok", detail: None });
    }

    /// One part of a channel fails, for this reason.
    pub fn failing_part(&self, channel: Channel, part: &'static str, detail: impl Into<String>) {
        self.set(channel, part, ChannelStatus { state: "failing", detail: Some(detail.into()) });
    }

    fn set(&self, channel: Channel, part: &'static str, status: ChannelStatus) {
        let healthy = status.state == "ok";
        let mut map = self.inner.lock().expect("the health map is never poisoned");
        let changed = map.get(&(channel, part)) != Some(&status);
        map.insert((channel, part), status.clone());
        let channel_up =
            map.range((channel, "")..).take_while(|((c, _), _)| *c == channel).all(|(_, s)| s.state == "ok");
        drop(map);
        metrics::gauge!("hue_intake_channel_up", "channel" => channel.as_str()).set(if channel_up { 1.0 } else { 0.0 });
        if changed && !healthy {
            tracing::error!(channel = %channel, part, detail = status.detail.as_deref().unwrap_or(""), "Channel failing.");
        } else if changed {
            tracing::info!(channel = %channel, part, "Channel healthy.");
        }
    }

    /// Every channel seen so far: failing while any of its parts is, with their reasons.
    pub fn snapshot(&self) -> BTreeMap<Channel, ChannelStatus> {
        let map = self.inner.lock().expect("the health map is never poisoned");
        let mut out: BTreeMap<Channel, ChannelStatus> = BTreeMap::new();
        for ((channel, _), status) in map.iter() {
            let entry = out.entry(*channel).or_insert(ChannelStatus { state: "ok", detail: None });
            if status.state != "ok" {
                entry.state = "failing";
                let detail = status.detail.clone().unwrap_or_default();
                entry.detail = Some(match entry.detail.take() {
                    Some(before) => format!("{before}; {detail}"),
                    None => detail,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_fails_while_any_part_fails() {
        let health = ChannelHealth::default();
        health.failing_part(Channel::Email, "imap", "connection to the IMAP server lost");
        health.ok(Channel::Email);
        let email = &health.snapshot()[&Channel::Email];
        assert_eq!(email.state, "failing");
        assert_eq!(email.detail.as_deref(), Some("connection to the IMAP server lost"));
        health.ok_part(Channel::Email, "imap");
        assert_eq!(health.snapshot()[&Channel::Email].state, "ok");
        health.failing(Channel::Email, "SMTP refused");
        health.failing_part(Channel::Email, "imap", "login refused");
        assert_eq!(health.snapshot()[&Channel::Email].detail.as_deref(), Some("SMTP refused; login refused"));
        assert_eq!(health.snapshot().len(), 1);
    }
}
