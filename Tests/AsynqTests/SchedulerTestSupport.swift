import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import Logging
import NIOCore
import SwiftProtobuf
import Synchronization
import Testing

// Support for SchedulerTests: a manual wall clock whose sleepers wake when the test advances
// it, a way to wait until every scheduler loop is parked again, a latch, log capture, and
// readers for the scheduler's Redis keys.

struct SchedulerTestTimeout: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// A wall clock that only moves when the test says so. `advance(to:)` resumes every sleeper
/// whose instant has come; `waitForSleepers(_:)` returns once exactly that many sleepers are
/// parked on future instants, i.e. every loop has finished its work and waits again.
final class ManualSchedulerClock: SchedulerClock {
    private struct Sleeper {
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Waiter {
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var now: Date
        var nextID = 0
        var sleepers: [Int: Sleeper] = [:]
        var waiters: [Int: Waiter] = [:]
        /// Sleepers woken by `advance` that have not slept again yet: while any is busy, the
        /// loops are not idle even if the number of parked sleepers happens to match.
        var woken = 0

        var isIdle: Bool { woken == 0 }

        /// Removes and returns the waiters whose sleeper count is reached.
        mutating func readyWaiters() -> [CheckedContinuation<Void, Never>] {
            guard isIdle else { return [] }
            let ready = waiters.filter { $0.value.count == sleepers.count }
            for id in ready.keys { waiters[id] = nil }
            return ready.values.map(\.continuation)
        }
    }

    private let state: Mutex<State>

    init(now: Date) {
        state = Mutex(State(now: now))
    }

    var now: Date { state.withLock { $0.now } }

    /// How many sleepers are parked.
    var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest instant a sleeper waits for.
    var earliestDeadline: Date? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    func sleep(until deadline: Date) async throws {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (immediate, ready) = state.withLock {
                    state -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    if Task.isCancelled { return (.failure(CancellationError()), []) }
                    if deadline <= state.now { return (.success(()), []) }
                    state.woken = max(0, state.woken - 1)
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return (nil, state.readyWaiters())
                }
                for waiter in ready { waiter.resume() }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let (sleeper, ready) = state.withLock { state in
                let sleeper = state.sleepers.removeValue(forKey: id)
                return (sleeper, sleeper == nil ? [] : state.readyWaiters())
            }
            sleeper?.continuation.resume(throwing: CancellationError())
            for waiter in ready { waiter.resume() }
        }
    }

    /// Moves the clock forward to `date` and wakes the sleepers that are due.
    func advance(to date: Date) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = max(state.now, date)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for id in due.keys { state.sleepers[id] = nil }
            state.woken += due.count
            return due.values.map(\.continuation)
        }
        for continuation in due { continuation.resume() }
    }

    func advance(by seconds: TimeInterval) {
        advance(to: now.addingTimeInterval(seconds))
    }

    /// Returns once exactly `count` sleepers are parked (all on future instants) and every
    /// sleeper the last `advance` woke has gone back to sleep (each woken loop sleeps again
    /// after its work; the loops of these tests never end between two advances).
    func waitForSleepers(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        try await schedulerTestWithTimeout(timeout, "\(count) parked sleeper(s) (now \(sleeperCount))") {
            await self.parked(count)
        }
    }

    private func parked(_ count: Int) async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if (state.isIdle && state.sleepers.count == count) || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(count: count, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }
}

/// Runs `body`, failing with a timeout error after `timeout` (a safety net, not a wait).
func schedulerTestWithTimeout<T: Sendable>(
    _ timeout: Duration,
    _ what: String,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw SchedulerTestTimeout(what: what)
        }
        defer { group.cancelAll() }
        guard let result = try await group.next() else { throw SchedulerTestTimeout(what: what) }
        return result
    }
}

/// A one-shot event for tests.
final class TestLatch: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    init() {}

    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if fired { continuation.resume() }
        }
    }
}

/// Collects log messages, to check what an operator would read.
final class CapturedLogs: Sendable {
    private let lines = Mutex<[String]>([])

    init() {}

    var all: [String] { lines.withLock { $0 } }

    func append(_ line: String) {
        lines.withLock { $0.append(line) }
    }

    var logger: Logger {
        Logger(label: "scheduler-test") { _ in CapturingLogHandler(logs: self) }
    }

    func contains(_ text: String) -> Bool { all.contains { $0.contains(text) } }
}

struct CapturingLogHandler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let details = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        logs.append("[\(event.level)] \(event.message) \(details)")
    }
}

