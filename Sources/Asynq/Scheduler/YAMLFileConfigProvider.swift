import Foundation
import Yams

/// Reads periodic tasks from a YAML file, every time the manager syncs, so editing the file
/// changes the running entries without a restart.
///
/// ```yaml
/// tasks:
///   - cronspec: "*/5 * * * *"
///     task_type: email:digest
///     payload: '{"list":"daily"}'     # optional string, stored as its UTF-8 bytes
///     headers: { source: cron }       # optional string → string map
///     options:                        # all optional
///       queue: low
///       max_retry: 3
///       timeout: 30s                  # Go duration syntax: 30s, 1m30s, 1h, 500ms
///       unique: 1h
///       retention: 24h
///       process_in: 5m
///       task_id: x
///       group: g
///       deadline: 2026-01-01T00:00:00Z
/// ```
///
/// Unknown keys are errors (a misspelt `max_retries` would otherwise be silently ignored).
/// Every error is a ``PeriodicTaskConfigError`` naming the file, the entry (`tasks[2]`), the
/// field and the line and column. The cron spec itself is checked when the manager registers
/// the entry, so one bad spec does not stop the other entries.
public struct YAMLFileConfigProvider: PeriodicTaskConfigProvider {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public func configs() async throws -> [PeriodicTaskConfig] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw PeriodicTaskConfigError(source: path, message: "cannot read the file: \(error.localizedDescription)")
        }
        return try Self.parse(text, source: path)
    }

    /// Parses the YAML text of a config file; `source` names it in errors.
    public static func parse(
        _ text: String, source: String = "<yaml>"
    ) throws(PeriodicTaskConfigError) -> [PeriodicTaskConfig] {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw PeriodicTaskConfigError(yaml: error, source: source)
        }
        var parser = ConfigParser(source: source)
        return try parser.parse(root)
    }
}

/// Why a periodic task config could not be read.
public struct PeriodicTaskConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file (or the `source` given to ``YAMLFileConfigProvider/parse(_:source:)``).
    public var source: String
    /// The position of the entry in the `tasks` list, when the problem is inside one.
    public var entryIndex: Int?
    /// The path of the bad field inside the entry (`cronspec`, `options.timeout`, …).
    public var field: String?
    /// 1-based position of the problem in the text, when known.
    public var line: Int?
    public var column: Int?
    public var message: String

    public init(
        source: String, entryIndex: Int? = nil, field: String? = nil, line: Int? = nil, column: Int? = nil,
        message: String
    ) {
        self.source = source
        self.entryIndex = entryIndex
        self.field = field
        self.line = line
        self.column = column
        self.message = message
    }

    /// `tasks.yaml:7:14: tasks[1].options.timeout: invalid duration "30x" (…)`.
    public var description: String {
        var text = source
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        var location: [String] = []
        if let entryIndex { location.append("tasks[\(entryIndex)]") }
        if let field { location.append(field) }
        if !location.isEmpty { text += location.joined(separator: ".") + ": " }
        return text + message
    }

    init(yaml error: any Error, source: String) {
        switch error {
        case YamlError.scanner(let context, let problem, let mark, _),
            YamlError.parser(let context, let problem, let mark, _),
            YamlError.composer(let context, let problem, let mark, _):
            let detail = context.map { " (\($0.text))" } ?? ""
            self.init(
                source: source, line: mark.line, column: mark.column, message: "invalid YAML: \(problem)\(detail)")
        default:
            self.init(source: source, message: "invalid YAML: \(error)")
        }
    }
}

/// Turns the composed YAML tree into configs, with errors that point at the bad node.
private struct ConfigParser {
    let source: String
    var entryIndex: Int?

    init(source: String) {
        self.source = source
    }

    mutating func parse(_ root: Node?) throws(PeriodicTaskConfigError) -> [PeriodicTaskConfig] {
        guard let root, let mapping = root.mapping else {
            throw error(root, nil, "expected a mapping with a `tasks` list at the top")
        }
        var tasksNode: Node?
        for (key, value) in mapping {
            guard let name = key.string else { throw error(key, nil, "expected a string key") }
            guard name == "tasks" else { throw error(key, nil, "unknown key `\(name)` (expected `tasks`)") }
            tasksNode = value
        }
        guard let tasksNode else { throw error(root, nil, "missing the `tasks` list") }
        if isNull(tasksNode) { return [] }
        guard let sequence = tasksNode.sequence else { throw error(tasksNode, "tasks", "expected a list") }
        var configs: [PeriodicTaskConfig] = []
        for (index, item) in sequence.enumerated() {
            entryIndex = index
            configs.append(try entry(item))
        }
        return configs
    }

