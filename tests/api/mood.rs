//! The daily mood record (SPEC §5 limits, §7): what a patient may log, one
//! entry per day in their own time zone, editing, and history.

use healing_space::types::local_date;
use serde_json::{Value, json};

use crate::support::*;

/// Unix seconds of a wall-clock time in time zone `tz`.
fn local_unix(tz: &str, (y, mo, d): (i16, i8, i8), (h, mi, s): (i8, i8, i8)) -> i64 {
    let zone = jiff::tz::TimeZone::get(tz).unwrap();
    jiff::civil::date(y, mo, d)
        .at(h, mi, s, 0)
        .to_zoned(zone)
        .unwrap()
        .timestamp()
        .as_second()
}

/// POSTs `body`, expects it stored, then removes it so the next case starts
/// on an empty day. Returns the created entry.
async fn accepted(app: &TestApp, c: &Client, body: Value) -> Value {
    let r = c.post("/api/mood", body.clone()).await;
    assert_eq!(r.status, 201, "{body} should be accepted: {}", r.text);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
    app.exec("DELETE FROM mood_entries").await;
    r.body
}

/// POSTs `body`, expects 400 `code` naming `field`, and no row stored.
async fn refused_as(app: &TestApp, c: &Client, body: Value, code: &str, field: &str) {
    let r = c.post("/api/mood", body.clone()).await;
    assert_eq!(r.status, 400, "{body} should be refused: {}", r.text);
    r.assert_error(400, code);
    assert_eq!(r.body["field"], field, "{body}: {}", r.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM mood_entries").await,
        0,
        "{body} must not be stored"
    );
}

async fn refused(app: &TestApp, c: &Client, body: Value, field: &str) {
    refused_as(app, c, body, "invalid_field", field).await;
}

/// Every column of one entry, as text, to prove a refused edit changed
/// nothing.
async fn row_snapshot(app: &TestApp, id: i64) -> String {
    app.text(&format!(
        "SELECT entry_date || '|' || CAST(mood AS TEXT) || '|' \
         || COALESCE(CAST(sleep_quality AS TEXT), '-') || '|' \
         || COALESCE(CAST(sleep_tenths AS TEXT), '-') || '|' \
         || COALESCE(CAST(anxiety AS TEXT), '-') || '|' \
         || COALESCE(CAST(exercise_minutes AS TEXT), '-') || '|' \
         || COALESCE(CAST(outdoor_minutes AS TEXT), '-') || '|' \
         || medication || '|' || CAST(updated_at AS TEXT) || '|' || COALESCE(note, '-') \
         FROM mood_entries WHERE id = {id}"
    ))
    .await
    .expect("the entry exists")
}

#[tokio::test]
async fn mood_must_be_an_integer_from_1_to_10() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    for mood in [1, 10] {
        let entry = accepted(&app, &alice, json!({ "mood": mood })).await;
        assert_eq!(entry["mood"], mood);
        // Only `mood` was answered: the rest is missing, never zero.
        assert_eq!(entry["sleep_quality"], Value::Null);
        assert_eq!(entry["sleep_hours"], Value::Null);
        assert_eq!(entry["anxiety"], Value::Null);
        assert_eq!(entry["medication"], json!([]));
        assert_eq!(entry["note"], Value::Null);
    }
    for bad in [
        json!(0),
        json!(11),
        json!(-1),
        json!(5.5),
        json!(5.0),
        json!("5"),
        json!(true),
        json!(null),
        json!([5]),
        json!(9_223_372_036_854_775_807_i64),
    ] {
        refused(&app, &alice, json!({ "mood": bad }), "mood").await;
    }
    refused_as(
        &app,
        &alice,
        json!({ "note": "no mood" }),
        "missing_field",
        "mood",
    )
    .await;
    refused_as(&app, &alice, json!({}), "missing_field", "mood").await;
}

