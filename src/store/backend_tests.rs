//! The store's contract, run on both backends (`both_backends!`): receive and its repeats,
//! records through the outbox, quarantine, the chat tables and the workers' states, operators,
//! tokens and leases. Every test speaks only the backend-neutral [`Store`] API, so a pass on
//! both variants means the two dialects agree.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hue_intake_schemas::{Channel, Disposition, DispositionState, Kind, MediaKind};
use uuid::Uuid;

use super::chat::{ChatChanges, Draft, EventOutcome, FetchState, NewChatEvent, NewFetch, NewReply, ReplyPurpose};
use super::replies::{AfterFailure, StoredToken};
use super::test_backends::{self, Backend, Place, both_backends};
use super::{Allocation, Incoming, NewRecord, Options, Processed, Received, Store};

async fn open(backend: Backend) -> (Place, Store) {
    test_backends::open(backend, Options { group_commit_max_batch: 64, max_database_bytes: None }).await
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn allocation() -> Allocation {
    Allocation {
        record_id: Uuid::now_v7(),
        tracking_code: crate::ids::new_tracking_code().to_string(),
        kind: Kind::Report,
        disposition: Disposition { state: DispositionState::Accepted, reason: None, deliver_after: None },
    }
}

fn incoming(channel: Channel, message_id: &str, fingerprint: &str, allocation: Option<Allocation>) -> Incoming {
    Incoming {
        channel,
        message_id: message_id.to_owned(),
        received_at: at("2026-03-01T02:00:00Z"),
        raw_sha256: format!("sha-{message_id}"),
        fingerprint: fingerprint.to_owned(),
        raw_sealed: vec![0, 159, 146, 150, 255],
        meta: r#"{"media":[]}"#.to_owned(),
        allocation,
    }
}

fn stored_seq(received: Received) -> i64 {
    match received {
        Received::Stored { seq, .. } => seq,
        other => panic!("expected Stored, got {other:?}"),
    }
}

fn record_of(allocation: &Allocation, deliver_after: Option<DateTime<Utc>>) -> NewRecord {
    NewRecord {
        id: allocation.record_id,
        tracking_code: allocation.tracking_code.clone(),
        kind: Kind::Report,
        channel: Channel::App,
        received_at: at("2026-03-01T02:00:00Z"),
        state: "accepted".to_owned(),
        in_reply_to: None,
        body: serde_json::json!({ "disposition": { "state": "accepted" }, "in_reply_to": null }).to_string(),
        reporter_ref: "rp_backend".to_owned(),
        consent: true,
        identity_sealed: vec![1, 2, 3],
        deliver_after,
        violation: None,
    }
}

/// Polls `condition` until it holds or `within` passes (then fails, saying what).
async fn eventually<F, Fut>(within: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends! {
    async fn receive_stores_once_and_tells_a_repeat_from_a_conflict(backend) {
        let (_place, store) = open(backend).await;
        let first = allocation();
        let received = store.receive(incoming(Channel::App, "m-1", "fp-1", Some(first.clone()))).await.unwrap();
        assert!(matches!(&received, Received::Stored { allocation: Some(a), .. } if *a == first));
        let seq = stored_seq(received);

        // A retry carrying a fresh allocation gets the first answer back, with its meta.
        let repeat = store.receive(incoming(Channel::App, "m-1", "fp-1", Some(allocation()))).await.unwrap();
        assert_eq!(repeat, Received::Duplicate { allocation: Some(first.clone()), meta: r#"{"media":[]}"#.to_owned() });
        let changed = store.receive(incoming(Channel::App, "m-1", "fp-other", Some(allocation()))).await.unwrap();
        assert_eq!(changed, Received::Conflict);
        // The key is (channel, message id): the same id on another channel is another message.
        stored_seq(store.receive(incoming(Channel::Portal, "m-1", "fp-1", None)).await.unwrap());

        let pending = store.pending(10).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!((pending[0].seq, pending[0].record_id), (seq, Some(first.record_id)));
        assert_eq!(pending[0].raw_sealed, vec![0, 159, 146, 150, 255], "bytes come back as stored");
        assert_eq!(pending[0].received_at, at("2026-03-01T02:00:00Z"));
        assert!(store.is_report(&first.tracking_code).await.unwrap());
        let status = store.status(&first.tracking_code).await.unwrap().unwrap();
        assert!(!status.recorded && status.delivered_at.is_none());
        assert_eq!(status.disposition, first.disposition);
        assert_eq!(store.messages(&[seq]).await.unwrap().len(), 1);
        store.check_writable().await.unwrap();
        store.close().await;
    }

    async fn concurrent_receives_of_one_message_store_it_once(backend) {
        let (_place, store) = open(backend).await;
        let allocation = allocation();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (store, allocation) = (store.clone(), allocation.clone());
                tokio::spawn(async move { store.receive(incoming(Channel::App, "same", "fp", Some(allocation))).await })
            })
            .collect();
        let mut stored = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                Received::Stored { .. } => stored += 1,
                Received::Duplicate { .. } => {}
                Received::Conflict => panic!("the same content never conflicts"),
            }
        }
        assert_eq!(stored, 1);
        assert_eq!(store.pending(100).await.unwrap().len(), 1);
        store.close().await;
    }

    async fn a_colliding_tracking_code_is_replaced_at_receive(backend) {
        let (_place, store) = open(backend).await;
        let first = allocation();
        stored_seq(store.receive(incoming(Channel::App, "a", "fp-a", Some(first.clone()))).await.unwrap());
        let mut second = allocation();
        second.tracking_code = first.tracking_code.clone();
        match store.receive(incoming(Channel::App, "b", "fp-b", Some(second.clone()))).await.unwrap() {
            Received::Stored { allocation: Some(a), .. } => {
                assert_ne!(a.tracking_code, first.tracking_code);
                assert_eq!(a.record_id, second.record_id);
            }
            other => panic!("expected Stored with a new code, got {other:?}"),
        }
        store.close().await;
    }

    async fn records_go_through_the_outbox_once_and_quarantine_can_be_replayed(backend) {
        let (_place, store) = open(backend).await;
        let a = allocation();
        let seq = stored_seq(store.receive(incoming(Channel::App, "r-1", "fp", Some(a.clone()))).await.unwrap());
        let now = Utc::now();
        let batch = Processed { records: vec![record_of(&a, Some(now))], done: vec![seq], ..Processed::default() };
        store.commit_processed(batch.clone()).await.unwrap();
        assert!(store.pending(10).await.unwrap().is_empty());
        // Re-committing the same batch (a crash before the pipeline learnt of the commit) adds nothing.
        store.commit_processed(batch).await.unwrap();

        let due = store.due("file", now, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].record_id, a.record_id);
        assert!(store.due("file", now - chrono::Duration::seconds(1), 10).await.unwrap().is_empty(), "not before its time");
        assert_eq!(store.undelivered_of("file", &[a.record_id, Uuid::now_v7()]).await.unwrap(), vec![due[0].outbox_seq]);
        let status = store.status(&a.tracking_code).await.unwrap().unwrap();
        assert!(status.recorded && status.delivered_at.is_none());
        assert_eq!(store.reporter_of(&a.tracking_code).await.unwrap().as_deref(), Some("rp_backend"));
        assert_eq!(store.tracking_code_of(a.record_id).await.unwrap(), Some(a.tracking_code.clone()));

        let delivered_at = at("2026-03-01T03:00:00Z");
        let delivered = || vec![(due[0].outbox_seq, crate::store::Settlement::Delivered { remote_id: None })];
        store.settle_deliveries(delivered(), delivered_at).await.unwrap();
        store.settle_deliveries(delivered(), Utc::now()).await.unwrap();
        assert!(store.due("file", Utc::now(), 10).await.unwrap().is_empty());
        assert!(store.undelivered_of("file", &[a.record_id]).await.unwrap().is_empty());
        assert_eq!(store.status(&a.tracking_code).await.unwrap().unwrap().delivered_at, Some(delivered_at));

        let bad = stored_seq(store.receive(incoming(Channel::App, "r-2", "fp", None)).await.unwrap());
        let quarantine = Processed { quarantined: vec![(bad, "cannot decode".to_owned())], ..Processed::default() };
        store.commit_processed(quarantine).await.unwrap();
        let kept = store.quarantined(10).await.unwrap();
        assert_eq!((kept.len(), kept[0].seq, kept[0].reason.as_str()), (1, bad, "cannot decode"));
        assert!(store.pending(10).await.unwrap().is_empty());
        store.commit_processed(Processed { requeued: vec![bad], ..Processed::default() }).await.unwrap();
        assert_eq!(store.pending(10).await.unwrap()[0].seq, bad);
        assert!(store.quarantined(10).await.unwrap().is_empty());
        store.close().await;
    }

    async fn chat_tables_commit_with_the_batch_and_the_workers_move_them_along(backend) {
        let (_place, store) = open(backend).await;
        let body = stored_seq(store.receive(incoming(Channel::Facebook, "body:1", "fp", None)).await.unwrap());
        let draft_id = Uuid::now_v7();
        let opened = at("2026-03-01T02:00:00Z");
        let draft = Draft {
            record_id: draft_id,
            channel: Channel::Facebook,
            sender_key: "sender-key".to_owned(),
            tracking_code: crate::ids::new_tracking_code().to_string(),
            in_reply_to: None,
            opened_at: opened,
            last_at: opened,
            closes_at: opened + chrono::Duration::minutes(10),
            members: vec![(body, 0)],
            asked: vec!["location".to_owned()],
            open: true,
        };
        let reply = NewReply {
            id: Uuid::now_v7(),
            channel: Channel::Facebook,
            purpose: ReplyPurpose::Question,
            dedupe_key: format!("ask:{draft_id}:location"),
            record_id: Some(draft_id),
            tracking_code: Some(draft.tracking_code.clone()),
            recipient_sealed: vec![9, 9],
            text: "Where is it?".to_owned(),
            next_attempt_at: opened,
            recipient_key: Some("recipient-key".to_owned()),
            platform_message_id: None,
            options: None,
        };
        let chat = ChatChanges {
            events: vec![NewChatEvent {
                channel: Channel::Facebook,
                event_id: "mid.1".to_owned(),
                inbound_seq: body,
                position: 0,
                outcome: EventOutcome::Drafted,
                record_id: Some(draft_id),
            }],
            drafts: vec![draft.clone()],
            fetches: vec![NewFetch {
                inbound_seq: body,
                position: 0,
                attachment: 1,
                kind: MediaKind::Image,
                url: "https://cdn.example/1.jpg".to_owned(),
                next_attempt_at: opened,
            }],
            replies: vec![reply.clone()],
            bounced: Vec::new(),
        };
        let batch = Processed { done: vec![body], chat, ..Processed::default() };
        store.commit_processed(batch.clone()).await.unwrap();
        store.commit_processed(batch).await.unwrap();

        let seen = store.seen_events(Channel::Facebook, &["mid.1".to_owned(), "mid.2".to_owned()]).await.unwrap();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["mid.1"]);
        assert_eq!(store.event_record(Channel::Facebook, "mid.1").await.unwrap(), Some(draft_id));
        assert_eq!(store.open_draft(Channel::Facebook, "sender-key").await.unwrap(), Some(draft.clone()));
        assert!(store.closing_drafts(opened, 10).await.unwrap().is_empty());
        assert_eq!(store.closing_drafts(draft.closes_at, 10).await.unwrap(), vec![draft.clone()]);
        assert_eq!(store.tracking_code_of(draft_id).await.unwrap(), Some(draft.tracking_code.clone()));

        let fetches = store.due_fetches(opened, 10).await.unwrap();
        assert_eq!(fetches.len(), 1);
        let (channel, media) = &fetches[0];
        assert_eq!((*channel, media.inbound_seq, media.attachment, media.kind), (Channel::Facebook, body, 1, MediaKind::Image));
        assert!(!store.fetches_settled(&[body]).await.unwrap());
        store.fetch_retry(media.id, opened + chrono::Duration::minutes(1), "timeout").await.unwrap();
        assert!(store.due_fetches(opened, 10).await.unwrap().is_empty(), "waits for its next attempt");
        store.fetch_failed(media.id, "gone").await.unwrap();
        assert!(store.fetches_settled(&[body]).await.unwrap());
        let media = store.chat_media_of(&[body]).await.unwrap();
        assert_eq!((media[0].state, media[0].attempts), (FetchState::Failed, 2));

        let due = store.due_replies(&[Channel::Facebook, Channel::Zalo], opened, 10).await.unwrap();
        assert_eq!((due.len(), due[0].id, due[0].attempts), (1, reply.id, 0));
        assert!(store.due_replies(&[Channel::Zalo], opened, 10).await.unwrap().is_empty());
        assert_eq!(store.replies_to(Channel::Facebook, "recipient-key", opened - chrono::Duration::days(1)).await.unwrap(), 1);
        assert!(store.reply_sending(reply.id).await.unwrap());
        assert!(!store.reply_sending(reply.id).await.unwrap(), "claimed once");
        store.reply_not_sent(reply.id, AfterFailure::Retry(opened), "http 500").await.unwrap();
        assert!(store.reply_sending(reply.id).await.unwrap());
        store.reply_sent(reply.id, "m_out.1", opened).await.unwrap();
        let status = store.reply_status(reply.id).await.unwrap().unwrap();
        assert_eq!((status.state.as_str(), status.attempts, status.sent_at), ("sent", 2, Some(opened)));
        assert_eq!(store.replied_code(Channel::Facebook, "m_out.1").await.unwrap(), Some(draft.tracking_code.clone()));
        assert!(!store.confirm_echo(reply.id).await.unwrap(), "already sent");
        assert!(store.settle_interrupted_replies().await.unwrap().is_empty());
        store.close().await;
    }

    async fn operators_tokens_and_mail_lookups_keep_their_rules(backend) {
        let (_place, store) = open(backend).await;
        let t = at("2026-03-01T02:00:00Z");
        store.put_operator("an", "digest-1", t).await.unwrap();
        assert_eq!(store.operator_by_token("digest-1").await.unwrap().as_deref(), Some("an"));
        store.put_operator("an", "digest-2", t).await.unwrap();
        assert_eq!(store.operator_by_token("digest-1").await.unwrap(), None, "a new token replaces the old");
        assert!(store.revoke_operator("an", t).await.unwrap());
        assert!(!store.revoke_operator("an", t).await.unwrap());
        assert_eq!(store.operator_by_token("digest-2").await.unwrap(), None);
        assert_eq!(store.operators().await.unwrap()[0].revoked_at.as_deref(), Some(crate::store::sqlite::ts(t).as_str()));

        let token = |b: u8| StoredToken { sealed: vec![b], expires_at: Some(t) };
        store.put_channel_token(Channel::Zalo, token(1), true).await.unwrap();
        store.put_channel_token(Channel::Zalo, token(2), true).await.unwrap();
        assert_eq!(store.channel_token(Channel::Zalo).await.unwrap().unwrap().sealed, vec![1], "seeding keeps a renewal");
        store.put_channel_token(Channel::Zalo, token(3), false).await.unwrap();
        let stored = store.channel_token(Channel::Zalo).await.unwrap().unwrap();
        assert_eq!((stored.sealed, stored.expires_at), (vec![3], Some(t)));

        let mut mail = incoming(Channel::Email, "<id@example>", "fp", None);
        mail.raw_sha256 = "0123456789abcdef0123".to_owned();
        stored_seq(store.receive(mail).await.unwrap());
        assert!(store.mail_stored("<id@example>", "0123456789abcdef0123").await.unwrap());
        assert!(!store.mail_stored("<id@example>", "ffff").await.unwrap());
        assert_eq!(store.message_ids(Channel::Email).await.unwrap(), ["<id@example>"]);
        store.close().await;
    }

    async fn a_lease_is_held_by_one_holder_until_it_expires(backend) {
        let (_place, store) = open(backend).await;
        let ttl = Duration::from_secs(1);
        assert!(store.try_lease("pipeline", "a", ttl).await.unwrap());
        assert!(!store.try_lease("pipeline", "b", ttl).await.unwrap());
        assert!(store.try_lease("pipeline", "a", ttl).await.unwrap(), "the holder renews");
        assert!(store.try_lease("other", "b", ttl).await.unwrap(), "leases are by name");
        // "a" stops renewing: its lease runs out and "b" takes it.
        let store_ref = &store;
        eventually(Duration::from_secs(10), "the takeover", move || async move {
            store_ref.try_lease("pipeline", "b", ttl).await.unwrap()
        })
        .await;
        assert!(!store.try_lease("pipeline", "a", ttl).await.unwrap());
        // Given up on a clean shutdown, it is free at once; giving up another's lease does nothing.
        store.release_lease("pipeline", "a").await.unwrap();
        assert!(!store.try_lease("pipeline", "a", Duration::from_secs(60)).await.unwrap());
        store.release_lease("pipeline", "b").await.unwrap();
        assert!(store.try_lease("pipeline", "a", Duration::from_secs(60)).await.unwrap());
        store.close().await;
    }

    async fn core_updates_are_kept_once_and_r10_finds_interactions_left_unanswered(backend) {
        use crate::store::core_updates::{NewCoreUpdate, PutUpdate};
        let (_place, store) = open(backend).await;
        let report = allocation();
        let mut interaction = record_of(&allocation(), None);
        interaction.kind = Kind::Interaction;
        interaction.in_reply_to = Some(report.tracking_code.clone());
        interaction.received_at = at("2026-03-02T02:00:00Z");
        interaction.body = serde_json::json!({
            "sources": [{ "message_id": "app:late", "received_at": "2026-03-02T02:00:00Z", "raw_sha256": "00" }]
        })
        .to_string();
        let mut first = record_of(&report, None);
        first.body = serde_json::json!({
            "sources": [{ "message_id": "app:first", "received_at": "2026-03-01T02:00:00Z", "raw_sha256": "00" }]
        })
        .to_string();
        let batch = Processed { records: vec![first, interaction.clone()], ..Processed::default() };
        store.commit_processed(batch).await.unwrap();
        let found = store.report_ref(&report.tracking_code).await.unwrap().expect("the report");
        assert_eq!((found.record_id, found.channel, found.identity_sealed), (report.record_id, Channel::App, vec![1, 2, 3]));
        assert!(store.report_ref(&interaction.tracking_code).await.unwrap().is_none(), "only reports");
        let last = store.last_message_from("rp_backend", Channel::App).await.unwrap();
        assert_eq!(last, Some((at("2026-03-02T02:00:00Z"), "late".to_owned())));

        // A day and more later, nothing answered it: overdue, agency unknown.
        let later = at("2026-03-03T03:00:00Z");
        let open = store.unanswered_interactions(later, None).await.unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].in_reply_to.as_str(), open[0].agency.as_deref()), (report.tracking_code.as_str(), None));

        let update = |id: &str, at_: &str| NewCoreUpdate {
            update_id: id.to_owned(),
            fingerprint: format!("fp-{id}"),
            tracking_code: report.tracking_code.clone(),
            record_id: report.record_id,
            status: "in_progress".to_owned(),
            agency: "Phường Thuận Hóa".to_owned(),
            message: "Đã tiếp nhận.".to_owned(),
            at: at(at_),
            received_at: at(at_),
            relay: "none".to_owned(),
            relay_reason: Some("no_contact".to_owned()),
            rating_requested: false,
            answer: format!("{{\"update_id\":\"{id}\"}}"),
        };
        // An update older than the interaction does not answer it, but names the agency.
        assert_eq!(store.put_core_update(update("u-1", "2026-03-01T05:00:00Z"), None).await.unwrap(), PutUpdate::Stored);
        let open = store.unanswered_interactions(later, None).await.unwrap();
        assert_eq!(open[0].agency.as_deref(), Some("Phường Thuận Hóa"));
        match store.put_core_update(update("u-1", "2026-03-01T05:00:00Z"), None).await.unwrap() {
            PutUpdate::Existing(stored) => assert_eq!(stored.fingerprint, "fp-u-1"),
            PutUpdate::Stored => panic!("an update_id is stored once"),
        }
        store.put_core_update(update("u-2", "2026-03-02T09:00:00Z"), None).await.unwrap();
        assert!(store.unanswered_interactions(later, None).await.unwrap().is_empty(), "answered after it");
        store.close().await;
    }
}
