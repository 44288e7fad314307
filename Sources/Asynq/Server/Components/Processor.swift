import AsynqRedis
package import Foundation
import Logging
import Synchronization

extension AsynqError {
    /// The failure of a task whose deadline passed while it ran (Go's context error text).
    package static let contextDeadlineExceeded = AsynqError(.deadlineExceeded, "context deadline exceeded")
    /// The failure of a task cancelled through `asynq:cancel` (Go's context error text).
    package static let contextCanceled = AsynqError(.cancelled, "context canceled")
}

extension TaskMessage {
    /// The deadline of an attempt starting at `now` (`server.md` §4.2); nil when the message
    /// has neither timeout nor deadline (clients never write that; the processor then allows
    /// 30 minutes).
    package func effectiveDeadline(now: Date) -> Date? {
        switch (timeout, deadline) {
        case (let timeout, let deadline) where timeout > 0 && deadline > 0:
            return Date(unixSeconds: min(now.unixSeconds + timeout, deadline))
        case (let timeout, _) where timeout > 0:
            return now.addingTimeInterval(TimeInterval(timeout))
        case (_, let deadline) where deadline > 0:
            return Date(unixSeconds: deadline)
        default:
            return nil
        }
    }
}

/// Pulls tasks and runs them (`server.md` §4).
///
/// **Fetching.** One loop waits for free worker slots, then asks the queues, in the order of
/// ``QueueSelector``, for up to *that many* tasks with one batched dequeue call per queue
/// (each task gets exactly the state and lease of a single dequeue). When every queue is
/// empty the loop waits `taskCheckInterval/2 + random[0, taskCheckInterval)` **or** until the
/// subscriber reports a task notification, whichever comes first: Swift clients publish on
/// `asynq:{q}:notify` when a queue's pending list stops being empty; Go clients don't, and
/// their tasks are found by the poll.
///
/// **Running.** Each task runs in a child task of the processor's group, which itself races
/// the handler (in a grandchild) against the deadline, `asynq:cancel`, a lost lease and the
/// shutdown timeout; the first event decides, the handler is cancelled, and the outcome is
/// written from the worker task, which is never cancelled by any of this, so Redis bookkeeping
/// never runs in a cancelled task. The slot is freed when the handler has actually returned.
///
/// **Malformed messages.** A task whose `msg` is not a valid TaskMessage is logged and
/// archived at once, its bytes unchanged (see ``RedisBroker/archiveMalformedCall``). Go's
/// dequeue fails on such a task and leaves it in `active`, where Go's recoverer then fails on
/// every run for that queue; archiving keeps it visible (and deletable by ID) without
/// poisoning anything.
final class Processor: AckRefiller {
    private let runtime: ServerRuntime
    private let handler: any TaskHandler
    private let selector: QueueSelector
    private let logger: Logger
    /// Fired by `stop()` or at shutdown: no more dequeues.
    private let stopFetching: ServerEvent
    /// Fired when the graceful shutdown reaches the processor: start the shutdown timeout.
    private let shutdown: ServerEvent
    /// The fixed keys of every configured queue.
    private let queueKeys: [String: QueueKeys]

    /// Tasks dequeued by refills (``refill(slots:)``), waiting for the fetch loop to start them.
    private struct Handoff {
        var tasks: [(entry: DequeuedTask, dequeuedAt: Date)] = []
        var accepting = true
    }

    private let handoff = Mutex(Handoff())

    init(runtime: ServerRuntime, handler: any TaskHandler, stopFetching: ServerEvent, shutdown: ServerEvent) {
        self.runtime = runtime
        self.handler = handler
        self.selector = QueueSelector(queues: runtime.config.queues, strictPriority: runtime.config.strictPriority)
        self.logger = runtime.logger(component: "processor")
        self.stopFetching = stopFetching
        self.shutdown = shutdown
        self.queueKeys = Dictionary(uniqueKeysWithValues: runtime.queueNames.map { ($0, QueueKeys($0)) })
    }

    private func keys(for queue: String) -> QueueKeys {
        queueKeys[queue] ?? QueueKeys(queue)
    }

