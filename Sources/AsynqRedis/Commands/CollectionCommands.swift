public import NIOCore

/// Where `LMOVE` takes from and puts to.
public enum RedisListEnd: String, Sendable {
    case left = "LEFT"
    case right = "RIGHT"
}

/// A score bound for sorted-set ranges.
public enum RedisScoreBound: Sendable, Hashable, RESPArgument {
    case inclusive(Double)
    case exclusive(Double)
    case negativeInfinity
    case positiveInfinity

    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        switch self {
        case .inclusive(let value): value.encodeRESP(into: &buffer)
        case .exclusive(let value): ("(" + Self.text(value)).encodeRESP(into: &buffer)
        case .negativeInfinity: "-inf".encodeRESP(into: &buffer)
        case .positiveInfinity: "+inf".encodeRESP(into: &buffer)
        }
    }

    private static func text(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

extension RedisCommandSender {
    // MARK: Hashes

    public func hget(_ key: String, _ field: String) async throws -> String? {
        try await send(RedisCommand("HGET", key, field)).decode()
    }

    public func hgetBuffer(_ key: String, _ field: String) async throws -> ByteBuffer? {
        try await send(RedisCommand("HGET", key, field)).decode()
    }

    public func hmget(_ key: String, _ fields: [String]) async throws -> [ByteBuffer?] {
        try await send(RedisCommand("HMGET", key, fields)).decode()
    }

    /// `HSET key field value [field value …]`; returns how many fields were added.
    @discardableResult
    public func hset(_ key: String, _ fields: [(String, any RESPArgument)]) async throws -> Int {
        var command = RedisCommand("HSET", key)
        for (field, value) in fields {
            command.append(field)
            command.appendAny(value)
        }
        return try await send(command).decode()
    }

    @discardableResult
    public func hset(_ key: String, field: String, value: some RESPArgument) async throws -> Int {
        try await send(RedisCommand("HSET", key, field, value)).decode()
    }

    public func hgetall(_ key: String) async throws -> [String: ByteBuffer] {
        try await send(RedisCommand("HGETALL", key)).decode()
    }

    @discardableResult
    public func hdel(_ key: String, _ fields: [String]) async throws -> Int {
        try await send(RedisCommand("HDEL", key, fields)).decode()
    }

    public func hexists(_ key: String, _ field: String) async throws -> Bool {
        try await send(RedisCommand("HEXISTS", key, field)).decode()
    }

    @discardableResult
    public func hincrBy(_ key: String, _ field: String, _ increment: Int) async throws -> Int {
        try await send(RedisCommand("HINCRBY", key, field, increment)).decode()
    }

    public func hlen(_ key: String) async throws -> Int {
        try await send(RedisCommand("HLEN", key)).decode()
    }

    public func hkeys(_ key: String) async throws -> [String] {
        try await send(RedisCommand("HKEYS", key)).decode()
    }

    // MARK: Lists

    @discardableResult
    public func lpush(_ key: String, _ values: [some RESPArgument]) async throws -> Int {
        try await send(RedisCommand("LPUSH", key, values)).decode()
    }

    @discardableResult
    public func rpush(_ key: String, _ values: [some RESPArgument]) async throws -> Int {
        try await send(RedisCommand("RPUSH", key, values)).decode()
    }

    public func lpop(_ key: String) async throws -> String? {
        try await send(RedisCommand("LPOP", key)).decode()
    }

    public func rpop(_ key: String) async throws -> String? {
        try await send(RedisCommand("RPOP", key)).decode()
    }

    public func lrange(_ key: String, _ start: Int, _ stop: Int) async throws -> [String] {
        try await send(RedisCommand("LRANGE", key, start, stop)).decode()
    }

    public func llen(_ key: String) async throws -> Int {
        try await send(RedisCommand("LLEN", key)).decode()
    }

    public func lindex(_ key: String, _ index: Int) async throws -> String? {
        try await send(RedisCommand("LINDEX", key, index)).decode()
    }

    /// `LREM key count value`; returns how many were removed.
    @discardableResult
    public func lrem(_ key: String, count: Int, _ value: some RESPArgument) async throws -> Int {
        try await send(RedisCommand("LREM", key, count, value)).decode()
    }

    /// `LMOVE source destination from to`.
    public func lmove(
        from source: String,
        to destination: String,
        _ sourceEnd: RedisListEnd,
        _ destinationEnd: RedisListEnd
    ) async throws -> String? {
        try await send(RedisCommand("LMOVE", source, destination, sourceEnd.rawValue, destinationEnd.rawValue)).decode()
    }

    /// `BLMOVE`, on a dedicated connection; nil when `timeout` passes with nothing to move.
    /// A timeout of zero waits forever (cancel the task to stop waiting).
    public func blmove(
        from source: String,
        to destination: String,
        _ sourceEnd: RedisListEnd,
        _ destinationEnd: RedisListEnd,
        timeout: Duration
    ) async throws -> String? {
        var command = RedisCommand(
            "BLMOVE",
            source,
            destination,
            sourceEnd.rawValue,
            destinationEnd.rawValue,
            timeout.redisSeconds
        )
        command.blockingTimeout = timeout
        return try await send(command).decode()
    }

    // MARK: Sets

    @discardableResult
    public func sadd(_ key: String, _ members: [some RESPArgument]) async throws -> Int {
        try await send(RedisCommand("SADD", key, members)).decode()
    }

    @discardableResult
    public func srem(_ key: String, _ members: [some RESPArgument]) async throws -> Int {
        try await send(RedisCommand("SREM", key, members)).decode()
    }

    public func smembers(_ key: String) async throws -> [String] {
        try await send(RedisCommand("SMEMBERS", key)).decode()
    }

    public func sismember(_ key: String, _ member: some RESPArgument) async throws -> Bool {
        try await send(RedisCommand("SISMEMBER", key, member)).decode()
    }

    public func scard(_ key: String) async throws -> Int {
        try await send(RedisCommand("SCARD", key)).decode()
    }

    // MARK: Sorted sets

    /// `ZADD key score member …`; returns how many members were added.
    @discardableResult
    public func zadd(_ key: String, _ members: [(score: Double, member: String)]) async throws -> Int {
        var command = RedisCommand("ZADD", key)
        for (score, member) in members { command.append(score, member) }
        return try await send(command).decode()
    }

    @discardableResult
    public func zrem(_ key: String, _ members: [some RESPArgument]) async throws -> Int {
        try await send(RedisCommand("ZREM", key, members)).decode()
    }

    public func zscore(_ key: String, _ member: some RESPArgument) async throws -> Double? {
        try await send(RedisCommand("ZSCORE", key, member)).decode()
    }

    public func zcard(_ key: String) async throws -> Int {
        try await send(RedisCommand("ZCARD", key)).decode()
    }

    public func zcount(_ key: String, min: RedisScoreBound, max: RedisScoreBound) async throws -> Int {
        try await send(RedisCommand("ZCOUNT", key, min, max)).decode()
    }

    /// `ZRANGE key start stop [REV]` by rank.
    public func zrange(_ key: String, _ start: Int, _ stop: Int, reverse: Bool = false) async throws -> [String] {
        try await send(RedisCommand("ZRANGE", key, start, stop, reverse ? "REV" : nil)).decode()
    }

    /// `ZRANGE key start stop [REV] WITHSCORES` by rank.
    public func zrangeWithScores(
        _ key: String,
        _ start: Int,
        _ stop: Int,
        reverse: Bool = false
    ) async throws -> [(member: String, score: Double)] {
        try await Self.memberScores(send(RedisCommand("ZRANGE", key, start, stop, reverse ? "REV" : nil, "WITHSCORES")))
    }

    /// `ZRANGE key min max BYSCORE [REV] [LIMIT offset count]` (for `reverse`, pass `max` first as Redis does).
    public func zrangeByScore(
        _ key: String,
        min: RedisScoreBound,
        max: RedisScoreBound,
        reverse: Bool = false,
        limit: (offset: Int, count: Int)? = nil
    ) async throws -> [String] {
        var command = RedisCommand("ZRANGE", key, min, max, "BYSCORE", reverse ? "REV" : nil)
        if let limit { command.append("LIMIT", limit.offset, limit.count) }
        return try await send(command).decode()
    }

    public func zrangeByScoreWithScores(
        _ key: String,
        min: RedisScoreBound,
        max: RedisScoreBound,
        limit: (offset: Int, count: Int)? = nil
    ) async throws -> [(member: String, score: Double)] {
        var command = RedisCommand("ZRANGE", key, min, max, "BYSCORE")
        if let limit { command.append("LIMIT", limit.offset, limit.count) }
        command.append("WITHSCORES")
        return try await Self.memberScores(send(command))
    }

    @discardableResult
    public func zremRangeByScore(_ key: String, min: RedisScoreBound, max: RedisScoreBound) async throws -> Int {
        try await send(RedisCommand("ZREMRANGEBYSCORE", key, min, max)).decode()
    }

    /// Reads `WITHSCORES` replies: RESP3 sends pairs, RESP2 a flat list.
    static func memberScores(_ token: RESPToken) throws -> [(member: String, score: Double)] {
        guard let elements = token.array else { throw token.unexpected("an array") }
        var result: [(member: String, score: Double)] = []
        if let first = elements.first, first.array != nil {
            for pair in elements {
                guard let items = pair.array, items.count == 2 else { throw pair.unexpected("a member/score pair") }
                result.append((try items[0].decode(), try items[1].decode()))
            }
        } else {
            guard elements.count % 2 == 0 else { throw token.unexpected("member/score pairs") }
            var index = 0
            while index < elements.count {
                result.append((try elements[index].decode(), try elements[index + 1].decode()))
                index += 2
            }
        }
        return result
    }
}

extension RedisCommand {
    /// Appends an argument of a type known only at run time.
    public mutating func appendAny(_ argument: any RESPArgument) {
        func open<A: RESPArgument>(_ value: A) { append(value) }
        open(argument)
    }
}

extension Duration {
    /// Seconds with millisecond precision, as blocking commands take them.
    var redisSeconds: String {
        let (seconds, attoseconds) = components
        let milliseconds = attoseconds / 1_000_000_000_000_000
        guard milliseconds != 0 else { return String(seconds) }
        let digits = String(milliseconds)
        return "\(seconds)." + String(repeating: "0", count: max(0, 3 - digits.count)) + digits
    }
}
