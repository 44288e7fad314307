import AsynqRedis
import Logging

/// One subscription per server carrying two kinds of messages:
///
/// * `asynq:cancel` — a task ID; if that task is running here, its handler is cancelled and
///   the task fails with `context canceled` (op 2.19);
/// * `asynq:{q}:notify` for every configured queue — published by Swift clients (and the
///   forwarder) when a pending list stops being empty; wakes the idle fetch loop.
///
/// The subscription is re-established after connection losses (and the fetch loop is woken
/// once then, since notifications sent meanwhile are lost); if subscribing fails it is retried
/// every 5 s.
final class Subscriber: Sendable {
    static let retryInterval: Duration = .seconds(5)

    private let runtime: ServerRuntime
    private let logger: Logger
    /// Fired the first time the subscription is confirmed.
    let subscribed = ServerEvent()

    init(runtime: ServerRuntime) {
        self.runtime = runtime
        self.logger = runtime.logger(component: "subscriber")
    }

    func run(stop: ServerEvent) async {
        let channels = [RedisKeys.cancelChannel] + runtime.queueNames.map(RedisKeys.notifyChannel)
        while !stop.isFired && !Task.isCancelled {
            do {
                try await runtime.broker.redis.withSubscription(channels: channels) { subscription in
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            do {
                                for try await event in subscription { self.handle(event) }
                            } catch {
                                self.logger.warning("subscription ended", metadata: [LogKeys.error: "\(error)"])
                            }
                        }
                        group.addTask { await stop.wait() }
                        await group.next()
                        group.cancelAll()
                    }
                }
            } catch {
                logger.error("Failed to subscribe to channels", metadata: [LogKeys.error: "\(error)"])
            }
            if await shouldStop(after: Self.retryInterval, or: stop) { break }
        }
    }

    private func handle(_ event: RedisSubscription.Event) {
        switch event {
        case .ready:
            subscribed.fire()
            runtime.wake.signal()
        case .message(let message) where message.channel == RedisKeys.cancelChannel:
            let id = message.payloadString
            if runtime.registry.signal(id: id, .cancelRequested) {
                logger.info("cancelling a running task on request", metadata: [LogKeys.taskID: "\(id)"])
            }
        case .message:
            runtime.wake.signal()
        }
    }
}
