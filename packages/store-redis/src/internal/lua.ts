/**
 * The Lua scripts of `RedisStore`, `RedisTransport` and `RedisRateLimit`. Each runs atomically on
 * the node that owns its keys. Store scripts touch one partition: every key they build starts
 * with the partition's base `{<prefix>:p<n>}:` (passed as ARGV[1]), so all of them hash to the
 * partition's slot and the scripts work unchanged on Redis Cluster. Transport scripts touch one
 * topic: all its keys share the hash tag `{<prefix>:t:<topic>}`. The rate limit script touches
 * one target: its keys share the hash tag `{<prefix>:rl:<target>}`.
 *
 * Optional strings are passed flagged: `-` for absent, `+<value>` for present.
 */

/**
 * The first call of every store script and of every transport script that writes: a read of
 * two keys that are never written, `<base>slot` and `<base>slot:`. The store scripts reach most
 * of their keys by name (an action's `o:`, `dn:`, `w:` keys), the transport scripts reach a
 * topic's partition streams by name (`<base><n>`, base `{<prefix>:t:<topic>}:s:`), and Redis
 * checks those only as the script reaches them.
 * While a Cluster slot is being migrated, a key the node does not hold is refused on the node
 * the slot is leaving, and looks absent (one key) or is refused (several) on the node it is
 * going to. So without this a script failed half way, after its first writes (a commit left its
 * record and events without its outbox actions, an ack deleted the action before its done mark;
 * a publish took its ids and added some messages, then was retried and added them again; a
 * receive counted deliveries of messages it never handed out), or decided on a key it could not
 * see. Two missing keys are refused on both nodes: the script fails here, before it reads or
 * writes anything ("Script attempted to access a non local key": `Unavailable`, retried until
 * the slot is stable). ARGV[1] is the partition's base (the topic's stream base).
 */
const guard = `redis.call('EXISTS', ARGV[1] .. 'slot', ARGV[1] .. 'slot:')
`

/**
 * Commits of one partition, in order, each on its own: version CAS, record, seen marks, events,
 * audit entries and outbox actions. A commit whose CAS fails writes nothing and the next one is
 * taken; a batch of one is a single commit. Each commit is checked (CAS, audit sequence) before
 * it writes, as when each was a script of its own; commits of one shipment in a batch are taken
 * in order, as pipelined scripts were.
 *
 * KEYS (the partition's): 1 shipment index, 2 audit stream index, 3 ready queue, 4 sequence,
 * 5 outbox count, 6 dead letters. A shipment's record (`r:`), events (`e:`), audit list (`a:`)
 * and audit head (`h:`) are named from the base and its id (the guard covers them on a Cluster).
 * ARGV: 1 base, 2 seen TTL ms (0: none), 3 #commits, then per commit: shipment id, expected
 * version, body, #events, #audit, #actions, audit streams ok (1/0), #seen marks, SHA-1 of the
 * body (stored with its version as `h`, which `load` compares), SHA-1 of the body the commit was
 * made on (`-`: none known; else the stored body at the expected version must be that one, or a
 * failover that lost the version and a commit of it again by another process would be written
 * over, unseen), then its events,
 * audit (seq, hash, json) triples, actions (key, json, availableAt, attempts, claims, after,
 * lastError) septuples, then the seen mark keys to set (inline mode, standalone only: they live
 * in other partitions' slots, so they are passed as arguments; the key count stays fixed, which
 * auto-pipelining needs).
 * Returns per commit {0, version} on conflict, {1, version, enqueued keys...} when committed.
 */
