/// An error a command reports as one line on standard error, ending the process with `exitCode`.
package struct CLIError: Error, CustomStringConvertible, Sendable {
    package var message: String
    package var exitCode: Int32

    package init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    package var description: String { message }
}

/// Ends a command with a status but prints nothing more (the command already said why).
package struct CLIExit: Error, Sendable {
    package var code: Int32

    package init(_ code: Int32) {
        self.code = code
    }
}

extension CLIExit {
    /// Ends with status 1 when any of the per-argument results failed. Go's CLI prints such an
    /// error on standard output and exits 0; we print it on standard error (as it happens) and
    /// exit 1, so scripts notice a misspelt queue.
    package static func failIfAny<Success, Failure>(_ results: [Result<Success, Failure>]) throws {
        let failed = results.contains {
            if case .failure = $0 { true } else { false }
        }
        if failed { throw CLIExit(1) }
    }
}
