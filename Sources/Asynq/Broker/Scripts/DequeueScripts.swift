package import AsynqRedis

// Worker dequeue: operations.md §2.1, and the batched form used by the Swift
// processor to fill several free worker slots with one round trip.

extension BrokerScripts {
    /// operations.md **2.1** — move the oldest pending task of one queue to `active`.
    ///
    /// Steps: paused → nil; `RPOPLPUSH pending active` (nil when empty); `HSET state
    /// active`; `HDEL pending_since`; `ZADD lease <expiry> id`; return the message.
    ///
    /// The task key is derived in the script as `ARGV[2] .. id` (same `{q}` slot as
    /// the declared KEYS).
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:paused`, 3 `asynq:{q}:active`, 4 `asynq:{q}:lease`
    /// - ARGV: 1 lease expiry (Unix s, `now + 30`), 2 task-key prefix `asynq:{q}:t:`
    /// - Returns: the encoded TaskMessage; nil when the queue is paused or empty.
    ///   Also nil when the popped ID has no task hash (a dangling ID) — as in Go the ID
    ///   still moves to `active`/`lease` and a hash holding only `state` is created.
    package static let dequeue = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[2]) == 1 then
          return nil
        end
        local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
        if not id then
          return nil
        end
        local taskKey = ARGV[2] .. id
        redis.call("HSET", taskKey, "state", "active")
        redis.call("HDEL", taskKey, "pending_since")
        redis.call("ZADD", KEYS[4], ARGV[1], id)
        return redis.call("HGET", taskKey, "msg")
        """#)

    /// Batched **2.1** — up to `N` consecutive single dequeues of one queue in one call.
    ///
    /// Each task gets exactly what ``dequeue`` gives it: moved from the right of
    /// `pending` to the left of `active`, `state = active`, `pending_since` removed,
    /// lease score = ARGV 1 (the same expiry for the whole batch). Stops early when
    /// `pending` runs out. Does nothing when the queue is paused.
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:paused`, 3 `asynq:{q}:active`, 4 `asynq:{q}:lease`
    /// - ARGV: 1 lease expiry (Unix s), 2 task-key prefix `asynq:{q}:t:`, 3 `N` (≥ 1)
    /// - Returns: an array of encoded TaskMessages in dequeue order (oldest first),
    ///   empty when paused or nothing pending. An element is nil for a dangling ID
    ///   (see ``dequeue``); callers skip it.
    package static let dequeueBatch = RedisScript(
        #"""
        local out = {}
        if redis.call("EXISTS", KEYS[2]) == 1 then
          return out
        end
        local limit = tonumber(ARGV[3])
        for _ = 1, limit do
          local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[3])
          if not id then
            break
          end
          local taskKey = ARGV[2] .. id
          redis.call("HSET", taskKey, "state", "active")
          redis.call("HDEL", taskKey, "pending_since")
          redis.call("ZADD", KEYS[4], ARGV[1], id)
          out[#out + 1] = redis.call("HGET", taskKey, "msg")
        end
        return out
        """#)
}
