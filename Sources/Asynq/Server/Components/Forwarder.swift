import Logging

/// Every `delayedTaskCheckInterval` moves due scheduled and retry tasks to pending (or to their
/// group), 100 per script call, until none is due.
final class Forwarder: Sendable {
    private let runtime: ServerRuntime
    private let logger: Logger

    init(runtime: ServerRuntime) {
        self.runtime = runtime
        self.logger = runtime.logger(component: "forwarder")
    }

    func run(stop: ServerEvent) async {
        while !(await shouldStop(after: runtime.config.delayedTaskCheckInterval, or: stop)) {
            await forward()
        }
    }

    func forward() async {
        let now = runtime.now()
        for queue in runtime.queueNames {
            for source in [RedisKeys.scheduled(queue), RedisKeys.retry(queue)] {
                do {
                    while try await runtime.broker.forward(from: source, queue: queue, now: now) >= 100 {}
                } catch {
                    logger.error(
                        "Failed to forward scheduled tasks",
                        metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"]
                    )
                }
            }
        }
    }
}
