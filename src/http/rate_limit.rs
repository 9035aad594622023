//! Rate limits (GCRA, `governor`) per source address and per sender identity, answered with
//! 429 problem+json and `Retry-After`.
//!
//! Two scopes, each with its own quota from `[rate_limits]`:
//! - **address**: the client's address on the public API (`/v1/reports`, `/v1/media`). Behind
//!   a proxy listed in `trusted_proxies` the address is taken from `X-Forwarded-For`; from
//!   anyone else that header is ignored, so it cannot be used to dodge the limit.
//! - **sender**: who the message is from, once the request is proven authentic: the Hue-S
//!   account of an app or portal report, the PSID of a Messenger event, the Zalo user of a Zalo
//!   event. The platforms' own addresses are never limited: Facebook and Zalo call from a few
//!   addresses on behalf of everyone, and refusing them would refuse every citizen at once.
//!
//! A flood from one sender is refused here, before the store, so it takes no place in the
//! group commit and never delays anybody else's acknowledgement. Keys are SipHash digests
//! under a key drawn at start (addresses and account ids are personal data, R8: neither is
//! kept in the clear, nor logged, nor put in a metric label). State is per process: with
//! several instances behind a balancer, each allows its quota.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::problem::Problem;
use crate::config;

/// Why a request was limited: the metric label and the problem's wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Address,
    Sender,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Sender => "sender",
        }
    }
}

/// The limiters of one process.
pub struct RateLimits {
    by_address: Option<DefaultKeyedRateLimiter<u64>>,
    by_sender: Option<DefaultKeyedRateLimiter<u64>>,
    trusted_proxies: Vec<Cidr>,
    keys: RandomState,
    clock: DefaultClock,
}

