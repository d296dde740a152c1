-- events.lua - wrk load for POST /v1/events (bench/events_http.sh).
--
--   EVENTS_BATCH=100 wrk -t2 -c64 -d10s -s bench/events.lua http://127.0.0.1:8080
--
-- Every request carries EVENTS_BATCH events of random users and items, each
-- with a client event id unique to this run (thread, request, index), so no
-- event is a duplicate and every one is stored. Bodies are built per request
-- (ids change); the users and items of each pre-built template are fixed.
--
-- Settings (environment variables, all optional):
--   EVENTS_PATH      URL path (default /v1/events)
--   EVENTS_BATCH     events per request (default 1)
--   EVENTS_USERS     users are drawn from 1..N (default 2000: on ml-100k,
--                    943 known to the model and the rest new)
--   EVENTS_ITEMS     items from 1..N (default 1682)
--   EVENTS_IDS       1: a client id per event (default), 0: none
--   EVENTS_POOL      pre-built templates per thread (default 256)
--   BENCH_LABEL      name printed in the RESULT line (default "wrk")
--
-- Ends with the RESULT line of ../shared/bench/recommend.lua (compare.sh
-- reads it); rps is requests per second, events/s = rps x EVENTS_BATCH.

local function env(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  return v
end

local threads = {}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_id", counter)
  table.insert(threads, thread)
end

local path, batch, ids, headers
local pool, pool_n = {}, 0
local seq = 0
-- a token per wrk process: runs one after another never repeat an id
local function token()
  local f = io.open("/proc/sys/kernel/random/uuid", "r")
  local u = f and f:read("*l") or tostring(os.time())
  if f then f:close() end
  return u:sub(1, 8)
end
local run = token()
local types = { "play", "play", "play", "view", "click", "like" }

function init(args)
  local tid = thread_id or 1
  math.randomseed(os.time() * 1000 + tid * 7919)
  path = env("EVENTS_PATH", "/v1/events")
  batch = tonumber(env("EVENTS_BATCH", "1"))
  ids = env("EVENTS_IDS", "1") == "1"
  local users = tonumber(env("EVENTS_USERS", "2000"))
  local items = tonumber(env("EVENTS_ITEMS", "1682"))
  pool_n = tonumber(env("EVENTS_POOL", "256"))
  headers = { ["Content-Type"] = "application/json" }
  -- a template is the events' text before each id: '{"user":"U","item":"I","type":"T"'
  for p = 1, pool_n do
    local t = {}
    for i = 1, batch do
      t[i] = string.format('{"user":"%d","item":"%d","type":"%s"', math.random(1, users),
                           math.random(1, items), types[math.random(1, #types)])
    end
    pool[p] = t
  end
  run = run .. "-" .. tid
end

function request()
  seq = seq + 1
  local t = pool[(seq % pool_n) + 1]
  local parts = {}
  for i = 1, batch do
    if ids then
      parts[i] = t[i] .. ',"id":"' .. run .. "-" .. seq .. "-" .. i .. '"}'
    else
      parts[i] = t[i] .. "}"
    end
  end
  return wrk.format("POST", path, headers, '{"events":[' .. table.concat(parts, ",") .. "]}")
end

function done(summary, latency, requests)
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT label=%s rps=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d mean_us=%.0f max_us=%d " ..
    "requests=%d duration_s=%.2f bytes=%d non2xx=%d sock_errors=%d errors=%d " ..
    "connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    env("BENCH_LABEL", "wrk"), summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max,
    summary.requests, secs, summary.bytes, e.status, sock, e.status + sock,
    e.connect, e.read, e.write, e.timeout))
end
