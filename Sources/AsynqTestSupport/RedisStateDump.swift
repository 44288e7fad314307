public import AsynqRedis
public import Foundation

// Snapshots of a whole Redis database in the form of the Go compatibility fixtures
// (`Tests/Fixtures/compat/*.json`, described in their README), and a comparison that lists
// every difference between a recorded Go dump and a live dump in readable form.
//
// This target does not depend on the Asynq module, so protobuf values are rendered by a
// `ProtobufJSONRendering` supplied by the caller (the tests render with the generated types).

// MARK: - JSON values

/// A JSON value, as read from the fixtures or rendered from a protobuf. Integers are kept
/// exact (`started_at_unix_ns` does not fit a `Double`).
public enum DumpJSON: Sendable, Hashable, CustomStringConvertible {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([DumpJSON])
    case object([String: DumpJSON])

    /// Parses JSON text.
    public init(parsing data: Data) throws {
        self = try JSONDecoder().decode(DumpJSON.self, from: data)
    }

    public subscript(key: String) -> DumpJSON? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var arrayValue: [DumpJSON]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    public var objectValue: [String: DumpJSON]? {
        if case .object(let object) = self { return object }
        return nil
    }

    /// The value as an exact integer: a JSON integer, an integral double, or a decimal string
    /// (proto3 JSON writes int64 as strings).
    public var int64Value: Int64? {
        switch self {
        case .integer(let value): return value
        case .double(let value):
            guard value.isFinite, value == value.rounded(), abs(value) < 9e18 else { return nil }
            return Int64(value)
        case .string(let text): return Int64(text)
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case .integer(let value): return Double(value)
        case .double(let value): return value
        case .string(let text): return Double(text)
        default: return nil
        }
    }

    /// The value at an RFC 6901 JSON pointer (`""` is the value itself).
    public func value(at pointer: String) -> DumpJSON? {
        guard !pointer.isEmpty else { return self }
        guard pointer.hasPrefix("/") else { return nil }
        var current = self
        for token in pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let name = JSONPointer.unescape(String(token))
            switch current {
            case .object(let object):
                guard let next = object[name] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Int(name), elements.indices.contains(index) else { return nil }
                current = elements[index]
            default:
                return nil
            }
        }
        return current
    }

    public var description: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .integer(let value): return String(value)
        case .double(let value):
            if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
            return String(value)
        case .string(let text): return DumpText.quoted(text)
        case .array(let elements): return "[" + elements.map(\.description).joined(separator: ",") + "]"
        case .object(let object):
            let fields = object.keys.sorted().map { key in
                DumpText.quoted(key) + ":" + (object[key]?.description ?? "null")
            }
            return "{" + fields.joined(separator: ",") + "}"
        }
    }
}

extension DumpJSON: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([DumpJSON].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: DumpJSON].self))
        }
    }
}

/// RFC 6901 helpers.
public enum JSONPointer {
    /// Escapes one reference token (`~` → `~0`, `/` → `~1`).
    public static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    public static func unescape(_ token: String) -> String {
        token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
    }
}

// MARK: - Dump model

/// The complete state of one Redis database: every key with its type, TTL and value.
public struct RedisStateDump: Sendable {
    /// One string of a value: a string value, hash field value, list element, set or zset member.
    public enum Element: Sendable, Hashable, CustomStringConvertible {
        /// Valid UTF-8 that is not a protobuf.
        case text(String)
        /// Bytes that are not valid UTF-8 and not a protobuf.
        case bytes([UInt8])
        /// A protobuf stored where asynq stores protobuf.
        case protobuf(ProtobufValue)

        public var description: String {
            switch self {
            case .text(let text): return DumpText.quoted(text)
            case .bytes(let bytes): return "hex:" + DumpText.hex(bytes)
            case .protobuf(let value): return value.description
            }
        }
    }

    /// A protobuf value: its exact bytes and its canonical proto3 JSON rendering.
    public struct ProtobufValue: Sendable, Hashable, CustomStringConvertible {
        /// Full message name, e.g. `asynq.TaskMessage`.
        public var message: String
        public var bytes: [UInt8]
        /// Nil when the bytes could not be decoded as `message`.
        public var decoded: DumpJSON?

        public init(message: String, bytes: [UInt8], decoded: DumpJSON?) {
            self.message = message
            self.bytes = bytes
            self.decoded = decoded
        }

        public var description: String {
            "\(message) \(decoded?.description ?? "<undecodable>") (hex \(DumpText.hex(bytes)))"
        }
    }

    public struct ScoredMember: Sendable, Hashable {
        public var member: Element
        public var score: Double

        public init(member: Element, score: Double) {
            self.member = member
            self.score = score
        }
    }

    public enum Value: Sendable, Hashable {
        case string(Element)
        case hash([String: Element])
        /// Redis order (index 0 = head).
        case list([Element])
        /// Sorted by member bytes.
        case set([Element])
        /// Redis order: ascending score, equal scores by member bytes.
        case zset([ScoredMember])
        /// A type the fixtures never contain (stream, …).
        case unsupported(String)
    }

    public struct Entry: Sendable, Hashable {
        /// `string`, `hash`, `list`, `set`, `zset` (or what `TYPE` said).
        public var type: String
        /// `PTTL`, or -1 without TTL.
        public var ttlMilliseconds: Int64
        /// The PTTL rounded to whole seconds, or -1.
        public var ttlSeconds: Int64
        public var value: Value

        public init(type: String, ttlMilliseconds: Int64, ttlSeconds: Int64, value: Value) {
            self.type = type
            self.ttlMilliseconds = ttlMilliseconds
            self.ttlSeconds = ttlSeconds
            self.value = value
        }
    }

    public var entries: [String: Entry]
    /// When the dump was taken, Unix nanoseconds: Redis' own clock for a live dump, the
    /// recorded time for a fixture.
    public var takenAtUnixNanoseconds: Int64?

    public init(entries: [String: Entry], takenAtUnixNanoseconds: Int64?) {
        self.entries = entries
        self.takenAtUnixNanoseconds = takenAtUnixNanoseconds
    }

    /// The key names, sorted.
    public var keys: [String] { entries.keys.sorted() }
}

