import Asynq
import AsynqRedis
import Foundation
import Logging
import Synchronization

/// The scheduler steps of a scenario, performed by the real `AsynqScheduler`.
///
/// The scheduler runs on a manual clock that each step moves to the scenario clock's time, and
/// the step returns once the scheduler's loops are parked again: the entry fires (enqueue plus
/// enqueue event) or the heartbeat writes when the scenario's time reaches theirs, exactly as
/// with a wall clock. It runs with replica coordination disabled, i.e. exactly as Go's
/// scheduler: no coordination record, `@every` counted from the start.
final class SchedulerScenarioDriver: Sendable {
    let redis: RedisClient
    let clock: ScenarioClock
    private let running = Mutex<Running?>(nil)

    private struct Running: Sendable {
        var scheduler: AsynqScheduler
        var clock: ManualSchedulerClock
        var entryIDs: [String]
        /// The scheduler's `run()`; a driver step cannot scope it, the scenario's steps do.
        var task: Task<Void, any Error>
        /// Heartbeat plus one loop per entry.
        var loops: Int
    }

    init(redis: RedisClient, clock: ScenarioClock) {
        self.redis = redis
        self.clock = clock
    }

    deinit {
        // A scenario that failed before `stopScheduler`: abort the scheduler.
        running.withLock { $0?.task.cancel() }
    }

    // MARK: Scheduler

    func start(entries: [SchedulerEntrySpec], heartbeatInterval: Duration) async throws {
        let schedulerClock = ManualSchedulerClock(now: clock.now)
        let scheduler = try AsynqScheduler(
            redis: redis,
            configuration: .init(
                heartbeatInterval: heartbeatInterval, timeZone: .gmt, replicaCoordination: .disabled,
                logger: Logger(label: "compat.scheduler") { _ in SwiftLogNoOpLogHandler() }),
            clock: schedulerClock)
        let ids = try entries.map { try scheduler.register($0.spec, task: $0.task, options: $0.options) }
        let task = Task { try await scheduler.run() }
        let state = Running(
            scheduler: scheduler, clock: schedulerClock, entryIDs: ids, task: task, loops: 1 + entries.count)
        running.withLock { $0 = state }
        try await state.clock.waitForSleepers(state.loops)
    }

    func fireEntry(_ index: Int) async throws {
        let state = try current()
        guard state.entryIDs.indices.contains(index) else { throw ScenarioError("no scheduler entry \(index)") }
        try await catchUp(state)
        let entry = state.scheduler.entries.first { $0.id == state.entryIDs[index] }
        guard let prev = entry?.prev, prev <= clock.now else {
            throw ScenarioError("scheduler entry \(index) has not fired by \(clock.now)")
        }
    }

    func heartbeat() async throws {
        try await catchUp(try current())
    }

    func stop() async throws {
        let state = try current()
        try await catchUp(state)
        await state.scheduler.shutdown()
        try await state.task.value
        running.withLock { $0 = nil }
    }

    private func current() throws -> Running {
        guard let state = running.withLock({ $0 }) else { throw ScenarioError("the scheduler is not running") }
        return state
    }

    /// Moves the scheduler's clock to the scenario's time and waits for what became due.
    private func catchUp(_ state: Running) async throws {
        state.clock.advance(to: clock.now)
        try await state.clock.waitForSleepers(state.loops)
    }
}
