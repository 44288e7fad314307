import Foundation

/// The five parsed fields of a spec, as bit sets (bit n set = value n allowed).
///
/// `CronFields.star` marks a field written as `*` or `?` without a step above 1 (`*`, `?`,
/// `*/1`); only day of month and day of week care, see `dayMatches`.
struct CronFields: Sendable, Hashable {
    static let star: UInt64 = 1 << 63

    var minute: UInt64
    var hour: UInt64
    var dayOfMonth: UInt64
    var month: UInt64
    var dayOfWeek: UInt64

    static func contains(_ bits: UInt64, _ value: Int) -> Bool {
        value >= 0 && value < 63 && bits & (1 << UInt64(value)) != 0
    }

    /// Day rule: when either day field is unrestricted, a day must match both (so effectively
    /// the restricted one); when both are restricted, matching either suffices.
    func dayMatches(_ t: CronLocalTime) -> Bool {
        let domMatch = Self.contains(dayOfMonth, t.day)
        let dowMatch = Self.contains(dayOfWeek, t.weekday)
        if dayOfMonth & Self.star != 0 || dayOfWeek & Self.star != 0 {
            return domMatch && dowMatch
        }
        return domMatch || dowMatch
    }

    /// False when some field allows no value at all (a field of only commas), so that no time
    /// can ever match; robfig would search five years and give up, with the same result.
    var canMatch: Bool {
        let values: UInt64 = ~Self.star
        guard minute & values != 0, hour & values != 0, month & values != 0 else { return false }
        let domAny = dayOfMonth & values != 0
        let dowAny = dayOfWeek & values != 0
        if dayOfMonth & Self.star != 0 || dayOfWeek & Self.star != 0 {
            return domAny && dowAny
        }
        return domAny || dowAny
    }
}

/// What a spec parses to, before the time zone is attached.
enum CronParsedKind: Sendable, Hashable {
    case fields(CronFields)
    /// `@every`: a fixed delay in whole seconds (at least 1).
    case every(seconds: Int64)
}

/// robfig/cron v3's standard parser (`cron.ParseStandard`), which Go asynq uses.
enum CronSpecParser {
    private struct Bounds {
        let field: CronParseError.Field
        let min: Int
        let max: Int
        let names: [String: Int]
    }

