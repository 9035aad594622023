//! Media: multipart streaming, sniffing, caps, EXIF GPS, content addressing.

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::common::*;

/// Posts a multipart report (the `report` part plus these media parts) with the app token.
async fn post_parts(server: &Server, report: &Value, parts: Vec<(&str, &str, Vec<u8>)>) -> reqwest::Response {
    post_form(server, form(report, parts)).await
}

async fn post_form(server: &Server, form: Form) -> reqwest::Response {
    server.http.post(server.url("/v1/reports")).bearer_auth(APP_TOKEN).multipart(form).send().await.unwrap()
}

fn form(report: &Value, parts: Vec<(&str, &str, Vec<u8>)>) -> Form {
    let mut form = Form::new().part("report", Part::text(report.to_string()).mime_str("application/json").unwrap());
    for (name, filename, bytes) in parts {
        form = form.part(name.to_owned(), Part::bytes(bytes).file_name(filename.to_owned()));
    }
    form
}

#[tokio::test]
async fn a_photo_part_is_stored_by_hash_and_its_gps_places_the_report() {
    let mut server = Server::start().await;
    let photo = jpeg_with_gps(16.4637, 107.5909);
    let body = json!({ "client_message_id": "p-1", "description": "Cây đổ chắn ngang đường." });
    let response = post_parts(&server, &body, vec![("photo", "IMG_0001.jpg", photo.clone())]).await;
    assert_eq!(response.status().as_u16(), 202, "{}", response.text().await.unwrap());
    server.delivered(1).await;
    let record = &server.sink_lines()[0];
    assert_valid_report(record);
    let item = &record["media"][0];
    assert_eq!(item["kind"], "image");
    assert_eq!(item["mime"], "image/jpeg");
    assert_eq!(item["bytes"], photo.len());
    let sha = hue_intake_adapters::attachment::sha256_hex(&photo);
    assert_eq!(item["sha256"], sha.as_str());
    assert_eq!(item["uri"], format!("blob:sha256:{sha}"));
    assert!((item["gps"]["lat"].as_f64().unwrap() - 16.4637).abs() < 1e-4);
    // EXIF fills the place when the message has none (SPEC §8).
    assert_eq!(record["location"]["source"], "photo_exif");
    assert!((record["location"]["lon"].as_f64().unwrap() - 107.5909).abs() < 1e-4);
    let stored = std::fs::read(server.dir.path().join("media").join(&sha[..2]).join(&sha)).unwrap();
    assert_eq!(stored, photo);
    server.stop().await;
}

#[tokio::test]
async fn device_coordinates_win_over_exif() {
    let mut server = Server::start().await;
    let body =
        json!({ "client_message_id": "p-2", "description": "Ngập nước.", "location": { "lat": 16.47, "lon": 107.58 } });
    let photo = jpeg_with_gps(16.2409, 108.0780);
    let response = post_parts(&server, &body, vec![("photo", "a.jpg", photo)]).await;
    assert_eq!(response.status().as_u16(), 202);
    server.delivered(1).await;
    let record = &server.sink_lines()[0];
    assert_eq!(record["location"]["source"], "device");
    assert_eq!(record["location"]["lat"], 16.47);
    server.stop().await;
}

#[tokio::test]
async fn refused_parts_are_named_and_leave_nothing_behind() {
    let server = Server::start_with(|c| c.media.max_image_bytes = 1000).await;
    let body = json!({ "client_message_id": "p-3", "description": "x" });

    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".repeat(8);
    let response = post_parts(&server, &body, vec![("clip", "a.gif", gif)]).await;
    let p = problem(response, 415).await;
    assert_eq!(p["part"], "clip");

    let mut big = jpeg_with_gps(16.0, 107.0);
    big.resize(5000, 0);
    let response = post_parts(&server, &body, vec![("photo", "big.jpg", big)]).await;
    let p = problem(response, 413).await;
    assert_eq!(p["part"], "photo");

    let response = post_form(&server, Form::new().part("photo", Part::bytes(jpeg_with_gps(16.0, 107.0)))).await;
    let p = problem(response, 400).await;
    assert_eq!(p["part"], "report");

    let dir = server.stop().await;
    let tmp = dir.path().join("media").join("tmp");
    let left = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "temporary files of refused uploads are removed");
}

#[tokio::test]
async fn inline_base64_media_is_sniffed_not_trusted() {
    use base64::Engine as _;
    let mut server = Server::start().await;
    let photo = jpeg_with_gps(16.4532, 107.5449);
    let body = json!({
        "client_message_id": "p-4", "description": "Ổ gà lớn.",
        "media": [{ "filename": "x.png", "content_type": "image/png", "data_base64": base64::engine::general_purpose::STANDARD.encode(&photo) }]
    });
    assert_eq!(server.post_json(APP_TOKEN, &body).await.status().as_u16(), 202);
    server.delivered(1).await;
    assert_eq!(server.sink_lines()[0]["media"][0]["mime"], "image/jpeg", "the bytes decide, not the claim");

    let bad = json!({ "client_message_id": "p-5", "description": "x", "media": [{ "data_base64": "%%%" }] });
    let p = problem(server.post_json(APP_TOKEN, &bad).await, 400).await;
    assert_eq!(p["pointer"], "/media/0/data_base64");
    let html = json!({ "client_message_id": "p-6", "description": "x", "media": [{ "data_base64": base64::engine::general_purpose::STANDARD.encode(b"<html><script>alert(1)</script></html>".repeat(3)) }] });
    let p = problem(server.post_json(APP_TOKEN, &html).await, 415).await;
    assert_eq!(p["pointer"], "/media/0");
    server.stop().await;
}
