/// An error from the test support code: a server that would not start, a missing tool, a failed
/// system call. Its description carries the last lines the process printed, when there are any.
public struct TestSupportError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// The executable is not on `PATH`.
        case executableNotFound
        /// `posix_spawn` failed.
        case spawnFailed
        /// The process exited before it printed its readiness line.
        case exitedBeforeReady
        /// The process did not become ready in time; it was killed.
        case readinessTimeout
        /// The operation needs a running process and there is none.
        case notRunning
        /// A helper command (openssl, redis-cli) failed or timed out.
        case commandFailed
        /// A system call failed.
        case systemCall
    }

    public let kind: Kind
    public let message: String
    /// The last lines the process printed (empty when unrelated to a process).
    public let recentOutput: [String]

    public init(_ kind: Kind, _ message: String, recentOutput: [String] = []) {
        self.kind = kind
        self.message = message
        self.recentOutput = recentOutput
    }

    public var description: String {
        if recentOutput.isEmpty { return message }
        return message + "\n--- last output lines ---\n" + recentOutput.joined(separator: "\n")
    }
}