/// Renders protobuf bytes as canonical proto3 JSON the way the fixtures' `decoded` objects are
/// written: proto field names, every field even at its zero value, int64 as strings, bytes as
/// base64, maps as objects, Timestamps as RFC 3339 UTC.
public protocol ProtobufJSONRendering: Sendable {
    /// Throws when `bytes` is not a valid `message` (full name, e.g. `asynq.TaskMessage`).
    func render(message: String, bytes: [UInt8]) throws -> DumpJSON
}

/// Where asynq stores protobuf (compat README, "The Redis dump").
public enum AsynqProtobufLocations {
    public static let taskMessage = "asynq.TaskMessage"
    public static let serverInfo = "asynq.ServerInfo"
    public static let workerInfo = "asynq.WorkerInfo"
    public static let schedulerEntry = "asynq.SchedulerEntry"
    public static let schedulerEnqueueEvent = "asynq.SchedulerEnqueueEvent"

    /// The message stored in an element of `key` (of Redis type `type`); `hashField` is the field
    /// name for hash values. Nil where asynq stores no protobuf.
    public static func message(key: String, type: String, hashField: String? = nil) -> String? {
        switch type {
        case "hash" where hashField == "msg" && isTaskKey(key): return taskMessage
        case "string" where key.hasPrefix("asynq:servers:{"): return serverInfo
        case "hash" where key.hasPrefix("asynq:workers:{"): return workerInfo
        case "list" where key.hasPrefix("asynq:schedulers:{"): return schedulerEntry
        case "zset" where key.hasPrefix("asynq:scheduler_history:"): return schedulerEnqueueEvent
        default: return nil
        }
    }

    /// `asynq:{<queue>}:t:<id>`.
    static func isTaskKey(_ key: String) -> Bool {
        guard key.hasPrefix("asynq:{"), let range = key.range(of: "}:t:") else { return false }
        return range.upperBound < key.endIndex
    }
}

// MARK: - Capturing a live dump

/// Errors of the dump, fixture and comparison helpers.
public struct RedisStateDumpError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

extension RedisStateDump {
    /// Dumps every key of the database `redis` is connected to (`SCAN`, then `TYPE`, `PTTL` and
    /// the value of each key). Protobuf values are rendered with `renderer`. The database should
    /// be quiet while this runs; keys that vanish during the dump are left out.
    public static func capture(
        from redis: RedisClient, renderer: any ProtobufJSONRendering
    ) async throws -> RedisStateDump {
        let before = try await redis.time()
        let keys = Set(try await redis.scanKeys()).sorted()
        var entries: [String: Entry] = [:]
        for key in keys {
            let type = try await redis.type(key)
            let ttl = Int64(try await redis.pttl(key))
            guard type != "none", ttl != -2 else { continue }
            let value = try await readValue(redis: redis, key: key, type: type, renderer: renderer)
            entries[key] = Entry(
                type: type,
                ttlMilliseconds: ttl,
                ttlSeconds: ttl < 0 ? ttl : (ttl + 500) / 1000,
                value: value
            )
        }
        let after = try await redis.time()
        let start = Int64(before.seconds) * 1_000_000_000 + Int64(before.microseconds) * 1000
        let end = Int64(after.seconds) * 1_000_000_000 + Int64(after.microseconds) * 1000
        return RedisStateDump(entries: entries, takenAtUnixNanoseconds: start + (end - start) / 2)
    }

    private static func readValue(
        redis: RedisClient, key: String, type: String, renderer: any ProtobufJSONRendering
    ) async throws -> Value {
        func element(_ token: RESPToken, field: String? = nil) -> Element {
            let bytes = token.bytes ?? []
            let message = AsynqProtobufLocations.message(key: key, type: type, hashField: field)
            return Element(bytes: bytes, protobuf: message, renderer: renderer)
        }
        switch type {
        case "string":
            let reply = try await redis.send(RedisCommand("GET", key))
            return .string(element(reply))
        case "hash":
            let reply = try await redis.send(RedisCommand("HGETALL", key))
            var fields: [String: Element] = [:]
            for (name, value) in reply.pairs ?? [] {
                let field = String(decoding: name.bytes ?? [], as: UTF8.self)
                fields[field] = element(value, field: field)
            }
            return .hash(fields)
        case "list":
            let reply = try await redis.send(RedisCommand("LRANGE", key, 0, -1))
            return .list((reply.array ?? []).map { element($0) })
        case "set":
            let reply = try await redis.send(RedisCommand("SMEMBERS", key))
            let members = (reply.array ?? []).map { $0.bytes ?? [] }.sorted { $0.lexicographicallyPrecedes($1) }
            return .set(members.map { Element(bytes: $0, protobuf: nil, renderer: renderer) })
        case "zset":
            let reply = try await redis.send(RedisCommand("ZRANGE", key, 0, -1, "WITHSCORES"))
            let items = reply.array ?? []
            var pairs: [(RESPToken, RESPToken)] = []
            if items.allSatisfy({ $0.array != nil }) {
                // RESP3: one [member, score] array per member.
                for item in items {
                    guard let pair = item.array, pair.count == 2 else {
                        throw RedisStateDumpError("ZRANGE \(key) WITHSCORES returned \(reply)")
                    }
                    pairs.append((pair[0], pair[1]))
                }
            } else {
                guard items.count % 2 == 0 else {
                    throw RedisStateDumpError("ZRANGE \(key) WITHSCORES returned \(reply)")
                }
                for index in stride(from: 0, to: items.count, by: 2) { pairs.append((items[index], items[index + 1])) }
            }
            return .zset(
                try pairs.map { member, score in
                    guard let value = score.double else { throw RedisStateDumpError("score of \(key) is \(score)") }
                    return ScoredMember(member: element(member), score: value)
                })
        default:
            return .unsupported(type)
        }
    }
}

extension RedisStateDump.Element {
    /// Classifies bytes read from Redis as the fixtures do.
    init(bytes: [UInt8], protobuf message: String?, renderer: any ProtobufJSONRendering) {
        if let message {
            self = .protobuf(
                .init(message: message, bytes: bytes, decoded: try? renderer.render(message: message, bytes: bytes)))
        } else if let text = String(validating: bytes, as: UTF8.self) {
            self = .text(text)
        } else {
            self = .bytes(bytes)
        }
    }
}

// MARK: - Fixtures

