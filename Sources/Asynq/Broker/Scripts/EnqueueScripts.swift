package import AsynqRedis

// Client-side writes: operations.md §1.1–1.7.
//
// `asynq:queues` (1.0) is a global key: the client registers the queue with a
// plain `SADD asynq:queues <qname>` before running any of these scripts.
// Batch enqueue (1.7) pipelines `EVALSHA` of ``BrokerScripts/enqueue`` (or
// ``BrokerScripts/enqueueNotify``) and ``BrokerScripts/schedule`` after
// preloading them; it needs no script of its own.

extension BrokerScripts {
    /// operations.md **1.1** — enqueue a task for immediate processing (not unique).
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:pending`
    /// - ARGV: 1 encoded TaskMessage, 2 task ID, 3 now (Unix **nanoseconds**, becomes `pending_since`)
    /// - Returns: `1` created · `0` a task with this ID already exists (`ErrTaskIDConflict`); nothing written.
    package static let enqueue = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
        redis.call("LPUSH", KEYS[2], ARGV[2])
        return 1
        """#)

    /// operations.md **1.1** plus a wake-up signal — same effects and result codes as
    /// ``enqueue``, then `PUBLISH <channel> <task ID>` when the push made the pending
    /// list go from empty to one element (i.e. idle workers may be sleeping).
    ///
    /// Go clients use the plain script and publish nothing; Swift workers still find
    /// those tasks by polling. The channel is not a key (Pub/Sub channels have no slot;
    /// in a cluster `PUBLISH` is broadcast), so it travels in ARGV.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:pending`
    /// - ARGV: 1 encoded TaskMessage, 2 task ID, 3 now (Unix ns), 4 channel `asynq:{q}:notify`
    /// - Returns: `1` created · `0` ID conflict (nothing written, nothing published).
    package static let enqueueNotify = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "pending", "pending_since", ARGV[3])
        if redis.call("LPUSH", KEYS[2], ARGV[2]) == 1 then
          redis.call("PUBLISH", ARGV[4], ARGV[2])
        end
        return 1
        """#)

    /// operations.md **1.2** — enqueue a unique task for immediate processing.
    ///
    /// - KEYS: 1 unique-lock key `asynq:{q}:unique:<type>:<md5>`, 2 `asynq:{q}:t:<id>`, 3 `asynq:{q}:pending`
    /// - ARGV: 1 task ID, 2 lock TTL (whole seconds, ≥ 1), 3 encoded TaskMessage, 4 now (Unix ns)
    /// - Returns: `1` created · `-1` lock already held (`ErrDuplicateTask`) · `0` ID conflict
    ///   (`ErrTaskIDConflict`; the lock taken in step 1 is kept, as in Go).
    package static let enqueueUnique = RedisScript(
        #"""
        if not redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
          return -1
        end
        if redis.call("EXISTS", KEYS[2]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[2], "msg", ARGV[3], "state", "pending", "pending_since", ARGV[4],
          "unique_key", KEYS[1])
        redis.call("LPUSH", KEYS[3], ARGV[1])
        return 1
        """#)

    /// operations.md **1.2** plus the wake-up signal of ``enqueueNotify``
    /// (`PUBLISH <channel> <task ID>` when the pending list was empty before the push).
    ///
    /// - KEYS: 1 unique-lock key, 2 `asynq:{q}:t:<id>`, 3 `asynq:{q}:pending`
    /// - ARGV: 1 task ID, 2 lock TTL s, 3 encoded TaskMessage, 4 now (Unix ns), 5 channel `asynq:{q}:notify`
    /// - Returns: as ``enqueueUnique``.
    package static let enqueueUniqueNotify = RedisScript(
        #"""
        if not redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
          return -1
        end
        if redis.call("EXISTS", KEYS[2]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[2], "msg", ARGV[3], "state", "pending", "pending_since", ARGV[4],
          "unique_key", KEYS[1])
        if redis.call("LPUSH", KEYS[3], ARGV[1]) == 1 then
          redis.call("PUBLISH", ARGV[5], ARGV[1])
        end
        return 1
        """#)

    /// operations.md **1.3** — schedule a task for a future time (not unique).
    /// A group option is ignored on this path (no `group` field is written).
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:scheduled`
    /// - ARGV: 1 encoded TaskMessage, 2 process-at (Unix s), 3 task ID
    /// - Returns: `1` created · `0` ID conflict.
    package static let schedule = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "scheduled")
        redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
        return 1
        """#)

    /// operations.md **1.4** — schedule a unique task.
    ///
    /// - KEYS: 1 unique-lock key, 2 `asynq:{q}:t:<id>`, 3 `asynq:{q}:scheduled`
    /// - ARGV: 1 task ID, 2 lock TTL = whole seconds of `(processAt + unique) − now`,
    ///   3 process-at (Unix s), 4 encoded TaskMessage
    /// - Returns: `1` created · `-1` duplicate · `0` ID conflict (lock kept).
    package static let scheduleUnique = RedisScript(
        #"""
        if not redis.call("SET", KEYS[1], ARGV[1], "NX", "EX", ARGV[2]) then
          return -1
        end
        if redis.call("EXISTS", KEYS[2]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[2], "msg", ARGV[4], "state", "scheduled", "unique_key", KEYS[1])
        redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1])
        return 1
        """#)

    /// operations.md **1.5** — add a task to a group for aggregation.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:g:<group>`, 3 `asynq:{q}:groups`
    /// - ARGV: 1 encoded TaskMessage, 2 task ID, 3 now (Unix s), 4 group name
    /// - Returns: `1` created · `0` ID conflict.
    package static let addToGroup = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
        redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
        redis.call("SADD", KEYS[3], ARGV[4])
        return 1
        """#)

    /// operations.md **1.6** — add a unique task to a group. As in Go, the task hash
    /// gets **no** `unique_key` field (only the encoded message carries the lock name).
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:g:<group>`, 3 `asynq:{q}:groups`, 4 unique-lock key
    /// - ARGV: 1 encoded TaskMessage, 2 task ID, 3 now (Unix s), 4 group name, 5 lock TTL s
    /// - Returns: `1` created · `-1` duplicate · `0` ID conflict (lock kept).
    package static let addToGroupUnique = RedisScript(
        #"""
        if not redis.call("SET", KEYS[4], ARGV[2], "NX", "EX", ARGV[5]) then
          return -1
        end
        if redis.call("EXISTS", KEYS[1]) == 1 then
          return 0
        end
        redis.call("HSET", KEYS[1], "msg", ARGV[1], "state", "aggregating", "group", ARGV[4])
        redis.call("ZADD", KEYS[2], ARGV[3], ARGV[2])
        redis.call("SADD", KEYS[3], ARGV[4])
        return 1
        """#)
}