    func run() async {
        runtime.ackWriter.setRefiller(self)
        await withDiscardingTaskGroup { group in
            var generator = SystemRandomNumberGenerator()
            var lastErrorLog: ContinuousClock.Instant?
            var backoff: Duration = .zero
            while !stopFetching.isFired, await runtime.slots.waitForFree() != nil {
                if let gate = runtime.config.beforeDequeue { await passGate(gate) }
                guard !stopFetching.isFired else { break }
                runtime.wake.reset()
                // Tasks a refill already dequeued take their slots first, never more than are
                // free (the refill's results arrive just before the acknowledgements that free
                // their slots): the rest wait for the next turn.
                let handed = takeHandedOver(max: runtime.slots.free)
                for (entry, dequeuedAt) in handed { start(entry, at: dequeuedAt, in: &group) }
                // Slots freed after the wake-up (acknowledgements arrive in batches) are
                // fetched in the same call.
                let free = runtime.slots.free
                guard free > 0 else { continue }
                let now = runtime.now()
                var fetched: [DequeuedTask] = []
                var failure: AsynqError?
                for queue in selector.order(using: &generator) where fetched.count < free {
                    do {
                        // No waiting out TRYAGAIN (the queue's slot is being migrated in a
                        // cluster): the other queues are served meanwhile, this one next time.
                        fetched += try await RedisClient.withClusterRetryTimeout(.zero) {
                            try await runtime.broker.dequeueTasks(
                                keys: keys(for: queue),
                                count: free - fetched.count,
                                now: now,
                                leaseSeconds: runtime.leaseSeconds
                            )
                        }
                    } catch {
                        let mapped = RedisBroker.map(error)
                        failure = mapped
                        // A refusal by Redis (TRYAGAIN, CLUSTERDOWN, a script error) concerns
                        // this queue's slot; a connection failure concerns every queue.
                        if !mapped.isRedisServerError { break }
                    }
                }
                for entry in fetched { start(entry, at: now, in: &group) }
                if let failure {
                    // Go logs at most one dequeue error per 3 s and retries at once.
                    let clock = ContinuousClock()
                    if lastErrorLog.map({ clock.now - $0 >= .seconds(3) }) ?? true {
                        logger.error("Dequeue error", metadata: [LogKeys.error: "\(failure)"])
                        lastErrorLog = clock.now
                    }
                }
                if failure != nil && fetched.isEmpty {
                    // We also back off (50 ms doubling to 1 s) so an unreachable Redis is not hammered.
                    backoff = min(max(backoff * 2, .milliseconds(50)), .seconds(1))
                    await runtime.wake.wait(timeout: backoff)
                } else if fetched.isEmpty && handed.isEmpty {
                    backoff = .zero
                    let interval = runtime.config.taskCheckInterval
                    await runtime.wake.wait(timeout: interval / 2 + interval * Double.random(in: 0..<1))
                } else {
                    backoff = .zero
                }
            }
            // No more fetching. Tasks a refill dequeued that never started go back to the front
            // of their queues, and so do those of refills still in flight (see `handOver`).
            runtime.ackWriter.setRefiller(nil)
            let leftovers = handoff.withLock { handoff -> [(entry: DequeuedTask, dequeuedAt: Date)] in
                handoff.accepting = false
                defer { handoff.tasks = [] }
                return handoff.tasks
            }
            putBack(leftovers.map(\.entry))
            // After a plain stop() the running tasks finish normally; the shutdown timeout
            // starts when the graceful shutdown reaches the processor.
            await shutdown.wait()
            if runtime.registry.count > 0 {
                let allDone = await runtime.registry.waitUntilEmpty(timeout: runtime.config.shutdownTimeout)
                if !allDone {
                    logger.warning("Quitting worker: the shutdown timeout passed; requeueing the unfinished tasks")
                    runtime.registry.signalAll(.shutdown)
                }
            }
        }
    }

    // MARK: - Refills

    /// A dequeue for `slots` slots that acknowledgements are about to free, sent in their
    /// pipeline (after them): the first queue of a fresh priority order. The fetch loop starts
    /// what it returns, and fetches from the other queues if it returned fewer tasks.
    func refill(slots: Int) -> AckRefill? {
        // With the test hook `beforeDequeue`, every dequeue goes through the fetch loop.
        guard !stopFetching.isFired, runtime.config.beforeDequeue == nil else { return nil }
        var generator = SystemRandomNumberGenerator()
        guard let queue = selector.order(using: &generator).first else { return nil }
        let keys = keys(for: queue)
        let now = runtime.now()
        let broker = runtime.broker
        let call = broker.dequeueCall(keys: keys, count: slots, now: now, leaseSeconds: runtime.leaseSeconds)
        return AckRefill(call: call) { result in
            // A failed refill dequeued nothing that anyone knows of; the fetch loop goes on as usual.
            guard case .success(let reply) = result else { return }
            let tasks = broker.dequeuedTasks(from: reply, keys: keys)
            if !tasks.isEmpty { self.handOver(tasks, dequeuedAt: now) }
        }
    }

