import Asynq
import AsynqRedis
import AsynqTestSupport
import Foundation
import SwiftProtobuf
import Synchronization

// Support for CompatReplayTests: the protobuf renderer for dumps and the scenario clock. The
// server and scheduler steps are driven by `ServerScenarioDriver` and `SchedulerScenarioDriver`.

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

/// The clock of a replay: the client, inspector, server and scheduler read it; the scenario sets it to the
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

// MARK: - Scheduler entries

/// A scheduler entry as registered.
struct SchedulerEntrySpec: Sendable {
    var spec: String
    var task: AsynqTask
    var options: [TaskOption]
}

struct ScenarioError: Error, CustomStringConvertible {
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
