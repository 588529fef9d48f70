-- Forget the shared Oceane token only if it is still the one the caller saw rejected.
-- KEYS[1]: the token cache key; ARGV[1]: the rejected access token.
-- Atomic in Redis: another worker may have stored a fresh token since, and that one must stay.
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['access_token'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