export const commit = `
${guard}local base = ARGV[1]
local ttl = tonumber(ARGV[2])
local replies = {}
local p = 4
for c = 1, tonumber(ARGV[3]) do
  local id = ARGV[p]
  local nEvents, nAudit, nActions, nSeen = tonumber(ARGV[p + 3]), tonumber(ARGV[p + 4]), tonumber(ARGV[p + 5]), tonumber(ARGV[p + 7])
  local eventsAt = p + 10
  local auditAt = eventsAt + nEvents
  local actionsAt = auditAt + nAudit * 3
  local seenAt = actionsAt + nActions * 7
  local nextAt = seenAt + nSeen
  local rkey = base .. 'r:' .. id
  local stored = redis.call('HMGET', rkey, 'v', 'h')
  local current = tonumber(stored[1] or '0')
  local ok = current == tonumber(ARGV[p + 1]) and ARGV[p + 6] == '1'
  local base_sha1 = ARGV[p + 9]
  if ok and current > 0 and base_sha1 ~= '-' then
    -- The version is the one the commit was made on; its body must be too. A digest naming
    -- another version (an older release wrote the body) does not count: the body decides.
    local v, h = stored[1], stored[2]
    if h and string.sub(h, 1, #v + 1) == v .. ':' then ok = h == v .. ':' .. base_sha1
    else ok = redis.sha1hex(redis.call('HGET', rkey, 'b') or '') == base_sha1 end
  end
  local head = 0
  local hkey = base .. 'h:' .. id
  if ok and nAudit > 0 then
    head = tonumber(redis.call('HGET', hkey, 'seq') or '0')
    for j = 0, nAudit - 1 do
      if tonumber(ARGV[auditAt + j * 3]) ~= head + 1 + j then ok = false; break end
    end
  end
  if not ok then
    replies[c] = {0, current}
  else
    local version = current + 1
    redis.call('HSET', rkey, 'v', version, 'b', ARGV[p + 2], 'h', version .. ':' .. ARGV[p + 8])
    if current == 0 then redis.call('ZADD', KEYS[1], 0, id) end
    for k = seenAt, nextAt - 1 do
      if ttl > 0 then redis.call('SET', ARGV[k], '1', 'PX', ttl, 'NX') else redis.call('SET', ARGV[k], '1', 'NX') end
    end
    -- One RPUSH per list, in chunks that stay well inside Lua's stack.
    if nEvents > 0 then
      local ekey = base .. 'e:' .. id
      for j = eventsAt, auditAt - 1, 500 do redis.call('RPUSH', ekey, unpack(ARGV, j, math.min(j + 499, auditAt - 1))) end
    end
    if nAudit > 0 then
      local akey = base .. 'a:' .. id
      local entries = {}
      for j = 0, nAudit - 1 do
        entries[#entries + 1] = ARGV[auditAt + j * 3 + 2]
        if #entries == 500 or j == nAudit - 1 then
          redis.call('RPUSH', akey, unpack(entries))
          entries = {}
        end
      end
      local last = auditAt + (nAudit - 1) * 3
      redis.call('HSET', hkey, 'seq', ARGV[last], 'hash', ARGV[last + 1])
      if head == 0 then redis.call('ZADD', KEYS[2], 0, id) end
    end
    local out = {1, version}
    -- The actions to enqueue (not pending, leased, dead or done; a key repeated in the commit
    -- once), then their sequence numbers in one INCRBY, in order, and one ZADD.
    local fresh, taken = {}, {}
    for j = 0, nActions - 1 do
      local a = actionsAt + j * 7
      local key = ARGV[a]
      if not taken[key] and redis.call('EXISTS', base .. 'o:' .. key, base .. 'dn:' .. key) == 0 and redis.call('HEXISTS', KEYS[6], key) == 0 then
        taken[key] = true
        fresh[#fresh + 1] = a
      end
    end
    local added = #fresh
    if added > 0 then
      local first = redis.call('INCRBY', KEYS[4], added) - added
      local scored = {}
      for n, a in ipairs(fresh) do
        local key, seq = ARGV[a], first + n
        local fields = {'j', ARGV[a + 1], 'a', ARGV[a + 2], 'n', ARGV[a + 3], 'c', ARGV[a + 4], 's', seq}
        if ARGV[a + 5] ~= '-' then fields[#fields + 1] = 'f'; fields[#fields + 1] = string.sub(ARGV[a + 5], 2) end
        if ARGV[a + 6] ~= '-' then fields[#fields + 1] = 'e'; fields[#fields + 1] = string.sub(ARGV[a + 6], 2) end
        redis.call('HSET', base .. 'o:' .. key, unpack(fields))
        scored[#scored + 1] = seq
        scored[#scored + 1] = key
        out[#out + 1] = key
        if #scored == 1000 or n == added then
          redis.call('ZADD', KEYS[3], unpack(scored))
          scored = {}
        end
      end
      redis.call('INCRBY', KEYS[5], added)
    end
    replies[c] = out
  end
  p = nextAt
end
return replies
`