// MARK: - Running schedulers

/// One redis-server and a client for the test body.
func withSchedulerRedis(_ body: (RedisTestServer, RedisClient) async throws -> Void) async throws {
    try await withRedisServer { server in
        let redis = try RedisClient(options: server.connectionOptions())
        do {
            try await body(server, redis)
        } catch {
            await redis.close()
            throw error
        }
        await redis.close()
    }
}

/// A running service the test can stop gracefully (`shutdown`) or abort (`kill`, which
/// cancels the task that runs it).
struct RunningService: Sendable {
    let kill: TestLatch
    let done: TestLatch
}

/// Runs `run` in a child task of the test until it returns; `kill` cancels it.
func startService(
    in group: inout ThrowingTaskGroup<Void, any Error>, _ run: @escaping @Sendable () async throws -> Void
) -> RunningService {
    let service = RunningService(kill: TestLatch(), done: TestLatch())
    group.addTask {
        defer { service.done.fire() }
        try await withThrowingTaskGroup(of: Void.self) { inner in
            inner.addTask { try await run() }
            inner.addTask { await service.kill.wait() }
            // Releases the kill waiter once `run` returned on its own (or threw).
            defer { service.kill.fire() }
            try await inner.next()
            inner.cancelAll()
        }
    }
    return service
}

// MARK: - Redis readers

enum SchedulerRedis {
    static func entries(_ redis: RedisClient, schedulerID: String) async throws -> [Asynq_SchedulerEntry] {
        let reply = try await redis.send(RedisCommand("LRANGE", RedisKeys.schedulerEntries(schedulerID), 0, -1))
        return try (reply.array ?? []).compactMap(\.bytes).map { try Asynq_SchedulerEntry(serializedBytes: $0) }
    }

    static func history(
        _ redis: RedisClient, entryID: String
    ) async throws -> [(
        event: Asynq_SchedulerEnqueueEvent, score: Double
    )] {
        let reply = try await redis.send(
            RedisCommand("ZRANGE", RedisKeys.schedulerHistory(entryID), 0, -1, "WITHSCORES"))
        let tokens = reply.array ?? []
        var events: [(Asynq_SchedulerEnqueueEvent, Double)] = []
        if let first = tokens.first, first.array != nil {
            for pair in tokens {  // RESP3: [member, score] pairs
                guard let items = pair.array, items.count == 2, let bytes = items[0].bytes,
                    let score = items[1].double
                else { continue }
                events.append((try Asynq_SchedulerEnqueueEvent(serializedBytes: bytes), score))
            }
        } else {
            var index = 0
            while index + 1 < tokens.count {
                if let bytes = tokens[index].bytes, let score = tokens[index + 1].double {
                    events.append((try Asynq_SchedulerEnqueueEvent(serializedBytes: bytes), score))
                }
                index += 2
            }
        }
        return events.map { (event: $0.0, score: $0.1) }
    }

    static func pendingIDs(_ redis: RedisClient, queue: String = "default") async throws -> [String] {
        try await redis.lrange(RedisKeys.pending(queue), 0, -1)
    }

    /// The messages of the pending tasks of `queue`, oldest first.
    static func pendingMessages(
        _ redis: RedisClient, queue: String = "default"
    ) async throws -> [(
        message: TaskMessage, pendingSince: Int64
    )] {
        var result: [(TaskMessage, Int64)] = []
        for id in try await pendingIDs(redis, queue: queue).reversed() {
            let fields = try await redis.hmget(RedisKeys.taskKey(queue, id), ["msg", "pending_since"])
            guard fields.count == 2, let msg = fields[0], let since = fields[1] else { continue }
            let message = try TaskMessage.decode(msg.readableBytesView)
            let pendingSince = Int64(String(buffer: since)) ?? 0
            result.append((message, pendingSince))
        }
        return result.map { (message: $0.0, pendingSince: $0.1) }
    }

    static func keys(_ redis: RedisClient, matching pattern: String) async throws -> [String] {
        try await redis.keys(pattern).sorted()
    }
}

extension Date {
    /// A fixed UTC instant for tests: `2030-01-01T00:00:00Z` plus `seconds`.
    static func testInstant(_ seconds: TimeInterval = 0) -> Date {
        Date(timeIntervalSince1970: 1_893_456_000 + seconds)
    }
}

extension Google_Protobuf_Timestamp {
    var unixSeconds: Int64 { seconds }
}
