public import NIOCore

/// Splits the byte stream from a Redis server into complete, validated ``RESPToken``s.
///
/// The scan is resumable: when a value arrives in many reads, the decoder remembers how far it
/// validated (and the element counts of the aggregates it is inside), so a large reply is
/// scanned once, not once per read. Every length and count is checked against
/// ``RESPDecoderLimits`` before the decoder waits for more bytes, so hostile input ends in a
/// ``RedisClientError`` with code `.protocolViolation` rather than a crash, a hang or unbounded
/// memory.
public struct RESPTokenDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = RESPToken

    let limits: RESPDecoderLimits
    /// Bytes of the current value validated so far, counted from the reader index.
    private var scanned = 0
    /// Elements still expected by each aggregate the scan is inside, innermost last.
    private var open: [Int] = []

    public init(limits: RESPDecoderLimits = .default) {
        self.limits = limits
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPToken? {
        while true {
            switch try scanElement(buffer) {
            case .needMoreData:
                if scanned > limits.maxReplySize || buffer.readableBytes > limits.maxReplySize {
                    throw violation("reply larger than \(limits.maxReplySize) bytes")
                }
                return nil
            case .element(let length):
                scanned += length
                if scanned > limits.maxReplySize {
                    throw violation("reply larger than \(limits.maxReplySize) bytes")
                }
                // Close every aggregate this element completes.
                while let last = open.last {
                    if last > 1 {
                        open[open.count - 1] = last - 1
                        break
                    }
                    open.removeLast()
                }
                if open.isEmpty { return finishToken(&buffer) }
            case .aggregate(let headerLength, let elements):
                scanned += headerLength
                if elements == 0 {
                    // An empty aggregate is a complete element of its parent.
                    while let last = open.last {
                        if last > 1 {
                            open[open.count - 1] = last - 1
                            break
                        }
                        open.removeLast()
                    }
                    if open.isEmpty { return finishToken(&buffer) }
                } else {
                    guard open.count < limits.maxDepth else {
                        throw violation("aggregates nested deeper than \(limits.maxDepth)")
                    }
                    open.append(elements)
                }
            }
        }
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPToken? {
        try decode(buffer: &buffer)
    }

    private mutating func finishToken(_ buffer: inout ByteBuffer) -> RESPToken? {
        let length = scanned
        scanned = 0
        guard let slice = buffer.readSlice(length: length) else { return nil }
        return RESPToken(validated: slice)
    }

    private enum ScanResult {
        case needMoreData
        /// A complete scalar (or bulk) element of this many bytes.
        case element(Int)
        /// An aggregate header of this many bytes announcing this many child elements.
        case aggregate(headerLength: Int, elements: Int)
    }

    private func violation(_ message: String) -> RedisClientError {
        RedisClientError(.protocolViolation, "invalid RESP from server: \(message)")
    }

    /// Scans the element that starts `scanned` bytes after the reader index.
    private func scanElement(_ buffer: ByteBuffer) throws(RedisClientError) -> ScanResult {
        let limits = self.limits
        let offset = scanned
        let result: Result<ScanResult, RedisClientError> = buffer.withUnsafeReadableBytes { bytes in
            guard offset < bytes.count else { return .success(.needMoreData) }
            let type = bytes[offset]
            // Find the end of the header line.
            let lineStart = offset + 1
            let searchEnd = min(bytes.count, lineStart + limits.maxLineLength + 2)
            var cr = -1
            var index = lineStart
            while index < searchEnd {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\r") {
                    cr = index
                    break
                }
                if byte == UInt8(ascii: "\n") {
                    return .failure(violation("line feed without carriage return after type '\(printable(type))'"))
                }
                index += 1
            }
            if cr < 0 {
                if searchEnd - lineStart > limits.maxLineLength {
                    return .failure(violation("line longer than \(limits.maxLineLength) bytes"))
                }
                return .success(.needMoreData)
            }
            guard cr + 1 < bytes.count else { return .success(.needMoreData) }
            guard bytes[cr + 1] == UInt8(ascii: "\n") else {
                return .failure(violation("carriage return not followed by line feed"))
            }
            let line = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<cr])
            let headerLength = cr + 2 - offset

            switch type {
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                return .success(.element(headerLength))
            case UInt8(ascii: ":"):
                guard parseDecimal(line) != nil else { return .failure(violation("invalid integer")) }
                return .success(.element(headerLength))
            case UInt8(ascii: "("):
                guard isBigNumber(line) else { return .failure(violation("invalid big number")) }
                return .success(.element(headerLength))
            case UInt8(ascii: ","):
                guard isDouble(line) else { return .failure(violation("invalid double")) }
                return .success(.element(headerLength))
            case UInt8(ascii: "#"):
                guard line.count == 1, line[0] == UInt8(ascii: "t") || line[0] == UInt8(ascii: "f") else {
                    return .failure(violation("invalid boolean"))
                }
                return .success(.element(headerLength))
            case UInt8(ascii: "_"):
                guard line.isEmpty else { return .failure(violation("invalid null")) }
                return .success(.element(headerLength))
            case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
                guard let length = parseDecimal(line) else {
                    if line.first == UInt8(ascii: "?") {
                        return .failure(violation("streamed strings are not supported"))
                    }
                    return .failure(violation("invalid bulk length"))
                }
                if length == -1 && type == UInt8(ascii: "$") { return .success(.element(headerLength)) }
                guard length >= 0 else { return .failure(violation("negative bulk length \(length)")) }
                guard length <= limits.maxBulkLength else {
                    return .failure(violation("bulk length \(length) exceeds the limit of \(limits.maxBulkLength)"))
                }
                let total = headerLength + Int(length) + 2
                if total > limits.maxReplySize {
                    return .failure(violation("reply larger than \(limits.maxReplySize) bytes"))
                }
                guard offset + total <= bytes.count else { return .success(.needMoreData) }
                guard bytes[offset + total - 2] == UInt8(ascii: "\r"), bytes[offset + total - 1] == UInt8(ascii: "\n")
                else {
                    return .failure(violation("bulk string not terminated by CRLF"))
                }
                if type == UInt8(ascii: "=") {
                    guard length >= 4, bytes[offset + headerLength + 3] == UInt8(ascii: ":") else {
                        return .failure(violation("invalid verbatim string"))
                    }
                }
                return .success(.element(total))
            case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
                guard let count = parseDecimal(line) else {
                    if line.first == UInt8(ascii: "?") {
                        return .failure(violation("streamed aggregates are not supported"))
                    }
                    return .failure(violation("invalid aggregate length"))
                }
                if count == -1 && type == UInt8(ascii: "*") { return .success(.element(headerLength)) }
                guard count >= 0 else { return .failure(violation("negative aggregate length \(count)")) }
                guard count <= limits.maxAggregateCount else {
                    return .failure(
                        violation("aggregate of \(count) elements exceeds the limit of \(limits.maxAggregateCount)")
                    )
                }
                var elements = Int(count)
                if type == UInt8(ascii: "%") || type == UInt8(ascii: "|") { elements *= 2 }
                // An attribute map is followed by the value it annotates, which belongs to it.
                if type == UInt8(ascii: "|") { elements += 1 }
                return .success(.aggregate(headerLength: headerLength, elements: elements))
            default:
                return .failure(violation("unknown type byte '\(printable(type))'"))
            }
        }
        return try result.get()
    }
}

