-- Allocate a job slot, then release it, on each connection in turn: one
-- pair = one POST (201) + one DELETE (204). The next request is chosen from
-- the last response, so a pair never splits across connections (run with
-- one connection per wrk thread). BENCH_COMPANIES=0: every pair on the one
-- hot company "bench-co"; N: spread over "bench-co-0" .. "bench-co-<N-1>".
dofile(os.getenv("BENCH_DIR") .. "/common.lua")
local key = os.getenv("BENCH_KEY")
local prefix = os.getenv("BENCH_PREFIX")
local companies = tonumber(os.getenv("BENCH_COMPANIES") or "0")
local headers = {["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json"}
local jobs, held, company = 0, nil, nil

function request()
  local tid = wrk.thread:get("id")
  if held then
    return wrk.format("DELETE", "/api/v1/accounts/" .. company .. "/job-slots/" .. held, headers)
  end
  jobs = jobs + 1
  if companies > 0 then
    company = "bench-co-" .. ((jobs * 37 + tid * 11) % companies)
  else
    company = "bench-co"
  end
  return wrk.format("POST", "/api/v1/accounts/" .. company .. "/job-slots", headers,
    string.format('{"job_id":"%s-%d-%d"}', prefix, tid, jobs))
end

local count = response
function response(status, headers_, body)
  count(status, headers_, body)
  if status == 201 then
    held = string.match(body, '"job_id": *"([^"]+)"')
  else
    held = nil
  end
end
