-- One Segment track event per request, each with its own messageId, visitor and cart.
-- Optional pacing: BENCH_DELAY_MS makes every connection wait about that long between requests
-- (uniformly 0.5x to 1.5x, so connections do not fire in lockstep).
local counter = 0
local thread_id = 0
local headers = {}
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local run = os.getenv("BENCH_RUN") or "r"

function setup(thread)
  thread_id = thread_id + 1
  thread:set("thread_id", thread_id)
end

function init(args)
  math.randomseed(thread_id * 7919)
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
end

function delay()
  if delay_ms == 0 then
    return 0
  end
  return math.floor(delay_ms * (0.5 + math.random()))
end

request = function()
  counter = counter + 1
  local id = run .. "-" .. thread_id .. "-" .. counter
  local body = '{"type":"track","event":"Product Added","messageId":"m-' .. id ..
    '","anonymousId":"a-' .. id .. '","properties":{"cart_id":"c-' .. id ..
    '","product_id":"p-1","name":"Mug","price":12.5,"quantity":1,"currency":"USD"}}'
  return wrk.format("POST", "/v1/track", headers, body)
end

done = function(summary, latency, requests)
  io.write(string.format("BENCH_LATENCY p50=%d p90=%d p99=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
