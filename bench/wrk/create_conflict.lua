-- POST /api/mood when today's entry exists: the whole create path (session,
-- CSRF, parsing, validation, the INSERT attempt) ending in 409, since only
-- one entry per day is allowed.
wrk.method = "POST"
wrk.body = os.getenv("HS_BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "hs_session=" .. os.getenv("HS_BENCH_SESSION")
wrk.headers["X-CSRF-Token"] = os.getenv("HS_BENCH_CSRF")
