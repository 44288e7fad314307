public import AsynqRedis
import Foundation
import Logging
public import ServiceLifecycle
import SwiftProtobuf
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Enqueues tasks on cron schedules (Go's `asynq.Scheduler`), wire-compatible with Go: its
/// entries and enqueue history show in Go's `asynq cron ls` / `asynq cron history` and in the
/// web UI.
///
/// ```swift
/// let scheduler = try AsynqScheduler(redis: .standalone(host: "127.0.0.1", port: 6379))
/// let id = try scheduler.register("*/5 * * * *", task: AsynqTask(type: "email:digest"), options: [.queue("low")])
/// try await ServiceGroup(services: [scheduler], gracefulShutdownSignals: [.sigterm], logger: logger).run()
/// ```
///
/// Each occurrence is enqueued with the task's own options, then the register options, after
/// `preEnqueue` and before `postEnqueue`; a successful enqueue is recorded in the entry's
/// history (the newest 1000 are kept). Every heartbeat interval the entries are written to
/// Redis (`asynq:schedulers`) with their next and previous enqueue times.
///
/// **Replicas.** Unlike Go asynq, several schedulers with the same entries (replicas for
/// availability) enqueue each occurrence **once**: with ``ReplicaCoordination/claimEachOccurrence``
/// (the default) a scheduler first claims the occurrence in Redis, with a compare-and-set on a
/// per-entry record `asynq:{<queue>}:cron:<entry hash>` that holds the newest claimed
/// occurrence; only the scheduler whose claim succeeds enqueues (and runs the hooks). The entry
/// hash is derived from the entry's definition (spec, zone, task type, payload, headers,
/// options), so replicas agree on it although their entry IDs are random. We chose this over a
/// leader lease because it needs no election and no failover delay: every replica attempts
/// every occurrence, so when one stops the others keep enqueueing without a gap; the record
/// lives in the queue's hash slot, so it works on Redis Cluster; and because it only ever moves
/// forward, a replica whose clock lags (or that wakes late) cannot enqueue an occurrence again.
/// The same record gives the ``MisfirePolicy/runLatest`` policy its memory of the last
/// occurrence. See `docs/PERIODIC_TASKS.md`.
///
/// **Lifecycle.** A `Service`: ``run()`` works until a graceful shutdown (ServiceLifecycle's,
/// or ``shutdown()``), which stops the heartbeat and removes the entries from Redis, lets
/// enqueues in progress finish, and deletes the history of the entries still registered (as Go
/// does). Cancelling the task that runs ``run()`` aborts instead: nothing more is written, and
/// the entries expire from Redis after two heartbeat intervals. A scheduler runs once.
public final class AsynqScheduler: Service, Sendable {
    /// `<hostname>:<pid>:<uuid>`, as Go names its schedulers.
    public let schedulerID: String

    let configuration: Configuration
    let client: AsynqClient
    let clock: any SchedulerClock
    private let ownsConnection: Bool
    private let state = Mutex(State())
    private let started = ServerEvent()
    private let finished = ServerEvent()

    private var broker: RedisBroker { client.broker }
    private var logger: Logger { configuration.logger }

    private enum Lifecycle {
        case new, running, stopping, stopped
    }

    private struct EntryState {
        let entry: ScheduledEntry
        let sequence: Int
        let stop = ServerEvent()
        /// Nil with `nextKnown` set: the schedule never fires again.
        var next: Date?
        var nextKnown = false
        var prev: Date?
    }

    private struct State {
        var lifecycle = Lifecycle.new
        var entries: [String: EntryState] = [:]
        var nextSequence = 0
        /// Entry IDs to start; set while running.
        var starts: AsyncStream<String>.Continuation?
    }

    /// A scheduler with its own Redis connections (closed when ``run()`` returns). Throws
    /// `.invalidArgument` for an invalid configuration.
    public convenience init(
        redis options: RedisConnectionOptions, configuration: Configuration = Configuration()
    ) throws {
        let configuration = try configuration.normalized()
        let redis = try RedisClient(options: options, logger: configuration.logger)
        self.init(redis: redis, ownsConnection: true, normalized: configuration, clock: SystemSchedulerClock())
    }

    /// A scheduler sharing an existing Redis client (left open when ``run()`` returns).
    public convenience init(redis: RedisClient, configuration: Configuration = Configuration()) throws {
        self.init(
            redis: redis, ownsConnection: false, normalized: try configuration.normalized(),
            clock: SystemSchedulerClock())
    }

    /// A scheduler on an injected clock (tests).
    package convenience init(
        redis: RedisClient, configuration: Configuration, clock: any SchedulerClock
    ) throws {
        self.init(redis: redis, ownsConnection: false, normalized: try configuration.normalized(), clock: clock)
    }

    private init(
        redis: RedisClient, ownsConnection: Bool, normalized configuration: Configuration, clock: any SchedulerClock
    ) {
        self.schedulerID = "\(Self.hostname()):\(getpid()):\(UUID().uuidString.lowercased())"
        self.configuration = configuration
        self.clock = clock
        self.ownsConnection = ownsConnection
        self.client = AsynqClient(
            redis: redis, ownsConnection: false, logger: configuration.logger, now: { clock.now })
    }

    // MARK: - Entries

    /// Registers a periodic task and returns its entry ID (a random UUID). Allowed before and
    /// while the scheduler runs. Throws `CronParseError` for an invalid spec (its description
    /// names the bad field), and `AsynqError` `.invalidArgument` for an empty task type or
    /// options the client would refuse.
    @discardableResult
    public func register(_ spec: String, task: AsynqTask, options: [TaskOption] = []) throws -> String {
        let schedule = try CronSchedule(parsing: spec, defaultTimeZone: configuration.timeZone)
        guard !task.type.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw AsynqError.invalid("task typename cannot be empty")
        }
        _ = try ComposedOptions(task.options + options, now: clock.now)
        let id = UUID().uuidString.lowercased()
        let entry = ScheduledEntry(
            id: id, schedule: schedule, task: task, options: options,
            gridAligned: configuration.replicaCoordination == .claimEachOccurrence)
        state.withLock { state in
            state.entries[id] = EntryState(entry: entry, sequence: state.nextSequence)
            state.nextSequence += 1
            state.starts?.yield(id)
        }
        logger.debug(
            "Registered a periodic task",
            metadata: [MetadataKey.entryID: "\(id)", MetadataKey.spec: "\(spec)", MetadataKey.taskType: "\(task.type)"])
        return id
    }

    /// Removes an entry; it is not enqueued again (an enqueue in progress completes). Its
    /// history stays in Redis, as in Go. Throws `.invalidArgument` ("asynq: no scheduler entry
    /// found") for an unknown ID.
    public func unregister(_ id: String) throws {
        guard let removed = state.withLock({ $0.entries.removeValue(forKey: id) }) else {
            throw AsynqError.invalid("asynq: no scheduler entry found")
        }
        removed.stop.fire()
    }

    /// The registered entries, soonest first, with their next and previous enqueue times.
    public var entries: [SchedulerEntry] {
        snapshot(now: clock.now).map { item in
            SchedulerEntry(
                id: item.entry.id, spec: item.entry.schedule.spec, task: item.entry.task,
                options: item.entry.options, next: item.next, prev: item.prev)
        }
    }

    // MARK: - Lifecycle

    /// Runs the schedule until a graceful shutdown (see the type's documentation). Throws
    /// `.invalidState` when the scheduler already runs or has run.
    public func run() async throws {
        let starts = try state.withLock { (state: inout State) throws(AsynqError) -> AsyncStream<String> in
            switch state.lifecycle {
            case .new: break
            case .running, .stopping: throw AsynqError(.invalidState, "asynq: the scheduler is already running")
            case .stopped: throw AsynqError(.invalidState, "asynq: the scheduler has already been stopped")
            }
            state.lifecycle = .running
            let (stream, continuation) = AsyncStream.makeStream(of: String.self)
            for item in state.entries.values.sorted(by: { $0.sequence < $1.sequence }) {
                continuation.yield(item.entry.id)
            }
            state.starts = continuation
            return stream
        }
        logger.info("Scheduler starting", metadata: [MetadataKey.schedulerID: "\(schedulerID)"])
        started.fire()
        await withGracefulShutdownHandler {
            await self.runLoops(starts)
        } onGracefulShutdown: {
            self.beginShutdown()
        }
        let remaining = state.withLock { state -> [String] in
            state.lifecycle = .stopped
            state.starts?.finish()
            state.starts = nil
            return state.entries.values.sorted { $0.sequence < $1.sequence }.map(\.entry.id)
        }
        if !Task.isCancelled {
            do {
                try await broker.clearSchedulerHistory(entryIDs: remaining)
            } catch {
                logger.error(
                    "Failed to clear the scheduler history",
                    metadata: [MetadataKey.schedulerID: "\(schedulerID)", MetadataKey.error: "\(error)"])
            }
        }
        if ownsConnection { await broker.redis.close() }
        logger.info("Scheduler stopped", metadata: [MetadataKey.schedulerID: "\(schedulerID)"])
        finished.fire()
    }

    /// Shuts the scheduler down gracefully and returns once ``run()`` has finished. Does
    /// nothing for a scheduler that never ran.
    public func shutdown() async {
        let wasRunning = beginShutdown()
        let ran = state.withLock { $0.lifecycle != .new }
        if wasRunning || ran { await finished.wait() }
    }

    /// Checks the connection to Redis.
    public func ping() async throws {
        try await client.ping()
    }

    /// Starts the graceful shutdown; returns whether the scheduler was running.
    @discardableResult
    private func beginShutdown() -> Bool {
        let (starts, stops) = state.withLock { state -> (AsyncStream<String>.Continuation?, [ServerEvent]) in
            guard state.lifecycle == .running else { return (nil, []) }
            state.lifecycle = .stopping
            defer { state.starts = nil }
            return (state.starts, state.entries.values.map(\.stop))
        }
        guard let starts else { return false }
        logger.info("Scheduler shutting down", metadata: [MetadataKey.schedulerID: "\(schedulerID)"])
        for stop in stops { stop.fire() }
        starts.finish()
        return true
    }

    /// The heartbeat and one loop per entry, as children of one task group. New entries arrive
    /// on `starts`, which ends at shutdown (or when the task is cancelled).
    private func runLoops(_ starts: AsyncStream<String>) async {
        let heartbeatStop = ServerEvent()
        await withDiscardingTaskGroup { group in
            group.addTask { await self.heartbeatLoop(stop: heartbeatStop) }
            for await id in starts {
                guard let (entry, stop) = state.withLock({ $0.entries[id].map { ($0.entry, $0.stop) } }) else {
                    continue
                }
                group.addTask { await self.entryLoop(entry, stop: stop) }
            }
            heartbeatStop.fire()
        }
    }

    // MARK: - Firing

    private func entryLoop(_ entry: ScheduledEntry, stop: ServerEvent) async {
        var reference = clock.now
        if configuration.misfirePolicy == .runLatest {
            await enqueueLatestMissedOccurrence(entry, stop: stop, now: reference)
        }
        while !stop.isFired && !Task.isCancelled {
            let next = entry.next(after: reference)
            update(entry.id) { item in
                item.next = next
                item.nextKnown = true
            }
            guard let next else {
                await stop.wait()
                return
            }
            guard await clock.sleep(until: next, unless: stop) else { return }
            let woke = clock.now
            update(entry.id) { $0.prev = next }
            await fire(entry, occurrence: next)
            reference = max(next, woke)
        }
    }

    /// `runLatest`: enqueues the newest occurrence missed since the entry's last claimed one.
    private func enqueueLatestMissedOccurrence(_ entry: ScheduledEntry, stop: ServerEvent, now: Date) async {
        let last: Int64?
        do {
            last = try await broker.schedulerLastOccurrence(
                key: entry.coordinationKey, baseline: now.unixSeconds, schedulerID: schedulerID,
                ttlSeconds: entry.coordinationTTL(after: now))
        } catch {
            logger.error(
                "Failed to read the last occurrence of a periodic task",
                metadata: [MetadataKey.entryID: "\(entry.id)", MetadataKey.error: "\(error)"])
            return
        }
        guard let last, !stop.isFired,
            let missed = entry.latestOccurrence(after: Date(unixSeconds: last), notAfter: now)
        else { return }
        logger.info(
            "Enqueueing the latest missed occurrence of a periodic task",
            metadata: [
                MetadataKey.entryID: "\(entry.id)", MetadataKey.spec: "\(entry.schedule.spec)",
                MetadataKey.occurrence: "\(missed)",
            ])
        update(entry.id) { $0.prev = missed }
        await fire(entry, occurrence: missed)
    }

    /// Claims the occurrence (unless coordination is disabled), then enqueues and records it.
    private func fire(_ entry: ScheduledEntry, occurrence: Date) async {
        if configuration.replicaCoordination == .claimEachOccurrence {
            do {
                let claimed = try await broker.claimSchedulerOccurrence(
                    key: entry.coordinationKey, fireTime: occurrence.unixSeconds, schedulerID: schedulerID,
                    ttlSeconds: entry.coordinationTTL(after: occurrence))
                guard claimed else {
                    logger.debug(
                        "Occurrence already enqueued by another scheduler",
                        metadata: [MetadataKey.entryID: "\(entry.id)", MetadataKey.occurrence: "\(occurrence)"])
                    return
                }
            } catch {
                logger.error(
                    "Failed to claim an occurrence of a periodic task; it is skipped",
                    metadata: [
                        MetadataKey.entryID: "\(entry.id)", MetadataKey.occurrence: "\(occurrence)",
                        MetadataKey.error: "\(error)",
                    ])
                return
            }
        }
        await configuration.preEnqueue?(entry.task, entry.options)
        let info: TaskInfo
        do {
            info = try await client.enqueue(entry.task, options: entry.options)
        } catch {
            await configuration.postEnqueue?(nil, error)
            logger.error(
                "Failed to enqueue a periodic task",
                metadata: [
                    MetadataKey.entryID: "\(entry.id)", MetadataKey.taskType: "\(entry.task.type)",
                    MetadataKey.error: "\(error)",
                ])
            return
        }
        await configuration.postEnqueue?(info, nil)
        logger.debug(
            "Enqueued a periodic task",
            metadata: [MetadataKey.entryID: "\(entry.id)", MetadataKey.taskID: "\(info.id)"])
        do {
            try await broker.recordSchedulerEnqueueEvent(entryID: entry.id, taskID: info.id, enqueuedAt: clock.now)
        } catch {
            logger.error(
                "Failed to record the scheduler enqueue event",
                metadata: [MetadataKey.entryID: "\(entry.id)", MetadataKey.error: "\(error)"])
        }
    }

    // MARK: - Heartbeat

    private func heartbeatLoop(stop: ServerEvent) async {
        let interval = configuration.heartbeatInterval.timeInterval
        var deadline = clock.now.addingTimeInterval(interval)
        while await clock.sleep(until: deadline, unless: stop) {
            await beat()
            deadline = clock.now.addingTimeInterval(interval)
        }
        guard !Task.isCancelled else { return }
        do {
            try await broker.clearSchedulerEntries(schedulerID: schedulerID)
        } catch {
            logger.error(
                "Failed to clear the scheduler entries",
                metadata: [MetadataKey.schedulerID: "\(schedulerID)", MetadataKey.error: "\(error)"])
        }
    }

    /// Op 2.20: every entry, soonest first as Go's cron engine lists them (so Redis holds them
    /// in reverse, after the `LPUSH`es).
    private func beat() async {
        let now = clock.now
        let entries = snapshot(now: now).map { item in
            var message = Asynq_SchedulerEntry()
            message.id = item.entry.id
            message.spec = item.entry.schedule.spec
            message.taskType = item.entry.task.type
            message.taskPayload = item.entry.task.payload ?? Data()
            message.enqueueOptions = item.entry.options.map(\.description)
            message.nextEnqueueTime = Self.timestamp(item.next)
            message.prevEnqueueTime = Self.timestamp(item.prev)
            return message
        }
        do {
            try await broker.writeSchedulerEntries(
                schedulerID: schedulerID, entries: entries, ttl: configuration.heartbeatInterval * 2, now: now)
        } catch {
            logger.error(
                "Failed to write the scheduler entries",
                metadata: [MetadataKey.schedulerID: "\(schedulerID)", MetadataKey.error: "\(error)"])
        }
    }

    /// Go's zero time (`0001-01-01T00:00:00Z`) stands for "never".
    static let zeroTimeUnixSeconds: Int64 = -62_135_596_800

    static func timestamp(_ date: Date?) -> Google_Protobuf_Timestamp {
        guard let date else { return Google_Protobuf_Timestamp(seconds: zeroTimeUnixSeconds, nanos: 0) }
        return Google_Protobuf_Timestamp(date: date)
    }

    // MARK: - State

    private struct EntrySnapshot {
        var entry: ScheduledEntry
        var next: Date?
        var prev: Date?
    }

    /// The entries sorted by next time (never-firing ones last), then by registration.
    private func snapshot(now: Date) -> [EntrySnapshot] {
        let items = state.withLock { Array($0.entries.values) }
        return
            items
            .map { item in
                (
                    item.sequence,
                    EntrySnapshot(
                        entry: item.entry, next: item.nextKnown ? item.next : item.entry.next(after: now),
                        prev: item.prev)
                )
            }
            .sorted { lhs, rhs in
                switch (lhs.1.next, rhs.1.next) {
                case (let l?, let r?) where l != r: return l < r
                case (.some, nil): return true
                case (nil, .some): return false
                default: return lhs.0 < rhs.0
                }
            }
            .map(\.1)
    }

    private func update(_ id: String, _ body: (inout EntryState) -> Void) {
        state.withLock { state in
            guard var item = state.entries[id] else { return }
            body(&item)
            state.entries[id] = item
        }
    }

    // MARK: - Test hooks

    /// Returns once ``run()`` has started.
    package func waitUntilStarted() async {
        await started.wait()
    }

    private static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown-host" }
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    private enum MetadataKey {
        static let schedulerID = "asynq.scheduler.id"
        static let entryID = "asynq.scheduler.entry.id"
        static let spec = "asynq.scheduler.spec"
        static let occurrence = "asynq.scheduler.occurrence"
        static let taskType = "asynq.task.type"
        static let taskID = "asynq.task.id"
        static let error = "error"
    }
}
