-- POST /api/v1/accounts/{id}/authorize rotating over BENCH_ACCOUNTS accounts.
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local key = os.getenv("BENCH_KEY")
local accounts = tonumber(os.getenv("BENCH_ACCOUNTS") or "1000")
local n = 0

function request()
  n = n + 1
  local path = "/api/v1/accounts/bench-u-" .. (n * 7919 % accounts) .. "/authorize"
  return wrk.format("POST", path, {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
  }, '{"meter": "bandwidth", "quantity": 1000}')
end
