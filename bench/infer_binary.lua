-- infer_binary.lua - wrk load posting one fixed body, with the binary tensor
-- data extension's header when the body has a binary part.
--
--   BODY_FILE=... HEADER_LEN=N wrk -t1 -c8 -d10s -s infer_binary.lua http://127.0.0.1:PORT/v2/models/digits/infer
--
-- BODY_FILE  the request body (required); HEADER_LEN  its JSON part's length
-- (Inference-Header-Content-Length; unset or 0: a plain JSON body).
-- At the end prints "RESULT requests=N non2xx=M".
local req
function init(args)
  local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
  local body = f:read("*a")
  f:close()
  local headers = { ["Content-Type"] = "application/json" }
  local hl = tonumber(os.getenv("HEADER_LEN") or "0")
  if hl and hl > 0 then
    headers["Content-Type"] = nil
    headers["Inference-Header-Content-Length"] = tostring(hl)
  end
  req = wrk.format("POST", nil, headers, body)
end
function request()
  return req
end
function done(summary, latency, requests)
  io.write(string.format("RESULT requests=%d non2xx=%d\n", summary.requests,
                         summary.errors.status))
end
