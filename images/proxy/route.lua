-- The routing decision for a /proxy or /computer request whose decision routing.known did not find kept
-- (access phase): who may pass, and to which upstream. The gateway decides (GET /internal/proxy-auth,
-- a subrequest over the keepalive pool to it); a decision is kept 2 s per route and credential (nginx
-- makes the key, $rcoder_key) in the shared dict `routes` (never one that sets a cookie), and the
-- gateway empties the dict when a container goes or is paused, so that a kept decision never sends
-- bytes to whoever has that address next. routing.balance then connects to the upstream.
local routes = ngx.shared.routes
local var = ngx.var
local KEEP_SECONDS = 2
local WAIT_STEPS, WAIT_STEP = 50, 0.002

local function ask_the_gateway(key)
  local answer = ngx.location.capture("/_route")
  if answer.status ~= 204 then
    ngx.log(ngx.ERR, "the gateway's routing decision failed with status ", answer.status)
    return nil
  end
  -- The subrequest's header names are as the gateway wrote them: lowercase.
  local header = answer.header
  local cookie = header["set-cookie"] or ""
  local decision = table.concat({ header["x-rcoder-upstream"] or "", header["x-rcoder-path"] or "", cookie }, "\n")
  if cookie == "" then
    routes:set(key, decision, KEEP_SECONDS)
  end
  return decision
end

local key = var.rcoder_key
local decision = routes:get(key)
if decision == nil then
  -- One request asks the gateway; the others that arrive meanwhile wait a moment for its answer,
  -- instead of all asking at once whenever a kept decision runs out.
  local asking = key .. "\2"
  if routes:add(asking, true, 1) then
    decision = ask_the_gateway(key)
    routes:delete(asking)
  else
    for _ = 1, WAIT_STEPS do
      ngx.sleep(WAIT_STEP)
      decision = routes:get(key)
      if decision ~= nil then
        break
      end
    end
    decision = decision or ask_the_gateway(key)
  end
  if decision == nil then
    return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
  end
end

local route = require("routing").parse(decision)
if route == nil then
  ngx.log(ngx.ERR, "the gateway's routing decision named no upstream: ", decision)
  return ngx.exit(ngx.HTTP_INTERNAL_SERVER_ERROR)
end
var.rcoder_peer = route.upstream
if route.path ~= "" then
  var.rcoder_target = route.path
end
if route.cookie ~= "" then
  var.rcoder_cookie = route.cookie
end
