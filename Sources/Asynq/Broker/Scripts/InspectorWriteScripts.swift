package import AsynqRedis

// Inspector writes: operations.md §4. Plain commands used around these scripts:
// pause `SET asynq:{q}:paused <nowS> NX` / unpause `DEL asynq:{q}:paused` (4.1),
// `SREM asynq:queues <q>` after a successful queue removal (4.9, global key),
// `PUBLISH asynq:cancel <id>` (4.10), and the `SISMEMBER asynq:queues` checks.
//
// Go builds `asynq:{q}:<state>` inside its single-task scripts from the task's
// `state` field; here every container such a script may touch is passed in KEYS,
// and a state without a container (or an ID missing from its container) is an
// error reply with no writes. Only group zsets (`ARGV .. group`, the group name
// read from the hash), task hashes of IDs read from a container, and unique locks
// named by a hash's `unique_key` field are built in the scripts; all carry the
// queue's `{q}` hash tag.

extension BrokerScripts {
    /// operations.md **4.2** — run a task now: move it from its container to `pending`
    /// (`LPUSH`, `state pending`, no `pending_since`). A group that becomes empty is
    /// removed from `groups`.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:pending`, 3 `asynq:{q}:groups`,
    ///   4 `asynq:{q}:scheduled`, 5 `asynq:{q}:retry`, 6 `asynq:{q}:archived`, 7 `asynq:{q}:completed`
    /// - ARGV: 1 task ID, 2 group-key prefix `asynq:{q}:g:`
    /// - Returns: `1` moved · `0` not found · `-1` active · `-2` already pending ·
    ///   error reply when the ID is missing from the container its state names.
    package static let runTask = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 0 then
          return 0
        end
        local fields = redis.call("HMGET", KEYS[1], "state", "group")
        local state, group = fields[1], fields[2]
        if state == "active" then
          return -1
        elseif state == "pending" then
          return -2
        elseif state == "aggregating" then
          if not group then
            return redis.error_reply("aggregating task has no group field")
          end
          local groupKey = ARGV[2] .. group
          if redis.call("ZREM", groupKey, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in zset " .. groupKey)
          end
          if redis.call("ZCARD", groupKey) == 0 then
            redis.call("SREM", KEYS[3], group)
          end
        else
          local source = ({scheduled = KEYS[4], retry = KEYS[5], archived = KEYS[6], completed = KEYS[7]})[state]
          if not source then
            return redis.error_reply("unexpected task state " .. tostring(state))
          end
          if redis.call("ZREM", source, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in zset " .. source)
          end
        end
        redis.call("LPUSH", KEYS[2], ARGV[1])
        redis.call("HSET", KEYS[1], "state", "pending")
        return 1
        """#)

    /// operations.md **4.3** (scheduled / retry / archived) — run every task of a zset:
    /// `LPUSH pending` + `state pending` each (no `pending_since`), then `DEL` the zset.
    /// Task keys are `ARGV[1] .. id` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:scheduled` | `asynq:{q}:retry` | `asynq:{q}:archived`, 2 `asynq:{q}:pending`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`
    /// - Returns: the number of tasks moved.
    package static let runAll = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("LPUSH", KEYS[2], id)
          redis.call("HSET", ARGV[1] .. id, "state", "pending")
        end
        redis.call("DEL", KEYS[1])
        return #ids
        """#)

    /// operations.md **4.3** (aggregating) — run every task of a group, then `DEL` the
    /// group zset and `SREM` its name from `groups`.
    ///
    /// - KEYS: 1 `asynq:{q}:g:<group>`, 2 `asynq:{q}:pending`, 3 `asynq:{q}:groups`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`, 2 group name
    /// - Returns: the number of tasks moved.
    package static let runAllAggregating = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("LPUSH", KEYS[2], id)
          redis.call("HSET", ARGV[1] .. id, "state", "pending")
        end
        redis.call("DEL", KEYS[1])
        redis.call("SREM", KEYS[3], ARGV[2])
        return #ids
        """#)

    /// operations.md **4.4** — archive one task: remove it from its container, `ZADD
    /// archived now`, `state archived` (message and other fields untouched), then trim
    /// the archive by age and size **without** deleting the trimmed hashes.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:archived`, 3 `asynq:{q}:groups`,
    ///   4 `asynq:{q}:pending`, 5 `asynq:{q}:scheduled`, 6 `asynq:{q}:retry`, 7 `asynq:{q}:completed`
    /// - ARGV: 1 task ID, 2 now (Unix s), 3 cutoff (Unix s, now − 90 days), 4 max size `10000`,
    ///   5 group-key prefix `asynq:{q}:g:`
    /// - Returns: `1` archived · `0` not found · `-1` already archived · `-2` active ·
    ///   error reply when the ID is missing from the container its state names.
    package static let archiveTask = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 0 then
          return 0
        end
        local fields = redis.call("HMGET", KEYS[1], "state", "group")
        local state, group = fields[1], fields[2]
        if state == "active" then
          return -2
        elseif state == "archived" then
          return -1
        elseif state == "pending" then
          if redis.call("LREM", KEYS[4], 1, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in list " .. KEYS[4])
          end
        elseif state == "aggregating" then
          if not group then
            return redis.error_reply("aggregating task has no group field")
          end
          local groupKey = ARGV[5] .. group
          if redis.call("ZREM", groupKey, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in zset " .. groupKey)
          end
          if redis.call("ZCARD", groupKey) == 0 then
            redis.call("SREM", KEYS[3], group)
          end
        else
          local source = ({scheduled = KEYS[5], retry = KEYS[6], completed = KEYS[7]})[state]
          if not source then
            return redis.error_reply("unexpected task state " .. tostring(state))
          end
          if redis.call("ZREM", source, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in zset " .. source)
          end
        end
        redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
        redis.call("HSET", KEYS[1], "state", "archived")
        redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[3])
        redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[4]))
        return 1
        """#)

    /// operations.md **4.5** (pending) — archive every pending task, `DEL` the pending
    /// list, then trim the archive (trimmed hashes kept). Task keys `ARGV[4] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:archived`
    /// - ARGV: 1 now (Unix s), 2 cutoff (Unix s), 3 max size `10000`, 4 task-key prefix `asynq:{q}:t:`
    /// - Returns: the number of tasks archived.
    package static let archiveAllPending = RedisScript(
        #"""
        local ids = redis.call("LRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("ZADD", KEYS[2], ARGV[1], id)
          redis.call("HSET", ARGV[4] .. id, "state", "archived")
        end
        redis.call("DEL", KEYS[1])
        redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
        redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[3]))
        return #ids
        """#)

    /// operations.md **4.5** (scheduled / retry) — archive every task of the zset, `DEL`
    /// it, then trim the archive (trimmed hashes kept). Task keys `ARGV[4] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:scheduled` | `asynq:{q}:retry`, 2 `asynq:{q}:archived`
    /// - ARGV: 1 now (Unix s), 2 cutoff (Unix s), 3 max size `10000`, 4 task-key prefix `asynq:{q}:t:`
    /// - Returns: the number of tasks archived.
    package static let archiveAll = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("ZADD", KEYS[2], ARGV[1], id)
          redis.call("HSET", ARGV[4] .. id, "state", "archived")
        end
        redis.call("DEL", KEYS[1])
        redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
        redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[3]))
        return #ids
        """#)

    /// operations.md **4.5** (aggregating) — archive every task of a group, `DEL` the
    /// group zset, `SREM` its name, then trim the archive. Task keys `ARGV[4] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:g:<group>`, 2 `asynq:{q}:archived`, 3 `asynq:{q}:groups`
    /// - ARGV: 1 now (Unix s), 2 cutoff (Unix s), 3 max size `10000`,
    ///   4 task-key prefix `asynq:{q}:t:`, 5 group name
    /// - Returns: the number of tasks archived.
    package static let archiveAllAggregating = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("ZADD", KEYS[2], ARGV[1], id)
          redis.call("HSET", ARGV[4] .. id, "state", "archived")
        end
        redis.call("DEL", KEYS[1])
        redis.call("SREM", KEYS[3], ARGV[5])
        redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[2])
        redis.call("ZREMRANGEBYRANK", KEYS[2], 0, -tonumber(ARGV[3]))
        return #ids
        """#)

    /// operations.md **4.6** — delete one task: remove it from its container, release
    /// its unique lock when the hash's `unique_key` lock still holds this ID, delete the
    /// hash. A group that becomes empty is removed from `groups`.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`, 2 `asynq:{q}:groups`, 3 `asynq:{q}:pending`,
    ///   4 `asynq:{q}:scheduled`, 5 `asynq:{q}:retry`, 6 `asynq:{q}:archived`, 7 `asynq:{q}:completed`
    /// - ARGV: 1 task ID, 2 group-key prefix `asynq:{q}:g:`
    /// - Returns: `1` deleted · `0` not found · `-1` active · error reply when the ID is
    ///   missing from the container its state names.
    package static let deleteTask = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 0 then
          return 0
        end
        local fields = redis.call("HMGET", KEYS[1], "state", "group")
        local state, group = fields[1], fields[2]
        if state == "active" then
          return -1
        elseif state == "pending" then
          if redis.call("LREM", KEYS[3], 0, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in list " .. KEYS[3])
          end
        elseif state == "aggregating" then
          if not group then
            return redis.error_reply("aggregating task has no group field")
          end
          local groupKey = ARGV[2] .. group
          if redis.call("ZREM", groupKey, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in zset " .. groupKey)
          end
          if redis.call("ZCARD", groupKey) == 0 then
            redis.call("SREM", KEYS[2], group)
          end
        else
          local source = ({scheduled = KEYS[4], retry = KEYS[5], archived = KEYS[6], completed = KEYS[7]})[state]
          if not source then
            return redis.error_reply("unexpected task state " .. tostring(state))
          end
          if redis.call("ZREM", source, ARGV[1]) == 0 then
            return redis.error_reply("task id not found in zset " .. source)
          end
        end
        local lock = redis.call("HGET", KEYS[1], "unique_key")
        if lock and lock ~= "" and redis.call("GET", lock) == ARGV[1] then
          redis.call("DEL", lock)
        end
        return redis.call("DEL", KEYS[1])
        """#)

    /// operations.md **4.7** (scheduled / retry / archived / completed) — delete every
    /// task of the zset (releasing each `unique_key` lock that still holds the task's
    /// ID), then `DEL` the zset. Task keys `ARGV[1] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:scheduled` | `retry` | `archived` | `completed`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`
    /// - Returns: the number of tasks deleted.
    package static let deleteAll = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          local taskKey = ARGV[1] .. id
          local lock = redis.call("HGET", taskKey, "unique_key")
          if lock and lock ~= "" and redis.call("GET", lock) == id then
            redis.call("DEL", lock)
          end
          redis.call("DEL", taskKey)
        end
        redis.call("DEL", KEYS[1])
        return #ids
        """#)

    /// operations.md **4.7** (pending) — delete every pending task's hash (unique locks
    /// are not released), then `DEL` the list. Task keys `ARGV[1] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:pending`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`
    /// - Returns: the number of tasks deleted.
    package static let deleteAllPending = RedisScript(
        #"""
        local ids = redis.call("LRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("DEL", ARGV[1] .. id)
        end
        redis.call("DEL", KEYS[1])
        return #ids
        """#)

    /// operations.md **4.7** (aggregating) — delete every task hash of a group (locks not
    /// released), `SREM` the group name, `DEL` the group zset. Task keys `ARGV[1] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:g:<group>`, 2 `asynq:{q}:groups`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`, 2 group name
    /// - Returns: the number of tasks deleted.
    package static let deleteAllAggregating = RedisScript(
        #"""
        local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
        for _, id in ipairs(ids) do
          redis.call("DEL", ARGV[1] .. id)
        end
        redis.call("SREM", KEYS[2], ARGV[2])
        redis.call("DEL", KEYS[1])
        return #ids
        """#)

    /// operations.md **4.8** — replace the message of a scheduled task (new payload);
    /// `state` and whichever of `pending_since`, `group`, `unique_key` exist are written
    /// back unchanged. The unique lock is not recomputed.
    ///
    /// - KEYS: 1 `asynq:{q}:t:<id>`
    /// - ARGV: 1 encoded TaskMessage
    /// - Returns: `1` updated · `0` not found · `-1` not in state `scheduled`.
    package static let updateTaskPayload = RedisScript(
        #"""
        if redis.call("EXISTS", KEYS[1]) == 0 then
          return 0
        end
        local fields = redis.call("HMGET", KEYS[1], "state", "pending_since", "group", "unique_key")
        if fields[1] ~= "scheduled" then
          return -1
        end
        local args = {"HSET", KEYS[1], "msg", ARGV[1], "state", fields[1]}
        local names = {"state", "pending_since", "group", "unique_key"}
        for i = 2, 4 do
          if fields[i] then
            args[#args + 1] = names[i]
            args[#args + 1] = fields[i]
          end
        end
        redis.call(unpack(args))
        return 1
        """#)

    /// operations.md **4.9** (non-force) — remove a queue's task containers when pending,
    /// active, scheduled, retry and archived are all empty. On `1` the caller runs the
    /// plain `SREM asynq:queues <q>`. Completed tasks, groups, aggregation sets,
    /// counters, the paused flag and unique locks are left in place.
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:active`, 3 `asynq:{q}:scheduled`,
    ///   4 `asynq:{q}:retry`, 5 `asynq:{q}:archived`, 6 `asynq:{q}:lease`
    /// - ARGV: none
    /// - Returns: `1` removed · `-1` not empty (nothing written).
    package static let removeQueue = RedisScript(
        #"""
        if redis.call("LLEN", KEYS[1]) > 0 or redis.call("LLEN", KEYS[2]) > 0 then
          return -1
        end
        for i = 3, 5 do
          if redis.call("ZCARD", KEYS[i]) > 0 then
            return -1
          end
        end
        for i = 1, 6 do
          redis.call("DEL", KEYS[i])
        end
        return 1
        """#)

    /// operations.md **4.9** (force) — refuse while tasks are active; otherwise delete
    /// the hashes of every pending, scheduled, retry and archived task and the six
    /// container keys. Task keys `ARGV[1] .. id`.
    ///
    /// - KEYS: 1 `asynq:{q}:pending`, 2 `asynq:{q}:active`, 3 `asynq:{q}:scheduled`,
    ///   4 `asynq:{q}:retry`, 5 `asynq:{q}:archived`, 6 `asynq:{q}:lease`
    /// - ARGV: 1 task-key prefix `asynq:{q}:t:`
    /// - Returns: `1` removed · `-2` active tasks (nothing written).
    package static let removeQueueForce = RedisScript(
        #"""
        if redis.call("LLEN", KEYS[2]) > 0 then
          return -2
        end
        for _, id in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
          redis.call("DEL", ARGV[1] .. id)
        end
        for i = 3, 5 do
          for _, id in ipairs(redis.call("ZRANGE", KEYS[i], 0, -1)) do
            redis.call("DEL", ARGV[1] .. id)
          end
        end
        for i = 1, 6 do
          redis.call("DEL", KEYS[i])
        end
        return 1
        """#)
}
