//! The reply worker against the platform doubles, on a real SQLite store in a temp dir:
//! request shapes, sent/retry/failed states, Zalo token renewal (on -216 and before expiry)
//! with the tokens sealed at rest, crash recovery (`uncertain`, never resent), and channel
//! health through `/readyz`. Steps are driven directly (`Sender::step`), so nothing waits on
//! time; the one test through the running server waits on `/readyz` with a deadline.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use hue_intake::chat::health::ChannelHealth;
use hue_intake::chat::send::Sender;
use hue_intake::chat::tokens::{self, TokenPair};
use hue_intake::config::Config;
use hue_intake::seal::Sealer;
use hue_intake::store::chat::{ChatChanges, NewReply, Recipient, ReplyPurpose};
use hue_intake::store::{Options, Processed, Store};
use hue_intake_schemas::Channel;
use serde_json::{Value, json};
use tempfile::TempDir;
use uuid::Uuid;

use crate::common::{Server, all_bytes_under, contains};
use crate::doubles::{self, GRAPH_VERSION, Graph, ZALO_APP_ID, ZALO_SECRET, Zalo};

const PAGE_TOKEN: &str = "EAAB-page-access-token-for-tests";
const SEAL_KEY: [u8; 32] = [42; 32];

fn sealer() -> Sealer {
    Sealer::new("k1", &SEAL_KEY)
}

/// A store in a temp dir and the configuration of a worker pointed at the doubles.
struct Fixture {
    dir: TempDir,
    store: Store,
    sealer: Sealer,
    config: Config,
    health: ChannelHealth,
}

impl Fixture {
    async fn new(adjust: impl FnOnce(&mut Config)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut config = crate::common::config(dir.path());
        config.chat.retry_base_ms = 0;
        config.chat.send_timeout_secs = 5;
        adjust(&mut config);
        let store = Store::open_sqlite(dir.path(), Options { group_commit_max_batch: 16, max_database_bytes: None })
            .await
            .unwrap();
        Fixture { dir, store, sealer: sealer(), config, health: ChannelHealth::default() }
    }

    fn sender(&self) -> Sender {
        Sender::from_config(&self.config, self.store.clone(), self.sealer.clone(), self.health.clone())
            .expect("the reply configuration is valid")
            .expect("a channel is configured")
    }

    async fn enqueue(&self, channel: Channel, recipient: Recipient, text: &str) -> Uuid {
        enqueue(&self.store, &self.sealer, channel, recipient, text).await
    }

    async fn state(&self, id: Uuid) -> hue_intake::store::replies::ReplyStatus {
        self.store.reply_status(id).await.unwrap().expect("the reply exists")
    }
}

/// Queues a reply the way the pipeline does: a NewReply in the batch's chat changes, the
/// recipient sealed with the reply id as associated data.
async fn enqueue(store: &Store, sealer: &Sealer, channel: Channel, recipient: Recipient, text: &str) -> Uuid {
    let id = Uuid::now_v7();
    let json = serde_json::to_vec(&recipient).unwrap();
    let reply = NewReply {
        id,
        channel,
        purpose: ReplyPurpose::Acknowledgement,
        dedupe_key: format!("ack:{id}"),
        record_id: Some(Uuid::now_v7()),
        tracking_code: None,
        recipient_sealed: sealer.seal(&json, id.to_string().as_bytes()),
        text: text.to_owned(),
        next_attempt_at: Utc::now(),
        recipient_key: None,
        platform_message_id: None,
        options: None,
    };
    let processed =
        Processed { chat: ChatChanges { replies: vec![reply], ..ChatChanges::default() }, ..Processed::default() };
    store.commit_processed(processed).await.unwrap();
    id
}

fn facebook(graph: &Graph) -> impl FnOnce(&mut Config) + '_ {
    move |c| {
        c.facebook.page_id = Some(doubles::PAGE_ID.into());
        c.facebook.page_access_token = Some(PAGE_TOKEN.into());
        c.facebook.graph_base_url = graph.base.clone();
        c.facebook.graph_version = GRAPH_VERSION.into();
    }
}

fn zalo<'a>(double: &'a Zalo, access: &'a str, refresh: &'a str) -> impl FnOnce(&mut Config) + 'a {
    move |c| {
        c.zalo.app_id = Some(ZALO_APP_ID.into());
        c.zalo.app_secret_key = Some(ZALO_SECRET.into());
        c.zalo.access_token = Some(access.into());
        c.zalo.refresh_token = Some(refresh.into());
        c.zalo.openapi_base_url = double.base.clone();
        c.zalo.oauth_base_url = double.base.clone();
    }
}

