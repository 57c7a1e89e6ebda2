-- The baseline: the same server, the same framework, a route that does nothing.
local body = '{"type":"track","event":"Product Added","properties":{}}'
local headers = {["Content-Type"] = "application/json"}
request = function()
  return wrk.format("POST", "/_bench/noop", headers, body)
end
