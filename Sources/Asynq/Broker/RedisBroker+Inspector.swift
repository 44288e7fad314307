import AsynqRedis
package import Foundation
import NIOCore
import SwiftProtobuf

// The inspector's reads and writes (operations.md §3 and §4), over the scripts in
// `Scripts/InspectorReadScripts.swift` and `Scripts/InspectorWriteScripts.swift`.
//
// Errors carry the text Go asynq's `Inspector` returns for the same situation, so the CLI and
// the web UI print the same messages. Go uses two shapes: methods that map known errors to its
// sentinels (`asynq: queue not found`, `asynq: task not found`, `asynq: FAILED_PRECONDITION: …`)
// and methods that return the internal error as is (`NOT_FOUND: queue "q" does not exist`; the
// bulk methods wrap Go's `INTERNAL_ERROR` queue check once more, see `QueueNotFoundStyle`).

extension RedisBroker {
    // MARK: - Errors

    /// How a method reports a queue missing from `asynq:queues`.
    package enum QueueNotFoundStyle: Sendable {
        /// `asynq: queue not found` (task reads and single-task writes).
        case sentinel
        /// `NOT_FOUND: queue "q" does not exist` (statistics and history).
        case internalError
        /// `NOT_FOUND: INTERNAL_ERROR: queue "q" does not exist`: Go's bulk methods over a zset
        /// (run, archive and delete all scheduled/retry/archived/completed tasks) wrap the
        /// `INTERNAL_ERROR` of their queue check in a `NOT_FOUND` error.
        case bulkNotFound
        /// `INTERNAL_ERROR: INTERNAL_ERROR: queue "q" does not exist`: Go's bulk methods over
        /// pending tasks or a group wrap that error with its own code.
        case bulkInternal
    }

    static func queueNotFound(_ queue: String, style: QueueNotFoundStyle) -> AsynqError {
        let missing = "queue \(GoFormat.quote(queue)) does not exist"
        return switch style {
        case .sentinel: AsynqError(.queueNotFound, "asynq: queue not found")
        case .internalError: AsynqError(.queueNotFound, "NOT_FOUND: " + missing)
        case .bulkNotFound: AsynqError(.queueNotFound, "NOT_FOUND: INTERNAL_ERROR: " + missing)
        case .bulkInternal: AsynqError(.queueNotFound, "INTERNAL_ERROR: INTERNAL_ERROR: " + missing)
        }
    }

    static let inspectorTaskNotFound = AsynqError(.taskNotFound, "asynq: task not found")

    static func failedPrecondition(_ message: String, prefixed: Bool = true) -> AsynqError {
        AsynqError(.invalidState, (prefixed ? "asynq: " : "") + "FAILED_PRECONDITION: " + message)
    }

    /// Go's `asynq: %v` wrapping of an unexpected error.
    static func prefixed(_ error: AsynqError) -> AsynqError {
        AsynqError(error.code, "asynq: " + error.message, underlying: error.underlying)
    }

    private static func unexpectedReply(_ what: String, _ reply: RESPToken) -> AsynqError {
        AsynqError(.internal, "unexpected reply from \(what): \(reply)")
    }

    // MARK: - Queues (3.1)

    /// `SMEMBERS asynq:queues`.
    package func allQueues() async throws(AsynqError) -> [String] {
        do {
            return try await redis.smembers(RedisKeys.allQueues)
        } catch {
            throw Self.map(error)
        }
    }

    /// `SISMEMBER asynq:queues <q>`.
    package func queueExists(_ queue: String) async throws(AsynqError) -> Bool {
        do {
            return try await redis.sismember(RedisKeys.allQueues, queue)
        } catch {
            throw Self.map(error)
        }
    }

    package func requireQueue(_ queue: String, style: QueueNotFoundStyle) async throws(AsynqError) {
        guard try await queueExists(queue) else { throw Self.queueNotFound(queue, style: style) }
    }

    // MARK: - Statistics (3.2, 3.3, 3.5)

