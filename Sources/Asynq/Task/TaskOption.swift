public import Foundation

/// An option of a task, applied when it is enqueued. For the same kind the last one wins,
/// except `header`, which accumulates.
public enum TaskOption: Sendable, Hashable, CustomStringConvertible {
    /// Most retries before the task is archived (default 25; negative values mean 0).
    case maxRetry(Int)
    /// The queue (default `default`).
    case queue(String)
    /// The task ID (default a random UUID).
    case taskID(String)
    /// Time limit per attempt (whole seconds; 30 min when neither timeout nor deadline is set).
    case timeout(Duration)
    /// Absolute deadline for processing.
    case deadline(Date)
    /// Uniqueness on (queue, type, payload) for this long (at least one second).
    case unique(ttl: Duration)
    /// Process at this time (now or earlier → enqueued immediately).
    case processAt(Date)
    /// Process after this delay.
    case processIn(Duration)
    /// Keep the task as `completed` for this long after it succeeds.
    case retention(Duration)
    /// Add the task to an aggregation group.
    case group(String)
    /// A header (overwrites a task header with the same key).
    case header(String, String)

    /// Go asynq's option type numbers.
    public enum Kind: Int, Sendable {
        case maxRetry = 0, queue, timeout, deadline, unique, processAt, processIn, taskID, retention, group, header
    }

    public var kind: Kind {
        switch self {
        case .maxRetry: .maxRetry
        case .queue: .queue
        case .taskID: .taskID
        case .timeout: .timeout
        case .deadline: .deadline
        case .unique: .unique
        case .processAt: .processAt
        case .processIn: .processIn
        case .retention: .retention
        case .group: .group
        case .header: .header
        }
    }

    /// The `Name(arg)` form Go asynq stores in scheduler entries and parses back.
    public var description: String {
        switch self {
        case .maxRetry(let n): "MaxRetry(\(n))"
        case .queue(let name): "Queue(\(GoFormat.quote(name)))"
        case .taskID(let id): "TaskID(\(GoFormat.quote(id)))"
        case .timeout(let d): "Timeout(\(GoFormat.duration(d)))"
        case .deadline(let t): "Deadline(\(GoFormat.unixDate(t)))"
        case .unique(let ttl): "Unique(\(GoFormat.duration(ttl)))"
        case .processAt(let t): "ProcessAt(\(GoFormat.unixDate(t)))"
        case .processIn(let d): "ProcessIn(\(GoFormat.duration(d)))"
        case .retention(let d): "Retention(\(GoFormat.duration(d)))"
        case .group(let name): "Group(\(GoFormat.quote(name)))"
        case .header(let k, let v): "Header(\(GoFormat.jsonStringArray([k, v])))"
        }
    }
}

/// The options of one enqueue call after composition (task options first, then the call's).
package struct ComposedOptions: Sendable {
    package var maxRetry = 25
    package var queue = "default"
    package var taskID: String?
    package var timeout: Duration?
    package var deadline: Date?
    package var uniqueTTL: Duration?
    package var processAt: Date
    package var retention: Duration = .zero
    package var group: String?
    package var headers: [String: String] = [:]

    static let defaultTimeout: Duration = .seconds(1800)

    package init(_ options: [TaskOption], now: Date) throws(AsynqError) {
        processAt = now
        for option in options {
            switch option {
            case .maxRetry(let n):
                maxRetry = max(0, n)
            case .queue(let name):
                guard !name.isBlank else {
                    throw AsynqError.invalid("queue name must contain one or more characters")
                }
                queue = name
            case .taskID(let id):
                guard !id.isBlank else {
                    throw AsynqError.invalid("task ID cannot be empty")
                }
                taskID = id
            case .timeout(let d):
                timeout = d
            case .deadline(let t):
                deadline = t
            case .unique(let ttl):
                guard ttl >= .seconds(1) else { throw AsynqError.invalid("Unique TTL cannot be less than 1s") }
                uniqueTTL = ttl
            case .processAt(let t):
                processAt = t
            case .processIn(let d):
                processAt = now.addingTimeInterval(d.timeInterval)
            case .retention(let d):
                retention = d
            case .group(let name):
                guard !name.isBlank else {
                    throw AsynqError.invalid("group key cannot be empty")
                }
                group = name
            case .header(let key, let value):
                headers[key] = value
            }
        }
    }
}

extension Duration {
    /// Whole seconds, truncated toward zero (as Go's `int64(d.Seconds())`).
    var wholeSeconds: Int64 { components.seconds }

    var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    init(timeInterval: TimeInterval) {
        self = .nanoseconds(Int64((timeInterval * 1e9).rounded(.towardZero)))
    }
}

extension Date {
    /// Unix seconds, truncated (Go's `t.Unix()`; floor for times before 1970).
    var unixSeconds: Int64 { Int64(timeIntervalSince1970.rounded(.down)) }
    /// Unix nanoseconds (Go's `t.UnixNano()`).
    var unixNanoseconds: Int64 { Int64((timeIntervalSince1970 * 1e9).rounded(.down)) }

    init(unixSeconds: Int64) { self.init(timeIntervalSince1970: TimeInterval(unixSeconds)) }
}
