-- wrk: each connection registers nothing and creates an appointment for the
-- next of its own seeded patients, then reads it back (create + get pairs).
-- Arguments: <first document> <patients per thread> <local day YYYYMMDD> <token>
local threads = {}
local thread_count = 0

function setup(thread)
  thread:set("index", thread_count)
  thread_count = thread_count + 1
  table.insert(threads, thread)
end

function init(args)
  first = tonumber(args[1])
  per_thread = tonumber(args[2])
  day = args[3]
  token = args[4]
  counter = 0
  statuses = {}
end

function request()
  counter = counter + 1
  local n = math.floor((counter - 1) / 2) % per_thread
  local document = tostring(first + index * per_thread + n)
  local headers = { ["authorization"] = "Bearer " .. token, ["content-type"] = "application/json" }
  if counter % 2 == 1 then
    local body = '{"document":"' .. document .. '","speciality":"cardiologia"}'
    return wrk.format("POST", "/pe/appointment", headers, body)
  end
  return wrk.format("GET", "/pe/appointment/" .. day .. "-" .. document, headers)
end

function response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, count in pairs(counts) do
      io.write(string.format("status %d: %d\n", status, count))
    end
  end
end
