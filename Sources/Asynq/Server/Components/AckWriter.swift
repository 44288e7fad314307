import AsynqRedis
import Logging
import Synchronization

/// Writes the outcomes of finished tasks (done, complete, retry, archive, requeue). Outcomes
/// that are ready at the same moment go to Redis in **one pipeline**; each caller resumes only
/// after Redis answered its own script, so an outcome is never reported before it is stored.
///
/// One writer task per server drains the queue; a caller that arrives while a pipeline is in
/// flight is sent with the next one. In a cluster, a write refused with `TRYAGAIN` (its queue's
/// slot is half-migrated) is retried on its own, so that it does not hold up the others. The scripts are the single-task scripts of
/// `operations.md` §2 (no batch script), so every task gets exactly Go's effects.
final class AckWriter: Sendable {
    private struct Item: Sendable {
        let call: RedisScriptCall
        let continuation: CheckedContinuation<Result<Void, AsynqError>, Never>
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finishing = false
        var finished = false
    }

    /// Most scripts sent in one pipeline.
    static let maxBatch = 256

    private let state = Mutex(State())
    private let broker: RedisBroker
    private let logger: Logger

    init(broker: RedisBroker, logger: Logger) {
        self.broker = broker
        self.logger = logger
    }

    /// Runs `call` in the next pipeline and returns its result.
    func submit(_ call: RedisScriptCall) async -> Result<Void, AsynqError> {
        if state.withLock({ $0.finished }) {
            return await Self.runDirectly(call, broker: broker)
        }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, AsynqError>, Never>) in
            let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                guard !state.finished else { return (false, nil) }
                state.items.append(Item(call: call, continuation: continuation))
                defer { state.waiter = nil }
                return (true, state.waiter)
            }
            if accepted {
                waiter?.resume()
            } else {
                // The writer ended between the check above and now; the caller hands the
                // write to the syncer.
                continuation.resume(returning: .failure(AsynqError(.internal, "the acknowledgement writer stopped")))
            }
        }
    }

    /// Makes ``run()`` return once everything queued is written.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finishing = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func run() async {
        await withDiscardingTaskGroup { retries in
            while let batch = await nextBatch() {
                // A write refused with TRYAGAIN (its queue's slot is being migrated in a cluster)
                // or CLUSTERDOWN is not waited for here, which would hold up everybody else's:
                // it is retried on its own, within the cluster retry timeout, while the next
                // batches go on.
                let results = await RedisClient.withClusterRetryTimeout(.zero) { await write(batch) }
                for (item, result) in zip(batch, results) {
                    if case .failure(let error) = result, error.isClusterRetryLater {
                        let broker = self.broker
                        retries.addTask {
                            item.continuation.resume(returning: await Self.runDirectly(item.call, broker: broker))
                        }
                    } else {
                        item.continuation.resume(returning: result.map { _ in () })
                    }
                }
            }
        }
        let leftovers = state.withLock { state -> [Item] in
            state.finished = true
            defer { state.items = [] }
            return state.items
        }
        for item in leftovers {
            item.continuation.resume(returning: .failure(AsynqError(.cancelled, "the server was cancelled")))
        }
    }

    /// Runs the calls of `batch` (in one pipeline when there are several).
    private func write(_ batch: [Item]) async -> [Result<RESPToken, AsynqError>] {
        if batch.count == 1, let item = batch.first {
            do {
                return [.success(try await broker.run(item.call))]
            } catch {
                return [.failure(error)]
            }
        }
        do {
            return try await broker.run(pipeline: batch.map(\.call))
        } catch {
            return Array(repeating: .failure(error), count: batch.count)
        }
    }

    /// The next batch; nil when finishing with nothing left, or when cancelled.
    private func nextBatch() async -> [Item]? {
        while true {
            let (batch, finishing) = state.withLock { state -> ([Item], Bool) in
                let count = min(state.items.count, Self.maxBatch)
                defer { state.items.removeFirst(count) }
                return (Array(state.items.prefix(count)), state.finishing)
            }
            if !batch.isEmpty { return batch }
            if finishing || Task.isCancelled { return nil }
            await waitForWork()
        }
    }

    private func waitForWork() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if !state.items.isEmpty || state.finishing || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }

    private static func runDirectly(_ call: RedisScriptCall, broker: RedisBroker) async -> Result<Void, AsynqError> {
        do {
            try await broker.run(call)
            return .success(())
        } catch {
            return .failure(error)
        }
    }
}
