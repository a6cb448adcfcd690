-- GET /api/v1/apps/{app}/secrets with an app token (BENCH_TOKEN).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
