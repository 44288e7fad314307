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
    typealias InboundIn = RESPToken

    /// Collects the replies of one pipeline and completes its promise when the last arrives.
    final class PipelineCollector {
        var results: [Result<RESPToken, RedisClientError>]
        var remaining: Int
        var promise: EventLoopPromise<[Result<RESPToken, RedisClientError>]>?

        init(count: Int, promise: EventLoopPromise<[Result<RESPToken, RedisClientError>]>) {
            self.results = Array(repeating: .failure(RedisClientError(.connectionClosed, "no reply")), count: count)
            self.remaining = count
            self.promise = promise
        }

        func complete(index: Int, with result: Result<RESPToken, RedisClientError>) {
            results[index] = result
            remaining -= 1
            if remaining == 0, let promise {
                self.promise = nil
                promise.succeed(results)
            }
        }

        func fail(_ error: RedisClientError) {
            if let promise {
                self.promise = nil
                promise.fail(error)
            }
        }
    }

    enum Receiver {
        case single(EventLoopPromise<RESPToken>)
        case pipeline(PipelineCollector, index: Int)
        /// The caller gave up; the reply is read and dropped.
        case discarded
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
    private var timeoutCheck: Scheduled<Void>?
    private let eventLoop: any EventLoop

    /// Receives RESP3 push messages, and in `subscriberMode` RESP2 pub/sub arrays too.
    var pushHandler: ((RESPToken) -> Void)?
    /// Set on a RESP2 connection that has subscribed: every reply is then a pub/sub message.
    var subscriberMode = false
    /// Called once when the connection closes, with the reason.
    var onClose: ((RedisClientError) -> Void)?

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
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
        let token = unwrapInboundIn(data)
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
        case .single(let promise):
            promise.succeed(token)
        case .pipeline(let collector, let index):
            collector.complete(index: index, with: .success(token))
        case .discarded:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
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
            let error = rejection
            if case .single(let promise) = receiver { promise.fail(error) }
            if case .pipeline(let collector, _) = receiver { collector.fail(error) }
            return
        }
        if let receiver {
            pending.append(Pending(id: id, receiver: receiver, deadline: deadline, closeOnCancel: closeOnCancel))
            if pending.count == 1 { scheduleTimeoutCheck(at: deadline) }
        }
        write(command, context: context)
    }

    /// Queues a pipeline: all commands are written in one flush, replies are collected in order.
    func enqueue(
        pipeline commands: [RedisCommand],
        id: UInt64,
        promise: EventLoopPromise<[Result<RESPToken, RedisClientError>]>,
        deadline: NIODeadline
    ) {
        guard case .active(let context) = state else {
            promise.fail(rejection)
            return
        }
        if commands.isEmpty {
            promise.succeed([])
            return
        }
        let collector = PipelineCollector(count: commands.count, promise: promise)
        let wasEmpty = pending.isEmpty
        for (index, command) in commands.enumerated() {
            pending.append(
                Pending(id: id, receiver: .pipeline(collector, index: index), deadline: deadline, closeOnCancel: false)
            )
            write(command, context: context)
        }
        if wasEmpty { scheduleTimeoutCheck(at: deadline) }
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
            switch pending[index].receiver {
            case .single(let promise):
                promise.fail(RedisClientError(.cancelled, "the request was cancelled"))
            case .pipeline(let collector, _):
                collector.fail(RedisClientError(.cancelled, "the request was cancelled"))
            case .discarded:
                break
            }
            pending[index].receiver = .discarded
            closeConnection = closeConnection || pending[index].closeOnCancel
        }
        if closeConnection {
            close(with: RedisClientError(.cancelled, "a blocking request was cancelled"))
        }
    }

    private func write(_ command: RedisCommand, context: ChannelHandlerContext) {
        var buffer =
            outbound.take()
            ?? context.channel.allocator.buffer(capacity: max(512, command.arguments.readableBytes + 16))
        command.write(into: &buffer)
        outbound = buffer
        if !flushScheduled {
            flushScheduled = true
            // Flush after the tasks already queued on the loop, so that commands submitted
            // together from many callers leave in one write.
            eventLoop.assumeIsolated().execute { self.flushOutbound() }
        }
    }

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
            switch entry.receiver {
            case .single(let promise): promise.fail(error)
            case .pipeline(let collector, _): collector.fail(error)
            case .discarded: break
            }
        }
        onClose?(error)
        onClose = nil
        pushHandler = nil
        context?.close(promise: nil)
    }
}
