import NIOCore
import NIOPosix
import Synchronization

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
        // NIO finds Swift's enqueue hook with dlsym, which fails in a binary linked with
        // `--static-swift-stdlib` (the symbol is not exported): the default executor stays.
        let installed = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        nioExecutorInstalled.store(installed, ordering: .relaxed)
        return installed
    }

    private static let nioExecutorInstalled = Atomic<Bool>(false)

    /// What `installExecutor` chose in this process (for reports).
    package static func executorDescription(environment: [String: String]) -> String {
        if nioExecutorInstalled.load(ordering: .relaxed) {
            return "SwiftNIO's event loops (ASYNQ_GLOBAL_EXECUTOR=dispatch to change)"
        }
        return environment[executorVariable] == "dispatch"
            ? "Swift's default executor (ASYNQ_GLOBAL_EXECUTOR=dispatch)"
            : "Swift's default executor (SwiftNIO's could not be installed: a statically linked binary?)"
    }
}