    /// Passes refilled tasks to the fetch loop, or, once it has stopped, puts them back at the
    /// front of their queue (they never started).
    private func handOver(_ tasks: [DequeuedTask], dequeuedAt: Date) {
        let accepted = handoff.withLock { handoff -> Bool in
            guard handoff.accepting else { return false }
            handoff.tasks += tasks.map { ($0, dequeuedAt) }
            return true
        }
        if accepted {
            runtime.wake.signal()
        } else {
            putBack(tasks)
        }
    }

    /// Requeues dequeued tasks that never started (Go's requeue: active → front of pending).
    private func putBack(_ tasks: [DequeuedTask]) {
        for entry in tasks {
            switch entry {
            case .task(let message):
                if !runtime.ackWriter.submitWithoutWaiting(runtime.broker.requeueCall(message)) {
                    logger.warning(
                        "a task dequeued during the shutdown stays active until its lease expires",
                        metadata: [LogKeys.taskID: "\(message.id)"])
                }
            case .malformed(let id, let queue, _, _), .dangling(let id, let queue):
                logger.warning(
                    "an unreadable task dequeued during the shutdown stays active",
                    metadata: [LogKeys.taskID: "\(id)", LogKeys.queue: "\(queue)"])
            }
        }
    }

    private func takeHandedOver(max count: Int) -> [(entry: DequeuedTask, dequeuedAt: Date)] {
        handoff.withLock { handoff in
            guard !handoff.tasks.isEmpty, count > 0 else { return [] }
            if handoff.tasks.count <= count {
                defer { handoff.tasks = [] }
                return handoff.tasks
            }
            defer { handoff.tasks.removeFirst(count) }
            return Array(handoff.tasks.prefix(count))
        }
    }

    /// Waits for the test hook `beforeDequeue`, or until fetching stops.
    private func passGate(_ gate: @escaping @Sendable () async -> Void) async {
        let stopFetching = self.stopFetching
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await gate() }
            group.addTask { await stopFetching.wait() }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: - One task

    /// Starts a dequeued entry: a task runs, a malformed one is archived, a dangling ID logged.
    private func start(_ entry: DequeuedTask, at now: Date, in group: inout DiscardingTaskGroup) {
        switch entry {
        case .task(let message):
            start(message, at: now, in: &group)
        case .malformed(let id, let queue, let rawMessage, let error):
            group.addTask {
                await self.archiveMalformed(id: id, queue: queue, rawMessage: rawMessage, error: error)
            }
        case .dangling(let id, let queue):
            logger.warning(
                "dequeued a task ID without a task hash; it stays in active",
                metadata: [LogKeys.taskID: "\(id)", LogKeys.queue: "\(queue)"]
            )
        }
    }

    private func start(_ message: TaskMessage, at now: Date, in group: inout DiscardingTaskGroup) {
        let lease = Lease(expiry: now.addingTimeInterval(TimeInterval(runtime.leaseSeconds)))
        let deadline = Self.deadline(for: message, now: now, logger: logger)
        let events = FirstEvent<WorkerEvent>()
        let remaining = deadline.timeIntervalSince(now)
        let deadlineInstant = ContinuousClock.now + .seconds(max(0, min(remaining, 1e9)))
        runtime.registry.add(
            WorkerRegistry.Worker(
                message: message, started: now, deadline: deadline, deadlineInstant: deadlineInstant, lease: lease,
                events: events)
        )
        runtime.slots.take(1)
        group.addTask {
            await self.process(message, lease: lease, deadline: deadline, events: events)
        }
    }

    /// The effective deadline (`server.md` §4.2).
    static func deadline(for message: TaskMessage, now: Date, logger: Logger) -> Date {
        if let deadline = message.effectiveDeadline(now: now) { return deadline }
        logger.error(
            "asynq: internal error: both timeout and deadline are not set",
            metadata: [LogKeys.taskID: "\(message.id)"]
        )
        return now.addingTimeInterval(1800)
    }

