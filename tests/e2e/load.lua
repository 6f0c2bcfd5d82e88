-- wrk script for the e2e load: locate-fee requests with a different position
-- value each time, so every request is a calculation rather than a cache hit.
-- KEY and CLIENT come from the environment.
local key = os.getenv("KEY") or "internal-ops-key-789"
local client = os.getenv("CLIENT") or "big_fund_007"
local tickers = {"GME", "AAPL", "TSLA", "MSFT"}
local n = 0
request = function()
  n = n + 1
  local path = string.format(
    "/api/v1/calculate-locate?ticker=%s&position_value=%d&loan_days=30&client_id=%s",
    tickers[n % #tickers + 1], 100000 + n, client)
  return wrk.format("GET", path, {["X-API-Key"] = key})
end
