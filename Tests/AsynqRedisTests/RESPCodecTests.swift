import AsynqRedis
import NIOCore
import Testing

/// Feeds bytes to the decoder in pieces of `chunk` bytes and collects every token.
private func decodeAll(_ text: String, chunk: Int = .max, limits: RESPDecoderLimits = .default) throws -> [RESPToken] {
    try decodeAll(Array(text.utf8), chunk: chunk, limits: limits)
}

private func decodeAll(_ bytes: [UInt8], chunk: Int = .max, limits: RESPDecoderLimits = .default) throws -> [RESPToken]
{
    var decoder = RESPTokenDecoder(limits: limits)
    var buffer = ByteBuffer()
    var tokens: [RESPToken] = []
    var index = 0
    while index < bytes.count {
        let end = min(bytes.count, index + max(1, min(chunk, bytes.count)))
        buffer.writeBytes(bytes[index..<end])
        index = end
        while let token = try decoder.decode(buffer: &buffer) { tokens.append(token) }
    }
    return tokens
}

private func decodeOne(_ text: String) throws -> RESPToken.Value {
    let tokens = try decodeAll(text)
    try #require(tokens.count == 1)
    return tokens[0].value
}

@Suite("RESP decoding")
struct RESPDecodingTests {
    @Test func simpleTypes() throws {
        #expect(try decodeOne("+OK\r\n") == .simpleString(ByteBuffer(string: "OK")))
        #expect(try decodeOne("-ERR bad\r\n") == .simpleError(ByteBuffer(string: "ERR bad")))
        #expect(try decodeOne(":-42\r\n") == .integer(-42))
        #expect(try decodeOne(":9223372036854775807\r\n") == .integer(.max))
        #expect(try decodeOne("$5\r\nhello\r\n") == .bulkString(ByteBuffer(string: "hello")))
        #expect(try decodeOne("$0\r\n\r\n") == .bulkString(ByteBuffer()))
        #expect(try decodeOne("$-1\r\n") == .null)
        #expect(try decodeOne("*-1\r\n") == .null)
        #expect(try decodeOne("_\r\n") == .null)
        #expect(try decodeOne("#t\r\n") == .boolean(true))
        #expect(try decodeOne("#f\r\n") == .boolean(false))
        #expect(try decodeOne(",3.25\r\n") == .double(3.25))
        #expect(try decodeOne(",inf\r\n") == .double(.infinity))
        #expect(try decodeOne(",-inf\r\n") == .double(-.infinity))
        #expect(
            try decodeOne("(3492890328409238509324850943850943825024385\r\n")
                == .bigNumber(ByteBuffer(string: "3492890328409238509324850943850943825024385")))
        #expect(
            try decodeOne("!21\r\nSYNTAX invalid syntax\r\n") == .bulkError(ByteBuffer(string: "SYNTAX invalid syntax"))
        )
        #expect(
            try decodeOne("=15\r\ntxt:Some string\r\n")
                == .verbatimString(format: "txt", text: ByteBuffer(string: "Some string")))
        if case .double(let nan) = try decodeOne(",nan\r\n") { #expect(nan.isNaN) } else { Issue.record("nan") }
    }

    @Test func aggregates() throws {
        guard case .array(let array) = try decodeOne("*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n_\r\n") else {
            Issue.record("not an array")
            return
        }
        let elements = Array(array)
        #expect(elements.count == 3)
        #expect(elements[0].int == 1)
        #expect(elements[1].string == "foo")
        #expect(elements[2].array?.count == 2)
        #expect(elements[2].array?[1].isNull == true)

        let map = try decodeAll("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n")[0]
        let dict: [String: Int] = try map.decode()
        #expect(dict == ["first": 1, "second": 2])

        guard case .set(let set) = try decodeOne("~2\r\n+a\r\n+b\r\n") else {
            Issue.record("not a set")
            return
        }
        #expect(set.compactMap(\.string) == ["a", "b"])
        guard case .push(let push) = try decodeOne(">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n") else {
            Issue.record("not a push")
            return
        }
        #expect(push.compactMap(\.string) == ["message", "ch", "hi"])
        #expect(try decodeOne("*0\r\n") == .array(try #require(decodeAll("*0\r\n")[0].value.aggregate)))
    }

    @Test func attributesAreSkippedAndReadable() throws {
        let tokens = try decodeAll("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n")
        #expect(tokens.count == 1)
        #expect(tokens[0].array?.compactMap(\.int) == [2_039_123, 9_543_892])
        #expect(tokens[0].attributes?.count == 2)
        // An attribute inside an aggregate belongs to the element after it.
        let nested = try decodeAll("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n")
        #expect(nested.count == 1)
        #expect(nested[0].array?.compactMap(\.int) == [1, 2])
    }

    @Test(arguments: [1, 2, 3, 7, 64])
    func valuesSplitAcrossReads(chunk: Int) throws {
        let stream = "+OK\r\n*2\r\n$5\r\nhello\r\n%1\r\n+k\r\n*1\r\n:7\r\n:5\r\n$-1\r\n"
        let tokens = try decodeAll(stream, chunk: chunk)
        #expect(tokens.map(\.description) == ["+OK", "[\"hello\", {+k: [(integer) 7]}]", "(integer) 5", "(nil)"])
    }

    @Test func largeBulkIsOneView() throws {
        let payload = [UInt8](repeating: 0x61, count: 1 << 20)
        let bytes = Array("$\(payload.count)\r\n".utf8) + payload + Array("\r\n".utf8)
        let tokens = try decodeAll(bytes, chunk: 65536)
        #expect(tokens.count == 1)
        #expect(tokens[0].byteBuffer?.readableBytes == payload.count)
    }

    @Test func manyElementsScannedOnce() throws {
        // 200k elements arriving in small reads: the resumable scan keeps this linear.
        var text = "*200000\r\n"
        for i in 0..<200_000 { text += ":\(i)\r\n" }
        let tokens = try decodeAll(text, chunk: 4096)
        #expect(tokens.count == 1)
        #expect(tokens[0].array?.count == 200_000)
        #expect(tokens[0].array?.last?.int == 199_999)
    }

    @Test(arguments: [
        ("?hello\r\n", "unknown type byte"),
        (":12a\r\n", "invalid integer"),
        (":99999999999999999999\r\n", "invalid integer"),
        ("$abc\r\n", "invalid bulk length"),
        ("$-5\r\n", "negative bulk length"),
        ("$3\r\nabcde\r\n", "not terminated by CRLF"),
        ("*-2\r\n", "negative aggregate length"),
        ("#x\r\n", "invalid boolean"),
        (",1.2.3\r\n", "invalid double"),
        ("+OK\rX", "carriage return not followed by line feed"),
        ("+OK\n", "line feed without carriage return"),
        ("=3\r\nabc\r\n", "invalid verbatim string"),
        ("_x\r\n", "invalid null"),
        ("$?\r\n", "streamed strings are not supported"),
    ])
    func malformedInputIsAClearError(input: String, expected: String) throws {
        let error = #expect(throws: RedisClientError.self) { try decodeAll(input) }
        #expect(error?.code == .protocolViolation)
        #expect(error?.message.contains(expected) == true, "\(error?.message ?? "")")
    }

    @Test func limitsBoundMemoryAndDepth() throws {
        let limits = RESPDecoderLimits(maxDepth: 4, maxBulkLength: 1024, maxAggregateCount: 100, maxLineLength: 64)
        // A bulk announcing more than the limit fails before its bytes are awaited.
        #expect(throws: RedisClientError.self) { try decodeAll("$1000000000\r\n", limits: limits) }
        #expect(throws: RedisClientError.self) { try decodeAll("*1000\r\n", limits: limits) }
        #expect(throws: RedisClientError.self) {
            try decodeAll(String(repeating: "*1\r\n", count: 10) + ":1\r\n", limits: limits)
        }
        // A line that never ends fails once it passes the line limit.
        #expect(throws: RedisClientError.self) {
            try decodeAll("+" + String(repeating: "a", count: 200), limits: limits)
        }
        // Deep nesting within the default limit is fine; beyond it is refused, not a stack overflow.
        let deep = String(repeating: "*1\r\n", count: 100) + ":1\r\n"
        #expect(try decodeAll(deep).count == 1)
        let tooDeep = String(repeating: "*1\r\n", count: 100_000) + ":1\r\n"
        #expect(throws: RedisClientError.self) { try decodeAll(tooDeep) }
    }

    @Test func randomBytesNeverCrashOrHang() {
        var generator = SeededGenerator(seed: 0x5EED)
        let alphabet = Array("+-:$*%~>|_#,(!=\r\n0123456789-?abc".utf8)
        for _ in 0..<20_000 {
            let length = Int.random(in: 1...40, using: &generator)
            let bytes = (0..<length).map { _ in
                Bool.random(using: &generator)
                    ? alphabet[Int.random(in: 0..<alphabet.count, using: &generator)]
                    : UInt8.random(in: 0...255, using: &generator)
            }
            // Either tokens, a need for more bytes, or a protocolViolation: never a crash.
            do {
                for token in try decodeAll(bytes, chunk: Int.random(in: 1...8, using: &generator)) {
                    _ = token.description
                }
            } catch {
                #expect((error as? RedisClientError)?.code == .protocolViolation)
            }
        }
    }
}

