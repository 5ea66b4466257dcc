-- wrk script for bench/mpi_bench.py: POSTs pre-built SOAP 1.2 bodies (one per line of the file
-- given after "--"), each thread cycling over its own share of them (disjoint, so ITI-44 feeds
-- are all new patients), and checks every answer (HTTP 200 and the expected text).
--   wrk -t2 -c8 -d30s --latency -s bench/mpi_wrk.lua http://127.0.0.1:8080/pdq -- bodies.txt 'code="OK"' 2
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, check = args[1], args[2]
  expected = check
  bodies = {}
  local i = 0
  local nthreads = tonumber(args[3] or "1")
  for line in io.lines(file) do
    if i % nthreads == tid then
      local action = line:match("<a:Action[^>]*>([^<]+)</a:Action>")
      table.insert(bodies, wrk.format("POST", nil,
        {["Content-Type"] = 'application/soap+xml; charset=UTF-8; action="' .. action .. '"'}, line))
    end
    i = i + 1
  end
  pos = 0
  ok = 0
  bad = 0
end

function request()
  pos = pos % #bodies + 1
  return bodies[pos]
end

function response(status, headers, body)
  if status == 200 and body:find(expected, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if bad <= 2 then io.stderr:write("unexpected answer " .. status .. ": " .. body:sub(1, 1500) .. "\n") end
  end
end

function done(summary, latency, requests)
  local good, wrong = 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d ok=%d bad=%d errors=%d rps=%.1f p50=%.0f p90=%.0f p99=%.0f p999=%.0f max=%.0f mean=%.0f\n",
    summary.requests, good, wrong + summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