#[tokio::test]
async fn scored_and_minute_fields_accept_their_edges_and_refuse_beyond() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let fields: [(&str, i64, i64); 4] = [
        ("sleep_quality", 0, 10),
        ("anxiety", 0, 10),
        ("exercise_minutes", 0, 1440),
        ("outdoor_minutes", 0, 1440),
    ];
    for (field, min, max) in fields {
        for value in [min, max] {
            let entry = accepted(&app, &alice, json!({ "mood": 5, field: value })).await;
            assert_eq!(entry[field], value, "{field}");
        }
        // An explicit null is a missing answer, stored as NULL.
        let entry = accepted(&app, &alice, json!({ "mood": 5, field: null })).await;
        assert_eq!(entry[field], Value::Null, "{field}");
        for bad in [
            json!(min - 1),
            json!(max + 1),
            json!(1.5),
            json!("1"),
            json!(true),
        ] {
            refused(&app, &alice, json!({ "mood": 5, field: bad }), field).await;
        }
    }
}

#[tokio::test]
async fn sleep_hours_run_from_0_to_24_with_one_decimal() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    for (hours, tenths) in [
        (json!(0), 0),
        (json!(0.0), 0),
        (json!(24), 240),
        (json!(7.5), 75),
        (json!(0.1), 1),
        (json!(23.9), 239),
    ] {
        let r = alice
            .post("/api/mood", json!({ "mood": 5, "sleep_hours": hours }))
            .await;
        assert_eq!(r.status, 201, "{hours}: {}", r.text);
        assert_eq!(
            app.scalar("SELECT sleep_tenths FROM mood_entries").await,
            tenths,
            "{hours} is kept in tenths"
        );
        assert_eq!(r.body["sleep_hours"].as_f64(), Some(tenths as f64 / 10.0));
        app.exec("DELETE FROM mood_entries").await;
    }
    for bad in [
        json!(-0.1),
        json!(24.1),
        json!(25),
        json!(7.25),
        json!(7.55),
        json!("7"),
        json!(true),
        json!(1e300),
    ] {
        refused(
            &app,
            &alice,
            json!({ "mood": 5, "sleep_hours": bad }),
            "sleep_hours",
        )
        .await;
    }
}

#[tokio::test]
async fn note_is_1_to_2000_characters_without_control_characters() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    // Characters are counted, not bytes: 2,000 emoji are 8,000 bytes.
    for note in [
        "a".repeat(2000),
        "é".repeat(2000),
        "😀".repeat(2000),
        "line one\nline two\tand a tab".to_owned(),
        "<b>not html</b> & \"quoted\"".to_owned(),
        "x".to_owned(),
    ] {
        let entry = accepted(&app, &alice, json!({ "mood": 5, "note": note })).await;
        assert_eq!(entry["note"], note, "text is stored exactly as given");
    }
    for note in [
        "a".repeat(2001),
        "é".repeat(2001),
        "😀".repeat(2001),
        String::new(),
        "   ".to_owned(),
        " \n\t ".to_owned(),
        "bell\u{0007}".to_owned(),
        "\u{001b}[31mred".to_owned(),
        "nul\u{0000}byte".to_owned(),
        "delete\u{007f}".to_owned(),
        "carriage\rreturn".to_owned(),
    ] {
        refused(&app, &alice, json!({ "mood": 5, "note": note }), "note").await;
    }
    refused(&app, &alice, json!({ "mood": 5, "note": 42 }), "note").await;
}

#[tokio::test]
async fn medication_is_a_list_of_up_to_20_names() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let entry = accepted(
        &app,
        &alice,
        json!({ "mood": 5, "medication": ["sertraline", "vitamin D"] }),
    )
    .await;
    assert_eq!(entry["medication"], json!(["sertraline", "vitamin D"]));

    let twenty: Vec<String> = (1..=20).map(|i| format!("med {i}")).collect();
    let r = alice
        .post("/api/mood", json!({ "mood": 5, "medication": twenty }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["medication"], json!(twenty));
    assert_eq!(
        app.plain(
            "alice",
            "mood.medication",
            "SELECT medication FROM mood_entries"
        )
        .await,
        Some(serde_json::to_string(&twenty).unwrap())
    );
    app.exec("DELETE FROM mood_entries").await;

    let entry = accepted(&app, &alice, json!({ "mood": 5, "medication": [] })).await;
    assert_eq!(entry["medication"], json!([]));
    let entry = accepted(
        &app,
        &alice,
        json!({ "mood": 5, "medication": ["m".repeat(100)] }),
    )
    .await;
    assert_eq!(entry["medication"][0], "m".repeat(100));

    let twenty_one: Vec<String> = (1..=21).map(|i| format!("med {i}")).collect();
    refused(
        &app,
        &alice,
        json!({ "mood": 5, "medication": twenty_one }),
        "medication",
    )
    .await;
    refused(
        &app,
        &alice,
        json!({ "mood": 5, "medication": "sertraline" }),
        "medication",
    )
    .await;
    // A bad item is named by its position in the list.
    for (list, field) in [
        (json!(["sertraline", ""]), "medication[1]"),
        (json!(["  "]), "medication[0]"),
        (json!(["m".repeat(101)]), "medication[0]"),
        (json!(["ok", 3]), "medication[1]"),
        (json!(["bell\u{0007}"]), "medication[0]"),
    ] {
        refused(
            &app,
            &alice,
            json!({ "mood": 5, "medication": list }),
            field,
        )
        .await;
    }
}

