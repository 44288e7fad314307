import Logging

/// Every `janitorInterval` deletes completed tasks whose retention ended, `janitorBatchSize`
/// per script call, until none is left.
final class Janitor: Sendable {
    private let runtime: ServerRuntime
    private let logger: Logger

    init(runtime: ServerRuntime) {
        self.runtime = runtime
        self.logger = runtime.logger(component: "janitor")
    }

    func run(stop: ServerEvent) async {
        while !(await shouldStop(after: runtime.config.janitorInterval, or: stop)) {
            await clean()
        }
    }

    func clean() async {
        let now = runtime.now()
        let batchSize = runtime.config.janitorBatchSize
        for queue in runtime.queueNames {
            do {
                while try await runtime.broker.deleteExpiredCompleted(queue: queue, now: now, batchSize: batchSize)
                    >= batchSize
                {}
            } catch {
                logger.error(
                    "Failed to delete expired completed tasks",
                    metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"]
                )
            }
        }
    }
}
