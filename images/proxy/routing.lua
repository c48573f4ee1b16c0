-- The routing decisions kept in the shared dict `routes` (route.lua keeps them), read in nginx's two
-- cheap phases: `known` in the rewrite phase (set_by_lua: no coroutine, no subrequest) and `balance`
-- when nginx connects upstream. A decision is a string ("upstream\npath\ncookie"); each worker parses
-- each one once and keeps the table here, so that a request on a kept route parses nothing.
-- Each function does all its work itself, rather than the nginx chunk that calls it: LuaJIT then
-- compiles it whole (reading ngx.arg or ngx.var in the chunk itself cannot be compiled, and runs
-- interpreted, which cost about 4 µs a request, measured), and the upstream passes from one phase to
-- the next in a variable ($rcoder_peer), not in ngx.ctx (a table made and freed for every request).
local balancer = require "ngx.balancer"
local routes = ngx.shared.routes
local var = ngx.var
local M = {}
local LIMIT = 1024
local parsed, parsed_count = {}, 0
local peers, peer_count = {}, 0

-- The upstream's host and port, or nil when it names none.
local function peer_of(upstream)
  local peer = peers[upstream]
  if peer == nil then
    local host, port = upstream:match("^%[?([^%]]+)%]?:(%d+)$")
    if host == nil then
      return nil
    end
    if peer_count >= LIMIT then
      peers, peer_count = {}, 0
    end
    peer, peer_count = { host = host, port = tonumber(port) }, peer_count + 1
    peers[upstream] = peer
  end
  return peer
end

-- The decision as a table (upstream, path, cookie), or nil when it names no upstream. One that sets
-- a cookie is one request's own, and is not remembered. (string.match is not compiled by LuaJIT: it
-- costs about 0.7 µs.)
function M.parse(decision)
  local route = parsed[decision]
  if route ~= nil then
    return route
  end
  local upstream, path, cookie = decision:match("^([^\n]*)\n([^\n]*)\n(.*)$")
  if upstream == nil or peer_of(upstream) == nil then
    return nil
  end
  route = { upstream = upstream, path = path, cookie = cookie }
  if cookie == "" then
    if parsed_count >= LIMIT then
      parsed, parsed_count = {}, 0
    end
    parsed[decision], parsed_count = route, parsed_count + 1
  end
  return route
end

-- set_by_lua's value for $rcoder_peer: the upstream when a decision for this route and credential
-- (args[1], $rcoder_key) is kept and admits the request as it is, so that nginx proxies it without
-- running route.lua; "" sends the request the way that asks the gateway.
function M.known(args)
  local decision = routes:get(args[1])
  if decision == nil then
    return ""
  end
  local route = M.parse(decision)
  if route == nil or route.path ~= "" then
    return ""
  end
  return route.upstream
end

-- Connect to $rcoder_peer, the upstream the decision named (known or route.lua). Connections to each
-- peer are kept alive and reused (the `keepalive` of the upstream block this runs in).
function M.balance()
  local upstream = var.rcoder_peer
  local peer = peer_of(upstream)
  local ok, err = false, "no upstream"
  if peer ~= nil then
    ok, err = balancer.set_current_peer(peer.host, peer.port)
  end
  if not ok then
    ngx.log(ngx.ERR, "cannot route to ", upstream, ": ", err)
    return ngx.exit(ngx.HTTP_BAD_GATEWAY)
  end
end

return M
