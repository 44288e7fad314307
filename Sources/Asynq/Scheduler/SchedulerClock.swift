package import Foundation

/// The wall clock the scheduler reads and waits on. Cron schedules are defined on wall-clock
/// time, so the scheduler waits for instants (`Date`), not durations.
///
/// Tests inject a manual clock: its `now` moves only when the test advances it, and advancing
/// it resumes the sleepers whose instant has come, so a test drives hundreds of occurrences
/// without waiting in real time.
package protocol SchedulerClock: Sendable {
    /// The current wall-clock time.
    var now: Date { get }

    /// Returns once `now` has reached `deadline` (at once when it already has). Throws
    /// `CancellationError` when the calling task is cancelled first.
    func sleep(until deadline: Date) async throws
}

/// The system wall clock. It sleeps on the continuous clock and checks the wall clock again on
/// waking, so a wall clock that was set back makes it sleep again rather than fire early.
package struct SystemSchedulerClock: SchedulerClock {
    package init() {}

    package var now: Date { Date() }

    package func sleep(until deadline: Date) async throws {
        while true {
            let remaining = deadline.timeIntervalSinceNow
            if remaining <= 0 { return }
            try await Task.sleep(for: .seconds(remaining), tolerance: .milliseconds(50))
        }
    }
}

extension SchedulerClock {
    /// Sleeps until `deadline`; false when `stop` fired or the task was cancelled first.
    func sleep(until deadline: Date, unless stop: ServerEvent) async -> Bool {
        if stop.isFired { return false }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await self.sleep(until: deadline)
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                await stop.wait()
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first && !stop.isFired && !Task.isCancelled
        }
    }
}
