-- wrk script of bench/browse: wrk -s bench/browse.lua URL -- [bust NONCE]
--
-- Every request says it came through the TLS proxy (production redirects plain HTTP). With
-- "bust", each request adds a query parameter no request has used before (per run, thread and
-- request), so a response cache keyed on the URL never answers it: the uncached cost. done()
-- prints one line "BENCH_RESULT {json}" with the counts, wrk's latency percentiles (in
-- microseconds) and the SQL queries the server reported (X-Bench-Queries, summed).

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

-- Per-thread state: globals, so done() can read them with thread:get().
queries = 0
counted = 0
not_ok = 0
sent = 0
local nonce = nil

function init(args)
  wrk.headers["X-Forwarded-Proto"] = "https"
  if args[1] == "bust" then
    nonce = args[2] or "0"
  else
    -- No request() function: wrk sends one prebuilt request, as fast as it can.
    request = nil
  end
end

function request()
  sent = sent + 1
  local separator = string.find(wrk.path, "?", 1, true) and "&" or "?"
  local path = wrk.path .. separator .. "_bench=" .. nonce .. "-" .. thread_id .. "-" .. sent
  return wrk.format(nil, path)
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
  local count = tonumber(headers["X-Bench-Queries"])
  if count then
    queries = queries + count
    counted = counted + 1
  end
end

function done(summary, latency, requests)
  local total_queries, total_counted, total_not_ok = 0, 0, 0
  for _, thread in ipairs(threads) do
    total_queries = total_queries + thread:get("queries")
    total_counted = total_counted + thread:get("counted")
    total_not_ok = total_not_ok + thread:get("not_ok")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "mean_us": %.1f, "p50_us": %d, '
      .. '"p90_us": %d, "p95_us": %d, "p99_us": %d, "max_us": %d, "errors": {"connect": %d, '
      .. '"read": %d, "write": %d, "timeout": %d, "status": %d}, "not_200": %d, '
      .. '"queries": %d, "queries_counted": %d}\n',
    summary.requests, summary.duration, latency.mean, latency:percentile(50),
    latency:percentile(90), latency:percentile(95), latency:percentile(99), latency.max,
    errors.connect, errors.read, errors.write, errors.timeout, errors.status, total_not_ok,
    total_queries, total_counted
  ))
end
