-- wrk script for bench/core.py: rotate POST /api/v1/payments over order ids, or GET /api/v1/payments/{id}
-- over payment ids, and print the figures as one JSON line.
-- Usage: wrk -t1 -c32 -d10s -s bench/rotate.lua http://127.0.0.1:PORT -- post|get IDS_FILE API_KEY API_SECRET

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
   next_index = math.random(#ids)
end

function request()
   next_index = next_index % #ids + 1
   local id = ids[next_index]
   if mode == "post" then
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
