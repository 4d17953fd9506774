-- wrk script for bench/table.py: POST /api/v1/payments rotated over order ids, GET /api/v1/payments/{id} rotated
-- over payment ids, or POST /api/v1/orders; prints the figures as one JSON line.
-- Usage: wrk -t2 -c32 -d6s -s bench/api.lua URL -- pay|get|order IDS_FILE API_KEY API_SECRET

local ids = {}
local mode = "get"
local next_index = 0

function init(args)
   mode = args[1]
   for line in io.lines(args[2]) do
      if #line > 0 then ids[#ids + 1] = line end
   end
   wrk.headers["X-Api-Key"] = args[3]
   wrk.headers["X-Api-Secret"] = args[4]
   wrk.headers["Content-Type"] = "application/json"
   next_index = math.random(math.max(#ids, 1))
end

function request()
   if mode == "order" then
      return wrk.format("POST", "/api/v1/orders", nil, '{"amount":50000}')
   end
   next_index = next_index % #ids + 1
   local id = ids[next_index]
   if mode == "pay" then
      return wrk.format("POST", "/api/v1/payments", nil,
         '{"order_id":"' .. id .. '","method":"upi","vpa":"bench@okbank"}')
   end
   return wrk.format("GET", "/api/v1/payments/" .. id)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '\nBENCH_JSON {"requests":%d,"duration_s":%.3f,"non2xx":%d,"errors":%d,' ..
      '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
      summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
      latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
      latency.max / 1e3))
end
