public import AsynqRedis
public import Foundation
public import Logging

/// Reads and changes the state of queues and tasks: Go asynq's `Inspector`, over the same Redis
/// data, so it sees queues written by Go clients and servers and Go tools see its changes.
///
/// ```swift
/// let inspector = try AsynqInspector(redis: .standalone(host: "127.0.0.1", port: 6379))
/// for queue in try await inspector.queues() {
///     let info = try await inspector.queueInfo(queue)
///     print(queue, info.pending, info.latency)
/// }
/// try await inspector.runAll(queue: "default", state: .archived)
/// ```
///
/// Errors are ``AsynqError`` values whose `code` tells the case (`.queueNotFound`,
/// `.taskNotFound`, `.queueNotEmpty`, `.invalidState` for Go's `FAILED_PRECONDITION` errors,
/// `.invalidArgument`) and whose `message` is the text Go's inspector returns.
public final class AsynqInspector: Sendable {
    package let broker: RedisBroker
    private let ownsConnection: Bool
    private let now: @Sendable () -> Date

    /// An inspector with its own Redis connections (closed by ``close()``).
    public convenience init(
        redis options: RedisConnectionOptions, logger: Logger = Logger(label: "asynq.inspector")
    ) throws {
        let redis = try RedisClient(options: options, logger: logger)
        self.init(redis: redis, ownsConnection: true, now: { Date() })
    }

    /// An inspector sharing an existing Redis client (``close()`` leaves it open).
    public convenience init(redis: RedisClient) {
        self.init(redis: redis, ownsConnection: false, now: { Date() })
    }

    package init(redis: RedisClient, ownsConnection: Bool, now: @escaping @Sendable () -> Date) {
        self.broker = RedisBroker(redis: redis)
        self.ownsConnection = ownsConnection
        self.now = now
    }

    /// Closes the Redis connections if the inspector created them.
    public func close() async {
        if ownsConnection { await broker.redis.close() }
    }

    /// Checks the connection to Redis.
    public func ping() async throws(AsynqError) {
        do {
            try await broker.redis.ping()
        } catch {
            throw RedisBroker.map(error)
        }
    }

    // MARK: - Queues

    /// Every queue known to asynq (members of `asynq:queues`, in no particular order).
    public func queues() async throws(AsynqError) -> [String] {
        try await broker.allQueues()
    }

    /// Counts, daily and total counters, latency and memory usage of a queue.
    /// Throws `.queueNotFound` when the queue is unknown.
    public func queueInfo(_ queue: String) async throws(AsynqError) -> QueueInfo {
        try Self.validate(queue)
        return try await broker.queueInfo(queue, now: now())
    }

    /// Processed and failed counts of the last `days` days, today first. Throws
    /// `.invalidState` when `days` < 1 and `.queueNotFound` when the queue is unknown.
    public func history(queue: String, days: Int) async throws(AsynqError) -> [DailyStats] {
        try Self.validate(queue)
        return try await broker.history(queue: queue, days: days, now: now())
    }

    /// The aggregation groups of a queue with their sizes (no existence check, as in Go).
    public func groups(queue: String) async throws(AsynqError) -> [GroupInfo] {
        try await broker.groups(queue: queue)
    }

    /// Removes a queue. Without `force` only an empty queue (no pending, active, scheduled,
    /// retry or archived task) is removed, else `.queueNotEmpty`; with `force` the queue's
    /// non-active tasks are deleted too, but not while any task is active (`.invalidState`).
    /// Completed tasks, groups, counters and the paused flag are left in Redis, as Go does.
    public func deleteQueue(_ queue: String, force: Bool = false) async throws(AsynqError) {
        try await broker.removeQueue(queue, force: force)
    }

    /// Stops workers from taking tasks of the queue (`.invalidState` when already paused).
    public func pause(queue: String) async throws(AsynqError) {
        try Self.validate(queue)
        try await broker.pause(queue: queue, now: now())
    }

    /// Lets workers take tasks of the queue again (`.invalidState` when not paused).
    public func unpause(queue: String) async throws(AsynqError) {
        try Self.validate(queue)
        try await broker.unpause(queue: queue)
    }

    // MARK: - Tasks

    /// One task, with its state, next process time (the time of the query, truncated to the
    /// second, for a pending task) and result. Throws `.queueNotFound` or `.taskNotFound`.
    public func taskInfo(queue: String, id: String) async throws(AsynqError) -> TaskInfo {
        try await broker.taskInfo(queue: queue, id: id, now: now())
    }

    /// One page of the tasks of a queue in `state`; for `.aggregating`, of `group` (required).
    ///
    /// Order: pending and active tasks next-to-run first; scheduled and retry soonest first;
    /// archived oldest archival first; completed soonest expiry first; aggregating oldest first.
    /// Pending tasks have `nextProcessAt` = now, scheduled and retry tasks their due time,
    /// others nil. Active tasks whose lease has expired are marked ``TaskInfo/isOrphaned``.
    /// Paging follows ``ListOptions``.
    public func listTasks(
        queue: String,
        state: TaskState,
        group: String? = nil,
        page: Int = ListOptions.defaultPage,
        pageSize: Int = ListOptions.defaultPageSize
    ) async throws(AsynqError) -> [TaskInfo] {
        try Self.validate(queue, prefixed: true)
        return try await broker.listTasks(
            queue: queue,
            state: state,
            group: group,
            options: ListOptions(page: page, pageSize: pageSize),
            now: now()
        )
    }

