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

    /// operations.md **2.7** plus a wake-up signal, with **every key declared**: the effects
    /// and result of ``forward`` for the due tasks the caller read beforehand (`ZRANGEBYSCORE
    /// <source> -inf <now> LIMIT 0 100`, then `HGET <task> group` of each), plus `PUBLISH
    /// <channel> <number moved to pending>` when one of its pushes found `pending` empty.
    ///
    /// Every task hash and group zset touched is in `KEYS`, so that during a Redis Cluster slot
    /// migration Redis itself refuses the call (`ASK`, `TRYAGAIN`) unless all of them are on the
    /// node that runs it. Built from a prefix instead, a task hash not migrated yet would be
    /// recreated empty on the importing node (its ID pushed to `pending` without a message, the
    /// real hash then refused by `MIGRATE` with `BUSYKEY`). A task no longer due (moved by another
    /// server meanwhile) or whose `group` differs from the one read is left alone.
    ///
    /// - KEYS: 1 source zset (`asynq:{q}:scheduled` or `asynq:{q}:retry`), 2 `asynq:{q}:pending`,
    ///   then `asynq:{q}:t:<id>` of each task in ARGV order, then the distinct group zsets
    ///   `asynq:{q}:g:<group>` of those tasks
    /// - ARGV: 1 now (Unix s), 2 now (Unix ns), 3 channel `asynq:{q}:notify`, 4 group-key
    ///   prefix `asynq:{q}:g:`, then per task: ID, group read (`""` for none)
    /// - Returns: the number of tasks moved (0 … number of tasks given).
    package static let forwardNotify = RedisScript(
        #"""
        local moved = 0
        local pushed = 0
        local wasEmpty = false
        for i = 5, #ARGV, 2 do
          local id = ARGV[i]
          local taskKey = KEYS[3 + (i - 5) / 2]
          local score = redis.call("ZSCORE", KEYS[1], id)
          local group = redis.call("HGET", taskKey, "group") or ""
          if score and tonumber(score) <= tonumber(ARGV[1]) and group == ARGV[i + 1] then
            if group ~= "" then
              redis.call("ZADD", ARGV[4] .. group, ARGV[1], id)
              redis.call("ZREM", KEYS[1], id)
              redis.call("HSET", taskKey, "state", "aggregating")
            else
              if redis.call("LPUSH", KEYS[2], id) == 1 then
                wasEmpty = true
              end
              pushed = pushed + 1
              redis.call("ZREM", KEYS[1], id)
              redis.call("HSET", taskKey, "state", "pending", "pending_since", ARGV[2])
            end
            moved = moved + 1
          end
        end
        if wasEmpty then
          redis.call("PUBLISH", ARGV[3], pushed)
        end
        return moved
        """#)
}
