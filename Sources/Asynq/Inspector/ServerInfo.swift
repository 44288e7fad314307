public import Foundation
import SwiftProtobuf

/// A running server (Go or Swift) as it last reported itself in its heartbeat.
public struct ServerInfo: Sendable, Hashable {
    /// The server's random instance ID.
    public var id: String
    public var host: String
    public var pid: Int
    /// Maximum number of tasks processed at once.
    public var concurrency: Int
    /// Queue name → priority, as configured.
    public var queues: [String: Int]
    public var strictPriority: Bool
    /// When the server started.
    public var started: Date
    /// `active` while running, `stopped` once it stopped taking new tasks.
    public var status: String
    /// The tasks being processed at the last heartbeat.
    public var activeWorkers: [WorkerInfo]

    public init(
        id: String,
        host: String,
        pid: Int,
        concurrency: Int,
        queues: [String: Int],
        strictPriority: Bool,
        started: Date,
        status: String,
        activeWorkers: [WorkerInfo] = []
    ) {
        self.id = id
        self.host = host
        self.pid = pid
        self.concurrency = concurrency
        self.queues = queues
        self.strictPriority = strictPriority
        self.started = started
        self.status = status
        self.activeWorkers = activeWorkers
    }

    init(_ info: Asynq_ServerInfo) {
        self.init(
            id: info.serverID,
            host: info.host,
            pid: Int(info.pid),
            concurrency: Int(info.concurrency),
            queues: info.queues.mapValues { Int($0) },
            strictPriority: info.strictPriority,
            started: InspectorTimestamps.date(info.startTime),
            status: info.status
        )
    }
}

/// A task being processed by a server.
public struct WorkerInfo: Sendable, Hashable {
    public var taskID: String
    public var taskType: String
    /// The task's payload; nil when it has none.
    public var taskPayload: Data?
    /// The queue the task came from.
    public var queue: String
    /// When the worker started processing the task.
    public var started: Date
    /// When processing must be done by; nil when the heartbeat carries Go's zero time.
    public var deadline: Date?

    public init(
        taskID: String, taskType: String, taskPayload: Data?, queue: String, started: Date, deadline: Date?
    ) {
        self.taskID = taskID
        self.taskType = taskType
        self.taskPayload = taskPayload
        self.queue = queue
        self.started = started
        self.deadline = deadline
    }

    init(_ info: Asynq_WorkerInfo) {
        self.init(
            taskID: info.taskID,
            taskType: info.taskType,
            taskPayload: info.taskPayload.isEmpty ? nil : info.taskPayload,
            queue: info.queue,
            started: InspectorTimestamps.date(info.startTime),
            deadline: InspectorTimestamps.optionalDate(info.deadline)
        )
    }
}

/// Conversions of `google.protobuf.Timestamp` values written by Go.
enum InspectorTimestamps {
    /// Go's zero `time.Time` (`0001-01-01T00:00:00Z`) in Unix seconds; asynq writes it for
    /// "never" (e.g. a scheduler entry that never fired).
    static let zeroUnixSeconds: Int64 = -62_135_596_800

    /// The instant, as Go's `AsTime()` gives it (a missing timestamp reads as the Unix epoch).
    static func date(_ timestamp: Google_Protobuf_Timestamp) -> Date {
        Date(timeIntervalSince1970: TimeInterval(timestamp.seconds) + TimeInterval(timestamp.nanos) / 1e9)
    }

    /// Nil for Go's zero time, else the instant.
    static func optionalDate(_ timestamp: Google_Protobuf_Timestamp) -> Date? {
        if timestamp.seconds == zeroUnixSeconds && timestamp.nanos == 0 { return nil }
        return date(timestamp)
    }
}
