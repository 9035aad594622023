//! Health of the chat channels as the workers last saw it (a token refused, sends failing),
//! shared with `/readyz` and the metrics.

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
#[derive(Debug, Clone, Default)]
pub struct ChannelHealth {
    inner: Arc<Mutex<BTreeMap<Channel, ChannelStatus>>>,
}

impl ChannelHealth {
    pub fn ok(&self, channel: Channel) {
        self.set(channel, ChannelStatus { state: "ok", detail: None });
    }

    pub fn failing(&self, channel: Channel, detail: impl Into<String>) {
        self.set(channel, ChannelStatus { state: "failing", detail: Some(detail.into()) });
    }

    fn set(&self, channel: Channel, status: ChannelStatus) {
        let healthy = status.state == "ok";
        let mut map = self.inner.lock().expect("the health map is never poisoned");
        let changed = map.get(&channel) != Some(&status);
        map.insert(channel, status.clone());
        drop(map);
        metrics::gauge!("hue_intake_channel_up", "channel" => channel.as_str()).set(if healthy { 1.0 } else { 0.0 });
        if changed && !healthy {
            tracing::error!(channel = %channel, detail = status.detail.as_deref().unwrap_or(""), "Channel failing.");
        } else if changed {
            tracing::info!(channel = %channel, "Channel healthy.");
        }
    }

    /// Every channel seen so far.
    pub fn snapshot(&self) -> BTreeMap<Channel, ChannelStatus> {
        self.inner.lock().expect("the health map is never poisoned").clone()
    }
}
