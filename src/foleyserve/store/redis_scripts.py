"""The Lua scripts of `RedisJobStore`: every change that touches several keys runs as one
script, so other clients see all of it or none of it.

Python decides *what* a job becomes (`foleyserve.store.rules`, shared with SQLite); the scripts
make it so, atomically, and only if the job has not changed since Python read it: each job hash
carries a revision `rev`, and `TRANSITION` and `DELETE` apply a job's change only while `rev` is
the one read. A job changed by someone else in between is reported back, and the store reads it
again and decides afresh. That guard is what makes a claim exclusive (two workers read a job as
queued; one script runs first and bumps `rev`; the other's is refused) and `requeue_expired`
safe to run everywhere at once.

Key and argument layouts are documented at the top of each script; `redis_keys` explains the
keys. Empty strings stand for "none". Scores are integer microseconds or sequence numbers.
"""

from __future__ import annotations

_QUEUE_INDEXES = """
-- A queued job is in three indexes, changed together here and nowhere else: its priority's
-- queue, its (priority, tenant) queue (both scored by seq), and, through the latter, its
-- tenant's place in the priority's set of backlogged tenants.
local function enqueue(queue, tenant_queue, backlogged, tenant, seq, id)
  redis.call('ZADD', queue, seq, id)
  redis.call('ZADD', tenant_queue, seq, id)
  redis.call('SADD', backlogged, tenant)
end

local function dequeue(queue, tenant_queue, backlogged, tenant, id)
  redis.call('ZREM', queue, id)
  redis.call('ZREM', tenant_queue, id)
  if redis.call('ZCARD', tenant_queue) == 0 then redis.call('SREM', backlogged, tenant) end
end

-- A job's webhook event goes into the outbox with the change that makes it (empty id: none).
local function add_event(outbox, outbox_due, event_id, due_us, payload)
  if event_id ~= '' then
    redis.call('HSET', outbox, event_id, payload)
    redis.call('ZADD', outbox_due, due_us, event_id)
  end
end
"""

SUBMIT = (
    _QUEUE_INDEXES
    + """
-- KEYS: 1 job  2 tenant_jobs  3 idempotency(tenant)  4 seq  5 counts  6 deadlines  7 finished
--       8..10 queues by rank (high, normal, low)  11 tenant_queue(priority, tenant)
--       12 backlogged(priority)  13 outbox  14 outbox_due  15..17 tenant_queue by rank
-- ARGV: 1 job_id  2 payload  3 state  4 tenant  5 rank  6 idempotency key  7 max_queued
--       8 deadline_us  9 finished_us  10 event id  11 event due_us  12 event payload
--       13 tenant_max_queued
-- Returns {'created', seq} | {'existing', job_id} | {'full', queued} |
--         {'tenant_full', the tenant's queued}
local job_id, state, rank, idem_key = ARGV[1], ARGV[3], tonumber(ARGV[5]), ARGV[6]
if idem_key ~= '' then
  local existing = redis.call('HGET', KEYS[3], idem_key)
  if existing then return {'existing', existing} end
end
if ARGV[7] ~= '' then
  local queued = 0
  for q = 8, 10 do queued = queued + redis.call('ZCARD', KEYS[q]) end
  if queued >= tonumber(ARGV[7]) then return {'full', queued} end
end
if ARGV[13] ~= '' then
  local mine = 0
  for q = 15, 17 do mine = mine + redis.call('ZCARD', KEYS[q]) end
  if mine >= tonumber(ARGV[13]) then return {'tenant_full', mine} end
end
local seq = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[1], 'payload', ARGV[2], 'rev', 1, 'state', state, 'tenant', ARGV[4],
           'rank', rank, 'seq', seq, 'idem', idem_key)
redis.call('ZADD', KEYS[2], seq, job_id)
if idem_key ~= '' then redis.call('HSET', KEYS[3], idem_key, job_id) end
redis.call('HINCRBY', KEYS[5], state, 1)
if state == 'queued' then
  enqueue(KEYS[8 + rank], KEYS[11], KEYS[12], ARGV[4], seq, job_id)
  if ARGV[8] ~= '' then redis.call('ZADD', KEYS[6], ARGV[8], job_id) end
else
  redis.call('ZADD', KEYS[7], ARGV[9], job_id)
end
add_event(KEYS[13], KEYS[14], ARGV[10], ARGV[11], ARGV[12])
return {'created', seq}
"""
)

