import AsynqRedis
import Logging
import Synchronization

/// Writes the outcomes of finished tasks (done, complete, retry, archive, requeue). Outcomes
/// that are ready at the same moment go to Redis in **one pipeline**; each caller resumes only
/// after Redis answered its own script, so an outcome is never reported before it is stored.
///
/// One writer task per server drains the queue; a caller that arrives while a pipeline is in
/// flight is sent with the next one. In a cluster, a write refused with `TRYAGAIN` (its queue's
/// slot is half-migrated) is retried on its own, so that it does not hold up the others. The
/// scripts are the single-task scripts of `operations.md` §2 (no batch script), so every task
/// gets exactly Go's effects.
///
/// A caller either waits for its result (``submit(_:)``) or hands over a completion
/// (``submit(_:then:)``) that the writer runs once Redis answered — the processor's hot path,
/// where the completion frees the worker slot, so no task has to be resumed per outcome.
final class AckWriter: Sendable {
    typealias Completion = @Sendable (Result<Void, AsynqError>) -> Void

    private enum Receiver: Sendable {
        case waiting(CheckedContinuation<Result<Void, AsynqError>, Never>)
        case completion(Completion)

        func deliver(_ result: Result<Void, AsynqError>) {
            switch self {
            case .waiting(let continuation): continuation.resume(returning: result)
            case .completion(let completion): completion(result)
            }
        }
    }

    private struct Item: Sendable {
        let call: RedisScriptCall
        let receiver: Receiver
        /// Whether the completion frees a worker slot (see ``AckRefiller``).
        var freesSlot = false
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
    private let refiller = Mutex<(any AckRefiller)?>(nil)

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
            if !enqueue(Item(call: call, receiver: .waiting(continuation))) {
                // The writer ended between the check above and now; the caller hands the
                // write to the syncer.
                continuation.resume(returning: .failure(AsynqError(.internal, "the acknowledgement writer stopped")))
            }
        }
    }

    /// Runs `call` in the next pipeline and calls `completion` with its result once Redis
    /// answered (on the writer's task: it must be quick and must not block). Returns at once,
    /// unless the writer has already stopped: then the call runs here first. `freesSlot`: the
    /// completion frees a worker slot, which the refiller may fill in the same pipeline.
    func submit(_ call: RedisScriptCall, freesSlot: Bool = false, then completion: @escaping Completion) async {
        if !state.withLock({ $0.finished }),
            enqueue(Item(call: call, receiver: .completion(completion), freesSlot: freesSlot))
        {
            return
        }
        completion(await Self.runDirectly(call, broker: broker))
    }

    /// Queues `call` without waiting for it; false once the writer has stopped.
    @discardableResult
    func submitWithoutWaiting(_ call: RedisScriptCall) -> Bool {
        enqueue(Item(call: call, receiver: .completion({ _ in })))
    }

    /// Sets (or, with nil, removes) who refills freed worker slots in acknowledgement pipelines.
    func setRefiller(_ refiller: (any AckRefiller)?) {
        self.refiller.withLock { $0 = refiller }
    }

    /// Queues an item and wakes the writer; false once the writer has stopped.
    private func enqueue(_ item: Item) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
            guard !state.finished else { return (false, nil) }
            state.items.append(item)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        waiter?.resume()
        return accepted
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
                // Slots freed by this pipeline's outcomes are refilled by a dequeue sent after
                // them in the same pipeline: Redis runs it after the acknowledgements, exactly
                // where a worker would dequeue once its acknowledgement returned, one round trip
                // earlier.
                let freed = batch.reduce(0) { $0 + ($1.freesSlot ? 1 : 0) }
                let refill = freed > 0 ? refiller.withLock({ $0 })?.refill(slots: freed) : nil
                var calls = batch.map(\.call)
                if let refill { calls.append(refill.call) }
                // A write refused with TRYAGAIN (its queue's slot is being migrated in a cluster)
                // or CLUSTERDOWN is not waited for here, which would hold up everybody else's:
                // it is retried on its own, within the cluster retry timeout, while the next
                // batches go on. A refused refill dequeued nothing.
                let results = await RedisClient.withClusterRetryTimeout(.zero) { await write(calls) }
                if let refill {
                    // Before the completions free the slots, so the new tasks are there to take them.
                    refill.deliver(results.last ?? .failure(AsynqError(.internal, "no reply")))
                }
                for (item, result) in zip(batch, results) {
                    if case .failure(let error) = result, error.isClusterRetryLater {
                        let broker = self.broker
                        retries.addTask {
                            item.receiver.deliver(await Self.runDirectly(item.call, broker: broker))
                        }
                    } else {
                        item.receiver.deliver(result.map { _ in () })
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
            item.receiver.deliver(.failure(AsynqError(.cancelled, "the server was cancelled")))
        }
    }

    /// Runs `calls` (in one pipeline when there are several).
    private func write(_ calls: [RedisScriptCall]) async -> [Result<RESPToken, AsynqError>] {
        if calls.count == 1, let call = calls.first {
            do {
                return [.success(try await broker.run(call))]
            } catch {
                return [.failure(error)]
            }
        }
        do {
            return try await broker.run(pipeline: calls)
        } catch {
            return Array(repeating: .failure(error), count: calls.count)
        }
    }

    /// The next batch; nil when finishing with nothing left, or when cancelled.
    private func nextBatch() async -> [Item]? {
        while true {
            let (batch, finishing) = state.withLock { state -> ([Item], Bool) in
                if state.items.count <= Self.maxBatch {
                    // Usually everything: hand the array over instead of copying it.
                    var batch: [Item] = []
                    swap(&batch, &state.items)
                    return (batch, state.finishing)
                }
                defer { state.items.removeFirst(Self.maxBatch) }
                return (Array(state.items.prefix(Self.maxBatch)), state.finishing)
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

/// Fills worker slots that an acknowledgement pipeline frees (the processor).
protocol AckRefiller: Sendable {
    /// The dequeue to send after the acknowledgements that free `slots` slots; nil for none.
    func refill(slots: Int) -> AckRefill?
}

/// A dequeue sent with acknowledgements, and what to do with its reply (called on the writer's
/// task before the acknowledgements' completions).
struct AckRefill: Sendable {
    let call: RedisScriptCall
    let deliver: @Sendable (Result<RESPToken, AsynqError>) -> Void
}