    /// Op 3.2: counts, counters, latency and sampled memory usage of a queue.
    package func queueInfo(_ queue: String, now: Date) async throws(AsynqError) -> QueueInfo {
        try await requireQueue(queue, style: .internalError)
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.currentStats,
                keys: [
                    RedisKeys.pending(queue), RedisKeys.active(queue), RedisKeys.scheduled(queue),
                    RedisKeys.retry(queue), RedisKeys.archived(queue), RedisKeys.completed(queue),
                    RedisKeys.processed(queue, on: now), RedisKeys.failed(queue, on: now),
                    RedisKeys.processedTotal(queue), RedisKeys.failedTotal(queue), RedisKeys.paused(queue),
                    RedisKeys.groups(queue),
                ],
                arguments: [RedisKeys.taskKeyPrefix(queue), RedisKeys.groupKeyPrefix(queue)]
            )
        )
        guard let values = reply.array, values.count == 14 else {
            throw Self.unexpectedReply("the queue statistics script", reply)
        }
        func count(_ index: Int) -> Int { values[index].int ?? 0 }
        var info = QueueInfo(queue: queue, timestamp: now)
        info.pending = count(0)
        info.active = count(1)
        info.scheduled = count(2)
        info.retry = count(3)
        info.archived = count(4)
        info.completed = count(5)
        info.processed = count(6)
        info.failed = count(7)
        info.processedTotal = count(8)
        info.failedTotal = count(9)
        info.paused = count(10) != 0
        let pendingSince = values[11].string.flatMap { Int64($0) } ?? 0
        if pendingSince != 0 {
            let (elapsed, overflow) = now.unixNanoseconds.subtractingReportingOverflow(pendingSince)
            info.latency = overflow ? .zero : .nanoseconds(elapsed)
        }
        info.groups = count(12)
        info.aggregating = count(13)
        info.size =
            info.pending + info.active + info.scheduled + info.retry + info.archived + info.completed
            + info.aggregating
        info.memoryUsage = try await memoryUsage(queue)
        return info
    }

    /// Op 3.2 (memory): bytes used by the queue, estimated from 20 sampled tasks per
    /// container and 5 sampled groups.
    package func memoryUsage(_ queue: String) async throws(AsynqError) -> Int64 {
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.memoryUsage,
                keys: [
                    RedisKeys.active(queue), RedisKeys.pending(queue), RedisKeys.scheduled(queue),
                    RedisKeys.retry(queue), RedisKeys.archived(queue), RedisKeys.completed(queue),
                    RedisKeys.groups(queue),
                ],
                arguments: [RedisKeys.taskKeyPrefix(queue), 20, 5, RedisKeys.groupKeyPrefix(queue)]
            )
        )
        guard let bytes = reply.int else { throw Self.unexpectedReply("the memory usage script", reply) }
        return Int64(bytes)
    }

    /// Op 3.3: processed/failed counters of the last `days` UTC days, today first.
    package func history(queue: String, days: Int, now: Date) async throws(AsynqError) -> [DailyStats] {
        guard days >= 1 else {
            throw Self.failedPrecondition("the number of days must be positive", prefixed: false)
        }
        try await requireQueue(queue, style: .internalError)
        let dates = (0..<days).map { now.addingTimeInterval(-Double($0) * 86_400) }
        let keys = dates.flatMap { [RedisKeys.processed(queue, on: $0), RedisKeys.failed(queue, on: $0)] }
        let reply = try await run(RedisScriptCall(BrokerScripts.dailyStats, keys: keys))
        guard let values = reply.array, values.count == keys.count else {
            throw Self.unexpectedReply("the daily statistics script", reply)
        }
        return dates.enumerated().map { index, date in
            DailyStats(
                queue: queue,
                processed: values[2 * index].int ?? 0,
                failed: values[2 * index + 1].int ?? 0,
                date: date
            )
        }
    }

    /// Op 3.5: every group of the queue with its size (no queue check, as in Go).
    package func groups(queue: String) async throws(AsynqError) -> [GroupInfo] {
        let reply = try await run(
            RedisScriptCall(
                BrokerScripts.groupStats,
                keys: [RedisKeys.groups(queue)],
                arguments: [RedisKeys.groupKeyPrefix(queue)]
            )
        )
        guard let values = reply.array, values.count % 2 == 0 else {
            throw Self.unexpectedReply("the group statistics script", reply)
        }
        return stride(from: 0, to: values.count, by: 2).compactMap { index in
            guard let name = values[index].string else { return nil }
            return GroupInfo(group: name, size: values[index + 1].int ?? 0)
        }
    }

    // MARK: - Tasks (3.4, 3.6)

    /// Op 3.4: one task with its state, next process time and result.
    package func taskInfo(queue: String, id: String, now: Date) async throws(AsynqError) -> TaskInfo {
        try await requireQueue(queue, style: .sentinel)
        let (message, state, nextProcessAt, result) = try await readTask(queue: queue, id: id, now: now)
        return TaskInfo(message: message, state: state, nextProcessAt: nextProcessAt, result: result)
    }

    private func readTask(
        queue: String, id: String, now: Date
    ) async throws(AsynqError) -> (TaskMessage, TaskState, Date?, Data?) {
        let reply: RESPToken
        do {
            reply = try await run(
                RedisScriptCall(
                    BrokerScripts.taskInfo,
                    keys: [RedisKeys.taskKey(queue, id), RedisKeys.scheduled(queue), RedisKeys.retry(queue)],
                    arguments: [id, Int(now.unixSeconds)]
                )
            )
        } catch  where error.code == .taskNotFound {
            throw Self.inspectorTaskNotFound
        } catch {
            throw Self.prefixed(error)
        }
        guard let values = reply.array, values.count == 4 else {
            throw Self.unexpectedReply("the task info script", reply)
        }
        guard let bytes = values[0].byteBuffer, let message = try? TaskMessage.decode(bytes.readableBytesView) else {
            throw AsynqError(.malformedTask, "asynq: INTERNAL_ERROR: could not decode task message")
        }
        let stateName = values[1].string ?? ""
        guard let state = TaskState(name: stateName) else {
            throw AsynqError(
                .internal, "asynq: INTERNAL_ERROR: \(GoFormat.quote(stateName)) is not supported task state")
        }
        let nextAt = values[2].int ?? 0
        let result = values[3].byteBuffer.map { Data($0.readableBytesView) }
        return (message, state, nextAt == 0 ? nil : Date(unixSeconds: Int64(nextAt)), result)
    }

    /// Op 3.6: one page of the tasks in `state` (for `aggregating`, of `group`). Pending and
    /// active tasks come next-to-run first; the others by ascending score. Active tasks whose
    /// lease already expired are marked orphaned. Undecodable messages are skipped.
    package func listTasks(
        queue: String, state: TaskState, group: String?, options: ListOptions, now: Date
    ) async throws(AsynqError) -> [TaskInfo] {
        try await requireQueue(queue, style: .sentinel)
        let prefix = RedisKeys.taskKeyPrefix(queue)
        switch state {
        case .pending, .active:
            let key = state == .pending ? RedisKeys.pending(queue) : RedisKeys.active(queue)
            let reply: RESPToken
            do {
                reply = try await run(
                    RedisScriptCall(
                        BrokerScripts.listTasksInList,
                        keys: [key],
                        arguments: [-options.stop - 1, -options.start - 1, prefix]
                    )
                )
            } catch {
                throw Self.prefixed(error)
            }
            let values = reply.array ?? []
            var tasks: [TaskInfo] = []
            for index in stride(from: 0, to: values.count - 1, by: 2) {
                guard let bytes = values[index].byteBuffer,
                    let message = try? TaskMessage.decode(bytes.readableBytesView)
                else { continue }
                let result = values[index + 1].byteBuffer.map { Data($0.readableBytesView) }
                tasks.append(
                    TaskInfo(
                        message: message, state: state, nextProcessAt: state == .pending ? now : nil, result: result
                    )
                )
            }
            tasks.reverse()
            if state == .active && !tasks.isEmpty {
                let expired: [TaskMessage]
                do {
                    expired = try await listLeaseExpired(queue: queue, cutoff: now)
                } catch {
                    throw Self.prefixed(error)
                }
                let orphaned = Set(expired.map(\.id))
                for index in tasks.indices where orphaned.contains(tasks[index].id) {
                    tasks[index].isOrphaned = true
                }
            }
            return tasks
        case .scheduled, .retry, .archived, .completed, .aggregating:
            let key: String
            switch state {
            case .scheduled: key = RedisKeys.scheduled(queue)
            case .retry: key = RedisKeys.retry(queue)
            case .archived: key = RedisKeys.archived(queue)
            case .completed: key = RedisKeys.completed(queue)
            default:
                guard let group else {
                    throw AsynqError(.invalidArgument, "listing aggregating tasks needs a group name")
                }
                key = RedisKeys.group(queue, group)
            }
            let reply: RESPToken
            do {
                reply = try await run(
                    RedisScriptCall(
                        BrokerScripts.listTasksInZSet,
                        keys: [key],
                        arguments: [options.start, options.stop, prefix]
                    )
                )
            } catch {
                throw Self.prefixed(error)
            }
            let values = reply.array ?? []
            var tasks: [TaskInfo] = []
            for index in stride(from: 0, to: values.count - 2, by: 3) {
                guard let bytes = values[index].byteBuffer,
                    let message = try? TaskMessage.decode(bytes.readableBytesView)
                else { continue }
                let result = values[index + 1].byteBuffer.map { Data($0.readableBytesView) }
                var nextProcessAt: Date?
                if state == .scheduled || state == .retry, let score = values[index + 2].double {
                    nextProcessAt = Date(unixSeconds: Int64(score.rounded(.down)))
                }
                tasks.append(TaskInfo(message: message, state: state, nextProcessAt: nextProcessAt, result: result))
            }
            return tasks
        }
    }

    // MARK: - Single-task writes (4.2, 4.4, 4.6, 4.8)

    /// Op 4.2: moves a scheduled, retry, archived, completed or aggregating task to pending.
    package func runTask(queue: String, id: String) async throws(AsynqError) {
        try await requireQueue(queue, style: .sentinel)
        let code = try await runCode(
            RedisScriptCall(
                BrokerScripts.runTask,
                keys: [
                    RedisKeys.taskKey(queue, id), RedisKeys.pending(queue), RedisKeys.groups(queue),
                    RedisKeys.scheduled(queue), RedisKeys.retry(queue), RedisKeys.archived(queue),
                    RedisKeys.completed(queue),
                ],
                arguments: [id, RedisKeys.groupKeyPrefix(queue)]
            ),
            script: "runTask"
        )
        switch code {
        case 1: return
        case 0: throw Self.inspectorTaskNotFound
        case -1: throw Self.failedPrecondition("task is already running")
        case -2: throw Self.failedPrecondition("task is already in pending state")
        default: throw AsynqError(.internal, "asynq: INTERNAL_ERROR: unexpected return value from Lua script \(code)")
        }
    }

    /// Op 4.4: archives a pending, scheduled, retry, completed or aggregating task.
    package func archiveTask(queue: String, id: String, now: Date) async throws(AsynqError) {
        try await requireQueue(queue, style: .sentinel)
        let code = try await runCode(
            RedisScriptCall(
                BrokerScripts.archiveTask,
                keys: [
                    RedisKeys.taskKey(queue, id), RedisKeys.archived(queue), RedisKeys.groups(queue),
                    RedisKeys.pending(queue), RedisKeys.scheduled(queue), RedisKeys.retry(queue),
                    RedisKeys.completed(queue),
                ],
                arguments: [
                    id, Int(now.unixSeconds), Int(Self.archiveCutoff(now)), Self.maxArchiveSize,
                    RedisKeys.groupKeyPrefix(queue),
                ]
            ),
            script: "archiveTask"
        )
        switch code {
        case 1: return
        case 0: throw Self.inspectorTaskNotFound
        case -1: throw Self.failedPrecondition("task is already archived: id=\(id), queue=\(queue)")
        case -2: throw Self.failedPrecondition("cannot archive task in active state. use CancelProcessing instead.")
        default:
            throw AsynqError(
                .internal, "asynq: INTERNAL_ERROR: unexpected return value from archiveTaskCmd script: \(code)"
            )
        }
    }

    /// Op 4.6: deletes a task that is not active (releasing its unique lock when it holds it).
    package func deleteTask(queue: String, id: String) async throws(AsynqError) {
        try await requireQueue(queue, style: .sentinel)
        let code = try await runCode(
            RedisScriptCall(
                BrokerScripts.deleteTask,
                keys: [
                    RedisKeys.taskKey(queue, id), RedisKeys.groups(queue), RedisKeys.pending(queue),
                    RedisKeys.scheduled(queue), RedisKeys.retry(queue), RedisKeys.archived(queue),
                    RedisKeys.completed(queue),
                ],
                arguments: [id, RedisKeys.groupKeyPrefix(queue)]
            ),
            script: "deleteTask"
        )
        switch code {
        case 1: return
        case 0: throw Self.inspectorTaskNotFound
        case -1: throw Self.failedPrecondition("cannot delete task in active state. use CancelProcessing instead.")
        default:
            throw AsynqError(
                .internal, "asynq: INTERNAL_ERROR: unexpected return value from deleteTaskCmd script: \(code)"
            )
        }
    }

    /// Op 4.8: replaces the payload of a scheduled task (nil = no payload).
    package func updateTaskPayload(queue: String, id: String, payload: Data?, now: Date) async throws(AsynqError) {
        try await requireQueue(queue, style: .sentinel)
        var (message, _, _, _) = try await readTask(queue: queue, id: id, now: now)
        message.payload = payload ?? Data()
        let encoded: Data
        do {
            encoded = try message.encoded()
        } catch {
            throw Self.prefixed(error)
        }
        let code = try await runCode(
            RedisScriptCall(
                BrokerScripts.updateTaskPayload,
                keys: [RedisKeys.taskKey(queue, id)],
                arguments: [RESPBytes(encoded)]
            ),
            script: "updateTaskPayload"
        )
        switch code {
        case 1: return
        case 0: throw Self.inspectorTaskNotFound
        case -1: throw Self.failedPrecondition("cannot update task that is not in scheduled state.")
        default: throw AsynqError(.internal, "asynq: INTERNAL_ERROR: unexpected return value from Lua script \(code)")
        }
    }

    /// Runs a script that answers with an integer code; script errors get Go's `asynq: ` prefix.
    private func runCode(_ call: RedisScriptCall, script: String) async throws(AsynqError) -> Int {
        let reply: RESPToken
        do {
            reply = try await run(call)
        } catch {
            throw Self.prefixed(error)
        }
        guard let code = reply.int else { throw Self.prefixed(Self.unexpectedReply(script, reply)) }
        return code
    }

    static func archiveCutoff(_ now: Date) -> Int64 {
        now.unixSeconds - archivedExpirationDays * 86_400
    }

    // MARK: - Bulk writes (4.3, 4.5, 4.7)

    /// Op 4.3: moves every scheduled, retry or archived task (or every task of `group` for
    /// `aggregating`) to pending; returns how many moved.
    package func runAll(queue: String, state: TaskState, group: String?) async throws(AsynqError) -> Int {
        let prefix = RedisKeys.taskKeyPrefix(queue)
        let call: RedisScriptCall
        switch state {
        case .scheduled, .retry, .archived:
            call = RedisScriptCall(
                BrokerScripts.runAll,
                keys: [Self.zsetKey(queue, state), RedisKeys.pending(queue)],
                arguments: [prefix]
            )
        case .aggregating:
            let group = try Self.requireGroup(group)
            call = RedisScriptCall(
                BrokerScripts.runAllAggregating,
                keys: [RedisKeys.group(queue, group), RedisKeys.pending(queue), RedisKeys.groups(queue)],
                arguments: [prefix, group]
            )
        case .pending, .active, .completed:
            throw AsynqError(.invalidArgument, "cannot run all \(state) tasks")
        }
        try await requireQueue(queue, style: state == .aggregating ? .bulkInternal : .bulkNotFound)
        return try await runCount(call)
    }

    /// Op 4.5: archives every pending, scheduled or retry task (or every task of `group` for
    /// `aggregating`); returns how many were archived.
    package func archiveAll(
        queue: String, state: TaskState, group: String?, now: Date
    ) async throws(AsynqError) -> Int {
        let trim: [any RESPArgument] = [
            Int(now.unixSeconds), Int(Self.archiveCutoff(now)), Self.maxArchiveSize, RedisKeys.taskKeyPrefix(queue),
        ]
        let call: RedisScriptCall
        switch state {
        case .pending:
            call = RedisScriptCall(
                BrokerScripts.archiveAllPending,
                keys: [RedisKeys.pending(queue), RedisKeys.archived(queue)],
                arguments: trim
            )
        case .scheduled, .retry:
            call = RedisScriptCall(
                BrokerScripts.archiveAll,
                keys: [Self.zsetKey(queue, state), RedisKeys.archived(queue)],
                arguments: trim
            )
        case .aggregating:
            let group = try Self.requireGroup(group)
            call = RedisScriptCall(
                BrokerScripts.archiveAllAggregating,
                keys: [RedisKeys.group(queue, group), RedisKeys.archived(queue), RedisKeys.groups(queue)],
                arguments: trim + [group]
            )
        case .active, .archived, .completed:
            throw AsynqError(.invalidArgument, "cannot archive all \(state) tasks")
        }
        try await requireQueue(queue, style: state == .scheduled || state == .retry ? .bulkNotFound : .bulkInternal)
        return try await runCount(call)
    }

    /// Op 4.7: deletes every task in `state` except active (for `aggregating`, of `group`);
    /// returns how many were deleted. Unique locks are released for the zset states only, as Go does.
    package func deleteAll(queue: String, state: TaskState, group: String?) async throws(AsynqError) -> Int {
        let prefix = RedisKeys.taskKeyPrefix(queue)
        let call: RedisScriptCall
        switch state {
        case .pending:
            call = RedisScriptCall(
                BrokerScripts.deleteAllPending, keys: [RedisKeys.pending(queue)], arguments: [prefix])
        case .scheduled, .retry, .archived, .completed:
            call = RedisScriptCall(BrokerScripts.deleteAll, keys: [Self.zsetKey(queue, state)], arguments: [prefix])
        case .aggregating:
            let group = try Self.requireGroup(group)
            call = RedisScriptCall(
                BrokerScripts.deleteAllAggregating,
                keys: [RedisKeys.group(queue, group), RedisKeys.groups(queue)],
                arguments: [prefix, group]
            )
        case .active:
            throw AsynqError(.invalidArgument, "cannot delete active tasks; use cancelProcessing(taskID:) instead")
        }
        try await requireQueue(queue, style: state == .pending || state == .aggregating ? .bulkInternal : .bulkNotFound)
        return try await runCount(call)
    }

    private func runCount(_ call: RedisScriptCall) async throws(AsynqError) -> Int {
        let reply = try await run(call)
        guard let count = reply.int else { throw Self.unexpectedReply("a bulk inspector script", reply) }
        return count
    }

    private static func requireGroup(_ group: String?) throws(AsynqError) -> String {
        guard let group else {
            throw AsynqError(.invalidArgument, "aggregating tasks are addressed by group; pass one")
        }
        return group
    }

    /// The zset holding tasks of a zset state.
    private static func zsetKey(_ queue: String, _ state: TaskState) -> String {
        switch state {
        case .scheduled: RedisKeys.scheduled(queue)
        case .retry: RedisKeys.retry(queue)
        case .archived: RedisKeys.archived(queue)
        default: RedisKeys.completed(queue)
        }
    }

    // MARK: - Queue writes (4.1, 4.9)

    /// Op 4.1: `SET asynq:{q}:paused <now s> NX`; fails when already paused.
    package func pause(queue: String, now: Date) async throws(AsynqError) {
        let set: Bool
        do {
            set = try await redis.set(RedisKeys.paused(queue), Int(now.unixSeconds), condition: .ifNotExists)
        } catch {
            throw Self.map(error)
        }
        guard set else { throw AsynqError(.invalidState, "queue \(GoFormat.quote(queue)) is already paused") }
    }

    /// Op 4.1: `DEL asynq:{q}:paused`; fails when not paused.
    package func unpause(queue: String) async throws(AsynqError) {
        let deleted: Int
        do {
            deleted = try await redis.del(RedisKeys.paused(queue))
        } catch {
            throw Self.map(error)
        }
        guard deleted > 0 else { throw AsynqError(.invalidState, "queue \(GoFormat.quote(queue)) is not paused") }
    }

    /// Op 4.9: removes the queue's task containers (and with `force` the hashes of its
    /// non-active tasks), then the queue's name from `asynq:queues`.
    package func removeQueue(_ queue: String, force: Bool) async throws(AsynqError) {
        guard try await queueExists(queue) else {
            throw AsynqError(.queueNotFound, "queue not found: queue=\(GoFormat.quote(queue))")
        }
        let keys = [
            RedisKeys.pending(queue), RedisKeys.active(queue), RedisKeys.scheduled(queue), RedisKeys.retry(queue),
            RedisKeys.archived(queue), RedisKeys.lease(queue),
        ]
        let call =
            force
            ? RedisScriptCall(BrokerScripts.removeQueueForce, keys: keys, arguments: [RedisKeys.taskKeyPrefix(queue)])
            : RedisScriptCall(BrokerScripts.removeQueue, keys: keys)
        let reply = try await run(call)
        switch reply.int {
        case 1:
            do {
                try await redis.srem(RedisKeys.allQueues, [queue])
            } catch {
                throw Self.map(error)
            }
        case -1:
            throw AsynqError(.queueNotEmpty, "queue is not empty: queue=\(GoFormat.quote(queue))")
        case -2:
            throw Self.failedPrecondition("cannot remove queue with active tasks", prefixed: false)
        default:
            throw Self.unexpectedReply("the remove queue script", reply)
        }
    }

    // MARK: - Servers and schedulers (3.7)

    /// Members of `asynq:servers`, `asynq:workers` or `asynq:schedulers` that are still alive;
    /// expired members are pruned on the way.
    private func liveMembers(of key: String, now: Date) async throws(AsynqError) -> [String] {
        let reply = try await run(
            RedisScriptCall(BrokerScripts.listLiveMembers, keys: [key], arguments: [Int(now.unixSeconds)])
        )
        return (reply.array ?? []).compactMap(\.string)
    }

    /// Runs one read per key in a pipeline; failed reads are dropped (Go skips them).
    private func readEach(_ keys: [String], _ command: (String) -> RedisCommand) async throws(AsynqError) -> [RESPToken]
    {
        guard !keys.isEmpty else { return [] }
        let results: [Result<RESPToken, RedisClientError>]
        do {
            results = try await redis.pipeline(keys.map(command))
        } catch {
            throw Self.map(error)
        }
        return results.compactMap { try? $0.get() }
    }

    /// Live servers with the tasks their workers are processing (workers of unknown servers
    /// are dropped). Undecodable records are skipped.
    package func servers(now: Date) async throws(AsynqError) -> [ServerInfo] {
        let serverKeys = try await liveMembers(of: RedisKeys.allServers, now: now)
        var servers: [ServerInfo] = []
        var positions: [String: Int] = [:]
        for reply in try await readEach(serverKeys, { RedisCommand("GET", $0) }) {
            guard let bytes = reply.byteBuffer,
                let info = try? Asynq_ServerInfo(serializedBytes: Array(bytes.readableBytesView))
            else { continue }
            let server = ServerInfo(info)
            if let position = positions[server.id] {
                servers[position] = server
            } else {
                positions[server.id] = servers.count
                servers.append(server)
            }
        }
        let workerKeys = try await liveMembers(of: RedisKeys.allWorkers, now: now)
        for reply in try await readEach(workerKeys, { RedisCommand("HVALS", $0) }) {
            for value in reply.array ?? [] {
                guard let bytes = value.byteBuffer,
                    let info = try? Asynq_WorkerInfo(serializedBytes: Array(bytes.readableBytesView)),
                    let position = positions[info.serverID]
                else { continue }
                servers[position].activeWorkers.append(WorkerInfo(info))
            }
        }
        return servers
    }

    /// Entries of every live scheduler. Undecodable entries are skipped.
    package func schedulerEntries(now: Date) async throws(AsynqError) -> [SchedulerEntry] {
        let keys = try await liveMembers(of: RedisKeys.allSchedulers, now: now)
        var entries: [SchedulerEntry] = []
        for reply in try await readEach(keys, { RedisCommand("LRANGE", $0, 0, -1) }) {
            for value in reply.array ?? [] {
                guard let bytes = value.byteBuffer,
                    let entry = try? Asynq_SchedulerEntry(serializedBytes: Array(bytes.readableBytesView))
                else { continue }
                entries.append(SchedulerEntry(entry))
            }
        }
        return entries
    }

    /// One page of an entry's enqueue events, newest first. An undecodable event fails the
    /// whole read, as in Go.
    package func schedulerEnqueueEvents(
        entryID: String, options: ListOptions
    ) async throws(AsynqError) -> [SchedulerEnqueueEvent] {
        let reply: RESPToken
        do {
            reply = try await redis.send(
                RedisCommand("ZREVRANGE", RedisKeys.schedulerHistory(entryID), options.start, options.stop)
            )
        } catch {
            throw Self.map(error)
        }
        var events: [SchedulerEnqueueEvent] = []
        for value in reply.array ?? [] {
            guard let bytes = value.byteBuffer else { throw Self.unexpectedReply("ZREVRANGE", reply) }
            do {
                let event = try Asynq_SchedulerEnqueueEvent(serializedBytes: Array(bytes.readableBytesView))
                events.append(SchedulerEnqueueEvent(event))
            } catch {
                throw AsynqError(.malformedTask, "cannot decode scheduler enqueue event: \(error)")
            }
        }
        return events
    }

    // MARK: - Cluster (3.8)

    /// `CLUSTER KEYSLOT asynq:{q}:pending`.
    package func clusterKeySlot(queue: String) async throws(AsynqError) -> Int {
        do {
            return try await redis.clusterKeySlot(RedisKeys.pending(queue))
        } catch {
            throw Self.map(error)
        }
    }

    /// The nodes serving the queue's slot, from `CLUSTER SLOTS`.
    package func clusterNodes(queue: String) async throws(AsynqError) -> [ClusterNode] {
        let slot = try await clusterKeySlot(queue: queue)
        let reply: RESPToken
        do {
            reply = try await redis.clusterSlots()
        } catch {
            throw Self.map(error)
        }
        for range in reply.array ?? [] {
            guard let fields = range.array, fields.count >= 2, let start = fields[0].int, let end = fields[1].int,
                start <= slot, slot <= end
            else { continue }
            return fields.dropFirst(2).compactMap { node in
                guard let parts = node.array, parts.count >= 2, let host = parts[0].string, let port = parts[1].string
                else { return nil }
                let address = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
                return ClusterNode(id: parts.count >= 3 ? parts[2].string ?? "" : "", address: address)
            }
        }
        throw AsynqError(.internal, "nodes not found")
    }
}
