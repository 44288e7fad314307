import Asynq
import AsynqRedis
package import Foundation

/// The text forms the Go CLI prints.
package enum CLIFormat {
    /// A payload or result cell: the bytes as text when they are valid UTF-8, every character is
    /// printable (letters, marks, numbers, punctuation, symbols, the ASCII space) and not all are
    /// spaces; otherwise `non-printable bytes`.
    package static func bytes(_ data: Data?) -> String {
        guard let data, let text = String(data: data, encoding: .utf8), isPrintable(text) else {
            return "non-printable bytes"
        }
        return text
    }

    /// Go's `unicode.IsPrint` over every scalar, and not all of them spaces.
    package static func isPrintable(_ text: String) -> Bool {
        var allSpace = true
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                .nonspacingMark, .spacingMark, .enclosingMark,
                .decimalNumber, .letterNumber, .otherNumber,
                .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
                .initialPunctuation, .finalPunctuation, .otherPunctuation,
                .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
                allSpace = false
            case .spaceSeparator where scalar == " ":
                break
            default:
                return false
            }
        }
        return !allSpace
    }

    /// `N/A` when nothing was processed, else `12.50%`.
    package static func errorRate(processed: Int, failed: Int) -> String {
        guard processed != 0 else { return "N/A" }
        return String(format: "%.2f%%", Double(failed) / Double(processed) * 100)
    }

    /// A duration rounded to whole seconds (halves away from zero, as Go's `Round`), in Go's form.
    package static func roundedDuration(seconds: TimeInterval) -> String {
        GoFormat.duration(.seconds(Int64(seconds.rounded(.toNearestOrAwayFromZero))))
    }

    /// Go's `time.UnixDate` layout (in UTC), or empty for a missing time.
    package static func pastTime(_ date: Date?) -> String {
        guard let date, date.timeIntervalSince1970 != 0 else { return "" }
        return GoFormat.unixDate(date)
    }

    /// `in 1m30s`, or `right now` for a time already passed (the Go CLI's task lists).
    package static func processIn(_ date: Date?, now: Date) -> String {
        guard let date else { return "right now" }
        let delta = date.timeIntervalSince(now)
        if delta < 0 { return "right now" }
        return "in \(roundedDuration(seconds: delta))"
    }

    /// `n/a`, `now`, or `<UnixDate> (in 1m30s)` (the Go CLI's `task inspect`).
    package static func nextProcessTime(_ date: Date?, now: Date) -> String {
        guard let date, date.timeIntervalSince1970 != 0 else { return "n/a" }
        if date < now { return "now" }
        return
            "\(GoFormat.unixDate(date)) (in \(roundedDuration(seconds: date.timeIntervalSince(now))))"
    }

    /// `2006-01-02` in UTC.
    package static func day(_ date: Date) -> String {
        String(rfc3339Nano(date).prefix(10))
    }

    /// Go's default `time.Time` format in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
    package static func goDefaultTime(_ date: Date) -> String {
        let (base, fraction) = split(date)
        return "\(base)\(fraction) +0000 UTC"
    }

    /// RFC 3339 with nanoseconds, trailing zeros removed (Go's `time.RFC3339Nano`), in UTC.
    package static func rfc3339Nano(_ date: Date) -> String {
        let (base, fraction) = split(date)
        return base.replacingOccurrences(of: " ", with: "T") + fraction + "Z"
    }

    private static func split(_ date: Date) -> (String, String) {
        let interval = date.timeIntervalSince1970
        var seconds = interval.rounded(.down)
        var nanos = Int(((interval - seconds) * 1e9).rounded())
        if nanos >= 1_000_000_000 {
            seconds += 1
            nanos -= 1_000_000_000
        }
        let c = utcCalendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second],
            from: Date(timeIntervalSince1970: seconds)
        )
        let base = String(
            format: "%04d-%02d-%02d %02d:%02d:%02d",
            c.year ?? 1970,
            c.month ?? 1,
            c.day ?? 1,
            c.hour ?? 0,
            c.minute ?? 0,
            c.second ?? 0
        )
        guard nanos > 0 else { return (base, "") }
        var digits = String(format: "%09d", nanos)
        while digits.hasSuffix("0") { digits.removeLast() }
        return (base, "." + digits)
    }

    private static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar
    }()

    /// Go's `%q`.
    package static func quote(_ text: String) -> String {
        GoFormat.quote(text)
    }

    /// Parses a Go duration (`100s`, `5h`, `1h30m`), or throws a one-line error naming `flag`.
    package static func duration(_ text: String, flag: String) throws -> Duration {
        guard let duration = GoFormat.parseDuration(text) else {
            throw CLIError("invalid duration \(quote(text)) for \(flag) (examples: 30s, 5m, 1h30m)")
        }
        return duration
    }

    /// Parses an RFC 3339 time (`2006-01-02T15:04:05Z07:00`, fractional seconds allowed).
    package static func time(_ text: String, flag: String) throws -> Date {
        if let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text) {
            return date
        }
        if let date = try? Date.ISO8601FormatStyle().parse(text) { return date }
        throw CLIError(
            "invalid time \(quote(text)) for \(flag) (expected RFC 3339, e.g. 2030-01-02T15:04:05Z)")
    }

    /// The text of an error for one line of output: the message, without Swift type names.
    package static func describe(_ error: any Error) -> String {
        switch error {
        case let error as CLIError:
            return error.message
        case let error as AsynqError:
            guard let underlying = error.underlying else { return error.message }
            let inner = describe(underlying)
            return error.message == "redis error" ? "redis: \(inner)" : "\(error.message): \(inner)"
        case let error as RedisClientError:
            return error.message
        default:
            return String(describing: error)
        }
    }
}
