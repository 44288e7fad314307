package import Metrics
import Synchronization

/// The metrics a server records through swift-metrics (the application picks the backend).
///
/// | Label | Kind | Dimensions |
/// |---|---|---|
/// | `asynq.tasks.processed` | counter | `queue`, `task_type`, `status` |
/// | `asynq.tasks.duration` | timer (handler run time) | `queue`, `task_type`, `status` |
/// | `asynq.tasks.active` | gauge (tasks in flight in this server) | `queue` |
///
/// `status` is the outcome of one processing attempt: `succeeded`, `retried`, `archived`,
/// `revoked` (the handler threw `revokeTask`), `requeued` (shutdown timeout) or `abandoned`
/// (the lease was lost, nothing written).
package final class ServerMetrics: Sendable {
    package enum Status: String, Sendable {
        case succeeded, retried, archived, revoked, requeued, abandoned
    }

    package static let processedLabel = "asynq.tasks.processed"
    package static let durationLabel = "asynq.tasks.duration"
    package static let activeLabel = "asynq.tasks.active"

    private struct Key: Hashable {
        var queue: String
        var taskType: String
        var status: Status
    }

    private struct State {
        var counters: [Key: Counter] = [:]
        var timers: [Key: Timer] = [:]
        var gauges: [String: Gauge] = [:]
        /// The handles used last: nearly every task of a busy server has the same key.
        var last: (key: Key, counter: Counter, timer: Timer)?
    }

    // Handles are cached: creating one per task would ask the factory every time.
    private let state = Mutex(State())

    package init() {}

    /// Records one finished attempt.
    package func record(queue: String, taskType: String, status: Status, duration: Duration) {
        let key = Key(queue: queue, taskType: taskType, status: status)
        let (counter, timer) = state.withLock { state -> (Counter, Timer) in
            if let last = state.last, last.key == key { return (last.counter, last.timer) }
            let dimensions = [("queue", queue), ("task_type", taskType), ("status", status.rawValue)]
            let counter =
                state.counters[key]
                ?? {
                    let created = Counter(label: Self.processedLabel, dimensions: dimensions)
                    state.counters[key] = created
                    return created
                }()
            let timer =
                state.timers[key]
                ?? {
                    let created = Timer(label: Self.durationLabel, dimensions: dimensions)
                    state.timers[key] = created
                    return created
                }()
            state.last = (key, counter, timer)
            return (counter, timer)
        }
        counter.increment()
        let (seconds, attoseconds) = duration.components
        timer.recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }

    /// The gauge of tasks of `queue` in flight (callers may keep it).
    package func activeGauge(queue: String) -> Gauge {
        state.withLock { state -> Gauge in
            if let gauge = state.gauges[queue] { return gauge }
            let created = Gauge(label: Self.activeLabel, dimensions: [("queue", queue)])
            state.gauges[queue] = created
            return created
        }
    }

    /// Publishes the number of tasks of `queue` in flight.
    package func setActive(queue: String, count: Int) {
        let gauge = state.withLock { state -> Gauge in
            if let gauge = state.gauges[queue] { return gauge }
            let created = Gauge(label: Self.activeLabel, dimensions: [("queue", queue)])
            state.gauges[queue] = created
            return created
        }
        gauge.record(count)
    }
}