@Suite("RESP encoding")
struct RESPEncodingTests {
    private func encoded(_ command: RedisCommand) -> String {
        var buffer = ByteBuffer()
        command.write(into: &buffer)
        return String(buffer: buffer)
    }

    @Test func commandsAreArraysOfBulkStrings() {
        #expect(encoded(RedisCommand("PING")) == "*1\r\n$4\r\nPING\r\n")
        #expect(encoded(RedisCommand("SET", "k", "héllo")) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\nhéllo\r\n")
        #expect(encoded(RedisCommand("INCRBY", "n", -120)) == "*3\r\n$6\r\nINCRBY\r\n$1\r\nn\r\n$4\r\n-120\r\n")
        #expect(encoded(RedisCommand("X", 0, Int.min)) == "*3\r\n$1\r\nX\r\n$1\r\n0\r\n$20\r\n-9223372036854775808\r\n")
        #expect(
            encoded(RedisCommand("ZADD", "z", 1.5, "m", Double.infinity))
                == "*5\r\n$4\r\nZADD\r\n$1\r\nz\r\n$3\r\n1.5\r\n$1\r\nm\r\n$4\r\n+inf\r\n")
        let optional: String? = nil
        #expect(encoded(RedisCommand("DEL", ["a", "b"], optional)) == "*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n")
        var built = RedisCommand("HSET", "h")
        built.append("f", ByteBuffer(bytes: [0, 255]))
        #expect(built.count == 4)
        #expect(built.name == "HSET")
        var raw = ByteBuffer()
        built.write(into: &raw)
        #expect(Array(raw.readableBytesView.suffix(6)) == [13, 10, 0, 255, 13, 10])
    }

    @Test func encodedCommandsDecodeBack() throws {
        let command = RedisCommand("EVALSHA", "abc", 2, ["k1", "k2"], ByteBuffer(bytes: [1, 2, 3]), 77)
        var buffer = ByteBuffer()
        command.write(into: &buffer)
        var decoder = RESPTokenDecoder()
        let token = try #require(try decoder.decode(buffer: &buffer))
        let elements = try #require(token.array, "\(token)")
        try #require(elements.count == 7, "\(token)")
        #expect(elements[5].bytes == [1, 2, 3])
        #expect(command.argumentStrings.last == "77")
    }
}

extension RESPToken.Value {
    fileprivate var aggregate: RESPToken.Aggregate? {
        switch self {
        case .array(let a), .set(let a), .map(let a), .push(let a): a
        default: nil
        }
    }
}

/// A small deterministic generator (SplitMix64) so the fuzz test is reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
