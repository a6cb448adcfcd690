-- GET /v1/secret/data/{path} with OpenBao's dev root token.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
wrk.method = "GET"
wrk.headers["X-Vault-Token"] = "root"