private func printable(_ byte: UInt8) -> String {
    (0x21...0x7e).contains(byte) ? String(UnicodeScalar(byte)) : "0x" + String(byte, radix: 16)
}

/// A signed decimal that fits Int64; nil otherwise.
private func parseDecimal(_ line: UnsafeRawBufferPointer) -> Int64? {
    var index = 0
    var negative = false
    if line.first == UInt8(ascii: "-") {
        negative = true
        index = 1
    } else if line.first == UInt8(ascii: "+") {
        index = 1
    }
    guard index < line.count else { return nil }
    var value: Int64 = 0
    while index < line.count {
        let digit = line[index] &- UInt8(ascii: "0")
        guard digit < 10 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(digit)) : m.addingReportingOverflow(Int64(digit))
        guard !o1, !o2 else { return nil }
        value = s
        index += 1
    }
    return value
}

private func isBigNumber(_ line: UnsafeRawBufferPointer) -> Bool {
    var index = 0
    if line.first == UInt8(ascii: "-") || line.first == UInt8(ascii: "+") { index = 1 }
    guard index < line.count else { return false }
    while index < line.count {
        guard line[index] &- UInt8(ascii: "0") < 10 else { return false }
        index += 1
    }
    return true
}

private func isDouble(_ line: UnsafeRawBufferPointer) -> Bool {
    guard !line.isEmpty, line.count <= 512 else { return false }
    let text = String(decoding: line, as: UTF8.self)
    switch text {
    case "inf", "+inf", "-inf", "nan", "-nan": return true
    default: return Double(text) != nil
    }
}
