// The hot paths of enqueue, dequeue and acknowledgement, without a server: building the script
// calls the client and the processor send (each call encodes its keys and arguments into one
// `ByteBuffer`, ready to be written as `EVALSHA`), and turning a dequeue reply into tasks
// (one protobuf decode per task). The library's own code runs, through the `AsynqBenchmarks` SPI.
//
//   cd Benchmarks && swift package benchmark --target ScriptCallBenchmarks
//
// The "per task" benchmarks handle 1000 tasks per measured run in batches, so with `--scale`
// every figure is per task whatever the batch size.

@_spi(AsynqBenchmarks) import Asynq
import AsynqRedis
import Benchmark
import BenchmarkSupport
import Foundation
import NIOCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = AsynqBenchmarkConfiguration.configuration()
    let fixture = CallFixture.shared

    // MARK: Enqueue

    // What `AsynqClient.enqueue` does before sending: a new task ID, options composed, the
    // message built and encoded, the enqueue script call built.
    Benchmark("enqueue_prepare_ID_options_encode_call") { benchmark in
        let task = AsynqTask(type: "email:deliver", payload: CallFixture.jsonPayload)
        for _ in benchmark.scaledIterations {
            blackHole(try fixture.client.prepareEnqueue(task).call)
        }
    }

    Benchmark("enqueue_call_of_encoded_message") { benchmark in
        let message = fixture.messages[0]
        let encoded = try message.encoded()
        let now = Date()
        for _ in benchmark.scaledIterations {
            blackHole(fixture.broker.enqueueCall(message, encoded: encoded, now: now))
        }
    }

    // MARK: Dequeue

    Benchmark("dequeue_call_batch_100") { benchmark in
        let now = Date()
        for _ in benchmark.scaledIterations {
            blackHole(fixture.broker.dequeueCall(count: 100, now: now))
        }
    }

    for batch in [1, 10, 100] {
        let reply = fixture.dequeueReply(batch: batch)
        Benchmark("dequeue_reply_to_tasks_batch_\(batch)_per_task") { benchmark in
            var tasks = 0
            for _ in 0..<(benchmark.scaledIterations.count / batch) {
                tasks &+= fixture.broker.dequeuedTasks(from: reply).count
            }
            guard tasks == benchmark.scaledIterations.count else {
                benchmark.error("decoded \(tasks) tasks, expected \(benchmark.scaledIterations.count)")
                return
            }
        }
    }

    // The whole read side of a dequeue: the RESP reply scanned, then its tasks decoded.
    let rawReply = fixture.dequeueReplyBytes(batch: 100)
    Benchmark("dequeue_reply_RESP_bytes_to_tasks_batch_100_per_task") { benchmark in
        var decoder = RESPTokenDecoder()
        var tasks = 0
        for _ in 0..<(benchmark.scaledIterations.count / 100) {
            var buffer = rawReply
            guard let token = try decoder.decode(buffer: &buffer) else {
                benchmark.error("incomplete dequeue reply")
                return
            }
            tasks &+= fixture.broker.dequeuedTasks(from: token).count
        }
        blackHole(tasks)
    }

    // MARK: Acknowledgements

    Benchmark("done_call") { benchmark in
        let message = fixture.messages[0]
        let now = Date()
        for _ in benchmark.scaledIterations {
            blackHole(fixture.broker.doneCall(message, now: now))
        }
    }

    // The retry call carries the message again, re-encoded with the error and the retry count.
    Benchmark("retry_call_reencoding_message") { benchmark in
        let message = fixture.messages[0]
        let now = Date()
        let retryAt = now.addingTimeInterval(30)
        for _ in benchmark.scaledIterations {
            blackHole(
                try fixture.broker.retryCall(
                    message, retryAt: retryAt, errorMessage: "smtp: 421 try again later", now: now))
        }
    }
}

/// A client and a broker that are never connected (only their call building is used), and 100
/// messages as the client stores them.
final class CallFixture: Sendable {
    static let shared = CallFixture()

    /// A 120-byte JSON payload, the size of a typical job description.
    static let jsonPayload = Data(
        #"{"user_id":4242,"template":"welcome","locale":"en-GB","to":"someone@example.com","attempt":1,"tags":["a","b"]}"#
            .utf8)

    let client: AsynqClient
    let broker: BenchmarkBroker
    let messages: [BenchmarkTaskMessage]

    private init() {
        guard let redis = try? RedisClient(options: .standalone(host: "127.0.0.1", port: 6379)) else {
            fatalError("could not create a RedisClient")
        }
        let client = AsynqClient(redis: redis)
        self.client = client
        broker = BenchmarkBroker(redis: redis, queue: "default")
        do {
            let task = AsynqTask(type: "email:deliver", payload: Self.jsonPayload)
            messages = try (0..<100).map { _ in try client.prepareEnqueue(task).message }
        } catch {
            fatalError("could not prepare messages: \(error)")
        }
    }

    /// The raw reply of the batched dequeue script for `batch` tasks: `id, msg, id, msg, …`.
    func dequeueReplyBytes(batch: Int) -> ByteBuffer {
        var buffer = ByteBuffer(string: "*\(2 * batch)\r\n")
        for message in messages.prefix(batch) {
            guard let encoded = try? message.encoded() else { fatalError("could not encode a message") }
            buffer.writeString("$\(message.id.utf8.count)\r\n\(message.id)\r\n$\(encoded.count)\r\n")
            buffer.writeBytes(encoded)
            buffer.writeString("\r\n")
        }
        return buffer
    }

    /// The dequeue reply of `batch` tasks, already parsed into a token.
    func dequeueReply(batch: Int) -> RESPToken {
        var decoder = RESPTokenDecoder()
        var bytes = dequeueReplyBytes(batch: batch)
        guard let token = try? decoder.decode(buffer: &bytes) else { fatalError("could not parse a dequeue reply") }
        return token
    }
}