/**
 * Claims due actions of one partition, in enqueue order.
 *
 * Expired leases go back to the ready queue at their old place; delayed actions that are due
 * join it. Due times are the callers' clock (`now`, ARGV 2). Leases are judged by the Redis
 * server's clock (`TIME`) when ARGV 8 is `r`, so a worker whose clock runs ahead cannot take a
 * live lease, else by the caller's `now`. The returned `expiresAt` is the caller's deadline,
 * `now + lease ms` in its own clock: the claim ran after the caller read `now`, so that
 * deadline never falls after the server's expiry (clock rates assumed equal). Then the head of the queue is taken: an action not due yet moves to the delayed set
 * (scored by due time), one whose predecessor (`after`) is still pending or dead-lettered moves
 * to the predecessor's waiting set (released by its ack), and the rest are leased. Each action is
 * looked at once per call, so a call costs O(claimed + moved), never a rescan of blocked ones.
 *
 * KEYS: 1 ready queue, 2 leases, 3 delayed, 4 dead letters.
 * ARGV: 1 base, 2 now, 3 lease ms, 4 limit, 5 token prefix, 6 owner, 7 scan budget, 8 lease clock (`r`: server, `c`: caller).
 * Returns {expiresAt, {key, json, availableAt, attempts, lastError|false, token, claims}...}.
 * Each lease counts a claim (kept across retries and requeues).
 */
export const claim = `
${guard}local base = ARGV[1]
local now = tonumber(ARGV[2])
local leaseNow = now
if ARGV[8] == 'r' then
  local t = redis.call('TIME')
  leaseNow = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local expires = now + tonumber(ARGV[3])
local leaseUntil = leaseNow + tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
local budget = tonumber(ARGV[7])
local function back(set, upTo)
  local keys = redis.call('ZRANGEBYSCORE', set, '-inf', upTo, 'LIMIT', 0, 1000)
  for _, k in ipairs(keys) do
    redis.call('ZREM', set, k)
    local seq = redis.call('HGET', base .. 'o:' .. k, 's')
    if seq then redis.call('ZADD', KEYS[1], seq, k) end
  end
end
back(KEYS[2], leaseNow)
back(KEYS[3], now)
local out = {}
local scanned = 0
while #out < limit and scanned < budget do
  local head = redis.call('ZRANGE', KEYS[1], 0, limit - #out - 1)
  if #head == 0 then break end
  for _, k in ipairs(head) do
    scanned = scanned + 1
    redis.call('ZREM', KEYS[1], k)
    local okey = base .. 'o:' .. k
    local f = redis.call('HMGET', okey, 'a', 'f', 'j', 'n', 'e')
    if f[3] then
      local after = f[2]
      if tonumber(f[1]) > now then
        redis.call('ZADD', KEYS[3], f[1], k)
      elseif after and redis.call('EXISTS', base .. 'dn:' .. after) == 0
        and (redis.call('EXISTS', base .. 'o:' .. after) == 1 or redis.call('HEXISTS', KEYS[4], after) == 1) then
        redis.call('SADD', base .. 'w:' .. after, k)
      else
        local token = ARGV[5] .. (#out + 1)
        redis.call('ZADD', KEYS[2], leaseUntil, k)
        redis.call('HSET', okey, 't', token, 'x', leaseUntil, 'w', ARGV[6])
        local claims = redis.call('HINCRBY', okey, 'c', 1)
        out[#out + 1] = {k, f[3], f[1], f[4], f[5] or false, token, claims}
      end
    end
  end
end
return {expires, out}
`

/**
 * Renews a lease: only with the current token, and only while the action is still leased (not
 * handed back to the queue by a claim after it ran out). The new expiry is `lease ms` after the
 * server's `TIME` (ARGV 6 `r`) or after the caller's `now`.
 *
 * KEYS: 1 leases. ARGV: 1 base, 2 key, 3 token, 4 now, 5 lease ms, 6 lease clock (`r` or `c`).
 */
export const extend = `
${guard}local okey = ARGV[1] .. 'o:' .. ARGV[2]
if redis.call('HGET', okey, 't') ~= ARGV[3] then return 0 end
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 0 end
local now = tonumber(ARGV[4])
if ARGV[6] == 'r' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local untilMs = now + tonumber(ARGV[5])
redis.call('ZADD', KEYS[1], untilMs, ARGV[2])
redis.call('HSET', okey, 'x', untilMs)
return 1
`

