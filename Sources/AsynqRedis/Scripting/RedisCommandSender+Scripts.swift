/// One call of a script: for running many scripts in one pipeline.
///
/// The call is encoded once, as `EVALSHA`; the `EVAL` form (with the whole source) is built
/// only when the server answers `NOSCRIPT`.
public struct RedisScriptCall: Sendable {
    public let script: RedisScript
    let evalsha: RedisCommand

    public init(_ script: RedisScript, keys: [String], arguments: [any RESPArgument] = []) {
        self.script = script
        // Room for the name, the digest, the keys and typical arguments in one allocation.
        var capacity = 80 + arguments.count * 24
        for key in keys { capacity += key.utf8.count + 8 }
        var evalsha = RedisCommand(reservingCapacity: capacity, "EVALSHA", script.sha1, keys.count, keys)
        for argument in arguments {
            evalsha.appendAny(argument)
        }
        self.evalsha = evalsha
    }

    /// `EVAL <source> numkeys keys… args…`: the same call with the script's source.
    var eval: RedisCommand {
        evalsha.replacingLeading(2, with: RedisCommand("EVAL", script.source))
    }
}

extension RedisCommandSender {
    /// Runs a script with `EVALSHA`; when the server does not have it cached (`NOSCRIPT`, after a
    /// restart or `SCRIPT FLUSH`), sends it with `EVAL` — which runs and caches it — once.
    @discardableResult
    public func run(_ script: RedisScript, keys: [String], arguments: [any RESPArgument] = []) async throws -> RESPToken
    {
        try await run(RedisScriptCall(script, keys: keys, arguments: arguments))
    }

    @discardableResult
    public func run(_ call: RedisScriptCall) async throws -> RESPToken {
        do {
            return try await send(call.evalsha)
        } catch let error as RedisClientError where error.serverErrorPrefix == "NOSCRIPT" {
            return try await send(call.eval)
        }
    }

    /// Sends `prelude` and the script call in one pipeline (one round trip) and returns the
    /// script's reply. A failing prelude command is thrown; `NOSCRIPT` is handled as in
    /// ``run(_:)`` (the prelude is not sent again).
    @discardableResult
    public func run(_ call: RedisScriptCall, after prelude: [RedisCommand]) async throws -> RESPToken {
        let results = try await pipeline(prelude + [call.evalsha])
        for result in results.dropLast() { _ = try result.get() }
        switch results.last {
        case .success(let token)?:
            return token
        case .failure(let error)? where error.serverErrorPrefix == "NOSCRIPT":
            return try await send(call.eval)
        case .failure(let error)?:
            throw error
        case nil:
            throw RedisClientError(.unexpectedReply, "empty pipeline reply")
        }
    }

    /// Runs several script calls in one pipeline, one result per call, in order; calls that hit
    /// `NOSCRIPT` are sent again with `EVAL` in a second pipeline.
    public func run(pipeline calls: [RedisScriptCall]) async throws -> [Result<RESPToken, RedisClientError>] {
        try await run(pipeline: calls, after: [])
    }

    /// Sends `prelude` and then the script calls in one pipeline (one round trip) and returns
    /// one result per call; a failing prelude command is thrown. `NOSCRIPT` is handled as in
    /// ``run(pipeline:)`` (the prelude is not sent again).
    public func run(
        pipeline calls: [RedisScriptCall], after prelude: [RedisCommand]
    ) async throws -> [Result<RESPToken, RedisClientError>] {
        var commands = prelude
        commands.reserveCapacity(prelude.count + calls.count)
        for call in calls { commands.append(call.evalsha) }
        let all = try await pipeline(commands)
        for result in all.prefix(prelude.count) { _ = try result.get() }
        var results = Array(all.dropFirst(prelude.count))
        let missing = results.indices.filter { index in
            if case .failure(let error) = results[index], error.serverErrorPrefix == "NOSCRIPT" { return true }
            return false
        }
        if !missing.isEmpty {
            let retried = try await pipeline(missing.map { calls[$0].eval })
            for (index, result) in zip(missing, retried) { results[index] = result }
        }
        return results
    }

    /// `SCRIPT LOAD`; returns the SHA1 the server computed.
    @discardableResult
    public func scriptLoad(_ script: RedisScript) async throws -> String {
        try await send(RedisCommand("SCRIPT", "LOAD", script.source)).decode()
    }

    /// `SCRIPT EXISTS`.
    public func scriptExists(_ scripts: [RedisScript]) async throws -> [Bool] {
        try await send(RedisCommand("SCRIPT", "EXISTS", scripts.map(\.sha1))).decode()
    }

    /// `SCRIPT FLUSH`.
    public func scriptFlush() async throws {
        try await send(RedisCommand("SCRIPT", "FLUSH"))
    }
}