/// One scenario file of `Tests/Fixtures/compat/` (format in its README).
public struct CompatFixture: Sendable, CustomStringConvertible {
    /// One entry of `volatile`.
    public struct Volatile: Sendable, Hashable {
        /// RFC 6901 pointer into the fixture file.
        public var pointer: String
        /// `unix_ns`, `unix_s`, `timestamp`, `ttl_ms`, `ttl_s`, `key_name`, `uuid`, `hostname`,
        /// `pid`, `bytes`, `bytes_len`, `map_order`.
        public var kind: String
        public var offsetFromStartSeconds: Double?
        public var nominalSeconds: Int64?
        public var pattern: String?
        public var note: String?
    }

    /// A recorded dump: the main one (`redis`) or one of `snapshots`.
    public struct Snapshot: Sendable {
        public var label: String
        /// Pointer of the dump object in the file: `/redis` or `/snapshots/<i>/redis`.
        public var pointer: String
        public var dump: RedisStateDump
    }

    public var name: String
    public var scenario: String
    public var steps: [String]
    public var startedAtUnixNanoseconds: Int64
    /// The `returned` entries (`step`, `call`, `task_info`, `result`, `error`, `error_is`).
    public var returned: [DumpJSON]
    /// The main dump (`redis`, `redis_label`, `redis_dump_taken_at_unix_ns`).
    public var main: Snapshot
    public var snapshots: [Snapshot]
    public var volatile: [Volatile]
    public var notes: [String]
    /// The whole file, for pointer look-ups.
    public var document: DumpJSON

    public var description: String { name }

    /// The `compat` fixture directory for a test file: `<Tests>/Fixtures/compat`, where `filePath`
    /// is `#filePath` of a file in `Tests/<target>/`.
    public static func directory(forTestFile filePath: String) -> URL {
        URL(fileURLWithPath: filePath)
            .deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
            .appendingPathComponent("compat")
    }

    /// Every scenario file (`NN-*.json`) of `directory`, by name.
    public static func loadAll(in directory: URL) throws -> [CompatFixture] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".json") && ($0.first?.isNumber ?? false) }
            .sorted()
        return try names.map { try load(contentsOf: directory.appendingPathComponent($0)) }
    }

    public static func load(contentsOf url: URL) throws -> CompatFixture {
        let document = try DumpJSON(parsing: try Data(contentsOf: url))
        return try CompatFixture(document: document, file: url.lastPathComponent)
    }

    init(document: DumpJSON, file: String) throws {
        func require<T>(_ value: T?, _ what: String) throws -> T {
            guard let value else { throw RedisStateDumpError("\(file): missing or malformed \(what)") }
            return value
        }
        self.document = document
        name = try require(document["name"]?.stringValue, "name")
        scenario = document["scenario"]?.stringValue ?? ""
        steps = (document["steps"]?.arrayValue ?? []).compactMap(\.stringValue)
        startedAtUnixNanoseconds = try require(document["started_at_unix_ns"]?.int64Value, "started_at_unix_ns")
        returned = document["returned"]?.arrayValue ?? []
        notes = (document["notes"]?.arrayValue ?? []).compactMap(\.stringValue)
        main = Snapshot(
            label: document["redis_label"]?.stringValue ?? "main",
            pointer: "/redis",
            dump: try Self.parseDump(
                try require(document["redis"], "redis"),
                takenAt: document["redis_dump_taken_at_unix_ns"]?.int64Value,
                file: file
            )
        )
        snapshots = try (document["snapshots"]?.arrayValue ?? []).enumerated().map { index, snapshot in
            Snapshot(
                label: snapshot["label"]?.stringValue ?? "snapshot \(index)",
                pointer: "/snapshots/\(index)/redis",
                dump: try Self.parseDump(
                    try require(snapshot["redis"], "snapshots[\(index)].redis"),
                    takenAt: snapshot["taken_at_unix_ns"]?.int64Value,
                    file: file
                )
            )
        }
        volatile = try (document["volatile"]?.arrayValue ?? []).map { entry in
            Volatile(
                pointer: try require(entry["path"]?.stringValue, "volatile path"),
                kind: try require(entry["kind"]?.stringValue, "volatile kind"),
                offsetFromStartSeconds: entry["offset_from_start_s"]?.doubleValue,
                nominalSeconds: entry["nominal_s"]?.int64Value,
                pattern: entry["pattern"]?.stringValue,
                note: entry["note"]?.stringValue
            )
        }
    }

    private static func parseDump(_ json: DumpJSON, takenAt: Int64?, file: String) throws -> RedisStateDump {
        guard let object = json.objectValue else { throw RedisStateDumpError("\(file): a dump is not an object") }
        var entries: [String: RedisStateDump.Entry] = [:]
        for (key, entry) in object {
            func fail(_ what: String) -> RedisStateDumpError { RedisStateDumpError("\(file): key \(key): \(what)") }
            guard let type = entry["type"]?.stringValue, let ttl = entry["ttl_ms"]?.int64Value,
                let value = entry["value"]
            else { throw fail("missing type, ttl_ms or value") }
            let ttlSeconds = entry["ttl_s"]?.int64Value ?? (ttl < 0 ? ttl : (ttl + 500) / 1000)
            let parsed: RedisStateDump.Value
            switch type {
            case "string":
                parsed = .string(try parseElement(value, fail))
            case "hash":
                guard let fields = value.objectValue else { throw fail("hash value is not an object") }
                parsed = .hash(try fields.mapValues { try parseElement($0, fail) })
            case "list", "set":
                guard let elements = value.arrayValue else { throw fail("\(type) value is not an array") }
                let parsedElements = try elements.map { try parseElement($0, fail) }
                parsed = type == "list" ? .list(parsedElements) : .set(parsedElements)
            case "zset":
                guard let pairs = value.arrayValue else { throw fail("zset value is not an array") }
                parsed = .zset(
                    try pairs.map { pair in
                        guard let items = pair.arrayValue, items.count == 2, let score = items[1].doubleValue else {
                            throw fail("zset pair \(pair) is not [member, score]")
                        }
                        return .init(member: try parseElement(items[0], fail), score: score)
                    })
            default:
                parsed = .unsupported(type)
            }
            entries[key] = .init(type: type, ttlMilliseconds: ttl, ttlSeconds: ttlSeconds, value: parsed)
        }
        return RedisStateDump(entries: entries, takenAtUnixNanoseconds: takenAt)
    }

    private static func parseElement(
        _ json: DumpJSON, _ fail: (String) -> RedisStateDumpError
    ) throws -> RedisStateDump.Element {
        switch json {
        case .string(let text):
            return .text(text)
        case .object(let object):
            guard let hex = object["hex"]?.stringValue, let bytes = DumpText.bytes(hex: hex) else {
                throw fail("element \(json) has no valid hex")
            }
            if let message = object["proto"]?.stringValue {
                return .protobuf(.init(message: message, bytes: bytes, decoded: object["decoded"]))
            }
            return .bytes(bytes)
        default:
            throw fail("element \(json) is neither a string nor an object")
        }
    }

    /// The value at an RFC 6901 pointer into the file.
    public func value(at pointer: String) -> DumpJSON? { document.value(at: pointer) }

    /// The volatile entries at `pointer`.
    public func volatileEntries(at pointer: String) -> [Volatile] { volatile.filter { $0.pointer == pointer } }

    /// The Go time recorded at `pointer`, in Unix nanoseconds, read according to the entry's
    /// volatile kind: `unix_ns` as is, `timestamp` parsed, and `unix_s` (truncated seconds) as
    /// the middle of that second, so that a replay at that instant truncates to the same second.
    public func goTime(at pointer: String) throws -> Int64 {
        guard let value = value(at: pointer) else { throw RedisStateDumpError("\(name): nothing at \(pointer)") }
        let kinds = Set(volatileEntries(at: pointer).map(\.kind))
        if kinds.contains("unix_ns"), let nanos = value.int64Value { return nanos }
        if kinds.contains("unix_s"), let seconds = value.int64Value { return seconds * 1_000_000_000 + 500_000_000 }
        if let text = value.stringValue, let nanos = RFC3339.unixNanoseconds(text) { return nanos }
        throw RedisStateDumpError("\(name): \(pointer) (\(value)) is not a recorded time")
    }

    /// The `returned` entries of one step (a batch call has one per item).
    public func returned(step: Int) -> [DumpJSON] {
        returned.filter { $0["step"]?.int64Value == Int64(step) }
    }
}

