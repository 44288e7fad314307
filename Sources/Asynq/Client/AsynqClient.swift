public import AsynqRedis
package import Foundation
public import Logging

/// Enqueues tasks. Wire-compatible with Go asynq's `Client`: a task enqueued here is processed
/// by Go servers and the other way round.
///
/// ```swift
/// let client = try AsynqClient(redis: .standalone(host: "127.0.0.1", port: 6379))
/// let info = try await client.enqueue(AsynqTask(type: "email:deliver", payload: json), .queue("critical"), .maxRetry(5))
/// ```
public final class AsynqClient: Sendable {
    package let broker: RedisBroker
    private let ownsConnection: Bool
    private let logger: Logger
    let now: @Sendable () -> Date

    /// A client with its own Redis connections (closed by ``close()``).
    public convenience init(
        redis options: RedisConnectionOptions, logger: Logger = Logger(label: "asynq.client")
    )
        throws
    {
        let redis = try RedisClient(options: options, logger: logger)
        self.init(redis: redis, ownsConnection: true, logger: logger, now: { Date() })
    }

    /// A client sharing an existing Redis client (``close()`` leaves it open).
    public convenience init(redis: RedisClient, logger: Logger = Logger(label: "asynq.client")) {
        self.init(redis: redis, ownsConnection: false, logger: logger, now: { Date() })
    }

    package init(redis: RedisClient, ownsConnection: Bool, logger: Logger, now: @escaping @Sendable () -> Date) {
        self.broker = RedisBroker(redis: redis)
        self.ownsConnection = ownsConnection
        self.logger = logger
        self.now = now
    }

    // MARK: Enqueue

    /// Enqueues `task` with its own options, then `options` (later options win). Returns what
    /// was stored. Throws `AsynqError` `.duplicateTask` (a unique task is already queued),
    /// `.taskIDConflict` (the ID is taken), `.invalidArgument` (bad options), `.redis`.
    @discardableResult
    public func enqueue(_ task: AsynqTask, _ options: TaskOption...) async throws -> TaskInfo {
        try await enqueue(task, options: options)
    }

    @discardableResult
    public func enqueue(_ task: AsynqTask, options: [TaskOption]) async throws -> TaskInfo {
        let now = self.now()
        let prepared = try prepare(task, options: options, now: now)
        let reply = try await broker.runRegistering(queue: prepared.message.queue, prepared.call)
        try Self.check(reply)
        return prepared.info
    }

    /// Enqueues many tasks in one round trip (one pipeline). The result at index `i` belongs to
    /// `tasks[i]`. Each task is enqueued atomically on its own, but the batch is **not** atomic as
    /// a whole: some may succeed while others fail (`.taskIDConflict`, invalid options). Group
    /// and unique tasks are refused per item, as Go asynq does.
    ///
    /// Two deliberate differences from Go's `BatchEnqueueContext`: an item whose task ID is
    /// already taken is reported as `.taskIDConflict` (Go reports success although it wrote
    /// nothing), and `.header` options of the call are applied (Go ignores them in batch mode).
    public func enqueueBatch(
        _ tasks: [AsynqTask], _ options: TaskOption...
    ) async throws
        -> [Result<TaskInfo, AsynqError>]
    {
        let now = self.now()
        var results = [Result<TaskInfo, AsynqError>?](repeating: nil, count: tasks.count)
        let broker = self.broker
        // Sent in pipelines of `batchChunk` calls, each as soon as it is built: Redis runs one
        // while the next is prepared. A chunk's queue registrations (op 1.0) go first in it.
        try await withThrowingTaskGroup(of: [(Int, Result<TaskInfo, AsynqError>)].self) { group in
            var chunk: [(index: Int, call: RedisScriptCall, info: TaskInfo)] = []
            var registered = Set<String>()
            var registrations: [RedisCommand] = []
            for (index, task) in tasks.enumerated() {
                do {
                    let prepared = try prepare(task, options: options, now: now)
                    if prepared.message.groupKey != "" {
                        throw AsynqError.invalid("batch enqueue does not support group tasks")
                    }
                    if prepared.message.uniqueKey != "" {
                        throw AsynqError.invalid("batch enqueue does not support unique tasks")
                    }
                    if registered.insert(prepared.message.queue).inserted {
                        registrations.append(broker.queueKeys(prepared.message.queue).registerCommand)
                    }
                    chunk.append((index, prepared.call, prepared.info))
                } catch let error as AsynqError {
                    results[index] = .failure(error)
                }
                guard chunk.count == Self.batchChunk || (index == tasks.count - 1 && !chunk.isEmpty) else { continue }
                let sending = chunk
                let prelude = registrations
                chunk = []
                registrations = []
                // Started at once: the pipeline is queued (and, being large, written) before
                // the next chunk is built.
                group.addImmediateTask {
                    let replies = try await broker.run(pipeline: sending.map(\.call), after: prelude)
                    return zip(sending, replies).map { entry, reply in
                        (entry.index, reply.flatMap { token in Self.result(of: token, info: entry.info) })
                    }
                }
            }
            for try await part in group {
                for (index, result) in part { results[index] = result }
            }
        }
        return results.map { $0 ?? .failure(AsynqError(.internal, "no result")) }
    }

