package import AsynqRedis

// Janitor: operations.md §2.10.

extension BrokerScripts {
    /// operations.md **2.10** — delete completed tasks whose retention expired
    /// (score ≤ now), at most one batch per call. The caller repeats until 0.
    ///
    /// Task keys are `ARGV[2] .. id` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:completed`
    /// - ARGV: 1 now (Unix s), 2 task-key prefix `asynq:{q}:t:`, 3 batch size (default 100)
    /// - Returns: the number of tasks deleted.
    package static let deleteExpiredCompleted = RedisScript(
        #"""
        local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, tonumber(ARGV[3]))
        for _, id in ipairs(ids) do
          redis.call("DEL", ARGV[2] .. id)
          redis.call("ZREM", KEYS[1], id)
        end
        return #ids
        """#)
}
