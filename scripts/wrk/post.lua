-- wrk script: one POST, a JSON body ($LNEDGE_BODY) and one header ($LNEDGE_HEADER, "Name: value").
-- Used for LNbits' invoice creation and lnedge's pool provisioning. `done` prints one line,
-- `LNEDGE_RESULT {json}`, with the answers that were not 2xx counted as errors.
wrk.method = "POST"
wrk.body = os.getenv("LNEDGE_BODY") or error("LNEDGE_BODY is not set")
wrk.headers["Content-Type"] = "application/json"
local header = os.getenv("LNEDGE_HEADER") or error("LNEDGE_HEADER is not set")
local name, value = header:match("^([^:]+):%s*(.*)$")
wrk.headers[name] = value

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local ok = summary.requests - summary.errors.status
  io.write(string.format(
    'LNEDGE_RESULT {"requests": %d, "per_sec": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, ' ..
    '"errors": %d, "socket_errors": %d}\n',
    ok, ok / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