#[tokio::test]
async fn facebook_user_and_comment_replies_go_out_in_the_documented_shape_and_are_marked_sent() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let f = Fixture::new(facebook(&graph)).await;
    let user =
        f.enqueue(Channel::Facebook, Recipient::FacebookUser { psid: "6100000000001".into() }, "Đã nhận: HUE-1").await;
    let comment = f
        .enqueue(Channel::Facebook, Recipient::FacebookComment { comment_id: "1029_3847".into() }, "Đã nhận: HUE-2")
        .await;
    let mut sender = f.sender();

    assert_eq!(sender.step().await.unwrap(), 2);

    assert_eq!(graph.problems(), Vec::<String>::new());
    let seen = graph.messages();
    assert_eq!(seen.len(), 2);
    let first = seen[0].json();
    assert_eq!(seen[0].header("authorization"), Some(format!("Bearer {PAGE_TOKEN}").as_str()));
    assert_eq!(seen[0].query, None, "no token in the URL");
    assert_eq!(
        first,
        json!({"recipient": {"id": "6100000000001"}, "messaging_type": "RESPONSE",
               "message": {"text": "Đã nhận: HUE-1", "metadata": format!("hue-intake:{user}")}})
    );
    assert_eq!(
        seen[1].json(),
        json!({"recipient": {"comment_id": "1029_3847"}, "message": {"text": "Đã nhận: HUE-2"}})
    );

    let (a, b) = (f.state(user).await, f.state(comment).await);
    assert_eq!((a.state.as_str(), a.platform_message_id.as_deref(), a.attempts), ("sent", Some("m_1"), 1));
    assert_eq!((b.state.as_str(), b.platform_message_id.as_deref()), ("sent", Some("m_2")));
    assert!(a.sent_at.is_some());
    assert_eq!(f.health.snapshot()[&Channel::Facebook].state, "ok");
    // Nothing more is due: a second step sends nothing.
    assert_eq!(sender.step().await.unwrap(), 0);
    assert_eq!(graph.messages().len(), 2);
}

#[tokio::test]
async fn a_server_error_is_retried_once_and_the_reply_sent_once() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let f = Fixture::new(facebook(&graph)).await;
    let id = f.enqueue(Channel::Facebook, Recipient::FacebookUser { psid: "61".into() }, "Cảm ơn bạn").await;
    graph.then_answer(
        500,
        json!({"error": {"message": "An unknown error occurred", "type": "OAuthException", "code": 2}}),
    );
    let mut sender = f.sender();

    assert_eq!(sender.step().await.unwrap(), 1);
    let after_first = f.state(id).await;
    assert_eq!(after_first.state, "pending");
    assert_eq!(after_first.attempts, 1);
    let reason = after_first.last_error.unwrap();
    assert!(reason.contains("500") && !reason.contains("Cảm ơn"), "{reason}");

    // retry_base_ms = 0: due again at once.
    assert_eq!(sender.step().await.unwrap(), 1);
    let done = f.state(id).await;
    assert_eq!((done.state.as_str(), done.attempts, done.last_error), ("sent", 2, None));
    assert_eq!(done.platform_message_id.as_deref(), Some("m_2"));
    let seen = graph.messages();
    assert_eq!(seen.len(), 2, "one failed call, one successful: sent once");
    assert_eq!(seen[0].json(), seen[1].json(), "the retry is the same message");
    assert_eq!(sender.step().await.unwrap(), 0);
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
}

#[tokio::test]
async fn transient_failures_give_up_after_send_attempts() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let f = Fixture::new(|c| {
        facebook(&graph)(c);
        c.chat.send_attempts = 2;
    })
    .await;
    let id = f.enqueue(Channel::Facebook, Recipient::FacebookUser { psid: "61".into() }, "Thử").await;
    graph.then_answer(400, json!({"error": {"message": "slow down", "code": 613}}));
    graph.then_answer(503, json!({"error": {"message": "unavailable", "code": 2}}));
    let mut sender = f.sender();
    sender.step().await.unwrap();
    assert_eq!(f.state(id).await.state, "pending");
    sender.step().await.unwrap();
    let state = f.state(id).await;
    assert_eq!((state.state.as_str(), state.attempts), ("failed", 2));
    assert_eq!(sender.step().await.unwrap(), 0);
    assert_eq!(graph.messages().len(), 2);
}

