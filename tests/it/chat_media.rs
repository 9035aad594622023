//! The chat media fetcher against a local CDN double: a photo with EXIF GPS is stored by hash
//! like an app upload, expired URLs fail at once, server trouble is retried with back-off,
//! bodies over the cap are refused (declared) or cut (streamed), a silent server times out,
//! and shutdown cuts downloads in flight without counting them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use chrono::Utc;
use futures_util::StreamExt as _;
use hue_intake::chat::fetch::Fetcher;
use hue_intake::config::Config;
use hue_intake::media_store::MediaStore;
use hue_intake::store::chat::{ChatChanges, FetchState, NewFetch};
use hue_intake::store::{Incoming, Options, Processed, Received, Store, WriteFn};
use hue_intake_adapters::attachment::sha256_hex;
use hue_intake_schemas::{Channel, MediaKind};
use sqlx::Row as _;
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::common::{config, jpeg_with_gps};

/// The image cap of these tests: small, so "too large" needs no large bodies.
const IMAGE_CAP: u64 = 64 * 1024;

/// The CDN double.
#[derive(Clone)]
pub(crate) struct Cdn {
    jpeg: Bytes,
    /// Requests to `/flaky.jpg` so far (the first one fails).
    flaky_hits: Arc<AtomicUsize>,
    /// Requests to `/slow` so far: lets a test wait until a download is in flight.
    slow_hits: Arc<tokio::sync::watch::Sender<usize>>,
}

/// A body that sends `head` and then nothing, forever, without ending.
fn stalled(head: Bytes) -> Body {
    Body::from_stream(
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(head) }).chain(futures_util::stream::pending()),
    )
}

pub(crate) async fn cdn(jpeg: Vec<u8>) -> (String, Cdn) {
    let state = Cdn {
        jpeg: Bytes::from(jpeg),
        flaky_hits: Arc::default(),
        slow_hits: Arc::new(tokio::sync::watch::channel(0).0),
    };
    let app = Router::new()
        .route("/photo.jpg", get(|State(cdn): State<Cdn>| async move { cdn.jpeg }))
        .route("/expired.jpg", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/flaky.jpg",
            get(|State(cdn): State<Cdn>| async move {
                if cdn.flaky_hits.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                } else {
                    cdn.jpeg.into_response()
                }
            }),
        )
        .route(
            // Announces more than the image cap, sends a JPEG's first bytes, then stalls: only a
            // fetcher that believes the declared length after sniffing ends before the timeout.
            "/big-declared.jpg",
            get(|State(cdn): State<Cdn>| async move {
                let mut head = cdn.jpeg.to_vec();
                head.resize(4096, 0);
                Response::builder()
                    .header(header::CONTENT_LENGTH, IMAGE_CAP * 4)
                    .body(stalled(Bytes::from(head)))
                    .unwrap()
            }),
        )
        .route(
            // Announces more than any cap and sends nothing: refused before reading.
            "/huge-declared.jpg",
            get(|| async {
                Response::builder().header(header::CONTENT_LENGTH, 10u64 << 30).body(stalled(Bytes::new())).unwrap()
            }),
        )
        .route(
            // Chunked (no length), a JPEG that never ends: only a fetcher that cuts the stream at
            // the cap ends before the timeout.
            "/endless.jpg",
            get(|State(cdn): State<Cdn>| async move {
                let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(cdn.jpeg) });
                let tail = futures_util::stream::repeat_with(|| Ok(Bytes::from(vec![0u8; 8192])));
                Body::from_stream(head.chain(tail))
            }),
        )
        .route("/notes.txt", get(|| async { "Plain words, not a photo: no media type on the allow-list.".repeat(4) }))
        .route(
            "/slow",
            get(|State(cdn): State<Cdn>| async move {
                cdn.slow_hits.send_modify(|n| *n += 1);
                std::future::pending::<()>().await;
            }),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, state)
}

/// The fetcher's configuration: a 1 s download timeout, two attempts, quick back-off.
fn fetch_config(dir: &TempDir) -> Config {
    let mut c = config(dir.path());
    c.chat.fetch_timeout_secs = 1;
    c.chat.fetch_attempts = 2;
    c.chat.retry_base_ms = 10;
    c.chat.retry_max_secs = 1;
    c.media.max_image_bytes = IMAGE_CAP;
    c
}