    /// Runs one attempt and writes its outcome. The worker slot is released by ``complete``,
    /// once the outcome is stored (or abandoned) **and** the handler has returned; the task
    /// stays in the registry until then, so its lease keeps being extended.
    private func process(
        _ message: TaskMessage,
        lease: Lease,
        deadline: Date,
        events: FirstEvent<WorkerEvent>
    ) async {
        let context = TaskContext(message: message, deadline: deadline, logger: logger, broker: runtime.broker)
        let clock = ContinuousClock()
        let started = clock.now
        guard deadline > runtime.now() else {
            // The deadline passed before the handler could start: fail without calling it.
            let status = await fail(message, error: AsynqError.contextDeadlineExceeded, context: context, lease: lease)
            complete(message, status: status, duration: .zero)
            return
        }
        var handed = AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
        handed.resultWriter = context.resultWriter
        let task = handed
        let handler = self.handler
        // The deadline is enforced by the registry's watcher, which offers `.deadlineExceeded`.
        // The handler starts at once on this worker's thread (an immediate child task): a
        // handler that finishes without suspending has offered its result before the worker
        // waits, so no task switch is needed; one that suspends runs on as a normal child.
        let outcome: (WorkerEvent, Duration, ServerMetrics.Status?) = await withTaskGroup(of: Void.self) { group in
            group.addImmediateTask {
                let result: Result<Void, any Error>
                do {
                    try await TaskContext.$current.withValue(context) {
                        try await handler.processTask(task, context: context)
                    }
                    result = .success(())
                } catch {
                    result = .failure(error)
                }
                events.offer(.finished(result))
            }
            let event = await events.wait(onCancel: .serverCancelled)
            let duration = clock.now - started
            if case .finished = event {
                // The handler has returned; its outcome is written after the group.
                return (event, duration, nil)
            }
            group.cancelAll()
            // Written while the cancelled handler winds down; leaving the group waits for it.
            let status = await finish(event, message: message, context: context, lease: lease)
            return (event, duration, status)
        }
        let (event, duration, status) = outcome
        if let status {
            complete(message, status: status, duration: duration)
            return
        }
        switch event {
        case .finished(.success):
            await succeed(message, lease: lease, context: context, duration: duration)
        default:
            let status = await finish(event, message: message, context: context, lease: lease)
            complete(message, status: status, duration: duration)
        }
    }

    /// The end of an attempt: the task leaves the registry, the metrics are recorded and the
    /// worker slot is free again.
    private func complete(_ message: TaskMessage, status: ServerMetrics.Status, duration: Duration) {
        runtime.registry.remove(id: message.id)
        runtime.metrics.record(queue: message.queue, taskType: message.type, status: status, duration: duration)
        runtime.slots.release()
    }

    /// Writes the outcome of any event but success (`server.md` §4.5).
    private func finish(
        _ event: WorkerEvent,
        message: TaskMessage,
        context: TaskContext,
        lease: Lease
    ) async -> ServerMetrics.Status {
        switch event {
        case .finished(.success):
            // Not reached: success is written by `succeed` without waiting.
            return .succeeded
        case .finished(.failure(let error)):
            return await fail(message, error: error, context: context, lease: lease)
        case .deadlineExceeded:
            return await fail(message, error: AsynqError.contextDeadlineExceeded, context: context, lease: lease)
        case .cancelRequested:
            return await fail(message, error: AsynqError.contextCanceled, context: context, lease: lease)
        case .leaseExpired:
            return await fail(message, error: AsynqError.leaseExpired, context: context, lease: lease)
        case .shutdown:
            return await requeue(message, lease: lease, context: context)
        case .serverCancelled:
            // The server's task was cancelled: Redis cannot be written from here. The task
            // stays active and is recovered once its lease expires.
            return .abandoned
        }
    }

    /// Success: the done (or complete) script goes to the acknowledgement writer, and the
    /// attempt is completed by the writer once Redis answered — the worker does not wait.
    private func succeed(_ message: TaskMessage, lease: Lease, context: TaskContext, duration: Duration) async {
        let now = runtime.now()
        guard lease.isValid(at: now) else {
            context.logger.warning(
                "the task's lease expired before it could be marked as done; the recoverer takes over")
            complete(message, status: .abandoned, duration: duration)
            return
        }
        let call: RedisScriptCall
        let summary: String
        if message.retention > 0 {
            do {
                call = try runtime.broker.markCompleteCall(message, now: now)
                summary = "complete"
            } catch {
                context.logger.error("could not mark the task as complete", metadata: [LogKeys.error: "\(error)"])
                complete(message, status: .succeeded, duration: duration)
                return
            }
        } else {
            call = runtime.broker.doneCall(message, keys: keys(for: message.queue), now: now)
            summary = "done"
        }
        await runtime.ackWriter.submit(call, freesSlot: true) { result in
            self.handleWriteResult(
                result, call: call, summary: summary, message: message, lease: lease, context: context)
            self.complete(message, status: .succeeded, duration: duration)
        }
    }

