// RESP codec micro-benchmarks: building and writing commands of the shapes asynq sends, and
// decoding the replies Redis typically sends back. No server is involved.
//
//   cd Benchmarks && swift package benchmark --target RESPBenchmarks

import AsynqRedis
import Benchmark
import BenchmarkSupport
import NIOCore

let benchmarks: @Sendable () -> Void = {
    // 1000 operations per measured run; wall clock and mallocs, with the tolerances of
    // `Benchmarks/check` (see AsynqBenchmarkConfiguration).
    Benchmark.defaultConfiguration = AsynqBenchmarkConfiguration.configuration()

    encodeBenchmarks()
    decodeBenchmarks()
}

// MARK: - Encoding

/// A task ID as asynq makes them (a UUID string).
let taskID = "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
/// A serialized `TaskMessage` of a typical size (type, 120 B JSON payload, queue, ID, options).
let taskMessage: ByteBuffer = {
    var buffer = ByteBuffer()
    buffer.writeRepeatingByte(0x61, count: 200)
    return buffer
}()
/// The SHA1 of a script, as `EVALSHA` takes it.
let scriptSHA = "3f9c1b7e0d5a2c4b6e8f0a1b2c3d4e5f6a7b8c9d"

func encodeBenchmarks() {
    // Each iteration builds one command (allocating its argument buffer, as callers do) and
    // writes it into a reused outbound buffer, the way the channel handler coalesces a flush.
    func encoding(_ name: String, _ make: @escaping @Sendable () -> RedisCommand) {
        Benchmark("encode_\(name)") { benchmark in
            var outbound = ByteBufferAllocator().buffer(capacity: 64 * 1024)
            for _ in benchmark.scaledIterations {
                let command = make()
                command.write(into: &outbound)
                if outbound.writerIndex > 60 * 1024 { outbound.clear() }
            }
            blackHole(outbound)
        }
    }

    encoding("PING") { RedisCommand("PING") }
    encoding("SET_key_3B") { RedisCommand("SET", "key:__rand_int__", "xxx") }
    encoding("GET_key") { RedisCommand("GET", "key:__rand_int__") }
    // asynq enqueue: EVALSHA sha 2 <task key> <pending list> <message> <id> <now ns>
    encoding("EVALSHA_enqueue_200B_message") {
        RedisCommand(
            "EVALSHA",
            scriptSHA,
            2,
            "asynq:{default}:t:\(taskID)",
            "asynq:{default}:pending",
            taskMessage,
            taskID,
            1_732_480_000_123_456_789
        )
    }
    // asynq dequeue: EVALSHA sha 5 <pending> <paused> <active> <lease> <task key prefix> <lease expiry>
    encoding("EVALSHA_dequeue") {
        RedisCommand(
            "EVALSHA",
            scriptSHA,
            5,
            "asynq:{default}:pending",
            "asynq:{default}:paused",
            "asynq:{default}:active",
            "asynq:{default}:lease",
            "asynq:{default}:t:",
            1_732_480_030
        )
    }
    encoding("ZADD_score_member") {
        RedisCommand("ZADD", "asynq:{default}:scheduled", 1_732_480_030.0, taskID)
    }
    encoding("HSET_4_fields") {
        RedisCommand(
            "HSET",
            "asynq:{default}:t:\(taskID)",
            "msg",
            taskMessage,
            "state",
            "pending",
            "pending_since",
            1_732_480_000_123_456_789,
            "group",
            "email"
        )
    }
    encoding("LPUSH_16KiB") {
        RedisCommand("LPUSH", "asynq:{default}:pending", bigPayload)
    }
    // The same command built from a list of arguments of mixed types (the non-generic initializer).
    encoding("ZADD_from_any_RESPArgument_array") {
        RedisCommand("ZADD", arguments: ["asynq:{default}:retry", 1_732_480_030.5, taskID])
    }

    Benchmark("encode_pipeline_of_16_SET") { benchmark in
        var outbound = ByteBufferAllocator().buffer(capacity: 64 * 1024)
        for _ in benchmark.scaledIterations {
            for _ in 0..<16 {
                RedisCommand("SET", "key:__rand_int__", "xxx").write(into: &outbound)
            }
            outbound.clear()
        }
        blackHole(outbound)
    }
}

let bigPayload: ByteBuffer = {
    var buffer = ByteBuffer()
    buffer.writeRepeatingByte(0x78, count: 16 * 1024)
    return buffer
}()

// MARK: - Decoding

