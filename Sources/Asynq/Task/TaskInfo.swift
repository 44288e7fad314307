public import Foundation

/// What is known about a task: its message fields, state and timing.
public struct TaskInfo: Sendable, Hashable {
    public var id: String
    public var queue: String
    public var type: String
    public var payload: Data?
    public var headers: [String: String]
    public var state: TaskState
    public var maxRetry: Int
    public var retried: Int
    public var lastError: String
    /// Nil when the task never failed.
    public var lastFailedAt: Date?
    /// Zero when the task has no timeout.
    public var timeout: Duration
    /// Nil when the task has no deadline.
    public var deadline: Date?
    public var group: String?
    /// When the task will be processed next (now for pending tasks); nil when not applicable.
    public var nextProcessAt: Date?
    /// For active tasks listed by the inspector: the lease expired without a heartbeat.
    public var isOrphaned: Bool
    public var retention: Duration
    public var completedAt: Date?
    /// What the handler wrote with its result writer; nil when nothing was written.
    public var result: Data?

    /// Every field given (tests and tools that build task listings without Redis).
    package init(
        id: String,
        queue: String,
        type: String,
        payload: Data? = nil,
        headers: [String: String] = [:],
        state: TaskState,
        maxRetry: Int = 25,
        retried: Int = 0,
        lastError: String = "",
        lastFailedAt: Date? = nil,
        timeout: Duration = .zero,
        deadline: Date? = nil,
        group: String? = nil,
        nextProcessAt: Date? = nil,
        isOrphaned: Bool = false,
        retention: Duration = .zero,
        completedAt: Date? = nil,
        result: Data? = nil
    ) {
        self.id = id
        self.queue = queue
        self.type = type
        self.payload = payload
        self.headers = headers
        self.state = state
        self.maxRetry = maxRetry
        self.retried = retried
        self.lastError = lastError
        self.lastFailedAt = lastFailedAt
        self.timeout = timeout
        self.deadline = deadline
        self.group = group
        self.nextProcessAt = nextProcessAt
        self.isOrphaned = isOrphaned
        self.retention = retention
        self.completedAt = completedAt
        self.result = result
    }

    init(message: TaskMessage, state: TaskState, nextProcessAt: Date?, result: Data?, isOrphaned: Bool = false) {
        id = message.id
        queue = message.queue
        type = message.type
        payload = message.payload.isEmpty ? nil : message.payload
        headers = message.headers
        self.state = state
        maxRetry = Int(message.retry)
        retried = Int(message.retried)
        lastError = message.errorMsg
        lastFailedAt = message.lastFailedAt == 0 ? nil : Date(unixSeconds: message.lastFailedAt)
        timeout = .seconds(message.timeout)
        deadline = message.deadline == 0 ? nil : Date(unixSeconds: message.deadline)
        group = message.groupKey.isEmpty ? nil : message.groupKey
        self.nextProcessAt = nextProcessAt
        self.isOrphaned = isOrphaned
        retention = .seconds(message.retention)
        completedAt = message.completedAt == 0 ? nil : Date(unixSeconds: message.completedAt)
        self.result = (result?.isEmpty ?? true) ? nil : result
    }
}
