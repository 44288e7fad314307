package import Foundation

/// Text forms Go asynq writes (durations, quoted strings, dates), so Go tools read ours.
package enum GoFormat {
    /// Go's `time.Duration.String()`: `0s`, `1.5s`, `1m30s`, `1h0m0s`, `500ms`, `2µs`, `3ns`.
    package static func duration(_ d: Duration) -> String {
        let (seconds, attoseconds) = d.components
        var nanos = seconds.multipliedReportingOverflow(by: 1_000_000_000).partialValue + attoseconds / 1_000_000_000
        if nanos == 0 { return "0s" }
        let negative = nanos < 0
        if negative { nanos = -nanos }
        var text: String
        if nanos < 1_000 {
            text = "\(nanos)ns"
        } else if nanos < 1_000_000 {
            text = fraction(nanos, unit: 1_000) + "µs"
        } else if nanos < 1_000_000_000 {
            text = fraction(nanos, unit: 1_000_000) + "ms"
        } else {
            let hours = nanos / 3_600_000_000_000
            let minutes = (nanos / 60_000_000_000) % 60
            let rest = nanos % 60_000_000_000
            text = ""
            if hours > 0 { text += "\(hours)h" }
            if hours > 0 || minutes > 0 { text += "\(minutes)m" }
            text += fraction(rest, unit: 1_000_000_000) + "s"
        }
        return negative ? "-" + text : text
    }

    /// `value / unit` with the fractional digits Go prints (trailing zeros removed).
    private static func fraction(_ value: Int64, unit: Int64) -> String {
        let whole = value / unit
        var remainder = value % unit
        guard remainder != 0 else { return "\(whole)" }
        var digits = ""
        var scale = unit / 10
        while remainder > 0 && scale > 0 {
            digits += "\(remainder / scale)"
            remainder %= scale
            scale /= 10
        }
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }

    /// Parses Go duration syntax (`1h30m`, `90s`, `1.5h`, `300ms`, `-2m`), exactly as Go's
    /// `time.ParseDuration` does; nil when Go would return an error.
    package static func parseDuration(_ text: String) -> Duration? {
        guard case .success(let nanoseconds) = CronGoDuration.parse(text) else { return nil }
        return .nanoseconds(nanoseconds)
    }

    /// Go's `strconv.Quote`.
    package static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "\u{07}": out += "\\a"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{0B}": out += "\\v"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\x%02x", scalar.value)
                } else if scalar.properties.generalCategory == .control || !isPrintable(scalar) {
                    out +=
                        scalar.value <= 0xFFFF
                        ? String(format: "\\u%04x", scalar.value) : String(format: "\\U%08x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    private static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator:
            return false
        case .spaceSeparator:
            return scalar == " "
        default:
            return true
        }
    }

    /// Go's `time.UnixDate` layout in UTC: `Mon Jan  2 15:04:05 UTC 2006`.
    package static func unixDate(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let weekday = weekdays[((c.weekday ?? 1) - 1) % 7]
        let month = months[((c.month ?? 1) - 1) % 12]
        let day = c.day ?? 1
        let dayText = day < 10 ? " \(day)" : "\(day)"
        func two(_ n: Int?) -> String {
            let value = n ?? 0
            return value < 10 ? "0\(value)" : "\(value)"
        }
        return "\(weekday) \(month) \(dayText) \(two(c.hour)):\(two(c.minute)):\(two(c.second)) UTC \(c.year ?? 1970)"
    }

    /// Go `encoding/json` of a string array (escaping `<`, `>`, `&` as Go does).
    package static func jsonStringArray(_ values: [String]) -> String {
        "[" + values.map(jsonString).joined(separator: ",") + "]"
    }

    package static func jsonString(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "<": out += "\\u003c"
            case ">": out += "\\u003e"
            case "&": out += "\\u0026"
            case "\u{2028}": out += "\\u2028"
            case "\u{2029}": out += "\\u2029"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}
