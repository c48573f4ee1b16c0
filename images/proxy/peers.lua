-- The routing decisions kept in the shared dict `routes` are strings ("upstream\npath\ncookie"); each
-- worker reads each one once into a table (host, port, path, cookie) and keeps it here, so that a
-- request on a kept route parses nothing. (string.match is not compiled by LuaJIT: it costs about 0.7 µs.)
local M = {}
local LIMIT = 1024
local parsed, count = {}, 0

-- The decision's peer, or nil when it names no upstream. One that sets a cookie is one request's own,
-- and is not remembered.
function M.parse(decision)
  local peer = parsed[decision]
  if peer ~= nil then
    return peer
  end
  local upstream, path, cookie = decision:match("^([^\n]*)\n([^\n]*)\n(.*)$")
  local host, port = (upstream or ""):match("^%[?([^%]]+)%]?:(%d+)$")
  if host == nil then
    return nil
  end
  peer = { host = host, port = tonumber(port), path = path, cookie = cookie }
  if cookie == "" then
    if count >= LIMIT then
      parsed, count = {}, 0
    end
    parsed[decision], count = peer, count + 1
  end
  return peer
end

return M
