//! The browser pages over real HTTP: every main page per role is HTML
//! under the same CSP, forms carry the CSRF token as a field, stored text
//! is escaped, and an ended session leads back to the login page.

use reqwest::Method;

use crate::support::{Client, PASSWORD, PIN, Resp, TestApp};

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// A form post as a browser sends it: no `X-CSRF-Token` header.
async fn form(c: &Client, path: &str, fields: &[(&str, &str)]) -> Resp {
    let rb = c
        .http
        .request(Method::POST, c.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(fields).unwrap());
    c.send(rb).await
}

async fn page(c: &Client, path: &str) -> Resp {
    c.send(c.http.get(c.url(path))).await
}

/// The HTML rules every page keeps: the type, the unchanged CSP, and no
/// inline script or `style` attribute that the CSP would block.
fn assert_html_page(r: &Resp, path: &str) {
    assert_eq!(r.status, 200, "{path}: {}", r.text);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{path}: content type {:?}",
        r.header("content-type")
    );
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{path}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{path}");
    assert!(!r.text.contains("style="), "{path} has a style attribute");
    assert!(!r.text.contains("<style"), "{path} has a style element");
    for (i, _) in r.text.match_indices("<script") {
        let tag_end = r.text[i..].find('>').unwrap() + i;
        assert!(
            r.text[i..tag_end].contains(" src="),
            "{path} has an inline script"
        );
    }
    assert!(r.text.contains(r#"href="/crisis""#), "{path}: crisis link");
    // Without it, `Referrer-Policy: no-referrer` makes browsers post forms
    // with `Origin: null`, which the CSRF check refuses.
    assert!(
        r.text
            .contains(r#"<meta name="referrer" content="same-origin">"#),
        "{path}: referrer meta"
    );
}

fn csrf_of(c: &Client) -> String {
    c.csrf.clone().expect("logged in")
}

#[tokio::test]
async fn patient_pages_are_html_under_the_csp() {
    let app = TestApp::new().await;
    let p = app.patient("pia").await;
    for path in [
        "/home",
        "/mood",
        "/mood?days=7",
        "/mood?days=90",
        "/assessments",
        "/assessments/phq9",
        "/assessments/gad7",
        "/journal",
        "/gratitude",
        "/thoughts",
        "/safety-plan",
        "/companion",
        "/care-team",
        "/notifications",
        "/access-log",
        "/account",
        "/crisis",
        "/totp",
    ] {
        assert_html_page(&page(&p, path).await, path);
    }
    let anon = app.client();
    for path in ["/login", "/register", "/crisis", "/login?expired=1"] {
        assert_html_page(&page(&anon, path).await, path);
    }
}

#[tokio::test]
async fn clinician_and_developer_pages_are_html_under_the_csp() {
    let app = TestApp::new().await;
    let doc = app.clinician("drwho").await;
    let p = app.patient("pat").await;
    app.link(&p, &doc).await;
    for path in [
        "/clinician",
        "/clinician/alerts",
        "/clinician/patients/pat",
        "/notifications",
        "/totp",
    ] {
        assert_html_page(&page(&doc, path).await, path);
    }
    let dev = app.developer("devon").await;
    for path in ["/developer", "/developer/users", "/developer/audit"] {
        assert_html_page(&page(&dev, path).await, path);
    }
    // Roles keep to their own pages.
    let r = page(&p, "/clinician").await;
    assert_eq!(r.status, 403);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(page(&doc, "/home").await.status, 403);
}

#[tokio::test]
async fn static_files_may_be_cached_and_pages_may_not() {
    let app = TestApp::new().await;
    let anon = app.client();
    let css = page(&anon, "/static/app.css").await;
    assert_eq!(css.status, 200);
    assert!(css.header("content-type").unwrap().starts_with("text/css"));
    assert_eq!(css.header("cache-control"), Some("public, max-age=86400"));
    assert_eq!(css.header("content-security-policy"), Some(CSP));
    let js = page(&anon, "/static/chat.js").await;
    assert!(
        js.header("content-type")
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(js.text.contains("X-CSRF-Token"));
}

#[tokio::test]
async fn login_form_starts_a_session_and_lands_on_the_home_page() {
    let app = TestApp::new().await;
    app.patient("lena").await;
    let c = app.client();
    let bad = form(
        &c,
        "/login",
        &[("username", "lena"), ("password", "wrong"), ("pin", PIN)],
    )
    .await;
    assert_eq!(bad.status, 401);
    assert!(bad.text.contains("did not match"));
    assert!(bad.header("content-type").unwrap().starts_with("text/html"));

    let ok = form(
        &c,
        "/login",
        &[
            ("username", "lena"),
            ("password", PASSWORD),
            ("pin", PIN),
            ("totp_code", ""),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.header("location"), Some("/home"));
    assert!(ok.header("set-cookie").unwrap().starts_with("hs_session="));
    let home = page(&c, "/home").await;
    assert_html_page(&home, "/home");
    assert!(home.text.contains("How are you today?"));
}

#[tokio::test]
async fn registration_form_shows_the_error_next_to_its_field() {
    let app = TestApp::new().await;
    let c = app.client();
    let r = form(
        &c,
        "/register",
        &[
            ("username", "x"),
            ("display_name", "Ex"),
            ("email", "x@example.org"),
            ("password", PASSWORD),
            ("pin", PIN),
        ],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"id="username-err""#), "{}", r.text);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 0);
    assert!(r.text.contains("116 123"), "the crisis numbers are shown");
    let ok = form(
        &c,
        "/register",
        &[
            ("username", "xena"),
            ("display_name", "Xena"),
            ("email", "x@example.org"),
            ("password", PASSWORD),
            ("pin", PIN),
            ("time_zone", ""),
            ("clinician", ""),
        ],
    )
    .await;
    assert_eq!(ok.status, 303, "{}", ok.text);
    assert_eq!(ok.header("location"), Some("/home"));
}

#[tokio::test]
async fn mood_form_needs_the_csrf_field_and_then_saves() {
    let app = TestApp::new().await;
    let p = app.patient("molly").await;
    let fields = [
        ("mood", "7"),
        ("sleep_hours", "7.5"),
        ("note", "a calm day"),
    ];
    let refused = form(&p, "/home/mood", &fields).await;
    assert_eq!(refused.status, 403);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 0);

    let token = csrf_of(&p);
    let mut with_token = fields.to_vec();
    with_token.push(("csrf_token", &token));
    let saved = form(&p, "/home/mood", &with_token).await;
    assert_eq!(saved.status, 303, "{}", saved.text);
    assert_eq!(saved.header("location"), Some("/home?notice=saved"));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);

    let home = page(&p, "/home").await;
    assert!(home.text.contains("Edit today's entry"));
    assert!(home.text.contains("a calm day"));
    let chart = page(&p, "/mood?days=7").await;
    assert!(chart.text.contains("<svg"));
    assert!(chart.text.contains("Mood on "));

    // An invalid value comes back next to its field, from the API's check.
    let entry_id = app.scalar("SELECT id FROM mood_entries").await.to_string();
    let bad = form(
        &p,
        "/home/mood",
        &[
            ("mood", "11"),
            ("entry_id", &entry_id),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(bad.status, 400);
    assert!(bad.text.contains(r#"id="mood-err""#), "{}", bad.text);
    // The refused edit changed nothing.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
    assert_eq!(
        app.scalar(&format!(
            "SELECT mood FROM mood_entries WHERE id = {entry_id}"
        ))
        .await,
        7
    );
}

#[tokio::test]
async fn phq9_item_nine_shows_the_crisis_panel() {
    let app = TestApp::new().await;
    let p = app.patient("quinn").await;
    let token = csrf_of(&p);
    let mut fields: Vec<(String, String)> = (0..9)
        .map(|i| (format!("q{i}"), if i == 8 { "2" } else { "1" }.to_owned()))
        .collect();
    fields.push(("csrf_token".into(), token.clone()));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = form(&p, "/assessments/phq9", &pairs).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains(r#"class="crisis""#));
    assert!(r.text.contains("Your score: 10"));
    assert!(r.text.contains("Moderate"));
    // A form missing items still raises the alert and shows the panel.
    let q = app.patient("rory").await;
    let token = csrf_of(&q);
    let r = form(
        &q,
        "/assessments/phq9",
        &[("q8", "3"), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains(r#"class="crisis""#));
    assert!(r.text.contains(r#"id="q0-err""#));
    let rory = app.user_id("rory").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM alerts WHERE patient_id = {rory} AND source = 'phq9_item9'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM assessments WHERE patient_id = {rory}"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn a_stored_note_is_shown_as_text() {
    let app = TestApp::new().await;
    let doc = app.clinician("drno").await;
    let p = app.patient("paula").await;
    app.link(&p, &doc).await;
    let evil = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let token = csrf_of(&doc);
    let r = form(
        &doc,
        "/clinician/patients/paula/notes",
        &[("body", evil), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let view = page(&doc, "/clinician/patients/paula").await;
    assert_html_page(&view, "/clinician/patients/paula");
    assert!(!view.text.contains("<img src=x"));
    assert!(!view.text.contains("<script>alert"));
    // askama writes `<` and `>` as numeric character references.
    assert!(
        view.text
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
    );
    assert!(view.text.contains("&#60;img src=x onerror=alert(2)&#62;"));
}

#[tokio::test]
async fn an_alert_tops_the_caseload_and_is_acknowledged_and_resolved() {
    let app = TestApp::new().await;
    let doc = app.clinician("drcare").await;
    let calm = app.patient("calm").await;
    let risky = app.patient("risky").await;
    app.link(&calm, &doc).await;
    app.link(&risky, &doc).await;
    let token = csrf_of(&risky);
    let mut fields: Vec<(String, String)> =
        (0..9).map(|i| (format!("q{i}"), "1".to_owned())).collect();
    fields.push(("csrf_token".into(), token));
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(form(&risky, "/assessments/phq9", &pairs).await.status, 200);

    let caseload = page(&doc, "/clinician").await;
    let first = caseload.text.find("/clinician/patients/risky").unwrap();
    let second = caseload.text.find("/clinician/patients/calm").unwrap();
    assert!(first < second, "the patient with an alert comes first");
    assert!(caseload.text.contains("High"));

    let id = app.scalar("SELECT id FROM alerts").await;
    let token = csrf_of(&doc);
    let r = form(
        &doc,
        &format!("/clinician/alerts/{id}/acknowledge"),
        &[("csrf_token", &token)],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let empty = form(
        &doc,
        &format!("/clinician/alerts/{id}/resolve"),
        &[("outcome_note", ""), ("csrf_token", &token)],
    )
    .await;
    assert_eq!(empty.status, 400);
    assert!(empty.text.contains(&format!(r#"id="outcome-{id}-err""#)));
    let r = form(
        &doc,
        &format!("/clinician/alerts/{id}/resolve"),
        &[
            ("outcome_note", "Called; safe with family."),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(
        app.text("SELECT status FROM alerts").await.as_deref(),
        Some("resolved")
    );
}

#[tokio::test]
async fn an_expired_session_leads_to_the_login_page() {
    let app = TestApp::new().await;
    let p = app.patient("sleepy").await;
    app.clock().advance(24 * 3600);
    let r = page(&p, "/home").await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/login?expired=1"));
    let login = page(&p, "/login?expired=1").await;
    assert_html_page(&login, "/login");
    assert!(login.text.contains("Your session has ended"));
    // Without any session, just the login page.
    let r = page(&app.client(), "/mood").await;
    assert_eq!(r.header("location"), Some("/login"));
}

#[tokio::test]
async fn unknown_pages_are_html_and_unknown_api_paths_stay_json() {
    let app = TestApp::new().await;
    let c = app.client();
    let r = c
        .send(
            c.http
                .get(c.url("/no-such-page"))
                .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
        )
        .await;
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    assert_eq!(r.header("content-security-policy"), Some(CSP));
    let r = page(&c, "/api/no-such-thing").await;
    r.assert_error(404, "not_found");
    // Clients that do not ask for HTML keep the JSON shape everywhere.
    page(&c, "/no-such-page")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn companion_works_without_script() {
    let app = TestApp::new().await;
    let p = app.patient("chatty").await;
    let token = csrf_of(&p);
    let r = form(
        &p,
        "/companion",
        &[
            ("message", "I had a rough day at work"),
            ("csrf_token", &token),
        ],
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.text);
    let to = r.header("location").unwrap().to_owned();
    let view = page(&p, &to).await;
    assert_html_page(&view, &to);
    assert!(view.text.contains("I had a rough day at work"));
    assert!(view.text.contains("Companion:"));
}
