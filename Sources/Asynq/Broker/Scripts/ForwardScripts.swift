package import AsynqRedis

// Forwarder: operations.md §2.7. Run for `scheduled`, then `retry`, of every
// server queue, repeating each until the script returns 0.

extension BrokerScripts {
    /// operations.md **2.7** — move up to 100 due tasks from a `scheduled` or `retry`
    /// zset. A task whose hash has a non-empty `group` field goes back into its group
    /// zset as `aggregating` (the group name is **not** re-added to `groups`); any
    /// other task is `LPUSH`ed to `pending` with `state pending` and `pending_since`.
    ///
    /// Task keys are `ARGV[2] .. id`, group keys `ARGV[4] .. group` — both built in
    /// the script, both in the queue's `{q}` slot.
    ///
    /// - KEYS: 1 source zset (`asynq:{q}:scheduled` or `asynq:{q}:retry`), 2 `asynq:{q}:pending`
    /// - ARGV: 1 now (Unix s), 2 task-key prefix `asynq:{q}:t:`, 3 now (Unix ns),
    ///   4 group-key prefix `asynq:{q}:g:`
    /// - Returns: the number of tasks moved (0 … 100).
    package static let forward = RedisScript(
        #"""
        local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 100)
        for _, id in ipairs(ids) do
          local taskKey = ARGV[2] .. id
          local group = redis.call("HGET", taskKey, "group")
          if group and group ~= "" then
            redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
            redis.call("ZREM", KEYS[1], id)
            redis.call("HSET", taskKey, "state", "aggregating")
          else
            redis.call("LPUSH", KEYS[2], id)
            redis.call("ZREM", KEYS[1], id)
            redis.call("HSET", taskKey, "state", "pending", "pending_since", ARGV[3])
          end
        end
        return #ids
        """#)

    /// operations.md **2.7** plus a wake-up signal: same effects and result as
    /// ``forward``, then `PUBLISH <channel> <number moved to pending>` when one of
    /// its pushes found `pending` empty.
    ///
    /// - KEYS: 1 source zset, 2 `asynq:{q}:pending`
    /// - ARGV: 1 now (Unix s), 2 `asynq:{q}:t:`, 3 now (Unix ns), 4 `asynq:{q}:g:`,
    ///   5 channel `asynq:{q}:notify`
    /// - Returns: the number of tasks moved (0 … 100).
    package static let forwardNotify = RedisScript(
        #"""
        local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, 100)
        local pushed = 0
        local wasEmpty = false
        for _, id in ipairs(ids) do
          local taskKey = ARGV[2] .. id
          local group = redis.call("HGET", taskKey, "group")
          if group and group ~= "" then
            redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
            redis.call("ZREM", KEYS[1], id)
            redis.call("HSET", taskKey, "state", "aggregating")
          else
            if redis.call("LPUSH", KEYS[2], id) == 1 then
              wasEmpty = true
            end
            pushed = pushed + 1
            redis.call("ZREM", KEYS[1], id)
            redis.call("HSET", taskKey, "state", "pending", "pending_since", ARGV[3])
          end
        end
        if wasEmpty then
          redis.call("PUBLISH", ARGV[5], pushed)
        end
        return #ids
        """#)
}
