import Foundation
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
final class WorkerRegistry: Sendable {
    struct Worker: Sendable {
        var message: TaskMessage
        var started: Date
        var deadline: Date
        var lease: Lease
        var events: FirstEvent<WorkerEvent>
    }

    private struct State {
        var workers: [String: Worker] = [:]
        var perQueue: [String: Int] = [:]
        var nextWaiterID = 0
        var emptyWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())
    private let metrics: ServerMetrics

    init(metrics: ServerMetrics) {
        self.metrics = metrics
    }

    var count: Int { state.withLock { $0.workers.count } }

    var workers: [Worker] { state.withLock { Array($0.workers.values) } }

    func add(_ worker: Worker) {
        let queue = worker.message.queue
        let active = state.withLock { state -> Int in
            state.workers[worker.message.id] = worker
            state.perQueue[queue, default: 0] += 1
            return state.perQueue[queue, default: 0]
        }
        metrics.setActive(queue: queue, count: active)
    }

    func remove(id: String) {
        let (queue, active, waiters) = state.withLock {
            state -> (String?, Int, [CheckedContinuation<Void, Never>]) in
            guard let worker = state.workers.removeValue(forKey: id) else { return (nil, 0, []) }
            let queue = worker.message.queue
            state.perQueue[queue, default: 1] -= 1
            let active = state.perQueue[queue, default: 0]
            guard state.workers.isEmpty else { return (queue, active, []) }
            defer { state.emptyWaiters = [:] }
            return (queue, active, Array(state.emptyWaiters.values))
        }
        if let queue { metrics.setActive(queue: queue, count: active) }
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
