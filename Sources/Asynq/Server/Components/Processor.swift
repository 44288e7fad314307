import AsynqRedis
package import Foundation
import Logging

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
final class Processor: Sendable {
    private let runtime: ServerRuntime
    private let handler: any TaskHandler
    private let selector: QueueSelector
    private let logger: Logger
    /// Fired by `stop()` or at shutdown: no more dequeues.
    private let stopFetching: ServerEvent
    /// Fired when the graceful shutdown reaches the processor: start the shutdown timeout.
    private let shutdown: ServerEvent

    init(runtime: ServerRuntime, handler: any TaskHandler, stopFetching: ServerEvent, shutdown: ServerEvent) {
        self.runtime = runtime
        self.handler = handler
        self.selector = QueueSelector(queues: runtime.config.queues, strictPriority: runtime.config.strictPriority)
        self.logger = runtime.logger(component: "processor")
        self.stopFetching = stopFetching
        self.shutdown = shutdown
    }

    func run() async {
        await withDiscardingTaskGroup { group in
            var generator = SystemRandomNumberGenerator()
            var lastErrorLog: ContinuousClock.Instant?
            var backoff: Duration = .zero
            while !stopFetching.isFired, let free = await runtime.slots.waitForFree() {
                guard !stopFetching.isFired else { break }
                runtime.wake.reset()
                let now = runtime.now()
                var fetched: [DequeuedTask] = []
                var failure: AsynqError?
                for queue in selector.order(using: &generator) where fetched.count < free {
                    do {
                        // No waiting out TRYAGAIN (the queue's slot is being migrated in a
                        // cluster): the other queues are served meanwhile, this one next time.
                        fetched += try await RedisClient.withClusterRetryTimeout(.zero) {
                            try await runtime.broker.dequeueTasks(queue: queue, count: free - fetched.count, now: now)
                        }
                    } catch {
                        let mapped = RedisBroker.map(error)
                        failure = mapped
                        // A refusal by Redis (TRYAGAIN, CLUSTERDOWN, a script error) concerns
                        // this queue's slot; a connection failure concerns every queue.
                        if !mapped.isRedisServerError { break }
                    }
                }
                for entry in fetched {
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
                } else if fetched.isEmpty {
                    backoff = .zero
                    let interval = runtime.config.taskCheckInterval
                    await runtime.wake.wait(timeout: interval / 2 + interval * Double.random(in: 0..<1))
                } else {
                    backoff = .zero
                }
            }
            // No more fetching. After a plain stop() the running tasks finish normally; the
            // shutdown timeout starts when the graceful shutdown reaches the processor.
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

    // MARK: - One task

    private func start(_ message: TaskMessage, at now: Date, in group: inout DiscardingTaskGroup) {
        let lease = Lease(expiry: now.addingTimeInterval(TimeInterval(RedisBroker.leaseDuration)))
        let deadline = Self.deadline(for: message, now: now, logger: logger)
        let events = FirstEvent<WorkerEvent>()
        runtime.registry.add(
            WorkerRegistry.Worker(message: message, started: now, deadline: deadline, lease: lease, events: events)
        )
        runtime.slots.take(1)
        group.addTask {
            await self.process(message, lease: lease, deadline: deadline, events: events)
            self.runtime.slots.release()
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

    private func process(
        _ message: TaskMessage,
        lease: Lease,
        deadline: Date,
        events: FirstEvent<WorkerEvent>
    ) async {
        let context = TaskContext(message: message, deadline: deadline, logger: logger, broker: runtime.broker)
        var handed = AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
        handed.resultWriter = context.resultWriter
        let task = handed
        let handler = self.handler
        let clock = ContinuousClock()
        let started = clock.now
        let remaining = deadline.timeIntervalSince(runtime.now())
        guard remaining > 0 else {
            // The deadline passed before the handler could start: fail without calling it.
            await finish(.deadlineExceeded, message: message, context: context, lease: lease, duration: .zero)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
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
            group.addTask {
                do {
                    try await Task.sleep(for: .seconds(remaining))
                    events.offer(.deadlineExceeded)
                } catch {
                    // Cancelled: another event came first.
                }
            }
            let event = await events.wait(onCancel: .serverCancelled)
            group.cancelAll()
            await finish(event, message: message, context: context, lease: lease, duration: clock.now - started)
            // Leaving the group waits for the handler to return (it was cancelled).
        }
    }

    private func finish(
        _ event: WorkerEvent,
        message: TaskMessage,
        context: TaskContext,
        lease: Lease,
        duration: Duration
    ) async {
        let status: ServerMetrics.Status
        switch event {
        case .finished(.success):
            status = await succeed(message, lease: lease, logger: context.logger)
        case .finished(.failure(let error)):
            status = await fail(message, error: error, context: context, lease: lease)
        case .deadlineExceeded:
            status = await fail(message, error: AsynqError.contextDeadlineExceeded, context: context, lease: lease)
        case .cancelRequested:
            status = await fail(message, error: AsynqError.contextCanceled, context: context, lease: lease)
        case .leaseExpired:
            status = await fail(message, error: AsynqError.leaseExpired, context: context, lease: lease)
        case .shutdown:
            status = await requeue(message, lease: lease, logger: context.logger)
        case .serverCancelled:
            // The server's task was cancelled: Redis cannot be written from here. The task
            // stays active and is recovered once its lease expires.
            status = .abandoned
        }
        runtime.registry.remove(id: message.id)
        runtime.metrics.record(queue: message.queue, taskType: message.type, status: status, duration: duration)
    }

    private func succeed(_ message: TaskMessage, lease: Lease, logger: Logger) async -> ServerMetrics.Status {
        let now = runtime.now()
        guard lease.isValid(at: now) else {
            logger.warning("the task's lease expired before it could be marked as done; the recoverer takes over")
            return .abandoned
        }
        if message.retention > 0 {
            do {
                let call = try runtime.broker.markCompleteCall(message, now: now)
                await write(call, summary: "complete", message: message, lease: lease, logger: logger)
            } catch {
                logger.error("could not mark the task as complete", metadata: [LogKeys.error: "\(error)"])
            }
        } else {
            await write(
                runtime.broker.doneCall(message, now: now),
                summary: "done",
                message: message,
                lease: lease,
                logger: logger
            )
        }
        return .succeeded
    }

    /// The failure path: error handler, then the decision table of `server.md` §4.5.
    private func fail(
        _ message: TaskMessage,
        error: any Error,
        context: TaskContext,
        lease: Lease
    ) async -> ServerMetrics.Status {
        let logger = context.logger
        if let errorHandler = runtime.config.errorHandler {
            let task = AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
            await TaskContext.$current.withValue(context) {
                await errorHandler(task, context, error)
            }
        }
        let now = runtime.now()
        guard lease.isValid(at: now) else {
            logger.warning(
                "the task's lease expired; its failure is not recorded and the recoverer takes over",
                metadata: [LogKeys.error: "\(Self.text(of: error))"]
            )
            return .abandoned
        }
        let text = Self.text(of: error)
        do {
            if error.isAsynqError(.revokeTask) {
                logger.warning("revoke task")
                await write(
                    runtime.broker.doneCall(message, now: now), summary: "done", message: message, lease: lease,
                    logger: logger)
                return .revoked
            }
            if message.retried >= message.retry || error.isAsynqError(.skipRetry) {
                logger.warning("Retry exhausted for task", metadata: [LogKeys.error: "\(text)"])
                let call = try runtime.broker.archiveCall(message, errorMessage: text, now: now)
                await write(call, summary: "archive", message: message, lease: lease, logger: logger)
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
            logger.debug("Retrying task", metadata: [LogKeys.error: "\(text)"])
            await write(call, summary: "retry", message: message, lease: lease, logger: logger)
            return .retried
        } catch {
            logger.error("could not prepare the failure write", metadata: [LogKeys.error: "\(error)"])
            return .abandoned
        }
    }

    private func requeue(_ message: TaskMessage, lease: Lease, logger: Logger) async -> ServerMetrics.Status {
        guard lease.isValid(at: runtime.now()) else { return .abandoned }
        await write(
            runtime.broker.requeueCall(message), summary: "requeue", message: message, lease: lease, logger: logger)
        logger.info("Pushed the unfinished task back to its queue")
        return .requeued
    }

    /// Writes one outcome through the acknowledgement writer; on a connection-level failure
    /// the write goes to the syncer, which retries it until the lease expires.
    private func write(
        _ call: RedisScriptCall,
        summary: String,
        message: TaskMessage,
        lease: Lease,
        logger: Logger
    ) async {
        switch await runtime.ackWriter.submit(call) {
        case .success:
            return
        case .failure(let error) where error.code == .taskNotFound:
            // The script found the task no longer active (recovered elsewhere): retrying
            // the same script cannot succeed.
            logger.error(
                "could not write \(summary): the task is no longer active", metadata: [LogKeys.error: "\(error)"])
        case .failure(let error):
            logger.warning("could not write \(summary); the syncer retries it", metadata: [LogKeys.error: "\(error)"])
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
                    deadline: now.addingTimeInterval(TimeInterval(RedisBroker.leaseDuration)),
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
