-- POST /api/auth/login with password and PIN: two Argon2id checks (19 MiB,
-- t=2) per request, slow by design.
wrk.method = "POST"
wrk.body = os.getenv("HS_BENCH_LOGIN_BODY")
wrk.headers["Content-Type"] = "application/json"
