public import Logging
public import NIOCore
public import NIOPosix
import NIOSSL
import Synchronization

/// One connection to one Redis server.
///
/// Many callers may use a connection at the same time: their commands are pipelined (written
/// back to back, coalesced into one flush per event-loop tick) and each gets its own reply.
/// Most code uses ``RedisClient``, which pools connections; a bare connection is for dedicated
/// work (blocking commands, `WATCH`/`MULTI`, subscriptions).
public final class RedisConnection: Sendable {
    public let eventLoop: any EventLoop
    /// The address this connection is connected to.
    public let address: RedisServerAddress
    /// The protocol the server agreed to (RESP3 unless it refused `HELLO 3`).
    public let protocolVersion: RedisConnectionOptions.ProtocolVersion

    let channel: any Channel
    let handler: NIOLoopBound<RedisChannelHandler>
    let commandTimeout: Duration?
    let logger: Logger
    private let nextRequestID = Atomic<UInt64>(0)
    /// Requests whose reply has not been received yet (read without a lock by the pool).
    let inFlight = Atomic<Int>(0)

    /// Requests sent on this connection whose reply has not arrived yet.
    package var pendingRequests: Int { inFlight.load(ordering: .relaxed) }

    private init(
        channel: any Channel,
        handler: NIOLoopBound<RedisChannelHandler>,
        address: RedisServerAddress,
        protocolVersion: RedisConnectionOptions.ProtocolVersion,
        commandTimeout: Duration?,
        logger: Logger
    ) {
        self.channel = channel
        self.eventLoop = channel.eventLoop
        self.handler = handler
        self.address = address
        self.protocolVersion = protocolVersion
        self.commandTimeout = commandTimeout
        self.logger = logger
    }

    /// Whether the connection is still open.
    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    // MARK: Connecting

    /// Connects, then authenticates, selects the database and names the client (`HELLO 3`,
    /// falling back to RESP2 commands when the server does not know `HELLO`).
    public static func connect(
        to address: RedisServerAddress,
        options: RedisConnectionOptions,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any(),
        logger: Logger = Logger(label: "AsynqRedis")
    ) async throws -> RedisConnection {
        let tls = try options.tls.map { try TLSContextCache.makeContext($0) }
        return try await connect(to: address, options: options, tlsContext: tls, eventLoop: eventLoop, logger: logger)
    }

    static func connect(
        to address: RedisServerAddress,
        options: RedisConnectionOptions,
        tlsContext: NIOSSLContext?,
        eventLoop: any EventLoop,
        logger: Logger
    ) async throws -> RedisConnection {
        let limits = options.decoderLimits
        let immediateWriteBelow = options.immediateWriteBelow
        let serverName: String? = {
            if let name = options.tls?.serverName { return name }
            if case .tcp(let host, _) = address, !host.isIPAddressLiteral { return host }
            return nil
        }()
        let slot = HandlerSlot()
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(options.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tlsContext {
                        let tlsHandler = try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(tlsHandler)
                    }
                    let handler = RedisChannelHandler(eventLoop: channel.eventLoop, decoderLimits: limits)
                    handler.immediateWriteBelow = immediateWriteBelow
                    try channel.pipeline.syncOperations.addHandler(handler)
                    slot.handler.withLock { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
                }
            }

        let channel: any Channel
        do {
            switch address {
            case .tcp(let host, let port):
                channel =
                    try await bootstrap
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: host, port: port).get()
            case .unix(let path):
                channel = try await bootstrap.connect(unixDomainSocketPath: path).get()
            }
        } catch let error as ChannelError where error == .connectTimeout(TimeAmount(options.connectTimeout)) {
            throw RedisClientError(.timeout, "could not connect to \(address) within \(options.connectTimeout)")
        } catch {
            throw RedisClientError(.connectionFailed, "could not connect to \(address): \(error)")
        }

