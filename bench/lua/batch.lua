-- 500 events per /v1/batch request: 100 shoppers each adding, viewing and checking out.
local counter = 0
local thread_id = 0
local headers = {}
local run = os.getenv("BENCH_RUN") or "r"
local size = tonumber(os.getenv("BENCH_BATCH") or "500")

function setup(thread)
  thread_id = thread_id + 1
  thread:set("thread_id", thread_id)
end

function init(args)
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end

local names = {"Product Added", "Product Added", "Cart Viewed", "Checkout Started", "Payment Info Entered"}

request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, size do
    local shopper = run .. "-" .. thread_id .. "-" .. counter .. "-" .. math.floor((i - 1) / 5)
    local name = names[((i - 1) % 5) + 1]
    parts[i] = '{"type":"track","event":"' .. name .. '","messageId":"m-' .. shopper .. "-" .. i ..
      '","anonymousId":"a-' .. shopper .. '","properties":{"cart_id":"c-' .. shopper ..
      '","product_id":"p-' .. i .. '","price":9.5,"quantity":1}}'
  end
  return wrk.format("POST", "/v1/batch", headers, '{"batch":[' .. table.concat(parts, ",") .. ']}')
end
