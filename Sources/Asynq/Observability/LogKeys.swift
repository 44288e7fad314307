/// The log metadata keys used by the library, defined once so that every log line names the
/// same thing the same way (and log pipelines can filter on them).
package enum LogKeys {
    /// The ID of the task a line is about.
    package static let taskID = "asynq.task.id"
    /// The type name of the task a line is about.
    package static let taskType = "asynq.task.type"
    /// The queue a line is about.
    package static let queue = "asynq.queue"
    /// An aggregation group name.
    package static let group = "asynq.group"
    /// The ID of the server (worker process instance) that logs.
    package static let serverID = "asynq.server.id"
    /// The server component that logs (`processor`, `heartbeater`, …).
    package static let component = "asynq.component"
    /// A Redis command or script that failed.
    package static let redisCommand = "redis.command"
    /// The error of a failed operation.
    package static let error = "error"
}
