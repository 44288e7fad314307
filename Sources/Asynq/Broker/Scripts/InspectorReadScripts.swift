package import AsynqRedis

// Inspector reads: operations.md §3. Plain commands used around these scripts:
// `SISMEMBER asynq:queues <q>` (existence check), `SMEMBERS asynq:queues` (3.1),
// `GET`/`HVALS`/`LRANGE` of the keys returned by ``BrokerScripts/listLiveMembers``
// and `ZREVRANGE asynq:scheduler_history:<entryID>` (3.7), `CLUSTER KEYSLOT`,
// `CLUSTER SLOTS`, `INFO`, `CLUSTER INFO` (3.8). Active listing (3.6) marks
// orphans with ``BrokerScripts/listLeaseExpired`` (cutoff = now).

extension BrokerScripts {
    /// operations.md **3.2** — queue counts and counters in one read.
    ///
    /// Group zsets are `ARGV[2] .. name` for every member of `groups`, and the oldest
    /// pending task's key is `ARGV[1] .. id` (all in the queue's `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:active`, 3 `asynq:{q}:scheduled`,
    ///   4 `asynq:{q}:retry`, 5 `asynq:{q}:archived`, 6 `asynq:{q}:completed`,
    ///   7 `asynq:{q}:processed:<today>`, 8 `asynq:{q}:failed:<today>`, 9 `asynq:{q}:processed`,
    ///   10 `asynq:{q}:failed`, 11 `asynq:{q}:paused`, 12 `asynq:{q}:groups`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`, 2 group-key prefix `asynq:{q}:g:`
    /// - Returns: a 14-element array, in this order:
    ///   1 pending (LLEN), 2 active (LLEN), 3 scheduled, 4 retry, 5 archived, 6 completed
    ///   (ZCARD) — integers; 7 processed today, 8 failed today, 9 processed total,
    ///   10 failed total — **bulk strings** (`"0"` when missing; totals may exceed 2^53);
    ///   11 paused (`EXISTS`, integer); 12 `pending_since` (Unix ns) of the next task to
    ///   be dequeued — bulk string, `"0"` when pending is empty or the field is absent;
    ///   13 number of group names; 14 aggregating tasks (Σ ZCARD of the groups).
    package static let currentStats = RedisScript(
        #"""
        local out = {}
        out[1] = redis.call("LLEN", KEYS[1])
        out[2] = redis.call("LLEN", KEYS[2])
        for i = 3, 6 do
          out[i] = redis.call("ZCARD", KEYS[i])
        end
        for i = 7, 10 do
          out[i] = redis.call("GET", KEYS[i]) or "0"
        end
        out[11] = redis.call("EXISTS", KEYS[11])
        local since = "0"
        local head = redis.call("LRANGE", KEYS[1], -1, -1)
        if #head > 0 then
          since = redis.call("HGET", ARGV[1] .. head[1], "pending_since") or "0"
        end
        out[12] = since
        local groups = redis.call("SMEMBERS", KEYS[12])
        local aggregating = 0
        for _, name in ipairs(groups) do
          aggregating = aggregating + redis.call("ZCARD", ARGV[2] .. name)
        end
        out[13] = #groups
        out[14] = aggregating
        return out
        """#)

    /// operations.md **3.2** (memory) — estimated memory of a queue's tasks, by sampling.
    ///
    /// For each list / zset: sample the first `sample` IDs, average `MEMORY USAGE` of
    /// their task hashes (a missing hash counts as 0) over the sampled IDs, multiply by
    /// the container's length, add `MEMORY USAGE` of the container itself. Groups: the
    /// total size of all groups times the average hash usage of up to `sample` IDs from
    /// each of the first `groupSample` group names (SMEMBERS order), when any were
    /// sampled. Task keys `ARGV[1] .. id`, group keys `ARGV[4] .. name` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:active`, 2 `asynq:{q}:pending`, 3 `asynq:{q}:scheduled`,
    ///   4 `asynq:{q}:retry`, 5 `asynq:{q}:archived`, 6 `asynq:{q}:completed`, 7 `asynq:{q}:groups`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`, 2 sample size (20), 3 group sample (5),
    ///   4 group-key prefix `asynq:{q}:g:`
    /// - Returns: bytes (integer; Redis truncates the Lua number) · error when the
    ///   sample size is not positive.
    package static let memoryUsage = RedisScript(
        #"""
        local sample = tonumber(ARGV[2])
        if not sample or sample <= 0 then
          return redis.error_reply("sample size must be a positive number")
        end
        local function usage(key)
          return redis.call("MEMORY", "USAGE", key) or 0
        end
        local function estimate(ids, count)
          if #ids == 0 then
            return 0
          end
          local sum = 0
          for _, id in ipairs(ids) do
            sum = sum + usage(ARGV[1] .. id)
          end
          return sum / #ids * count
        end
        local total = 0
        for i = 1, 2 do
          local ids = redis.call("LRANGE", KEYS[i], 0, sample - 1)
          total = total + estimate(ids, redis.call("LLEN", KEYS[i])) + usage(KEYS[i])
        end
        for i = 3, 6 do
          local ids = redis.call("ZRANGE", KEYS[i], 0, sample - 1)
          total = total + estimate(ids, redis.call("ZCARD", KEYS[i])) + usage(KEYS[i])
        end
        local groups = redis.call("SMEMBERS", KEYS[7])
        local grouped = 0
        for _, name in ipairs(groups) do
          grouped = grouped + redis.call("ZCARD", ARGV[4] .. name)
        end
        local sum, sampled = 0, 0
        for i = 1, math.min(#groups, tonumber(ARGV[3])) do
          local ids = redis.call("ZRANGE", ARGV[4] .. groups[i], 0, sample - 1)
          for _, id in ipairs(ids) do
            sum = sum + usage(ARGV[1] .. id)
            sampled = sampled + 1
          end
        end
        if sampled > 0 then
          total = total + sum / sampled * grouped
        end
        return total
        """#)

    /// operations.md **3.3** — daily processed/failed counters for `n` days.
    ///
    /// - KEYS: `2n` keys, for day `i = 0 … n−1` (today first): `asynq:{q}:processed:<date i>`,
    ///   `asynq:{q}:failed:<date i>`
    /// - ARGV: none
    /// - Returns: `2n` bulk strings in KEYS order (`"0"` for a missing key).
    package static let dailyStats = RedisScript(
        #"""
        local out = {}
        for i = 1, #KEYS do
          out[i] = redis.call("GET", KEYS[i]) or "0"
        end
        return out
        """#)

    /// operations.md **3.4** — one task's message, state, next process time and result.
    /// Go builds `asynq:{q}:<state>` inside its script; the two zsets that can be read
    /// are passed as KEYS here instead.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:scheduled`, 3 `asynq:{q}:retry`
    /// - ARGV: 1 task ID, 2 now (Unix s)
    /// - Returns: `[msg, state, nextProcessAt, result]`; `nextProcessAt` is an integer
    ///   (zset score for scheduled/retry, now for pending, else 0); `result` is nil when
    ///   absent · error `NOT FOUND` when the task hash does not exist.
    package static let taskInfo = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        local fields = redis.call("HMGET", KEYS[1], "msg", "state", "result")
        local state = fields[2]
        local nextAt = 0
        if state == "scheduled" then
          nextAt = tonumber(redis.call("ZSCORE", KEYS[2], ARGV[1]) or 0)
        elseif state == "retry" then
          nextAt = tonumber(redis.call("ZSCORE", KEYS[3], ARGV[1]) or 0)
        elseif state == "pending" then
          nextAt = tonumber(ARGV[2])
        end
        return {fields[1], state, nextAt, fields[3]}
        """#)

    /// operations.md **3.5** — every group of a queue with its size, in one read.
    /// Group keys are `ARGV[1] .. name` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:groups`
    /// - ARGV: 1 group-key prefix `asynq:{q}:g:`
    /// - Returns: flat array `name1, size1, name2, size2, …` (sizes are integers).
    package static let groupStats = RedisScript(
        #"""
        local out = {}
        for _, name in ipairs(redis.call("SMEMBERS", KEYS[1])) do
          out[#out + 1] = name
          out[#out + 1] = redis.call("ZCARD", ARGV[1] .. name)
        end
        return out
        """#)

    /// operations.md **3.6** (pending / active page) — `LRANGE` the given range and read
    /// each task's message and result. For page `p` of size `s` pass
    /// `start = −(s·p + s)`, `stop = −(s·p) − 1`, then **reverse** the entries so the
    /// next task to run comes first. Task keys are `ARGV[3] .. id` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:pending` or `asynq:{q}:active`
    /// - ARGV: 1 LRANGE start, 2 LRANGE stop, 3 task-key prefix `asynq:{q}:t:`
    /// - Returns: flat array `msg, result, msg, result, …` in list order (either may be nil).
    package static let listTasksInList = RedisScript(
        #"""
        local out = {}
        for _, id in ipairs(redis.call("LRANGE", KEYS[1], ARGV[1], ARGV[2])) do
          local fields = redis.call("HMGET", ARGV[3] .. id, "msg", "result")
          out[#out + 1] = fields[1]
          out[#out + 1] = fields[2]
        end
        return out
        """#)

    /// operations.md **3.6** (zset page: scheduled, retry, archived, completed, or a
    /// group `asynq:{q}:g:<group>`) — `ZRANGE start stop WITHSCORES`, ascending score,
    /// with each task's message and result. Task keys are `ARGV[3] .. id` (same slot).
    ///
    /// - KEYS: 1 the zset
    /// - ARGV: 1 start (`size × page`), 2 stop (`start + size − 1`), 3 task-key prefix `asynq:{q}:t:`
    /// - Returns: flat array `msg, result, score, …` (msg/result may be nil; score is the
    ///   bulk string Redis returns).
    package static let listTasksInZSet = RedisScript(
        #"""
        local out = {}
        local entries = redis.call("ZRANGE", KEYS[1], ARGV[1], ARGV[2], "WITHSCORES")
        for i = 1, #entries, 2 do
          local fields = redis.call("HMGET", ARGV[3] .. entries[i], "msg", "result")
          out[#out + 1] = fields[1]
          out[#out + 1] = fields[2]
          out[#out + 1] = entries[i + 1]
        end
        return out
        """#)
}