// MARK: - Time

/// Maps Go's recorded times onto a replay that runs now: every recorded time is moved forward
/// by the same whole number of seconds, so that truncation to seconds gives the same result in
/// both runs and the replay's clock stays within a second of the real clock (the daily counter
/// keys get `EXPIREAT now + 90 days`, which Redis compares with its real clock).
public struct CompatTimeline: Sendable {
    public let goStartUnixNanoseconds: Int64
    /// Replay time − Go time, whole seconds.
    public let shiftSeconds: Int64

    public init(goStartUnixNanoseconds: Int64, realNow: Date = Date()) {
        self.goStartUnixNanoseconds = goStartUnixNanoseconds
        let elapsed = realNow.timeIntervalSince1970 - Double(goStartUnixNanoseconds) / 1e9
        shiftSeconds = Int64(elapsed.rounded(.up))
    }

    /// A timeline with a given shift (e.g. 0 to compare recorded dumps with themselves).
    public init(goStartUnixNanoseconds: Int64, shiftSeconds: Int64) {
        self.goStartUnixNanoseconds = goStartUnixNanoseconds
        self.shiftSeconds = shiftSeconds
    }

    public init(fixture: CompatFixture, realNow: Date = Date()) {
        self.init(goStartUnixNanoseconds: fixture.startedAtUnixNanoseconds, realNow: realNow)
    }

    /// The replay instant that corresponds to a recorded Go instant.
    public func date(goUnixNanoseconds: Int64) -> Date {
        let nanos = goUnixNanoseconds + shiftSeconds * 1_000_000_000
        let seconds = nanos / 1_000_000_000
        let fraction = nanos % 1_000_000_000
        return Date(timeIntervalSince1970: Double(seconds) + Double(fraction) / 1e9)
    }

    /// The replay instant `offset` after Go's start.
    public func date(offsetFromStart offset: Duration) -> Date {
        let (seconds, attoseconds) = offset.components
        return date(goUnixNanoseconds: goStartUnixNanoseconds + seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

/// RFC 3339 UTC timestamps as protojson and the fixtures write them.
public enum RFC3339 {
    /// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` → Unix nanoseconds; nil when malformed or out of range.
    public static func unixNanoseconds(_ text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z"), bytes[4] == UInt8(ascii: "-"),
            bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"), bytes[13] == UInt8(ascii: ":"),
            bytes[16] == UInt8(ascii: ":")
        else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19)
        else { return nil }
        var nanos: Int64 = 0
        let fractionEnd = bytes.count - 1
        if fractionEnd > 19 {
            guard bytes[19] == UInt8(ascii: "."), fractionEnd - 20 <= 9, fractionEnd > 20,
                let fraction = number(20..<fractionEnd)
            else { return nil }
            nanos = fraction
            for _ in 0..<(9 - (fractionEnd - 20)) { nanos *= 10 }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return nil }
        return scaled + nanos
    }

    /// Days since 1970-01-01 (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

// MARK: - Comparison

/// One difference between a recorded Go dump and a live dump.
public struct DumpDifference: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case missingKey = "missing key"
        case extraKey = "extra key"
        case typeDiffers = "type differs"
        case ttlDiffers = "TTL out of tolerance"
        case missingField = "missing field"
        case extraField = "extra field"
        case lengthDiffers = "length differs"
        case valueDiffers = "value differs"
        case scoreDiffers = "score differs"
        case encodingDiffers = "encoding differs"
    }

    public var kind: Kind
    /// The key as Go named it (its pattern for a volatile key name); ours for an extra key.
    public var key: String
    /// Where inside the key, as a pointer relative to the key (`/value/msg/decoded/retry`).
    public var path: String
    public var expected: String
    public var actual: String

    public init(kind: Kind, key: String, path: String = "", expected: String, actual: String) {
        self.kind = kind
        self.key = key
        self.path = path
        self.expected = expected
        self.actual = actual
    }

    public var description: String {
        switch kind {
        case .missingKey: return "missing key \(key): Go has \(expected)"
        case .extraKey: return "extra key \(key): we have \(actual)"
        default: return "\(kind.rawValue) at \(key)\(path): Go \(expected), Swift \(actual)"
        }
    }
}

/// Compares recorded Go dumps with live dumps by the rules of the compat README: exact
/// everywhere except at the `volatile` paths, which are checked by kind (times against the
/// replay's shifted clock within a tolerance, TTLs against their nominal value, key names
/// against their pattern, uuids for shape and consistency, protobuf bytes by their decoded
/// fields). Keys with a volatile name are paired with live keys matching the pattern, in
/// sorted order. Keep one comparator per scenario: random IDs must map consistently across
/// the scenario's dumps.
public struct DumpComparator: Sendable {
    public struct Tolerances: Sendable {
        /// Times in whole Unix seconds (scores, `last_failed_at`, `paused`).
        public var unixSeconds: Int64
        /// `pending_since`.
        public var unixNanoseconds: Duration
        /// Protobuf Timestamps.
        public var timestamp: Duration
        /// Remaining TTLs, and expiry instants of `EXPIREAT` keys.
        public var ttl: Duration

