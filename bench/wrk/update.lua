-- Authenticated write: PUT /api/mood/{id} edits today's entry, a real
-- UPDATE that is committed (and synced) before the answer.
wrk.method = "PUT"
wrk.body = os.getenv("HS_BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Cookie"] = "hs_session=" .. os.getenv("HS_BENCH_SESSION")
wrk.headers["X-CSRF-Token"] = os.getenv("HS_BENCH_CSRF")