/// RESP replies of the kinds Redis sends, as raw bytes.
enum Replies {
    static let simpleString = ByteBuffer(string: "+OK\r\n")
    static let integer = ByteBuffer(string: ":1732480000\r\n")
    static let null = ByteBuffer(string: "_\r\n")
    static let bulk100 = bulk(count: 100)
    static let bulk16K = bulk(count: 16 * 1024)
    /// `LRANGE`/`ZRANGE`-like: 100 bulk strings of 36 bytes (task IDs).
    static let array100: ByteBuffer = {
        var buffer = ByteBuffer(string: "*100\r\n")
        for _ in 0..<100 { buffer.writeString("$36\r\n\(taskID)\r\n") }
        return buffer
    }()
    /// `HGETALL` of a task hash in RESP3: a map of 6 fields.
    static let map: ByteBuffer = {
        var buffer = ByteBuffer(string: "%6\r\n")
        let fields: [(String, String)] = [
            ("msg", String(repeating: "m", count: 200)),
            ("state", "active"),
            ("pending_since", "1732480000123456789"),
            ("group", "email"),
            ("result", String(repeating: "r", count: 64)),
            ("completed_at", "1732480031"),
        ]
        for (key, value) in fields {
            buffer.writeString("$\(key.utf8.count)\r\n\(key)\r\n$\(value.utf8.count)\r\n\(value)\r\n")
        }
        return buffer
    }()
    /// The batched dequeue script's reply for 100 tasks: `id, msg, id, msg, …` (200 bulk strings,
    /// the messages 200 bytes each).
    static let dequeueReply100: ByteBuffer = {
        var buffer = ByteBuffer(string: "*200\r\n")
        for _ in 0..<100 {
            buffer.writeString("$36\r\n\(taskID)\r\n$200\r\n")
            buffer.writeImmutableBuffer(taskMessage)
            buffer.writeString("\r\n")
        }
        return buffer
    }()
    /// What 16 pipelined `SET`s get back in one read.
    static let sixteenOK: ByteBuffer = {
        var buffer = ByteBuffer()
        for _ in 0..<16 { buffer.writeString("+OK\r\n") }
        return buffer
    }()

    static func bulk(count: Int) -> ByteBuffer {
        var buffer = ByteBuffer(string: "$\(count)\r\n")
        buffer.writeRepeatingByte(0x78, count: count)
        buffer.writeString("\r\n")
        return buffer
    }
}

func decodeBenchmarks() {
    /// Decodes the one reply in `bytes`; with `read`, also walks into the value as a caller would.
    func decoding(_ name: String, _ bytes: ByteBuffer, read: (@Sendable (RESPToken) -> Int)? = nil) {
        Benchmark("decode_\(name)") { benchmark in
            var decoder = RESPTokenDecoder()
            var total = 0
            for _ in benchmark.scaledIterations {
                var buffer = bytes  // shares storage: only the reader index moves
                guard let token = try decoder.decode(buffer: &buffer) else {
                    benchmark.error("incomplete reply in the input of \(name)")
                    return
                }
                total &+= read?(token) ?? token.base.readableBytes
            }
            blackHole(total)
        }
    }

    decoding("simple_string_OK", Replies.simpleString)
    decoding("integer", Replies.integer)
    decoding("null", Replies.null)
    decoding("bulk_100B", Replies.bulk100)
    decoding("bulk_16KiB", Replies.bulk16K)
    decoding("array_of_100_bulk", Replies.array100)
    decoding("map_of_6_fields", Replies.map)
    decoding("dequeue_reply_of_100_tasks", Replies.dequeueReply100)

    decoding("bulk_100B_read_as_String", Replies.bulk100) { token in
        token.string?.utf8.count ?? 0
    }
    decoding("array_of_100_bulk_read_elements", Replies.array100) { token in
        guard case .array(let elements) = token.value else { return 0 }
        var bytes = 0
        for element in elements {
            if case .bulkString(let value) = element.value { bytes &+= value.readableBytes }
        }
        return bytes
    }
    decoding("array_of_100_bulk_as_String_array", Replies.array100) { token in
        (try? token.decode(as: [String].self))?.count ?? 0
    }
    decoding("map_of_6_fields_read_pairs", Replies.map) { token in
        guard case .map(let map) = token.value else { return 0 }
        var bytes = 0
        for (key, value) in map.pairs {
            bytes &+= key.base.readableBytes &+ value.base.readableBytes
        }
        return bytes
    }

    Benchmark("decode_16_OK_in_one_read") { benchmark in
        var decoder = RESPTokenDecoder()
        var count = 0
        for _ in benchmark.scaledIterations {
            var buffer = Replies.sixteenOK
            while let token = try decoder.decode(buffer: &buffer) {
                count &+= token.base.readableBytes
            }
        }
        blackHole(count)
    }

    // A 16 KiB bulk string arriving in 1460-byte TCP segments, appended to one receive buffer
    // the way `ByteToMessageHandler` accumulates them: the resumable scan must not rescan.
    Benchmark("decode_bulk_16KiB_in_1460B_segments") { benchmark in
        var segments: [ByteBuffer] = []
        var all = Replies.bulk16K
        while all.readableBytes > 0 {
            if let segment = all.readSlice(length: min(1460, all.readableBytes)) { segments.append(segment) }
        }
        var decoder = RESPTokenDecoder()
        var receive = ByteBufferAllocator().buffer(capacity: 32 * 1024)
        var count = 0
        for _ in benchmark.scaledIterations {
            receive.clear()
            for segment in segments {
                receive.writeImmutableBuffer(segment)
                if let token = try decoder.decode(buffer: &receive) {
                    count &+= token.base.readableBytes
                }
            }
        }
        blackHole(count)
    }
}