        public init(unixSeconds: Int64, unixNanoseconds: Duration, timestamp: Duration, ttl: Duration) {
            self.unixSeconds = unixSeconds
            self.unixNanoseconds = unixNanoseconds
            self.timestamp = timestamp
            self.ttl = ttl
        }

        /// For replays whose clock is set to the recorded instants: times must match exactly
        /// (whole seconds) or within a millisecond.
        public static let scriptedClock = Tolerances(
            unixSeconds: 0, unixNanoseconds: .milliseconds(1), timestamp: .milliseconds(1), ttl: .seconds(2))
        /// For replays on a free-running clock (a real server): within a few seconds.
        public static let freeRunningClock = Tolerances(
            unixSeconds: 2, unixNanoseconds: .seconds(2), timestamp: .seconds(2), ttl: .seconds(3))
    }

    public let fixture: CompatFixture
    public let timeline: CompatTimeline
    public var tolerances: Tolerances
    /// Our hostname and pid, when volatile `hostname` / `pid` values should equal them.
    public var hostname: String?
    public var pid: Int?
    /// Go's random IDs → ours (from key names, members and fields of kind `uuid`).
    public private(set) var uuidMapping: [String: String] = [:]
    /// Go's key names → ours, for keys with a volatile name.
    public private(set) var keyMapping: [String: String] = [:]

    private let volatileByPointer: [String: [CompatFixture.Volatile]]

    /// When the replay began: TTLs shrink in real time, so a slow (loaded) replay is allowed
    /// the real time it took on top of the TTL tolerance.
    public let startedAt = ContinuousClock.now

    public init(fixture: CompatFixture, timeline: CompatTimeline, tolerances: Tolerances = .scriptedClock) {
        self.fixture = fixture
        self.timeline = timeline
        self.tolerances = tolerances
        volatileByPointer = Dictionary(grouping: fixture.volatile, by: \.pointer)
    }

    /// Every difference between the recorded `snapshot` and the live `actual` dump.
    public mutating func compare(_ snapshot: CompatFixture.Snapshot, with actual: RedisStateDump) -> [DumpDifference] {
        var walk = Walk(comparator: self, snapshot: snapshot, actual: actual)
        walk.run()
        uuidMapping = walk.uuidMapping
        keyMapping = walk.keyMapping
        return walk.differences
    }

    /// The volatile key-name pattern of a Go key in `snapshot`, if any.
    public func keyPattern(of goKey: String, in snapshot: CompatFixture.Snapshot) -> String? {
        volatileByPointer[snapshot.pointer + "/" + JSONPointer.escape(goKey)]?.first { $0.kind == "key_name" }?.pattern
    }

    fileprivate func kinds(at pointer: String) -> Set<String> {
        Set(volatileByPointer[pointer]?.map(\.kind) ?? [])
    }

    fileprivate func volatile(at pointer: String, kind: String) -> CompatFixture.Volatile? {
        volatileByPointer[pointer]?.first { $0.kind == kind }
    }
}

extension DumpComparator {
    /// The state of one comparison.
    private struct Walk {
        let comparator: DumpComparator
        let snapshot: CompatFixture.Snapshot
        let actual: RedisStateDump
        var uuidMapping: [String: String]
        var keyMapping: [String: String]
        var differences: [DumpDifference] = []
        /// The key being compared: Go's name or pattern, for messages.
        var currentKey = ""
        var currentBase = ""

        init(comparator: DumpComparator, snapshot: CompatFixture.Snapshot, actual: RedisStateDump) {
            self.comparator = comparator
            self.snapshot = snapshot
            self.actual = actual
            uuidMapping = comparator.uuidMapping
            keyMapping = comparator.keyMapping
        }

        var tolerances: Tolerances { comparator.tolerances }
        var shift: Int64 { comparator.timeline.shiftSeconds }

        mutating func run() {
            let expected = snapshot.dump
            var unmatchedActual = Set(actual.entries.keys)
            var pairs: [(go: String, ours: String, label: String)] = []
            var patterned: [String: [String]] = [:]
            for goKey in expected.keys {
                if let pattern = comparator.keyPattern(of: goKey, in: snapshot) {
                    patterned[pattern, default: []].append(goKey)
                } else if unmatchedActual.remove(goKey) != nil {
                    pairs.append((goKey, goKey, goKey))
                } else {
                    report(missing: goKey, label: goKey)
                }
            }
            for pattern in patterned.keys.sorted() {
                let goKeys = patterned[pattern, default: []].sorted()
                let candidates = unmatchedActual.filter { KeyPattern.matches($0, pattern: pattern) }.sorted()
                for goKey in goKeys {
                    // Keep the pairing of an earlier dump of the same scenario when it still applies.
                    let available = candidates.filter { unmatchedActual.contains($0) }
                    let ours = keyMapping[goKey].flatMap { available.contains($0) ? $0 : nil } ?? available.first
                    guard let ours else {
                        report(missing: goKey, label: pattern)
                        continue
                    }
                    unmatchedActual.remove(ours)
                    keyMapping[goKey] = ours
                    let goIDs = UUIDText.all(in: goKey)
                    let ourIDs = UUIDText.all(in: ours)
                    if goIDs.count == ourIDs.count {
                        for (goID, ourID) in zip(goIDs, ourIDs) { _ = mapUUID(goID, ourID) }
                    }
                    pairs.append((goKey, ours, pattern))
                }
            }
            for (goKey, ours, label) in pairs {
                guard let expectedEntry = expected.entries[goKey], let actualEntry = actual.entries[ours] else {
                    continue
                }
                currentKey = label == goKey ? goKey : "\(label) (\(ours))"
                currentBase = snapshot.pointer + "/" + JSONPointer.escape(goKey)
                compareEntry(expectedEntry, actualEntry)
            }
            for extra in unmatchedActual.sorted() {
                guard let entry = actual.entries[extra] else { continue }
                differences.append(.init(kind: .extraKey, key: extra, expected: "nothing", actual: Self.summary(entry)))
            }
        }

