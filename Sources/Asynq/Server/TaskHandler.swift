/// Processes tasks. Return normally for success; throw for failure, and the task is retried
/// (or archived once its retries are used up). Two errors are special (also when wrapped, see
/// ``WrappingError``):
///
/// * ``AsynqError/skipRetry(_:)`` archives the task at once;
/// * ``AsynqError/revokeTask(_:)`` drops it as if it had succeeded, without retry or archive.
///
/// A handler runs in its own child task. When the task's deadline passes, when the task is
/// cancelled through the inspector (`asynq:cancel`), when its lease is lost, or when the server
/// shuts down while it runs, that child task is **cancelled**: handlers should check for
/// cancellation (`try Task.checkCancellation()`, cancellable awaits such as `Task.sleep`) so that
/// the slot they occupy is freed promptly. The outcome is recorded when the cancellation is
/// decided, not when the handler returns.
///
/// Swift cannot intercept a trap (force unwrap, `fatalError`, out-of-bounds index) the way Go
/// recovers a panic: a handler that traps brings the process down, and its task is recovered by
/// another server once its lease expires. Throw errors instead.
public protocol TaskHandler: Sendable {
    func processTask(_ task: AsynqTask, context: TaskContext) async throws
}

/// A handler made from a closure (Go's `HandlerFunc`).
public struct TaskHandlerFunc: TaskHandler {
    private let body: @Sendable (AsynqTask, TaskContext) async throws -> Void

    public init(_ body: @escaping @Sendable (AsynqTask, TaskContext) async throws -> Void) {
        self.body = body
    }

    public func processTask(_ task: AsynqTask, context: TaskContext) async throws {
        try await body(task, context)
    }
}
