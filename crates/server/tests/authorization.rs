//! Who may call what: every route of the API and the web app × anonymous,
//! analyst, agent and admin, against the real server. Browser forms change
//! nothing without the session's anti-forgery token, and a route added
//! without a line here fails the test.

mod support;

use reqwest::Method;
use resonanz_core::{Clock, SystemClock};
use resonanz_server::outbound::auth::{create_agent, csrf_token};
use resonanz_sim::InboundRequest;
use resonanz_store::Role;
use serde_json::{Value, json};
use support::{ANNA, TestApp, spawn_app};

const PASSWORD: &str = "Sicher-Passwort-1";
const ROLES: [&str; 4] = ["anonymous", "analyst", "agent", "admin"];

/// How a caller authenticates: API token (integrations) or session cookie (browsers).
#[derive(Clone, Copy, PartialEq)]
enum Via {
    Api,
    Web,
}

struct Caller {
    token: Option<String>,
    cookie: Option<String>,
    csrf: Option<String>,
}

async fn caller(app: &TestApp, role: Option<Role>, name: &str) -> Caller {
    let Some(role) = role else {
        return Caller {
            token: None,
            cookie: None,
            csrf: None,
        };
    };
    let (_, token) = create_agent(&app.store, name, role, Some(PASSWORD), SystemClock.now())
        .await
        .unwrap();
    let login = app
        .http
        .post(format!("{}/api/sessions", app.base))
        .json(&json!({"name": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 201);
    let session: Value = login.json().await.unwrap();
    let session_token = session["token"].as_str().unwrap().to_owned();
    Caller {
        token: Some(token),
        cookie: Some(format!("resonanz_session={session_token}")),
        csrf: Some(csrf_token(&session_token)),
    }
}

struct Case {
    method: Method,
    /// With `{conv}`, `{contact}`, `{msg}` filled in.
    path: &'static str,
    via: Via,
    /// JSON for the API; for web forms the fields (the CSRF token is added).
    body: Value,
    /// Status for anonymous, analyst, agent, admin.
    expect: [u16; 4],
}

fn case(method: Method, path: &'static str, via: Via, body: Value, expect: [u16; 4]) -> Case {
    Case {
        method,
        path,
        via,
        body,
        expect,
    }
}

fn cases() -> Vec<Case> {
    use Method as M;
    use Via::{Api, Web};
    let none = Value::Null;
    let reply = json!({"type": "text", "text": "Guten Tag, wir kümmern uns darum."});
    vec![
        case(
            M::POST,
            "/api/sessions",
            Api,
            json!({"name": "x", "password": "falsch"}),
            [401, 401, 401, 401],
        ),
        case(
            M::GET,
            "/api/conversations",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::GET,
            "/api/contacts/{contact}",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::GET,
            "/api/conversations/{conv}/messages",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/conversations/{conv}/messages",
            Api,
            reply.clone(),
            [401, 403, 202, 202],
        ),
        case(
            M::GET,
            "/api/conversations/{conv}/window",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/messages/{msg}/read",
            Api,
            none.clone(),
            [401, 403, 204, 204],
        ),
        case(
            M::GET,
            "/api/contacts/{contact}/consents",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/contacts/{contact}/consents",
            Api,
            json!({"kind": "opt_in", "method": "Formular"}),
            [401, 403, 201, 201],
        ),
        case(
            M::GET,
            "/api/outbox/ob_unknown",
            Api,
            none.clone(),
            [401, 404, 404, 404],
        ),
        case(
            M::GET,
            "/api/templates",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/templates",
            Api,
            json!({}),
            [401, 403, 403, 422],
        ),
        case(
            M::POST,
            "/api/templates/sync",
            Api,
            json!({}),
            [401, 403, 403, 200],
        ),
        // Meta itself answers that it has no such template: 502 with its error.
        case(
            M::DELETE,
            "/api/templates/unbekannt",
            Api,
            none.clone(),
            [401, 403, 403, 502],
        ),
        case(
            M::GET,
            "/api/click-to-chat?text=Hallo",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/compose/check",
            Api,
            json!({"text": "Hallo 😀"}),
            [401, 200, 200, 200],
        ),
        case(
            M::GET,
            "/api/events",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/media?filename=police.pdf",
            Api,
            none.clone(),
            [401, 403, 201, 201],
        ),
        case(
            M::GET,
            "/api/media/0000000000000000000000000000000000000000000000000000000000000000",
            Api,
            none.clone(),
            [401, 404, 404, 404],
        ),
        case(
            M::POST,
            "/api/conversations/{conv}/status",
            Api,
            json!({"status": "pending"}),
            [401, 403, 200, 200],
        ),
        case(
            M::POST,
            "/api/conversations/{conv}/assignee",
            Api,
            json!({"agent_id": "me"}),
            [401, 403, 200, 200],
        ),
        case(
            M::POST,
            "/api/conversations/{conv}/notes",
            Api,
            json!({"body": "Bitte Rückruf, @leitung"}),
            [401, 403, 201, 201],
        ),
        case(
            M::GET,
            "/api/conversations/{conv}/activity",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::GET,
            "/api/agents",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::GET,
            "/api/notifications",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/inbox/{conv}/status",
            Web,
            json!({"status": "resolved"}),
            [303, 403, 303, 303],
        ),
        case(
            M::POST,
            "/inbox/{conv}/assign",
            Web,
            json!({"assignee": "me"}),
            [303, 403, 303, 303],
        ),
        case(
            M::POST,
            "/inbox/{conv}/note",
            Web,
            json!({"body": "Intern: Kulanz prüfen"}),
            [303, 403, 303, 303],
        ),
        case(
            M::GET,
            "/notifications",
            Web,
            none.clone(),
            [303, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/messages/{msg}/sentiment",
            Api,
            json!({"sentiment": "negative"}),
            [401, 403, 200, 200],
        ),
        case(
            M::GET,
            "/api/corrections/sentiment",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/inbox/{conv}/messages/{msg}/sentiment",
            Web,
            json!({"sentiment": "positive"}),
            [303, 403, 303, 303],
        ),
        case(
            M::GET,
            "/api/canned-replies",
            Api,
            none.clone(),
            [401, 200, 200, 200],
        ),
        case(
            M::POST,
            "/api/canned-replies",
            Api,
            json!({"title": "Eingang", "body": "Guten Tag {{contact.name}}, danke!"}),
            [401, 403, 201, 201],
        ),
        // The admin wrote it: nobody else may delete it.
        case(
            M::DELETE,
            "/api/canned-replies/{canned}",
            Api,
            none.clone(),
            [401, 403, 403, 204],
        ),
        case(
            M::POST,
            "/settings/canned",
            Web,
            json!({"title": "Rückruf", "body": "Wir rufen Sie an."}),
            [303, 403, 303, 303],
        ),
        case(
            M::POST,
            "/settings/canned/{canned2}/delete",
            Web,
            json!({}),
            [303, 403, 403, 303],
        ),
        case(
            M::POST,
            "/api/agents/me/availability",
            Api,
            json!({"availability": "online"}),
            [401, 403, 200, 200],
        ),
        case(
            M::POST,
            "/availability",
            Web,
            json!({"availability": "away"}),
            [303, 403, 303, 303],
        ),
        case(M::GET, "/", Web, none.clone(), [303, 303, 303, 303]),
        case(M::GET, "/login", Web, none.clone(), [200, 200, 200, 200]),
        case(
            M::POST,
            "/login",
            Web,
            json!({"name": "y", "password": "falsch"}),
            [401, 401, 401, 401],
        ),
        case(M::GET, "/inbox", Web, none.clone(), [303, 200, 200, 200]),
        case(
            M::GET,
            "/inbox/rows",
            Web,
            none.clone(),
            [303, 200, 200, 200],
        ),
        case(
            M::GET,
            "/inbox/{conv}",
            Web,
            none.clone(),
            [303, 200, 200, 200],
        ),
        case(
            M::GET,
            "/inbox/{conv}/thread",
            Web,
            none.clone(),
            [303, 200, 200, 200],
        ),
        case(
            M::POST,
            "/inbox/{conv}/reply",
            Web,
            json!({"key": "", "text": "Vielen Dank für Ihre Nachricht."}),
            [303, 403, 303, 303],
        ),
        case(
            M::POST,
            "/inbox/{conv}/template",
            Web,
            json!({"key": "", "template": "unbekannt|de"}),
            [303, 403, 422, 422],
        ),
        case(M::GET, "/settings", Web, none.clone(), [303, 200, 200, 200]),
        case(
            M::POST,
            "/settings/language",
            Web,
            json!({"locale": "de"}),
            [303, 303, 303, 303],
        ),
        case(
            M::POST,
            "/settings/password",
            Web,
            json!({"current": "falsch", "new": "kurz"}),
            [303, 422, 422, 422],
        ),
        case(
            M::GET,
            "/admin/audit",
            Web,
            none.clone(),
            [303, 403, 403, 200],
        ),
        case(
            M::GET,
            "/files/0000000000000000000000000000000000000000000000000000000000000000",
            Web,
            none.clone(),
            [303, 404, 404, 404],
        ),
        case(
            M::GET,
            "/static/app.css",
            Web,
            none.clone(),
            [404, 404, 404, 404],
        ),
        // Logging out is checked last, below: it ends the session.
    ]
}

/// Every `.route("…")` of the server's source, so that a new route needs a line here.
fn routes_in_source() -> Vec<String> {
    let sources = [
        include_str!("../src/routes/api.rs"),
        include_str!("../src/routes/compose.rs"),
        include_str!("../src/routes/events.rs"),
        include_str!("../src/routes/uploads.rs"),
        include_str!("../src/routes/workflow.rs"),
        include_str!("../src/web/mod.rs"),
    ];
    let mut routes = Vec::new();
    for source in sources {
        let mut rest = source;
        while let Some(at) = rest.find(".route(") {
            rest = &rest[at + ".route(".len()..];
            let Some(open) = rest.find('"') else { break };
            let path = &rest[open + 1..];
            let close = path.find('"').unwrap();
            routes.push(path[..close].to_owned());
        }
    }
    routes
}

/// `/inbox/{conv}` in the table matches `/inbox/{id}` in the router.
fn same_route(table: &str, route: &str) -> bool {
    let shape = |path: &str| -> Vec<String> {
        path.split('?')
            .next()
            .unwrap()
            .split('/')
            .map(|part| {
                if part.starts_with('{') {
                    "{}".to_owned()
                } else {
                    part.to_owned()
                }
            })
            .collect()
    };
    let (table, route) = (shape(table), shape(route));
    table.len() == route.len() && table.iter().zip(&route).all(|(t, r)| t == r || r == "{}")
}

async fn call(app: &TestApp, who: &Caller, case: &Case, path: &str, with_csrf: bool) -> u16 {
    let url = format!("{}{path}", app.base);
    let mut request = app.http.request(case.method.clone(), &url);
    match case.via {
        Via::Api => {
            if let Some(token) = &who.token {
                request = request.bearer_auth(token);
            }
            if path.starts_with("/api/media?") {
                request = request.header("content-type", "application/pdf").body(
                    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
                        .to_vec(),
                );
            } else if !case.body.is_null() {
                request = request.json(&case.body);
            }
        }
        Via::Web => {
            if let Some(cookie) = &who.cookie {
                request = request.header("cookie", cookie);
            }
            if case.method == Method::POST {
                let mut fields: Vec<(String, String)> = case
                    .body
                    .as_object()
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default();
                if with_csrf {
                    fields.push(("csrf".into(), who.csrf.clone().unwrap_or_default()));
                }
                request = request
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form_body(&fields));
            }
        }
    }
    let response = request.send().await.unwrap();
    response.status().as_u16()
}

/// `a=1&b=%C3%BC` as a browser sends a form.
fn form_body(fields: &[(String, String)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_route_answers_each_role_as_its_rights_say() {
    let mut app = spawn_app().await;
    app.http = no_redirects();
    app.sim
        .deliver_inbound(InboundRequest::text(
            ANNA,
            "Guten Tag, ich habe eine Frage zu meiner Police.",
        ))
        .await
        .unwrap();
    app.store.flush().await.unwrap();
    let conversation = app.store.recent_conversations(1).await.unwrap().remove(0);
    let message = app
        .store
        .conversation_messages(&conversation.id)
        .await
        .unwrap()
        .remove(0);
    let callers = [
        caller(&app, None, "").await,
        caller(&app, Some(Role::Analyst), "auswertung").await,
        caller(&app, Some(Role::Agent), "sachbearbeitung").await,
        caller(&app, Some(Role::Admin), "leitung").await,
    ];

    let admin = app.store.agent_by_name("leitung").await.unwrap().unwrap();
    let now = SystemClock.now();
    let canned = app
        .store
        .add_canned_reply("Gruß", "Viele Grüße", &admin.id, now)
        .await
        .unwrap();
    let canned2 = app
        .store
        .add_canned_reply("Frist", "Bitte Frist beachten", &admin.id, now)
        .await
        .unwrap();
    let table = cases();
    let routes = routes_in_source();
    assert!(routes.len() > 25, "the route scan found only {routes:?}");
    let untested: Vec<String> = routes
        .into_iter()
        .filter(|route| !route.starts_with("/static") && !route.starts_with("/logout"))
        .filter(|route| !table.iter().any(|case| same_route(case.path, route)))
        .collect();
    assert!(
        untested.is_empty(),
        "routes without a line in the matrix: {untested:?}"
    );

    let mut wrong = Vec::new();
    for case in &table {
        let path = case
            .path
            .replace("{conv}", &conversation.id)
            .replace("{contact}", &conversation.contact_id)
            .replace("{msg}", &message.id)
            .replace("{canned}", &canned.to_string())
            .replace("{canned2}", &canned2.to_string());
        for (i, who) in callers.iter().enumerate() {
            let status = call(&app, who, case, &path, true).await;
            if status != case.expect[i] {
                wrong.push(format!(
                    "{} {} as {}: {status}, expected {}",
                    case.method, case.path, ROLES[i], case.expect[i]
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Logging out ends exactly that session.
    let agent = &callers[2];
    let logout = Case {
        method: Method::POST,
        path: "/logout",
        via: Via::Web,
        body: json!({}),
        expect: [303; 4],
    };
    assert_eq!(call(&app, agent, &logout, "/logout", true).await, 303);
    let inbox = case(Method::GET, "/inbox", Via::Web, Value::Null, [303; 4]);
    assert_eq!(
        call(&app, agent, &inbox, "/inbox", true).await,
        303,
        "the session is over"
    );
    assert_eq!(
        call(&app, &callers[3], &inbox, "/inbox", true).await,
        200,
        "another agent's is not"
    );
}

#[tokio::test]
async fn a_form_sent_with_the_cookie_but_without_the_sessions_token_changes_nothing() {
    let mut app = spawn_app().await;
    app.http = no_redirects();
    app.sim
        .deliver_inbound(InboundRequest::text(ANNA, "Hallo, bitte um Rückruf."))
        .await
        .unwrap();
    app.store.flush().await.unwrap();
    let conversation = app.store.recent_conversations(1).await.unwrap().remove(0);
    let admin = caller(&app, Some(Role::Admin), "leitung").await;
    let forged = [
        (
            "/inbox/{conv}/reply",
            json!({"key": "k1", "text": "Gefälschte Antwort"}),
        ),
        (
            "/inbox/{conv}/template",
            json!({"key": "k2", "template": "fristerinnerung|de"}),
        ),
        ("/settings/language", json!({"locale": "en"})),
        (
            "/settings/password",
            json!({"current": PASSWORD, "new": "Uebernommen-12345"}),
        ),
        ("/inbox/{conv}/status", json!({"status": "resolved"})),
        ("/inbox/{conv}/assign", json!({"assignee": "me"})),
        ("/inbox/{conv}/note", json!({"body": "Gefälscht"})),
        (
            "/inbox/{conv}/messages/{msg}/sentiment",
            json!({"sentiment": "positive"}),
        ),
        (
            "/settings/canned",
            json!({"title": "Gefälscht", "body": "x"}),
        ),
        ("/logout/everywhere", json!({})),
        ("/logout", json!({})),
    ];
    let message = app
        .store
        .conversation_messages(&conversation.id)
        .await
        .unwrap()
        .remove(0);
    for (path, body) in forged {
        let path = path
            .replace("{conv}", &conversation.id)
            .replace("{msg}", &message.id);
        let case = case(Method::POST, "", Via::Web, body, [403; 4]);
        // Without a token, and with one that belongs to another session.
        assert_eq!(
            call(&app, &admin, &case, &path, false).await,
            403,
            "{path} without a token"
        );
        let stranger = Caller {
            csrf: Some(csrf_token("rz_someone_else")),
            ..Caller {
                token: None,
                cookie: admin.cookie.clone(),
                csrf: None,
            }
        };
        assert_eq!(
            call(&app, &stranger, &case, &path, true).await,
            403,
            "{path} with a foreign token"
        );
    }
    app.store.flush().await.unwrap();
    assert!(
        app.store
            .unsent_outbox(&conversation.id)
            .await
            .unwrap()
            .is_empty(),
        "nothing was queued"
    );
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(app.sim.sent().is_empty(), "nothing reached Meta");
    let agent = app.store.agent_by_name("leitung").await.unwrap().unwrap();
    assert_eq!(agent.locale, "de", "the language is unchanged");
    assert!(
        app.store.canned_replies().await.unwrap().is_empty(),
        "no canned reply was added"
    );
    let still_in = case(Method::GET, "/inbox", Via::Web, Value::Null, [200; 4]);
    assert_eq!(
        call(&app, &admin, &still_in, "/inbox", true).await,
        200,
        "the session lives on"
    );
    let login = app
        .http
        .post(format!("{}/api/sessions", app.base))
        .json(&json!({"name": "leitung", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status().as_u16(), 201, "the password is unchanged");
}

#[tokio::test]
async fn logins_are_throttled_per_account_and_every_failure_is_audited() {
    let app = spawn_app().await;
    create_agent(
        &app.store,
        "sachbearbeitung",
        Role::Agent,
        Some(PASSWORD),
        SystemClock.now(),
    )
    .await
    .unwrap();
    let login = |password: &'static str| {
        app.http
            .post(format!("{}/api/sessions", app.base))
            .json(&json!({"name": "sachbearbeitung", "password": password}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(login("geraten").await.unwrap().status().as_u16(), 401);
    }
    let throttled = login(PASSWORD).await.unwrap();
    assert_eq!(
        throttled.status().as_u16(),
        429,
        "even the right password waits"
    );
    assert!(throttled.headers().contains_key("retry-after"));
    let problem: Value = throttled.json().await.unwrap();
    assert!(
        problem["title_de"].as_str().unwrap().contains("Zu viele"),
        "{problem}"
    );

    let audit = app.store.audit_entries(None, 100).await.unwrap();
    let failed = audit.iter().filter(|e| e.action == "login_failed").count();
    assert_eq!(failed, 5, "{audit:?}");
    assert!(audit.iter().any(|e| e.action == "login_throttled"));
    assert!(
        audit.iter().all(|e| !e.detail.contains("geraten")),
        "no password reaches the audit log"
    );
}