    private func entry(_ node: Node) throws(PeriodicTaskConfigError) -> PeriodicTaskConfig {
        guard let mapping = node.mapping else { throw error(node, nil, "expected a mapping") }
        var cronspec: String?
        var type: String?
        var payload: Data?
        var headers: [String: String] = [:]
        var options: [TaskOption] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw error(key, nil, "expected a string key") }
            switch name {
            case "cronspec": cronspec = try nonEmptyString(value, name)
            case "task_type": type = try nonEmptyString(value, name)
            case "payload":
                if !isNull(value) { payload = Data(try string(value, name).utf8) }
            case "headers": headers = try stringMap(value, name)
            case "options": options = try self.options(value)
            default:
                throw error(
                    key, name, "unknown key (expected cronspec, task_type, payload, headers or options)")
            }
        }
        guard let cronspec else { throw error(node, "cronspec", "missing (a cron spec such as \"*/5 * * * *\")") }
        guard let type else { throw error(node, "task_type", "missing") }
        return PeriodicTaskConfig(
            cronspec: cronspec, task: AsynqTask(type: type, payload: payload, headers: headers), options: options)
    }

    private func options(_ node: Node) throws(PeriodicTaskConfigError) -> [TaskOption] {
        if isNull(node) { return [] }
        guard let mapping = node.mapping else { throw error(node, "options", "expected a mapping") }
        var options: [TaskOption] = []
        for (key, value) in mapping {
            guard let name = key.string else { throw error(key, "options", "expected a string key") }
            let field = "options.\(name)"
            switch name {
            case "queue": options.append(.queue(try nonEmptyString(value, field)))
            case "max_retry":
                guard let count = value.int, value.scalar != nil else {
                    throw error(value, field, "expected an integer, got \(describe(value))")
                }
                options.append(.maxRetry(count))
            case "timeout": options.append(.timeout(try duration(value, field)))
            case "unique": options.append(.unique(ttl: try duration(value, field)))
            case "retention": options.append(.retention(try duration(value, field)))
            case "process_in": options.append(.processIn(try duration(value, field)))
            case "task_id": options.append(.taskID(try nonEmptyString(value, field)))
            case "group": options.append(.group(try nonEmptyString(value, field)))
            case "deadline":
                guard let date = value.timestamp else {
                    throw error(
                        value, field, "expected a timestamp such as 2026-01-01T00:00:00Z, got \(describe(value))")
                }
                options.append(.deadline(date))
            default:
                throw error(
                    key, field,
                    "unknown option (expected queue, max_retry, timeout, unique, retention, process_in, task_id, group or deadline)"
                )
            }
        }
        return options
    }

    private func string(_ node: Node, _ field: String) throws(PeriodicTaskConfigError) -> String {
        guard node.scalar != nil, let text = node.string else {
            throw error(node, field, "expected a string, got \(describe(node))")
        }
        return text
    }

    private func nonEmptyString(_ node: Node, _ field: String) throws(PeriodicTaskConfigError) -> String {
        let text = try string(node, field)
        guard !isNull(node), !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw error(node, field, "cannot be empty")
        }
        return text
    }

    private func stringMap(_ node: Node, _ field: String) throws(PeriodicTaskConfigError) -> [String: String] {
        if isNull(node) { return [:] }
        guard let mapping = node.mapping else { throw error(node, field, "expected a mapping") }
        var map: [String: String] = [:]
        for (key, value) in mapping {
            let name = try string(key, field)
            map[name] = try string(value, "\(field).\(name)")
        }
        return map
    }

    private func duration(_ node: Node, _ field: String) throws(PeriodicTaskConfigError) -> Duration {
        let text = try string(node, field)
        guard let duration = GoFormat.parseDuration(text) else {
            throw error(node, field, "invalid duration \(GoFormat.quote(text)) (use Go syntax such as 30s, 1m30s, 1h)")
        }
        return duration
    }

    /// A null scalar (`~`, `null`, nothing), not a quoted string.
    private func isNull(_ node: Node) -> Bool {
        node.tag.description == Tag.Name.null.rawValue
    }

    private func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar): GoFormat.quote(scalar.string)
        case .mapping: "a mapping"
        case .sequence: "a list"
        }
    }

    private func error(_ node: Node?, _ field: String?, _ message: String) -> PeriodicTaskConfigError {
        PeriodicTaskConfigError(
            source: source, entryIndex: entryIndex, field: field, line: node?.mark?.line, column: node?.mark?.column,
            message: message)
    }
}
