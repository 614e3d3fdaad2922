use super::*;
use crate::outbound::{GraphConfig, Secret};
use crate::test_server::{MockGraph, json};

fn client(base: &str) -> GraphClient {
    GraphClient::new(GraphConfig::new(base, "v23.0", Secret::new("tok"))).unwrap()
}

fn body(text: &str, examples: Value) -> Value {
    json!({"type":"BODY","text":text,"example":examples})
}

fn utility(components: Vec<Value>) -> NewTemplate {
    NewTemplate {
        name: "frist_erinnerung".into(),
        language: "de".into(),
        category: TemplateCategory::Utility,
        parameter_format: ParameterFormat::Positional,
        components,
    }
}

#[test]
fn a_well_formed_positional_template_passes() {
    let t = utility(vec![
        json!({"type":"HEADER","format":"TEXT","text":"Frist für {{1}}","example":{"header_text":["Police 123"]}}),
        body(
            "Hallo {{1}}, Ihre Frist für {{2}} endet am {{3}}. Ihr Team",
            json!({"body_text":[["Anna","Kfz-Police","30.06."]]}),
        ),
        json!({"type":"FOOTER","text":"Antworten Sie mit STOP zum Abmelden"}),
    ]);
    assert_eq!(validate_template(&t), vec![]);
}

#[test]
fn gaps_order_dangling_adjacency_and_examples_are_caught() {
    let gap = utility(vec![body(
        "Hallo {{1}}, siehe {{3}} bitte.",
        json!({"body_text":[["a","b"]]}),
    )]);
    assert!(
        validate_template(&gap)
            .iter()
            .any(|i| matches!(i, TemplateIssue::NotSequential { found } if found == &vec![1, 3]))
    );

    let reversed = utility(vec![body(
        "Hallo {{2}} und {{1}} ok",
        json!({"body_text":[["a","b"]]}),
    )]);
    assert!(
        validate_template(&reversed)
            .iter()
            .any(|i| matches!(i, TemplateIssue::NotSequential { .. }))
    );

    let dangling = utility(vec![body(
        "{{1}}, Ihre Police ist da",
        json!({"body_text":[["a"]]}),
    )]);
    assert_eq!(validate_template(&dangling), vec![TemplateIssue::Dangling]);
    let dangling_end = utility(vec![body(
        "Ihre Police: {{1}}",
        json!({"body_text":[["a"]]}),
    )]);
    assert_eq!(
        validate_template(&dangling_end),
        vec![TemplateIssue::Dangling]
    );

    let adjacent = utility(vec![body(
        "Hallo {{1}}{{2}} ok",
        json!({"body_text":[["a","b"]]}),
    )]);
    assert_eq!(validate_template(&adjacent), vec![TemplateIssue::Adjacent]);

    let no_examples = utility(vec![body("Hallo {{1}}, danke.", json!({}))]);
    assert_eq!(
        validate_template(&no_examples),
        vec![TemplateIssue::MissingExamples {
            component: "BODY",
            expected: 1,
            given: 0
        }]
    );

    let bad_var = utility(vec![body("Hallo {{ name }} und {{#1}} ok", json!({}))]);
    assert_eq!(
        validate_template(&bad_var)
            .iter()
            .filter(|i| matches!(i, TemplateIssue::InvalidVariable { .. }))
            .count(),
        2
    );
}

#[test]
fn named_variables_must_be_lower_snake_and_unique() {
    let mut t = utility(vec![body(
        "Hallo {{first_name}}, Ihre {{policy_no}} und {{first_name}} ok",
        json!({"body_text_named_params":[{"param_name":"first_name","example":"Anna"},{"param_name":"policy_no","example":"K-1"}]}),
    )]);
    t.parameter_format = ParameterFormat::Named;
    assert_eq!(
        validate_template(&t),
        vec![TemplateIssue::DuplicateName {
            name: "first_name".into()
        }]
    );
    t.components = vec![body("Hallo {{FirstName}} ok", json!({}))];
    assert_eq!(
        validate_template(&t),
        vec![TemplateIssue::InvalidVariable {
            variable: "FirstName".into()
        }]
    );
}

#[test]
fn name_length_and_promotion_are_flagged() {
    let mut t = utility(vec![body(
        "Sichern Sie sich jetzt 20 % Rabatt mit unserem Gutschein!",
        json!({}),
    )]);
    t.name = "Frist Erinnerung".into();
    let issues = validate_template(&t);
    assert!(issues.contains(&TemplateIssue::BadName));
    assert!(issues.iter().any(|i| matches!(i, TemplateIssue::ReadsAsPromotion { words } if words.contains(&"rabatt".to_string()))));
    assert!(promotion_signals("Ihre Transaktion ist gebucht, Aktionär").is_empty());
    t.category = TemplateCategory::Marketing;
    t.name = "ok".into();
    assert_eq!(validate_template(&t), vec![]);
    let long = utility(vec![body(&"x".repeat(1025), json!({}))]);
    assert_eq!(
        validate_template(&long),
        vec![TemplateIssue::TooLong {
            component: "BODY",
            max: 1024,
            len: 1025
        }]
    );
    assert_eq!(
        validate_template(&utility(vec![])),
        vec![TemplateIssue::MissingBody]
    );
}

