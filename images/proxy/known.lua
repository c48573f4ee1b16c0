-- The fast way through (set_by_lua, rewrite phase: no coroutine, no subrequest): "1" when a decision
-- for this route and credential ($rcoder_key, the argument) is kept and admits the request as is, so
-- that nginx proxies it without running route.lua; "" sends the request the way that asks the gateway.
local decision = ngx.shared.routes:get(ngx.arg[1])
if decision == nil then
  return ""
end
local peer = require("peers").parse(decision)
if peer == nil or peer.path ~= "" then
  return ""
end
ngx.ctx.peer = peer
return "1"
