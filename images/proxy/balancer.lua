-- The peer of a routed request: the upstream its decision named (known.lua or route.lua). Connections
-- to each peer are kept alive and reused (the `keepalive` of the upstream block this runs in).
local balancer = require "ngx.balancer"
local peer = ngx.ctx.peer
local ok, err = balancer.set_current_peer(peer.host, peer.port)
if not ok then
  ngx.log(ngx.ERR, "cannot route to ", peer.host, ":", peer.port, ": ", err)
  return ngx.exit(ngx.HTTP_BAD_GATEWAY)
end
