package import Foundation

/// Key names of Go asynq v0.26 (`redis-layout.md`). Every per-queue key carries `{qname}` so all
/// keys of one queue share a Redis Cluster slot.
package enum RedisKeys {
    package static let allQueues = "asynq:queues"
    package static let allServers = "asynq:servers"
    package static let allWorkers = "asynq:workers"
    package static let allSchedulers = "asynq:schedulers"
    package static let cancelChannel = "asynq:cancel"

    package static func queuePrefix(_ queue: String) -> String { "asynq:{\(queue)}:" }
    package static func taskKeyPrefix(_ queue: String) -> String { "asynq:{\(queue)}:t:" }
    package static func taskKey(_ queue: String, _ id: String) -> String { "asynq:{\(queue)}:t:\(id)" }
    package static func pending(_ queue: String) -> String { "asynq:{\(queue)}:pending" }
    package static func active(_ queue: String) -> String { "asynq:{\(queue)}:active" }
    package static func scheduled(_ queue: String) -> String { "asynq:{\(queue)}:scheduled" }
    package static func retry(_ queue: String) -> String { "asynq:{\(queue)}:retry" }
    package static func archived(_ queue: String) -> String { "asynq:{\(queue)}:archived" }
    package static func completed(_ queue: String) -> String { "asynq:{\(queue)}:completed" }
    package static func lease(_ queue: String) -> String { "asynq:{\(queue)}:lease" }
    package static func paused(_ queue: String) -> String { "asynq:{\(queue)}:paused" }
    package static func groups(_ queue: String) -> String { "asynq:{\(queue)}:groups" }
    package static func groupKeyPrefix(_ queue: String) -> String { "asynq:{\(queue)}:g:" }
    package static func group(_ queue: String, _ group: String) -> String { "asynq:{\(queue)}:g:\(group)" }
    package static func aggregationSet(_ queue: String, _ group: String, _ setID: String) -> String {
        "asynq:{\(queue)}:g:\(group):\(setID)"
    }
    package static func aggregationSets(_ queue: String) -> String { "asynq:{\(queue)}:aggregation_sets" }
    package static func processedTotal(_ queue: String) -> String { "asynq:{\(queue)}:processed" }
    package static func failedTotal(_ queue: String) -> String { "asynq:{\(queue)}:failed" }
    package static func processed(_ queue: String, on date: Date) -> String {
        "asynq:{\(queue)}:processed:\(utcDay(date))"
    }
    package static func failed(_ queue: String, on date: Date) -> String { "asynq:{\(queue)}:failed:\(utcDay(date))" }
    /// Our wake-up channel: the enqueue/forward scripts publish here when a queue's pending list
    /// stops being empty, so idle workers need not poll.
    package static func notifyChannel(_ queue: String) -> String { "asynq:{\(queue)}:notify" }

    /// `asynq:{q}:unique:<type>:<md5 hex of payload>`; nothing after the last `:` when there is no payload.
    package static func unique(_ queue: String, type: String, payload: Data?) -> String {
        let digest = payload.map { MD5.hexDigest(of: Array($0)) } ?? ""
        return "asynq:{\(queue)}:unique:\(type):\(digest)"
    }

    package static func serverInfo(host: String, pid: Int, serverID: String) -> String {
        "asynq:servers:{\(host):\(pid):\(serverID)}"
    }
    package static func workers(host: String, pid: Int, serverID: String) -> String {
        "asynq:workers:{\(host):\(pid):\(serverID)}"
    }
    package static func schedulerEntries(_ schedulerID: String) -> String { "asynq:schedulers:{\(schedulerID)}" }
    package static func schedulerHistory(_ entryID: String) -> String { "asynq:scheduler_history:\(entryID)" }

    /// `YYYY-MM-DD` in UTC.
    package static func utcDay(_ date: Date) -> String {
        let days = Int64((date.timeIntervalSince1970 / 86400).rounded(.down))
        // Civil-from-days (Howard Hinnant's algorithm), UTC, no Calendar allocation per call.
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return "\(year)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
    }
}