async fn open_store(dir: &TempDir) -> Store {
    Store::open_sqlite(dir.path(), Options { group_commit_max_batch: 64, max_database_bytes: None }).await.unwrap()
}

/// A stored Facebook webhook body: what `chat_media` rows hang from.
async fn body(store: &Store, message_id: &str) -> i64 {
    let received = store
        .receive(Incoming {
            channel: Channel::Facebook,
            message_id: message_id.to_owned(),
            received_at: Utc::now(),
            raw_sha256: sha256_hex(message_id.as_bytes()),
            fingerprint: sha256_hex(message_id.as_bytes()),
            raw_sealed: vec![1, 2, 3],
            meta: "{}".to_owned(),
            allocation: None,
        })
        .await
        .unwrap();
    match received {
        Received::Stored { seq, .. } => seq,
        other => panic!("the body was not stored: {other:?}"),
    }
}

/// Queues attachments of body `seq` (one event, attachments in order) as the pipeline would.
async fn queue(store: &Store, seq: i64, urls: &[String]) {
    let urls = urls.to_vec();
    store
        .write(WriteFn::Sqlite(Box::new(move |conn| {
            Box::pin(async move {
                for (i, url) in urls.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO chat_media (inbound_seq, position, attachment, kind, url, next_attempt_at) \
                         VALUES (?1, 0, ?2, 'image', ?3, ?4)",
                    )
                    .bind(seq)
                    .bind(i as i64)
                    .bind(url)
                    .bind(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .execute(&mut *conn)
                    .await?;
                }
                Ok(())
            })
        })))
        .await
        .unwrap();
}

/// Waits (bounded) until no attachment of these bodies is pending.
async fn settled(store: &Store, seqs: &[i64]) {
    let wait = async {
        while !store.fetches_settled(seqs).await.unwrap() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait).await.expect("fetches settled within 30 s");
}

