import Foundation
import Metrics
import Synchronization

/// How an attempt to process a task ended, as decided by the first event that happened.
enum WorkerEvent: Sendable {
    /// The handler returned or threw.
    case finished(Result<Void, any Error>)
    /// The task's deadline passed.
    case deadlineExceeded
    /// `asynq:cancel` named the task.
    case cancelRequested
    /// The heartbeater found the in-memory lease expired.
    case leaseExpired
    /// The shutdown timeout passed while the task ran.
    case shutdown
    /// The server's own task was cancelled: nothing can be written any more.
    case serverCancelled
}

/// A task's lease as this process knows it: valid while `expiry >= now`.
final class Lease: Sendable {
    private let expiry: Mutex<Date>

    init(expiry: Date) {
        self.expiry = Mutex(expiry)
    }

    var expiresAt: Date { expiry.withLock { $0 } }

    func isValid(at now: Date) -> Bool {
        expiry.withLock { $0 >= now }
    }

    func extend(to newExpiry: Date) {
        expiry.withLock { $0 = newExpiry }
    }
}

/// The tasks this server is processing: read by the heartbeater (worker info, leases), the
/// subscriber (cancel by ID) and the processor (shutdown).
///
/// It also enforces the tasks' deadlines: one watcher loop (``watchDeadlines(stop:)``) sleeps
/// until the earliest deadline of the registered tasks (at most one second at a time) and ends
/// the attempts whose deadline passed with ``WorkerEvent/deadlineExceeded``. Registering a task
/// costs no timer; the watcher is woken early only when a task's deadline comes before its
/// next planned wake-up.
final class WorkerRegistry: Sendable {
    struct Worker: Sendable {
        var message: TaskMessage
        var started: Date
        var deadline: Date
        /// `deadline` on the monotonic clock (what the watcher compares).
        var deadlineInstant: ContinuousClock.Instant
        var lease: Lease
        var events: FirstEvent<WorkerEvent>
    }

    /// Tasks in flight per queue, with the queue's gauge (looked up once).
    private struct QueueCount {
        var count = 0
        let gauge: Gauge
    }

    private struct State {
        var workers: [String: Worker] = [:]
        var perQueue: [String: QueueCount] = [:]
        var nextWaiterID = 0
        var emptyWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// When the deadline watcher wakes up next (nil: it is not sleeping).
        var watcherWake: ContinuousClock.Instant?
        var watcherAlarm: CheckedContinuation<Void, Never>?
        var watcherAlarmPending = false
    }

    /// The longest the deadline watcher sleeps.
    static let watcherMaximumSleep: Duration = .seconds(1)

    private let state = Mutex(State())
    private let metrics: ServerMetrics

    init(metrics: ServerMetrics) {
        self.metrics = metrics
    }

    var count: Int { state.withLock { $0.workers.count } }

    var workers: [Worker] { state.withLock { Array($0.workers.values) } }

    func add(_ worker: Worker) {
        let queue = worker.message.queue
        let (active, gauge, alarm) = state.withLock {
            state -> (Int, Gauge?, CheckedContinuation<Void, Never>?) in
            state.workers[worker.message.id] = worker
            let counted = state.perQueue[queue]?.count
            if counted != nil { state.perQueue[queue]?.count += 1 }
            var alarm: CheckedContinuation<Void, Never>?
            if let wake = state.watcherWake, worker.deadlineInstant < wake {
                state.watcherWake = nil
                alarm = state.watcherAlarm
                state.watcherAlarm = nil
                if alarm == nil { state.watcherAlarmPending = true }
            }
            guard let counted else { return (0, nil, alarm) }
            return (counted + 1, state.perQueue[queue]?.gauge, alarm)
        }
        if let gauge {
            gauge.record(active)
        } else {
            // First task of this queue: create its gauge outside the lock, then count.
            let gauge = metrics.activeGauge(queue: queue)
            let active = state.withLock { state -> Int in
                state.perQueue[queue, default: QueueCount(gauge: gauge)].count += 1
                return state.perQueue[queue]?.count ?? 1
            }
            gauge.record(active)
        }
        alarm?.resume()
    }

    func remove(id: String) {
        let (gauge, active, waiters) = state.withLock {
            state -> (Gauge?, Int, [CheckedContinuation<Void, Never>]) in
            guard let worker = state.workers.removeValue(forKey: id) else { return (nil, 0, []) }
            let queue = worker.message.queue
            state.perQueue[queue]?.count -= 1
            let gauge = state.perQueue[queue]?.gauge
            let active = state.perQueue[queue]?.count ?? 0
            guard state.workers.isEmpty else { return (gauge, active, []) }
            defer { state.emptyWaiters = [:] }
            return (gauge, active, Array(state.emptyWaiters.values))
        }
        gauge?.record(active)
        for waiter in waiters { waiter.resume() }
    }

    /// Ends the attempt of task `id` with `event` if it is still undecided; false if unknown.
    @discardableResult
    func signal(id: String, _ event: WorkerEvent) -> Bool {
        guard let worker = state.withLock({ $0.workers[id] }) else { return false }
        return worker.events.offer(event)
    }

    func signalAll(_ event: WorkerEvent) {
        for worker in workers { worker.events.offer(event) }
    }

    // MARK: - Deadlines

    /// Ends the attempts whose deadline passed, until `stop` fires or the task is cancelled.
    func watchDeadlines(stop: ServerEvent) async {
        let clock = ContinuousClock()
        while !stop.isFired && !Task.isCancelled {
            let now = clock.now
            let (expired, wake) = state.withLock { state -> ([FirstEvent<WorkerEvent>], ContinuousClock.Instant) in
                var expired: [FirstEvent<WorkerEvent>] = []
                var wake = now + Self.watcherMaximumSleep
                for worker in state.workers.values {
                    if worker.deadlineInstant <= now {
                        expired.append(worker.events)
                    } else if worker.deadlineInstant < wake {
                        wake = worker.deadlineInstant
                    }
                }
                state.watcherWake = wake
                return (expired, wake)
            }
            for events in expired { events.offer(.deadlineExceeded) }
            await sleepUntil(wake, or: stop)
        }
        state.withLock { $0.watcherWake = nil }
    }

    /// Sleeps until `instant`, an earlier deadline being registered, `stop`, or cancellation.
    private func sleepUntil(_ instant: ContinuousClock.Instant, or stop: ServerEvent) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(until: instant, clock: ContinuousClock()) }
            group.addTask { await self.waitForAlarm() }
            group.addTask { await stop.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForAlarm() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.watcherAlarmPending || Task.isCancelled {
                        state.watcherAlarmPending = false
                        return true
                    }
                    state.watcherAlarm = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.watcherAlarm = nil }
                return state.watcherAlarm
            }?.resume()
        }
    }

    // MARK: - Shutdown

    /// Waits until no task is in flight, at most `timeout`; returns whether that happened.
    func waitUntilEmpty(timeout: Duration) async -> Bool {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitUntilEmpty() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return count == 0
    }

    private func waitUntilEmpty() async {
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.workers.isEmpty || Task.isCancelled { return true }
                    state.emptyWaiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.emptyWaiters.removeValue(forKey: id) }?.resume()
        }
    }
}
