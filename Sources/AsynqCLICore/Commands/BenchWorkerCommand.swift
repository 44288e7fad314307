import ArgumentParser
import Asynq
import AsynqRedis
import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `asynq bench-worker` (hidden): the worker process of `asynq bench` W2 and W3. An
/// `AsynqServer` on queue `default` with default settings except `--concurrency`, whose handler
/// records the ID (and, with `--latency`, now − the payload's timestamp) of every
/// `bench:noop` task.
///
/// Protocol on standard output, one line each: `started` just before the server starts (the
/// W2 timer starts there), `ready` once its subscription is confirmed (`--latency` only), and
/// `done key=value …` once the handler has seen `--expect` distinct IDs **and** Redis shows
/// processed total = `--expect`, pending 0 and active 0. It then waits for its standard input
/// to close and shuts the server down gracefully (also when the input closes earlier).
struct BenchWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-worker",
        abstract: "The worker process of 'asynq bench'",
        shouldDisplay: false
    )

    @Option(help: "Redis (host:port or redis:// URI)")
    var redis: String

    @Option(help: "Worker concurrency")
    var concurrency: Int

    @Option(help: "How many distinct task IDs to wait for")
    var expect: Int

    @Flag(help: "Record the latency from the payload's timestamp to the handler")
    var latency = false

    @Flag(help: "Ignore standard input and run until killed (crash tests)")
    var untilKilled = false

    func run() async throws {
        let console = Console.current
        let globals = try GlobalOptions.parse(["--uri", redis])
        let options = try globals.connectionOptions()
        let logger = CLILogging.logger("asynq.bench-worker", console: console)
        let tracker = BenchTracker(expected: expect, recordLatency: latency)
        let configuration = AsynqServer.Configuration(
            concurrency: max(1, concurrency),
            queues: ["default": 1],
            logger: logger
        )
        let server = try AsynqServer(redis: options, configuration: configuration) { task, _ in
            tracker.record(task.payload)
        }
        // A connection of its own to watch Redis drain, opened before the timer starts.
        let probe = try RedisClient(options: options, logger: logger)
        _ = try await probe.ping()
        let threads = NIOThreadPool(numberOfThreads: 1)
        threads.start()
        let inputClosed = BenchLatch()
        let expect = self.expect
        let latency = self.latency

        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let untilKilled = self.untilKilled
                group.addTask {
                    guard !untilKilled else { return }
                    // Blocks one pool thread until the parent closes our standard input.
                    _ = try? await threads.runIfActive {
                        var byte: UInt8 = 0
                        while true {
                            let count = read(STDIN_FILENO, &byte, 1)
                            if count < 0 && errno == EINTR { continue }
                            if count <= 0 { break }
                        }
                    }
                    inputClosed.open()
                    tracker.abort()
                }
                console.print("started")
                let clock = ContinuousClock()
                let start = clock.now
                group.addTask { try await server.run() }
                if latency {
                    await server.waitUntilSubscribed()
                    console.print("ready")
                }
                var fields: [(String, String)] = []
                if await tracker.waitUntilComplete() {
                    let drained = try await Self.waitUntilDrained(
                        probe: probe, expect: expect, inputClosed: inputClosed)
                    let elapsed = clock.now - start
                    let report = tracker.report()
                    fields = [
                        ("elapsed_ns", String(Self.nanoseconds(elapsed))),
                        ("seen", String(report.ids.seen)),
                        ("duplicates", String(report.ids.duplicates)),
                        ("invalid", String(report.ids.invalid)),
                        ("processed", String(drained.processed)),
                        ("pending", String(drained.pending)),
                        ("active", String(drained.active)),
                    ]
                    if latency {
                        let sorted = report.latencies.sorted()
                        for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p100", 100.0)] {
                            fields.append(("\(name)_ns", String(BenchStatistics.percentile(sorted, p))))
                        }
                    }
                } else {
                    let report = tracker.report()
                    fields = [("aborted", "1"), ("seen", String(report.ids.seen))]
                }
                console.print("done " + fields.map { "\($0.0)=\($0.1)" }.joined(separator: " "))
                await inputClosed.wait()
                await server.shutdown()
                try await group.waitForAll()
            }
        } catch {
            await probe.close()
            try? await threads.shutdownGracefully()
            throw error
        }
        await probe.close()
        try await threads.shutdownGracefully()
    }

    private struct Drained {
        var processed = 0
        var pending = 0
        var active = 0
    }

    /// Polls (every 0.5 ms) until Redis shows every task processed and none pending or active.
    private static func waitUntilDrained(
        probe: RedisClient, expect: Int, inputClosed: BenchLatch
    ) async throws -> Drained {
        let commands = [
            RedisCommand("GET", RedisKeys.processedTotal("default")),
            RedisCommand("LLEN", RedisKeys.pending("default")),
            RedisCommand("LLEN", RedisKeys.active("default")),
        ]
        while true {
            let results = try await probe.pipeline(commands)
            let values = try results.map { result -> Int in
                let token = try result.get()
                if let number = token.int { return number }
                if let text = token.string { return Int(text) ?? -1 }
                return 0
            }
            let drained = Drained(processed: values[0], pending: values[1], active: values[2])
            if (drained.processed >= expect && drained.pending == 0 && drained.active == 0) || inputClosed.isOpen {
                return drained
            }
            try await Task.sleep(for: .microseconds(500))
        }
    }

    private static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}

/// What the benchmark handler saw.
final class BenchTracker: Sendable {
    struct Report {
        var ids: BenchIDSet
        var latencies: [Int64]
    }

    private struct State {
        var ids: BenchIDSet
        var latencies: [Int64] = []
        var aborted = false
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state: Mutex<State>
    private let recordLatency: Bool

    init(expected: Int, recordLatency: Bool) {
        var initial = State(ids: BenchIDSet(expected: expected))
        if recordLatency { initial.latencies.reserveCapacity(expected) }
        state = Mutex(initial)
        self.recordLatency = recordLatency
    }

    func record(_ payload: Data?) {
        let now = recordLatency ? BenchClock.unixNanoseconds() : 0
        let parsed = BenchPayload.parse(payload)
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            if let parsed {
                state.ids.insert(parsed.id)
                if recordLatency { state.latencies.append(now - parsed.timestamp) }
            } else {
                state.ids.insert(-1)
            }
            guard state.ids.seen >= state.ids.expected, let waiter = state.waiter else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(returning: true)
    }

    /// Ends ``waitUntilComplete()`` with false.
    func abort() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.aborted = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: false)
    }

    /// True once every expected ID was seen; false when aborted first.
    func waitUntilComplete() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let ready = state.withLock { state -> Bool? in
                if state.ids.seen >= state.ids.expected { return true }
                if state.aborted { return false }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    func report() -> Report {
        state.withLock { Report(ids: $0.ids, latencies: $0.latencies) }
    }
}

/// A one-shot gate many tasks can wait for.
final class BenchLatch: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    var isOpen: Bool { state.withLock { $0.open } }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
