-- POST /cities with a new name each time (names are unique per province).
-- Each wrk run (warm-up or measured) starts a new prefix: the time plus a random number.
math.randomseed(os.time())
local counter = 0
local prefix = os.time() .. "-" .. math.random(1, 1000000000)

request = function()
  counter = counter + 1
  local body = '{"name":"bench-' .. prefix .. '-' .. counter .. '","province":"Bench"}'
  return wrk.format("POST", "/cities", {["Content-Type"] = "application/json"}, body)
end