        guard let handler = slot.handler.withLock({ $0 }) else {
            channel.close(promise: nil)
            throw RedisClientError(.connectionFailed, "could not set up the connection to \(address)")
        }

        var connection = RedisConnection(
            channel: channel,
            handler: handler,
            address: address,
            protocolVersion: .resp3,
            commandTimeout: options.connectTimeout,
            logger: logger
        )
        do {
            let version = try await connection.handshake(options: options)
            // Same channel, now with the negotiated protocol and the real command timeout.
            connection = RedisConnection(
                channel: channel,
                handler: handler,
                address: address,
                protocolVersion: version,
                commandTimeout: options.commandTimeout,
                logger: logger
            )
        } catch {
            await connection.close()
            throw error
        }
        logger.debug(
            "connected to Redis",
            metadata: ["redis.address": "\(address)", "redis.protocol": "\(connection.protocolVersion.rawValue)"]
        )
        return connection
    }

    private func handshake(options: RedisConnectionOptions) async throws -> RedisConnectionOptions.ProtocolVersion {
        let auth: (user: String, password: String)? = {
            if let password = options.password { return (options.username ?? "default", password) }
            if let user = options.username { return (user, "") }
            return nil
        }()
        if options.protocolVersion == .resp3 {
            var hello = RedisCommand("HELLO", 3)
            if let auth { hello.append("AUTH", auth.user, auth.password) }
            if let name = options.clientName { hello.append("SETNAME", name) }
            var commands = [hello]
            if options.database != 0 { commands.append(RedisCommand("SELECT", options.database)) }
            let results = try await pipeline(commands)
            switch results[0] {
            case .success:
                for result in results.dropFirst() { _ = try result.get() }
                return .resp3
            case .failure(let error):
                let message = error.message
                let unknown =
                    message.hasPrefix("ERR unknown command") || message.hasPrefix("NOPROTO")
                    || message.hasPrefix("ERR unknown subcommand")
                guard unknown else { throw Self.handshakeError(error) }
            }
        }
        var commands: [RedisCommand] = []
        if let auth {
            commands.append(
                options.username == nil
                    ? RedisCommand("AUTH", auth.password) : RedisCommand("AUTH", auth.user, auth.password)
            )
        }
        if options.database != 0 { commands.append(RedisCommand("SELECT", options.database)) }
        if let name = options.clientName { commands.append(RedisCommand("CLIENT", "SETNAME", name)) }
        for result in try await pipeline(commands) {
            do { _ = try result.get() } catch { throw Self.handshakeError(error) }
        }
        return .resp2
    }

    private static func handshakeError(_ error: RedisClientError) -> RedisClientError {
        let prefix = error.serverErrorPrefix ?? ""
        if prefix == "WRONGPASS" || prefix == "NOAUTH" || error.message.contains("invalid password")
            || error.message.contains("invalid username-password")
        {
            return RedisClientError(.authenticationFailed, "Redis refused the credentials: \(error.message)")
        }
        return error
    }

    // MARK: Commands

    /// Sends a command and returns its reply; an error reply is thrown as `.serverError`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RESPToken {
        let token = try await submit(command)
        if let error = token.errorReply { throw error }
        return token
    }

    /// Sends commands in one write and returns one result per command, in order. Error replies
    /// are failures in the array; a lost connection throws.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [Result<RESPToken, RedisClientError>] {
        try Task.checkCancellation(orThrow: RedisClientError(.cancelled, "the request was cancelled"))
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).newValue
        let deadline = deadline(for: nil)
        inFlight.wrappingAdd(commands.count, ordering: .relaxed)
        defer { inFlight.wrappingSubtract(commands.count, ordering: .relaxed) }
        let handler = self.handler
        // One hop to the event loop, which queues the commands and later resumes us itself.
        let results = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: RedisChannelHandler.PipelineContinuation) in
                onLoop {
                    handler.value.enqueue(pipeline: commands, id: id, continuation: continuation, deadline: deadline)
                }
            }
        } onCancel: {
            self.onLoop { handler.value.cancel(id: id) }
        }
        return results.map { result in
            result.flatMap { token in
                if let error = token.errorReply { return .failure(error) }
                return .success(token)
            }
        }
    }

    /// Sends a command and returns whatever the server replied, error replies included.
    func submit(_ command: RedisCommand) async throws -> RESPToken {
        try Task.checkCancellation(orThrow: RedisClientError(.cancelled, "the request was cancelled"))
        let id = nextRequestID.wrappingAdd(1, ordering: .relaxed).newValue
        let deadline = deadline(for: command.blockingTimeout)
        let blocking = command.blockingTimeout != nil
        inFlight.wrappingAdd(1, ordering: .relaxed)
        defer { inFlight.wrappingSubtract(1, ordering: .relaxed) }
        let handler = self.handler
        // One hop to the event loop, which queues the command and later resumes us itself.
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<RESPToken, any Error>) in
                onLoop {
                    handler.value.enqueue(
                        command,
                        id: id,
                        receiver: .single(continuation),
                        deadline: deadline,
                        closeOnCancel: blocking
                    )
                }
            }
        } onCancel: {
            self.onLoop { handler.value.cancel(id: id) }
        }
    }

    /// Writes a command whose answer comes as push messages (RESP3 `SUBSCRIBE` and friends).
    func sendWithoutReply(_ command: RedisCommand) {
        let handler = self.handler
        onLoop { handler.value.enqueue(command, id: 0, receiver: nil, deadline: .distantFuture) }
    }

    private func deadline(for blockingTimeout: Duration?) -> NIODeadline {
        guard let commandTimeout else { return .distantFuture }
        if let blockingTimeout {
            if blockingTimeout == .zero { return .distantFuture }
            return .now() + TimeAmount(commandTimeout + blockingTimeout)
        }
        return .now() + TimeAmount(commandTimeout)
    }

    func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop {
            body()
        } else {
            eventLoop.execute(body)
        }
    }

    // MARK: Closing

    /// Closes the connection; requests still waiting fail with `.connectionClosed`.
    public func close() async {
        let handler = self.handler
        onLoop { handler.value.close(with: RedisClientError(.connectionClosed, "connection closed by the client")) }
        try? await channel.closeFuture.get()
    }

    /// Registers a callback run once (on the event loop) when the connection closes.
    func whenClosed(_ body: @escaping @Sendable (RedisClientError) -> Void) {
        let handler = self.handler
        onLoop {
            if handler.value.isActive {
                handler.value.onClose = body
            } else {
                body(RedisClientError(.connectionClosed, "connection closed"))
            }
        }
    }
}

/// Hands the channel handler from the channel initializer (on the event loop) to `connect`.
private final class HandlerSlot: Sendable {
    let handler = Mutex<NIOLoopBound<RedisChannelHandler>?>(nil)
}

extension Task where Success == Never, Failure == Never {
    static func checkCancellation(orThrow error: RedisClientError) throws {
        if Task.isCancelled { throw error }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        let nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if nanos.overflow {
            self = .nanoseconds(Int64.max)
        } else {
            self = .nanoseconds(nanos.partialValue + attoseconds / 1_000_000_000)
        }
    }
}

extension String {
    var isIPAddressLiteral: Bool {
        if contains(":") { return true }  // IPv6
        let parts = split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in UInt8(part) != nil }
    }
}

extension RESPToken {
    /// The error reply this token carries, if it is one.
    public var errorReply: RedisClientError? {
        guard let first = base.getInteger(at: base.readerIndex, as: UInt8.self),
            first == UInt8(ascii: "-") || first == UInt8(ascii: "!")
        else { return nil }
        switch value {
        case .simpleError(let message), .bulkError(let message):
            return RedisClientError(.serverError, String(buffer: message))
        default:
            return nil
        }
    }
}
