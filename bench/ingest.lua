-- POST batches of BENCH_BATCH events to BENCH_PATH, ids
-- "<BENCH_PREFIX>-<thread>-<batch>-<i>" unique to the run, spread over the
-- accounts <BENCH_ACCOUNT_PREFIX>0 .. BENCH_ACCOUNTS-1: 80% bandwidth, 10%
-- transcoding, 10% storage, 1000-1999 units each. The real endpoint and the
-- bare insert get the same generator (only the prefixes differ).
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local key = os.getenv("BENCH_KEY")
local batch = tonumber(os.getenv("BENCH_BATCH"))
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "1000")
local account_prefix = os.getenv("BENCH_ACCOUNT_PREFIX") or "bench-u-"
local prefix = os.getenv("BENCH_PREFIX")
local meters = {"bandwidth", "bandwidth", "bandwidth", "bandwidth", "bandwidth",
                "bandwidth", "bandwidth", "bandwidth", "transcoding", "storage"}
local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
generated = 0

function request()
  generated = generated + 1
  local parts = {}
  local tid = wrk.thread:get("id")
  for i = 1, batch do
    -- 17 is prime to 1000: a batch of 1000 touches each of 1000 accounts once.
    local account = (generated * 131 + i * 17 + tid * 7) % accounts
    -- The meter follows the event's number, mixed so that it does not
    -- follow the account too (with batches of 1 both would step by one).
    local n = generated * batch + i
    local meter = meters[(n + math.floor(n / 10) + math.floor(n / 100)) % 10 + 1]
    parts[i] = string.format(
      '{"id":"%s-%d-%d-%d","account":"%s%d","meter":"%s","quantity":%d}',
      prefix, tid, generated, i, account_prefix, account, meter, 1000 + n % 1000)
  end
  return wrk.format("POST", nil, headers, '{"events":[' .. table.concat(parts, ",") .. ']}')
end
