import Foundation
import Logging
import SwiftProtobuf
import Synchronization

/// Publishes this server's ServerInfo and WorkerInfo every 5 s (and at start) with a TTL of
/// twice that (10 s), extends the leases of in-flight tasks whose in-memory lease is still
/// valid, and ends the attempt of those whose lease expired. Clears the server state when it
/// stops (op 2.18).
final class Heartbeater: Sendable {
    private let runtime: ServerRuntime
    private let logger: Logger
    private let status: @Sendable () -> String
    /// Go: 5 s.
    private let interval: Duration
    /// Server and worker keys live for two intervals (Go: 10 s), whole seconds.
    let ttlSeconds: Int

    init(runtime: ServerRuntime, status: @escaping @Sendable () -> String) {
        self.runtime = runtime
        self.logger = runtime.logger(component: "heartbeater")
        self.status = status
        self.interval = runtime.config.heartbeatInterval
        self.ttlSeconds = max(1, Int((runtime.config.heartbeatInterval * 2).components.seconds))
    }

    func run(stop: ServerEvent) async {
        let started = runtime.now()
        let requests = runtime.beatRequests
        repeat {
            let requesters = requests.takeWaiting()
            await beat(started: started)
            for requester in requesters { requester.resume() }
        } while !(await waitForNextBeat(stop: stop))
        do {
            try await runtime.broker.clearServerState(identity: runtime.identity)
        } catch {
            logger.error("Failed to clear server state", metadata: [LogKeys.error: "\(error)"])
        }
        requests.close()
    }

    /// Waits one interval, or less when a beat is requested; true when it is time to stop.
    private func waitForNextBeat(stop: ServerEvent) async -> Bool {
        if stop.isFired { return true }
        let requests = runtime.beatRequests
        let interval = self.interval
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await stop.wait() }
            group.addTask { await requests.wake.wait(timeout: interval) }
            await group.next()
            group.cancelAll()
        }
        return stop.isFired || Task.isCancelled
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
                ttlSeconds: ttlSeconds,
                now: now
            )
        } catch {
            logger.error("Failed to write server state data", metadata: [LogKeys.error: "\(error)"])
        }

        let expiry = now.addingTimeInterval(TimeInterval(runtime.leaseSeconds))
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

/// Heartbeats asked for out of turn: ``request()`` returns once a beat that began after the
/// call was written (or at once when the heartbeater has stopped).
final class BeatRequests: Sendable {
    private struct State {
        var waiting: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }

    private let state = Mutex(State())
    /// Wakes the heartbeater's wait between beats.
    let wake = WakeSignal()

    init() {}

    func request() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let closed = state.withLock { state -> Bool in
                if state.closed { return true }
                state.waiting.append(continuation)
                return false
            }
            if closed { continuation.resume() } else { wake.signal() }
        }
    }

    /// The requests a beat starting now answers.
    func takeWaiting() -> [CheckedContinuation<Void, Never>] {
        state.withLock { state in
            defer { state.waiting = [] }
            return state.waiting
        }
    }

    /// The heartbeater stopped: answers every request, now and later.
    func close() {
        let waiting = state.withLock { state in
            state.closed = true
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting { continuation.resume() }
    }
}
