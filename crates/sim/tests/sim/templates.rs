use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn template_list_pages_with_cursors_and_next_links() {
    let t = spawn().await;
    let waba = t.sim.config().waba_id.clone();
    let mut url = format!("{}/{waba}/message_templates?limit=2", t.sim.graph_url());
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let (status, body) = t.graph_get(&url).await;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        for item in body["data"].as_array().unwrap() {
            for key in [
                "name",
                "language",
                "status",
                "category",
                "id",
                "components",
                "parameter_format",
            ] {
                assert!(item.get(key).is_some(), "{key} missing in {item}");
            }
            names.push(item["name"].as_str().unwrap().to_owned());
        }
        assert!(body["paging"]["cursors"]["before"].is_string());
        assert!(body["paging"]["cursors"]["after"].is_string());
        if pages > 1 {
            assert!(body["paging"]["previous"].is_string());
        }
        match body["paging"]["next"].as_str() {
            Some(next) => url = next.to_owned(),
            None => break,
        }
        assert!(pages < 10, "paging must end");
    }
    assert_eq!(pages, 4, "seven seeded templates, two per page");
    for expected in [
        "schadenmeldung_bestaetigung",
        "anmeldecode",
        "beitragsanpassung_info",
        "fristerinnerung",
        "sommer_rabatt",
        "neues_angebot",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} not listed"
        );
    }
    let mut dedup = names.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), names.len(), "no template on two pages");

    let (_, body) = t
        .graph_get(&format!(
            "{}/{waba}/message_templates?status=PENDING",
            t.sim.graph_url()
        ))
        .await;
    let pending: Vec<_> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].clone())
        .collect();
    assert_eq!(pending, [json!("neues_angebot")]);
    t.sim.shutdown().await;
}

#[tokio::test]
async fn created_templates_are_pending_then_reviewed_by_webhook() {
    let t = spawn().await;
    let waba = t.sim.config().waba_id.clone();
    let create = |name: &str, body: &str| {
        json!({"name": name, "language": "de", "category": "utility", "components": [
            {"type": "BODY", "text": body, "example": {"body_text": [["Anna", "01.07."]]}}]})
    };
    let (status, ok) = t
        .graph_post(
            &format!("{waba}/message_templates"),
            &create(
                "zahlungserinnerung",
                "Hallo {{1}}, Ihr Beitrag ist am {{2}} fällig. Danke!",
            ),
        )
        .await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["status"], "PENDING");
    assert_eq!(ok["category"], "UTILITY");
    let (status, bad) = t
        .graph_post(
            &format!("{waba}/message_templates"),
            &create("kaputt", "Hallo {{1}}{{2}}, bis bald."),
        )
        .await;
    assert_eq!(status, 200);
    let (status, dup) = t
        .graph_post(
            &format!("{waba}/message_templates"),
            &create("zahlungserinnerung", "Noch einmal {{1}} und {{2}} hier."),
        )
        .await;
    assert_eq!(status, 400, "{dup}");
    let (status, _) = t
        .graph_post(
            &format!("{waba}/message_templates"),
            &create("Großbuchstaben", "Hallo {{1}} und {{2}} hier."),
        )
        .await;
    assert_eq!(status, 400);

    t.settle().await;
    let got = t.rx.got();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.signature_ok));
    let values: Vec<_> = got
        .iter()
        .map(|r| {
            assert_eq!(
                r.json["entry"][0]["changes"][0]["field"],
                "message_template_status_update"
            );
            r.json["entry"][0]["changes"][0]["value"].clone()
        })
        .collect();
    let approved = values
        .iter()
        .find(|v| v["message_template_name"] == "zahlungserinnerung")
        .unwrap();
    assert_eq!(approved["event"], "APPROVED");
    assert_eq!(
        approved["message_template_id"].to_string(),
        ok["id"].as_str().unwrap()
    );
    let rejected = values
        .iter()
        .find(|v| v["message_template_name"] == "kaputt")
        .unwrap();
    assert_eq!(rejected["event"], "REJECTED");
    assert_eq!(rejected["reason"], "INVALID_FORMAT");
    assert!(rejected["rejection_info"]["reason"].is_string());
    assert_eq!(
        rejected["message_template_id"].to_string(),
        bad["id"].as_str().unwrap()
    );

    // The approved one can now be sent.
    let (status, body) = t
        .send_wa(json!({"messaging_product": "whatsapp", "to": "+491701234567", "type": "template",
            "template": {"name": "zahlungserinnerung", "language": {"code": "de"}, "components": [
                {"type": "body", "parameters": [{"type": "text", "text": "Anna"}, {"type": "text", "text": "01.07."}]}]}}))
        .await;
    assert_eq!(status, 200, "{body}");
    t.sim.shutdown().await;
}
