public import NIOCore

/// One complete RESP2/RESP3 value, as a view over the bytes received from the server.
///
/// A token is produced by ``RESPTokenDecoder`` only after the decoder has validated the whole
/// value, so walking into it (``value``, ``RESPToken/Aggregate``) never fails and never copies
/// payload bytes: strings are `ByteBuffer` slices that share the receive buffer's storage.
public struct RESPToken: Hashable, Sendable, CustomStringConvertible {
    /// Exactly the bytes of this value (attributes in front of it included).
    public let base: ByteBuffer

    /// `base` must hold one value validated by `RESPTokenDecoder`.
    package init(validated base: ByteBuffer) {
        self.base = base
    }

    /// The type and content of the value. Attributes (`|`) in front of the value are skipped;
    /// read them with ``attributes``.
    public var value: Value {
        var buffer = base
        return RESPToken.parseValue(&buffer) ?? .null
    }

    /// The attribute map sent in front of the value (RESP3 `|`), if any.
    public var attributes: Aggregate? {
        guard base.getInteger(at: base.readerIndex, as: UInt8.self) == UInt8(ascii: "|") else { return nil }
        var buffer = base
        guard let (type, count) = RESPToken.readHeader(&buffer), type == UInt8(ascii: "|") else { return nil }
        return Aggregate(elements: buffer, count: count * 2)
    }

    public var description: String { value.description }

    // MARK: - Value

    public enum Value: Hashable, Sendable, CustomStringConvertible {
        case simpleString(ByteBuffer)
        case simpleError(ByteBuffer)
        case bulkString(ByteBuffer)
        case bulkError(ByteBuffer)
        /// RESP3 verbatim string: the three-letter format (`txt`, `mkd`) and the text.
        case verbatimString(format: String, text: ByteBuffer)
        case integer(Int64)
        case double(Double)
        case boolean(Bool)
        /// RESP3 null, and RESP2's null bulk string (`$-1`) and null array (`*-1`).
        case null
        /// RESP3 big number, as its decimal digits (with an optional leading `-`).
        case bigNumber(ByteBuffer)
        case array(Aggregate)
        case set(Aggregate)
        /// Keys and values alternate; `Aggregate.pairs` walks them in pairs.
        case map(Aggregate)
        case push(Aggregate)

        public var description: String {
            switch self {
            case .simpleString(let b): "+" + String(buffer: b)
            case .simpleError(let b): "-" + String(buffer: b)
            case .bulkString(let b): "\"" + String(buffer: b) + "\""
            case .bulkError(let b): "!" + String(buffer: b)
            case .verbatimString(let f, let t): "=\(f):" + String(buffer: t)
            case .integer(let i): "(integer) \(i)"
            case .double(let d): "(double) \(d)"
            case .boolean(let b): "(boolean) \(b)"
            case .null: "(nil)"
            case .bigNumber(let b): "(big number) " + String(buffer: b)
            case .array(let a): "[" + a.map(\.description).joined(separator: ", ") + "]"
            case .set(let a): "~[" + a.map(\.description).joined(separator: ", ") + "]"
            case .map(let a): "{" + a.pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
            case .push(let a): ">[" + a.map(\.description).joined(separator: ", ") + "]"
            }
        }
    }

    // MARK: - Aggregates

    /// The elements of an array, set, map (keys and values alternating) or push, read lazily.
    public struct Aggregate: Sequence, Hashable, Sendable {
        /// The bytes of the elements, one after the other.
        let elements: ByteBuffer
        /// Number of elements (for a map: twice the number of pairs).
        public let count: Int

        init(elements: ByteBuffer, count: Int) {
            self.elements = elements
            self.count = count
        }

        public var isEmpty: Bool { count == 0 }

        public func makeIterator() -> Iterator {
            Iterator(buffer: elements, remaining: count)
        }

        public struct Iterator: IteratorProtocol {
            var buffer: ByteBuffer
            var remaining: Int

            public mutating func next() -> RESPToken? {
                guard remaining > 0 else { return nil }
                remaining -= 1
                var probe = buffer
                guard RESPToken.skipValue(&probe),
                    let slice = buffer.readSlice(length: probe.readerIndex - buffer.readerIndex)
                else {
                    remaining = 0
                    return nil
                }
                return RESPToken(validated: slice)
            }
        }

        /// Key/value pairs of a map (or of an array holding alternating keys and values, as RESP2 sends maps).
        public var pairs: some Sequence<(key: RESPToken, value: RESPToken)> {
            PairSequence(base: self)
        }

        /// All elements in an array.
        public var elementsArray: [RESPToken] { Array(self) }
    }

    struct PairSequence: Sequence {
        let base: Aggregate
        func makeIterator() -> PairIterator { PairIterator(inner: base.makeIterator()) }
    }

    struct PairIterator: IteratorProtocol {
        var inner: Aggregate.Iterator
        mutating func next() -> (key: RESPToken, value: RESPToken)? {
            guard let key = inner.next(), let value = inner.next() else { return nil }
            return (key, value)
        }
    }
}

// MARK: - Walking validated bytes

