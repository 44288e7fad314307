package import ArgumentParser
import Foundation

/// `asynq`: the Go CLI's command tree (with `dash`, alias `monitor`) plus `client`,
/// `server run`/`worker` and `dev`.
package struct AsynqCommand: AsyncParsableCommand {
    package static let version = "0.26.0"

    package static let configuration = CommandConfiguration(
        commandName: "asynq",
        abstract: "Command line tool to inspect tasks and queues managed by Asynq",
        discussion: """
            Examples:
              $ asynq stats
              $ asynq queue pause myqueue
              $ asynq task list --queue=myqueue --state=archived
              $ asynq client enqueue --type email:deliver --payload '{"to":"a@example.com"}'
              $ asynq server run --handle 'email:=./deliver.sh'
              $ asynq dev
              $ asynq dash

            Use 'asynq <command> <subcommand> --help' for more information about a command.
            """,
        version: "asynq version \(AsynqCommand.version)",
        subcommands: [
            StatsCommand.self,
            QueueCommand.self,
            TaskCommand.self,
            GroupCommand.self,
            CronCommand.self,
            ServerCommand.self,
            WorkerCommand.self,
            ClientCommand.self,
            DevCommand.self,
            DashCommand.self,
            BenchCommand.self,
            BenchWorkerCommand.self,
            VersionCommand.self,
        ]
    )

    package init() {}
}

/// `asynq version` (hidden, as in Go).
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version",
        shouldDisplay: false
    )

    func run() async throws {
        Console.current.print("asynq version \(AsynqCommand.version)")
    }
}

/// Parses and runs one command line, with output through `Console.current`.
package enum AsynqCLI {
    /// Runs `arguments` (without the program name) and returns the exit status: 0 on success,
    /// 1 on any error (after one line on standard error), or what the command chose.
    package static func run(_ arguments: [String]) async -> Int32 {
        let console = Console.current
        let prepared: PreparedArguments
        do {
            prepared = try PreparedArguments(arguments)
        } catch {
            console.printError("Error: \(CLIFormat.describe(error))")
            return 1
        }
        let command: any ParsableCommand
        do {
            command = try AsynqCommand.parseAsRoot(prepared.arguments)
        } catch {
            if AsynqCommand.exitCode(for: error) == .success {
                console.write(terminated(AsynqCommand.fullMessage(for: error)))
                return 0
            }
            let message =
                AsynqCommand.message(for: error)
                .split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            console.printError("Error: \(message) (see '\(prepared.commandPath) --help')")
            return 1
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
            return 0
        } catch let exit as CLIExit {
            return exit.code
        } catch let error as CLIError {
            console.printError(error.message)
            return error.exitCode
        } catch let exit as ExitCode {
            return exit.rawValue
        } catch {
            if AsynqCommand.exitCode(for: error) == .success {
                console.write(terminated(AsynqCommand.fullMessage(for: error)))
                return 0
            }
            console.printError(CLIFormat.describe(error))
            return 1
        }
    }

    private static func terminated(_ text: String) -> String {
        text.isEmpty || text.hasSuffix("\n") ? text : text + "\n"
    }
}

/// Moves global flags written before the subcommand (`asynq -u h:p queue ls`) behind it, where
/// the leaf command parses them, and reports an unknown subcommand in Go's words.
package struct PreparedArguments {
    package var arguments: [String]
    /// `asynq queue ls`: the command named by the arguments, for hints.
    package var commandPath: String

    package init(_ input: [String]) throws {
        var path: [String] = []
        var globals: [String] = []
        var node: any ParsableCommand.Type = AsynqCommand.self
        var index = 0
        while index < input.count {
            let argument = input[index]
            let subcommands = node.configuration.subcommands
            if subcommands.isEmpty || argument == "--" { break }
            let name = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            if GlobalOptions.valueOptionNames.contains(name) {
                globals.append(argument)
                if !argument.contains("="), index + 1 < input.count {
                    globals.append(input[index + 1])
                    index += 1
                }
                index += 1
                continue
            }
            if GlobalOptions.flagNames.contains(argument) {
                globals.append(argument)
                index += 1
                continue
            }
            if argument.hasPrefix("-") || argument == "help" { break }
            if let next = subcommands.first(where: { Self.names(of: $0).contains(argument) }) {
                path.append(argument)
                node = next
                index += 1
                continue
            }
            let commandPath = (["asynq"] + path).joined(separator: " ")
            var message =
                "unknown command \(CLIFormat.quote(argument)) for \(CLIFormat.quote(commandPath))"
            let suggestions = subcommands.filter { $0.configuration.shouldDisplay }
                .flatMap { Self.names(of: $0) }
                .filter { Self.isSuggestion($0, for: argument) }
            if !suggestions.isEmpty {
                message +=
                    " (did you mean \(suggestions.map { CLIFormat.quote($0) }.joined(separator: " or "))?)"
            }
            throw CLIError(message)
        }
        arguments = path + globals + Array(input[index...])
        commandPath = (["asynq"] + path).joined(separator: " ")
    }

    static func names(of command: any ParsableCommand.Type) -> [String] {
        (command.configuration.commandName.map { [$0] } ?? []) + command.configuration.aliases
    }

    /// Cobra's suggestions: a prefix, or a Levenshtein distance of at most 2.
    static func isSuggestion(_ name: String, for typed: String) -> Bool {
        name.hasPrefix(typed) || distance(Array(name.lowercased()), Array(typed.lowercased())) <= 2
    }

    private static func distance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            }
            previous = current
        }
        return previous[b.count]
    }
}
