-- wrk script: send absolute-form request targets, as a client of a forward proxy does.
--
--   wrk -t1 -c50 -d10 -s bench/absolute.lua http://127.0.0.1:PROXYPORT/ -- http://127.0.0.1:ORIGINPORT/100b
--   WRK_TARGET=http://127.0.0.1:ORIGINPORT/100b wrk ... -s bench/absolute.lua http://127.0.0.1:PROXYPORT/
--
-- wrk connects to the URL on its command line (the proxy); every request carries the target
-- URL (first script argument after --, else $WRK_TARGET) as its request-target, and a Host
-- header naming the target's authority. The request is formatted once per thread.

local env_target = os.getenv("WRK_TARGET")

function init(args)
   local url = args[1] or env_target
   if url == nil or url == "" then
      error("absolute.lua: give the target URL after -- or in WRK_TARGET")
   end
   local authority = url:match("^%a[%w+.-]*://([^/?#]+)")
   if authority == nil then
      error("absolute.lua: not an absolute URL: " .. url)
   end
   wrk.path = url
   wrk.headers["Host"] = authority
end
