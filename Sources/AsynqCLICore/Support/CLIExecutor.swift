import NIOCore
import NIOPosix

extension AsynqCLI {
    /// The variable that chooses the executor of Swift concurrency: `dispatch` keeps the
    /// default (libdispatch's cooperative pool); anything else, or unset, means NIO.
    package static let executorVariable = "ASYNQ_GLOBAL_EXECUTOR"

    /// Runs Swift concurrency's global executor on SwiftNIO's singleton event loops, unless
    /// `ASYNQ_GLOBAL_EXECUTOR=dispatch`. A task awaiting Redis then resumes on the event loop
    /// thread that read the reply instead of waking a thread of the cooperative pool: a worker
    /// spends about half the CPU per task (`docs/PERFORMANCE.md`, "asynq workloads"). Call it
    /// once, first thing in `main`, before any task starts. Returns whether NIO runs the tasks.
    @discardableResult
    package static func installExecutor(environment: [String: String]) -> Bool {
        guard environment[executorVariable] != "dispatch" else { return false }
        return NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// What `installExecutor` chose in this process (for reports).
    package static func executorDescription(environment: [String: String]) -> String {
        environment[executorVariable] == "dispatch"
            ? "Swift's default executor (ASYNQ_GLOBAL_EXECUTOR=dispatch)"
            : "SwiftNIO's event loops (ASYNQ_GLOBAL_EXECUTOR=dispatch to change)"
    }
}
