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
