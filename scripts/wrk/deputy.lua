-- wrk script: a deputy sale's LNURL round trip, as a wallet makes it: GET the sale URL (the
-- LUD-06 payRequest), then GET its callback with `amount=minSendable` (the invoice).
--
-- Run with as many threads as connections (`wrk -tN -cN`): each thread is one wallet with one
-- connection, so its requests alternate strictly. Thread i reads its sale URLs (path and query,
-- one per line, counters growing) from $LNEDGE_SALES_DIR/sales-<i>.txt, written by
-- `lnedge bench --deputy --serve-for-load DIR`. The round trip is timed here with the monotonic
-- clock (LuaJIT FFI), from sending the fetch to the callback's answer. `done` prints one line,
-- `LNEDGE_RESULT {json}`.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } lnedge_timespec;
int clock_gettime(int clock_id, lnedge_timespec *tp);
]]
local CLOCK_MONOTONIC = 1

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local now_ts
local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, now_ts)
  return tonumber(now_ts.tv_sec) * 1e6 + tonumber(now_ts.tv_nsec) / 1e3
end

function init(args)
  now_ts = ffi.new("lnedge_timespec")
  local dir = os.getenv("LNEDGE_SALES_DIR") or error("LNEDGE_SALES_DIR is not set")
  sales = {}
  for line in io.lines(dir .. "/sales-" .. id .. ".txt") do
    sales[#sales + 1] = line
  end
  index = 0
  callback = nil      -- the callback path to request next, after a fetch
  in_callback = false -- whether the request in flight is a callback
  started = 0
  samples = {}        -- round trips, microseconds
  round_trips = 0
  errors = 0
  exhausted = 0
end

function request()
  if callback then
    local path = callback
    callback = nil
    in_callback = true
    return wrk.format("GET", path)
  end
  in_callback = false
  if index < #sales then
    index = index + 1
  else
    -- Out of URLs: the run is void (the script says so); replay the last one meanwhile.
    exhausted = 1
  end
  started = now_us()
  return wrk.format("GET", sales[index])
end

function response(status, headers, body)
  if in_callback then
    if status == 200 and body:find('"pr"', 1, true) then
      round_trips = round_trips + 1
      samples[#samples + 1] = now_us() - started
    else
      errors = errors + 1
    end
    return
  end
  local cb = status == 200 and body:match('"callback"%s*:%s*"([^"]+)"')
  local min = status == 200 and body:match('"minSendable"%s*:%s*(%d+)')
  if not cb or not min then
    errors = errors + 1
    return
  end
  local path = cb:gsub("^https?://[^/]+", "")
  local sep = path:find("?", 1, true) and "&" or "?"
  callback = path .. sep .. "amount=" .. min
end

function done(summary, latency, requests)
  local all, total, errs, exh = {}, 0, 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("round_trips")
    errs = errs + thread:get("errors")
    exh = exh + thread:get("exhausted")
    for _, v in ipairs(thread:get("samples")) do
      all[#all + 1] = v
    end
  end
  table.sort(all)
  local function pct(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(#all * p))] / 1000
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    'LNEDGE_RESULT {"round_trips": %d, "per_sec": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, ' ..
    '"errors": %d, "socket_errors": %d, "exhausted_threads": %d, "requests": %d}\n',
    total, total / secs, pct(0.50), pct(0.99), errs,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    exh, summary.requests))
end