        mutating func report(missing goKey: String, label: String) {
            guard let entry = snapshot.dump.entries[goKey] else { return }
            differences.append(.init(kind: .missingKey, key: label, expected: Self.summary(entry), actual: "nothing"))
        }

        static func summary(_ entry: RedisStateDump.Entry) -> String {
            let ttl = entry.ttlMilliseconds < 0 ? "no TTL" : "TTL \(entry.ttlMilliseconds) ms"
            let content: String
            switch entry.value {
            case .string(let element): content = element.description
            case .hash(let fields):
                content =
                    "{" + fields.keys.sorted().map { "\($0): \(fields[$0]?.description ?? "")" }.joined(separator: ", ")
                    + "}"
            case .list(let elements), .set(let elements):
                content = "[" + elements.map(\.description).joined(separator: ", ") + "]"
            case .zset(let members):
                content =
                    "[" + members.map { "\($0.member) @ \(DumpText.score($0.score))" }.joined(separator: ", ") + "]"
            case .unsupported(let type): content = "<\(type)>"
            }
            return "\(entry.type), \(ttl): \(content)"
        }

        mutating func differ(_ kind: DumpDifference.Kind, _ pointer: String, expected: String, actual: String) {
            let relative = pointer.hasPrefix(currentBase) ? String(pointer.dropFirst(currentBase.count)) : pointer
            differences.append(.init(kind: kind, key: currentKey, path: relative, expected: expected, actual: actual))
        }

        // MARK: Entries

        mutating func compareEntry(_ expected: RedisStateDump.Entry, _ actual: RedisStateDump.Entry) {
            guard expected.type == actual.type else {
                differ(.typeDiffers, currentBase, expected: expected.type, actual: actual.type)
                return
            }
            compareTTL(expected, actual)
            let base = currentBase + "/value"
            switch (expected.value, actual.value) {
            case (.string(let e), .string(let a)):
                compareElement(base, e, a)
            case (.hash(let e), .hash(let a)):
                for field in Set(e.keys).union(a.keys).sorted() {
                    let pointer = base + "/" + JSONPointer.escape(field)
                    switch (e[field], a[field]) {
                    case (let expectedValue?, let actualValue?): compareElement(pointer, expectedValue, actualValue)
                    case (let expectedValue?, nil):
                        differ(.missingField, pointer, expected: expectedValue.description, actual: "no such field")
                    case (nil, let actualValue?):
                        differ(.extraField, pointer, expected: "no such field", actual: actualValue.description)
                    case (nil, nil): break
                    }
                }
            case (.list(let e), .list(let a)), (.set(let e), .set(let a)):
                if e.count != a.count {
                    differ(
                        .lengthDiffers, base, expected: "\(e.count) elements \(e.map(\.description))",
                        actual: "\(a.count) elements \(a.map(\.description))")
                }
                for (index, (expectedValue, actualValue)) in zip(e, a).enumerated() {
                    compareElement(base + "/\(index)", expectedValue, actualValue)
                }
            case (.zset(let e), .zset(let a)):
                if e.count != a.count {
                    differ(
                        .lengthDiffers, base,
                        expected: "\(e.count) members \(e.map { "\($0.member) @ \(DumpText.score($0.score))" })",
                        actual: "\(a.count) members \(a.map { "\($0.member) @ \(DumpText.score($0.score))" })")
                }
                for (index, (expectedValue, actualValue)) in zip(e, a).enumerated() {
                    compareElement(base + "/\(index)/0", expectedValue.member, actualValue.member)
                    compareScalar(
                        base + "/\(index)/1", .double(expectedValue.score), .double(actualValue.score),
                        kind: .scoreDiffers)
                }
            default:
                differ(.valueDiffers, base, expected: "\(expected.value)", actual: "\(actual.value)")
            }
        }

        mutating func compareTTL(_ expected: RedisStateDump.Entry, _ actual: RedisStateDump.Entry) {
            let pointer = currentBase + "/ttl_ms"
            guard let volatile = comparator.volatile(at: pointer, kind: "ttl_ms") else {
                if expected.ttlMilliseconds != actual.ttlMilliseconds {
                    differ(
                        .ttlDiffers, pointer, expected: DumpText.ttl(expected.ttlMilliseconds),
                        actual: DumpText.ttl(actual.ttlMilliseconds))
                }
                return
            }
            let tolerance = DumpText.milliseconds(tolerances.ttl)
            guard actual.ttlMilliseconds >= 0 else {
                differ(.ttlDiffers, pointer, expected: DumpText.ttl(expected.ttlMilliseconds), actual: "no TTL")
                return
            }
            let isDaily = (comparator.keyPattern(of: goKeyOfCurrentBase, in: snapshot) ?? "").contains("<YYYY-MM-DD>")
            if isDaily, let goTakenAt = snapshot.dump.takenAtUnixNanoseconds,
                let ourTakenAt = self.actual.takenAtUnixNanoseconds
            {
                // EXPIREAT: compare the expiry instants, moved by the replay's time shift.
                let goExpiry = goTakenAt / 1_000_000 + expected.ttlMilliseconds + shift * 1000
                let ourExpiry = ourTakenAt / 1_000_000 + actual.ttlMilliseconds
                if abs(ourExpiry - goExpiry) > tolerance {
                    differ(
                        .ttlDiffers, pointer,
                        expected:
                            "expiry at \(DumpText.unixMilliseconds(goExpiry)) (TTL \(expected.ttlMilliseconds) ms)",
                        actual: "expiry at \(DumpText.unixMilliseconds(ourExpiry)) (TTL \(actual.ttlMilliseconds) ms), "
                            + "\(ourExpiry - goExpiry) ms off")
                }
                return
            }
            let nominal = (volatile.nominalSeconds ?? (expected.ttlSeconds)) * 1000
            let elapsed = ContinuousClock.now - comparator.startedAt
            let allowance = tolerance + DumpText.milliseconds(elapsed)
            if actual.ttlMilliseconds > nominal || actual.ttlMilliseconds < nominal - allowance {
                differ(
                    .ttlDiffers, pointer, expected: "TTL ≈ \(nominal) ms (recorded \(expected.ttlMilliseconds) ms)",
                    actual: "\(actual.ttlMilliseconds) ms")
            }
        }