/**
 * Acknowledges a leased action: it is removed, its key is remembered as done (with the done
 * TTL), and the actions waiting for it join the ready queue at their place.
 *
 * KEYS: 1 ready queue, 2 leases, 3 delayed, 4 outbox count. ARGV: 1 base, 2 key, 3 token, 4 done TTL ms.
 */
export const ack = `
${guard}local base = ARGV[1]
local okey = base .. 'o:' .. ARGV[2]
if redis.call('HGET', okey, 't') ~= ARGV[3] then return 0 end
redis.call('DEL', okey)
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('DECR', KEYS[4])
local ttl = tonumber(ARGV[4])
if ttl > 0 then redis.call('SET', base .. 'dn:' .. ARGV[2], '1', 'PX', ttl) else redis.call('SET', base .. 'dn:' .. ARGV[2], '1') end
local waiting = base .. 'w:' .. ARGV[2]
for _, k in ipairs(redis.call('SMEMBERS', waiting)) do
  local seq = redis.call('HGET', base .. 'o:' .. k, 's')
  if seq then redis.call('ZADD', KEYS[1], seq, k) end
end
redis.call('DEL', waiting)
return 1
`

/**
 * Gives a leased action back, to the end of the queue, with new attempts, due time and error.
 *
 * KEYS: 1 ready queue, 2 leases, 3 delayed, 4 sequence.
 * ARGV: 1 base, 2 key, 3 token, 4 availableAt, 5 attempts, 6 lastError.
 */
export const retry = `
${guard}local okey = ARGV[1] .. 'o:' .. ARGV[2]
if redis.call('HGET', okey, 't') ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', okey, 'a', ARGV[4], 'n', ARGV[5], 'e', ARGV[6], 's', seq)
redis.call('HDEL', okey, 't', 'x', 'w')
redis.call('ZADD', KEYS[1], seq, ARGV[2])
return 1
`

/**
 * Moves a leased action to the dead letters. Actions waiting for it keep waiting (a requeue and
 * a later ack release them).
 *
 * KEYS: 1 ready queue, 2 leases, 3 delayed, 4 outbox count, 5 dead letters, 6 dead letter index.
 * ARGV: 1 base, 2 key, 3 token, 4 letter id, 5 letter json.
 */
export const deadLetter = `
${guard}local okey = ARGV[1] .. 'o:' .. ARGV[2]
if redis.call('HGET', okey, 't') ~= ARGV[3] then return 0 end
redis.call('DEL', okey)
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
redis.call('DECR', KEYS[4])
redis.call('HSET', KEYS[5], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[6], 0, ARGV[4])
return 1
`

/**
 * Puts an action dead letter back into the outbox, at the end of the queue.
 *
 * KEYS: 1 ready queue, 2 outbox count, 3 dead letters, 4 dead letter index, 5 sequence.
 * ARGV: 1 base, 2 letter id, 3 key, 4 json, 5 availableAt, 6 attempts, 7 after, 8 lastError, 9 claims.
 */
export const requeue = `
${guard}if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 0 then return 0 end
local okey = ARGV[1] .. 'o:' .. ARGV[3]
if redis.call('EXISTS', okey) == 1 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
local seq = redis.call('INCR', KEYS[5])
redis.call('HSET', okey, 'j', ARGV[4], 'a', ARGV[5], 'n', ARGV[6], 'c', ARGV[9], 's', seq)
if ARGV[7] ~= '-' then redis.call('HSET', okey, 'f', string.sub(ARGV[7], 2)) end
if ARGV[8] ~= '-' then redis.call('HSET', okey, 'e', string.sub(ARGV[8], 2)) end
redis.call('ZADD', KEYS[1], seq, ARGV[3])
redis.call('INCR', KEYS[2])
return 1
`

/**
 * Stores a dead letter the caller made (an inbound message, or an action dead-lettered by the
 * host): the letter and its index entry in one step, so the listing (which reads the index)
 * shows every stored letter.
 *
 * KEYS: 1 dead letters, 2 dead letter index. ARGV: 1 base, 2 letter id, 3 letter json.
 */
export const putDeadLetter = `
${guard}redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
return 1
`

/**
 * Removes dead letters of one partition. Actions that waited for a removed action are released
 * (their predecessor will never be done, and is no longer known).
 *
 * KEYS: 1 ready queue, 2 dead letters, 3 dead letter index. ARGV: 1 base, 2.. ids.
 */
