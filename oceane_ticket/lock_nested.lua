-- Take the lock KEYS[1] (value ARGV[1], TTL ARGV[2] ms) only while its caller still holds the outer
-- lock KEYS[2] with token ARGV[3], and renew the outer lock's TTL (ARGV[4] ms) on every try, so that
-- it cannot expire while its holder waits for the inner one (OCEANE_LOCK_SCOPE=global: the alarm's
-- lock, then the global one). Returns 1 taken, 0 busy, -1 the outer lock is no longer the caller's.
local outer = redis.call('GET', KEYS[2])
if not outer or cjson.decode(outer)['token'] ~= ARGV[3] then
  return -1
end
redis.call('PEXPIRE', KEYS[2], ARGV[4])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
return 0
