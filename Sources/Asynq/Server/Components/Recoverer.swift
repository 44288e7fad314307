import AsynqRedis
import Foundation
import Logging

/// Every minute (and at start): tasks whose lease expired at least 30 s ago — their worker
/// crashed or lost Redis — are retried (or archived when out of retries) with the error
/// `asynq: task lease expired`; stale aggregation sets go back to their groups.
final class Recoverer: Sendable {
    private let runtime: ServerRuntime
    private let logger: Logger

    init(runtime: ServerRuntime) {
        self.runtime = runtime
        self.logger = runtime.logger(component: "recoverer")
    }

    func run(stop: ServerEvent) async {
        repeat {
            await recover()
        } while !(await shouldStop(after: runtime.config.recoveryInterval, or: stop))
    }

    func recover() async {
        let now = runtime.now()
        for queue in runtime.queueNames {
            do {
                let messages = try await runtime.broker.listLeaseExpired(
                    queue: queue,
                    cutoff: now.addingTimeInterval(-runtime.config.leaseExpiryGrace.timeInterval)
                )
                for message in messages { await recover(message, now: now) }
            } catch {
                logger.warning(
                    "recoverer: could not list lease expired tasks",
                    metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"]
                )
            }
            do {
                try await runtime.broker.reclaimStaleAggregationSets(queue: queue, now: now)
            } catch {
                logger.warning(
                    "recoverer: could not reclaim stale aggregation sets",
                    metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"]
                )
            }
        }
    }

    private func recover(_ message: TaskMessage, now: Date) async {
        let error = AsynqError.leaseExpired
        let call: RedisScriptCall
        do {
            if message.retried >= message.retry {
                call = try runtime.broker.archiveCall(message, errorMessage: error.message, now: now)
            } else {
                let task = AsynqTask(type: message.type, payload: message.payload, headers: message.headers)
                let delay = Processor.clamp(runtime.config.retryDelay(Int(message.retried), error, task))
                call = try runtime.broker.retryCall(
                    message,
                    retryAt: now.addingTimeInterval(delay.timeInterval),
                    errorMessage: error.message,
                    isFailure: runtime.config.isFailure(error),
                    now: now
                )
            }
            try await runtime.broker.run(call)
            logger.info(
                "recovered a task whose lease expired",
                metadata: [LogKeys.taskID: "\(message.id)", LogKeys.queue: "\(message.queue)"]
            )
        } catch {
            logger.warning(
                "recoverer: could not recover a lease-expired task",
                metadata: [
                    LogKeys.taskID: "\(message.id)", LogKeys.queue: "\(message.queue)", LogKeys.error: "\(error)",
                ]
            )
        }
    }
}