#[tokio::test]
async fn a_client_cannot_set_fields_the_route_does_not_take() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let bob_id = app.user_id("bob").await;
    for field in ["patient_id", "entry_date", "date", "id", "created_at"] {
        let value = if field.ends_with("date") {
            json!("2020-01-01")
        } else {
            json!(bob_id)
        };
        refused_as(
            &app,
            &alice,
            json!({ "mood": 5, field: value }),
            "unknown_field",
            field,
        )
        .await;
    }
    assert_eq!(bob.get("/api/mood/today").await.body["entry"], Value::Null);
}

#[tokio::test]
async fn one_entry_per_day_then_put_edits_it() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let today = local_date(app.clock().now(), "UTC").to_string();

    let r = alice.get("/api/mood/today").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "date": today, "entry": null }));

    let r = alice
        .post(
            "/api/mood",
            json!({ "mood": 6, "sleep_hours": 7.5, "note": "slept well" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["date"], today);
    assert_eq!(r.body["mood"], 6);
    let created = row_snapshot(&app, id).await;

    let r = alice.post("/api/mood", json!({ "mood": 2 })).await;
    r.assert_error(409, "already_logged_today");
    assert_eq!(r.body["entry_id"], id);
    assert_eq!(r.body["date"], today);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
    assert_eq!(row_snapshot(&app, id).await, created);

    let r = alice.get("/api/mood/today").await;
    assert_eq!(r.body["date"], today);
    assert_eq!(r.body["entry"]["id"], id);
    assert_eq!(r.body["entry"]["mood"], 6);

    app.clock().advance(120);
    let r = alice
        .put(
            &format!("/api/mood/{id}"),
            json!({
                "mood": 8,
                "sleep_quality": 7,
                "sleep_hours": 6.5,
                "anxiety": 3,
                "exercise_minutes": 30,
                "outdoor_minutes": 45,
                "medication": ["sertraline"],
                "note": "better after a walk",
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["date"], today);
    assert_eq!(r.body["mood"], 8);
    assert_eq!(r.body["sleep_quality"], 7);
    assert_eq!(r.body["sleep_hours"], 6.5);
    assert_eq!(r.body["anxiety"], 3);
    assert_eq!(r.body["exercise_minutes"], 30);
    assert_eq!(r.body["outdoor_minutes"], 45);
    assert_eq!(r.body["medication"], json!(["sertraline"]));
    assert_eq!(r.body["note"], "better after a walk");
    assert_ne!(r.body["updated_at"], r.body["created_at"]);
    let edited = row_snapshot(&app, id).await;
    let updated_at = app
        .scalar(&format!(
            "SELECT updated_at FROM mood_entries WHERE id = {id}"
        ))
        .await;
    let created_at = app
        .scalar(&format!(
            "SELECT created_at FROM mood_entries WHERE id = {id}"
        ))
        .await;
    // The clock moved on 120 s; real time may add a little.
    assert!((120..=130).contains(&(updated_at - created_at)));
    // Medication and note are encrypted at rest: compare them decrypted.
    assert!(
        edited.starts_with(&format!("{today}|8|7|65|3|30|45|enc:v1:")),
        "{edited}"
    );
    assert_eq!(
        app.plain(
            "alice",
            "mood.medication",
            &format!("SELECT medication FROM mood_entries WHERE id = {id}")
        )
        .await
        .as_deref(),
        Some("[\"sertraline\"]")
    );
    assert_eq!(
        app.plain(
            "alice",
            "mood.note",
            &format!("SELECT note FROM mood_entries WHERE id = {id}")
        )
        .await
        .as_deref(),
        Some("better after a walk")
    );
    assert!(
        edited.contains(&format!("|{updated_at}|enc:v1:")),
        "{edited}"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);

    app.clock().advance(120);
    let too_many: Vec<String> = (0..21).map(|i| format!("m{i}")).collect();
    for (body, code, field) in [
        (json!({ "mood": 11 }), "invalid_field", "mood"),
        (
            json!({ "mood": 5, "sleep_hours": 24.1 }),
            "invalid_field",
            "sleep_hours",
        ),
        (
            json!({ "mood": 5, "anxiety": -1 }),
            "invalid_field",
            "anxiety",
        ),
        (json!({ "mood": 5, "note": "" }), "invalid_field", "note"),
        (
            json!({ "mood": 5, "note": "a\u{001b}b" }),
            "invalid_field",
            "note",
        ),
        (
            json!({ "mood": 5, "medication": too_many }),
            "invalid_field",
            "medication",
        ),
        (json!({ "sleep_hours": 8 }), "missing_field", "mood"),
        (
            json!({ "mood": 5, "date": "2020-01-01" }),
            "unknown_field",
            "date",
        ),
    ] {
        let r = alice.put(&format!("/api/mood/{id}"), body.clone()).await;
        r.assert_error(400, code);
        assert_eq!(r.body["field"], field, "{body}");
        assert_eq!(
            row_snapshot(&app, id).await,
            edited,
            "{body} changed the row"
        );
    }

    let r = alice
        .put(&format!("/api/mood/{}", id + 1000), json!({ "mood": 5 }))
        .await;
    r.assert_error(404, "not_found");
    assert_eq!(row_snapshot(&app, id).await, edited);
}

/// Sets the clock, then registers the patient, so that the session starts
/// at the moment the test is about.
async fn patient_at(app: &TestApp, name: &str, tz: &str, unix: i64) -> Client {
    app.clock().set(unix);
    app.patient_in(name, tz).await
}

#[tokio::test]
async fn new_york_local_midnight_starts_a_new_day_while_the_utc_date_stays() {
    let app = TestApp::new().await;
    let ny = "America/New_York";
    // 23:59:30 on 15 June in New York (EDT, UTC-4) is 03:59:30 on 16 June UTC.
    let before = local_unix(ny, (2026, 6, 15), (23, 59, 30));
    assert_eq!(local_date(before, ny).to_string(), "2026-06-15");
    assert_eq!(local_date(before, "UTC").to_string(), "2026-06-16");
    assert_eq!(
        local_date(before + 60, "UTC"),
        local_date(before, "UTC"),
        "a minute later is still the same UTC date"
    );

    let nyc = patient_at(&app, "nyc", ny, before).await;
    let r = nyc.get("/api/mood/today").await;
    assert_eq!(r.body, json!({ "date": "2026-06-15", "entry": null }));
    let r = nyc.post("/api/mood", json!({ "mood": 4 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-06-15");

    app.clock().advance(60);
    assert_eq!(local_date(app.clock().now(), ny).to_string(), "2026-06-16");
    let r = nyc.get("/api/mood/today").await;
    assert_eq!(r.body, json!({ "date": "2026-06-16", "entry": null }));
    let r = nyc.post("/api/mood", json!({ "mood": 7 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-06-16");
    assert_eq!(
        app.text("SELECT MIN(entry_date) || ',' || MAX(entry_date) FROM mood_entries")
            .await
            .as_deref(),
        Some("2026-06-15,2026-06-16")
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 2);
}

#[tokio::test]
async fn new_york_utc_midnight_before_local_midnight_is_still_the_same_day() {
    let app = TestApp::new().await;
    let ny = "America/New_York";
    // 19:59:30 in New York is 23:59:30 UTC; a minute later UTC is on the
    // next date, New York is not.
    let before = local_unix(ny, (2026, 6, 15), (19, 59, 30));
    assert_eq!(local_date(before, "UTC").to_string(), "2026-06-15");
    assert_eq!(local_date(before + 60, "UTC").to_string(), "2026-06-16");
    assert_eq!(local_date(before + 60, ny).to_string(), "2026-06-15");

    let nyc = patient_at(&app, "nyc", ny, before).await;
    let r = nyc.post("/api/mood", json!({ "mood": 4 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-06-15");
    let id = r.body["id"].as_i64().unwrap();

    app.clock().advance(60);
    let r = nyc.post("/api/mood", json!({ "mood": 9 })).await;
    r.assert_error(409, "already_logged_today");
    assert_eq!(r.body["date"], "2026-06-15");
    assert_eq!(r.body["entry_id"], id);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
    assert_eq!(app.scalar("SELECT mood FROM mood_entries").await, 4);
    let r = nyc.get("/api/mood/today").await;
    assert_eq!(r.body["date"], "2026-06-15");
    assert_eq!(r.body["entry"]["id"], id);
}

#[tokio::test]
async fn tokyo_local_midnight_starts_a_new_day_before_utc_midnight() {
    let app = TestApp::new().await;
    let tokyo = "Asia/Tokyo";
    // 23:59:30 on 15 June in Tokyo (UTC+9) is 14:59:30 UTC the same date;
    // a minute later Tokyo is on the 16th and UTC still on the 15th.
    let before = local_unix(tokyo, (2026, 6, 15), (23, 59, 30));
    assert_eq!(local_date(before, "UTC").to_string(), "2026-06-15");
    assert_eq!(local_date(before + 60, "UTC").to_string(), "2026-06-15");

    let kenji = patient_at(&app, "kenji", tokyo, before).await;
    let r = kenji.post("/api/mood", json!({ "mood": 3 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-06-15");

    app.clock().advance(60);
    let r = kenji.post("/api/mood", json!({ "mood": 6 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-06-16");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 2);
}

#[tokio::test]
async fn tokyo_utc_midnight_is_not_a_new_day() {
    let app = TestApp::new().await;
    let tokyo = "Asia/Tokyo";
    // 08:59:30 on 17 June in Tokyo is 23:59:30 on 16 June UTC: the patient's
    // day is already the 17th, and stays so after UTC midnight.
    let before = local_unix(tokyo, (2026, 6, 17), (8, 59, 30));
    assert_eq!(local_date(before, "UTC").to_string(), "2026-06-16");
    assert_eq!(local_date(before + 60, "UTC").to_string(), "2026-06-17");

    let kenji = patient_at(&app, "kenji", tokyo, before).await;
    let r = kenji.post("/api/mood", json!({ "mood": 3 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-06-17");
    let id = r.body["id"].as_i64().unwrap();

    app.clock().advance(60);
    let r = kenji.post("/api/mood", json!({ "mood": 6 })).await;
    r.assert_error(409, "already_logged_today");
    assert_eq!(r.body["date"], "2026-06-17");
    assert_eq!(r.body["entry_id"], id);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
}

#[tokio::test]
async fn local_midnight_starts_a_new_day_in_every_kind_of_zone() {
    // (zone, local date of the first entry, local date after midnight)
    let cases = [
        ("UTC", (2026, 6, 15), "2026-06-16"),
        // New Year in Auckland (NZDT, UTC+13) while UTC is still on 31 Dec.
        ("Pacific/Auckland", (2026, 12, 31), "2027-01-01"),
        // Quarter-hour offset (UTC+5:45).
        ("Asia/Kathmandu", (2026, 6, 15), "2026-06-16"),
        // Far west of UTC (UTC-11).
        ("Pacific/Pago_Pago", (2026, 6, 15), "2026-06-16"),
        // The day clocks spring forward is 23 hours long.
        ("America/New_York", (2026, 3, 8), "2026-03-09"),
        // 29 February in a leap year.
        ("Europe/London", (2028, 2, 28), "2028-02-29"),
    ];
    for (tz, date, next) in cases {
        let app = TestApp::new().await;
        let before = local_unix(tz, date, (23, 59, 30));
        let first = format!("{:04}-{:02}-{:02}", date.0, date.1, date.2);
        assert_eq!(local_date(before, tz).to_string(), first, "{tz}");
        let p = patient_at(&app, "zoe", tz, before).await;
        let r = p.post("/api/mood", json!({ "mood": 5 })).await;
        assert_eq!(r.status, 201, "{tz}: {}", r.text);
        assert_eq!(r.body["date"], first, "{tz}");
        let r = p.post("/api/mood", json!({ "mood": 5 })).await;
        r.assert_error(409, "already_logged_today");

        app.clock().advance(60);
        let r = p.get("/api/mood/today").await;
        assert_eq!(r.body, json!({ "date": next, "entry": null }), "{tz}");
        let r = p.post("/api/mood", json!({ "mood": 6 })).await;
        assert_eq!(r.status, 201, "{tz}: {}", r.text);
        assert_eq!(r.body["date"], next, "{tz}");
    }
}

/// Logs `mood` on the UTC day of `unix`. A day passes between entries and
/// sessions idle out after two hours, so the patient logs in again first.
async fn log_on(app: &TestApp, c: &mut Client, unix: i64, mood: i64) {
    app.clock().set(unix);
    let name = c.username.clone();
    let r = c.login_pin(&name, PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "login: {}", r.text);
    let r = c.post("/api/mood", json!({ "mood": mood })).await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn history_filters_by_inclusive_dates_and_refuses_bad_ranges() {
    let app = TestApp::new().await;
    let noon = |d: i8| local_unix("UTC", (2026, 6, d), (12, 0, 0));
    app.clock().set(noon(1));
    let mut alice = app.patient("alice").await;
    // Entries on the 1st, 2nd, 3rd and 5th; nothing on the 4th.
    for (day, mood) in [(1, 1), (2, 2), (3, 3), (5, 5)] {
        log_on(&app, &mut alice, noon(day), mood).await;
    }
    // Another patient's entries never show up in alice's history.
    let bob = app.patient("bob").await;
    assert_eq!(
        bob.post("/api/mood", json!({ "mood": 9 })).await.status,
        201
    );

    let dates = |body: &Value| -> Vec<String> {
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["date"].as_str().unwrap().to_owned())
            .collect()
    };

    let r = alice.get("/api/mood?from=2026-06-02&to=2026-06-05").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["patient"], "alice");
    assert_eq!(r.body["from"], "2026-06-02");
    assert_eq!(r.body["to"], "2026-06-05");
    assert_eq!(dates(&r.body), ["2026-06-02", "2026-06-03", "2026-06-05"]);
    assert_eq!(r.body["entries"][0]["mood"], 2);

    let r = alice.get("/api/mood?from=2026-06-03&to=2026-06-03").await;
    assert_eq!(dates(&r.body), ["2026-06-03"]);
    let r = alice.get("/api/mood?from=2026-06-04&to=2026-06-04").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["entries"], json!([]));
    let r = alice.get("/api/mood?to=2026-06-02").await;
    assert_eq!(dates(&r.body), ["2026-06-01", "2026-06-02"]);

    // Without parameters: the 30 days ending today.
    let r = alice.get("/api/mood").await;
    assert_eq!(r.body["from"], "2026-05-07");
    assert_eq!(r.body["to"], "2026-06-05");
    assert_eq!(
        dates(&r.body),
        ["2026-06-01", "2026-06-02", "2026-06-03", "2026-06-05"]
    );

    // 366 days inclusive is the longest span.
    let r = alice.get("/api/mood?from=2025-06-05&to=2026-06-05").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(dates(&r.body).len(), 4);
    let r = alice.get("/api/mood?from=2025-06-04&to=2026-06-05").await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "from");
    let r = alice.get("/api/mood?from=1900-01-01&to=2026-06-05").await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "from");

    let r = alice.get("/api/mood?from=2026-06-05&to=2026-06-04").await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "from");
    // A `from` after today, with `to` defaulting to today.
    let r = alice.get("/api/mood?from=2026-06-06").await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "from");

    for query in [
        "from=2026-6-01",
        "from=2026-02-30",
        "to=yesterday",
        "from=2026-06-01T00:00:00Z",
        "from=06/01/2026",
        "to=",
        "from=2026-06-01&patient=bob",
    ] {
        let r = alice.get(&format!("/api/mood?{query}")).await;
        r.assert_error(400, "invalid_query");
        assert_eq!(r.body["entries"], Value::Null, "{query}");
    }
}
