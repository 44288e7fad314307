import DequeModule
import NIOCore
import NIOSSL

/// Drives one Redis connection on its event loop: writes commands (coalescing everything
/// submitted in one loop tick into one flush), matches replies to requests in FIFO order,
/// routes push messages, and enforces the command timeout.
///
/// State machine: `active` → `closed(error)`. While active, `pending` holds one entry per reply
/// still owed by the server, in the order the commands were written. A caller that gives up
/// (cancellation) only detaches its promise from its entry: the entry stays, so the reply that
/// arrives later is consumed and dropped and the connection never goes out of sync. Every
/// method runs on the channel's event loop.
final class RedisChannelHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    typealias PipelineContinuation = CheckedContinuation<[Result<RESPToken, RedisClientError>], any Error>

    /// Collects the replies of one pipeline and resumes its caller when the last arrives.
    final class PipelineCollector {
        var results: [Result<RESPToken, RedisClientError>]
        var remaining: Int
        var continuation: PipelineContinuation?

        init(count: Int, continuation: PipelineContinuation) {
            self.results = Array(repeating: .failure(RedisClientError(.connectionClosed, "no reply")), count: count)
            self.remaining = count
            self.continuation = continuation
        }

        func complete(index: Int, with result: Result<RESPToken, RedisClientError>) {
            results[index] = result
            remaining -= 1
            if remaining == 0, let continuation {
                self.continuation = nil
                continuation.resume(returning: results)
            }
        }

        func fail(_ error: RedisClientError) {
            if let continuation {
                self.continuation = nil
                continuation.resume(throwing: error)
            }
        }
    }

    /// Who gets a reply. Callers wait in a continuation resumed right here on the event loop
    /// (a future would cost a second hop to the loop to register its callback).
    enum Receiver {
        case single(CheckedContinuation<RESPToken, any Error>)
        case pipeline(PipelineCollector, index: Int)
        /// The caller gave up; the reply is read and dropped.
        case discarded

        func fail(_ error: RedisClientError) {
            switch self {
            case .single(let continuation): continuation.resume(throwing: error)
            case .pipeline(let collector, _): collector.fail(error)
            case .discarded: break
            }
        }
    }

    struct Pending {
        let id: UInt64
        var receiver: Receiver
        let deadline: NIODeadline
        /// Close the connection if the caller gives up (blocking commands, whose reply may never come).
        let closeOnCancel: Bool
    }

    private enum State {
        case idle
        case active(ChannelHandlerContext)
        case closed(RedisClientError)
    }

    private var state: State = .idle
    private var pending = Deque<Pending>()
    private var outbound: ByteBuffer?
    private var flushScheduled = false
    /// See ``RedisConnectionOptions/immediateWriteBelow``.
    var immediateWriteBelow = 0
    private var timeoutCheck: Scheduled<Void>?
    private let eventLoop: any EventLoop
    /// Replies are split here rather than in a `ByteToMessageHandler` in front of this handler:
    /// that generic class is not specialized across modules and costs more than the decoder.
    private var decoder: RESPTokenDecoder
    /// Received bytes not yet decoded (the start of an incomplete reply).
    private var received: ByteBuffer?

    /// Receives RESP3 push messages, and in `subscriberMode` RESP2 pub/sub arrays too.
    var pushHandler: ((RESPToken) -> Void)?
    /// Set on a RESP2 connection that has subscribed: every reply is then a pub/sub message.
    var subscriberMode = false
    /// Called once when the connection closes, with the reason.
    var onClose: ((RedisClientError) -> Void)?

    init(eventLoop: any EventLoop, decoderLimits: RESPDecoderLimits) {
        self.eventLoop = eventLoop
        self.decoder = RESPTokenDecoder(limits: decoderLimits)
    }

    var isActive: Bool {
        if case .active = state { return true }
        return false
    }

    var pendingCount: Int { pending.count }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { state = .active(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if case .idle = state { state = .active(context) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var buffer = received.take() {
            buffer.writeBuffer(&bytes)
            bytes = buffer
        }
        do {
            while let token = try decoder.decode(buffer: &bytes) {
                handle(token)
                // A reply may have closed the connection (a protocol violation).
                guard case .active = state else { return }
            }
        } catch let error as RedisClientError {
            close(with: error)
            return
        } catch {
            close(with: RedisClientError(.protocolViolation, "invalid RESP from server: \(error)"))
            return
        }
        if bytes.readableBytes > 0 {
            // Keep only the incomplete tail; it is small unless a reply is large.
            bytes.discardReadBytes()
            received = bytes
        }
    }

    private func handle(_ token: RESPToken) {
        if isPush(token) {
            pushHandler?(token)
            return
        }
        guard let entry = pending.popFirst() else {
            // A reply nobody asked for: the stream cannot be trusted any more.
            close(with: RedisClientError(.protocolViolation, "unexpected reply from server: \(token)"))
            return
        }
        switch entry.receiver {
        case .single(let continuation):
            continuation.resume(returning: token)
        case .pipeline(let collector, let index):
            collector.complete(index: index, with: .success(token))
        case .discarded:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        received = nil
        close(with: RedisClientError(.connectionClosed, "connection closed by the server"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: RedisClientError
        if let error = error as? RedisClientError {
            reason = error
        } else if error is NIOSSLError || error is BoringSSLError {
            reason = RedisClientError(.tlsFailure, "TLS error: \(error)")
        } else {
            reason = RedisClientError(.connectionClosed, "connection error: \(error)")
        }
        close(with: reason)
    }

    private func isPush(_ token: RESPToken) -> Bool {
        guard let first = token.base.getInteger(at: token.base.readerIndex, as: UInt8.self) else { return false }
        if first == UInt8(ascii: ">") { return true }
        return subscriberMode && first == UInt8(ascii: "*")
    }

    // MARK: Requests

    /// Queues one command. With no receiver the command expects no reply (RESP3 `SUBSCRIBE`).
    func enqueue(
        _ command: RedisCommand,
        id: UInt64,
        receiver: Receiver?,
        deadline: NIODeadline,
        closeOnCancel: Bool = false
    ) {
        guard case .active(let context) = state else {
            receiver?.fail(rejection)
            return
        }
        let owed = pending.count
        if let receiver {
            pending.append(Pending(id: id, receiver: receiver, deadline: deadline, closeOnCancel: closeOnCancel))
            if pending.count == 1 { scheduleTimeoutCheck(at: deadline) }
        }
        write(command, context: context)
        finishWrite(now: owed < immediateWriteBelow)
    }

    /// Queues a pipeline: all commands are written in one flush, replies are collected in order.
    func enqueue(
        pipeline commands: [RedisCommand],
        id: UInt64,
        continuation: PipelineContinuation,
        deadline: NIODeadline
    ) {
        guard case .active(let context) = state else {
            continuation.resume(throwing: rejection)
            return
        }
        if commands.isEmpty {
            continuation.resume(returning: [])
            return
        }
        let collector = PipelineCollector(count: commands.count, continuation: continuation)
        let wasEmpty = pending.isEmpty
        let owed = pending.count
        for (index, command) in commands.enumerated() {
            pending.append(
                Pending(id: id, receiver: .pipeline(collector, index: index), deadline: deadline, closeOnCancel: false)
            )
            write(command, context: context)
        }
        if wasEmpty { scheduleTimeoutCheck(at: deadline) }
        finishWrite(now: owed < immediateWriteBelow)
    }

    /// The error for a request made after the connection closed: the reason itself when retrying
    /// elsewhere cannot help (TLS, protocol), otherwise "not sent", which callers may retry.
    private var rejection: RedisClientError {
        if case .closed(let reason) = state, reason.code == .tlsFailure || reason.code == .protocolViolation {
            return reason
        }
        return RedisClientError(.connectionClosed, RedisClientError.notSentMessage)
    }

    /// The caller of request `id` gave up: fail its promise now and drop its reply when it comes.
    func cancel(id: UInt64) {
        var closeConnection = false
        for index in pending.indices where pending[index].id == id {
            pending[index].receiver.fail(RedisClientError(.cancelled, "the request was cancelled"))
            pending[index].receiver = .discarded
            closeConnection = closeConnection || pending[index].closeOnCancel
        }
        if closeConnection {
            close(with: RedisClientError(.cancelled, "a blocking request was cancelled"))
        }
    }

    /// Buffers a command; it is written at once when ``flushThreshold`` bytes have piled up (so
    /// the server starts on a large pipeline while its caller, often on this loop, builds the
    /// next), otherwise by ``finishWrite(now:)`` once the request is buffered.
    private func write(_ command: RedisCommand, context: ChannelHandlerContext) {
        var buffer =
            outbound.take()
            ?? context.channel.allocator.buffer(capacity: max(512, command.arguments.readableBytes + 16))
        command.write(into: &buffer)
        outbound = buffer
        if buffer.readableBytes >= Self.flushThreshold { flushOutbound() }
    }

    /// After a request is buffered: write it at once when few replies are owed
    /// (``immediateWriteBelow``), else at the end of the loop tick together with whatever else
    /// is submitted meanwhile.
    private func finishWrite(now: Bool) {
        guard outbound != nil else { return }
        if now {
            flushOutbound()
        } else if !flushScheduled {
            flushScheduled = true
            // Flush after the tasks already queued on the loop, so that commands submitted
            // together from many callers leave in one write.
            eventLoop.assumeIsolated().execute { self.flushOutbound() }
        }
    }

    /// Buffered commands are written at once from this size on, not at the end of the tick.
    static let flushThreshold = 8 * 1024

    private func flushOutbound() {
        flushScheduled = false
        guard case .active(let context) = state, let buffer = outbound else {
            outbound = nil
            return
        }
        outbound = nil
        context.writeAndFlush(NIOAny(buffer), promise: nil)
    }

    // MARK: Timeouts

    private func scheduleTimeoutCheck(at deadline: NIODeadline) {
        guard timeoutCheck == nil, deadline != .distantFuture else { return }
        timeoutCheck = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.timeoutCheck = nil
            self.checkTimeout()
        }
    }

    private func checkTimeout() {
        guard let head = pending.first else { return }
        if head.deadline <= .now() {
            close(with: RedisClientError(.timeout, "no reply from the server within the command timeout"))
        } else {
            scheduleTimeoutCheck(at: head.deadline)
        }
    }

    // MARK: Closing

    /// Fails every outstanding request with `error` and closes the channel.
    func close(with error: RedisClientError) {
        let context: ChannelHandlerContext?
        switch state {
        case .closed:
            return
        case .idle:
            context = nil
        case .active(let ctx):
            context = ctx
        }
        state = .closed(error)
        timeoutCheck?.cancel()
        timeoutCheck = nil
        outbound = nil
        let failed = pending
        pending.removeAll()
        for entry in failed {
            entry.receiver.fail(error)
        }
        onClose?(error)
        onClose = nil
        pushHandler = nil
        context?.close(promise: nil)
    }
}
