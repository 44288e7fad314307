import Synchronization

/// Counts free worker slots (`concurrency` in total). Only the fetch loop waits and takes; any
/// worker releases.
final class WorkerSlots: Sendable {
    private struct State {
        var free: Int
        var stopped = false
        var waiter: CheckedContinuation<Int?, Never>?
    }

    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        state = Mutex(State(free: capacity))
    }

    var free: Int { state.withLock { $0.free } }

    /// The number of free slots (≥ 1) once at least one is free; nil once stopped or when the
    /// current task is cancelled.
    func waitForFree() async -> Int? {
        let ready = state.withLock { state -> Int?? in
            if state.stopped || Task.isCancelled { return .some(nil) }
            return state.free > 0 ? .some(state.free) : .none
        }
        if let ready { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int?, Never>) in
                let ready = state.withLock { state -> Int?? in
                    if state.stopped || Task.isCancelled { return .some(nil) }
                    if state.free > 0 { return .some(state.free) }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Int?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume(returning: nil)
        }
    }

    func take(_ count: Int) {
        state.withLock { $0.free -= count }
    }

    func release() {
        let resume = state.withLock { state -> (CheckedContinuation<Int?, Never>, Int)? in
            state.free += 1
            guard let waiter = state.waiter else { return nil }
            state.waiter = nil
            return (waiter, state.free)
        }
        if let (waiter, free) = resume { waiter.resume(returning: free) }
    }

    /// Ends any wait with nil; later waits return nil at once.
    func stop() {
        let waiter = state.withLock { state -> CheckedContinuation<Int?, Never>? in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }
}