    private static let minuteBounds = Bounds(field: .minute, min: 0, max: 59, names: [:])
    private static let hourBounds = Bounds(field: .hour, min: 0, max: 23, names: [:])
    private static let dayOfMonthBounds = Bounds(field: .dayOfMonth, min: 1, max: 31, names: [:])
    private static let monthBounds = Bounds(
        field: .month,
        min: 1,
        max: 12,
        names: [
            "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
            "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
        ]
    )
    private static let dayOfWeekBounds = Bounds(
        field: .dayOfWeek,
        min: 0,
        max: 6,
        names: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]
    )

    /// Parses `spec`; `defaultTimeZone` applies unless the spec starts with `TZ=` / `CRON_TZ=`.
    static func parse(
        _ spec: String,
        defaultTimeZone: TimeZone
    ) throws(CronParseError) -> (kind: CronParsedKind, timeZone: TimeZone) {
        func failure(_ message: String, _ field: CronParseError.Field? = nil) -> CronParseError {
            CronParseError(spec: spec, field: field, message: message)
        }
        guard !spec.isEmpty else { throw failure("empty spec string") }

        var rest = Substring(spec)
        var timeZone = defaultTimeZone
        if startsWith(rest, "TZ=") || startsWith(rest, "CRON_TZ=") {
            // The zone name runs from the first "=" to the first space; the spec follows.
            let scalars = rest.unicodeScalars
            guard let space = scalars.firstIndex(of: " "), let equals = scalars.firstIndex(of: "=") else {
                // Go slices with the index -1 here and panics; we refuse the spec instead.
                throw failure("time zone prefix must be followed by a space and the schedule: \(spec)")
            }
            let name = String(scalars[scalars.index(after: equals)..<space])
            guard let zone = loadLocation(name, defaultTimeZone: defaultTimeZone) else {
                throw failure("provided bad location \(name): unknown time zone \(name)")
            }
            timeZone = zone
            rest = trimmingGoSpace(Substring(scalars[space...]))
        }

        if startsWith(rest, "@") {
            return (try parseDescriptor(String(rest), failure: failure), timeZone)
        }

        let fields = rest.unicodeScalars.split(whereSeparator: \.properties.isWhitespace).map(Substring.init)
        guard fields.count == 5 else {
            let listed = fields.joined(separator: " ")
            throw failure("expected exactly 5 fields, found \(fields.count): [\(listed)]")
        }
        let parsed = CronFields(
            minute: try parseField(fields[0], minuteBounds, failure: failure),
            hour: try parseField(fields[1], hourBounds, failure: failure),
            dayOfMonth: try parseField(fields[2], dayOfMonthBounds, failure: failure),
            month: try parseField(fields[3], monthBounds, failure: failure),
            dayOfWeek: try parseField(fields[4], dayOfWeekBounds, failure: failure)
        )
        return (.fields(parsed), timeZone)
    }

    /// Go's `time.LoadLocation`: "" and "UTC" are UTC, "Local" is the zone the schedule would
    /// use anyway (robfig treats `time.Local` as "the zone of the time passed to Next", which for
    /// asynq is the scheduler's location), anything else a tz database name.
    private static func loadLocation(_ name: String, defaultTimeZone: TimeZone) -> TimeZone? {
        switch name {
        case "", "UTC": return .gmt
        case "Local": return defaultTimeZone
        case "GMT+0", "GMT-0": return TimeZone(identifier: name)
        default:
            // Foundation also reads "GMT+5" or "UTC-03:30" as fixed offsets; the tz database
            // (and so Go) has no such names.
            for offsetPrefix in ["GMT+", "GMT-", "UTC+", "UTC-"] where startsWith(Substring(name), offsetPrefix) {
                return nil
            }
            return TimeZone(identifier: name)
        }
    }

    /// Byte-wise prefix test as Go's `strings.HasPrefix` (no grapheme clustering).
    private static func startsWith(_ text: Substring, _ prefix: String) -> Bool {
        text.unicodeScalars.starts(with: prefix.unicodeScalars)
    }

    private static func parseDescriptor(
        _ descriptor: String,
        failure: (String, CronParseError.Field?) -> CronParseError
    ) throws(CronParseError) -> CronParsedKind {
        let any: UInt64 = CronFields.star
        let allHours = bits(0, 23, 1) | any
        let allDays = bits(1, 31, 1) | any
        let allMonths = bits(1, 12, 1) | any
        let allWeekdays = bits(0, 6, 1) | any
        switch descriptor {
        case "@yearly", "@annually":
            return .fields(CronFields(minute: 1, hour: 1, dayOfMonth: 1 << 1, month: 1 << 1, dayOfWeek: allWeekdays))
        case "@monthly":
            return .fields(CronFields(minute: 1, hour: 1, dayOfMonth: 1 << 1, month: allMonths, dayOfWeek: allWeekdays))
        case "@weekly":
            return .fields(CronFields(minute: 1, hour: 1, dayOfMonth: allDays, month: allMonths, dayOfWeek: 1))
        case "@daily", "@midnight":
            return .fields(
                CronFields(minute: 1, hour: 1, dayOfMonth: allDays, month: allMonths, dayOfWeek: allWeekdays))
        case "@hourly":
            return .fields(
                CronFields(minute: 1, hour: allHours, dayOfMonth: allDays, month: allMonths, dayOfWeek: allWeekdays)
            )
        default:
            break
        }
        let everyPrefix = "@every "
        guard startsWith(Substring(descriptor), everyPrefix) else {
            throw failure("unrecognized descriptor: \(descriptor)", nil)
        }
        let durationText = String(descriptor.unicodeScalars.dropFirst(everyPrefix.unicodeScalars.count))
        switch CronGoDuration.parse(durationText) {
        case .failure(let error):
            throw failure("failed to parse duration \(descriptor): \(error.message)", nil)
        case .success(let nanoseconds):
            // robfig's Every: anything under a second (zero and negative included) becomes one
            // second, and the sub-second part of longer delays is dropped.
            return .every(seconds: max(nanoseconds / 1_000_000_000, 1))
        }
    }

    /// A comma list of ranges; empty items are skipped (so "," alone allows nothing).
    private static func parseField(
        _ field: Substring,
        _ bounds: Bounds,
        failure: (String, CronParseError.Field?) -> CronParseError
    ) throws(CronParseError) -> UInt64 {
        var result: UInt64 = 0
        for item in split(field, on: ",", omittingEmpty: true) {
            result |= try parseRange(item, bounds, failure: failure)
        }
        return result
    }

    /// `*`, `?`, `n`, `a-b`, each optionally followed by `/step`; `n/step` means n through max.
    private static func parseRange(
        _ expression: Substring,
        _ bounds: Bounds,
        failure: (String, CronParseError.Field?) -> CronParseError
    ) throws(CronParseError) -> UInt64 {
        func fail(_ message: String) -> CronParseError { failure(message, bounds.field) }

        let rangeAndStep = split(expression, on: "/", omittingEmpty: false)
        let lowAndHigh = split(rangeAndStep[0], on: "-", omittingEmpty: false)
        let single = lowAndHigh.count == 1
        var start: Int
        var end: Int
        var star: UInt64 = 0
        if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
            // Whatever follows a star before any "/" is ignored, as in robfig ("*-5" is "*").
            start = bounds.min
            end = bounds.max
            star = CronFields.star
        } else {
            start = try parseNumberOrName(lowAndHigh[0], bounds.names).get(orThrow: fail)
            switch lowAndHigh.count {
            case 1: end = start
            case 2: end = try parseNumberOrName(lowAndHigh[1], bounds.names).get(orThrow: fail)
            default: throw fail("too many hyphens: \(expression)")
            }
        }

        var step = 1
        switch rangeAndStep.count {
        case 1:
            break
        case 2:
            step = try parseNonNegativeInt(rangeAndStep[1]).get(orThrow: fail)
            if single { end = bounds.max }
            if step > 1 { star = 0 }
        default:
            throw fail("too many slashes: \(expression)")
        }

        if start < bounds.min {
            throw fail("beginning of range (\(start)) below minimum (\(bounds.min)): \(expression)")
        }
        if end > bounds.max {
            throw fail("end of range (\(end)) above maximum (\(bounds.max)): \(expression)")
        }
        if start > end {
            throw fail("beginning of range (\(start)) beyond end of range (\(end)): \(expression)")
        }
        if step == 0 {
            throw fail("step of range should be a positive number: \(expression)")
        }
        return bits(start, end, step) | star
    }

    private static func parseNumberOrName(_ text: Substring, _ names: [String: Int]) -> Result<Int, CronTextError> {
        if let value = names[text.lowercased()] { return .success(value) }
        return parseNonNegativeInt(text)
    }

    /// Go's `strconv.Atoi` plus robfig's refusal of negative numbers.
    private static func parseNonNegativeInt(_ text: Substring) -> Result<Int, CronTextError> {
        func atoiError(_ reason: String) -> Result<Int, CronTextError> {
            .failure(
                CronTextError(
                    "failed to parse int from \(text): strconv.Atoi: parsing \(GoFormat.quote(String(text))): \(reason)"
                )
            )
        }
        var digits = text.utf8[...]
        var negative = false
        if let sign = digits.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return atoiError("invalid syntax") }
        // Like Go: a non-digit is a syntax error, overflowing 64 bits a range error, whichever
        // comes first; exceeding the signed range is checked at the end.
        var magnitude: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return atoiError("invalid syntax") }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return atoiError("value out of range") }
            magnitude = sum
        }
        guard magnitude <= (negative ? 1 << 63 : UInt64(Int64.max)) else { return atoiError("value out of range") }
        if negative && magnitude != 0 {
            let value = magnitude == 1 << 63 ? "\(Int64.min)" : "-\(magnitude)"
            return .failure(CronTextError("negative number (\(value)) not allowed: \(text)"))
        }
        return .success(Int(magnitude))
    }

    /// Values start, start + step, ... up to end (all within 0...62).
    private static func bits(_ start: Int, _ end: Int, _ step: Int) -> UInt64 {
        var result: UInt64 = 0
        var value = start
        while value <= end {
            result |= 1 << UInt64(value)
            let (next, overflow) = value.addingReportingOverflow(step)
            if overflow { break }
            value = next
        }
        return result
    }

    /// Go's `strings.TrimSpace` (`unicode.IsSpace` is the White_Space property).
    private static func trimmingGoSpace(_ text: Substring) -> Substring {
        let scalars = text.unicodeScalars
        let start = scalars.firstIndex { !$0.properties.isWhitespace } ?? scalars.endIndex
        let end = scalars.lastIndex { !$0.properties.isWhitespace }.map { scalars.index(after: $0) } ?? start
        return Substring(scalars[start..<end])
    }

    /// Splits on a separator scalar (Go splits bytes, so a combining mark after the separator
    /// must not glue onto it as it would in a `Character`).
    private static func split(_ text: Substring, on separator: Unicode.Scalar, omittingEmpty: Bool) -> [Substring] {
        text.unicodeScalars.split(separator: separator, omittingEmptySubsequences: omittingEmpty).map(Substring.init)
    }
}

/// A parse failure inside one field, before the field name is attached.
struct CronTextError: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

extension Result where Failure == CronTextError {
    fileprivate func get(orThrow makeError: (String) -> CronParseError) throws(CronParseError) -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let error): throw makeError(error.message)
        }
    }
}
