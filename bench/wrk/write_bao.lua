-- POST /v1/secret/data/bench-write-{thread}: a new KV v2 version per request, the same
-- 10 keys as hush's write document with a changing bench_value (run wrk with -tN -cN).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/thread_ids.lua")

function init(args)
  path = "/v1/secret/data/bench-write-" .. id
  headers = { ["X-Vault-Token"] = "root", ["Content-Type"] = "application/json" }
  local fields = {}
  for i = 0, 8 do
    fields[#fields + 1] = string.format('"key_%05d":"v%05d-abcdefghijklmnopqrstuvwxyz0"', i, i)
  end
  rest = table.concat(fields, ",")
  n = 0
end

function request()
  n = n + 1
  local body = string.format('{"data":{"bench_value":"w%d-%d",%s}}', id, n, rest)
  return wrk.format("POST", path, headers, body)
end
