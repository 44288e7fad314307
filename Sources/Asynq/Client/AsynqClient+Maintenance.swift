extension AsynqClient {
    /// The states ``purge(queue:states:)`` deletes by default: everything but `active`.
    public static let purgeableStates: Set<TaskState> = Set(TaskState.allCases).subtracting([.active])

    /// Deletes every task of `queue` in the given states and returns how many were deleted per
    /// state. `aggregating` covers every group of the queue. Active tasks cannot be purged
    /// (cancel them instead): passing `.active` throws `.invalidArgument` before anything is
    /// deleted. Throws `.queueNotFound` when the queue is unknown.
    ///
    /// Each state is deleted atomically (one script per state and group), but the purge as a
    /// whole is not: tasks that change state meanwhile may be left behind.
    @discardableResult
    public func purge(
        queue: String, states: Set<TaskState> = AsynqClient.purgeableStates
    ) async throws(AsynqError) -> [TaskState: Int] {
        try AsynqInspector.validate(queue)
        if states.contains(.active) {
            throw AsynqError(.invalidArgument, "active tasks cannot be purged; cancel them instead")
        }
        try await broker.requireQueue(queue, style: .internalError)
        var deleted: [TaskState: Int] = [:]
        for state in TaskState.allCases where states.contains(state) {
            if state == .aggregating {
                var count = 0
                for group in try await broker.groups(queue: queue) {
                    count += try await broker.deleteAll(queue: queue, state: .aggregating, group: group.group)
                }
                deleted[state] = count
            } else {
                deleted[state] = try await broker.deleteAll(queue: queue, state: state, group: nil)
            }
        }
        return deleted
    }

    /// Runs a scheduled, retry, archived (or completed, or aggregating) task now by moving it to
    /// pending. Throws `.queueNotFound`, `.taskNotFound`, or `.invalidState` when the task is
    /// already pending or active.
    public func runTask(id: String, queue: String = "default") async throws(AsynqError) {
        try AsynqInspector.validate(queue, prefixed: true)
        try await broker.runTask(queue: queue, id: id)
    }
}
