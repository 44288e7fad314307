import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

// Shared by the Server*Tests files: a harness around one real redis-server per test, a way
// to run an AsynqServer for the duration of a test body, and small async primitives so tests
// await the events they observe (handler calls) instead of sleeping.

struct ServerTestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// A handler failure with a fixed text.
struct ServerTestError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Runs `body`, failing with a timeout error after `timeout`.
func serverTestWithTimeout<T: Sendable>(
    _ timeout: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw ServerTestTimeout(what: what)
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw ServerTestTimeout(what: what) }
        return result
    }
}

/// Collects values from handlers; tests wait until a number of them arrived.
final class ServerTestRecorder<Value: Sendable>: Sendable {
    private struct State {
        var values: [Value] = []
        var nextID = 0
        var waiters: [Int: (count: Int, continuation: CheckedContinuation<Void, Never>)] = [:]
    }

    private let state = Mutex(State())

    init() {}

    var values: [Value] { state.withLock { $0.values } }

    func record(_ value: Value) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.values.append(value)
            let ready = state.waiters.filter { $0.value.count <= state.values.count }
            for id in ready.keys { state.waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume() }
    }

    /// The first `count` values, once they arrived.
    @discardableResult
    func wait(count: Int = 1, timeout: Duration = .seconds(15)) async throws -> [Value] {
        try await serverTestWithTimeout(timeout, "\(count) recorded value(s)") {
            await self.waitUntil(count: count)
            return Array(self.values.prefix(count))
        }
    }

    private func waitUntil(count: Int) async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.values.count >= count || Task.isCancelled { return true }
                    state.waiters[id] = (count, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }
}

/// A gate handlers wait at until the test opens it.
final class ServerTestGate: Sendable {
    private let opened = ServerTestRecorder<Void>()

    init() {}

    func open() { opened.record(()) }

    /// Waits until opened; throws `CancellationError` when the waiting task is cancelled first.
    func wait() async throws {
        _ = try await opened.wait(count: 1, timeout: .seconds(120))
        try Task.checkCancellation()
    }
}

struct ServerTestHarness: Sendable {
    let redisServer: RedisTestServer
    let redis: RedisClient
    let client: AsynqClient
    let broker: RedisBroker

    static var logger: Logger {
        var logger = Logger(label: "asynq.test")
        let level = ProcessInfo.processInfo.environment["ASYNQ_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
        logger.logLevel = level ?? .critical
        return logger
    }

    /// A server on this harness' Redis with test-friendly intervals, changed by `configure`.
    func makeServer(
        _ configure: (inout AsynqServer.Configuration) -> Void = { _ in },
        handler: some TaskHandler
    ) throws -> AsynqServer {
        var configuration = AsynqServer.Configuration(concurrency: 4, logger: Self.logger)
        configuration.taskCheckInterval = .milliseconds(100)
        configuration.delayedTaskCheckInterval = .milliseconds(100)
        configuration.shutdownTimeout = .seconds(2)
        configure(&configuration)
        return try AsynqServer(redis: redis, configuration: configuration, handler: handler)
    }

    func makeServer(
        _ configure: (inout AsynqServer.Configuration) -> Void = { _ in },
        handler: @escaping @Sendable (AsynqTask, TaskContext) async throws -> Void
    ) throws -> AsynqServer {
        try makeServer(configure, handler: TaskHandlerFunc(handler))
    }

    /// Polls a Redis state with a short bounded loop (for states no event announces).
    func eventually(
        _ what: String,
        timeout: Duration = .seconds(15),
        _ condition: @escaping @Sendable () async throws -> Bool
    ) async throws {
        try await serverTestWithTimeout(timeout, what) {
            while try await !condition() {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    func message(_ queue: String, _ id: String) async throws -> TaskMessage? {
        guard let buffer = try await redis.hgetBuffer(RedisKeys.taskKey(queue, id), "msg") else { return nil }
        return try TaskMessage.decode(buffer.readableBytesView)
    }

    func state(_ queue: String, _ id: String) async throws -> String? {
        try await redis.hget(RedisKeys.taskKey(queue, id), "state")
    }

    func exists(_ queue: String, _ id: String) async throws -> Bool {
        try await redis.exists(RedisKeys.taskKey(queue, id)) == 1
    }

    func counter(_ key: String) async throws -> Int {
        Int(try await redis.get(key) ?? "0") ?? -1
    }
}

func withServerHarness(_ body: (ServerTestHarness) async throws -> Void) async throws {
    try await withRedisServer { server in
        let redis = try RedisClient(options: server.connectionOptions(), logger: ServerTestHarness.logger)
        let harness = ServerTestHarness(
            redisServer: server,
            redis: redis,
            client: AsynqClient(redis: redis, logger: ServerTestHarness.logger),
            broker: RedisBroker(redis: redis)
        )
        do {
            try await body(harness)
        } catch {
            await redis.close()
            throw error
        }
        await redis.close()
    }
}

/// Runs `server` while `body` runs, then shuts it down gracefully and waits for it to finish.
func withRunningServer<T: Sendable>(
    _ server: AsynqServer,
    _ body: () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        await server.waitUntilStarted()
        let result: T
        do {
            result = try await body()
        } catch {
            await server.shutdown()
            try? await group.waitForAll()
            throw error
        }
        await server.shutdown()
        try await group.waitForAll()
        return result
    }
}
