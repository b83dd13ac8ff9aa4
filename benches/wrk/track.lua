-- wrk script for POST /api/widgets/{id}/track (benches/track_load.sh).
-- Environment: RS_WIDGET, RS_KEY, RS_ORIGIN, RS_VISITORS (distinct visitor ids), RS_HEARTBEAT_PCT.
-- Each request is one visitor event: a heartbeat (lastSeenAt only) or an interaction (a page
-- view, click or scroll), from one of RS_VISITORS visitors picked at random.
local widget = os.getenv("RS_WIDGET")
local key = os.getenv("RS_KEY")
local origin = os.getenv("RS_ORIGIN") or "https://www.example.com"
local visitors = tonumber(os.getenv("RS_VISITORS") or "10000")
local hb_pct = tonumber(os.getenv("RS_HEARTBEAT_PCT") or "80")
local kinds = { "page_view", "click", "scroll" }

wrk.method = "POST"
wrk.path = "/api/widgets/" .. widget .. "/track"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Origin"] = origin
wrk.headers["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(os.time() + (seed or 0))
end

function request()
  local v = string.format("visitor-%08d", math.random(1, visitors))
  local body
  if math.random(1, 100) <= hb_pct then
    body = '{"visitorId":"' .. v .. '","event":"heartbeat"}'
  else
    local k = kinds[math.random(1, #kinds)]
    body = '{"visitorId":"' .. v .. '","event":"' .. k ..
      '","url":"https://www.example.com/p/' .. math.random(1, 50) ..
      '?utm_source=bench","title":"Page"}'
  end
  return wrk.format(nil, nil, nil, body)
end


function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.0f p50_ms=%.2f p99_ms=%.2f p999_ms=%.2f max_ms=%.2f errors=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
