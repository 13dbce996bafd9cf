-- The wrk script of bench/load.sh: POST /v1/chat/completions with a random customer key per
-- request (among every key in the keys file) and the US-national attestation, and one
-- machine-readable result line from done().
--
-- Usage: wrk ... -s bench/wrk.lua <url> -- <keys file> <attestation file>
--
-- Every request is formatted once in init(), so request() only picks one at random: the
-- load generator spends its core on sending, not on building strings in Lua.

local requests = {}
local n_requests = 0

local BODY = '{"model":"frontier","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":16}'

local function first_line(path)
   local file = assert(io.open(path, "r"))
   local line = file:read("*l")
   file:close()
   return line
end

function init(args)
   local keys_path, attestation_path = args[1], args[2]
   local attestation = first_line(attestation_path)
   for key in io.lines(keys_path) do
      if key ~= "" then
         n_requests = n_requests + 1
         requests[n_requests] = wrk.format("POST", "/v1/chat/completions", {
            ["Host"] = wrk.headers["Host"],
            ["Authorization"] = "Bearer " .. key,
            ["Portcullis-Attestation"] = attestation,
            ["Content-Type"] = "application/json",
         }, BODY)
      end
   end
   assert(n_requests > 0, "no keys in " .. keys_path)
   math.randomseed(os.time())
end

function request()
   return requests[math.random(n_requests)]
end

-- Latency is in microseconds. wrk counts a status >= 400 as a status error; 1xx and 3xx
-- cannot occur here, so that is the non-2xx count.
function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "WRK_RESULT requests=%d duration_us=%d p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f non2xx=%d socket_errors=%d\n",
      summary.requests, summary.duration,
      latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max,
      e.status, e.connect + e.read + e.write + e.timeout))
end
