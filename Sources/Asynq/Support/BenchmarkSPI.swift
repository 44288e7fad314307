public import AsynqRedis
public import Foundation

// MARK: - SPI for the Benchmarks package (`@_spi(AsynqBenchmarks)`)
//
// `Benchmarks/` is a separate SwiftPM package, so it cannot see this module's `package`
// symbols: the protobuf wire message (`TaskMessage`, generated as `package`) and the broker's
// script calls (`RedisBroker`). The declarations in this file, and only these, are visible to a
// client that writes `@_spi(AsynqBenchmarks) import Asynq`; a plain `import Asynq` does not see
// them. They are not part of the supported API and may change or go away at any time.
//
// Each one forwards to the code the library runs itself, never to a copy of it, so that the
// benchmarks measure the real paths:
// - `BenchmarkTaskMessage`: `TaskMessage.encoded()` / `TaskMessage.decode(_:)` (Wire/TaskMessage.swift).
// - `AsynqClient.prepareEnqueue(_:options:)`: what `enqueue(_:options:)` does before sending
//   (options composed, message built and encoded, enqueue script call built).
// - `BenchmarkBroker`: the script calls of `RedisBroker` that the client and the processor build
//   for enqueue, dequeue, done and retry, and the decoding of a dequeue reply into tasks.

/// The protobuf `asynq.TaskMessage` stored in a task hash's `msg` field (SPI for benchmarks).
@_spi(AsynqBenchmarks)
public struct BenchmarkTaskMessage: Sendable {
    var message: TaskMessage

    init(_ message: TaskMessage) {
        self.message = message
    }

    /// The task ID.
    public var id: String { message.id }

    /// The task type.
    public var type: String { message.type }

    /// The queue the task belongs to.
    public var queue: String { message.queue }

    /// The payload's size in bytes.
    public var payloadCount: Int { message.payload.count }

    /// The protobuf encoding stored in Redis (deterministic field and map order).
    public func encoded() throws -> Data {
        try message.encoded()
    }

    /// Decodes stored `msg` bytes.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> BenchmarkTaskMessage {
        BenchmarkTaskMessage(try TaskMessage.decode(bytes))
    }
}

extension AsynqClient {
    /// What ``enqueue(_:options:)`` prepares for `task` without sending anything: the message it
    /// stores and the script call it sends (SPI for benchmarks).
    @_spi(AsynqBenchmarks)
    public func prepareEnqueue(
        _ task: AsynqTask, options: [TaskOption] = []
    ) throws -> (message: BenchmarkTaskMessage, call: RedisScriptCall) {
        let prepared = try prepare(task, options: options, now: now())
        return (BenchmarkTaskMessage(prepared.message), prepared.call)
    }
}

/// The broker's script calls for one queue, built as the client and the server's processor
/// build them (SPI for benchmarks). Building a call encodes its arguments; nothing is sent.
@_spi(AsynqBenchmarks)
public struct BenchmarkBroker: Sendable {
    private let broker: RedisBroker
    private let keys: QueueKeys

    /// A broker over `redis` (used only by the caller: the calls built here are not sent).
    public init(redis: RedisClient, queue: String = "default") {
        broker = RedisBroker(redis: redis)
        keys = QueueKeys(queue)
    }

    /// Op 1.1: the enqueue call for an already encoded message.
    public func enqueueCall(_ message: BenchmarkTaskMessage, encoded: Data, now: Date) -> RedisScriptCall {
        broker.enqueueCall(message.message, encoded: encoded, now: now)
    }

    /// Op 2.1, batched: the dequeue call for up to `count` tasks of the queue.
    public func dequeueCall(count: Int, now: Date) -> RedisScriptCall {
        broker.dequeueCall(keys: keys, count: count, now: now)
    }

    /// The tasks in the reply of a ``dequeueCall(count:now:)``, with their messages decoded.
    public func dequeuedTasks(from reply: RESPToken) -> BenchmarkDequeuedTasks {
        BenchmarkDequeuedTasks(tasks: broker.dequeuedTasks(from: reply, keys: keys))
    }

    /// Op 2.2: the done call of a successful task, as the processor builds it.
    public func doneCall(_ message: BenchmarkTaskMessage, now: Date) -> RedisScriptCall {
        broker.doneCall(message.message, keys: keys, now: now)
    }

    /// Op 2.5: the retry call of a failed task (its message re-encoded with the error).
    public func retryCall(
        _ message: BenchmarkTaskMessage, retryAt: Date, errorMessage: String, now: Date
    ) throws -> RedisScriptCall {
        try broker.retryCall(message.message, retryAt: retryAt, errorMessage: errorMessage, isFailure: true, now: now)
    }
}

/// The result of decoding a dequeue reply (SPI for benchmarks).
@_spi(AsynqBenchmarks)
public struct BenchmarkDequeuedTasks: Sendable {
    let tasks: [DequeuedTask]

    /// How many task IDs the reply held (decoded, malformed and dangling alike).
    public var count: Int { tasks.count }

    /// Calls `body` with each task whose message decoded, in dequeue order.
    public func forEachMessage(_ body: (BenchmarkTaskMessage) throws -> Void) rethrows {
        for case .task(let message) in tasks {
            try body(BenchmarkTaskMessage(message))
        }
    }
}
