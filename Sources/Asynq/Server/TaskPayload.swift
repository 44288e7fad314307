public import Foundation

/// A typed task payload, carried as JSON (so Go handlers can read it with `json.Unmarshal`).
///
/// ```swift
/// struct EmailDelivery: TaskPayload {
///     static let taskType = "email:deliver"
///     var userID: Int
///     var template: String
/// }
///
/// router.handle(EmailDelivery.self) { email, context in … }
/// try await client.enqueue(EmailDelivery(userID: 42, template: "welcome"), .queue("critical"))
/// ```
///
/// The default encoding sorts object keys (so equal values give equal bytes, which the
/// `unique` option relies on) and writes dates as RFC 3339 strings with fractional seconds,
/// like Go's `time.Time`. Override ``encodePayload()`` / ``decodePayload(_:)`` for another format.
public protocol TaskPayload: Codable, Sendable {
    /// The task type name this payload is sent and routed under.
    static var taskType: String { get }

    /// The payload bytes.
    func encodePayload() throws -> Data

    /// Decodes a payload.
    static func decodePayload(_ data: Data) throws -> Self
}

extension TaskPayload {
    public func encodePayload() throws -> Data {
        try TaskPayloadCoding.makeEncoder().encode(self)
    }

    public static func decodePayload(_ data: Data) throws -> Self {
        try TaskPayloadCoding.makeDecoder().decode(Self.self, from: data)
    }

    /// An ``AsynqTask`` of type ``taskType`` carrying this payload.
    public func makeTask(headers: [String: String] = [:], options: [TaskOption] = []) throws -> AsynqTask {
        AsynqTask(type: Self.taskType, payload: try encodePayload(), headers: headers, options: options)
    }
}

/// The JSON coders used by ``TaskPayload``'s default implementation.
public enum TaskPayloadCoding {
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) { return date }
            if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "expected an RFC 3339 date, got \(text)"
            )
        }
        return decoder
    }
}

extension TaskRouter {
    /// Registers a handler for the typed payload `P` under `P.taskType`.
    ///
    /// A payload that cannot be decoded as `P` fails with ``AsynqError/Code/skipRetry``, so the
    /// task is **archived at once** (Go would retry it): decoding the same bytes again can never
    /// succeed, and retrying would only delay the moment someone looks at it. The archived task
    /// keeps the decoding error in its last error.
    public func handle<P: TaskPayload>(
        _ type: P.Type,
        _ body: @escaping @Sendable (P, TaskContext) async throws -> Void
    ) {
        handle(P.taskType) { task, context in
            let payload: P
            do {
                payload = try P.decodePayload(task.payload ?? Data())
            } catch {
                throw AsynqError(
                    .skipRetry,
                    "could not decode the payload of task \(GoFormat.quote(task.type)) as \(P.self) (\(error))"
                        + ": skip retry for the task"
                )
            }
            try await body(payload, context)
        }
    }
}
