//! Store-level tests of the outbox through the backend-neutral [`Store`] API (so a second
//! backend runs the same cases): rows per sink in commit order, deferred records due at
//! `deliver_after`, a follow-up behind its report, dead letters and their replay. Times are
//! passed explicitly: no sleeps, no clock.

use chrono::{DateTime, Duration, Utc};
use hue_intake_schemas::{Channel, Kind};
use uuid::Uuid;

use super::test_backends::{both_backends, open as open_on};
use super::{DeadFilter, NewRecord, Options, Processed, Settlement, Store};

fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-29T01:00:00Z").unwrap().with_timezone(&Utc) + Duration::minutes(minutes)
}

async fn open(backend: super::test_backends::Backend) -> (super::test_backends::Place, Store) {
    open_on(backend, Options { group_commit_max_batch: 64, max_database_bytes: None }).await
}

fn record(kind: Kind, in_reply_to: Option<&str>, deliver_after: Option<DateTime<Utc>>) -> NewRecord {
    let id = Uuid::now_v7();
    NewRecord {
        id,
        tracking_code: crate::ids::new_tracking_code().to_string(),
        kind,
        channel: Channel::App,
        received_at: at(0),
        state: "accepted".to_owned(),
        in_reply_to: in_reply_to.map(str::to_owned),
        body: serde_json::json!({
            "id": id, "in_reply_to": in_reply_to,
            "disposition": { "state": "accepted", "reason": null, "deliver_after": null }
        })
        .to_string(),
        reporter_ref: "rp_test".to_owned(),
        consent: false,
        identity_sealed: Vec::new(),
        deliver_after,
        violation: None,
    }
}

async fn commit(store: &Store, records: Vec<NewRecord>) -> Vec<(Uuid, String)> {
    let ids = records.iter().map(|r| (r.id, r.tracking_code.clone())).collect();
    store.commit_processed(Processed { records, ..Processed::default() }).await.unwrap();
    ids
}

async fn due_ids(store: &Store, sink: &str, now: DateTime<Utc>) -> Vec<Uuid> {
    store.due(sink, now, 100).await.unwrap().into_iter().map(|d| d.record_id).collect()
}

async fn deliver_all(store: &Store, sink: &str, now: DateTime<Utc>) -> Vec<Uuid> {
    let due = store.due(sink, now, 100).await.unwrap();
    let settled =
        due.iter().map(|d| (d.outbox_seq, Settlement::Delivered { remote_id: Some("case".into()) })).collect();
    store.settle_deliveries(settled, now).await.unwrap();
    due.into_iter().map(|d| d.record_id).collect()
}

