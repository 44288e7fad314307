package import AsynqRedis

// x/rate distributed semaphore: operations.md §5. Release is a plain
// `ZREM asynq:sema:<scope> <taskID>` (0 removed → "no token found for task").

extension BrokerScripts {
    /// operations.md **5** (acquire) — drop expired tokens (deadline < now), then take a
    /// token for the task when fewer than `max` are held. The token's score is the
    /// task's context deadline. Single key without a hash tag.
    ///
    /// - KEYS: 1 `asynq:sema:<scope>`
    /// - ARGV: 1 max tokens, 2 now (Unix s), 3 deadline (Unix s), 4 task ID
    /// - Returns: `1` acquired · `0` no token available.
    package static let acquireSemaphoreToken = RedisScript(
        #"""
        redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[2]) - 1)
        if redis.call("ZCARD", KEYS[1]) < tonumber(ARGV[1]) then
          redis.call("ZADD", KEYS[1], ARGV[3], ARGV[4])
          return 1
        end
        return 0
        """#)
}
