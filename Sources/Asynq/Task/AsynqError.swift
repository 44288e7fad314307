import AsynqRedis

/// Errors of the queue layer. `code` says what kind; `message` is the text Go asynq uses where
/// it has one (so logs and stored error messages read the same).
public struct AsynqError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        public static let duplicateTask = Code("duplicateTask")
        public static let taskIDConflict = Code("taskIDConflict")
        public static let taskNotFound = Code("taskNotFound")
        public static let queueNotFound = Code("queueNotFound")
        public static let queueNotEmpty = Code("queueNotEmpty")
        public static let serverClosed = Code("serverClosed")
        public static let serverRunning = Code("serverRunning")
        public static let handlerNotFound = Code("handlerNotFound")
        public static let leaseExpired = Code("leaseExpired")
        public static let skipRetry = Code("skipRetry")
        public static let revokeTask = Code("revokeTask")
        public static let invalidArgument = Code("invalidArgument")
        public static let invalidState = Code("invalidState")
        public static let deadlineExceeded = Code("deadlineExceeded")
        public static let cancelled = Code("cancelled")
        public static let malformedTask = Code("malformedTask")
        public static let redis = Code("redis")
        public static let `internal` = Code("internal")
    }

    public let code: Code
    public let message: String
    /// The error this one wraps (for `skipRetry`/`revokeTask` raised with a reason, or Redis errors).
    public let underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String {
        if let underlying { return "\(message): \(underlying)" }
        return message
    }

    public static func == (lhs: AsynqError, rhs: AsynqError) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }

    // MARK: Go asynq's sentinel errors

    public static let duplicateTask = AsynqError(.duplicateTask, "task already exists")
    public static let taskIDConflict = AsynqError(.taskIDConflict, "task ID conflicts with another task")
    public static let taskNotFound = AsynqError(.taskNotFound, "task not found")
    public static let queueNotFound = AsynqError(.queueNotFound, "queue not found")
    public static let queueNotEmpty = AsynqError(.queueNotEmpty, "queue is not empty")
    public static let serverClosed = AsynqError(.serverClosed, "asynq: Server closed")
    public static let leaseExpired = AsynqError(.leaseExpired, "asynq: task lease expired")

    /// Thrown by a handler: archive the task now instead of retrying it.
    public static func skipRetry(_ reason: String? = nil) -> AsynqError {
        AsynqError(.skipRetry, reason.map { "\($0): skip retry for the task" } ?? "skip retry for the task")
    }

    /// Thrown by a handler: drop the task as if it succeeded (no retry, no archive).
    public static func revokeTask(_ reason: String? = nil) -> AsynqError {
        AsynqError(.revokeTask, reason.map { "\($0): revoke task" } ?? "revoke task")
    }

    package static func invalid(_ message: String) -> AsynqError {
        AsynqError(.invalidArgument, message)
    }

    /// Whether this wraps an error reply of Redis (as opposed to a connection failure).
    package var isRedisServerError: Bool {
        (underlying as? RedisClientError)?.code == .serverError
    }

    /// Whether this wraps a Redis Cluster `TRYAGAIN` or `CLUSTERDOWN` reply: the command did not
    /// run and may succeed later (a slot migration or a failover is under way).
    package var isClusterRetryLater: Bool {
        guard let prefix = (underlying as? RedisClientError)?.serverErrorPrefix else { return false }
        return prefix == "TRYAGAIN" || prefix == "CLUSTERDOWN"
    }

    static func redis(_ error: any Error) -> AsynqError {
        if let error = error as? AsynqError { return error }
        return AsynqError(.redis, "redis error", underlying: error)
    }
}

/// Something that wraps another error, so `skipRetry`/`revokeTask` are found when wrapped.
public protocol WrappingError: Error {
    var wrappedError: (any Error)? { get }
}

extension AsynqError: WrappingError {
    public var wrappedError: (any Error)? { underlying }
}

extension Error {
    /// Whether this error is, or wraps, an `AsynqError` with `code`.
    public func isAsynqError(_ code: AsynqError.Code) -> Bool {
        var current: (any Error)? = self
        var depth = 0
        while let error = current, depth < 32 {
            if let asynq = error as? AsynqError, asynq.code == code { return true }
            current = (error as? any WrappingError)?.wrappedError
            depth += 1
        }
        return false
    }
}
