// End to end against a real server: dequeue a batch of tasks and acknowledge each with the
// done script, through the library's own calls (`AsynqBenchmarks` SPI) and `RedisClient`, the
// way the processor does, without running handlers. Each benchmark starts its own throwaway
// `redis-server` (free port on 127.0.0.1, no persistence) and stops it at the end; it needs
// `redis-server` on PATH (`apt-get install -y redis-server`).
//
//   cd Benchmarks && swift package benchmark --target DequeueRedisBenchmarks
//
// Every measured run handles 1000 tasks enqueued before the measurement starts (their enqueue
// is not measured), so with `--scale` every figure is per task. Allocations are counted in the
// whole process, event loop included; since replies are read in chunks that vary from run to
// run, the count is not exactly repeatable and its tolerance is relative.

@_spi(AsynqBenchmarks) import Asynq
import AsynqRedis
import Benchmark
import BenchmarkSupport
import Foundation
import Synchronization
import ThrowawayRedis

let benchmarks: @Sendable () -> Void = {
    func configuration() -> Benchmark.Configuration {
        var configuration = AsynqBenchmarkConfiguration.configuration(
            mallocTolerance: .percent(10),
            // Round trips to a server sharing the 2 cores: p90 was seen to vary 3 times.
            wallClockTolerancePercent: 300,
            warmupIterations: 2,
            maxDuration: .seconds(3),
            maxIterations: 200,
            setup: { try await RedisFixture.start() },
            teardown: { await RedisFixture.stop() }
        )
        configuration.timeUnits = .nanoseconds  // per task: tens of microseconds, shown to the nanosecond
        return configuration
    }

    // Two round trips per batch: the dequeue, then the done calls in one pipeline.
    for batch in [100, 10] {
        Benchmark("dequeue_\(batch)_then_done_pipeline_per_task", configuration: configuration()) { benchmark in
            await run(benchmark, batch: batch, refillInAckPipeline: false)
        }
    }

    // One round trip per batch in the steady state, as the processor's acknowledgement writer
    // does: the done calls of a batch and the dequeue of the next one share a pipeline.
    Benchmark("dequeue_100_in_done_pipeline_per_task", configuration: configuration()) { benchmark in
        await run(benchmark, batch: 100, refillInAckPipeline: true)
    }

    // Go asynq's shape: one dequeue and one done per task, two round trips each.
    Benchmark("dequeue_1_then_done_per_task", configuration: configuration()) { benchmark in
        await run(benchmark, batch: 1, refillInAckPipeline: false)
    }
}

/// Enqueues the run's tasks (not measured), then measures dequeueing and acknowledging them all.
func run(_ benchmark: Benchmark, batch: Int, refillInAckPipeline: Bool) async {
    guard let fixture = RedisFixture.current else {
        benchmark.error("no redis-server: the setup failed")
        return
    }
    let total = benchmark.scaledIterations.count
    do {
        try await fixture.seed(count: total)
        benchmark.startMeasurement()
        let acknowledged =
            refillInAckPipeline
            ? try await fixture.drainWithRefill(batch: batch)
            : try await fixture.drain(batch: batch)
        benchmark.stopMeasurement()
        guard acknowledged == total else {
            benchmark.error("acknowledged \(acknowledged) tasks, expected \(total)")
            return
        }
    } catch {
        benchmark.error("\(error)")
    }
}

/// The server, a client and the broker's calls for the queue `default`.
final class RedisFixture: Sendable {
    private static let shared = Mutex<RedisFixture?>(nil)

    static var current: RedisFixture? { shared.withLock { $0 } }

    let server: ThrowawayRedisServer
    let redis: RedisClient
    let client: AsynqClient
    let broker: BenchmarkBroker

    private init(server: ThrowawayRedisServer, redis: RedisClient) {
        self.server = server
        self.redis = redis
        client = AsynqClient(redis: redis)
        broker = BenchmarkBroker(redis: redis, queue: "default")
    }

    static func start() async throws {
        await stop()
        let server = try await ThrowawayRedisServer.start(executable: "redis-server", label: "asynq-benchmarks")
        do {
            let redis = try RedisClient(options: .standalone(host: "127.0.0.1", port: server.port))
            let fixture = RedisFixture(server: server, redis: redis)
            shared.withLock { $0 = fixture }
        } catch {
            await server.stop()
            throw error
        }
    }

    static func stop() async {
        guard
            let fixture = shared.withLock({ state -> RedisFixture? in
                defer { state = nil }
                return state
            })
        else { return }
        await fixture.redis.close()
        await fixture.server.stop()
    }

    /// A 120-byte JSON payload, the size of a typical job description.
    static let jsonPayload = Data(
        #"{"user_id":4242,"template":"welcome","locale":"en-GB","to":"someone@example.com","attempt":1,"tags":["a","b"]}"#
            .utf8)

    /// Enqueues `count` tasks into `default` (pipelined batch enqueue).
    func seed(count: Int) async throws {
        let tasks = [AsynqTask](repeating: AsynqTask(type: "email:deliver", payload: Self.jsonPayload), count: count)
        for result in try await client.enqueueBatch(tasks) {
            _ = try result.get()
        }
    }

    /// Dequeues batches until the queue is empty, acknowledging each batch with one pipeline of
    /// done calls; returns how many tasks were acknowledged.
    func drain(batch: Int) async throws -> Int {
        var acknowledged = 0
        while true {
            let reply = try await redis.run(broker.dequeueCall(count: batch, now: Date()))
            let calls = doneCalls(broker.dequeuedTasks(from: reply))
            if calls.isEmpty { return acknowledged }
            _ = try await send(calls, done: calls.count)
            acknowledged += calls.count
        }
    }

    /// Dequeues the first batch alone, then sends the done calls of each batch with the dequeue
    /// of the next one in the same pipeline; returns how many tasks were acknowledged.
    func drainWithRefill(batch: Int) async throws -> Int {
        var acknowledged = 0
        var reply = try await redis.run(broker.dequeueCall(count: batch, now: Date()))
        while true {
            var calls = doneCalls(broker.dequeuedTasks(from: reply))
            let done = calls.count
            if done == 0 { return acknowledged }
            calls.append(broker.dequeueCall(count: batch, now: Date()))  // within the reserved capacity
            guard let next = try await send(calls, done: done) else { return acknowledged + done }
            acknowledged += done
            reply = next
        }
    }

    /// The done calls of the dequeued tasks, with room for one more call.
    private func doneCalls(_ tasks: BenchmarkDequeuedTasks) -> [RedisScriptCall] {
        var calls: [RedisScriptCall] = []
        calls.reserveCapacity(tasks.count + 1)
        let now = Date()
        tasks.forEachMessage { message in calls.append(broker.doneCall(message, now: now)) }
        return calls
    }

    /// Sends `calls` in one pipeline; the first `done` (done calls) must succeed. Returns the
    /// reply of the call after them, if any.
    private func send(_ calls: [RedisScriptCall], done: Int) async throws -> RESPToken? {
        let results = try await redis.run(pipeline: calls)
        for result in results.prefix(done) {
            _ = try result.get()
        }
        guard results.count > done, let last = results.last else { return nil }
        return try last.get()
    }
}
