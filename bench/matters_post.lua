-- wrk script for bench/matters.py: POST /matters/new as the registration form sends it.
-- BENCH_COOKIE: Cookie header (CSRF cookie + session); BENCH_BODY: the form's fields, urlencoded,
-- with _csrf_token; BENCH_KEY_PREFIX: unique per wrk run. Every request adds a fresh
-- _submission_key (one key, one matter) and its own mobile number. Counts every answer other
-- than 303 (the redirect to the new matter) as bad; prints one JSON line like report.lua.
local cookie = os.getenv("BENCH_COOKIE") or ""
local body = os.getenv("BENCH_BODY") or ""
local prefix = os.getenv("BENCH_KEY_PREFIX") or "benchkey"

wrk.method = "POST"
wrk.headers["Cookie"] = cookie
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  n = 0
  created = 0
  non2xx = 0
  first_bad = 0
end

function request()
  n = n + 1
  local key = string.format("%s%02dx%09d", prefix, tid, n)
  local phone = string.format("139%08d", (tid * 7919 + n * 104729) % 100000000)
  return wrk.format(nil, nil, nil, body .. "&_submission_key=" .. key .. "&petitioner_phone=" .. phone)
end

function response(status, headers, body)
  if status == 303 then
    created = created + 1
  else
    non2xx = non2xx + 1
    if first_bad == 0 then first_bad = status end
  end
end

function done(summary, latency, requests)
  local bad, first, made = 0, 0, 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non2xx") or 0)
    made = made + (t:get("created") or 0)
    local f = t:get("first_bad") or 0
    if first == 0 then first = f end
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "rps": %.1f, "bytes": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "mean_ms": %.3f, ' ..
    '"created": %d, "non2xx": %d, "first_bad_status": %d, "err_connect": %d, "err_read": %d, ' ..
    '"err_write": %d, "err_timeout": %d, "err_status": %d}\n',
    summary.requests, secs, summary.requests / secs, summary.bytes,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, latency.mean / 1000,
    made, bad, first, e.connect, e.read, e.write, e.timeout, e.status))
end
