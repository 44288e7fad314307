package import AsynqRedis

// Aggregator: operations.md §2.12–2.14 (2.15 is in RecoveryScripts.swift).
// Listing the groups of a queue (2.16) is a plain `SMEMBERS asynq:{q}:groups`.

extension BrokerScripts {
    /// operations.md **2.12** — decide whether a group is ready and, if so, move a
    /// batch of its members (oldest first, original scores) into a fresh aggregation
    /// set and register that set in `aggregation_sets` with the set deadline.
    ///
    /// Rules, in order: empty group → 0. Size: `maxSize ≠ 0` and `size ≥ maxSize` →
    /// move the `maxSize` oldest, drop the group name from `groups` when
    /// `size == maxSize`. Max delay: `maxDelay ≠ 0` and oldest score ≤ `t − maxDelay`.
    /// Grace: newest score ≤ `t − grace`. The last two move the members at ranks
    /// `0 … maxSize−1` (everything when `maxSize` is 0) and drop the group name when
    /// `maxSize == 0` or `size ≤ maxSize`.
    ///
    /// - KEYS: 1 `asynq:{q}:g:<group>`, 2 `asynq:{q}:g:<group>:<setID>` (fresh UUIDv4),
    ///   3 `asynq:{q}:aggregation_sets`, 4 `asynq:{q}:groups`
    /// - ARGV: 1 max size (0 = unlimited), 2 max delay s (0 = unlimited), 3 grace period s,
    ///   4 set deadline (Unix s, now + 120), 5 tick time `t` (Unix s), 6 group name
    /// - Returns: `1` a set was created (use `setID`) · `0` nothing to do.
    package static let checkAggregation = RedisScript(
        #"""
        local size = redis.call("ZCARD", KEYS[1])
        if size == 0 then
          return 0
        end
        local maxSize = tonumber(ARGV[1])
        local maxDelay = tonumber(ARGV[2])
        local grace = tonumber(ARGV[3])
        local tick = tonumber(ARGV[5])
        local function moveToSet()
          local last = maxSize - 1
          local members = redis.call("ZRANGE", KEYS[1], 0, last, "WITHSCORES")
          for i = 1, #members, 2 do
            redis.call("ZADD", KEYS[2], members[i + 1], members[i])
          end
          redis.call("ZREMRANGEBYRANK", KEYS[1], 0, last)
          redis.call("ZADD", KEYS[3], ARGV[4], KEYS[2])
        end
        if maxSize ~= 0 and size >= maxSize then
          moveToSet()
          if size == maxSize then
            redis.call("SREM", KEYS[4], ARGV[6])
          end
          return 1
        end
        local ready = false
        if maxDelay ~= 0 then
          local oldest = redis.call("ZRANGE", KEYS[1], 0, 0, "WITHSCORES")
          ready = tonumber(oldest[2]) <= tick - maxDelay
        end
        if not ready then
          local newest = redis.call("ZREVRANGE", KEYS[1], 0, 0, "WITHSCORES")
          ready = tonumber(newest[2]) <= tick - grace
        end
        if not ready then
          return 0
        end
        moveToSet()
        if maxSize == 0 or size <= maxSize then
          redis.call("SREM", KEYS[4], ARGV[6])
        end
        return 1
        """#)

    /// operations.md **2.13** — the messages of an aggregation set's members, in set
    /// order (ascending score). Read-only. The set deadline is then read with a plain
    /// `ZSCORE asynq:{q}:aggregation_sets <set key>`.
    ///
    /// Task keys are `ARGV[1] .. id` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:g:<group>:<setID>`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`
    /// - Returns: array of encoded TaskMessages (nil element for a member without hash).
    package static let readAggregationSet = RedisScript(
        #"""
        local out = {}
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          out[#out + 1] = redis.call("HGET", ARGV[1] .. id, "msg")
        end
        return out
        """#)

    /// operations.md **2.14** — after the aggregated task was enqueued: delete the
    /// member task hashes, the set, and its `aggregation_sets` entry. Unique locks of
    /// the members are left to expire.
    ///
    /// Task keys are `ARGV[1] .. id` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:g:<group>:<setID>`, 2 `asynq:{q}:aggregation_sets`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`
    /// - Returns: status `OK`.
    package static let deleteAggregationSet = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("DEL", ARGV[1] .. id)
        end
        redis.call("DEL", KEYS[1])
        redis.call("ZREM", KEYS[2], KEYS[1])
        return redis.status_reply("OK")
        """#)
}
