/// Where a task is in its life, as stored in the `state` field of its hash.
public enum TaskState: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible, Codable {
    case active = 1
    case pending = 2
    case scheduled = 3
    case retry = 4
    case archived = 5
    case completed = 6
    case aggregating = 7

    /// The lowercase name, as Go asynq writes it.
    public var description: String {
        switch self {
        case .active: "active"
        case .pending: "pending"
        case .scheduled: "scheduled"
        case .retry: "retry"
        case .archived: "archived"
        case .completed: "completed"
        case .aggregating: "aggregating"
        }
    }

    public init?(name: String) {
        guard let state = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = state
    }
}
