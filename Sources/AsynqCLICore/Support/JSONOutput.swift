import Asynq
import Foundation

/// `--json` output: one line of JSON per command, keys sorted, no escaped slashes.
enum JSONOutput {
    static func encode(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func print(_ value: some Encodable, console: Console = .current) throws {
        console.print(try encode(value))
    }
}

/// A value that encodes as JSON `null` when absent (synthesized `Encodable` skips nil
/// optionals; our JSON keeps every key so scripts can rely on it).
struct Nullable<Wrapped: Encodable>: Encodable {
    var value: Wrapped?

    init(_ value: Wrapped?) {
        self.value = value
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        if let value { try container.encode(value) } else { try container.encodeNil() }
    }
}

/// A task in `--json` output. Payload and result are text when they are valid UTF-8, else
/// null with the bytes in `payloadBase64` / `resultBase64`. Times are RFC 3339 (UTC) or null;
/// durations are whole seconds.
struct TaskInfoJSON: Encodable {
    var id: String
    var queue: String
    var type: String
    var state: String
    var payload: Nullable<String>
    var payloadBase64: Nullable<String>
    var headers: [String: String]
    var maxRetry: Int
    var retried: Int
    var lastError: String
    var lastFailedAt: Nullable<String>
    var timeoutSeconds: Int64
    var deadline: Nullable<String>
    var group: Nullable<String>
    var nextProcessAt: Nullable<String>
    var isOrphaned: Bool
    var retentionSeconds: Int64
    var completedAt: Nullable<String>
    var result: Nullable<String>
    var resultBase64: Nullable<String>

    init(_ info: TaskInfo) {
        id = info.id
        queue = info.queue
        type = info.type
        state = info.state.description
        (payload, payloadBase64) = Self.bytes(info.payload)
        headers = info.headers
        maxRetry = info.maxRetry
        retried = info.retried
        lastError = info.lastError
        lastFailedAt = Nullable(info.lastFailedAt.map(CLIFormat.rfc3339Nano))
        timeoutSeconds = info.timeout.components.seconds
        deadline = Nullable(info.deadline.map(CLIFormat.rfc3339Nano))
        group = Nullable(info.group)
        nextProcessAt = Nullable(info.nextProcessAt.map(CLIFormat.rfc3339Nano))
        isOrphaned = info.isOrphaned
        retentionSeconds = info.retention.components.seconds
        completedAt = Nullable(info.completedAt.map(CLIFormat.rfc3339Nano))
        (result, resultBase64) = Self.bytes(info.result)
    }

    static func bytes(_ data: Data?) -> (Nullable<String>, Nullable<String>) {
        guard let data else { return (Nullable(nil), Nullable(nil)) }
        if let text = String(data: data, encoding: .utf8) { return (Nullable(text), Nullable(nil)) }
        return (Nullable(nil), Nullable(data.base64EncodedString()))
    }
}

/// Writes a JSON object with keys in the order added, escaping strings as Go does.
struct JSONObjectWriter {
    private var members: [String] = []

    mutating func add(_ key: String, raw: String) {
        members.append(GoFormat.jsonString(key) + ":" + raw)
    }

    mutating func add(_ key: String, _ value: Int) {
        add(key, raw: String(value))
    }

    mutating func add(_ key: String, string: String) {
        add(key, raw: GoFormat.jsonString(string))
    }

    var text: String { "{" + members.joined(separator: ",") + "}" }
}