#[tokio::test]
async fn sync_follows_cursors_until_paging_next_is_gone() {
    let mock = MockGraph::start(|req, base| {
        let page2 = req.query.contains("after=QVFIUk");
        if page2 {
            json(200, json!({"data":[
                {"name":"werbung_sommer","language":"de","status":"PAUSED","category":"MARKETING","id":"3","components":[]}],
                "paging":{"cursors":{"before":"QVFIUk","after":"QVFIUl"}}}))
        } else {
            json(200, json!({"data":[
                {"name":"frist_erinnerung","language":"de","status":"APPROVED","category":"UTILITY","id":"1",
                 "parameter_format":"POSITIONAL","components":[{"type":"BODY","text":"Hallo {{1}}, Ihre Frist endet bald."}]},
                {"name":"login_code","language":"en_US","status":"REJECTED","category":"AUTHENTICATION","id":"2","components":[]}],
                "paging":{"cursors":{"before":"MAZDZD","after":"QVFIUk"},"next":format!("{base}/v23.0/WABA1/message_templates?after=QVFIUk")}}))
        }
    }).await;
    let templates = client(&mock.base_url)
        .list_templates("WABA1")
        .await
        .unwrap();
    let names: Vec<&str> = templates.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["frist_erinnerung", "login_code", "werbung_sommer"]
    );
    assert_eq!(templates[0].status, TemplateStatus::Approved);
    assert_eq!(templates[0].category, Some(TemplateCategory::Utility));
    assert_eq!(
        templates[0].body_text(),
        Some("Hallo {{1}}, Ihre Frist endet bald.")
    );
    assert_eq!(templates[1].status, TemplateStatus::Rejected);
    assert_eq!(templates[2].status, TemplateStatus::Paused);
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/v23.0/WABA1/message_templates");
    assert!(reqs[1].query.contains("after=QVFIUk"));
}

#[tokio::test]
async fn create_posts_the_template_and_reads_pending() {
    let mock = MockGraph::start(|_, _| {
        json(
            200,
            json!({"id":"594425479261596","status":"PENDING","category":"UTILITY"}),
        )
    })
    .await;
    let t = utility(vec![body(
        "Hallo {{1}}, danke.",
        json!({"body_text":[["Anna"]]}),
    )]);
    let created = client(&mock.base_url)
        .create_template("WABA1", &t)
        .await
        .unwrap();
    assert_eq!(created.id, "594425479261596");
    assert_eq!(created.status, TemplateStatus::Pending);
    let sent = mock.requests()[0].json();
    assert_eq!(sent["category"], "UTILITY");
    assert_eq!(sent["parameter_format"], "positional");
    assert_eq!(sent["components"][0]["example"]["body_text"][0][0], "Anna");
}

#[test]
fn status_webhook_is_read_from_the_parsers_unrecognized_item() {
    let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"WABA1","time":1751142900,"changes":[
      {"field":"message_template_status_update","value":{"event":"REJECTED","message_template_id":12345,
       "message_template_name":"werbung_sommer","message_template_language":"de","reason":"INVALID_FORMAT",
       "message_template_category":"MARKETING","rejection_info":{"reason":"INVALID_FORMAT","recommendation":"Remove adjacent variables"}}}]}]}"#;
    let items = crate::whatsapp::parse_webhook(body).unwrap();
    let resonanz_core::Inbound::Unrecognized(item) = &items[0] else {
        panic!("{items:?}")
    };
    let event = status_update_from(item).unwrap();
    assert_eq!(event.status, TemplateStatus::Rejected);
    assert_eq!(event.template_id, "12345");
    assert_eq!(event.reason.as_deref(), Some("INVALID_FORMAT"));
    assert_eq!(
        event.raw["rejection_info"]["recommendation"],
        "Remove adjacent variables"
    );

    let reinstated = parse_status_update(&json!({"event":"REINSTATED","message_template_id":"9","message_template_name":"x","reason":"NONE"})).unwrap();
    assert_eq!(reinstated.status, TemplateStatus::Approved);
    assert_eq!(reinstated.reason, None);
    assert!(parse_status_update(&json!({"field":"account_update","value":{}})).is_none());
}

#[test]
fn a_composer_gets_each_variable_once_in_order() {
    assert_eq!(
        variable_names("Hallo {{1}}, Ihre Police {{2}} läuft ab. Gruß, {{1}}"),
        vec!["1", "2"]
    );
    assert_eq!(
        variable_names("Guten Tag {{customer_name}}, {{ bad }} {{due_date}}"),
        vec!["customer_name", "due_date"]
    );
    assert!(variable_names("Keine Variablen").is_empty());
}
