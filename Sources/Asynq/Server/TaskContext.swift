public import Foundation
public import Logging

/// What a handler knows about the task it is processing (Go's context helpers `GetTaskID`,
/// `GetRetryCount`, `GetMaxRetry`, `GetQueueName` and the context deadline).
///
/// It is passed to ``TaskHandler/processTask(_:context:)`` and is also available as
/// ``TaskContext/current`` anywhere in the handler's task tree.
public struct TaskContext: Sendable {
    /// The ID of the task.
    public let taskID: String
    /// How many times the task was retried before this attempt (`retried`).
    public let retryCount: Int
    /// How many retries the task may have (`retry`).
    public let maxRetry: Int
    /// The queue the task was taken from.
    public let queue: String
    /// The task's type name.
    public let taskType: String
    /// When this attempt times out (timeout and deadline options, `server.md` §4.2). The handler
    /// is cancelled at that moment.
    public let deadline: Date
    /// The server's logger with the task's metadata (`asynq.task.id`, `asynq.task.type`,
    /// `asynq.queue`). The metadata is attached when the logger is read, so a task whose
    /// handler never logs pays nothing for it.
    public var logger: Logger {
        get {
            if let assignedLogger { return assignedLogger }
            var logger = serverLogger
            logger[metadataKey: LogKeys.taskID] = "\(taskID)"
            logger[metadataKey: LogKeys.taskType] = "\(taskType)"
            logger[metadataKey: LogKeys.queue] = "\(queue)"
            return logger
        }
        set { assignedLogger = newValue }
    }
    private let serverLogger: Logger
    private var assignedLogger: Logger?
    /// Writes the task's result (`result` field of its hash).
    public let resultWriter: ResultWriter

    /// The context of the task being processed by the current task tree; nil outside a handler.
    @TaskLocal public static var current: TaskContext?

    package init(message: TaskMessage, deadline: Date, logger: Logger, broker: RedisBroker) {
        taskID = message.id
        retryCount = Int(message.retried)
        maxRetry = Int(message.retry)
        queue = message.queue
        taskType = message.type
        self.deadline = deadline
        serverLogger = logger
        assignedLogger = nil
        resultWriter = ResultWriter(taskID: message.id, queue: message.queue, broker: broker)
    }
}
