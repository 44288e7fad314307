import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import SwiftProtobuf
import Synchronization

// Support for CompatReplayTests: the protobuf renderer for dumps, the scenario clock, and the
// drivers that perform what Go's server, inspector and scheduler did in the recorded scenarios.

// MARK: - Protobuf rendering

/// Renders asynq's protobuf messages as Go's protojson does with `EmitUnpopulated` and
/// `UseProtoNames` (the `decoded` objects of the compat fixtures): every field, proto field
/// names, int64 as strings, bytes as base64, Timestamps as RFC 3339 with 0, 3, 6 or 9 digits.
struct AsynqProtobufRenderer: ProtobufJSONRendering {
    struct UnknownMessage: Error, CustomStringConvertible {
        var description: String
    }

    func render(message: String, bytes: [UInt8]) throws -> DumpJSON {
        switch message {
        case AsynqProtobufLocations.taskMessage:
            let m = try Asynq_TaskMessage(serializedBytes: bytes)
            return .object([
                "type": .string(m.type),
                "payload": .string(m.payload.base64EncodedString()),
                "headers": .object(m.headers.mapValues { .string($0) }),
                "id": .string(m.id),
                "queue": .string(m.queue),
                "retry": .integer(Int64(m.retry)),
                "retried": .integer(Int64(m.retried)),
                "error_msg": .string(m.errorMsg),
                "last_failed_at": .string(String(m.lastFailedAt)),
                "timeout": .string(String(m.timeout)),
                "deadline": .string(String(m.deadline)),
                "unique_key": .string(m.uniqueKey),
                "group_key": .string(m.groupKey),
                "retention": .string(String(m.retention)),
                "completed_at": .string(String(m.completedAt)),
            ])
        case AsynqProtobufLocations.serverInfo:
            let m = try Asynq_ServerInfo(serializedBytes: bytes)
            return .object([
                "host": .string(m.host),
                "pid": .integer(Int64(m.pid)),
                "server_id": .string(m.serverID),
                "concurrency": .integer(Int64(m.concurrency)),
                "queues": .object(m.queues.mapValues { .integer(Int64($0)) }),
                "strict_priority": .bool(m.strictPriority),
                "status": .string(m.status),
                "start_time": Self.timestamp(m.hasStartTime ? m.startTime : nil),
                "active_worker_count": .integer(Int64(m.activeWorkerCount)),
            ])
        case AsynqProtobufLocations.workerInfo:
            let m = try Asynq_WorkerInfo(serializedBytes: bytes)
            return .object([
                "host": .string(m.host),
                "pid": .integer(Int64(m.pid)),
                "server_id": .string(m.serverID),
                "task_id": .string(m.taskID),
                "task_type": .string(m.taskType),
                "task_payload": .string(m.taskPayload.base64EncodedString()),
                "queue": .string(m.queue),
                "start_time": Self.timestamp(m.hasStartTime ? m.startTime : nil),
                "deadline": Self.timestamp(m.hasDeadline ? m.deadline : nil),
            ])
        case AsynqProtobufLocations.schedulerEntry:
            let m = try Asynq_SchedulerEntry(serializedBytes: bytes)
            return .object([
                "id": .string(m.id),
                "spec": .string(m.spec),
                "task_type": .string(m.taskType),
                "task_payload": .string(m.taskPayload.base64EncodedString()),
                "enqueue_options": .array(m.enqueueOptions.map { .string($0) }),
                "next_enqueue_time": Self.timestamp(m.hasNextEnqueueTime ? m.nextEnqueueTime : nil),
                "prev_enqueue_time": Self.timestamp(m.hasPrevEnqueueTime ? m.prevEnqueueTime : nil),
            ])
        case AsynqProtobufLocations.schedulerEnqueueEvent:
            let m = try Asynq_SchedulerEnqueueEvent(serializedBytes: bytes)
            return .object([
                "task_id": .string(m.taskID),
                "enqueue_time": Self.timestamp(m.hasEnqueueTime ? m.enqueueTime : nil),
            ])
        default:
            throw UnknownMessage(description: "no renderer for \(message)")
        }
    }