TRANSITION = (
    _QUEUE_INDEXES
    + """
-- Moves jobs between states (claim, heartbeat, complete, fail, cancel, requeue_expired,
-- retry).
-- KEYS: 1 counts  2 leases  3 deadlines  4 finished  5..7 queues by rank
--       8..10 backlogged by rank  11 fairness  12 outbox  13 outbox_due, then 2 per job: job
--       tenant_queue
-- ARGV: 1 n, then 10 per job: id  expected rev  new state  payload  lease_us  deadline_us
--       finished_us  event id  event due_us  event payload; then triples: tenant  floor_s
--       add_s (claim's charge)
-- Returns one 1 (applied) or 0 (job changed or gone since read) per job. A charge is applied,
-- counter = max(counter, floor_s) + add_s, only for tenants with a job moved queued -> running
-- here.
local n = tonumber(ARGV[1])
local served = {}
local applied = {}
for i = 1, n do
  local key, tenant_queue, a = KEYS[12 + 2 * i], KEYS[13 + 2 * i], 1 + (i - 1) * 10
  local id, rev, new_state = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  local current = redis.call('HMGET', key, 'rev', 'state', 'rank', 'seq', 'tenant')
  if current[1] ~= rev then
    applied[i] = 0
  else
    local old_state, rank, tenant = current[2], tonumber(current[3]), current[5]
    local queue, backlogged = KEYS[5 + rank], KEYS[8 + rank]
    if old_state == 'queued' then
      dequeue(queue, tenant_queue, backlogged, tenant, id)
      redis.call('ZREM', KEYS[3], id)
    elseif old_state == 'running' then
      redis.call('ZREM', KEYS[2], id)
    else
      redis.call('ZREM', KEYS[4], id)  -- finished, and now retried (see `rules.operator_retried`)
    end
    if new_state == 'queued' then
      enqueue(queue, tenant_queue, backlogged, tenant, current[4], id)
      if ARGV[a + 6] ~= '' then redis.call('ZADD', KEYS[3], ARGV[a + 6], id) end
    elseif new_state == 'running' then
      redis.call('ZADD', KEYS[2], ARGV[a + 5], id)
    else
      redis.call('ZADD', KEYS[4], ARGV[a + 7], id)
    end
    redis.call('HSET', key, 'payload', ARGV[a + 4], 'rev', tonumber(rev) + 1, 'state', new_state)
    if old_state ~= new_state then
      redis.call('HINCRBY', KEYS[1], old_state, -1)
      redis.call('HINCRBY', KEYS[1], new_state, 1)
    end
    if old_state == 'queued' and new_state == 'running' then served[tenant] = true end
    add_event(KEYS[12], KEYS[13], ARGV[a + 8], ARGV[a + 9], ARGV[a + 10])
    applied[i] = 1
  end
end
for c = 2 + n * 10, #ARGV, 3 do
  if served[ARGV[c]] then
    local counter = tonumber(redis.call('HGET', KEYS[11], ARGV[c])) or 0
    local charged = math.max(counter, tonumber(ARGV[c + 1])) + tonumber(ARGV[c + 2])
    redis.call('HSET', KEYS[11], ARGV[c], string.format('%.17g', charged))
  end
end
return applied
"""
)

DELETE = (
    _QUEUE_INDEXES
    + """
-- Forgets finished jobs (delete, purge) from every index.
-- KEYS: 1 counts  2 leases  3 deadlines  4 finished  5..7 queues by rank
--       8..10 backlogged by rank, then 4 per job: job  tenant_jobs  idempotency(tenant)
--       tenant_queue
-- ARGV: 1 n, then 2 per job: id  expected rev
-- Returns one 1 (deleted) or 0 (changed or gone since read) per job.
local n = tonumber(ARGV[1])
local deleted = {}
for i = 1, n do
  local k, id, rev = 10 + (i - 1) * 4, ARGV[2 * i], ARGV[2 * i + 1]
  local current = redis.call('HMGET', KEYS[k + 1], 'rev', 'state', 'idem', 'rank', 'tenant')
  if current[1] ~= rev then
    deleted[i] = 0
  else
    local rank = tonumber(current[4])
    for index = 2, 4 do redis.call('ZREM', KEYS[index], id) end
    dequeue(KEYS[5 + rank], KEYS[k + 4], KEYS[8 + rank], current[5], id)
    redis.call('ZREM', KEYS[k + 2], id)
    local idem_key = current[3]
    if idem_key and idem_key ~= '' and redis.call('HGET', KEYS[k + 3], idem_key) == id then
      redis.call('HDEL', KEYS[k + 3], idem_key)
    end
    redis.call('HINCRBY', KEYS[1], current[2], -1)
    redis.call('DEL', KEYS[k + 1])
    deleted[i] = 1
  end
end
return deleted
"""
)

