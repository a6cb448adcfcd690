-- Saves with version tracking: thread i (one connection each: run wrk with -tN -cN) owns app
-- BENCH_APP_PREFIX..i, which starts at version BENCH_BASE, and PUTs a 10-key document whose
-- bench_value changes every time, with base_version = the version its last save made.
-- A 409 (stale base) resyncs from the body's latest_version and counts as a non-2xx answer.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
dofile(os.getenv("BENCH_LUA_DIR") .. "/thread_ids.lua")

function init(args)
  app = os.getenv("BENCH_APP_PREFIX") .. id
  base = tonumber(os.getenv("BENCH_BASE") or "1")
  path = "/api/v1/apps/" .. app .. "/secrets"
  headers = {
    ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN"),
    ["Content-Type"] = "application/json",
  }
  local lines = { '# generated secrets for benchmarking\\n' }
  for i = 0, 8 do
    lines[#lines + 1] = string.format('key_%05d = \\"v%05d-abcdefghijklmnopqrstuvwxyz0\\"\\n', i, i)
  end
  rest = table.concat(lines)
  n = 0
end

function request()
  n = n + 1
  local body = string.format(
    '{"base_version":%d,"message":"wrk bench","toml":"bench_value = \\"w%d-%d\\"\\n%s"}',
    base, id, n, rest)
  return wrk.format("PUT", path, headers, body)
end

function response(status, headers, body)
  if status == 200 then
    base = base + 1
  elseif status == 409 then
    local latest = body:match('"latest_version":(%d+)')
    if latest then base = tonumber(latest) end
  end
end
