-- wrk script: counts each status answered, and prints them with wrk's socket errors as one line,
-- RESULT {...json...}, when wrk ends (its duration, SIGINT, or the cap below).
--   wrk -s count.lua URL -- get [CAP]                 GET URL
--   wrk -s count.lua URL -- post PREFIX [CAP]         POST /cities {"name": "PREFIX-<thread>-<n>", ...}
-- CAP: requests answered per thread after which the thread stops (0 or none: no cap).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  mode = args[1] or "get"
  if mode == "post" then
    prefix = args[2]
    cap = tonumber(args[3] or "0")
  else
    cap = tonumber(args[2] or "0")
  end
  counter = 0
  answered = 0
  statuses = {}
end

function request()
  if mode ~= "post" then
    return wrk.format("GET")
  end
  counter = counter + 1
  local body = string.format('{"name":"%s-%d-%d","province":"Rolling"}', prefix, id, counter)
  return wrk.format("POST", "/cities", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  if cap > 0 and answered >= cap then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%s":%d', status, count))
  end
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"statuses":{%s},"errors":{"connect":%d,"read":%d,"write":%d,' ..
                         '"status":%d,"timeout":%d}}\n', summary.requests, table.concat(parts, ","), e.connect,
                         e.read, e.write, e.status, e.timeout))
end