RECORD_WORKER = """
-- KEYS: 1 workers
-- ARGV: 1 worker id  2 now_us
-- Moves the worker's last report forward, never back.
local seen = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > seen then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""

EVENTS_LEASE = """
-- KEYS: 1 outbox  2 outbox_due  3 outbox_owner
-- ARGV: 1 now_us  2 limit  3 until_us  4 owner
-- Leases the due events, earliest first: each moves to until_us, owned by owner. Returns
-- their payloads (the caller sets `due_at` in what it holds; the stored payload keeps the
-- last one written, and `due_at` is the score's).
local leased = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local payload = redis.call('HGET', KEYS[1], id)
  if payload then
    redis.call('ZADD', KEYS[2], ARGV[3], id)
    redis.call('HSET', KEYS[3], id, ARGV[4])
    leased[#leased + 1] = payload
  else
    redis.call('ZREM', KEYS[2], id)
  end
end
return leased
"""

EVENT_DONE = """
-- KEYS: 1 outbox  2 outbox_due  3 outbox_owner
-- ARGV: 1 event id  2 owner
-- Forgets the event if owner holds its lease. Returns 1, or 0 (not held).
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

EVENT_RETRY = """
-- KEYS: 1 outbox  2 outbox_due  3 outbox_owner
-- ARGV: 1 event id  2 owner  3 due_us  4 payload
-- Releases the event to be due at due_us, with its new payload, if owner holds its lease.
-- Returns 1, or 0 (not held).
if redis.call('HGET', KEYS[3], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
"""

FILL_TENANT_QUEUES = """
-- Puts jobs queued before the per-tenant queues existed (key schema 1) into them.
-- KEYS: 1 queue  2 backlogged (of one priority), then 1 per job: tenant_queue
-- ARGV: 2 per job: id  tenant
-- A job no longer in the queue (claimed or canceled since the caller read it) is skipped; one
-- still there keeps its score, its seq. Idempotent. Returns the number of jobs seen queued.
local seen = 0
for i = 1, #ARGV / 2 do
  local id, tenant = ARGV[2 * i - 1], ARGV[2 * i]
  local seq = redis.call('ZSCORE', KEYS[1], id)
  if seq then
    redis.call('ZADD', KEYS[2 + i], seq, id)
    redis.call('SADD', KEYS[2], tenant)
    seen = seen + 1
  end
end
return seen
"""

CACHE_GET = """
-- KEYS: 1 cache_entries(ns)  2 cache_used(ns)
-- ARGV: 1 key  2 now_us
-- Returns the entry's JSON, or nil.
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if entry then redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return entry
"""

CACHE_PUT = """
-- KEYS: 1 cache_entries(ns)  2 cache_used(ns)  3 cache_bytes
-- ARGV: 1 namespace  2 key  3 entry JSON  4 size_bytes  5 now_us
local old = redis.call('HGET', KEYS[1], ARGV[2])
if old then
  redis.call('HINCRBY', KEYS[3], ARGV[1], -cjson.decode(old)['size_bytes'])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[1], ARGV[4])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[2])
return 1
"""

CACHE_EVICT = """
-- KEYS: 1 cache_entries(ns)  2 cache_used(ns)  3 cache_bytes
-- ARGV: 1 namespace  2 max_bytes
-- Returns the dropped entries' JSON, least recently used first (ties: smallest key first,
-- the sorted set's own order).
local total = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
local dropped = {}
while total > tonumber(ARGV[2]) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #oldest == 0 then break end
  local entry = redis.call('HGET', KEYS[1], oldest[1])
  redis.call('ZREM', KEYS[2], oldest[1])
  if entry then
    redis.call('HDEL', KEYS[1], oldest[1])
    local size_bytes = cjson.decode(entry)['size_bytes']
    redis.call('HINCRBY', KEYS[3], ARGV[1], -size_bytes)
    total = total - size_bytes
    dropped[#dropped + 1] = entry
  end
end
return dropped
"""
