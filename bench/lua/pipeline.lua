-- 16 requests sent back to back on each connection before reading (HTTP/1.1 pipelining,
-- RFC 9112 §9.3.2); wrk counts every response. As wrk's own scripts/pipeline.lua.
local depth = 16

init = function(args)
  local requests = {}
  for i = 1, depth do
    requests[i] = wrk.format(nil, wrk.path)
  end
  batch = table.concat(requests)
end

request = function()
  return batch
end
