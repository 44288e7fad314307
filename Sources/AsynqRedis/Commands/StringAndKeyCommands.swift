public import NIOCore

/// Expiration for `SET`.
public enum RedisExpiration: Sendable, Hashable {
    case seconds(Int)
    case milliseconds(Int)
    case unixSeconds(Int)
    case unixMilliseconds(Int)
    case keepTTL
}

/// Condition for `SET`.
public enum RedisSetCondition: Sendable, Hashable {
    case always
    case ifNotExists
    case ifExists
}

extension RedisCommandSender {
    // MARK: Connection and server

    /// `PING`; returns `PONG` or the message.
    @discardableResult
    public func ping(_ message: String? = nil) async throws -> String {
        try await send(RedisCommand("PING", message)).decode()
    }

    public func echo(_ message: String) async throws -> String {
        try await send(RedisCommand("ECHO", message)).decode()
    }

    /// `INFO [section]` as text.
    public func info(_ section: String? = nil) async throws -> String {
        try await send(RedisCommand("INFO", section)).decode()
    }

    /// `TIME`: the server's clock.
    public func time() async throws -> (seconds: Int, microseconds: Int) {
        let parts: [Int] = try await send(RedisCommand("TIME")).decode()
        guard parts.count == 2 else { throw RedisClientError(.unexpectedReply, "TIME returned \(parts)") }
        return (parts[0], parts[1])
    }

    public func dbSize() async throws -> Int {
        try await send(RedisCommand("DBSIZE")).decode()
    }

    public func flushDB() async throws {
        try await send(RedisCommand("FLUSHDB"))
    }

    /// `MEMORY USAGE key [SAMPLES n]`; nil when the key does not exist.
    public func memoryUsage(_ key: String, samples: Int? = nil) async throws -> Int? {
        var command = RedisCommand("MEMORY", "USAGE", key)
        if let samples { command.append("SAMPLES", samples) }
        return try await send(command).decode()
    }

    /// `OBJECT ENCODING key`.
    public func objectEncoding(_ key: String) async throws -> String? {
        try await send(RedisCommand("OBJECT", "ENCODING", key)).decode()
    }

    /// `ROLE`: the first element (`master`, `slave`, `sentinel`) and the whole reply.
    public func role() async throws -> (role: String, reply: [RESPToken]) {
        let reply: [RESPToken] = try await send(RedisCommand("ROLE")).decode()
        guard let role = reply.first?.string else { throw RedisClientError(.unexpectedReply, "ROLE returned \(reply)") }
        return (role, reply)
    }

    /// `CLIENT SETNAME`.
    public func clientSetName(_ name: String) async throws {
        try await send(RedisCommand("CLIENT", "SETNAME", name))
    }

    /// `CLIENT GETNAME`.
    public func clientGetName() async throws -> String? {
        try await send(RedisCommand("CLIENT", "GETNAME")).decode()
    }

    /// `CLIENT ID`.
    public func clientID() async throws -> Int {
        try await send(RedisCommand("CLIENT", "ID")).decode()
    }

    /// `CLIENT LIST` as text.
    public func clientList() async throws -> String {
        try await send(RedisCommand("CLIENT", "LIST")).decode()
    }

    // MARK: Strings

    public func get(_ key: String) async throws -> String? {
        try await send(RedisCommand("GET", key)).decode()
    }

    public func getBuffer(_ key: String) async throws -> ByteBuffer? {
        try await send(RedisCommand("GET", key)).decode()
    }

    /// `SET`; returns false when a condition prevented the write.
    @discardableResult
    public func set(
        _ key: String,
        _ value: some RESPArgument,
        expiration: RedisExpiration? = nil,
        condition: RedisSetCondition = .always
    ) async throws -> Bool {
        var command = RedisCommand("SET", key, value)
        switch expiration {
        case .none: break
        case .seconds(let s): command.append("EX", s)
        case .milliseconds(let ms): command.append("PX", ms)
        case .unixSeconds(let s): command.append("EXAT", s)
        case .unixMilliseconds(let ms): command.append("PXAT", ms)
        case .keepTTL: command.append("KEEPTTL")
        }
        switch condition {
        case .always: break
        case .ifNotExists: command.append("NX")
        case .ifExists: command.append("XX")
        }
        return try await !send(command).isNull
    }

    public func mget(_ keys: [String]) async throws -> [String?] {
        try await send(RedisCommand("MGET", keys)).decode()
    }

