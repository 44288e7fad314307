import Synchronization

/// A one-shot event that many tasks can wait for (a latch). Waiting ends early when the waiting
/// task is cancelled.
final class ServerEvent: Sendable {
    private struct State {
        var fired = false
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    init() {}

    var isFired: Bool { state.withLock { $0.fired } }

    /// Fires the event (later calls do nothing) and resumes every waiter.
    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the event fired, or when the current task is cancelled.
    func wait() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.fired || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Waits for the event at most `timeout`; returns whether it fired. Also returns (false
    /// unless fired) when the current task is cancelled.
    func wait(timeout: Duration) async -> Bool {
        if isFired { return true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
        return isFired
    }
}

/// An auto-resetting wake-up signal for one waiter at a time (the processor's fetch loop): a
/// signal sent while nobody waits is remembered until the next ``reset()`` or wait.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var nextID = 0
        var waiter: (id: Int, continuation: CheckedContinuation<Void, Never>)?
    }

    private let state = Mutex(State())

    init() {}

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Forgets a signal sent before now.
    func reset() {
        state.withLock { $0.pending = false }
    }

    /// Returns at the next signal (or at once for a pending one), at the timeout, or when the
    /// current task is cancelled.
    func wait(timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func wait() async {
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    let previous = state.waiter
                    state.waiter = (id, continuation)
                    // A single waiter is expected; a replaced one is released rather than leaked.
                    previous?.continuation.resume()
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter, waiter.id == id else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume()
        }
    }
}

/// The first of several competing values, awaited by one task (the worker deciding how a task
/// attempt ended: handler finished, deadline, cancel request, lease lost, shutdown).
final class FirstEvent<Value: Sendable>: Sendable {
    private struct State {
        var value: Value?
        var waiter: CheckedContinuation<Value, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// Offers a value; returns false when another one came first.
    @discardableResult
    func offer(_ value: Value) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Value, Never>?) in
            guard state.value == nil else { return (false, nil) }
            state.value = value
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume(returning: value)
        return accepted
    }

    /// The first value offered; `onCancel` is offered when the waiting task is cancelled.
    func wait(onCancel: Value) async -> Value {
        // Usually decided already (a handler that finished without suspending).
        if let value = state.withLock({ $0.value }) { return value }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
                let ready = state.withLock { state -> Value? in
                    if let value = state.value { return value }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            offer(onCancel)
        }
    }
}
