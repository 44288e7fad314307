/// Combines the tasks of a group into one task (Go's `GroupAggregator`). Configure it as
/// ``AsynqServer/Configuration/groupAggregator`` to enable aggregation.
///
/// The returned task is enqueued with its own options, then `.queue(<group's queue>)`, so it
/// always lands in the queue of the group (a queue option of its own is overridden). A thrown
/// error leaves the group's batch in place; it returns to the group after two minutes and is
/// aggregated again.
public protocol GroupAggregator: Sendable {
    func aggregate(group: String, tasks: [AsynqTask]) async throws -> AsynqTask
}

/// A group aggregator made from a closure.
public struct GroupAggregatorFunc: GroupAggregator {
    private let body: @Sendable (String, [AsynqTask]) async throws -> AsynqTask

    public init(_ body: @escaping @Sendable (_ group: String, _ tasks: [AsynqTask]) async throws -> AsynqTask) {
        self.body = body
    }

    public func aggregate(group: String, tasks: [AsynqTask]) async throws -> AsynqTask {
        try await body(group, tasks)
    }
}