#[tokio::test]
async fn outside_the_window_fails_at_once() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let f = Fixture::new(facebook(&graph)).await;
    let id = f.enqueue(Channel::Facebook, Recipient::FacebookUser { psid: "61".into() }, "Muộn").await;
    graph.then_answer(400, json!({"error": {"message": "outside window", "code": 10, "error_subcode": 2018278}}));
    let mut sender = f.sender();
    sender.step().await.unwrap();
    let state = f.state(id).await;
    assert_eq!(state.state, "failed");
    assert!(state.last_error.unwrap().contains("2018278"));
    assert_eq!(sender.step().await.unwrap(), 0);
    assert_eq!(graph.messages().len(), 1);
}

#[tokio::test]
async fn zalo_renews_on_216_stores_the_new_tokens_sealed_and_sends_once() {
    let (stale, first_refresh) = ("zalo-access-token-configured-stale", "zalo-refresh-token-configured-0000");
    let double = Zalo::start("none-valid-yet", first_refresh).await;
    let f = Fixture::new(zalo(&double, stale, first_refresh)).await;
    let id = f
        .enqueue(
            Channel::Zalo,
            Recipient::ZaloUser { user_id: "8012345678901234567".into(), quote: Some("msg-77".into()) },
            "Đã nhận",
        )
        .await;
    let mut sender = f.sender();

    assert_eq!(sender.step().await.unwrap(), 1);

    assert!(double.problems().is_empty(), "{:?}", double.problems());
    let refreshes = double.refreshes();
    assert_eq!(refreshes.len(), 1, "one renewal");
    let form = doubles::form(&refreshes[0].body);
    assert_eq!(
        form,
        vec![
            ("refresh_token".to_owned(), first_refresh.to_owned()),
            ("app_id".to_owned(), ZALO_APP_ID.to_owned()),
            ("grant_type".to_owned(), "refresh_token".to_owned()),
        ]
    );
    assert_eq!(refreshes[0].header("secret_key"), Some(ZALO_SECRET));

    let (issued_access, issued_refresh) = doubles::issued(1);
    let messages = double.messages();
    assert_eq!(messages.len(), 2, "the expired try and one retry");
    assert_eq!(messages[0].header("access_token"), Some(stale));
    assert_eq!(messages[1].header("access_token"), Some(issued_access.as_str()));
    assert_eq!(
        messages[1].json(),
        json!({"recipient": {"user_id": "8012345678901234567"}, "message": {"text": "Đã nhận", "quote_message_id": "msg-77"}})
    );
    let state = f.state(id).await;
    assert_eq!((state.state.as_str(), state.platform_message_id.as_deref()), ("sent", Some("z_2")));

    // The new pair is in the store, sealed; it opens through the store and the sealer...
    let (pair, expires_at) = tokens::load(&f.store, &f.sealer).await.unwrap().expect("stored");
    assert_eq!(pair, TokenPair { access_token: issued_access.clone(), refresh_token: issued_refresh.clone() });
    let expires_in = expires_at.expect("expires_in was given (as a string)") - Utc::now();
    assert!(expires_in > chrono::Duration::seconds(89_000) && expires_in <= chrono::Duration::seconds(90_000));
    // ...and is nowhere in the database's bytes in clear.
    let bytes = all_bytes_under(f.dir.path());
    for secret in [issued_access.as_str(), issued_refresh.as_str(), first_refresh, stale] {
        assert!(!contains(&bytes, secret), "a token is in the database in clear");
    }
    assert_eq!(f.health.snapshot()[&Channel::Zalo].state, "ok");
}

