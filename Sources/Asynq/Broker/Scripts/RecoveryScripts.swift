package import AsynqRedis

// Recoverer: operations.md §2.9 and §2.15. Lease extension (2.8) is a plain
// `ZADD asynq:{q}:lease XX <exp> <id> …` per queue and needs no script.

extension BrokerScripts {
    /// operations.md **2.9** — messages of tasks whose lease expired at or before the
    /// cutoff (recoverer: now − 30 s; inspector orphan check: now). Read-only.
    ///
    /// Task keys are `ARGV[2] .. id` (same `{q}` slot).
    ///
    /// - KEYS: 1 `asynq:{q}:lease`
    /// - ARGV: 1 cutoff (Unix s), 2 task-key prefix `asynq:{q}:t:`
    /// - Returns: array of encoded TaskMessages (IDs without a hash are skipped).
    package static let listLeaseExpired = RedisScript(
        #"""
        local out = {}
        local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
        for _, id in ipairs(ids) do
          local msg = redis.call("HGET", ARGV[2] .. id, "msg")
          if msg then
            out[#out + 1] = msg
          end
        end
        return out
        """#)

    /// operations.md **2.15** — put the members of aggregation sets whose deadline
    /// passed back into their group zsets (original scores), delete those sets, and
    /// drop them from `aggregation_sets`. The group name is not re-added to `groups`.
    ///
    /// Set keys come from the `aggregation_sets` members and the group key is the set
    /// key without its last `:<setID>` segment; both are `asynq:{q}:g:…` names in the
    /// queue's slot.
    ///
    /// - KEYS: 1 `asynq:{q}:aggregation_sets`
    /// - ARGV: 1 now (Unix s)
    /// - Returns: status `OK`.
    package static let reclaimStaleAggregationSets = RedisScript(
        #"""
        local sets = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
        for _, setKey in ipairs(sets) do
          local groupKey = string.match(setKey, "^(.*):[^:]*$")
          if groupKey then
            local members = redis.call("ZRANGE", setKey, 0, -1, "WITHSCORES")
            for i = 1, #members, 2 do
              redis.call("ZADD", groupKey, members[i + 1], members[i])
            end
          end
          redis.call("DEL", setKey)
        end
        redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", ARGV[1])
        return redis.status_reply("OK")
        """#)
}
