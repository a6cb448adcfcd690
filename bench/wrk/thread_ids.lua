-- For the write scripts, where each wrk thread works on a target of its own: gives thread i
-- (in the order wrk sets them up, from 0) the global `id` in its own state.
local count = 0
function setup(thread)
  thread:set("id", count)
  count = count + 1
end
