-- Free the processing lock if ARGV[1] is still its holder's token, and leave one wake-up in its
-- wake-up list (KEYS[2], expiring after ARGV[2] ms) for a waiter blocked on it.
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v)['token'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('LPUSH', KEYS[2], '1')
  redis.call('LTRIM', KEYS[2], 0, 0)
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
  return 1
end
return 0
