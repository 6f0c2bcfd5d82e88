-- wrk script: POST calculate-locate over many tickers and clients with an
-- internal key (which may price any client), so caches see a realistic mix.
local tickers = {"GME", "AMC", "TSLA", "AAPL", "MSFT", "BRK.B", "F500", "NOVOL"}
local clients = {"big_fund_007", "quant_360", "other_fund"}
local bodies = {}
for _, t in ipairs(tickers) do
  for _, c in ipairs(clients) do
    for _, p in ipairs({"50000", "1234567.89", "250000.5"}) do
      bodies[#bodies + 1] = string.format(
        '{"ticker":"%s","position_value":%s,"loan_days":%d,"client_id":"%s"}', t, p, 30 + #bodies % 300, c)
    end
  end
end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_KEY") or "internal-key-001"
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end
local non2xx = 0
response = function(status, headers, body)
  if status ~= 200 then non2xx = non2xx + 1 end
end
