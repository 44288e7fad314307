package import AsynqRedis

// Janitor: operations.md §2.10.

extension BrokerScripts {
    /// operations.md **2.10** — delete completed tasks whose retention expired, for the IDs
    /// the caller read beforehand (`ZRANGEBYSCORE <completed> -inf <now> LIMIT 0 <batch>`);
    /// the caller repeats until 0. An ID no longer due or no longer there is skipped.
    ///
    /// The task hashes are declared in `KEYS`: during a Redis Cluster slot migration Redis
    /// refuses the call (`ASK`, `TRYAGAIN`) unless they are all on the node that runs it (built
    /// from a prefix, a hash not migrated yet would be left behind, never deleted).
    ///
    /// - KEYS: 1 `asynq:{q}:completed`, then `asynq:{q}:t:<id>` of each ID in ARGV order
    /// - ARGV: 1 now (Unix s), then the IDs
    /// - Returns: the number of tasks deleted.
    package static let deleteExpiredCompleted = RedisScript(
        #"""
        local deleted = 0
        for i = 2, #ARGV do
          local score = redis.call("ZSCORE", KEYS[1], ARGV[i])
          if score and tonumber(score) <= tonumber(ARGV[1]) then
            redis.call("DEL", KEYS[i])
            redis.call("ZREM", KEYS[1], ARGV[i])
            deleted = deleted + 1
          end
        end
        return deleted
        """#)
}
