use crate::support::*;
use base64::Engine;
use resonanz_sim::{InboundContent, InboundRequest};
use serde_json::json;
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

/// `(name, Some((filename, type)), data)`: a text field or a file.
type Field<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a [u8]);

/// A multipart/form-data body as curl -F builds it.
fn form(fields: &[Field<'_>]) -> (String, Vec<u8>) {
    let boundary = "------------------------d74496d66958873e";
    let mut body = Vec::new();
    for (name, file, data) in fields {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some((filename, mime)) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\nContent-Type: {mime}\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";

impl TestSim {
    async fn upload(
        &self,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}/{}/media", self.sim.graph_url(), self.pnid()))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }
}

#[tokio::test]
async fn an_uploaded_pdf_gets_a_media_id_that_a_document_send_can_use_for_30_days() {
    let t = spawn().await;
    t.sim
        .deliver_inbound(InboundRequest::text(
            ANNA,
            "Bitte schicken Sie mir die Police.",
        ))
        .await
        .unwrap();
    let (ct, body) = form(&[
        ("messaging_product", None, b"whatsapp"),
        ("type", None, b"application/pdf"),
        (
            "file",
            Some(("Versicherungsschein.pdf", "application/pdf")),
            PDF,
        ),
    ]);
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_eq!(status, 200, "{resp}");
    let media_id = resp["id"].as_str().unwrap().to_owned();
    assert!(media_id.bytes().all(|b| b.is_ascii_digit()), "{media_id}");
    assert_eq!(resp.as_object().unwrap().len(), 1, "only the id: {resp}");

    let uploads = t.sim.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].media_id.as_deref(), Some(media_id.as_str()));
    assert_eq!(
        uploads[0].filename.as_deref(),
        Some("Versicherungsschein.pdf")
    );
    assert_eq!(uploads[0].mime_type.as_deref(), Some("application/pdf"));
    assert_eq!(uploads[0].size, PDF.len());
    assert_eq!(t.sim.media_bytes(&media_id).as_deref(), Some(PDF));

    let (status, info) = t
        .graph_get(&format!("{}/{media_id}", t.sim.graph_url()))
        .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["mime_type"], "application/pdf");
    assert_eq!(info["file_size"], PDF.len());
    assert_eq!(
        info["sha256"],
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(PDF))
    );

    let send = |id: &str| {
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "document",
               "document": {"id": id, "filename": "Versicherungsschein.pdf", "caption": "Ihr Versicherungsschein"}})
    };
    let (status, resp) = t.send_wa(send(&media_id)).await;
    assert_eq!(status, 200, "{resp}");
    let sent = t.sim.sent();
    assert_eq!(
        sent.last().unwrap().request["document"]["id"],
        media_id.as_str()
    );

    let (status, resp) = t.send_wa(send("1234567890123456")).await;
    assert_graph_error(status, &resp, 400, 100);
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("document.id is not a valid whatsapp business account media attachment ID"),
        "{resp}"
    );

    // Uploads persist 30 days, then the id is refused like an unknown one.
    t.sim.advance_clock(30 * 24 * 3600 + 1);
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Noch da?"))
        .await
        .unwrap();
    let (status, resp) = t.send_wa(send(&media_id)).await;
    assert_graph_error(status, &resp, 400, 100);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn bad_uploads_get_metas_errors_and_are_recorded_as_rejected() {
    let t = spawn().await;
    let pdf_form = |product: &[u8]| {
        form(&[
            ("messaging_product", None, product),
            ("file", Some(("Police.pdf", "application/pdf")), PDF),
        ])
    };
    let (ct, body) = pdf_form(b"whatsapp");
    let (status, resp) = t.upload("wrong-token", &ct, body).await;
    assert_eq!(status, 401, "{resp}");
    assert_eq!(resp["error"]["code"], 190);

    let (ct, body) = pdf_form(b"messenger");
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_graph_error(status, &resp, 400, 100);

    let (status, resp) = t
        .upload(
            TOKEN,
            "application/json",
            br#"{"messaging_product":"whatsapp"}"#.to_vec(),
        )
        .await;
    assert_graph_error(status, &resp, 400, 100);

    let (ct, body) = form(&[
        ("messaging_product", None, b"whatsapp"),
        ("type", None, b"application/pdf"),
    ]);
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_graph_error(status, &resp, 400, 100);
    assert!(
        resp["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("file")
    );

    let (ct, body) = form(&[
        ("messaging_product", None, b"whatsapp"),
        (
            "file",
            Some(("setup.exe", "application/x-msdownload")),
            b"MZ\x90\x00",
        ),
    ]);
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_graph_error(status, &resp, 400, 100);
    assert!(
        resp["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .contains("Received file of type 'application/x-msdownload'"),
        "{resp}"
    );

    let big = vec![0u8; 5 * 1024 * 1024 + 1];
    let (ct, body) = form(&[
        ("messaging_product", None, b"whatsapp"),
        ("type", None, b"image/jpeg"),
        ("file", Some(("foto.jpg", "image/jpeg")), &big),
    ]);
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_graph_error(status, &resp, 400, 100);

    // Like sends, a call refused for its token is not recorded.
    let uploads = t.sim.uploads();
    assert_eq!(uploads.len(), 5);
    assert!(
        uploads
            .iter()
            .all(|u| u.verdict == resonanz_sim::Verdict::Rejected
                && u.media_id.is_none()
                && u.error_code == Some(100))
    );
    t.sim.shutdown().await;
}

/// A 512×512 lossless WebP header (nothing decodes it here).
fn webp_sticker() -> Vec<u8> {
    let bits: u32 = 511 | (511 << 14);
    let mut chunk = b"VP8L\x05\x00\x00\x00\x2f".to_vec();
    chunk.extend_from_slice(&bits.to_le_bytes());
    chunk.push(0);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&((chunk.len() + 4) as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(&chunk);
    out
}

#[tokio::test]
async fn an_uploaded_webp_is_sent_as_a_sticker_by_id_and_takes_no_caption() {
    let t = spawn().await;
    t.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Danke!"))
        .await
        .unwrap();
    let sticker = webp_sticker();
    let (ct, body) = form(&[
        ("messaging_product", None, b"whatsapp"),
        ("type", None, b"image/webp"),
        ("file", Some(("Daumen.webp", "image/webp")), &sticker),
    ]);
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_eq!(status, 200, "{resp}");
    let id = resp["id"].as_str().unwrap().to_owned();
    let send = |sticker: serde_json::Value| {
        json!({"messaging_product": "whatsapp", "recipient_type": "individual",
               "to": "+491701234567", "type": "sticker", "sticker": sticker})
    };
    let (status, resp) = t.send_wa(send(json!({"id": id}))).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(t.sim.sent().last().unwrap().kind, "sticker");
    let (status, resp) = t
        .send_wa(send(json!({"id": id, "caption": "Daumen hoch"})))
        .await;
    assert_graph_error(status, &resp, 400, 100);
    let (status, resp) = t.send_wa(send(json!({"id": "999"}))).await;
    assert_graph_error(status, &resp, 400, 100);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn a_document_header_template_takes_only_a_document_parameter() {
    let t = spawn().await;
    let waba = t.sim.config().waba_id.clone();
    let template = |name: &str, header: Option<serde_json::Value>| {
        let mut components = vec![json!({"type": "BODY",
            "text": "Guten Tag {{1}}, anbei Ihr Versicherungsschein. Bei Fragen einfach antworten.",
            "example": {"body_text": [["Anna"]]}})];
        components.extend(header);
        json!({"name": name, "language": "de", "category": "UTILITY", "components": components})
    };
    let header = json!({"type": "HEADER", "format": "DOCUMENT",
                        "example": {"header_handle": ["4::aW1hZ2UvcG5n:ARZ"]}});
    for (name, header) in [
        ("versicherungsschein_versand", Some(header)),
        ("ohne_kopf", None),
    ] {
        let (status, created) = t
            .graph_post(
                &format!("{waba}/message_templates"),
                &template(name, header),
            )
            .await;
        assert_eq!(status, 200, "{created}");
    }
    t.settle().await;
    let (ct, body) = form(&[
        ("messaging_product", None, b"whatsapp"),
        (
            "file",
            Some(("Versicherungsschein.pdf", "application/pdf")),
            PDF,
        ),
    ]);
    let (status, resp) = t.upload(TOKEN, &ct, body).await;
    assert_eq!(status, 200, "{resp}");
    let pdf_id = resp["id"].as_str().unwrap().to_owned();

    let send = |name: &str, header: Option<serde_json::Value>| {
        let mut components =
            vec![json!({"type": "body", "parameters": [{"type": "text", "text": "Anna"}]})];
        if let Some(param) = header {
            components.insert(0, json!({"type": "header", "parameters": [param]}));
        }
        json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "template",
               "template": {"name": name, "language": {"code": "de"}, "components": components}})
    };
    let details = |resp: &serde_json::Value| {
        resp["error"]["error_data"]["details"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let name = "versicherungsschein_versand";
    // As Meta: a missing header parameter is "UNKNOWN", another kind is named.
    let (status, resp) = t.send_wa(send(name, None)).await;
    assert_graph_error(status, &resp, 400, 132012);
    assert_eq!(
        details(&resp),
        "header: Format mismatch, expected DOCUMENT, received UNKNOWN"
    );
    let image = json!({"type": "image", "image": {"link": "https://example.org/police.png"}});
    let (status, resp) = t.send_wa(send(name, Some(image))).await;
    assert_graph_error(status, &resp, 400, 132012);
    assert_eq!(
        details(&resp),
        "header: Format mismatch, expected DOCUMENT, received IMAGE"
    );
    assert!(
        resp["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Parameter format does not match format in the created template")
    );
    // The document must be one this number uploaded.
    let document = |id: &str| json!({"type": "document", "document": {"id": id, "filename": "Versicherungsschein.pdf"}});
    let (status, resp) = t.send_wa(send(name, Some(document("4242")))).await;
    assert_graph_error(status, &resp, 400, 100);
    let (status, resp) = t.send_wa(send(name, Some(document(&pdf_id)))).await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(
        t.sim.sent().last().unwrap().request["template"]["components"][0]["parameters"][0]["document"]
            ["id"],
        pdf_id.as_str()
    );
    // A template without a header takes no header parameter.
    let (status, resp) = t.send_wa(send("ohne_kopf", Some(document(&pdf_id)))).await;
    assert_graph_error(status, &resp, 400, 132000);
    assert!(details(&resp).starts_with("header:"), "{resp}");
    let (status, resp) = t.send_wa(send("ohne_kopf", None)).await;
    assert_eq!(status, 200, "{resp}");
    t.sim.shutdown().await;
}
