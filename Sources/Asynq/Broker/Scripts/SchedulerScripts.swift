package import AsynqRedis

// Scheduler writes: operations.md §2.20. Single-key scripts on global scheduler
// keys. The rest of 2.20 is plain commands: `ZADD asynq:schedulers <exp> <key>`
// before ``BrokerScripts/writeSchedulerEntries``; at shutdown `ZREM
// asynq:schedulers <key>`, `DEL <key>` and `DEL asynq:scheduler_history:<entryID>`.

extension BrokerScripts {
    /// operations.md **2.20** (entries heartbeat) — rebuild the scheduler's entry list:
    /// `DEL`, then `LPUSH` each entry in the given order (so the list ends up reversed),
    /// then `EXPIRE`.
    ///
    /// - KEYS: 1 `asynq:schedulers:{<host>:<pid>:<uuid>}`
    /// - ARGV: 1 TTL s (2 × heartbeat interval), then one encoded SchedulerEntry per entry
    /// - Returns: status `OK`.
    package static let writeSchedulerEntries = RedisScript(
        #"""
        redis.call("DEL", KEYS[1])
        for i = 2, #ARGV do
          redis.call("LPUSH", KEYS[1], ARGV[i])
        end
        redis.call("EXPIRE", KEYS[1], ARGV[1])
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.20** (record enqueue event) — keep the newest `max − 1` events,
    /// then add this one (so at most `max` = 1000 events remain).
    ///
    /// - KEYS: 1 `asynq:scheduler_history:<entryID>`
    /// - ARGV: 1 enqueued-at (Unix s), 2 encoded SchedulerEnqueueEvent, 3 max events (`1000`)
    /// - Returns: status `OK`.
    package static let recordSchedulerEnqueueEvent = RedisScript(
        #"""
        redis.call("ZREMRANGEBYRANK", KEYS[1], 0, -tonumber(ARGV[3]))
        redis.call("ZADD", KEYS[1], ARGV[1], ARGV[2])
        return redis.status_reply("OK")
        """#)
}

// Scheduler coordination: our addition, not in Go asynq (docs/PERIODIC_TASKS.md). One hash per
// cron entry, `asynq:{<queue>}:cron:<entry hash>`, fields `fire` (Unix s of the newest occurrence
// claimed) and `scheduler` (who claimed it). It lives in the queue's hash slot, so it works on
// Redis Cluster like every other per-queue key, and no Go reader looks at it.

extension BrokerScripts {
    /// Claims one occurrence of a cron entry for this scheduler: succeeds only when no
    /// scheduler claimed this occurrence or a later one (a compare-and-set on a value that only
    /// grows), so replicas firing the same entry enqueue each occurrence once.
    ///
    /// - KEYS: 1 `asynq:{<queue>}:cron:<entry hash>`
    /// - ARGV: 1 occurrence (Unix s), 2 scheduler ID, 3 TTL s
    /// - Returns: 1 claimed · 0 already claimed (this occurrence or a later one).
    package static let claimSchedulerOccurrence = RedisScript(
        #"""
        local last = tonumber(redis.call("HGET", KEYS[1], "fire"))
        if last and last >= tonumber(ARGV[1]) then
          return 0
        end
        redis.call("HSET", KEYS[1], "fire", ARGV[1], "scheduler", ARGV[2])
        redis.call("EXPIRE", KEYS[1], ARGV[3])
        return 1
        """#)

    /// Reads the newest claimed occurrence of a cron entry (for the `runLatest` misfire policy);
    /// when the entry has no record yet, records the baseline (the time the scheduler started
    /// tracking it) so that occurrences missed from now on can be recognised later.
    ///
    /// - KEYS: 1 `asynq:{<queue>}:cron:<entry hash>`
    /// - ARGV: 1 baseline (Unix s), 2 scheduler ID, 3 TTL s
    /// - Returns: the newest claimed occurrence (bulk string, Unix s) · nil when the baseline
    ///   was just written.
    package static let schedulerLastOccurrence = RedisScript(
        #"""
        local last = redis.call("HGET", KEYS[1], "fire")
        if last then
          return last
        end
        redis.call("HSET", KEYS[1], "fire", ARGV[1], "scheduler", ARGV[2])
        redis.call("EXPIRE", KEYS[1], ARGV[3])
        return false
        """#)
}
