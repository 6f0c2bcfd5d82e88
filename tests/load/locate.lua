-- wrk script: POST calculate-locate over many tickers and clients with an
-- internal key (which may price any client), so caches see a realistic mix.
-- Requests are formatted once per thread in init() and no response() hook is
-- set (wrk counts non-2xx answers itself), so the client spends the same few
-- instructions per request whichever server it drives: bench.sh sends this
-- same script to the nginx reference.
local tickers = {"GME", "AMC", "TSLA", "AAPL", "MSFT", "BRK.B", "F500", "NOVOL"}
local clients = {"big_fund_007", "quant_360", "other_fund"}
local requests = {}
local i = 0

function init(args)
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = os.getenv("BENCH_KEY") or "internal-key-001",
  }
  local n = 0
  for _, t in ipairs(tickers) do
    for _, c in ipairs(clients) do
      for _, p in ipairs({"50000", "1234567.89", "250000.5"}) do
        local body = string.format(
          '{"ticker":"%s","position_value":%s,"loan_days":%d,"client_id":"%s"}', t, p, 30 + n % 300, c)
        n = n + 1
        requests[n] = wrk.format("POST", nil, headers, body)
      end
    end
  end
end

function request()
  i = i + 1
  return requests[(i % #requests) + 1]
end
