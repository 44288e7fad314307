import Foundation
import Logging
import Synchronization

/// With a ``GroupAggregator`` configured: every `min(7 s, groupGracePeriod)` checks every group
/// of every configured queue (size, max delay, grace period), and for each group that is
/// ready reads the batch, asks the aggregator for one task, enqueues it in the group's queue
/// and deletes the batch. At most 3 runs are in flight; a failed run leaves its batch, which
/// the recoverer returns to the group after two minutes.
final class Aggregator: Sendable {
    static let maxConcurrentRuns = 3

    private let runtime: ServerRuntime
    private let aggregator: any GroupAggregator
    private let client: AsynqClient
    private let logger: Logger
    private let running = Mutex(0)

    init(runtime: ServerRuntime, aggregator: any GroupAggregator) {
        self.runtime = runtime
        self.aggregator = aggregator
        self.logger = runtime.logger(component: "aggregator")
        self.client = AsynqClient(
            redis: runtime.broker.redis,
            ownsConnection: false,
            logger: runtime.logger,
            now: runtime.config.now
        )
    }

    var interval: Duration { min(.seconds(7), runtime.config.groupGracePeriod) }

    func run(stop: ServerEvent) async {
        await withDiscardingTaskGroup { group in
            while !(await shouldStop(after: interval, or: stop)) {
                let tick = runtime.now()
                let admitted = running.withLock { running -> Bool in
                    guard running < Self.maxConcurrentRuns else { return false }
                    running += 1
                    return true
                }
                guard admitted else {
                    logger.warning("Max number of aggregation checks in flight. Skipping")
                    continue
                }
                group.addTask {
                    await self.aggregate(at: tick)
                    self.running.withLock { $0 -= 1 }
                }
            }
        }
    }

    func aggregate(at tick: Date) async {
        for queue in runtime.queueNames {
            let groups: [String]
            do {
                groups = try await runtime.broker.groupNames(queue: queue)
            } catch {
                logger.error("Failed to list groups", metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"])
                continue
            }
            for group in groups {
                await aggregate(queue: queue, group: group, tick: tick)
            }
        }
    }

    private func aggregate(queue: String, group: String, tick: Date) async {
        let metadata: Logger.Metadata = [LogKeys.queue: "\(queue)", LogKeys.group: "\(group)"]
        let setID = UUID().uuidString.lowercased()
        let config = runtime.config
        do {
            let ready = try await runtime.broker.checkAggregation(
                queue: queue,
                group: group,
                setID: setID,
                tick: tick,
                gracePeriod: config.groupGracePeriod,
                maxDelay: config.groupMaxDelay,
                maxSize: config.groupMaxSize,
                now: runtime.now()
            )
            guard ready else { return }
            let (messages, deadline) = try await runtime.broker.readAggregationSet(
                queue: queue,
                group: group,
                setID: setID
            )
            let tasks = messages.map { AsynqTask(type: $0.type, payload: $0.payload, headers: $0.headers) }
            let aggregated = try await aggregator.aggregate(group: group, tasks: tasks)
            guard runtime.now() < deadline else {
                logger.error("aggregation deadline passed before the aggregated task was enqueued", metadata: metadata)
                return
            }
            try await client.enqueue(aggregated, .queue(queue))
            try await runtime.broker.deleteAggregationSet(queue: queue, group: group, setID: setID)
            logger.debug("aggregated \(tasks.count) tasks", metadata: metadata)
        } catch {
            var metadata = metadata
            metadata[LogKeys.error] = "\(error)"
            logger.error("Failed to aggregate a group; its tasks return to the group later", metadata: metadata)
        }
    }
}
