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
        if value >= 0 && value < 10 {
            writeInteger(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes, enough for 20 digits + sign
        let count = withUnsafeMutableBytes(of: &digits) { raw -> Int in
            var position = raw.count
            repeat {
                position -= 1
                raw[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                position -= 1
                raw[position] = UInt8(ascii: "-")
            }
            return raw.count - position
        }
        withUnsafeBytes(of: &digits) { raw in
            _ = writeBytes(UnsafeRawBufferPointer(rebasing: raw[(raw.count - count)...]))
        }
    }
}

extension String: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        buffer.writeBulkHeader(length: utf8.count)
        buffer.writeString(self)
        buffer.writeCRLF()
        return 1
    }
}

extension Substring: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        buffer.writeBulkHeader(length: utf8.count)
        buffer.writeSubstring(self)
        buffer.writeCRLF()
        return 1
    }
}

extension ByteBuffer: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        buffer.writeBulkHeader(length: readableBytes)
        buffer.writeImmutableBuffer(self)
        buffer.writeCRLF()
        return 1
    }
}

extension Int: RESPArgument {
    public func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        var digits = 1
        var rest = self.magnitude
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        buffer.writeBulkHeader(length: digits + (self < 0 ? 1 : 0))
        buffer.writeDecimal(self)
        buffer.writeCRLF()
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
        buffer.writeBulkHeader(length: bytes.count)
        buffer.writeBytes(bytes)
        buffer.writeCRLF()
        return 1
    }
}
