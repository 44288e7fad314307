/// One call of a script: for running many scripts in one pipeline.
public struct RedisScriptCall: Sendable {
    public let script: RedisScript
    let evalsha: RedisCommand
    let eval: RedisCommand

    public init(_ script: RedisScript, keys: [String], arguments: [any RESPArgument] = []) {
        self.script = script
        var evalsha = RedisCommand("EVALSHA", script.sha1, keys.count, keys)
        var eval = RedisCommand("EVAL", script.source, keys.count, keys)
        for argument in arguments {
            evalsha.appendAny(argument)
            eval.appendAny(argument)
        }
        self.evalsha = evalsha
        self.eval = eval
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
        var results = try await pipeline(calls.map(\.evalsha))
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
