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
