-- Shared by every wrk script of scripts/bench: at the end, one `RESULT {json}` line with the
-- request rate, errors and the latency percentiles (ms). BENCH_META (env) is a JSON fragment
-- naming the run, e.g. "bench":"read","impl":"hush","keys":10,"conns":32,"rep":1.
local meta = os.getenv("BENCH_META") or '"bench":"wrk"'
local points = { 50, 75, 90, 95, 99, 99.9, 99.99, 100 }

function done(summary, latency, requests)
  local e = summary.errors
  local pct = {}
  for _, p in ipairs(points) do
    local v = (p == 100) and latency.max or latency:percentile(p)
    pct[#pct + 1] = string.format('"%s":%.4f', tostring(p), v / 1000)
  end
  io.write(string.format(
    'RESULT {%s,"rps":%.1f,"requests":%d,"duration_s":%.3f,"sockerr":%d,"non2xx":%d,' ..
    '"mean_ms":%.4f,"stdev_ms":%.4f,"max_ms":%.4f,"p50_ms":%.4f,"p99_ms":%.4f,"pct":{%s}}\n',
    meta, summary.requests / (summary.duration / 1e6), summary.requests, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout, e.status, latency.mean / 1000, latency.stdev / 1000,
    latency.max / 1000, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(pct, ",")))
end