    /// protojson's Timestamp form; `null` for an unset field.
    static func timestamp(_ value: Google_Protobuf_Timestamp?) -> DumpJSON {
        guard let value else { return .null }
        let days = floorDivide(value.seconds, 86_400)
        let secondOfDay = value.seconds - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        var text =
            pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + ":"
            + pad(secondOfDay / 60 % 60, 2) + ":" + pad(secondOfDay % 60, 2)
        let nanos = Int64(value.nanos)
        if nanos != 0 {
            var fraction = pad(nanos, 9)
            if nanos % 1_000_000 == 0 {
                fraction = String(fraction.prefix(3))
            } else if nanos % 1000 == 0 {
                fraction = String(fraction.prefix(6))
            }
            text += "." + fraction
        }
        return .string(text + "Z")
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Howard Hinnant's civil-from-days.
    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

// MARK: - Clock

/// The clock of a replay: the client and the driver read it; the scenario sets it to the
/// recorded instant of each step (moved by the timeline's shift).
final class ScenarioClock: Sendable {
    let timeline: CompatTimeline
    private let current: Mutex<Date>

    init(timeline: CompatTimeline) {
        self.timeline = timeline
        current = Mutex(timeline.date(offsetFromStart: .zero))
    }

    var now: Date { current.withLock { $0 } }

    func set(goUnixNanoseconds: Int64) {
        let date = timeline.date(goUnixNanoseconds: goUnixNanoseconds)
        current.withLock { $0 = date }
    }
}

// MARK: - Drivers

/// A part of asynq whose Redis writes a scenario needs. Differences on its keys are known
/// issues while the driver cannot reproduce it.
enum AsynqComponent: String, Sendable, Hashable, CaseIterable {
    /// Server heartbeat: `asynq:servers`, `asynq:servers:{…}`, `asynq:workers`, `asynq:workers:{…}`.
    case serverHeartbeat = "needs AsynqServer heartbeat"
    /// Scheduler: `asynq:schedulers`, `asynq:schedulers:{…}`, `asynq:scheduler_history:*`.
    case scheduler = "needs AsynqScheduler"
    /// The inspector's error values and texts (its Redis writes are the broker scripts).
    case inspectorErrors = "needs AsynqInspector error texts"

    /// The component that writes `key`, for the components whose keys are their own.
    static func owner(ofKey key: String) -> AsynqComponent? {
        if key.hasPrefix("asynq:servers") || key.hasPrefix("asynq:workers") { return .serverHeartbeat }
        if key.hasPrefix("asynq:schedulers") || key.hasPrefix("asynq:scheduler_history:") { return .scheduler }
        return nil
    }
}

/// How a Go server was configured in a scenario (everything the Redis state depends on).
struct ServerConfiguration: Sendable {
    var concurrency = 1
    var queues: [String: Int] = ["default": 1]
    var strictPriority = false
    /// The retry delay function's constant result.
    var retryDelay: Duration = .seconds(3600)
    var groupGracePeriod: Duration = .zero
    var groupMaxSize = 0
    /// The group aggregator: the group's tasks → the aggregated task.
    var aggregator: (@Sendable (_ group: String, _ tasks: [AsynqTask]) -> AsynqTask)?
}

/// What a handler did with a task.
enum TaskOutcome: Sendable {
    case success
    /// A failure with this error text; retried while retries remain, else archived.
    case failure(String)
    /// A failure wrapping SkipRetry; `text` is the whole error text Go stores.
    case skipRetry(text: String)
}

/// A task handed to a handler and not finished yet.
struct InFlightTask: Sendable {
    var message: TaskMessage
}

/// A scheduler entry as registered.
struct SchedulerEntrySpec: Sendable {
    var spec: String
    var task: AsynqTask
    var options: [TaskOption]
}

/// Performs the steps of a scenario that Go asynq's server, inspector and scheduler performed,
/// at the scenario clock's current time. The steps the Go client performed are replayed with
/// `AsynqClient` directly.
///
/// `BrokerScenarioDriver` performs them with the broker's operations; a driver built on the
/// real `AsynqServer` / inspector / scheduler conforms by starting them with the scenario
/// clock and mapping each step to their work (a handler that blocks until `finish`, a
/// heartbeat tick, a forwarder tick…), and by leaving `missingComponents` empty.
protocol ScenarioDriver: Sendable {
    /// Components this driver cannot reproduce: differences on their keys are known issues.
    var missingComponents: Set<AsynqComponent> { get }

    // Server
    /// Starts a server (Go writes its first heartbeat at start).
    func startServer(_ configuration: ServerConfiguration) async throws
    /// One heartbeat: server and worker state, lease extension of the in-flight tasks.
    func heartbeat() async throws
    /// Hands the next task of `queue` to a handler (dequeue).
    func startProcessing(queue: String) async throws -> InFlightTask
    /// The handler writes a result.
    func writeResult(_ task: InFlightTask, _ data: Data) async throws
    /// The handler returns.
    func finish(_ task: InFlightTask, _ outcome: TaskOutcome) async throws
    /// One forwarder tick: due scheduled and retry tasks of `queue` move on.
    func forwardDueTasks(queue: String) async throws
    /// One aggregator tick for `group` of `queue`.
    func aggregate(queue: String, group: String) async throws
    /// Graceful shutdown.
    func stopServer() async throws

    // Inspector
    func pauseQueue(_ queue: String) async throws
    func unpauseQueue(_ queue: String) async throws
    func archiveTask(queue: String, id: String) async throws
    func deleteAllPendingTasks(queue: String) async throws -> Int
    func runTask(queue: String, id: String) async throws

    // Scheduler
    func startScheduler(entries: [SchedulerEntrySpec], heartbeatInterval: Duration) async throws
    /// Entry `index` fires: enqueue plus the enqueue event.
    func fireSchedulerEntry(_ index: Int) async throws
    func schedulerHeartbeat() async throws
    func stopScheduler() async throws
}

/// A `ScenarioDriver` on the broker's operations and scripts. It reproduces the worker,
/// forwarder, aggregator, lease extension and the inspector's Redis writes; it writes no
/// server or scheduler heartbeat keys and has no inspector error texts.
final class BrokerScenarioDriver: ScenarioDriver {
    let client: AsynqClient
    let clock: ScenarioClock
    private let state = Mutex(State())

    private struct State {
        var server = ServerConfiguration()
        var inFlight: [String: TaskMessage] = [:]
        var schedulerEntries: [SchedulerEntrySpec] = []
    }

    init(client: AsynqClient, clock: ScenarioClock) {
        self.client = client
        self.clock = clock
    }

    var broker: RedisBroker { client.broker }
    var missingComponents: Set<AsynqComponent> { [.serverHeartbeat, .scheduler, .inspectorErrors] }

    // MARK: Server

    func startServer(_ configuration: ServerConfiguration) async throws {
        state.withLock { $0.server = configuration }
    }

    func heartbeat() async throws {
        let expiry = clock.now.addingTimeInterval(TimeInterval(RedisBroker.leaseDuration))
        let byQueue = state.withLock { Dictionary(grouping: $0.inFlight.values, by: \.queue) }
        for (queue, messages) in byQueue {
            try await broker.extendLeases(queue: queue, ids: messages.map(\.id), expiry: expiry)
        }
    }

    func startProcessing(queue: String) async throws -> InFlightTask {
        let dequeued = try await broker.dequeue(queue: queue, count: 1, now: clock.now)
        guard let first = dequeued.first else { throw ScenarioError("queue \(queue) has no task to process") }
        let message = try first.get()
        state.withLock { $0.inFlight[message.id] = message }
        return InFlightTask(message: message)
    }

    func writeResult(_ task: InFlightTask, _ data: Data) async throws {
        try await broker.writeResult(queue: task.message.queue, taskID: task.message.id, data: data)
    }

    func finish(_ task: InFlightTask, _ outcome: TaskOutcome) async throws {
        let message = task.message
        let now = clock.now
        let retryDelay = state.withLock { $0.server.retryDelay }
        switch outcome {
        case .success where message.retention > 0:
            try await broker.run(try broker.markCompleteCall(message, now: now))
        case .success:
            try await broker.run(broker.doneCall(message, now: now))
        case .failure(let text) where message.retried < message.retry:
            let retryAt = now.addingTimeInterval(TimeInterval(retryDelay.components.seconds))
            try await broker.run(
                try broker.retryCall(message, retryAt: retryAt, errorMessage: text, isFailure: true, now: now))
        case .failure(let text), .skipRetry(let text):
            try await broker.run(try broker.archiveCall(message, errorMessage: text, now: now))
        }
        _ = state.withLock { $0.inFlight.removeValue(forKey: message.id) }
    }

    func forwardDueTasks(queue: String) async throws {
        for source in [RedisKeys.scheduled(queue), RedisKeys.retry(queue)] {
            while try await broker.forward(from: source, queue: queue, now: clock.now) > 0 {}
        }
    }

    func aggregate(queue: String, group: String) async throws {
        let configuration = state.withLock { $0.server }
        guard let aggregator = configuration.aggregator else { throw ScenarioError("no group aggregator") }
        let now = clock.now
        let nowSeconds = Int(now.timeIntervalSince1970.rounded(.down))
        let setKey = RedisKeys.aggregationSet(queue, group, UUID().uuidString.lowercased())
        let created = try await broker.run(
            RedisScriptCall(
                BrokerScripts.checkAggregation,
                keys: [
                    RedisKeys.group(queue, group), setKey, RedisKeys.aggregationSets(queue), RedisKeys.groups(queue),
                ],
                arguments: [
                    configuration.groupMaxSize, 0, Int(configuration.groupGracePeriod.components.seconds),
                    nowSeconds + 120, nowSeconds, group,
                ]))
        guard created.int == 1 else { return }
        let members = try await broker.run(
            RedisScriptCall(
                BrokerScripts.readAggregationSet, keys: [setKey], arguments: [RedisKeys.taskKeyPrefix(queue)]))
        let tasks = try (members.array ?? []).compactMap(\.bytes).map { bytes in
            let message = try TaskMessage.decode(bytes)
            return AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
        }
        try await client.enqueue(aggregator(group, tasks), .queue(queue))
        try await broker.run(
            RedisScriptCall(
                BrokerScripts.deleteAggregationSet, keys: [setKey, RedisKeys.aggregationSets(queue)],
                arguments: [RedisKeys.taskKeyPrefix(queue)]))
    }

    func stopServer() async throws {
        let leftover = state.withLock { $0.inFlight.count }
        guard leftover == 0 else { throw ScenarioError("the server stops with \(leftover) task(s) in flight") }
    }

    // MARK: Inspector

    private var nowSeconds: Int { Int(clock.now.timeIntervalSince1970.rounded(.down)) }

    private func requireQueue(_ queue: String) async throws {
        guard try await broker.redis.sismember(RedisKeys.allQueues, queue) else { throw AsynqError.queueNotFound }
    }

    /// An inspector failure: the right code, but not the inspector's text.
    private func failure(_ code: AsynqError.Code, _ detail: String) -> AsynqError {
        AsynqError(code, "broker driver: \(detail)")
    }

    func pauseQueue(_ queue: String) async throws {
        let written = try await broker.redis.set(RedisKeys.paused(queue), nowSeconds, condition: .ifNotExists)
        if !written { throw failure(.invalidState, "paused key exists") }
    }

    func unpauseQueue(_ queue: String) async throws {
        if try await broker.redis.del(RedisKeys.paused(queue)) == 0 {
            throw failure(.invalidState, "paused key does not exist")
        }
    }

    func archiveTask(queue: String, id: String) async throws {
        try await requireQueue(queue)
        let cutoff = nowSeconds - Int(RedisBroker.archivedExpirationDays) * 86_400
        let reply = try await broker.run(
            RedisScriptCall(
                BrokerScripts.archiveTask,
                keys: [
                    RedisKeys.taskKey(queue, id), RedisKeys.archived(queue), RedisKeys.groups(queue),
                    RedisKeys.pending(queue), RedisKeys.scheduled(queue), RedisKeys.retry(queue),
                    RedisKeys.completed(queue),
                ],
                arguments: [id, nowSeconds, cutoff, RedisBroker.maxArchiveSize, RedisKeys.groupKeyPrefix(queue)]))
        switch reply.int {
        case 1: return
        case 0: throw AsynqError.taskNotFound
        case -1: throw failure(.invalidState, "archiveTask returned -1 (already archived)")
        case -2: throw failure(.invalidState, "archiveTask returned -2 (active)")
        default: throw ScenarioError("archiveTask returned \(reply)")
        }
    }

    func deleteAllPendingTasks(queue: String) async throws -> Int {
        try await requireQueue(queue)
        let reply = try await broker.run(
            RedisScriptCall(
                BrokerScripts.deleteAllPending, keys: [RedisKeys.pending(queue)],
                arguments: [RedisKeys.taskKeyPrefix(queue)]))
        guard let count = reply.int else { throw ScenarioError("deleteAllPending returned \(reply)") }
        return count
    }

    func runTask(queue: String, id: String) async throws {
        try await requireQueue(queue)
        let reply = try await broker.run(
            RedisScriptCall(
                BrokerScripts.runTask,
                keys: [
                    RedisKeys.taskKey(queue, id), RedisKeys.pending(queue), RedisKeys.groups(queue),
                    RedisKeys.scheduled(queue), RedisKeys.retry(queue), RedisKeys.archived(queue),
                    RedisKeys.completed(queue),
                ],
                arguments: [id, RedisKeys.groupKeyPrefix(queue)]))
        switch reply.int {
        case 1: return
        case 0: throw AsynqError.taskNotFound
        case -1: throw failure(.invalidState, "runTask returned -1 (active)")
        case -2: throw failure(.invalidState, "runTask returned -2 (already pending)")
        default: throw ScenarioError("runTask returned \(reply)")
        }
    }

    // MARK: Scheduler

    func startScheduler(entries: [SchedulerEntrySpec], heartbeatInterval: Duration) async throws {
        state.withLock { $0.schedulerEntries = entries }
    }

    func fireSchedulerEntry(_ index: Int) async throws {
        let entries = state.withLock { $0.schedulerEntries }
        guard entries.indices.contains(index) else { throw ScenarioError("no scheduler entry \(index)") }
        // Go's scheduler enqueues through its client; the enqueue event is not written here.
        try await client.enqueue(entries[index].task, options: entries[index].options)
    }

    func schedulerHeartbeat() async throws {}

    func stopScheduler() async throws {}
}

struct ScenarioError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