both_backends! {
    async fn each_sink_gets_every_record_once_in_commit_order(backend) {
        let (_place, store) = open(backend).await;
        store.register_sinks(&["core".to_owned(), "analytics".to_owned()]).await.unwrap();
        let first = commit(&store, (0..3).map(|_| record(Kind::Report, None, Some(at(0)))).collect()).await;
        let second = commit(&store, vec![record(Kind::Report, None, Some(at(0)))]).await;
        let expected: Vec<Uuid> = first.iter().chain(&second).map(|(id, _)| *id).collect();
        assert_eq!(due_ids(&store, "core", at(1)).await, expected);
        assert_eq!(deliver_all(&store, "analytics", at(1)).await, expected);
        assert!(due_ids(&store, "analytics", at(2)).await.is_empty(), "delivered once");
        assert_eq!(due_ids(&store, "core", at(2)).await, expected, "the core's rows are its own");
        assert!(due_ids(&store, "file", at(2)).await.is_empty(), "the default file sink is no longer registered");
        // Status: delivered only once every sink has it.
        let code = &first[0].1;
        assert_eq!(store.status(code).await.unwrap().unwrap().delivered_at, None);
        deliver_all(&store, "core", at(3)).await;
        assert_eq!(store.status(code).await.unwrap().unwrap().delivered_at, Some(at(3)));
    }

    async fn r2_a_deferred_record_is_due_at_deliver_after_and_not_before(backend) {
        let (_place, store) = open(backend).await;
        let deferred = commit(&store, vec![record(Kind::Report, None, Some(at(390)))]).await;
        let rejected = commit(&store, vec![record(Kind::Report, None, None)]).await;
        assert!(due_ids(&store, "file", at(389)).await.is_empty());
        assert_eq!(due_ids(&store, "file", at(390)).await, vec![deferred[0].0]);
        let none: Vec<i64> = store.undelivered_of("file", &[rejected[0].0]).await.unwrap();
        assert!(none.is_empty(), "a rejected record never goes downstream");
    }

    async fn a_follow_up_waits_for_its_report_and_a_dead_report_holds_it_until_replayed(backend) {
        let (_place, store) = open(backend).await;
        let report = commit(&store, vec![record(Kind::Report, None, Some(at(0)))]).await;
        let (report_id, code) = report[0].clone();
        let follow = commit(
            &store,
            vec![record(Kind::Interaction, Some(&code), Some(at(0))), record(Kind::Rating, Some(&code), Some(at(0)))],
        )
        .await;
        assert_eq!(due_ids(&store, "file", at(1)).await, vec![report_id], "follow-ups wait behind their report");

        // The receiver refuses the report for good: a dead letter; the follow-ups stay held.
        let seq = store.due("file", at(1), 1).await.unwrap()[0].outbox_seq;
        store.settle_deliveries(vec![(seq, Settlement::Dead { error: "HTTP 422: bad".into() })], at(1)).await.unwrap();
        assert!(due_ids(&store, "file", at(2)).await.is_empty());
        let dead = store.dead_letters(&DeadFilter { limit: 10, ..DeadFilter::default() }).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(
            (dead[0].record_id, dead[0].attempts, dead[0].last_error.as_deref()),
            (report_id, 1, Some("HTTP 422: bad"))
        );
        assert_eq!(store.dead_letter(&code.to_lowercase()).await.unwrap().len(), 1, "found by code, any case");
        assert!(
            store
                .dead_letters(&DeadFilter { since: Some(at(5)), limit: 10, ..DeadFilter::default() })
                .await
                .unwrap()
                .is_empty()
        );

        // A late settlement of a row no longer pending changes nothing.
        store.settle_deliveries(vec![(seq, Settlement::Delivered { remote_id: None })], at(2)).await.unwrap();
        assert_eq!(store.dead_letters(&DeadFilter { limit: 10, ..DeadFilter::default() }).await.unwrap().len(), 1);

        // Replay: due again with fresh attempts; a second replay finds nothing dead.
        assert_eq!(store.replay_dead(vec![seq], at(3)).await.unwrap(), 1);
        assert_eq!(store.replay_dead(vec![seq], at(3)).await.unwrap(), 0, "idempotent");
        let again = store.due("file", at(3), 10).await.unwrap();
        assert_eq!((again.len(), again[0].record_id, again[0].attempts), (1, report_id, 0));
        deliver_all(&store, "file", at(3)).await;
        let followers: Vec<Uuid> = follow.iter().map(|(id, _)| *id).collect();
        assert_eq!(due_ids(&store, "file", at(4)).await, followers, "released in order once the report is delivered");
    }

    async fn a_retry_waits_for_its_time_and_keeps_its_place(backend) {
        let (_place, store) = open(backend).await;
        let ids: Vec<Uuid> = commit(&store, (0..3).map(|_| record(Kind::Report, None, Some(at(0)))).collect())
            .await
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let first = store.due("file", at(1), 1).await.unwrap().remove(0);
        store
            .settle_deliveries(
                vec![(first.outbox_seq, Settlement::Retry { next_attempt_at: at(10), error: "HTTP 503".into() })],
                at(1),
            )
            .await
            .unwrap();
        assert_eq!(due_ids(&store, "file", at(2)).await, ids[1..].to_vec());
        let later = store.due("file", at(10), 10).await.unwrap();
        assert_eq!(later.iter().map(|d| d.record_id).collect::<Vec<_>>(), ids, "the retried row first again");
        assert_eq!(later[0].attempts, 1);
        let counts = store.outbox_counts().await.unwrap();
        assert_eq!(counts.iter().find(|c| c.state == "pending").map(|c| c.count), Some(3));
    }
}