    /// Enqueue calls per pipeline in ``enqueueBatch(_:_:)``.
    static let batchChunk = 25

    private static func result(of token: RESPToken, info: TaskInfo) -> Result<TaskInfo, AsynqError> {
        do {
            try check(token)
            return .success(info)
        } catch let error as AsynqError {
            return .failure(error)
        } catch {
            return .failure(RedisBroker.map(error))
        }
    }

    struct Prepared {
        var message: TaskMessage
        var call: RedisScriptCall
        var info: TaskInfo
    }

    /// Composes options, builds the message and the script call (`api.md` §3 "Enqueue algorithm").
    /// Internal rather than private for `prepareEnqueue(_:options:)` (Support/BenchmarkSPI.swift).
    func prepare(_ task: AsynqTask, options: [TaskOption], now: Date) throws -> Prepared {
        guard !task.type.isBlank else {
            throw AsynqError.invalid("task typename cannot be empty")
        }
        let composed = try ComposedOptions(task.options.isEmpty ? options : task.options + options, now: now)
        var message = TaskMessage()
        message.id = composed.taskID ?? TaskIDGenerator.make()
        message.type = task.type
        message.payload = task.payload ?? Data()
        message.queue = composed.queue
        message.retry = Int32(clamping: composed.maxRetry)
        if composed.headers.isEmpty {
            message.headers = task.headers
        } else {
            var headers = task.headers
            for (key, value) in composed.headers { headers[key] = value }
            message.headers = headers
        }
        if let deadline = composed.deadline { message.deadline = deadline.unixSeconds }
        if let timeout = composed.timeout {
            message.timeout = timeout.wholeSeconds
        } else if composed.deadline == nil {
            message.timeout = ComposedOptions.defaultTimeout.wholeSeconds
        }
        if composed.uniqueTTL != nil {
            message.uniqueKey = RedisKeys.unique(composed.queue, type: task.type, payload: task.payload)
        }
        if let group = composed.group { message.groupKey = group }
        message.retention = composed.retention.wholeSeconds
        let encoded = try message.encoded()

        let call: RedisScriptCall
        let state: TaskState
        let nextProcessAt: Date?
        if composed.processAt > now {
            if let ttl = composed.uniqueTTL {
                let lockUntil = composed.processAt.addingTimeInterval(ttl.timeInterval)
                let ttlSeconds = Self.scheduledUniqueTTLSeconds(lockUntil: lockUntil, now: now)
                call = broker.scheduleUniqueCall(
                    message,
                    encoded: encoded,
                    processAt: composed.processAt,
                    ttlSeconds: ttlSeconds
                )
            } else {
                call = broker.scheduleCall(message, encoded: encoded, processAt: composed.processAt)
            }
            state = .scheduled
            nextProcessAt = composed.processAt
        } else if composed.group != nil {
            call = broker.addToGroupCall(
                message,
                encoded: encoded,
                now: now,
                uniqueTTLSeconds: composed.uniqueTTL?.wholeSeconds
            )
            state = .aggregating
            nextProcessAt = nil
        } else {
            if let ttl = composed.uniqueTTL {
                call = broker.enqueueUniqueCall(message, encoded: encoded, ttlSeconds: ttl.wholeSeconds, now: now)
            } else {
                call = broker.enqueueCall(message, encoded: encoded, now: now)
            }
            state = .pending
            nextProcessAt = now
        }
        var info = TaskInfo(message: message, state: state, nextProcessAt: nextProcessAt, result: nil)
        // As Go: the caller's payload as given, so no payload (nil) and an empty one differ.
        info.payload = task.payload
        return Prepared(message: message, call: call, info: info)
    }

    /// The unique-lock TTL of a scheduled task, as Go computes it: `time.Until(processAt +
    /// uniqueTTL)` reads the clock again a moment after `now`, so the whole seconds are those
    /// strictly below `lockUntil − now` (5399 for `ProcessIn(30m)` + `Unique(1h)`), at
    /// microsecond resolution. At least 1.
    package static func scheduledUniqueTTLSeconds(lockUntil: Date, now: Date) -> Int64 {
        let micros = Int64((lockUntil.timeIntervalSince(now) * 1_000_000).rounded())
        return max(1, (micros - 1) / 1_000_000)
    }

    /// Maps the enqueue scripts' result codes: 1 ok, 0 ID conflict, −1 duplicate.
    private static func check(_ reply: RESPToken) throws {
        switch reply.int {
        case 1: return
        case 0: throw AsynqError.taskIDConflict
        case -1: throw AsynqError.duplicateTask
        default: throw AsynqError(.internal, "unexpected reply from the enqueue script: \(reply)")
        }
    }

    // MARK: Other operations

    /// Checks the connection to Redis.
    public func ping() async throws {
        do {
            try await broker.redis.ping()
        } catch {
            throw RedisBroker.map(error)
        }
    }

    /// Closes the Redis connections if the client created them.
    public func close() async {
        if ownsConnection { await broker.redis.close() }
    }
}
