public import Foundation

/// Writes the result of the task being processed into its hash (`result` field). The result is
/// kept if the task ends `completed` (it needs a retention) or stays in `retry`/`archived`.
public struct ResultWriter: Sendable {
    public let taskID: String
    let queue: String
    let broker: RedisBroker

    init(taskID: String, queue: String, broker: RedisBroker) {
        self.taskID = taskID
        self.queue = queue
        self.broker = broker
    }

    /// Stores `data` as the result (overwriting an earlier one) and returns its size. Fails
    /// once the handler's context is done (deadline passed or cancelled).
    @discardableResult
    public func write(_ data: Data) async throws -> Int {
        if Task.isCancelled {
            throw AsynqError(.cancelled, "failed to write task result: context canceled")
        }
        try await broker.writeResult(queue: queue, taskID: taskID, data: data)
        return data.count
    }
}
