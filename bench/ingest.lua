-- POST batches of BENCH_BATCH events with ids unique to this run, spread
-- over BENCH_ACCOUNTS accounts: 80% bandwidth, 10% transcoding, 10% storage.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local key = os.getenv("BENCH_KEY")
local batch = tonumber(os.getenv("BENCH_BATCH"))
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "1000")
local prefix = os.getenv("BENCH_PREFIX")
local path = os.getenv("BENCH_PATH")
local meters = {"bandwidth", "bandwidth", "bandwidth", "bandwidth", "bandwidth",
                "bandwidth", "bandwidth", "bandwidth", "transcoding", "storage"}
generated = 0

function request()
  generated = generated + 1
  local parts = {}
  local tid = wrk.thread:get("id")
  for i = 1, batch do
    local account = (generated * 131 + i * 17 + tid * 7) % accounts
    parts[i] = string.format(
      '{"id":"%s-%d-%d-%d","account":"bench-u-%d","meter":"%s","quantity":%d}',
      prefix, tid, generated, i, account, meters[(i % 10) + 1], 1000 + i)
  end
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