        var goKeyOfCurrentBase: String {
            JSONPointer.unescape(String(currentBase.dropFirst(snapshot.pointer.count + 1)))
        }

        // MARK: Elements

        mutating func compareElement(
            _ pointer: String, _ expected: RedisStateDump.Element, _ actual: RedisStateDump.Element
        ) {
            switch (expected, actual) {
            case (.protobuf(let e), .protobuf(let a)):
                compareProtobuf(pointer, e, a)
            case (.text(let e), .text(let a)):
                compareScalar(pointer, .string(e), .string(a), kind: .valueDiffers)
            case (.bytes(let e), .bytes(let a)):
                if e != a { differ(.valueDiffers, pointer, expected: DumpText.hex(e), actual: DumpText.hex(a)) }
            default:
                differ(.valueDiffers, pointer, expected: expected.description, actual: actual.description)
            }
        }

        mutating func compareProtobuf(
            _ pointer: String, _ expected: RedisStateDump.ProtobufValue, _ actual: RedisStateDump.ProtobufValue
        ) {
            guard expected.message == actual.message else {
                differ(.valueDiffers, pointer, expected: expected.message, actual: actual.message)
                return
            }
            let hexKinds = comparator.kinds(at: pointer + "/hex")
            let bytesAreVolatile = hexKinds.contains("bytes") || hexKinds.contains("map_order")
            if !bytesAreVolatile {
                if expected.bytes == actual.bytes { return }  // identical bytes: identical fields
                differ(
                    .encodingDiffers, pointer + "/hex", expected: DumpText.hex(expected.bytes),
                    actual: DumpText.hex(actual.bytes))
            } else if !comparator.kinds(at: pointer + "/len").contains("bytes_len"), !hexKinds.contains("bytes"),
                expected.bytes.count != actual.bytes.count
            {
                // Map order changes the order of the bytes, never their number.
                differ(
                    .lengthDiffers, pointer + "/len", expected: "\(expected.bytes.count) bytes",
                    actual: "\(actual.bytes.count) bytes")
            }
            guard let expectedFields = expected.decoded else { return }
            guard let actualFields = actual.decoded else {
                differ(
                    .valueDiffers, pointer + "/decoded", expected: expectedFields.description,
                    actual: "bytes that do not decode as \(actual.message)")
                return
            }
            compareJSON(pointer + "/decoded", expectedFields, actualFields)
        }

        mutating func compareJSON(_ pointer: String, _ expected: DumpJSON, _ actual: DumpJSON) {
            switch (expected, actual) {
            case (.object(let e), .object(let a)):
                guard comparator.kinds(at: pointer).isEmpty else {
                    compareScalar(pointer, expected, actual, kind: .valueDiffers)
                    return
                }
                for name in Set(e.keys).union(a.keys).sorted() {
                    let child = pointer + "/" + JSONPointer.escape(name)
                    switch (e[name], a[name]) {
                    case (let x?, let y?): compareJSON(child, x, y)
                    case (let x?, nil): differ(.missingField, child, expected: x.description, actual: "no such field")
                    case (nil, let y?): differ(.extraField, child, expected: "no such field", actual: y.description)
                    case (nil, nil): break
                    }
                }
            case (.array(let e), .array(let a)):
                if e.count != a.count {
                    differ(.lengthDiffers, pointer, expected: expected.description, actual: actual.description)
                }
                for (index, (x, y)) in zip(e, a).enumerated() { compareJSON(pointer + "/\(index)", x, y) }
            default:
                compareScalar(pointer, expected, actual, kind: .valueDiffers)
            }
        }

        // MARK: Scalars and volatile kinds

        mutating func compareScalar(
            _ pointer: String, _ expected: DumpJSON, _ actual: DumpJSON, kind: DumpDifference.Kind
        ) {
            let kinds = comparator.kinds(at: pointer)
            if kinds.contains("unix_ns") {
                compareTime(
                    pointer, expected, actual, unit: 1, tolerance: DumpText.nanoseconds(tolerances.unixNanoseconds),
                    kind: kind)
            } else if kinds.contains("unix_s") {
                compareTime(
                    pointer, expected, actual, unit: 1_000_000_000, tolerance: tolerances.unixSeconds * 1_000_000_000,
                    kind: kind)
            } else if kinds.contains("timestamp") {
                compareTimestamp(pointer, expected, actual)
            } else if kinds.contains("key_name") {
                compareKeyName(pointer, expected, actual)
            } else if kinds.contains("uuid") {
                compareUUID(pointer, expected, actual)
            } else if kinds.contains("hostname") {
                if let hostname = comparator.hostname, actual != .string(hostname) {
                    differ(
                        kind, pointer, expected: "our hostname \(DumpText.quoted(hostname))", actual: actual.description
                    )
                } else if actual.stringValue?.isEmpty ?? true {
                    differ(kind, pointer, expected: "a hostname", actual: actual.description)
                }
            } else if kinds.contains("pid") {
                if let pid = comparator.pid, actual.int64Value != Int64(pid) {
                    differ(kind, pointer, expected: "our pid \(pid)", actual: actual.description)
                } else if (actual.int64Value ?? 0) <= 0 {
                    differ(kind, pointer, expected: "a pid", actual: actual.description)
                }
            } else if !Self.equal(expected, actual) {
                differ(kind, pointer, expected: expected.description, actual: actual.description)
            }
        }

        static func equal(_ x: DumpJSON, _ y: DumpJSON) -> Bool {
            switch (x, y) {
            case (.integer, .double), (.double, .integer), (.double, .double):
                return x.doubleValue == y.doubleValue
            default:
                return x == y
            }
        }

        /// A time in `unit` nanoseconds (1 for `unix_ns`, 10⁹ for `unix_s`); the replay's value
        /// must equal Go's plus the time shift, within `tolerance` nanoseconds.
        mutating func compareTime(
            _ pointer: String, _ expected: DumpJSON, _ actual: DumpJSON, unit: Int64, tolerance: Int64,
            kind: DumpDifference.Kind
        ) {
            guard let goValue = expected.int64Value else {
                differ(.valueDiffers, pointer, expected: expected.description, actual: actual.description)
                return
            }
            guard let ourValue = actual.int64Value else {
                differ(.valueDiffers, pointer, expected: "a time like \(expected)", actual: actual.description)
                return
            }
            let shifted = goValue + shift * (1_000_000_000 / unit)
            let offBy = (ourValue - shifted) * unit
            if abs(offBy) > tolerance {
                let unitName = unit == 1 ? "ns" : "s"
                differ(
                    kind, pointer,
                    expected: "\(goValue) \(unitName) (\(shifted) in the replay's time)",
                    actual: "\(ourValue) \(unitName), \(DumpText.seconds(offBy)) off")
            }
        }