#[tokio::test]
async fn zalo_renews_before_the_access_token_expires() {
    let double = Zalo::start("zalo-access-token-valid-for-30-min", "zalo-refresh-token-current-0000").await;
    let f = Fixture::new(zalo(&double, "unused-config-access", "unused-config-refresh")).await;
    // The store already holds a pair (from an earlier renewal) that expires in 30 minutes.
    let held = TokenPair {
        access_token: "zalo-access-token-valid-for-30-min".into(),
        refresh_token: "zalo-refresh-token-current-0000".into(),
    };
    tokens::save(&f.store, &f.sealer, &held, Some(Utc::now() + chrono::Duration::minutes(30)), false).await.unwrap();
    let id = f.enqueue(Channel::Zalo, Recipient::ZaloUser { user_id: "80123".into(), quote: None }, "Xin chào").await;
    let mut sender = f.sender();

    sender.step().await.unwrap();

    assert!(double.problems().is_empty(), "{:?}", double.problems());
    assert_eq!(double.refreshes().len(), 1, "renewed before use, with the stored refresh token (not the config's)");
    let (issued_access, _) = doubles::issued(1);
    let messages = double.messages();
    assert_eq!(messages.len(), 1, "no -216 round trip");
    assert_eq!(messages[0].header("access_token"), Some(issued_access.as_str()));
    assert_eq!(messages[0].json()["message"], json!({"text": "Xin chào"}), "no quote when there is none");
    assert_eq!(f.state(id).await.state, "sent");
    let (pair, _) = tokens::load(&f.store, &f.sealer).await.unwrap().unwrap();
    assert_eq!((pair.access_token, pair.refresh_token), double.current());

    // A second reply uses the fresh token without renewing again.
    f.enqueue(Channel::Zalo, Recipient::ZaloUser { user_id: "80124".into(), quote: None }, "Lần hai").await;
    sender.step().await.unwrap();
    assert_eq!(double.refreshes().len(), 1);
    assert_eq!(double.messages().len(), 2);
}

#[tokio::test]
async fn a_reply_left_sending_by_a_crash_becomes_uncertain_and_is_never_sent() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let f = Fixture::new(facebook(&graph)).await;
    let crashed = f.enqueue(Channel::Facebook, Recipient::FacebookUser { psid: "61".into() }, "Một lần").await;
    // The claim was committed, then the process died before the platform answered.
    assert!(f.store.reply_sending(crashed).await.unwrap());
    let fresh = f.enqueue(Channel::Facebook, Recipient::FacebookUser { psid: "62".into() }, "Mới").await;

    let mut sender = f.sender();
    assert_eq!(sender.recover().await.unwrap(), 1);
    sender.step().await.unwrap();
    sender.step().await.unwrap();

    let state = f.state(crashed).await;
    assert_eq!(state.state, "uncertain");
    assert_eq!(f.state(fresh).await.state, "sent");
    let psids: Vec<Value> = graph.messages().iter().map(|m| m.json()["recipient"]["id"].clone()).collect();
    assert_eq!(psids, vec![json!("62")], "the interrupted reply was not sent again");

    // Facebook's echo of it (metadata hue-intake:<id>) settles it as sent.
    assert!(f.store.confirm_echo(crashed).await.unwrap());
    assert_eq!(f.state(crashed).await.state, "sent");
    assert!(!f.store.confirm_echo(crashed).await.unwrap(), "once");
}

#[tokio::test]
async fn a_refused_page_token_makes_the_channel_failing_and_readyz_says_so() {
    let graph = Graph::start(PAGE_TOKEN).await;
    let key = base64::engine::general_purpose::STANDARD.encode(SEAL_KEY);
    let server = Server::start_with(|c| {
        facebook(&graph)(c);
        c.privacy.seal_key = Some(key);
        c.sink.poll_interval_ms = 50;
    })
    .await;
    let ready: Value = server.http.get(server.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready, json!({"status": "ready", "channels": {}}));

    graph.then_answer(
        401,
        json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}}),
    );
    let id = enqueue(
        &server.store(),
        &sealer(),
        Channel::Facebook,
        Recipient::FacebookUser { psid: "61".into() },
        "Xin chào",
    )
    .await;

    // The worker is woken by the commit; wait (bounded) for /readyz to show the failure.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let ready = loop {
        let response = server.http.get(server.url("/readyz")).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "a failing channel does not make the gateway unready");
        let body: Value = response.json().await.unwrap();
        if body["status"] == "degraded" {
            break body;
        }
        assert!(tokio::time::Instant::now() < deadline, "/readyz never showed the failing channel: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ready["channels"]["facebook"]["state"], "failing");
    let detail = ready["channels"]["facebook"]["detail"].as_str().unwrap();
    assert!(detail.contains("Facebook refused the Page access token (code 190)"), "{detail}");
    assert!(!detail.contains(PAGE_TOKEN));

    // The reply waits (deferred at the longest back-off, its attempts not used up).
    let state = server.store().reply_status(id).await.unwrap().unwrap();
    assert_eq!((state.state.as_str(), state.attempts), ("pending", 0));
    assert!(state.last_error.unwrap().contains("190"));
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
    server.stop().await;
}