impl RateLimits {
    pub fn from_config(config: &config::RateLimits) -> anyhow::Result<Self> {
        let trusted_proxies = config
            .trusted_proxies
            .iter()
            .map(|s| {
                Cidr::parse(s).ok_or_else(|| {
                    anyhow::anyhow!("rate_limits.trusted_proxies: {s:?} is not an address or CIDR block")
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(RateLimits {
            by_address: limiter(config.per_address_per_minute, config.per_address_burst),
            by_sender: limiter(config.per_sender_per_minute, config.per_sender_burst),
            trusted_proxies,
            keys: RandomState::new(),
            clock: DefaultClock::default(),
        })
    }

    /// Whether senders are limited at all (`per_sender_per_minute` > 0).
    pub fn limits_senders(&self) -> bool {
        self.by_sender.is_some()
    }

    /// Takes one request from the sender's allowance. `Err` carries the wait before the next
    /// one would pass.
    pub fn check_sender(&self, channel: &str, sender: &str) -> Result<(), Duration> {
        self.check(self.by_sender.as_ref(), (channel, sender))
    }

    /// For a body that carries several senders (a Messenger batch): passes when any of them
    /// still has allowance, so one sender's flood never holds back the others in its batch.
    /// A body with no sender recognised passes (the pipeline quarantines what it cannot read).
    pub fn check_senders<'a>(&self, channel: &str, senders: impl IntoIterator<Item = &'a str>) -> Result<(), Duration> {
        let mut shortest: Option<Duration> = None;
        for sender in senders {
            match self.check_sender(channel, sender) {
                Ok(()) => return Ok(()),
                Err(wait) => shortest = Some(shortest.map_or(wait, |s| s.min(wait))),
            }
        }
        shortest.map_or(Ok(()), Err)
    }

    fn check_address(&self, address: IpAddr) -> Result<(), Duration> {
        self.check(self.by_address.as_ref(), address)
    }

    fn check(&self, limiter: Option<&DefaultKeyedRateLimiter<u64>>, key: impl std::hash::Hash) -> Result<(), Duration> {
        let Some(limiter) = limiter else { return Ok(()) };
        limiter.check_key(&self.keys.hash_one(key)).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the last address
    /// of `X-Forwarded-For` that is not itself a trusted proxy (proxies append on the right).
    pub fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded.into_iter().rev().find(|a| !self.is_trusted(*a)).unwrap_or(peer)
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(address))
    }

    /// Forgets keys whose allowance is full again (the keyed state otherwise grows with every
    /// address and sender ever seen). Called from the periodic upkeep.
    pub fn upkeep(&self) {
        for limiter in [&self.by_address, &self.by_sender].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

fn limiter(per_minute: u32, burst: u32) -> Option<DefaultKeyedRateLimiter<u64>> {
    let per_minute = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Some(RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)))
}

/// The 429 answer: `Retry-After` in whole seconds, at least 1.
pub fn too_many(scope: Scope, route: &str, wait: Duration) -> Response {
    metrics::counter!("hue_intake_rate_limited_total", "scope" => scope.as_str(), "route" => route.to_owned())
        .increment(1);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let detail = match scope {
        Scope::Address => "too many requests from this address; retry after the time given",
        Scope::Sender => "too many messages from this sender; retry after the time given",
    };
    let mut problem = Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", detail);
    problem.retry_after = Some(u32::try_from(seconds.max(1)).unwrap_or(u32::MAX));
    problem.into_response()
}

/// Middleware for the public API: limits by client address. Without the peer's address (a
/// router driven without a listener) nothing is limited.
pub async fn by_address(State(limits): State<Arc<RateLimits>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let address = limits.client_address(peer, request.headers());
        if let Err(wait) = limits.check_address(address) {
            let route = request.extensions().get::<MatchedPath>().map_or("-", |p| p.as_str()).to_owned();
            return too_many(Scope::Address, &route, wait);
        }
    }
    next.run(request).await
}

/// An address or a CIDR block (`10.0.0.0/8`, `::1`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (address, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let width = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(Cidr { network: address, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 client seen through an IPv6 socket arrives as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        let (network, address, width) = match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a)), 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let shift = width - u32::from(self.prefix);
        shift >= width || (network >> shift) == (address >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(trusted: &[&str]) -> RateLimits {
        RateLimits::from_config(&config::RateLimits {
            per_address_per_minute: 60,
            per_address_burst: 2,
            per_sender_per_minute: 60,
            per_sender_burst: 3,
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    #[test]
    fn cidr_blocks_match_their_addresses_only() {
        let block = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(block.contains("::ffff:10.1.0.9".parse().unwrap()), "IPv4-mapped addresses are IPv4");
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("203.0.113.7".parse().unwrap()));
        assert!(Cidr::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(!Cidr::parse("127.0.0.1").unwrap().contains("127.0.0.2".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("proxy.local"), None);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let limits = limits(&["127.0.0.1", "10.0.0.0/8"]);
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        // Through two trusted proxies: the right-most untrusted address is the client; what the
        // client itself wrote on the left is not believed.
        let headers = forwarded("198.51.100.1, 203.0.113.7, 10.0.0.5");
        assert_eq!(limits.client_address("127.0.0.1".parse().unwrap(), &headers), client);
        // From an untrusted peer the header is ignored.
        let peer: IpAddr = "192.0.2.44".parse().unwrap();
        assert_eq!(limits.client_address(peer, &headers), peer);
        // A trusted peer with no usable header is the client.
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(limits.client_address(proxy, &forwarded("garbage")), proxy);
    }

    #[test]
    fn a_senders_burst_then_a_wait_and_others_untouched() {
        let limits = limits(&[]);
        for _ in 0..3 {
            assert_eq!(limits.check_sender("zalo", "flooder"), Ok(()));
        }
        let wait = limits.check_sender("zalo", "flooder").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(limits.check_sender("zalo", "neighbour"), Ok(()));
        // The same id on another channel is another person.
        assert_eq!(limits.check_sender("facebook", "flooder"), Ok(()));
        // A batch passes while any of its senders has allowance.
        assert_eq!(limits.check_senders("zalo", ["flooder", "neighbour"]), Ok(()));
        assert!(limits.check_senders("zalo", ["flooder"]).is_err());
        assert_eq!(limits.check_senders("zalo", []), Ok(()));
    }

    #[test]
    fn zero_per_minute_turns_a_scope_off() {
        let limits = RateLimits::from_config(&config::RateLimits {
            per_address_per_minute: 0,
            per_address_burst: 0,
            per_sender_per_minute: 0,
            per_sender_burst: 0,
            trusted_proxies: Vec::new(),
        })
        .unwrap();
        for _ in 0..1000 {
            assert_eq!(limits.check_sender("zalo", "anyone"), Ok(()));
            assert_eq!(limits.check_address("192.0.2.1".parse().unwrap()), Ok(()));
        }
    }

    #[test]
    fn retry_after_is_whole_seconds_and_at_least_one() {
        let response = too_many(Scope::Sender, "/webhooks/zalo", Duration::from_millis(1200));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "2");
        let response = too_many(Scope::Address, "/v1/reports", Duration::from_millis(3));
        assert_eq!(response.headers()["retry-after"], "1");
    }
}