    /// Deletes a task that is not active, releasing its unique lock if it holds it.
    /// Throws `.queueNotFound`, `.taskNotFound`, or `.invalidState` for an active task.
    public func deleteTask(queue: String, id: String) async throws(AsynqError) {
        try Self.validate(queue, prefixed: true)
        try await broker.deleteTask(queue: queue, id: id)
    }

    /// Moves a scheduled, retry, archived, completed or aggregating task to pending so it runs
    /// now. Throws `.queueNotFound`, `.taskNotFound`, or `.invalidState` for an active or
    /// pending task.
    public func runTask(queue: String, id: String) async throws(AsynqError) {
        try Self.validate(queue, prefixed: true)
        try await broker.runTask(queue: queue, id: id)
    }

    /// Archives a task that is neither active nor archived. Throws `.queueNotFound`,
    /// `.taskNotFound`, or `.invalidState`.
    public func archiveTask(queue: String, id: String) async throws(AsynqError) {
        try Self.validate(queue, prefixed: true)
        try await broker.archiveTask(queue: queue, id: id, now: now())
    }

    /// Replaces the payload of a scheduled task (nil = no payload); other states throw
    /// `.invalidState`.
    public func updateTaskPayload(queue: String, id: String, payload: Data?) async throws(AsynqError) {
        try Self.validate(queue, prefixed: true)
        try await broker.updateTaskPayload(queue: queue, id: id, payload: payload, now: now())
    }

    /// Deletes every task of the queue in `state` (pending, scheduled, retry, archived,
    /// completed, or the aggregating tasks of `group`); returns how many were deleted.
    public func deleteAll(queue: String, state: TaskState, group: String? = nil) async throws(AsynqError) -> Int {
        try Self.validate(queue)
        return try await broker.deleteAll(queue: queue, state: state, group: group)
    }

    /// Moves every task of the queue in `state` (scheduled, retry, archived, or the aggregating
    /// tasks of `group`) to pending; returns how many moved.
    public func runAll(queue: String, state: TaskState, group: String? = nil) async throws(AsynqError) -> Int {
        try Self.validate(queue)
        return try await broker.runAll(queue: queue, state: state, group: group)
    }

    /// Archives every task of the queue in `state` (pending, scheduled, retry, or the
    /// aggregating tasks of `group`); returns how many were archived.
    public func archiveAll(queue: String, state: TaskState, group: String? = nil) async throws(AsynqError) -> Int {
        try Self.validate(queue)
        return try await broker.archiveAll(queue: queue, state: state, group: group, now: now())
    }

    /// Asks every server to cancel the task if it is processing it. Best effort: success only
    /// means the request was published.
    public func cancelProcessing(taskID: String) async throws(AsynqError) {
        try await broker.publishCancellation(taskID: taskID)
    }

    // MARK: - Servers and schedulers

    /// Running servers with their in-flight tasks.
    public func servers() async throws(AsynqError) -> [ServerInfo] {
        try await broker.servers(now: now())
    }

    /// Entries of every running scheduler, with their options parsed back from Go's strings.
    public func schedulerEntries() async throws(AsynqError) -> [SchedulerEntry] {
        try await broker.schedulerEntries(now: now())
    }

    /// One page of the enqueue events of a scheduler entry, newest first.
    public func schedulerEnqueueEvents(
        entryID: String,
        page: Int = ListOptions.defaultPage,
        pageSize: Int = ListOptions.defaultPageSize
    ) async throws(AsynqError) -> [SchedulerEnqueueEvent] {
        try await broker.schedulerEnqueueEvents(entryID: entryID, options: ListOptions(page: page, pageSize: pageSize))
    }

    // MARK: - Redis Cluster

    /// The hash slot of the queue's keys (`CLUSTER KEYSLOT`; needs a cluster-enabled server).
    public func clusterKeySlot(queue: String) async throws(AsynqError) -> Int {
        try await broker.clusterKeySlot(queue: queue)
    }

    /// The cluster nodes serving the queue's slot (`CLUSTER SLOTS`).
    public func clusterNodes(queue: String) async throws(AsynqError) -> [ClusterNode] {
        try await broker.clusterNodes(queue: queue)
    }

    // MARK: - Validation

    /// Go's `ValidateQueueName`; some Go methods add their `asynq: ` prefix to the error.
    static func validate(_ queue: String, prefixed: Bool = false) throws(AsynqError) {
        guard queue.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return }
        throw AsynqError(
            .invalidArgument, (prefixed ? "asynq: " : "") + "queue name must contain one or more characters"
        )
    }
}