    /// The failure path: error handler, then the decision table of `server.md` §4.5.
    private func fail(
        _ message: TaskMessage,
        error: any Error,
        context: TaskContext,
        lease: Lease
    ) async -> ServerMetrics.Status {
        if let errorHandler = runtime.config.errorHandler {
            let task = AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
            await TaskContext.$current.withValue(context) {
                await errorHandler(task, context, error)
            }
        }
        let now = runtime.now()
        guard lease.isValid(at: now) else {
            context.logger.warning(
                "the task's lease expired; its failure is not recorded and the recoverer takes over",
                metadata: [LogKeys.error: "\(Self.text(of: error))"]
            )
            return .abandoned
        }
        let text = Self.text(of: error)
        do {
            if error.isAsynqError(.revokeTask) {
                context.logger.warning("revoke task")
                await write(
                    runtime.broker.doneCall(message, now: now), summary: "done", message: message, lease: lease,
                    context: context)
                return .revoked
            }
            if message.retried >= message.retry || error.isAsynqError(.skipRetry) {
                context.logger.warning("Retry exhausted for task", metadata: [LogKeys.error: "\(text)"])
                let call = try runtime.broker.archiveCall(message, errorMessage: text, now: now)
                await write(call, summary: "archive", message: message, lease: lease, context: context)
                return .archived
            }
            let task = AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
            let delay = Self.clamp(runtime.config.retryDelay(Int(message.retried), error, task))
            let call = try runtime.broker.retryCall(
                message,
                retryAt: now.addingTimeInterval(delay.timeInterval),
                errorMessage: text,
                isFailure: runtime.config.isFailure(error),
                now: now
            )
            context.logger.debug("Retrying task", metadata: [LogKeys.error: "\(text)"])
            await write(call, summary: "retry", message: message, lease: lease, context: context)
            return .retried
        } catch {
            context.logger.error("could not prepare the failure write", metadata: [LogKeys.error: "\(error)"])
            return .abandoned
        }
    }

    private func requeue(_ message: TaskMessage, lease: Lease, context: TaskContext) async -> ServerMetrics.Status {
        guard lease.isValid(at: runtime.now()) else { return .abandoned }
        await write(
            runtime.broker.requeueCall(message), summary: "requeue", message: message, lease: lease, context: context)
        context.logger.info("Pushed the unfinished task back to its queue")
        return .requeued
    }

    /// Writes one outcome through the acknowledgement writer and waits for Redis' answer.
    private func write(
        _ call: RedisScriptCall,
        summary: String,
        message: TaskMessage,
        lease: Lease,
        context: TaskContext
    ) async {
        let result = await runtime.ackWriter.submit(call)
        handleWriteResult(result, call: call, summary: summary, message: message, lease: lease, context: context)
    }

    /// On a connection-level failure the write goes to the syncer, which retries it until the
    /// lease expires.
    private func handleWriteResult(
        _ result: Result<Void, AsynqError>,
        call: RedisScriptCall,
        summary: String,
        message: TaskMessage,
        lease: Lease,
        context: TaskContext
    ) {
        switch result {
        case .success:
            return
        case .failure(let error) where error.code == .taskNotFound:
            // The script found the task no longer active (recovered elsewhere): retrying
            // the same script cannot succeed.
            context.logger.error(
                "could not write \(summary): the task is no longer active", metadata: [LogKeys.error: "\(error)"])
        case .failure(let error):
            context.logger.warning(
                "could not write \(summary); the syncer retries it", metadata: [LogKeys.error: "\(error)"])
            runtime.syncer.add(
                Syncer.Request(call: call, deadline: lease.expiresAt, summary: "\(summary) of task \(message.id)")
            )
        }
    }

    private func archiveMalformed(id: String, queue: String, rawMessage: Data, error: AsynqError) async {
        logger.error(
            "the task's message cannot be decoded; archiving the task",
            metadata: [LogKeys.taskID: "\(id)", LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"]
        )
        let now = runtime.now()
        let call = runtime.broker.archiveMalformedCall(queue: queue, id: id, rawMessage: rawMessage, now: now)
        if case .failure(let writeError) = await runtime.ackWriter.submit(call) {
            logger.warning(
                "could not archive the malformed task; the syncer retries it",
                metadata: [LogKeys.taskID: "\(id)", LogKeys.error: "\(writeError)"]
            )
            runtime.syncer.add(
                Syncer.Request(
                    call: call,
                    deadline: now.addingTimeInterval(TimeInterval(runtime.leaseSeconds)),
                    summary: "archive of malformed task \(id)"
                )
            )
        }
    }

    /// The error text stored with the task (Go's `err.Error()`).
    static func text(of error: any Error) -> String {
        if let error = error as? AsynqError { return error.description }
        return String(describing: error)
    }

    /// Retry delays are kept within 0…100 years so that retry times stay representable.
    static func clamp(_ delay: Duration) -> Duration {
        min(max(delay, .zero), .seconds(100 * 365 * 86_400))
    }
}