export const removeDeadLetters = `
${guard}local base = ARGV[1]
local removed = 0
for i = 2, #ARGV do
  if redis.call('HDEL', KEYS[2], ARGV[i]) == 1 then
    removed = removed + 1
    redis.call('ZREM', KEYS[3], ARGV[i])
    local waiting = base .. 'w:' .. ARGV[i]
    for _, k in ipairs(redis.call('SMEMBERS', waiting)) do
      local seq = redis.call('HGET', base .. 'o:' .. k, 's')
      if seq then redis.call('ZADD', KEYS[1], seq, k) end
    end
    redis.call('DEL', waiting)
  end
end
return removed
`

/**
 * Appends one audit entry if its seq is head + 1.
 *
 * KEYS: 1 audit list, 2 audit head, 3 audit stream index. ARGV: 1 seq, 2 hash, 3 json, 4 stream.
 */
export const appendAudit = `
local head = tonumber(redis.call('HGET', KEYS[2], 'seq') or '0')
if tonumber(ARGV[1]) ~= head + 1 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], 'seq', ARGV[1], 'hash', ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
return 1
`

/**
 * Publishes messages to a topic's partition streams. Ids are `<n>-<partition>`, `n` from one
 * counter per topic, so ids order messages across partitions in publish order. The counter never
 * falls behind the server's clock in microseconds: a failover that lost the last publishes lost
 * the counter's increments with them, and the promoted replica would hand the same ids out again
 * to other messages, so a late ack of a lost message (its consumer still held it) acknowledged
 * the new message that took its id, which was then never handled.
 *
 * KEYS: 1 counter. ARGV: 1 stream base (`…:s:`), then (partition, key, body) triples.
 * Returns the ids.
 */
export const publish = `
${guard}local count = (#ARGV - 1) / 3
local time = redis.call('TIME')
local floor = tonumber(time[1]) * 1000000 + tonumber(time[2])
local last = redis.call('INCRBY', KEYS[1], count)
if last - count + 1 < floor then
  last = floor + count - 1
  redis.call('SET', KEYS[1], string.format('%d', last))
end
local ids = {}
for i = 0, count - 1 do
  local p = ARGV[2 + i * 3]
  local id = string.format('%d-%s', last - count + 1 + i, p)
  redis.call('XADD', ARGV[1] .. p, id, 'k', ARGV[3 + i * 3], 'b', ARGV[4 + i * 3])
  ids[#ids + 1] = id
end
return ids
`

/**
 * Creates a consumer group on every partition stream of a topic, from id 0 (MKSTREAM).
 *
 * KEYS: 1 the topic's counter (only routes the call to the topic's slot).
 * ARGV: 1 stream base, 2 partitions, 3 group.
 */
export const createGroups = `
${guard}for p = 0, tonumber(ARGV[2]) - 1 do
  local ok, err = pcall(redis.call, 'XGROUP', 'CREATE', ARGV[1] .. p, ARGV[3], '0', 'MKSTREAM')
  if not ok and not string.find(tostring(err), 'BUSYGROUP') then return redis.error_reply(tostring(err)) end
end
return 1
`

/**
 * Hands out messages of a topic to a consumer of a group.
 *
 * 1. The consumer's heartbeat goes into the group's member set; members silent for longer than
 *    the member timeout are dropped.
 * 2. Entries idle past the visibility timeout, on every partition, are claimed (XAUTOCLAIM from
 *    the caller's cursors; each claim counts a delivery); those delivered too often move to the
 *    group's dead-letter stream and are acknowledged.
 * 3. New entries are read (XREADGROUP >) from the partitions this consumer owns: partition by
 *    partition, each goes to the live member ranking it highest by sha1(member/partition) that
 *    holds fewer than ceil(partitions / members) partitions (rendezvous hashing with bounded
 *    load). The assignment depends only on the set of members, so every consumer computes the
 *    same one; one shipment's messages keep going to one process while the members stay the
 *    same; no member holds more than ceil(partitions / members).
 *
 * KEYS: 1 member set, 2 dead-letter stream.
 * ARGV: 1 stream base, 2 partitions, 3 group, 4 consumer, 5 max, 6 visibility ms,
 * 7 max deliveries, 8 member timeout ms, 9.. one XAUTOCLAIM cursor per partition.
 * Returns {cursors, reclaimed {id, key, body, deliveries}..., fresh {id, key, body, 1}...}.
 */
