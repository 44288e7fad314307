// Protobuf `asynq.TaskMessage` micro-benchmarks: encoding a message as the client stores it
// (`TaskMessage.encoded()`, deterministic order) and decoding the `msg` bytes as the processor
// reads them from a dequeue reply (`TaskMessage.decode(_:)` over a `ByteBuffer` view). The
// messages are the ones `AsynqClient.enqueue` builds (through the `AsynqBenchmarks` SPI), so
// their fields are those asynq really stores. No server is involved.
//
//   cd Benchmarks && swift package benchmark --target WireBenchmarks

@_spi(AsynqBenchmarks) import Asynq
import AsynqRedis
import Benchmark
import BenchmarkSupport
import Foundation
import NIOCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = AsynqBenchmarkConfiguration.configuration()

    for sample in WireSample.all {
        let message = sample.message
        Benchmark("encode_TaskMessage_\(sample.name)") { benchmark in
            var bytes = 0
            for _ in benchmark.scaledIterations {
                bytes &+= try message.encoded().count
            }
            blackHole(bytes)
        }
    }

    for sample in WireSample.all {
        let stored = sample.stored
        Benchmark("decode_TaskMessage_\(sample.name)") { benchmark in
            var bytes = 0
            for _ in benchmark.scaledIterations {
                bytes &+= try BenchmarkTaskMessage.decode(stored.readableBytesView).payloadCount
            }
            blackHole(bytes)
        }
    }
}

/// A message as the client stores it, and its encoding as Redis returns it.
struct WireSample: Sendable {
    let name: String
    let message: BenchmarkTaskMessage
    let stored: ByteBuffer

    /// A 120-byte JSON payload, the size of a typical job description.
    static let jsonPayload = Data(
        #"{"user_id":4242,"template":"welcome","locale":"en-GB","to":"someone@example.com","attempt":1,"tags":["a","b"]}"#
            .utf8)

    static let all: [WireSample] = {
        // The client is never connected: only its enqueue preparation is used.
        guard let redis = try? RedisClient(options: .standalone(host: "127.0.0.1", port: 6379)) else {
            fatalError("could not create a RedisClient")
        }
        let client = AsynqClient(redis: redis)
        func sample(_ name: String, _ task: AsynqTask, _ options: [TaskOption] = []) -> WireSample {
            do {
                let message = try client.prepareEnqueue(task, options: options).message
                return WireSample(name: name, message: message, stored: ByteBuffer(bytes: try message.encoded()))
            } catch {
                fatalError("could not prepare the \(name) sample: \(error)")
            }
        }
        return [
            sample("120B_payload", AsynqTask(type: "email:deliver", payload: jsonPayload)),
            sample(
                "120B_payload_3_headers_options",
                AsynqTask(
                    type: "email:deliver",
                    payload: jsonPayload,
                    headers: [
                        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                        "tenant": "acme",
                        "source": "signup",
                    ]
                ),
                [.queue("critical"), .maxRetry(5), .timeout(.seconds(120)), .retention(.seconds(3600))]
            ),
            sample(
                "16KiB_payload",
                AsynqTask(type: "report:render", payload: Data(repeating: 0x61, count: 16 * 1024))
            ),
        ]
    }()
}
