public import NIOCore

/// A value that can be sent as one or more arguments of a Redis command.
///
/// Arguments are encoded straight into the command's buffer as RESP bulk strings.
public protocol RESPArgument {
    /// Writes the argument(s) and returns how many bulk strings were written.
    func encodeRESP(into buffer: inout ByteBuffer) -> Int
}

extension ByteBuffer {
    mutating func writeBulkHeader(length: Int) {
        writeInteger(UInt8(ascii: "$"))
        writeDecimal(length)
        writeInteger(UInt16(0x0D0A))  // "\r\n" big-endian
    }

    mutating func writeCRLF() {
        writeInteger(UInt16(0x0D0A))
    }

    /// Writes the decimal digits of `value` without allocating a String.
    mutating func writeDecimal(_ value: Int) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            Self.storeDecimal(value, into: out, at: 0)
        }
    }

    /// Writes `$<count>\r\n<bytes>\r\n` with one capacity check (the hot path of every command:
    /// each argument is one bulk string).
    package mutating func writeRESPBulkString(_ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        writeWithUnsafeMutableBytes(minimumWritableBytes: count + 25) { out in
            out[0] = UInt8(ascii: "$")
            var position = 1 + Self.storeDecimal(count, into: out, at: 1)
            out[position] = 0x0D
            out[position + 1] = 0x0A
            position += 2
            if count > 0, let source = bytes.baseAddress, let target = out.baseAddress {
                (target + position).copyMemory(from: source, byteCount: count)
            }
            position += count
            out[position] = 0x0D
            out[position + 1] = 0x0A
            return position + 2
        }
    }

    /// Writes `$<n>\r\n<decimal digits of value>\r\n` in place.
    mutating func writeRESPBulkDecimal(_ value: Int) {
        writeWithUnsafeMutableBytes(minimumWritableBytes: 32) { out in
            let digits = Self.decimalLength(value)
            out[0] = UInt8(ascii: "$")
            var position = 1 + Self.storeDecimal(digits, into: out, at: 1)
            out[position] = 0x0D
            out[position + 1] = 0x0A
            position += 2
            position += Self.storeDecimal(value, into: out, at: position)
            out[position] = 0x0D
            out[position + 1] = 0x0A
            return position + 2
        }
    }

    /// How many characters `value` takes in decimal (sign included).
    static func decimalLength(_ value: Int) -> Int {
        var digits = 1
        var rest = value.magnitude
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        return digits + (value < 0 ? 1 : 0)
    }

    /// Stores the decimal form of `value` at `offset` (room for 20 bytes needed); returns its length.
    static func storeDecimal(_ value: Int, into out: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
        let length = decimalLength(value)
        var magnitude = value.magnitude
        var position = offset + length
        repeat {
            position -= 1
            out[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 { out[offset] = UInt8(ascii: "-") }
        return length
    }
}

extension String: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        var text = self
        text.withUTF8 { buffer.writeRESPBulkString(UnsafeRawBufferPointer($0)) }
        return 1
    }
}

extension Substring: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        var text = self
        text.withUTF8 { buffer.writeRESPBulkString(UnsafeRawBufferPointer($0)) }
        return 1
    }
}

extension ByteBuffer: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        withUnsafeReadableBytes { buffer.writeRESPBulkString($0) }
        return 1
    }
}

extension Int: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        buffer.writeRESPBulkDecimal(self)
        return 1
    }
}

extension Int64: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        Int(self).encodeRESP(into: &buffer)
    }
}

extension Double: RESPArgument {
    /// Encoded the way Redis parses scores: `inf`, `-inf`, or the shortest round-trip decimal.
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        let text: String
        if self == .infinity {
            text = "+inf"
        } else if self == -.infinity {
            text = "-inf"
        } else if self == rounded(), abs(self) < 1e15 {
            text = String(Int64(self))
        } else {
            text = "\(self)"
        }
        return text.encodeRESP(into: &buffer)
    }
}

extension Array: RESPArgument where Element: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        var count = 0
        for element in self { count += element.encodeRESP(into: &buffer) }
        return count
    }
}

extension Optional: RESPArgument where Wrapped: RESPArgument {
    /// `nil` writes no argument at all (for optional command parts).
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        switch self {
        case .none: 0
        case .some(let wrapped): wrapped.encodeRESP(into: &buffer)
        }
    }
}

/// Raw bytes as one argument.
public struct RESPBytes: RESPArgument, Sendable, Hashable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ bytes: some Sequence<UInt8>) { self.bytes = Array(bytes) }

    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        bytes.withUnsafeBytes { buffer.writeRESPBulkString($0) }
        return 1
    }
}