export const receive = `
${guard}local base, partitions = ARGV[1], tonumber(ARGV[2])
local group, consumer = ARGV[3], ARGV[4]
local max, visibility, maxDeliveries = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZADD', KEYS[1], now, consumer)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[8]))
local cursors, reclaimed, fresh = {}, {}, {}
for p = 0, partitions - 1 do
  local room = max - #reclaimed
  if room <= 0 then
    cursors[p + 1] = ARGV[9 + p]
  else
    local stream = base .. p
    local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, visibility, ARGV[9 + p], 'COUNT', room)
    cursors[p + 1] = claimed[1]
    for _, e in ipairs(claimed[2]) do
      local id, fields = e[1], e[2]
      local deliveries = tonumber(redis.call('XPENDING', stream, group, id, id, 1)[1][4])
      if deliveries > maxDeliveries then
        redis.call('XADD', KEYS[2], '*', 'id', id, 'k', fields[2], 'b', fields[4], 'n', deliveries - 1)
        redis.call('XACK', stream, group, id)
      else
        reclaimed[#reclaimed + 1] = {id, fields[2], fields[4], deliveries}
      end
    end
  end
end
local room = max - #reclaimed
if room > 0 then
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  local owned = {}
  local capacity = math.ceil(partitions / #members)
  local load = {}
  for p = 0, partitions - 1 do
    local ranked = {}
    for i, m in ipairs(members) do ranked[i] = {redis.sha1hex(m .. '/' .. p), m} end
    table.sort(ranked, function(a, b) return a[1] > b[1] end)
    for _, r in ipairs(ranked) do
      local n = load[r[2]] or 0
      if n < capacity then
        load[r[2]] = n + 1
        if r[2] == consumer then owned[#owned + 1] = p end
        break
      end
    end
  end
  local start = #owned > 0 and (now % #owned) or 0
  for i = 0, #owned - 1 do
    if room <= 0 then break end
    local p = owned[(start + i) % #owned + 1]
    local got = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', room, 'STREAMS', base .. p, '>')
    if got then
      for _, e in ipairs(got[1][2]) do
        fresh[#fresh + 1] = {e[1], e[2][2], e[2][4], 1}
        room = room - 1
      end
    end
  end
end
return {cursors, reclaimed, fresh}
`

/**
 * Trims every partition stream of a topic below the oldest entry any group still needs: the
 * smallest pending id of each group, or its last-delivered id when nothing is pending.
 * Approximate (`~`): only whole nodes below that id go, so no unacknowledged or undelivered
 * entry is ever dropped. A stream with no group is left alone.
 * Also forgets the stream consumers that left their group (not in its member set) and hold no
 * pending entry: every process that ever read left one behind, and a deploy renames them all.
 * A consumer that comes back is created again by its next read.
 *
 * KEYS: 1 the topic's counter (only routes the call to the topic's slot).
 * ARGV: 1 stream base, 2 partitions, 3 member set key prefix (the group name follows).
 * Returns the number of entries removed.
 */
export const trim = `
${guard}local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local removed = 0
for p = 0, tonumber(ARGV[2]) - 1 do
  local stream = ARGV[1] .. p
  if redis.call('EXISTS', stream) == 1 then
    local groups = redis.call('XINFO', 'GROUPS', stream)
    local bound, bms, bseq = nil, nil, nil
    for _, g in ipairs(groups) do
      local name, last
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
      end
      for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, name)) do
        local consumer, pending
        for i = 1, #c, 2 do
          if c[i] == 'name' then consumer = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] end
        end
        if pending == 0 and not redis.call('ZSCORE', ARGV[3] .. name, consumer) then
          redis.call('XGROUP', 'DELCONSUMER', stream, name, consumer)
        end
      end
      local candidate = last
      local summary = redis.call('XPENDING', stream, name)
      if tonumber(summary[1]) > 0 then candidate = summary[2] end
      local ms, seq = parse(candidate)
      if bound == nil or ms < bms or (ms == bms and seq < bseq) then bound, bms, bseq = candidate, ms, seq end
    end
    if bound ~= nil and not (bms == 0 and bseq == 0) then
      removed = removed + redis.call('XTRIM', stream, 'MINID', '~', bound)
    end
  end
end
return removed
`

