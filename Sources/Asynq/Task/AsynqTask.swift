public import Foundation

/// A unit of work: a type name that selects the handler, an opaque payload, headers, and
/// options applied when it is enqueued.
///
/// `payload == nil` (no payload) and an empty payload are different: Go asynq computes the
/// uniqueness lock of a task without payload differently, and so do we.
public struct AsynqTask: Sendable, Hashable {
    public var type: String
    public var payload: Data?
    public var headers: [String: String]
    /// Options stored with the task; applied before the options of the enqueue call.
    public var options: [TaskOption]
    /// Writes the task's result; set only for tasks handed to a handler.
    public internal(set) var resultWriter: ResultWriter?

    public init(type: String, payload: Data? = nil, headers: [String: String] = [:], options: [TaskOption] = []) {
        self.type = type
        self.payload = payload
        self.headers = headers
        self.options = options
        self.resultWriter = nil
    }

    /// A task whose payload is the UTF-8 bytes of `payload`.
    public init(type: String, payload: String, headers: [String: String] = [:], options: [TaskOption] = []) {
        self.init(type: type, payload: Data(payload.utf8), headers: headers, options: options)
    }

    public static func == (lhs: AsynqTask, rhs: AsynqTask) -> Bool {
        lhs.type == rhs.type && lhs.payload == rhs.payload && lhs.headers == rhs.headers && lhs.options == rhs.options
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(type)
        hasher.combine(payload)
        hasher.combine(headers)
    }
}
