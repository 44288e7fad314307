extension AsynqClient {
    /// Enqueues a typed payload as a task of type `P.taskType` with a JSON payload.
    @discardableResult
    public func enqueue<P: TaskPayload>(_ payload: P, _ options: TaskOption...) async throws -> TaskInfo {
        try await enqueue(payload.makeTask(), options: options)
    }

    /// Enqueues a typed payload as a task of type `P.taskType` with a JSON payload.
    @discardableResult
    public func enqueue<P: TaskPayload>(_ payload: P, options: [TaskOption]) async throws -> TaskInfo {
        try await enqueue(payload.makeTask(), options: options)
    }
}