/**
 * Loads records of one partition, each unless the caller already holds its current version.
 *
 * A version number alone does not name a body: after a failover that lost the last commits (or
 * a `FLUSHDB`, or a restore of an older dump) the same version can be committed again with
 * another body. So a caller that holds the body itself passes its SHA-1, and is answered
 * "unchanged" only when the stored body is that one; `-` compares the version only. The commit
 * script stores `<version>:<SHA-1 of the body>` beside the body (field `h`, written in the same
 * `HSET` as the version and body), so a caller's body is vouched for without reading the stored
 * body; a record whose `h` is missing or names another version (written by an older release)
 * has its body hashed here, as before.
 *
 * KEYS: 1 the partition's shipment index (routes the call to the partition's slot). ARGV: 1 the
 * partition's base, then per record: shipment id, the version the caller holds (empty: none),
 * the SHA-1 of its body or `-`.
 * Returns per record false (no record), {version} (unchanged) or {version, body}.
 */
export const load = `
${guard}local base = ARGV[1]
local out = {}
for i = 2, #ARGV, 3 do
  local rkey = base .. 'r:' .. ARGV[i]
  local held, check = ARGV[i + 1], ARGV[i + 2]
  local f = redis.call('HMGET', rkey, 'v', 'h')
  local v, h = f[1], f[2]
  if not v then
    out[#out + 1] = false
  elseif v == held and (check == '-' or h == v .. ':' .. check) then
    out[#out + 1] = {v}
  else
    local b = redis.call('HGET', rkey, 'b')
    local current = h and string.sub(h, 1, #v + 1) == v .. ':'
    if v == held and b and not current and redis.sha1hex(b) == check then
      out[#out + 1] = {v}
    else
      out[#out + 1] = {v, b}
    end
  end
end
return out
`

/**
 * The consumer groups of a stream (`XINFO GROUPS`), as a script so the call carries its key
 * first: an auto-pipelining Cluster client routes a command by its first argument, and
 * `XINFO GROUPS <key>` starts with `GROUPS`.
 *
 * KEYS: 1 the stream.
 */
export const streamGroups = `return redis.call('XINFO', 'GROUPS', KEYS[1])`

/**
 * `swapShipment`'s compare-and-set of a shipment's reference data.
 *
 * KEYS: 1 the reference data. ARGV: 1 base, 2 the expected body flagged (`-` none stored), 3 the
 * new body. Returns 1 when written, 0 when the stored body is not the expected one.
 */
export const swapShipment = `
${guard}local current = redis.call('GET', KEYS[1])
if current == false then
  if ARGV[2] ~= '-' then return 0 end
elseif ARGV[2] ~= '+' .. current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
`

/**
 * `RedisRateLimit`'s take: a sliding window of the permits handed out for one target, on the
 * Redis server's clock (`TIME`), so the machines' clocks do not matter. A permit is taken when
 * fewer than the limit were taken in the last interval; otherwise nothing is written and the
 * answer is how long until enough of them left the window. Both keys are declared, so Redis
 * checks them before the script runs (no guard needed while a Cluster slot migrates).
 *
 * KEYS: 1 the window (a sorted set: permit number by the microsecond it was taken), 2 the permit
 * counter (unique members). ARGV: 1 limit, 2 interval in milliseconds (both positive integers,
 * checked by the caller and again here). Returns 0 when a permit was taken, else the wait in
 * milliseconds (1 to the interval).
 */
export const takePermit = `
local limit, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
if not limit or limit < 1 or limit % 1 ~= 0 or not interval or interval < 1 or interval % 1 ~= 0 then
  return redis.error_reply('ERR waybill rate limit: limit and interval must be positive integers')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span = interval * 1000
-- A permit taken at s counts while now < s + span.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local held = redis.call('ZCARD', KEYS[1])
if held < limit then
  redis.call('ZADD', KEYS[1], now, redis.call('INCR', KEYS[2]))
  redis.call('PEXPIRE', KEYS[1], interval)
  redis.call('PEXPIRE', KEYS[2], interval)
  return 0
end
-- The permit whose leaving brings the count under the limit (more than the limit are held when
-- this caller's limit is lower than another's).
local frees = tonumber(redis.call('ZRANGE', KEYS[1], held - limit, held - limit, 'WITHSCORES')[2])
local wait = math.ceil((frees + span - now) / 1000)
-- A server clock that stepped back (a failover to another machine) never makes it wait longer.
if wait > interval then wait = interval end
if wait < 1 then wait = 1 end
return wait
`
