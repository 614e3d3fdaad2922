use crate::support::*;
use base64::Engine;
use resonanz_sim::{InboundContent, InboundRequest};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn media_fetch_round_trip_matches_sha256_and_needs_the_token() {
    let t = spawn().await;
    t.sim
        .deliver_inbound(InboundRequest::whatsapp(
            ANNA,
            InboundContent::Document {
                filename: "polizeibericht.pdf".into(),
                caption: Some("Polizeibericht".into()),
            },
        ))
        .await
        .unwrap();
    let msg = t.rx.messages().pop().unwrap();
    assert_eq!(msg["type"], "document");
    let doc = &msg["document"];
    assert_eq!(doc["filename"], "polizeibericht.pdf");
    assert_eq!(doc["mime_type"], "application/pdf");
    let media_id = doc["id"].as_str().unwrap();

    let (status, info) = t
        .graph_get(&format!("{}/{media_id}", t.sim.graph_url()))
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["messaging_product"], "whatsapp");
    assert_eq!(info["id"], media_id);
    assert_eq!(info["sha256"], doc["sha256"]);
    let url = info["url"].as_str().unwrap();

    let resp = t.http.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 401, "downloads need the bearer token");
    let resp = t.http.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    let bytes = resp.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    assert_eq!(info["file_size"], bytes.len());
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    assert_eq!(digest, doc["sha256"].as_str().unwrap());

    // The webhook's own url works too, until it expires after about five minutes.
    let hook_url = doc["url"].as_str().unwrap();
    assert_eq!(
        t.http
            .get(hook_url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    t.sim.advance_clock(301);
    assert_eq!(
        t.http
            .get(hook_url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // A fresh lookup gives a fresh URL; after seven days the id itself is gone.
    let (_, info) = t
        .graph_get(&format!("{}/{media_id}", t.sim.graph_url()))
        .await;
    let fresh = info["url"].as_str().unwrap();
    assert_eq!(
        t.http
            .get(fresh)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    t.sim.advance_clock(7 * 24 * 3600);
    let (status, _) = t
        .graph_get(&format!("{}/{media_id}", t.sim.graph_url()))
        .await;
    assert_eq!(status, 400);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn image_webhook_without_url_still_resolves_via_the_media_endpoint() {
    let t = spawn().await;
    t.control("config", serde_json::json!({"include_media_url": false}))
        .await;
    t.sim
        .deliver_inbound(InboundRequest::whatsapp(
            ANNA,
            InboundContent::Image { caption: None },
        ))
        .await
        .unwrap();
    let msg = t.rx.messages().pop().unwrap();
    assert!(msg["image"].get("url").is_none());
    let id = msg["image"]["id"].as_str().unwrap();
    let (_, info) = t.graph_get(&format!("{}/{id}", t.sim.graph_url())).await;
    let bytes = t
        .http
        .get(info["url"].as_str().unwrap())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(info["mime_type"], "image/png");
    let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&bytes));
    assert_eq!(digest, msg["image"]["sha256"].as_str().unwrap());
    t.sim.shutdown().await;
}
