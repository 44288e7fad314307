public import NIOCore

/// One Redis command, encoded once into RESP bulk strings when it is built.
///
/// ```swift
/// let set = RedisCommand("SET", key, value, "PX", 500)
/// var zadd = RedisCommand("ZADD", key)
/// for (score, member) in items { zadd.append(score); zadd.append(member) }
/// ```
public struct RedisCommand: Sendable, CustomStringConvertible {
    /// The arguments (name first) as consecutive RESP bulk strings.
    package private(set) var arguments: ByteBuffer
    /// How many bulk strings `arguments` holds.
    package private(set) var count: Int
    /// For blocking commands (`BLMOVE`, `BLPOP`, …): how long the server may hold the reply.
    /// Zero means forever. Blocking commands run on dedicated connections.
    public var blockingTimeout: Duration?

    private static let allocator = ByteBufferAllocator()

    public init<each Argument: RESPArgument>(_ name: String, _ argument: repeat each Argument) {
        var buffer = Self.allocator.buffer(capacity: 64)
        var count = name.encodeRESP(into: &buffer)
        for value in repeat each argument {
            count += value.encodeRESP(into: &buffer)
        }
        self.arguments = buffer
        self.count = count
    }

    /// A command whose buffer starts with room for `capacity` bytes (for commands whose size is
    /// known to exceed the default, such as script calls).
    package init<each Argument: RESPArgument>(
        reservingCapacity capacity: Int, _ name: String, _ argument: repeat each Argument
    ) {
        var buffer = Self.allocator.buffer(capacity: max(64, capacity))
        var count = name.encodeRESP(into: &buffer)
        for value in repeat each argument {
            count += value.encodeRESP(into: &buffer)
        }
        self.arguments = buffer
        self.count = count
    }

    /// This command with its first `count` arguments (the name included) replaced by those of
    /// `prefix`; the remaining arguments are copied as encoded.
    package func replacingLeading(_ count: Int, with prefix: RedisCommand) -> RedisCommand {
        var rest = arguments
        for _ in 0..<count {
            guard let (_, length) = RESPToken.readHeader(&rest), length >= 0 else { break }
            rest.moveReaderIndex(forwardBy: min(length + 2, rest.readableBytes))
        }
        var result = prefix
        result.arguments.writeImmutableBuffer(rest)
        result.count += self.count - count
        result.blockingTimeout = blockingTimeout
        return result
    }

    /// A command from a list of arguments of any argument types.
    public init(_ name: String, arguments: [any RESPArgument]) {
        var buffer = Self.allocator.buffer(capacity: 64)
        var count = name.encodeRESP(into: &buffer)
        for value in arguments {
            count += value.encodeRESP(into: &buffer)
        }
        self.arguments = buffer
        self.count = count
    }

    /// Adds arguments at the end.
    public mutating func append<each Argument: RESPArgument>(_ argument: repeat each Argument) {
        for value in repeat each argument {
            count += value.encodeRESP(into: &arguments)
        }
    }

    /// The command's name, upper-cased (for logs and routing decisions).
    public var name: String {
        var copy = arguments
        guard let (_, length) = RESPToken.readHeader(&copy), let name = copy.readString(length: length) else {
            return ""
        }
        return name.uppercased()
    }

    /// The arguments after the name, as strings (for logs and tests; bytes that are not UTF-8 are replaced).
    package var argumentStrings: [String] {
        var copy = arguments
        var result: [String] = []
        result.reserveCapacity(count)
        while let (_, length) = RESPToken.readHeader(&copy), let bytes = copy.readSlice(length: length) {
            result.append(String(buffer: bytes))
            copy.moveReaderIndex(forwardBy: 2)
        }
        return result
    }

    public var description: String { argumentStrings.joined(separator: " ") }

    /// Writes `*<count>\r\n` and the arguments.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeDecimal(count)
        buffer.writeCRLF()
        buffer.writeImmutableBuffer(arguments)
    }
}
