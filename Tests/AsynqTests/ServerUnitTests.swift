import Asynq
import AsynqRedis
import Foundation
import Testing

// Server pieces that need no Redis: the default retry delay, queue selection, configuration
// normalisation, the effective deadline.

/// SplitMix64: a small seeded generator so distributions are reproducible.
struct ServerTestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Server: retry delay, queue order, configuration")
struct ServerUnitTests {
    @Test(
        "default retry delay is n⁴ + 15 + R×(n+1), R in 0…29",
        arguments: [(0, 15, 44), (1, 16, 74), (5, 640, 814), (10, 10_015, 10_334), (24, 331_791, 332_516)]
    )
    func retryDelayBounds(n: Int, low: Int64, high: Int64) {
        var generator = ServerTestRNG(seed: UInt64(n) + 1)
        var seen = Set<Int64>()
        for _ in 0..<3_000 {
            let delay = AsynqServer.defaultRetryDelay(retried: n, using: &generator)
            let seconds = delay.components.seconds
            #expect(delay.components.attoseconds == 0)
            #expect(seconds >= low && seconds <= high)
            #expect((seconds - low) % Int64(n + 1) == 0, "the jitter is a multiple of n + 1")
            seen.insert(seconds)
        }
        #expect(seen.count == 30, "all 30 jitter values occur")
        #expect(seen.min() == low && seen.max() == high)
    }

    @Test("the public default retry delay uses the same formula")
    func publicRetryDelay() {
        let delay = AsynqServer.defaultRetryDelay(2, ServerTestError("x"), AsynqTask(type: "t"))
        #expect(delay >= .seconds(31) && delay <= .seconds(31 + 29 * 3))
        var system = SystemRandomNumberGenerator()
        let huge = AsynqServer.defaultRetryDelay(retried: Int.max, using: &system)
        #expect(huge >= .seconds(10_000 * 10_000 * 10_000 * 10_000), "capped instead of overflowing")
    }

    @Test("weighted order: a queue comes first with probability priority / total")
    func weightedDistribution() {
        let selector = QueueSelector(queues: ["critical": 6, "default": 3, "low": 1], strictPriority: false)
        var generator = ServerTestRNG(seed: 2024)
        var first: [String: Int] = [:]
        let draws = 60_000
        for _ in 0..<draws {
            let order = selector.order(using: &generator)
            #expect(order.count == 3 && Set(order) == ["critical", "default", "low"], "every queue is tried")
            first[order[0], default: 0] += 1
        }
        let share = first.mapValues { Double($0) / Double(draws) }
        #expect(abs((share["critical"] ?? 0) - 0.6) < 0.01)
        #expect(abs((share["default"] ?? 0) - 0.3) < 0.01)
        #expect(abs((share["low"] ?? 0) - 0.1) < 0.01)
    }

    @Test("weights are normalised by their GCD")
    func gcdNormalisation() {
        let scaled = QueueSelector(queues: ["a": 200, "b": 100], strictPriority: false)
        var generator = ServerTestRNG(seed: 7)
        var aFirst = 0
        for _ in 0..<30_000 where scaled.order(using: &generator).first == "a" { aFirst += 1 }
        #expect(abs(Double(aFirst) / 30_000 - 2.0 / 3.0) < 0.01)
    }

    @Test("strict priority: highest first, always the same order")
    func strictOrder() {
        let selector = QueueSelector(
            queues: ["low": 1, "critical": 6, "default": 3, "also-low": 1], strictPriority: true)
        var generator = ServerTestRNG(seed: 1)
        for _ in 0..<100 {
            #expect(selector.order(using: &generator) == ["critical", "default", "also-low", "low"])
        }
        let single = QueueSelector(queues: ["only": 5], strictPriority: false)
        #expect(single.order(using: &generator) == ["only"])
    }

    @Test("configuration defaults and Go's normalisation")
    func configuration() throws {
        let defaults = try AsynqServer.Configuration().normalized()
        #expect(defaults.concurrency == ProcessInfo.processInfo.activeProcessorCount)
        #expect(defaults.queues == ["default": 1])
        #expect(!defaults.strictPriority)
        #expect(defaults.taskCheckInterval == .seconds(1))
        #expect(defaults.shutdownTimeout == .seconds(8))
        #expect(defaults.healthCheckInterval == .seconds(15))
        #expect(defaults.delayedTaskCheckInterval == .seconds(5))
        #expect(defaults.groupGracePeriod == .seconds(60))
        #expect(defaults.groupMaxDelay == .zero && defaults.groupMaxSize == 0)
        #expect(defaults.janitorInterval == .seconds(8) && defaults.janitorBatchSize == 100)
        #expect(defaults.isFailure(ServerTestError("any")))

        var custom = AsynqServer.Configuration(concurrency: -3, queues: [" ": 3, "a": 0, "b": -1, "c": 2])
        custom.taskCheckInterval = .zero
        custom.shutdownTimeout = .seconds(-1)
        custom.groupGracePeriod = .zero
        custom.janitorBatchSize = 0
        custom.janitorInterval = .zero
        let normalized = try custom.normalized()
        #expect(normalized.concurrency == ProcessInfo.processInfo.activeProcessorCount)
        #expect(normalized.queues == ["c": 2])
        #expect(normalized.taskCheckInterval == .seconds(1))
        #expect(normalized.shutdownTimeout == .seconds(8))
        #expect(normalized.groupGracePeriod == .seconds(60))
        #expect(normalized.janitorBatchSize == 100 && normalized.janitorInterval == .seconds(8))

        custom.queues = ["": 1]
        #expect(try custom.normalized().queues == ["default": 1])

        var badGrace = AsynqServer.Configuration()
        badGrace.groupGracePeriod = .milliseconds(999)
        #expect(throws: AsynqError.self) { try badGrace.normalized() }
        #expect(throws: AsynqError.self) {
            _ = try AsynqServer(redis: .standalone(port: 1), configuration: badGrace) { _, _ in }
        }
    }

    @Test("effective deadline: timeout, deadline, both (whole seconds), neither")
    func effectiveDeadline() {
        let now = Date(timeIntervalSince1970: 1_700_000_000.25)
        var message = TaskMessage()
        #expect(message.effectiveDeadline(now: now) == nil)
        message.timeout = 60
        #expect(message.effectiveDeadline(now: now) == now.addingTimeInterval(60), "sub-second part kept")
        message.deadline = 1_700_000_030
        #expect(message.effectiveDeadline(now: now) == Date(timeIntervalSince1970: 1_700_000_030))
        message.deadline = 1_700_000_100
        #expect(message.effectiveDeadline(now: now) == Date(timeIntervalSince1970: 1_700_000_060), "whole seconds")
        message.timeout = 0
        #expect(message.effectiveDeadline(now: now) == Date(timeIntervalSince1970: 1_700_000_100))
    }
}