        mutating func compareTimestamp(_ pointer: String, _ expected: DumpJSON, _ actual: DumpJSON) {
            guard let goText = expected.stringValue, let goValue = RFC3339.unixNanoseconds(goText) else {
                differ(.valueDiffers, pointer, expected: expected.description, actual: actual.description)
                return
            }
            guard let ourText = actual.stringValue, let ourValue = RFC3339.unixNanoseconds(ourText) else {
                differ(.valueDiffers, pointer, expected: "a timestamp like \(goText)", actual: actual.description)
                return
            }
            let offBy = ourValue - (goValue + shift * 1_000_000_000)
            if abs(offBy) > DumpText.nanoseconds(tolerances.timestamp) {
                differ(
                    .valueDiffers, pointer, expected: "\(goText) (+\(shift) s in the replay's time)",
                    actual: "\(ourText), \(DumpText.seconds(offBy)) off")
            }
        }

        mutating func compareKeyName(_ pointer: String, _ expected: DumpJSON, _ actual: DumpJSON) {
            guard let goName = expected.stringValue, let ourName = actual.stringValue else {
                differ(.valueDiffers, pointer, expected: expected.description, actual: actual.description)
                return
            }
            if let mapped = keyMapping[goName] {
                if mapped != ourName {
                    differ(
                        .valueDiffers, pointer, expected: "\(DumpText.quoted(mapped)) (Go: \(goName))", actual: ourName)
                }
            } else if ourName.isEmpty || goName.split(separator: ":").count != ourName.split(separator: ":").count {
                differ(.valueDiffers, pointer, expected: "a key name shaped like \(goName)", actual: ourName)
            }
        }

        mutating func compareUUID(_ pointer: String, _ expected: DumpJSON, _ actual: DumpJSON) {
            guard let goID = expected.stringValue, let ourID = actual.stringValue, UUIDText.isUUID(ourID) else {
                differ(.valueDiffers, pointer, expected: "a uuid (Go: \(expected))", actual: actual.description)
                return
            }
            if let previous = mapUUID(goID, ourID) {
                differ(
                    .valueDiffers, pointer, expected: "\(previous) (the ID that stands for Go's \(goID) elsewhere)",
                    actual: ourID)
            }
        }

        /// Records Go ID → our ID; returns the earlier mapping when it conflicts.
        mutating func mapUUID(_ goID: String, _ ourID: String) -> String? {
            if let previous = uuidMapping[goID] { return previous == ourID ? nil : previous }
            uuidMapping[goID] = ourID
            return nil
        }
    }
}

/// Key-name patterns of the fixtures (`asynq:servers:{<hostname>:<pid>:<server uuid>}`).
public enum KeyPattern {
    /// Whether `key` has the shape `pattern` describes. Placeholders: `<YYYY-MM-DD>` a date,
    /// `<… uuid>` a uuid, `<pid>` digits, any other `<…>` one or more characters other than
    /// `:`, `{`, `}`.
    public static func matches(_ key: String, pattern: String) -> Bool {
        match(Substring(key), Substring(pattern))
    }

    private static func match(_ key: Substring, _ pattern: Substring) -> Bool {
        guard let open = pattern.firstIndex(of: "<"), let close = pattern[open...].firstIndex(of: ">") else {
            return key == pattern
        }
        let literal = pattern[..<open]
        guard key.hasPrefix(literal) else { return false }
        let placeholder = pattern[pattern.index(after: open)..<close]
        let rest = pattern[pattern.index(after: close)...]
        let tail = key.dropFirst(literal.count)
        // Try every length for the placeholder (key names are short).
        var end = tail.startIndex
        while end < tail.endIndex {
            end = tail.index(after: end)
            if accepts(tail[..<end], placeholder: placeholder), match(tail[end...], rest) { return true }
        }
        return false
    }

    private static func accepts(_ text: Substring, placeholder: Substring) -> Bool {
        if placeholder == "YYYY-MM-DD" {
            let parts = text.split(separator: "-", omittingEmptySubsequences: false)
            return parts.map(\.count) == [4, 2, 2]
                && parts.allSatisfy { $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }
        }
        if placeholder.hasSuffix("uuid") { return UUIDText.isUUID(String(text)) }
        if placeholder == "pid" { return !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber } }
        return !text.isEmpty && !text.contains(where: { ":{}".contains($0) })
    }
}

/// Lowercase hyphenated uuids in text.
enum UUIDText {
    static func isUUID(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.count == 36 else { return false }
        for (index, byte) in bytes.enumerated() {
            if [8, 13, 18, 23].contains(index) {
                guard byte == UInt8(ascii: "-") else { return false }
            } else if !isHexDigit(byte) {
                return false
            }
        }
        return true
    }

    static func all(in text: String) -> [String] {
        let bytes = Array(text.utf8)
        var found: [String] = []
        var index = 0
        while index + 36 <= bytes.count {
            let candidate = String(decoding: bytes[index..<index + 36], as: UTF8.self)
            if isUUID(candidate) {
                found.append(candidate)
                index += 36
            } else {
                index += 1
            }
        }
        return found
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}

/// Formatting for difference messages.
enum DumpText {
    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 {
                    result +=
                        "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                        + String(scalar.value, radix: 16)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }

    static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    static func score(_ score: Double) -> String { DumpJSON.double(score).description }

    static func ttl(_ milliseconds: Int64) -> String { milliseconds < 0 ? "no TTL" : "\(milliseconds) ms" }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    static func milliseconds(_ duration: Duration) -> Int64 { nanoseconds(duration) / 1_000_000 }

    static func seconds(_ nanoseconds: Int64) -> String {
        String(format: "%+.6f s", Double(nanoseconds) / 1e9)
    }

    static func unixMilliseconds(_ milliseconds: Int64) -> String {
        String(format: "%.3f", Double(milliseconds) / 1000)
    }
}
