-- Authenticated read: one patient's mood history, 30 entries.
wrk.method = "GET"
wrk.headers["Cookie"] = "hs_session=" .. os.getenv("HS_BENCH_SESSION")
