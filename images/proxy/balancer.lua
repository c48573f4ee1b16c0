-- The peer of a routed request: the upstream its decision named (route.lua). Connections to each
-- peer are kept alive and reused (the `keepalive` of the upstream block this runs in).
local balancer = require "ngx.balancer"
local ok, err = balancer.set_current_peer(ngx.ctx.upstream_host, ngx.ctx.upstream_port)
if not ok then
  ngx.log(ngx.ERR, "cannot route to ", ngx.ctx.upstream_host, ":", ngx.ctx.upstream_port, ": ", err)
  return ngx.exit(ngx.HTTP_BAD_GATEWAY)
end
