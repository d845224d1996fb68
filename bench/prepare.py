#!/usr/bin/env python3
"""Prepares the benchmark account on a running server at 127.0.0.1.

Registers a patient over the API, writes 100 days of mood history straight
into the SQLite file, logs in, re-saves each of those entries through the
API (so their note and medication are sealed under the patient's key, as
real entries are, and the read load pays for opening them), logs today's
entry and checks each request the load runs will repeat. Prints shell
assignments for run.sh to eval.

Usage: prepare.py PORT DATA_DIR
"""

import datetime
import json
import shlex
import sqlite3
import sys
import urllib.error
import urllib.request

HOST = "127.0.0.1"  # the only host this benchmark ever talks to
USERNAME = "bench.patient"
PASSWORD = "Bench!pass1"
PIN = "2468"
HISTORY_DAYS = 100
ENTRY = {
    "mood": 6,
    "sleep_quality": 7,
    "sleep_hours": 7.5,
    "anxiety": 3,
    "exercise_minutes": 20,
    "outdoor_minutes": 45,
    "medication": ["Sertraline 50 mg"],
    "note": "Walked to the park.",
}


def call(base, method, path, body=None, cookie=None, csrf=None):
    """One request; returns (status, headers, parsed JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    if csrf:
        req.add_header("X-CSRF-Token", csrf)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read() or b"null")


def expect(what, status, wanted, body):
    if status != wanted:
        sys.exit(f"prepare: {what} answered {status}, expected {wanted}: {body}")


def main():
    port, data_dir = int(sys.argv[1]), sys.argv[2]
    base = f"http://{HOST}:{port}"

    status, _, body = call(base, "POST", "/api/auth/register", {
        "username": USERNAME,
        "password": PASSWORD,
        "pin": PIN,
        "email": "bench@example.org",
        "display_name": "Bench Patient",
        "time_zone": "UTC",
    })
    expect("register", status, 201, body)

    # The patient lives in UTC, so the server's "today" is the UTC date.
    today = datetime.datetime.now(datetime.timezone.utc).date()
    db = sqlite3.connect(f"{data_dir}/healing-space.db", timeout=10)
    (patient_id,) = db.execute(
        "SELECT id FROM users WHERE username_lower = ?", (USERNAME,)
    ).fetchone()
    rows = []
    for days_ago in range(1, HISTORY_DAYS + 1):
        day = today - datetime.timedelta(days=days_ago)
        at = int(datetime.datetime(day.year, day.month, day.day, 20, 0,
                                   tzinfo=datetime.timezone.utc).timestamp())
        rows.append((patient_id, day.isoformat(), 3 + days_ago % 6, 6, 72, 4, 15, 30,
                     '["Sertraline 50 mg"]', "Ordinary day." if days_ago % 3 else None,
                     at, at))
    with db:
        db.executemany(
            "INSERT INTO mood_entries (patient_id, entry_date, mood, sleep_quality, "
            "sleep_tenths, anxiety, exercise_minutes, outdoor_minutes, medication, note, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    db.close()

    status, headers, body = call(base, "POST", "/api/auth/login",
                                 {"username": USERNAME, "password": PASSWORD, "pin": PIN})
    expect("login", status, 200, body)
    session = None
    for value in headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        if name.strip() == "hs_session":
            session = rest.split(";", 1)[0]
    if not session:
        sys.exit("prepare: login set no hs_session cookie")
    csrf = body["csrf_token"]
    cookie = f"hs_session={session}"

    db = sqlite3.connect(f"{data_dir}/healing-space.db", timeout=10)
    stored = db.execute(
        "SELECT id, mood, note FROM mood_entries WHERE patient_id = ?", (patient_id,)
    ).fetchall()
    db.close()
    for entry_id, mood, note in stored:
        entry = dict(ENTRY, mood=mood, note=note)
        if note is None:
            del entry["note"]
        status, _, body = call(base, "PUT", f"/api/mood/{entry_id}", entry, cookie, csrf)
        expect("re-saving a history entry", status, 200, body)
    db = sqlite3.connect(f"{data_dir}/healing-space.db", timeout=10)
    (sealed,) = db.execute(
        "SELECT COUNT(*) FROM mood_entries WHERE patient_id = ? AND medication LIKE 'enc:%'",
        (patient_id,),
    ).fetchone()
    db.close()
    print(f"prepare: {len(stored)} history entries, {sealed} sealed at rest", file=sys.stderr)

    status, _, body = call(base, "POST", "/api/mood", ENTRY, cookie, csrf)
    expect("first entry of today", status, 201, body)
    entry_id = body["id"]
    status, _, body = call(base, "POST", "/api/mood", ENTRY, cookie, csrf)
    expect("second entry of today", status, 409, body)
    status, _, body = call(base, "PUT", f"/api/mood/{entry_id}", ENTRY, cookie, csrf)
    expect("edit of today's entry", status, 200, body)

    history = (f"/api/mood?from={today - datetime.timedelta(days=30)}"
               f"&to={today - datetime.timedelta(days=1)}")
    status, _, body = call(base, "GET", history, cookie=cookie)
    expect("history", status, 200, body)
    if len(body["entries"]) != 30:
        sys.exit(f"prepare: history returned {len(body['entries'])} entries, expected 30")

    out = {
        "HS_BENCH_SESSION": session,
        "HS_BENCH_CSRF": csrf,
        "HS_BENCH_ENTRY_ID": str(entry_id),
        "HS_BENCH_HISTORY_PATH": history,
        "HS_BENCH_BODY": json.dumps(ENTRY),
        "HS_BENCH_LOGIN_BODY": json.dumps(
            {"username": USERNAME, "password": PASSWORD, "pin": PIN}),
    }
    for key, value in out.items():
        print(f"export {key}={shlex.quote(value)}")


if __name__ == "__main__":
    main()
