import Foundation
import Logging
import SwiftProtobuf

/// Publishes this server's ServerInfo and WorkerInfo every 5 s (and at start) with a 10 s TTL,
/// extends the leases of in-flight tasks whose in-memory lease is still valid, and ends the
/// attempt of those whose lease expired. Clears the server state when it stops (op 2.18).
final class Heartbeater: Sendable {
    static let interval: Duration = .seconds(5)
    /// Server-info TTL: twice the heartbeat interval.
    static let ttlSeconds = 10

    private let runtime: ServerRuntime
    private let logger: Logger
    private let status: @Sendable () -> String

    init(runtime: ServerRuntime, status: @escaping @Sendable () -> String) {
        self.runtime = runtime
        self.logger = runtime.logger(component: "heartbeater")
        self.status = status
    }

    func run(stop: ServerEvent) async {
        let started = runtime.now()
        repeat {
            await beat(started: started)
        } while !(await shouldStop(after: Self.interval, or: stop))
        do {
            try await runtime.broker.clearServerState(identity: runtime.identity)
        } catch {
            logger.error("Failed to clear server state", metadata: [LogKeys.error: "\(error)"])
        }
    }

    func beat(started: Date) async {
        let now = runtime.now()
        let identity = runtime.identity
        let workers = runtime.registry.workers
        var info = Asynq_ServerInfo()
        info.host = identity.host
        info.pid = Int32(clamping: identity.pid)
        info.serverID = identity.serverID
        info.concurrency = Int32(clamping: runtime.config.concurrency)
        info.queues = runtime.config.queues.mapValues { Int32(clamping: $0) }
        info.strictPriority = runtime.config.strictPriority
        info.status = status()
        info.startTime = Google_Protobuf_Timestamp(date: started)
        info.activeWorkerCount = Int32(clamping: workers.count)

        var workerInfos: [(taskID: String, info: Asynq_WorkerInfo)] = []
        var extensions: [String: [(id: String, lease: Lease)]] = [:]
        for worker in workers {
            var workerInfo = Asynq_WorkerInfo()
            workerInfo.host = identity.host
            workerInfo.pid = Int32(clamping: identity.pid)
            workerInfo.serverID = identity.serverID
            workerInfo.taskID = worker.message.id
            workerInfo.taskType = worker.message.type
            workerInfo.taskPayload = worker.message.payload
            workerInfo.queue = worker.message.queue
            workerInfo.startTime = Google_Protobuf_Timestamp(date: worker.started)
            workerInfo.deadline = Google_Protobuf_Timestamp(date: worker.deadline)
            workerInfos.append((worker.message.id, workerInfo))
            if worker.lease.isValid(at: now) {
                extensions[worker.message.queue, default: []].append((worker.message.id, worker.lease))
            } else {
                runtime.registry.signal(id: worker.message.id, .leaseExpired)
            }
        }

        do {
            try await runtime.broker.writeServerState(
                identity: identity,
                info: info,
                workers: workerInfos,
                ttlSeconds: Self.ttlSeconds,
                now: now
            )
        } catch {
            logger.error("Failed to write server state data", metadata: [LogKeys.error: "\(error)"])
        }

        let expiry = now.addingTimeInterval(TimeInterval(RedisBroker.leaseDuration))
        for (queue, entries) in extensions.sorted(by: { $0.key < $1.key }) {
            do {
                try await runtime.broker.extendLeases(queue: queue, ids: entries.map(\.id), expiry: expiry)
                for entry in entries { entry.lease.extend(to: expiry) }
            } catch {
                logger.error(
                    "Failed to extend lease for tasks",
                    metadata: [LogKeys.queue: "\(queue)", LogKeys.error: "\(error)"]
                )
            }
        }
    }
}
