-- wrk script for bench/query_wrk.py (ITI-18): POSTs pre-built AdhocQueryRequest envelopes (one per
-- line of the file given after "--"), each thread cycling over its own share, and checks every
-- answer: HTTP 200 and ResponseStatusType:Success; counts the ExtrinsicObjects of every 8th answer.
--   wrk -t2 -c8 -d20s --latency -s bench/query_wrk.lua http://127.0.0.1:8080/xds/registry -- bodies.txt 2
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file = args[1]
  local nthreads = tonumber(args[2] or "1")
  local headers = {["Content-Type"] =
    'application/soap+xml; charset=UTF-8; action="urn:ihe:iti:2007:RegistryStoredQuery"'}
  bodies = {}
  local i = 0
  for line in io.lines(file) do
    if i % nthreads == tid then
      table.insert(bodies, wrk.format("POST", nil, headers, line))
    end
    i = i + 1
  end
  pos = 0
  ok = 0
  bad = 0
  objects = 0
  empty = 0
  sampled = 0
end

function request()
  pos = pos % #bodies + 1
  return bodies[pos]
end

function response(status, headers, body)
  if status == 200 and body:find("ResponseStatusType:Success", 1, true) then
    ok = ok + 1
    if ok % 8 ~= 1 then return end   -- count the objects of every 8th answer (keeps wrk cheap)
    sampled = sampled + 1
    local n = 0
    for _ in body:gmatch("<ExtrinsicObject[ >]") do n = n + 1 end
    for _ in body:gmatch("<rim:ExtrinsicObject[ >]") do n = n + 1 end
    objects = objects + n
    if n == 0 then empty = empty + 1 end
  else
    bad = bad + 1
    if bad <= 2 then io.stderr:write("unexpected answer " .. status .. ": " .. body:sub(1, 1500) .. "\n") end
  end
end

function done(summary, latency, requests)
  local good, wrong, objs, none, seen = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
    objs = objs + t:get("objects")
    none = none + t:get("empty")
    seen = seen + t:get("sampled")
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT requests=%d ok=%d bad=%d errors=%d sampled=%d empty=%d objects_per_answer=%.2f rps=%.1f " ..
    "p50=%.0f p90=%.0f p99=%.0f max=%.0f mean=%.0f\n",
    summary.requests, good, wrong + summary.errors.status, summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, seen, none, objs / math.max(seen, 1), summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
