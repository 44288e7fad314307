public import NIOCore

/// A Swift type that can be read from a reply.
public protocol RESPDecodable {
    init(fromRESP token: RESPToken) throws(RedisClientError)
}

extension RESPToken {
    /// Converts the reply, throwing `.unexpectedReply` when its type does not fit.
    public func decode<T: RESPDecodable>(as type: T.Type = T.self) throws(RedisClientError) -> T {
        try T(fromRESP: self)
    }

    func unexpected(_ expected: String) -> RedisClientError {
        RedisClientError(.unexpectedReply, "expected \(expected), got \(self)")
    }

    public var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    /// The bytes of a simple, bulk or verbatim string.
    public var byteBuffer: ByteBuffer? {
        switch value {
        case .simpleString(let b), .bulkString(let b), .bigNumber(let b): b
        case .verbatimString(_, let text): text
        default: nil
        }
    }

    /// A string reply as text (integers and doubles in their decimal form).
    public var string: String? {
        switch value {
        case .simpleString(let b), .bulkString(let b), .bigNumber(let b): String(buffer: b)
        case .verbatimString(_, let text): String(buffer: text)
        case .integer(let i): String(i)
        case .double(let d): String(d)
        default: nil
        }
    }

    public var bytes: [UInt8]? { byteBuffer.map { Array($0.readableBytesView) } }

    /// An integer reply, or a string holding a decimal integer (as RESP2 sends some numbers).
    public var int: Int? {
        switch value {
        case .integer(let i): Int(i)
        case .simpleString(let b), .bulkString(let b): RESPToken.parseInteger(b).map(Int.init)
        case .double(let d): d.isFinite && d == d.rounded() && abs(d) < 9e18 ? Int(d) : nil
        default: nil
        }
    }

    /// A double reply, or a string holding one (RESP2 sends scores as strings).
    public var double: Double? {
        switch value {
        case .double(let d): d
        case .integer(let i): Double(i)
        case .simpleString(let b), .bulkString(let b): RESPToken.parseDouble(b)
        default: nil
        }
    }

    /// A boolean reply, or the integers 0 and 1.
    public var bool: Bool? {
        switch value {
        case .boolean(let b): b
        case .integer(let i) where i == 0 || i == 1: i == 1
        default: nil
        }
    }

    /// The elements of an array, set or push reply.
    public var array: [RESPToken]? {
        switch value {
        case .array(let a), .set(let a), .push(let a): Array(a)
        default: nil
        }
    }

    /// Key/value pairs of a map reply, or of an array of alternating keys and values (RESP2).
    public var pairs: [(key: RESPToken, value: RESPToken)]? {
        switch value {
        case .map(let m): Array(m.pairs)
        case .array(let a) where a.count % 2 == 0: Array(a.pairs)
        default: nil
        }
    }
}

extension String: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        guard let string = token.string else { throw token.unexpected("a string") }
        self = string
    }
}

extension Int: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        guard let int = token.int else { throw token.unexpected("an integer") }
        self = int
    }
}

extension Double: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        guard let double = token.double else { throw token.unexpected("a double") }
        self = double
    }
}

extension Bool: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        guard let bool = token.bool else { throw token.unexpected("a boolean") }
        self = bool
    }
}

extension ByteBuffer: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        guard let buffer = token.byteBuffer else { throw token.unexpected("a string") }
        self = buffer
    }
}

extension RESPToken: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) { self = token }
}

extension Optional: RESPDecodable where Wrapped: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        self = token.isNull ? nil : try Wrapped(fromRESP: token)
    }
}

extension Array: RESPDecodable where Element: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        if token.isNull {
            self = []
            return
        }
        guard let elements = token.array else { throw token.unexpected("an array") }
        var result: [Element] = []
        result.reserveCapacity(elements.count)
        for element in elements { result.append(try Element(fromRESP: element)) }
        self = result
    }
}

extension Dictionary: RESPDecodable where Key: RESPDecodable, Value: RESPDecodable {
    public init(fromRESP token: RESPToken) throws(RedisClientError) {
        if token.isNull {
            self = [:]
            return
        }
        guard let pairs = token.pairs else { throw token.unexpected("a map") }
        var result: [Key: Value] = [:]
        result.reserveCapacity(pairs.count)
        for (key, value) in pairs { result[try Key(fromRESP: key)] = try Value(fromRESP: value) }
        self = result
    }
}
