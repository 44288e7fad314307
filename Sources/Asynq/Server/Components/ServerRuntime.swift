import Foundation
import Logging

/// What the components of one server share.
struct ServerRuntime: Sendable {
    let broker: RedisBroker
    /// The normalised configuration.
    let config: AsynqServer.Configuration
    let identity: ServerIdentity
    let logger: Logger
    let registry: WorkerRegistry
    let metrics: ServerMetrics
    let ackWriter: AckWriter
    let syncer: Syncer
    /// Wakes the idle fetch loop (task notifications, stop).
    let wake: WakeSignal
    let slots: WorkerSlots
    /// The configured queue names, sorted (every periodic component walks these, not
    /// `asynq:queues`).
    let queueNames: [String]
    /// Heartbeats asked for out of turn (``AsynqServer/heartbeatNow()``).
    let beatRequests: BeatRequests

    init(broker: RedisBroker, config: AsynqServer.Configuration, identity: ServerIdentity) {
        self.broker = broker
        self.config = config
        self.identity = identity
        var logger = config.logger
        logger[metadataKey: LogKeys.serverID] = "\(identity.serverID)"
        self.logger = logger
        metrics = ServerMetrics()
        registry = WorkerRegistry(metrics: metrics)
        ackWriter = AckWriter(broker: broker, logger: logger)
        syncer = Syncer(broker: broker, logger: logger, now: config.now)
        wake = WakeSignal()
        slots = WorkerSlots(capacity: config.concurrency)
        queueNames = config.queues.keys.sorted()
        beatRequests = BeatRequests()
    }

    func now() -> Date { config.now() }

    /// The lease of a dequeued task, whole seconds (Go: 30).
    var leaseSeconds: Int64 { config.leaseDuration.components.seconds }

    func logger(component: String) -> Logger {
        var logger = self.logger
        logger[metadataKey: LogKeys.component] = "\(component)"
        return logger
    }
}

/// Sleeps until `stop` fires or `interval` passes; returns true when it is time to stop (also
/// when the current task is cancelled).
func shouldStop(after interval: Duration, or stop: ServerEvent) async -> Bool {
    let stopped = await stop.wait(timeout: interval)
    return stopped || Task.isCancelled
}
