import Logging
public import NIOCore

/// A message received on a subscribed channel.
public struct RedisPubSubMessage: Sendable, Hashable {
    public let channel: String
    /// The pattern that matched, for pattern subscriptions.
    public let pattern: String?
    public let payload: ByteBuffer

    public var payloadString: String { String(buffer: payload) }
}

/// The events of a subscription, as an `AsyncSequence`. It ends when the scope that created it
/// (``RedisClient/withSubscription(channels:patterns:_:)``) ends.
public struct RedisSubscription: AsyncSequence, Sendable {
    public enum Event: Sendable, Hashable {
        /// The server confirmed every channel and pattern: messages published from now on
        /// arrive. Sent again after each reconnection (messages published while the connection
        /// was down are lost, as with any Redis pub/sub).
        case ready
        case message(RedisPubSubMessage)
    }

    public typealias Element = Event
    let stream: AsyncThrowingStream<Event, any Error>

    public func makeAsyncIterator() -> AsyncThrowingStream<Event, any Error>.AsyncIterator {
        stream.makeAsyncIterator()
    }

    /// Only the messages.
    public var messages: AsyncCompactMapSequence<RedisSubscription, RedisPubSubMessage> {
        compactMap { event in
            if case .message(let message) = event { return message }
            return nil
        }
    }
}

extension RedisClient {
    /// Subscribes to channels and patterns on a dedicated connection for the duration of `body`.
    /// The subscription survives reconnections: it resubscribes and yields ``RedisSubscription/Event/ready`` again.
    ///
    /// With Sentinel the subscription follows the master (it is moved when the master changes);
    /// in a cluster it is made on any node, since Redis Cluster delivers `PUBLISH` to every node.
    public func withSubscription<T: Sendable>(
        channels: [String],
        patterns: [String] = [],
        _ body: (RedisSubscription) async throws -> T
    ) async throws -> T {
        try await RedisSubscriptionDriver.withSubscription(
            channels: channels,
            patterns: patterns,
            logger: logger,
            open: { try await self.openSubscriptionConnection() },
            body
        )
    }
}

/// Keeps a subscription alive over connections opened by `open`: subscribes, forwards messages,
/// and resubscribes on a new connection when one closes. `open` must wait before it fails
/// again (the pool's backoff does), or the loop would spin while no server is reachable.
enum RedisSubscriptionDriver {
    static func withSubscription<T: Sendable>(
        channels: [String],
        patterns: [String],
        logger: Logger,
        open: @escaping @Sendable () async throws -> RedisConnection,
        _ body: (RedisSubscription) async throws -> T
    ) async throws -> T {
        guard !channels.isEmpty || !patterns.isEmpty else {
            throw RedisClientError(.invalidConfiguration, "a subscription needs at least one channel or pattern")
        }
        let (stream, continuation) = AsyncThrowingStream<RedisSubscription.Event, any Error>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await maintain(
                    channels: channels,
                    patterns: patterns,
                    logger: logger,
                    open: open,
                    continuation: continuation
                )
            }
            do {
                let result = try await body(RedisSubscription(stream: stream))
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    private static func maintain(
        channels: [String],
        patterns: [String],
        logger: Logger,
        open: @Sendable () async throws -> RedisConnection,
        continuation: AsyncThrowingStream<RedisSubscription.Event, any Error>.Continuation
    ) async {
        defer { continuation.finish() }
        let expected = channels.count + patterns.count
        while !Task.isCancelled {
            let connection: RedisConnection
            do {
                connection = try await open()
            } catch {
                if Task.isCancelled { return }
                continue  // `open` waits out its backoff on the next attempt
            }
            let handler = connection.handler
            let resp2 = connection.protocolVersion == .resp2
            connection.onLoop {
                var confirmed = 0
                handler.value.subscriberMode = resp2
                handler.value.pushHandler = { token in
                    guard let parts = token.array, let kind = parts.first?.string else { return }
                    switch kind.lowercased() {
                    case "message" where parts.count == 3:
                        if let channel = parts[1].string, let payload = parts[2].byteBuffer {
                            continuation.yield(
                                .message(RedisPubSubMessage(channel: channel, pattern: nil, payload: payload))
                            )
                        }
                    case "pmessage" where parts.count == 4:
                        if let pattern = parts[1].string, let channel = parts[2].string,
                            let payload = parts[3].byteBuffer
                        {
                            continuation.yield(
                                .message(RedisPubSubMessage(channel: channel, pattern: pattern, payload: payload))
                            )
                        }
                    case "subscribe", "psubscribe":
                        confirmed += 1
                        if confirmed == expected { continuation.yield(.ready) }
                    default:
                        break
                    }
                }
            }
            if !channels.isEmpty { connection.sendWithoutReply(RedisCommand("SUBSCRIBE", channels)) }
            if !patterns.isEmpty { connection.sendWithoutReply(RedisCommand("PSUBSCRIBE", patterns)) }
            await withTaskCancellationHandler {
                try? await connection.closeFuture.get()
            } onCancel: {
                connection.onLoop {
                    handler.value.close(with: RedisClientError(.connectionClosed, "subscription ended"))
                }
            }
            if !Task.isCancelled {
                logger.info("subscription connection lost; resubscribing", metadata: ["redis.channels": "\(channels)"])
            }
        }
    }
}
