-- Shared by the wrk scripts: count statuses per thread and print one
-- machine-readable line at the end (parsed by bench/run.sh). Socket errors
-- (connect, read, write, timeout) and non-2xx answers are counted apart.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

ok, bad, accepted = 0, 0, 0

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
    if body then
      local n = string.match(body, '"accepted": *(%d+)')
      if n then accepted = accepted + tonumber(n) end
    end
  else
    bad = bad + 1
    if bad <= 3 then io.stderr:write("non-2xx " .. status .. ": " .. (body or "") .. "\n") end
  end
end

function done(summary, latency, requests)
  local t_ok, t_bad, t_acc, t_gen = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_bad = t_bad + t:get("bad")
    t_acc = t_acc + t:get("accepted")
    t_gen = t_gen + (t:get("generated") or 0)
  end
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f ok=%d"
      .. " non2xx=%d socket_errors=%d accepted=%d generated=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    t_ok, t_bad, e.connect + e.read + e.write + e.timeout, t_acc, t_gen))
end
