import AsynqRedis

/// Runs `body`, throwing `TestSupportError(.readinessTimeout)` if it has not finished after
/// `timeout` (the body is cancelled then). A safety net for awaiting events, not a way to wait.
public func withTestDeadline<T: Sendable>(
    _ timeout: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TestSupportError(.readinessTimeout, "timed out after \(timeout) waiting for \(what)")
        }
        return value
    }
}

/// Polls `condition` (bounded, every `interval`) until it is true: for states that no event
/// announces (replication link up, cluster state ok). Errors thrown by `condition` count as false.
func pollUntil(
    _ what: String,
    timeout: Duration,
    interval: Duration = .milliseconds(50),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var lastError: (any Error)?
    while true {
        do {
            if try await condition() { return }
        } catch {
            lastError = error
        }
        guard clock.now < deadline else {
            let detail = lastError.map { " (last error: \($0))" } ?? ""
            throw TestSupportError(.readinessTimeout, "timed out after \(timeout) waiting for \(what)\(detail)")
        }
        try await Task.sleep(for: interval)
    }
}

/// Runs `body` with a fresh connection to `address`, closed afterwards.
func withConnection<T>(
    to address: RedisServerAddress,
    options: RedisConnectionOptions,
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisConnection) async throws -> T
) async throws -> T {
    let connection = try await RedisConnection.connect(to: address, options: options)
    do {
        let result = try await body(connection)
        await connection.close()
        return result
    } catch {
        await connection.close()
        throw error
    }
}
