package import AsynqRedis

// Task outcomes reported by a worker: operations.md §2.2–2.6.
//
// Batched acknowledgement pipelines these single-task scripts (`EVALSHA` after a
// preload); there is no batch script. Each script returns the error reply
// `NOT FOUND` when the task is no longer in `active` / `lease` (e.g. the
// recoverer already moved it); writes made before that point stay, as in Go.
//
// Counter bumps ("bump processed" in operations.md): `INCR` the daily key and
// `EXPIREAT` it to `statsExp` when the `INCR` returned 1; for the totals, `SET`
// to 1 when the current value is exactly MAXI (string comparison), else `INCR`.

extension BrokerScripts {
    /// operations.md **2.2** — success without retention (also RevokeTask): delete the task.
    ///
    /// - KEYS: 1 `asynq:{q}:active`, 2 `asynq:{q}:lease`, 3 `asynq:{q}:t:<id>`,
    ///   4 `asynq:{q}:processed:<YYYY-MM-DD>`, 5 `asynq:{q}:processed`
    /// - ARGV: 1 task ID, 2 `statsExp` (Unix s, now + 90 days), 3 MAXI `9223372036854775807`
    /// - Returns: status `OK`; error `NOT FOUND` if the ID is not in active, not in lease,
    ///   or the hash is missing.
    package static let done = RedisScript(
        #"""
        if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("DEL", KEYS[3]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("INCR", KEYS[4]) == 1 then
          redis.call("EXPIREAT", KEYS[4], ARGV[2])
        end
        if redis.call("GET", KEYS[5]) == ARGV[3] then
          redis.call("SET", KEYS[5], 1)
        else
          redis.call("INCR", KEYS[5])
        end
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.2**, variant for a task whose message has a `unique_key`:
    /// ``done`` plus releasing the lock when it still holds this task's ID.
    ///
    /// - KEYS: 1 `asynq:{q}:active`, 2 `asynq:{q}:lease`, 3 `asynq:{q}:t:<id>`,
    ///   4 `asynq:{q}:processed:<date>`, 5 `asynq:{q}:processed`, 6 unique-lock key
    /// - ARGV: 1 task ID, 2 `statsExp`, 3 MAXI
    /// - Returns: `OK` · error `NOT FOUND`.
    package static let doneUnique = RedisScript(
        #"""
        if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("DEL", KEYS[3]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("INCR", KEYS[4]) == 1 then
          redis.call("EXPIREAT", KEYS[4], ARGV[2])
        end
        if redis.call("GET", KEYS[5]) == ARGV[3] then
          redis.call("SET", KEYS[5], 1)
        else
          redis.call("INCR", KEYS[5])
        end
        if redis.call("GET", KEYS[6]) == ARGV[1] then
          redis.call("DEL", KEYS[6])
        end
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.3** — success with retention > 0: keep the task as `completed`.
    /// The caller has set `completed_at` in the message. An existing `result` field is kept.
    ///
    /// - KEYS: 1 `asynq:{q}:active`, 2 `asynq:{q}:lease`, 3 `asynq:{q}:completed`,
    ///   4 `asynq:{q}:t:<id>`, 5 `asynq:{q}:processed:<date>`, 6 `asynq:{q}:processed`
    /// - ARGV: 1 task ID, 2 `statsExp`, 3 expiry (Unix s, `now + retention`), 4 encoded
    ///   TaskMessage, 5 MAXI
    /// - Returns: `OK` · error `NOT FOUND` (not active / no lease) · error `INTERNAL` (the
    ///   ID was already in `completed`; active and lease are already cleaned up then).
    package static let markComplete = RedisScript(
        #"""
        if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
          return redis.error_reply("INTERNAL")
        end
        redis.call("HSET", KEYS[4], "msg", ARGV[4], "state", "completed")
        if redis.call("INCR", KEYS[5]) == 1 then
          redis.call("EXPIREAT", KEYS[5], ARGV[2])
        end
        if redis.call("GET", KEYS[6]) == ARGV[5] then
          redis.call("SET", KEYS[6], 1)
        else
          redis.call("INCR", KEYS[6])
        end
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.3**, unique variant: ``markComplete`` plus releasing the lock
    /// when it still holds this task's ID.
    ///
    /// - KEYS: 1 `asynq:{q}:active`, 2 `asynq:{q}:lease`, 3 `asynq:{q}:completed`,
    ///   4 `asynq:{q}:t:<id>`, 5 `asynq:{q}:processed:<date>`, 6 `asynq:{q}:processed`,
    ///   7 unique-lock key
    /// - ARGV: 1 task ID, 2 `statsExp`, 3 expiry (Unix s), 4 encoded TaskMessage, 5 MAXI
    /// - Returns: `OK` · error `NOT FOUND` · error `INTERNAL`.
    package static let markCompleteUnique = RedisScript(
        #"""
        if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZADD", KEYS[3], ARGV[3], ARGV[1]) ~= 1 then
          return redis.error_reply("INTERNAL")
        end
        redis.call("HSET", KEYS[4], "msg", ARGV[4], "state", "completed")
        if redis.call("INCR", KEYS[5]) == 1 then
          redis.call("EXPIREAT", KEYS[5], ARGV[2])
        end
        if redis.call("GET", KEYS[6]) == ARGV[5] then
          redis.call("SET", KEYS[6], 1)
        else
          redis.call("INCR", KEYS[6])
        end
        if redis.call("GET", KEYS[7]) == ARGV[1] then
          redis.call("DEL", KEYS[7])
        end
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.4** — put an unfinished task back at the front of `pending`
    /// (shutdown timeout). No `pending_since`, message and counters unchanged.
    ///
    /// - KEYS: 1 `asynq:{q}:active`, 2 `asynq:{q}:lease`, 3 `asynq:{q}:pending`, 4 `asynq:{q}:t:<id>`
    /// - ARGV: 1 task ID
    /// - Returns: `OK` · error `NOT FOUND`.
    package static let requeue = RedisScript(
        #"""
        if redis.call("LREM", KEYS[1], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[2], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        redis.call("RPUSH", KEYS[3], ARGV[1])
        redis.call("HSET", KEYS[4], "state", "pending")
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.5** — failure with retries left: move to `retry`.
    /// The caller prepared the message (`retried + 1` when a failure, `error_msg`,
    /// `last_failed_at`). Counters move only when ARGV 5 is `1`.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:active`, 3 `asynq:{q}:lease`, 4 `asynq:{q}:retry`,
    ///   5 `asynq:{q}:processed:<date>`, 6 `asynq:{q}:failed:<date>`, 7 `asynq:{q}:processed`,
    ///   8 `asynq:{q}:failed`
    /// - ARGV: 1 task ID, 2 encoded TaskMessage, 3 retry-at (Unix s), 4 `statsExp`,
    ///   5 is-failure `1`/`0`, 6 MAXI
    /// - Returns: `OK` · error `NOT FOUND`.
    package static let retry = RedisScript(
        #"""
        if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
        redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "retry")
        if tonumber(ARGV[5]) == 1 then
          if redis.call("INCR", KEYS[5]) == 1 then
            redis.call("EXPIREAT", KEYS[5], ARGV[4])
          end
          if redis.call("INCR", KEYS[6]) == 1 then
            redis.call("EXPIREAT", KEYS[6], ARGV[4])
          end
          if redis.call("GET", KEYS[7]) == ARGV[6] then
            redis.call("SET", KEYS[7], 1)
            redis.call("SET", KEYS[8], 1)
          else
            redis.call("INCR", KEYS[7])
            redis.call("INCR", KEYS[8])
          end
        end
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.6** — failure without retries left (or SkipRetry, or the
    /// recoverer with no retries left): move to `archived`, trim the archive, count
    /// the failure. Trimmed tasks lose their hashes too (unlike the inspector's 4.4/4.5).
    ///
    /// Trim order: `ZADD archived now id`; delete hashes of members scored ≤ cutoff
    /// and remove them; delete hashes of the members `ZRANGE archived 0 -<max>`
    /// returns (the oldest `card − max + 1`) and remove them; then rewrite the hash.
    /// Trimmed task keys are built as `ARGV[8] .. id` (same `{q}` slot). Go passes
    /// that prefix as KEYS 9; here it is an ARGV because it is not a key.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:active`, 3 `asynq:{q}:lease`, 4 `asynq:{q}:archived`,
    ///   5 `asynq:{q}:processed:<date>`, 6 `asynq:{q}:failed:<date>`, 7 `asynq:{q}:processed`,
    ///   8 `asynq:{q}:failed`
    /// - ARGV: 1 task ID, 2 encoded TaskMessage, 3 now (Unix s), 4 cutoff (Unix s, now − 90
    ///   days), 5 max archive size `10000`, 6 `statsExp`, 7 MAXI, 8 task-key prefix `asynq:{q}:t:`
    /// - Returns: `OK` · error `NOT FOUND`.
    package static let archive = RedisScript(
        #"""
        if redis.call("LREM", KEYS[2], 0, ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        if redis.call("ZREM", KEYS[3], ARGV[1]) == 0 then
          return redis.error_reply("NOT FOUND")
        end
        redis.call("ZADD", KEYS[4], ARGV[3], ARGV[1])
        local expired = redis.call("ZRANGEBYSCORE", KEYS[4], "-inf", ARGV[4])
        if #expired > 0 then
          for _, member in ipairs(expired) do
            redis.call("DEL", ARGV[8] .. member)
          end
          redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", ARGV[4])
        end
        local keep = -tonumber(ARGV[5])
        local excess = redis.call("ZRANGE", KEYS[4], 0, keep)
        if #excess > 0 then
          for _, member in ipairs(excess) do
            redis.call("DEL", ARGV[8] .. member)
          end
          redis.call("ZREMRANGEBYRANK", KEYS[4], 0, keep)
        end
        redis.call("HSET", KEYS[1], "msg", ARGV[2], "state", "archived")
        if redis.call("INCR", KEYS[5]) == 1 then
          redis.call("EXPIREAT", KEYS[5], ARGV[6])
        end
        if redis.call("INCR", KEYS[6]) == 1 then
          redis.call("EXPIREAT", KEYS[6], ARGV[6])
        end
        if redis.call("GET", KEYS[7]) == ARGV[7] then
          redis.call("SET", KEYS[7], 1)
          redis.call("SET", KEYS[8], 1)
        else
          redis.call("INCR", KEYS[7])
          redis.call("INCR", KEYS[8])
        end
        return redis.status_reply("OK")
        """#)
}
