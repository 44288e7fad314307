package import AsynqRedis
package import Foundation
import NIOCore
import Synchronization

/// The Redis side of asynq: every state transition of `operations.md`, as script calls over
/// the key layout of `redis-layout.md`. Shared by the client, the server's components, the
/// inspector and the scheduler.
///
/// Calls are built as `RedisScriptCall` values first (`…Call` methods) so that callers on hot
/// paths can send many of them in one pipeline.
package final class RedisBroker: Sendable {
    package let redis: RedisClient
    /// The keys of the queue used last (clients mostly enqueue into one queue).
    private let lastQueueKeys = Mutex<QueueKeys?>(nil)
    /// The daily processed-counter key used last (every success writes one).
    private let lastProcessedKey = Mutex<(day: Int64, queue: String, key: String)?>(nil)

    package static let leaseDuration: Int64 = 30
    package static let maxArchiveSize = 10_000
    package static let archivedExpirationDays: Int64 = 90
    package static let statsTTL: Int64 = 90 * 86_400
    package static let maxInt64 = "9223372036854775807"

    package init(redis: RedisClient) {
        self.redis = redis
    }

    // MARK: - Running scripts

    /// Runs one call; error replies are thrown as `AsynqError` (`NOT FOUND` → `.taskNotFound`).
    @discardableResult
    package func run(_ call: RedisScriptCall) async throws(AsynqError) -> RESPToken {
        do {
            return try await redis.run(call)
        } catch {
            throw Self.map(error)
        }
    }

    /// Runs calls in one pipeline; one result per call.
    package func run(pipeline calls: [RedisScriptCall]) async throws(AsynqError) -> [Result<RESPToken, AsynqError>] {
        try await run(pipeline: calls, after: [])
    }

    /// Runs `prelude` (e.g. queue registrations) and then the calls in one pipeline; one result
    /// per call. A failing prelude command is thrown.
    package func run(
        pipeline calls: [RedisScriptCall], after prelude: [RedisCommand]
    ) async throws(AsynqError) -> [Result<RESPToken, AsynqError>] {
        do {
            return try await redis.run(pipeline: calls, after: prelude).map { $0.mapError(Self.map) }
        } catch {
            throw Self.map(error)
        }
    }

    package static func map(_ error: any Error) -> AsynqError {
        if let error = error as? AsynqError { return error }
        if let error = error as? RedisClientError, error.code == .serverError {
            if error.message.hasSuffix("NOT FOUND") {
                return AsynqError(.taskNotFound, "task not found", underlying: error)
            }
            return AsynqError(.redis, "redis eval error: \(error.message)", underlying: error)
        }
        return AsynqError.redis(error)
    }

    // MARK: - Queues

    /// `SADD asynq:queues q` (op 1.0): Go's inspector, CLI and web UI only see queues listed
    /// there. Sent in the same pipeline as each create operation rather than cached per process,
    /// so a queue removed by an inspector (here or elsewhere) is registered again by the next
    /// enqueue; it costs no round trip.
    package static func registerQueueCommand(_ queue: String) -> RedisCommand {
        RedisCommand("SADD", RedisKeys.allQueues, queue)
    }

    /// Runs a create operation of `queue` together with its registration, in one round trip.
    package func runRegistering(queue: String, _ call: RedisScriptCall) async throws(AsynqError) -> RESPToken {
        do {
            return try await redis.run(call, after: [queueKeys(queue).registerCommand])
        } catch {
            throw Self.map(error)
        }
    }

    /// `asynq:{q}:processed:<YYYY-MM-DD>` of `now` (UTC), built once a day per queue used last.
    package func processedKey(queue: String, on now: Date) -> String {
        let day = Int64((now.timeIntervalSince1970 / 86_400).rounded(.down))
        if let cached = lastProcessedKey.withLock({ $0 }), cached.day == day, cached.queue == queue {
            return cached.key
        }
        let key = RedisKeys.processed(queue, on: now)
        lastProcessedKey.withLock { $0 = (day, queue, key) }
        return key
    }

    /// The fixed keys of `queue`, built once for the queue used last.
    package func queueKeys(_ queue: String) -> QueueKeys {
        if let cached = lastQueueKeys.withLock({ $0 }), cached.queue == queue { return cached }
        let keys = QueueKeys(queue)
        lastQueueKeys.withLock { $0 = keys }
        return keys
    }

    // MARK: - Client writes (§1)

    /// Op 1.1 (with our wake-up notification): 1 ok, 0 ID conflict.
    package func enqueueCall(_ message: TaskMessage, encoded: Data, now: Date) -> RedisScriptCall {
        let keys = queueKeys(message.queue)
        return RedisScriptCall(
            BrokerScripts.enqueueNotify,
            keys: [keys.taskKey(message.id), keys.pending],
            arguments: [RESPData(encoded), message.id, Int(now.unixNanoseconds), keys.notifyChannel]
        )
    }

    /// Op 1.2: 1 ok, −1 duplicate, 0 ID conflict.
    package func enqueueUniqueCall(
        _ message: TaskMessage, encoded: Data, ttlSeconds: Int64, now: Date
    )
        -> RedisScriptCall
    {
        let q = message.queue
        return RedisScriptCall(
            BrokerScripts.enqueueUniqueNotify,
            keys: [message.uniqueKey, RedisKeys.taskKey(q, message.id), RedisKeys.pending(q)],
            arguments: [
                message.id, Int(ttlSeconds), RESPBytes(encoded), Int(now.unixNanoseconds), RedisKeys.notifyChannel(q),
            ]
        )
    }

    /// Op 1.3: 1 ok, 0 ID conflict.
    package func scheduleCall(_ message: TaskMessage, encoded: Data, processAt: Date) -> RedisScriptCall {
        let q = message.queue
        return RedisScriptCall(
            BrokerScripts.schedule,
            keys: [RedisKeys.taskKey(q, message.id), RedisKeys.scheduled(q)],
            arguments: [RESPBytes(encoded), Int(processAt.unixSeconds), message.id]
        )
    }

    /// Op 1.4: 1 ok, −1 duplicate, 0 ID conflict.
    package func scheduleUniqueCall(
        _ message: TaskMessage, encoded: Data, processAt: Date, ttlSeconds: Int64
    )
        -> RedisScriptCall
    {
        let q = message.queue
        return RedisScriptCall(
            BrokerScripts.scheduleUnique,
            keys: [message.uniqueKey, RedisKeys.taskKey(q, message.id), RedisKeys.scheduled(q)],
            arguments: [message.id, Int(ttlSeconds), Int(processAt.unixSeconds), RESPBytes(encoded)]
        )
    }

    /// Op 1.5 / 1.6: 1 ok, −1 duplicate (unique only), 0 ID conflict.
    package func addToGroupCall(
        _ message: TaskMessage, encoded: Data, now: Date, uniqueTTLSeconds: Int64?
    )
        -> RedisScriptCall
    {
        let q = message.queue
        var keys = [
            RedisKeys.taskKey(q, message.id), RedisKeys.group(q, message.groupKey), RedisKeys.groups(q),
        ]
        var arguments: [any RESPArgument] = [RESPBytes(encoded), message.id, Int(now.unixSeconds), message.groupKey]
        if let uniqueTTLSeconds {
            keys.append(message.uniqueKey)
            arguments.append(Int(uniqueTTLSeconds))
            return RedisScriptCall(BrokerScripts.addToGroupUnique, keys: keys, arguments: arguments)
        }
        return RedisScriptCall(BrokerScripts.addToGroup, keys: keys, arguments: arguments)
    }

    // MARK: - Worker (§2)

    /// Op 2.1 for up to `count` tasks of one queue in one call: each moves pending → active
    /// with a lease until `now + 30 s`, exactly as a single dequeue does. Empty when the queue
    /// is empty or paused. Tasks whose message cannot be decoded are returned as failures.
    package func dequeue(
        queue: String, count: Int, now: Date
    ) async throws(AsynqError)
        -> [Result<TaskMessage, AsynqError>]
    {
        let call = RedisScriptCall(
            BrokerScripts.dequeueBatch,
            keys: [RedisKeys.pending(queue), RedisKeys.paused(queue), RedisKeys.active(queue), RedisKeys.lease(queue)],
            arguments: [Int(now.unixSeconds + Self.leaseDuration), RedisKeys.taskKeyPrefix(queue), count]
        )
        let reply = try await run(call)
        guard let elements = reply.array else { return [] }
        var messages: [Result<TaskMessage, AsynqError>] = []
        messages.reserveCapacity(elements.count)
        for element in elements {
            guard let bytes = element.byteBuffer else { continue }  // dangling ID: Go skips it too
            do {
                messages.append(.success(try TaskMessage.decode(bytes.readableBytesView)))
            } catch {
                messages.append(.failure(error))
            }
        }
        return messages
    }

    /// Op 2.2: success without retention, or RevokeTask.
    package func doneCall(_ message: TaskMessage, now: Date) -> RedisScriptCall {
        doneCall(message, keys: QueueKeys(message.queue), now: now)
    }

    /// Op 2.2 with the queue's keys built beforehand (`keys.queue` must be the task's queue).
    package func doneCall(_ message: TaskMessage, keys queueKeys: QueueKeys, now: Date) -> RedisScriptCall {
        let q = message.queue
        var keys = [
            queueKeys.active, queueKeys.lease, queueKeys.taskKey(message.id),
            processedKey(queue: q, on: now), queueKeys.processedTotal,
        ]
        let arguments: [any RESPArgument] = [message.id, Int(now.unixSeconds + Self.statsTTL), Self.maxInt64]
        if !message.uniqueKey.isEmpty {
            keys.append(message.uniqueKey)
            return RedisScriptCall(BrokerScripts.doneUnique, keys: keys, arguments: arguments)
        }
        return RedisScriptCall(BrokerScripts.done, keys: keys, arguments: arguments)
    }

    /// Op 2.3: success with retention; `completed_at` is set to now.
    package func markCompleteCall(_ message: TaskMessage, now: Date) throws(AsynqError) -> RedisScriptCall {
        let q = message.queue
        var completed = message
        completed.completedAt = now.unixSeconds
        let encoded = try completed.encoded()
        var keys = [
            RedisKeys.active(q), RedisKeys.lease(q), RedisKeys.completed(q), RedisKeys.taskKey(q, message.id),
            RedisKeys.processed(q, on: now), RedisKeys.processedTotal(q),
        ]
        let arguments: [any RESPArgument] = [
            message.id, Int(now.unixSeconds + Self.statsTTL), Int(now.unixSeconds + message.retention),
            RESPBytes(encoded), Self.maxInt64,
        ]
        if !message.uniqueKey.isEmpty {
            keys.append(message.uniqueKey)
            return RedisScriptCall(BrokerScripts.markCompleteUnique, keys: keys, arguments: arguments)
        }
        return RedisScriptCall(BrokerScripts.markComplete, keys: keys, arguments: arguments)
    }

    /// Op 2.4: an unfinished task goes back to the front of pending.
    package func requeueCall(_ message: TaskMessage) -> RedisScriptCall {
        let q = message.queue
        return RedisScriptCall(
            BrokerScripts.requeue,
            keys: [RedisKeys.active(q), RedisKeys.lease(q), RedisKeys.pending(q), RedisKeys.taskKey(q, message.id)],
            arguments: [message.id]
        )
    }

    /// Op 2.5: failure with retries left.
    package func retryCall(
        _ message: TaskMessage,
        retryAt: Date,
        errorMessage: String,
        isFailure: Bool,
        now: Date
    ) throws(AsynqError) -> RedisScriptCall {
        let q = message.queue
        var updated = message
        if isFailure { updated.retried += 1 }
        updated.errorMsg = errorMessage
        updated.lastFailedAt = now.unixSeconds
        let encoded = try updated.encoded()
        return RedisScriptCall(
            BrokerScripts.retry,
            keys: [
                RedisKeys.taskKey(q, message.id), RedisKeys.active(q), RedisKeys.lease(q), RedisKeys.retry(q),
                RedisKeys.processed(q, on: now), RedisKeys.failed(q, on: now), RedisKeys.processedTotal(q),
                RedisKeys.failedTotal(q),
            ],
            arguments: [
                message.id, RESPBytes(encoded), Int(retryAt.unixSeconds), Int(now.unixSeconds + Self.statsTTL),
                isFailure ? 1 : 0, Self.maxInt64,
            ]
        )
    }

    /// Op 2.6: failure without retries left, or SkipRetry.
    package func archiveCall(
        _ message: TaskMessage, errorMessage: String, now: Date
    ) throws(AsynqError)
        -> RedisScriptCall
    {
        let q = message.queue
        var updated = message
        updated.errorMsg = errorMessage
        updated.lastFailedAt = now.unixSeconds
        let encoded = try updated.encoded()
        let cutoff = now.unixSeconds - Self.archivedExpirationDays * 86_400
        return RedisScriptCall(
            BrokerScripts.archive,
            keys: [
                RedisKeys.taskKey(q, message.id), RedisKeys.active(q), RedisKeys.lease(q), RedisKeys.archived(q),
                RedisKeys.processed(q, on: now), RedisKeys.failed(q, on: now), RedisKeys.processedTotal(q),
                RedisKeys.failedTotal(q),
            ],
            arguments: [
                message.id, RESPBytes(encoded), Int(now.unixSeconds), Int(cutoff), Self.maxArchiveSize,
                Int(now.unixSeconds + Self.statsTTL), Self.maxInt64, RedisKeys.taskKeyPrefix(q),
            ]
        )
    }

    /// Op 2.7: moves up to 100 due tasks of `scheduled` or `retry` to pending (or their group).
    /// Returns how many moved. The due IDs and their groups are read first, so that the script
    /// can declare every key it touches (see ``BrokerScripts/forwardNotify``).
    package func forward(from source: String, queue: String, now: Date) async throws(AsynqError) -> Int {
        let ids: [String]
        var groups: [String] = []
        do {
            ids = try await redis.send(
                RedisCommand("ZRANGEBYSCORE", source, "-inf", Int(now.unixSeconds), "LIMIT", 0, 100)
            ).decode()
            guard !ids.isEmpty else { return 0 }
            let replies = try await redis.pipeline(
                ids.map { RedisCommand("HGET", RedisKeys.taskKey(queue, $0), "group") })
            for reply in replies { groups.append(try reply.get().string ?? "") }
        } catch {
            throw Self.map(error)
        }
        var keys = [source, RedisKeys.pending(queue)] + ids.map { RedisKeys.taskKey(queue, $0) }
        var groupKeys: [String] = []
        for group in groups where !group.isEmpty && !groupKeys.contains(RedisKeys.group(queue, group)) {
            groupKeys.append(RedisKeys.group(queue, group))
        }
        keys += groupKeys
        var arguments: [any RESPArgument] = [
            Int(now.unixSeconds), Int(now.unixNanoseconds), RedisKeys.notifyChannel(queue),
            RedisKeys.groupKeyPrefix(queue),
        ]
        for (id, group) in zip(ids, groups) {
            arguments.append(id)
            arguments.append(group)
        }
        return try await run(RedisScriptCall(BrokerScripts.forwardNotify, keys: keys, arguments: arguments)).int ?? 0
    }

    /// Op 2.8: extends the leases of these active tasks to `expiry` (`ZADD XX`).
    package func extendLeases(queue: String, ids: [String], expiry: Date) async throws(AsynqError) {
        guard !ids.isEmpty else { return }
        var command = RedisCommand("ZADD", RedisKeys.lease(queue), "XX")
        let score = Int(expiry.unixSeconds)
        for id in ids { command.append(score, id) }
        do {
            try await redis.send(command)
        } catch {
            throw Self.map(error)
        }
    }

    /// Op 2.9: messages of active tasks whose lease expired before `cutoff`.
    package func listLeaseExpired(queue: String, cutoff: Date) async throws(AsynqError) -> [TaskMessage] {
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.listLeaseExpired,
                keys: [RedisKeys.lease(queue)],
                arguments: [Int(cutoff.unixSeconds), RedisKeys.taskKeyPrefix(queue)]
            )
        )
        return (reply.array ?? []).compactMap { element in
            element.byteBuffer.flatMap { try? TaskMessage.decode($0.readableBytesView) }
        }
    }

    /// Op 2.10: deletes up to `batchSize` completed tasks whose retention ended; returns how
    /// many. The due IDs are read first, so that the script can declare the task hashes.
    package func deleteExpiredCompleted(queue: String, now: Date, batchSize: Int) async throws(AsynqError) -> Int {
        let ids: [String]
        do {
            ids = try await redis.send(
                RedisCommand(
                    "ZRANGEBYSCORE", RedisKeys.completed(queue), "-inf", Int(now.unixSeconds), "LIMIT", 0, batchSize)
            ).decode()
        } catch {
            throw Self.map(error)
        }
        guard !ids.isEmpty else { return 0 }
        var arguments: [any RESPArgument] = [Int(now.unixSeconds)]
        arguments += ids.map { $0 as any RESPArgument }
        return try await run(
            RedisScriptCall(
                BrokerScripts.deleteExpiredCompleted,
                keys: [RedisKeys.completed(queue)] + ids.map { RedisKeys.taskKey(queue, $0) },
                arguments: arguments
            )
        ).int ?? 0
    }

    /// Op 4.10: asks every server to cancel the task (`PUBLISH asynq:cancel id`).
    package func publishCancellation(taskID: String) async throws(AsynqError) {
        do {
            try await redis.publish(RedisKeys.cancelChannel, taskID)
        } catch {
            throw Self.map(error)
        }
    }

    /// Sets the `result` field of an active task.
    package func writeResult(queue: String, taskID: String, data: Data) async throws(AsynqError) {
        do {
            try await redis.hset(RedisKeys.taskKey(queue, taskID), field: "result", value: RESPBytes(data))
        } catch {
            throw Self.map(error)
        }
    }
}
