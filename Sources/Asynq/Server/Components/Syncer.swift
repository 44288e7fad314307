import AsynqRedis
import Foundation
import Logging
import Synchronization

/// Retries outcome writes that failed (Redis unreachable, timeout) until their deadline (the
/// task's lease expiry) passes; after that the recoverer owns the task. At shutdown every
/// remaining write is tried once more, whatever its deadline.
final class Syncer: Sendable {
    struct Request: Sendable {
        var call: RedisScriptCall
        var deadline: Date
        /// For logs: what the write was (`done`, `retry`, …) and for which task.
        var summary: String
    }

    static let interval: Duration = .seconds(5)

    private let requests = Mutex<[Request]>([])
    private let broker: RedisBroker
    private let logger: Logger
    private let now: @Sendable () -> Date

    init(broker: RedisBroker, logger: Logger, now: @escaping @Sendable () -> Date) {
        self.broker = broker
        var logger = logger
        logger[metadataKey: LogKeys.component] = "syncer"
        self.logger = logger
        self.now = now
    }

    var pendingCount: Int { requests.withLock { $0.count } }

    func add(_ request: Request) {
        requests.withLock { $0.append(request) }
    }

    func run(stop: ServerEvent) async {
        while !(await shouldStop(after: Self.interval, or: stop)) {
            await sync(final: false)
        }
        await sync(final: true)
    }

    private func sync(final: Bool) async {
        let pending = requests.withLock { requests -> [Request] in
            defer { requests = [] }
            return requests
        }
        guard !pending.isEmpty else { return }
        var remaining: [Request] = []
        let now = self.now()
        for request in pending {
            if !final && request.deadline < now {
                logger.warning("dropping a write whose deadline passed: \(request.summary)")
                continue
            }
            do {
                try await broker.run(request.call)
            } catch  where error.code == .taskNotFound {
                // The first attempt did reach Redis after all, or the task moved on.
                logger.debug("write no longer applies: \(request.summary)")
            } catch {
                if final {
                    logger.error(
                        "could not write \(request.summary) before shutdown",
                        metadata: [LogKeys.error: "\(error)"]
                    )
                } else {
                    remaining.append(request)
                }
            }
        }
        if !remaining.isEmpty {
            requests.withLock { $0.insert(contentsOf: remaining, at: 0) }
        }
    }
}
