/// Why a cron spec was rejected.
///
/// `message` keeps the wording of robfig/cron v3 (the parser Go asynq uses), such as
/// `end of range (60) above maximum (59): 0-60` or `unrecognized descriptor: @fortnightly`.
/// `description` adds the field that failed, because Go's text only quotes the bad part:
/// `minute field: end of range (60) above maximum (59): 0-60`.
public struct CronParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The five fields of a standard cron spec.
    public enum Field: String, Sendable, Hashable, CaseIterable {
        case minute
        case hour
        case dayOfMonth = "day of month"
        case month
        case dayOfWeek = "day of week"
    }

    /// The whole spec as given.
    public let spec: String
    /// The field that failed, or nil for errors about the spec as a whole (field count, time
    /// zone prefix, descriptors).
    public let field: Field?
    /// robfig/cron's error text.
    public let message: String

    public init(spec: String, field: Field?, message: String) {
        self.spec = spec
        self.field = field
        self.message = message
    }

    public var description: String {
        guard let field else { return message }
        return "\(field.rawValue) field: \(message)"
    }
}
