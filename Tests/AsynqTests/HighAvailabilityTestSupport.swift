import Asynq
import AsynqRedis
import Foundation
import Logging
import Synchronization

// Shared by the Sentinel and Cluster end-to-end tests: a ledger of what the components did,
// bounded polling for states no event announces, and the figures the tests print.

/// Polls `condition` every `interval` until it holds; throws after `timeout`. Errors thrown by
/// `condition` count as "not yet" (a Redis that is failing over answers with errors).
func haEventually(
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
            throw ServerTestTimeout(what: what + (lastError.map { " (last error: \($0))" } ?? ""))
        }
        try await Task.sleep(for: interval)
    }
}

/// A flag the test's loops check between iterations.
final class StopFlag: Sendable {
    private let value = Mutex(false)
    var isSet: Bool { value.withLock { $0 } }
    func set() { value.withLock { $0 = true } }
}

/// What the clients, workers, scheduler and inspector of an end-to-end test did, with when.
final class HALedger: Sendable {
    struct State {
        /// Task ID → when the enqueue was acknowledged.
        var acknowledged: [String: ContinuousClock.Instant] = [:]
        var enqueueFailures = 0
        /// Task ID → every moment a handler started it.
        var processed: [String: [ContinuousClock.Instant]] = [:]
        var processedCount = 0
        /// Handler starts per queue.
        var processedPerQueue: [String: Int] = [:]
        /// Handler starts of scheduler-enqueued tasks.
        var ticks: [ContinuousClock.Instant] = []
        var inspectorSuccesses: [ContinuousClock.Instant] = []
        var inspectorFailures = 0
        var cancelledHandlers: [String] = []
    }

    let clock = ContinuousClock()
    private let state = Mutex(State())

    func acknowledge(_ id: String) {
        let now = clock.now
        state.withLock { $0.acknowledged[id] = now }
    }

    func enqueueFailed() { state.withLock { $0.enqueueFailures += 1 } }

    func processed(_ id: String, queue: String = "default") {
        let now = clock.now
        state.withLock { state in
            state.processed[id, default: []].append(now)
            state.processedCount += 1
            state.processedPerQueue[queue, default: 0] += 1
        }
    }

    func ticked() {
        let now = clock.now
        state.withLock { $0.ticks.append(now) }
    }

    func inspected(_ success: Bool) {
        let now = clock.now
        state.withLock { state in
            if success { state.inspectorSuccesses.append(now) } else { state.inspectorFailures += 1 }
        }
    }

    func cancelled(_ id: String) { state.withLock { $0.cancelledHandlers.append(id) } }

    var snapshot: State { state.withLock { $0 } }

    /// The first handler start of a work task at or after `instant`.
    func firstProcessing(after instant: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        state.withLock { state in
            state.processed.values.lazy.flatMap { $0 }.filter { $0 >= instant }.min()
        }
    }
}

/// The test logger: silent unless `ASYNQ_TEST_LOG` names a level.
func haLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    let level = ProcessInfo.processInfo.environment["ASYNQ_TEST_LOG"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .critical
    return logger
}

extension Duration {
    /// Milliseconds, for the printed figures.
    var haMilliseconds: Int {
        let (seconds, attoseconds) = components
        return Int(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}
