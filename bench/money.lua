-- wrk script for bench/money.py: refunds rotated over payment ids, idempotent replays of one request, or orders
-- with or without a fresh Idempotency-Key each; prints the figures as one JSON line.
-- Usage: wrk -t1 -c32 -d10s -s bench/money.lua http://127.0.0.1:PORT -- MODE IDS_FILE API_KEY API_SECRET [KEY]
--   MODE: refund (IDS_FILE holds payment ids) | replay (IDS_FILE holds one order id; KEY the Idempotency-Key)
--         | order | order-keyed (IDS_FILE unused)

local ids = {}
local mode = "refund"
local next_index = 0
local replay_key = ""
local prefix = ""

function init(args)
   mode = args[1]
   for line in io.lines(args[2]) do
      if #line > 0 then ids[#ids + 1] = line end
   end
   wrk.headers["X-Api-Key"] = args[3]
   wrk.headers["X-Api-Secret"] = args[4]
   wrk.headers["Content-Type"] = "application/json"
   replay_key = args[5] or ""
   prefix = string.format("bench-%d-%d-", os.time(), math.random(1e9))
   next_index = math.random(math.max(#ids, 1))
end

-- wrk.format uses the headers it is given instead of wrk.headers, so extra headers go on a copy.
local function with_key(key)
   local headers = {}
   for name, value in pairs(wrk.headers) do headers[name] = value end
   headers["Idempotency-Key"] = key
   return headers
end

function request()
   next_index = next_index + 1
   if mode == "refund" then
      local id = ids[next_index % #ids + 1]
      return wrk.format("POST", "/api/v1/payments/" .. id .. "/refunds", nil, '{"amount":100}')
   elseif mode == "replay" then
      return wrk.format("POST", "/api/v1/payments", with_key(replay_key),
         '{"order_id":"' .. ids[1] .. '","method":"upi","vpa":"bench@okbank"}')
   elseif mode == "order-keyed" then
      return wrk.format("POST", "/api/v1/orders", with_key(prefix .. next_index), '{"amount":50000}')
   end
   return wrk.format("POST", "/api/v1/orders", nil, '{"amount":50000}')
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