    @discardableResult
    public func incr(_ key: String) async throws -> Int {
        try await send(RedisCommand("INCR", key)).decode()
    }

    @discardableResult
    public func incrBy(_ key: String, _ increment: Int) async throws -> Int {
        try await send(RedisCommand("INCRBY", key, increment)).decode()
    }

    @discardableResult
    public func decr(_ key: String) async throws -> Int {
        try await send(RedisCommand("DECR", key)).decode()
    }

    // MARK: Keys

    /// `DEL`; returns how many keys were removed.
    @discardableResult
    public func del(_ keys: String...) async throws -> Int {
        try await del(keys)
    }

    @discardableResult
    public func del(_ keys: [String]) async throws -> Int {
        try await send(RedisCommand("DEL", keys)).decode()
    }

    @discardableResult
    public func unlink(_ keys: [String]) async throws -> Int {
        try await send(RedisCommand("UNLINK", keys)).decode()
    }

    /// `EXISTS`; how many of the keys exist.
    public func exists(_ keys: String...) async throws -> Int {
        try await send(RedisCommand("EXISTS", keys)).decode()
    }

    @discardableResult
    public func expire(_ key: String, seconds: Int) async throws -> Bool {
        try await send(RedisCommand("EXPIRE", key, seconds)).decode()
    }

    @discardableResult
    public func pexpire(_ key: String, milliseconds: Int) async throws -> Bool {
        try await send(RedisCommand("PEXPIRE", key, milliseconds)).decode()
    }

    @discardableResult
    public func expireAt(_ key: String, unixSeconds: Int) async throws -> Bool {
        try await send(RedisCommand("EXPIREAT", key, unixSeconds)).decode()
    }

    /// `TTL` in seconds: -1 without expiry, -2 when the key does not exist.
    public func ttl(_ key: String) async throws -> Int {
        try await send(RedisCommand("TTL", key)).decode()
    }

    /// `PTTL` in milliseconds: -1 without expiry, -2 when the key does not exist.
    public func pttl(_ key: String) async throws -> Int {
        try await send(RedisCommand("PTTL", key)).decode()
    }

    /// `TYPE`: `string`, `list`, `set`, `zset`, `hash`, `stream` or `none`.
    public func type(_ key: String) async throws -> String {
        try await send(RedisCommand("TYPE", key)).decode()
    }

    /// `KEYS pattern`. Blocks the server on large databases: prefer ``scanKeys(match:count:type:)``.
    /// On a cluster client every master is asked.
    public func keys(_ pattern: String) async throws -> [String] {
        try await send(RedisCommand("KEYS", pattern)).decode()
    }

    /// One `SCAN` step: the next cursor ("0" when done) and the keys of this step. On a cluster
    /// client this scans one node only: use ``scanKeys(match:count:type:)``.
    public func scan(
        cursor: String,
        match: String? = nil,
        count: Int? = nil,
        type: String? = nil
    ) async throws -> (cursor: String, keys: [String]) {
        var command = RedisCommand("SCAN", cursor)
        if let match { command.append("MATCH", match) }
        if let count { command.append("COUNT", count) }
        if let type { command.append("TYPE", type) }
        let reply: [RESPToken] = try await send(command).decode()
        guard reply.count == 2 else { throw RedisClientError(.unexpectedReply, "SCAN returned \(reply)") }
        return (try reply[0].decode(), try reply[1].decode())
    }

    /// Every key matching `match`, by iterating `SCAN` to the end (a key may appear twice, as `SCAN` allows).
    /// On a cluster client every master is scanned.
    public func scanKeys(match: String? = nil, count: Int = 1000, type: String? = nil) async throws -> [String] {
        if let client = self as? RedisClient,
            let keys = try await client.clusterScanKeys(match: match, count: count, type: type)
        {
            return keys
        }
        var cursor = "0"
        var keys: [String] = []
        repeat {
            let step = try await scan(cursor: cursor, match: match, count: count, type: type)
            keys += step.keys
            cursor = step.cursor
        } while cursor != "0"
        return keys
    }

    // MARK: Pub/sub

    /// `PUBLISH`; returns how many subscribers received the message.
    @discardableResult
    public func publish(_ channel: String, _ message: some RESPArgument) async throws -> Int {
        try await send(RedisCommand("PUBLISH", channel, message)).decode()
    }
}
