-- bench/imeis.lua - a wrk script: every request names another device.
--
--   wrk -t2 -c50 -d5s -s bench/imeis.lua 'URL' -- [COUNT [FIRST]]
--
-- URL is a device check (/api/site/firmware_upgrade?...&imei=N&...); its imei=N is
-- replaced, request after request, by the next of COUNT devices of the wrk thread (default
-- 1000000): thread t names FIRST + t*COUNT, FIRST + t*COUNT + 1, ... and comes round again
-- after COUNT requests (FIRST defaults to 864100000000000; the threads never share a
-- device). With more devices than the run makes requests, every request is its device's
-- first; with few, each device checks in again and again.
local threads = 0 -- in wrk's main state: threads set up so far

function setup(thread)
  thread:set("tid", threads) -- a global of the thread's own state, read by init
  threads = threads + 1
end

local count, base, head, tail, k

function init(args)
  count = tonumber(args[1]) or 1000000
  base = (tonumber(args[2]) or 864100000000000) + tid * count
  head, tail = wrk.path:match("^(.-imei=)%d+(.*)$")
  if not head then
    error("bench/imeis.lua: the URL has no imei=N")
  end
  k = 0
end

function request()
  local path = head .. string.format("%.0f", base + k) .. tail
  k = (k + 1) % count
  return wrk.format(nil, path)
end
