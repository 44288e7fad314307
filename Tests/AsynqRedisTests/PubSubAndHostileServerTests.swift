import AsynqRedis
import AsynqTestSupport
import NIOCore
import NIOPosix
import Testing

@Suite("Pub/sub")
struct PubSubTests {
    @Test(arguments: [RedisConnectionOptions.ProtocolVersion.resp3, .resp2])
    func subscriptionSurvivesServerRestart(protocolVersion: RedisConnectionOptions.ProtocolVersion) async throws {
        try await withRedisServer { server in
            var options = server.connectionOptions()
            options.protocolVersion = protocolVersion
            let redis = try RedisClient(options: options)
            defer { Task { await redis.close() } }
            let received = try await redis.withSubscription(channels: ["news"], patterns: ["alerts:*"]) {
                subscription in
                var iterator = subscription.makeAsyncIterator()
                var messages: [String] = []
                #expect(try await iterator.next() == .ready)
                #expect(try await redis.publish("news", "before") == 1)
                #expect(try await redis.publish("alerts:fire", "pattern") == 1)
                for _ in 0..<2 {
                    if case .message(let message) = try await iterator.next() {
                        messages.append("\(message.pattern ?? "-") \(message.channel) \(message.payloadString)")
                    }
                }
                await server.kill()
                try await server.restart()
                // The subscription reconnects by itself and says so.
                #expect(try await iterator.next() == .ready)
                #expect(try await redis.publish("news", "after") == 1)
                if case .message(let message) = try await iterator.next() {
                    messages.append("\(message.pattern ?? "-") \(message.channel) \(message.payloadString)")
                }
                return messages
            }
            #expect(received == ["- news before", "alerts:* alerts:fire pattern", "- news after"])
            // The subscription's connection is gone once the scope ends.
            try await eventually("no subscribers left") { try await redis.publish("news", "nobody") == 0 }
        }
    }
}

private final class Replier: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let reply: [UInt8]
    init(reply: [UInt8]) { self.reply = reply }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(NIOAny(ByteBuffer(bytes: reply)), promise: nil)
    }
}

/// A TCP server on 127.0.0.1 that answers every read with fixed bytes.
private func withFakeServer<T>(
    replying reply: [UInt8],
    _ body: (Int) async throws -> T
) async throws -> T {
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .childChannelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(Replier(reply: reply))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let port = try #require(channel.localAddress?.port)
    do {
        let result = try await body(port)
        try await channel.close()
        return result
    } catch {
        try? await channel.close()
        throw error
    }
}

@Suite("Hostile servers")
struct HostileServerTests {
    @Test(arguments: [
        Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8),
        Array("$99999999999\r\n".utf8),
        [0x00, 0xFF, 0x13, 0x37, 0x0D, 0x0A],
        Array(String(repeating: "*1\r\n", count: 10_000).utf8),
    ])
    func garbageIsAClearErrorNotAHang(reply: [UInt8]) async throws {
        try await withFakeServer(replying: reply) { port in
            var options = RedisConnectionOptions.standalone(host: "127.0.0.1", port: port)
            options.protocolVersion = .resp2  // no handshake: the garbage answers our PING
            options.commandTimeout = .seconds(5)
            let redis = try RedisClient(options: options)
            let error = await #expect(throws: RedisClientError.self) { try await redis.ping() }
            #expect(error?.code == .protocolViolation, "\(String(describing: error))")
            await redis.close()
        }
    }

    @Test func garbageDuringHandshakeFailsTheConnect() async throws {
        try await withFakeServer(replying: Array("not redis at all\r\n".utf8)) { port in
            let redis = try RedisClient(options: .standalone(host: "127.0.0.1", port: port))
            let error = await #expect(throws: RedisClientError.self) { try await redis.ping() }
            #expect(error?.code == .protocolViolation, "\(String(describing: error))")
            await redis.close()
        }
    }

    @Test func unsolicitedReplyIsAProtocolViolation() async throws {
        // Two replies for one command: the second has no caller, so the connection is dropped.
        try await withFakeServer(replying: Array("+PONG\r\n+PONG\r\n".utf8)) { port in
            var options = RedisConnectionOptions.standalone(host: "127.0.0.1", port: port)
            options.protocolVersion = .resp2
            let connection = try await RedisConnection.connect(
                to: .tcp(host: "127.0.0.1", port: port), options: options)
            #expect(try await connection.ping() == "PONG")
            _ = try? await connection.closeFuture.get()
            #expect(!connection.isActive)
        }
    }
}