/// `(state, attempts, last_error)` per attachment index of body `seq`.
async fn rows(store: &Store, seq: i64) -> Vec<(String, u32, Option<String>)> {
    let Store::Sqlite(s) = store else { unreachable!("these tests open SQLite") };
    sqlx::query("SELECT state, attempts, last_error FROM chat_media WHERE inbound_seq = ?1 ORDER BY attachment")
        .bind(seq)
        .fetch_all(s.readers())
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

fn temp_files(dir: &TempDir) -> usize {
    std::fs::read_dir(dir.path().join("media").join("tmp")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test]
async fn attachments_are_fetched_retried_or_failed_for_a_reason() {
    let jpeg = jpeg_with_gps(16.4637, 107.5909);
    let (base, cdn) = cdn(jpeg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let seq = body(&store, "body:test1").await;
    let urls: Vec<String> = [
        "/photo.jpg",
        "/expired.jpg",
        "/flaky.jpg",
        "/big-declared.jpg",
        "/huge-declared.jpg",
        "/endless.jpg",
        "/slow",
        "/notes.txt",
    ]
    .iter()
    .map(|path| format!("{base}{path}"))
    .chain(["ftp://cdn.example/photo.jpg".to_owned()])
    .collect();
    queue(&store, seq, &urls).await;
    assert!(!store.fetches_settled(&[seq]).await.unwrap(), "queued attachments are pending");
    assert!(store.fetches_settled(&[seq + 1]).await.unwrap(), "a body without attachments is settled");

    let media = MediaStore::new(dir.path());
    let stop = CancellationToken::new();
    let fetcher = Fetcher::new(&fetch_config(&dir), store.clone(), media.clone(), Duration::from_millis(20));
    let running = tokio::spawn(fetcher.run(stop.clone()));
    // The rows were committed before the fetcher started: its first step finds them, no wake-up needed.
    settled(&store, &[seq]).await;
    stop.cancel();
    running.await.unwrap();

    let sha = sha256_hex(&jpeg);
    let fetched = store.chat_media_of(&[seq]).await.unwrap();
    for i in [0, 2] {
        assert_eq!(fetched[i].state, FetchState::Fetched, "attachment {i}");
        let item = fetched[i].item.as_ref().expect("a fetched attachment has its item");
        assert_eq!(item.kind, MediaKind::Image);
        assert_eq!(item.sha256.as_deref(), Some(sha.as_str()));
        assert_eq!(item.uri, format!("blob:sha256:{sha}"));
        assert_eq!(item.bytes, Some(jpeg.len() as u64));
        let gps = item.gps.expect("the photo's EXIF position is read");
        assert!((gps.lat - 16.4637).abs() < 1e-4 && (gps.lon - 107.5909).abs() < 1e-4, "{gps:?}");
    }
    assert_eq!(std::fs::read(media.path_of(&sha)).unwrap(), jpeg, "the blob is in the media store");
    assert_eq!(cdn.flaky_hits.load(Ordering::SeqCst), 2);

    let rows = rows(&store, seq).await;
    let row = |i: usize| (rows[i].0.as_str(), rows[i].1, rows[i].2.as_deref().unwrap_or(""));
    assert_eq!(row(0), ("fetched", 1, ""));
    assert_eq!(row(1), ("failed", 1, "http 404: gone or expired"), "an expired URL is not retried");
    assert_eq!(row(2), ("fetched", 2, ""), "a 500 is retried, then fetched");
    assert_eq!(row(3).0, "failed");
    assert!(row(3).2.starts_with("too large: image files may be at most"), "{:?}", row(3));
    assert_eq!(row(4).0, "failed");
    assert!(row(4).2.starts_with("too large:") && row(4).2.contains("announced"), "{:?}", row(4));
    assert_eq!(row(5).0, "failed");
    assert!(row(5).2.starts_with("too large: image files may be at most"), "{:?}", row(5));
    assert_eq!(row(6), ("failed", 2, "timed out (gave up after 2 attempts)"));
    assert_eq!(row(7), ("failed", 1, "unsupported media type"));
    assert_eq!(row(8), ("failed", 1, "not an http(s) URL"));
    for (state, _, reason) in &rows {
        assert!(!reason.as_deref().unwrap_or("").contains("127.0.0.1"), "reasons never name the URL: {state}");
    }
    assert_eq!(temp_files(&dir), 0, "refused and cut downloads leave no temporary file");
    store.close().await;
}

#[tokio::test]
async fn shutdown_cuts_downloads_in_flight_and_leaves_them_pending() {
    let (base, cdn) = cdn(jpeg_with_gps(16.0, 107.0)).await;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&dir).await;
    let seq = body(&store, "body:test2").await;
    let mut config = fetch_config(&dir);
    // Far beyond the test's bounds: only shutdown can end this download.
    config.chat.fetch_timeout_secs = 600;
    let stop = CancellationToken::new();
    let fetcher = Fetcher::new(&config, store.clone(), MediaStore::new(dir.path()), Duration::from_secs(600));
    let running = tokio::spawn(fetcher.run(stop.clone()));
    // Queued the pipeline's way: its commit wakes the fetcher (the poll is 600 s away).
    let fetch = NewFetch {
        inbound_seq: seq,
        position: 0,
        attachment: 0,
        kind: MediaKind::Video,
        url: format!("{base}/slow"),
        next_attempt_at: Utc::now(),
    };
    let chat = ChatChanges { fetches: vec![fetch], ..ChatChanges::default() };
    store.commit_processed(Processed { chat, ..Processed::default() }).await.unwrap();
    let mut hits = cdn.slow_hits.subscribe();
    tokio::time::timeout(Duration::from_secs(20), hits.wait_for(|n| *n >= 1))
        .await
        .expect("the download started within 20 s")
        .unwrap();
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(20), running).await.expect("the fetcher stopped promptly").unwrap();

    assert_eq!(rows(&store, seq).await, vec![("pending".to_owned(), 0, None)], "a cut download is no attempt");
    assert!(!store.fetches_settled(&[seq]).await.unwrap());
    assert_eq!(temp_files(&dir), 0);
    store.close().await;
}
