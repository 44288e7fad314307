/// Every error the Redis client throws. `code` says what kind of failure it is; `message`
/// says what happened in words a person can act on.
public struct RedisClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case serverError
            case protocolViolation
            case connectionClosed
            case connectionFailed
            case timeout
            case cancelled
            case authenticationFailed
            case invalidConfiguration
            case unexpectedReply
            case poolClosed
            case tlsFailure
            case scriptFailed
            case crossSlot
        }

        fileprivate let base: Base

        /// Redis answered with an error reply (`-ERR …`, `-NOSCRIPT …`, `-MOVED …`). The reply is the message.
        public static let serverError = Code(base: .serverError)
        /// The bytes from the server are not valid RESP, or exceed the decoder's limits. The connection is closed.
        public static let protocolViolation = Code(base: .protocolViolation)
        /// The connection closed before the reply arrived.
        public static let connectionClosed = Code(base: .connectionClosed)
        /// No connection could be established.
        public static let connectionFailed = Code(base: .connectionFailed)
        /// The connect or command timeout passed.
        public static let timeout = Code(base: .timeout)
        /// The caller's task was cancelled.
        public static let cancelled = Code(base: .cancelled)
        /// The server refused the credentials.
        public static let authenticationFailed = Code(base: .authenticationFailed)
        /// Options or a URI are malformed.
        public static let invalidConfiguration = Code(base: .invalidConfiguration)
        /// A reply has a type the command does not allow.
        public static let unexpectedReply = Code(base: .unexpectedReply)
        /// The client was shut down.
        public static let poolClosed = Code(base: .poolClosed)
        /// TLS could not be set up (certificate files, handshake).
        public static let tlsFailure = Code(base: .tlsFailure)
        /// A script could not be loaded or run.
        public static let scriptFailed = Code(base: .scriptFailed)
        /// Redis Cluster: the keys of one transaction are in different hash slots, so no single
        /// node can run it atomically. Nothing was sent.
        public static let crossSlot = Code(base: .crossSlot)

        public var description: String {
            switch base {
            case .serverError: "serverError"
            case .protocolViolation: "protocolViolation"
            case .connectionClosed: "connectionClosed"
            case .connectionFailed: "connectionFailed"
            case .timeout: "timeout"
            case .cancelled: "cancelled"
            case .authenticationFailed: "authenticationFailed"
            case .invalidConfiguration: "invalidConfiguration"
            case .unexpectedReply: "unexpectedReply"
            case .poolClosed: "poolClosed"
            case .tlsFailure: "tlsFailure"
            case .scriptFailed: "scriptFailed"
            case .crossSlot: "crossSlot"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "RedisClientError.\(code): \(message)" }

    /// For `.serverError`: the first word of the reply (`ERR`, `WRONGTYPE`, `NOSCRIPT`, `MOVED`, …).
    public var serverErrorPrefix: Substring? {
        guard code == .serverError else { return nil }
        return message.prefix { $0 != " " }
    }

    /// True when retrying on another connection may succeed (the server or the link failed,
    /// not the command).
    public var isConnectionError: Bool {
        code == .connectionClosed || code == .connectionFailed || code == .timeout
    }
}