extension RESPToken {
    /// Reads a type byte and its line; returns the type and, for aggregates and bulk types,
    /// the announced length. Only for validated bytes.
    static func readHeader(_ buffer: inout ByteBuffer) -> (type: UInt8, length: Int)? {
        guard let type = buffer.readInteger(as: UInt8.self),
            let line = readLine(&buffer)
        else { return nil }
        return (type, RESPToken.parseInteger(line).map(Int.init) ?? -1)
    }

    /// Reads up to CRLF and returns the bytes before it.
    static func readLine(_ buffer: inout ByteBuffer) -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let cr = view.firstIndex(of: UInt8(ascii: "\r")) else { return nil }
        let length = cr - view.startIndex
        guard let line = buffer.readSlice(length: length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// Parses a decimal integer (optional leading `-` or `+`); nil on any other byte or overflow.
    static func parseInteger(_ line: ByteBuffer) -> Int64? {
        line.withUnsafeReadableBytes { bytes -> Int64? in
            var index = 0
            var negative = false
            if let first = bytes.first, first == UInt8(ascii: "-") || first == UInt8(ascii: "+") {
                negative = first == UInt8(ascii: "-")
                index = 1
            }
            guard index < bytes.count else { return nil }
            var value: Int64 = 0
            while index < bytes.count {
                let digit = bytes[index] &- UInt8(ascii: "0")
                guard digit < 10 else { return nil }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) =
                    negative
                    ? m.subtractingReportingOverflow(Int64(digit)) : m.addingReportingOverflow(Int64(digit))
                guard !o1, !o2 else { return nil }
                value = s
                index += 1
            }
            return value
        }
    }

    static func parseDouble(_ line: ByteBuffer) -> Double? {
        let text = String(buffer: line)
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default: return Double(text)
        }
    }

    /// Parses the value at the reader index (skipping attributes) and moves past it.
    static func parseValue(_ buffer: inout ByteBuffer) -> Value? {
        guard let type = buffer.readInteger(as: UInt8.self), let line = readLine(&buffer) else { return nil }
        if let lineValue = parseLineValue(type: type, line: line) { return lineValue }
        let length = parseInteger(line).map(Int.init) ?? -1
        switch type {
        case UInt8(ascii: "|"):
            // Attributes: skip the map, then parse the value that follows.
            for _ in 0..<(length * 2) where !skipValue(&buffer) { return nil }
            return parseValue(&buffer)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            if length < 0 { return .null }
            guard let payload = buffer.readSlice(length: length) else { return nil }
            buffer.moveReaderIndex(forwardBy: 2)
            if type == UInt8(ascii: "$") { return .bulkString(payload) }
            if type == UInt8(ascii: "!") { return .bulkError(payload) }
            let format = payload.getString(at: payload.readerIndex, length: 3) ?? ""
            let text = payload.getSlice(at: payload.readerIndex + 4, length: length - 4) ?? ByteBuffer()
            return .verbatimString(format: format, text: text)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"):
            if length < 0 { return .null }
            let count = type == UInt8(ascii: "%") ? length * 2 : length
            var probe = buffer
            for _ in 0..<count where !skipValue(&probe) { return nil }
            guard let elements = buffer.readSlice(length: probe.readerIndex - buffer.readerIndex) else { return nil }
            let aggregate = Aggregate(elements: elements, count: count)
            switch type {
            case UInt8(ascii: "*"): return .array(aggregate)
            case UInt8(ascii: "~"): return .set(aggregate)
            case UInt8(ascii: ">"): return .push(aggregate)
            default: return .map(aggregate)
            }
        default:
            return nil
        }
    }

    /// Skips one complete value (attributes included). Only for validated bytes.
    @discardableResult
    static func skipValue(_ buffer: inout ByteBuffer) -> Bool {
        guard let (type, length) = readHeader(&buffer) else { return false }
        switch type {
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            if length >= 0 { buffer.moveReaderIndex(forwardBy: length + 2) }
            return true
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            for _ in 0..<max(length, 0) where !skipValue(&buffer) { return false }
            return true
        case UInt8(ascii: "%"):
            for _ in 0..<(length * 2) where !skipValue(&buffer) { return false }
            return true
        case UInt8(ascii: "|"):
            for _ in 0..<(length * 2) where !skipValue(&buffer) { return false }
            return skipValue(&buffer)
        default:
            return true  // line types: the header was the whole value
        }
    }
}

extension RESPToken {
    /// The value of a line type at the reader index of `base` (simple string, error, integer, …).
    static func parseLineValue(type: UInt8, line: ByteBuffer) -> Value? {
        switch type {
        case UInt8(ascii: "+"): return .simpleString(line)
        case UInt8(ascii: "-"): return .simpleError(line)
        case UInt8(ascii: ":"): return parseInteger(line).map(Value.integer)
        case UInt8(ascii: ","): return parseDouble(line).map(Value.double)
        case UInt8(ascii: "#"):
            return .boolean(line.getInteger(at: line.readerIndex, as: UInt8.self) == UInt8(ascii: "t"))
        case UInt8(ascii: "("): return .bigNumber(line)
        case UInt8(ascii: "_"): return .null
        default: return nil
        }
    }
}
