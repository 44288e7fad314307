package import AsynqRedis

// Server heartbeat and shutdown: operations.md §2.17–2.18, and the
// list-and-prune read of §3.7. These scripts touch global keys only, never a
// queue key. The `asynq:servers` / `asynq:workers` zset updates around them are
// plain commands (`ZADD asynq:servers <exp> <server key>`,
// `ZADD asynq:workers <exp> <workers key>`, and `ZREM` of both at shutdown).

extension BrokerScripts {
    /// operations.md **2.17** (step 2) — write this server's info and its worker hash.
    /// Both keys carry the same `{<host>:<pid>:<serverID>}` hash tag.
    ///
    /// Steps: `SETEX server-key ttl info`; `DEL workers-key`; `HSET workers-key id info`
    /// per pair; `EXPIRE workers-key ttl` (a no-op when there are no workers, so the hash
    /// does not exist then — as observed with Go).
    ///
    /// - KEYS: 1 `asynq:servers:{<host>:<pid>:<serverID>}`, 2 `asynq:workers:{<host>:<pid>:<serverID>}`
    /// - ARGV: 1 TTL s (2 × heartbeat interval), 2 encoded ServerInfo, then pairs:
    ///   task ID, encoded WorkerInfo, …
    /// - Returns: status `OK`.
    package static let writeServerState = RedisScript(
        #"""
        redis.call("SETEX", KEYS[1], ARGV[1], ARGV[2])
        redis.call("DEL", KEYS[2])
        for i = 3, #ARGV, 2 do
          redis.call("HSET", KEYS[2], ARGV[i], ARGV[i + 1])
        end
        redis.call("EXPIRE", KEYS[2], ARGV[1])
        return redis.status_reply("OK")
        """#)

    /// operations.md **2.18** (last step) — delete the server-info and worker keys at
    /// shutdown (after the plain `ZREM`s from `asynq:servers` / `asynq:workers`).
    ///
    /// - KEYS: 1 `asynq:servers:{<host>:<pid>:<serverID>}`, 2 `asynq:workers:{<host>:<pid>:<serverID>}`
    /// - ARGV: none
    /// - Returns: status `OK`.
    package static let clearServerState = RedisScript(
        #"""
        redis.call("DEL", KEYS[1])
        redis.call("DEL", KEYS[2])
        return redis.status_reply("OK")
        """#)

    /// operations.md **3.7** — members of a liveness zset whose expiry is still in the
    /// future, after pruning the expired ones (score < now). Used for
    /// `asynq:servers`, `asynq:workers` and `asynq:schedulers` (single key each).
    ///
    /// - KEYS: 1 `asynq:servers` | `asynq:workers` | `asynq:schedulers`
    /// - ARGV: 1 now (Unix s)
    /// - Returns: array of key names (members with score ≥ now).
    package static let listLiveMembers = RedisScript(
        #"""
        local live = redis.call("ZRANGEBYSCORE", KEYS[1], ARGV[1], "+inf")
        redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", tonumber(ARGV[1]) - 1)
        return live
        """#)
}
