import Foundation

extension TaskOption {
    /// Parses the `Name(arg)` form Go asynq stores for scheduler entries (see ``description``),
    /// exactly as Go's inspector does; nil for what Go's inspector skips.
    ///
    /// The name is the text before the first `(`, the argument the text between it and the first
    /// `)` (so a quoted queue name containing `)` is not parsed back, as in Go). Parsed:
    /// `MaxRetry` (decimal, negative → 0), `Queue` (Go string literal), `Timeout`, `Unique`,
    /// `ProcessIn`, `Retention` (Go durations), `Deadline`, `ProcessAt` (Go `time.UnixDate`), and
    /// `Header` (a JSON array of two strings). `TaskID` and `Group` are never parsed back.
    /// A string without `(` is skipped (Go's parser would panic on it).
    public init?(optionString: String) {
        let bytes = Array(optionString.utf8)
        guard let open = bytes.firstIndex(of: UInt8(ascii: "(")) else { return nil }
        let name = String(decoding: bytes[..<open], as: UTF8.self)
        var argument: ArraySlice<UInt8> = []
        if let close = bytes.firstIndex(of: UInt8(ascii: ")")), close > open {
            argument = bytes[(open + 1)..<close]
        }
        let text = String(decoding: argument, as: UTF8.self)
        switch name {
        case "Queue":
            guard let queue = GoLiteral.unquote(argument) else { return nil }
            self = .queue(queue)
        case "MaxRetry":
            guard let n = Int(text) else { return nil }
            self = .maxRetry(max(0, n))
        case "Timeout":
            guard let d = GoFormat.parseDuration(text) else { return nil }
            self = .timeout(d)
        case "Deadline":
            guard let t = GoLiteral.parseUnixDate(argument) else { return nil }
            self = .deadline(t)
        case "Unique":
            guard let d = GoFormat.parseDuration(text) else { return nil }
            self = .unique(ttl: d)
        case "ProcessAt":
            guard let t = GoLiteral.parseUnixDate(argument) else { return nil }
            self = .processAt(t)
        case "ProcessIn":
            guard let d = GoFormat.parseDuration(text) else { return nil }
            self = .processIn(d)
        case "Retention":
            guard let d = GoFormat.parseDuration(text) else { return nil }
            self = .retention(d)
        case "Header":
            guard let pair = try? JSONDecoder().decode([String].self, from: Data(argument)), pair.count == 2 else {
                return nil
            }
            self = .header(pair[0], pair[1])
        default:
            return nil
        }
    }
}

/// Readers for the Go text forms inside option strings.
enum GoLiteral {
    // MARK: strconv.Unquote

    /// Go's `strconv.Unquote`: a `"…"` literal with Go escapes, a `` `…` `` raw literal (carriage
    /// returns dropped), or a `'…'` literal holding one character. Escaped bytes that are not
    /// valid UTF-8 (`\xff`) are replaced with U+FFFD.
    static func unquote(_ literal: ArraySlice<UInt8>) -> String? {
        let bytes = Array(literal)
        guard bytes.count >= 2, let quote = bytes.first, bytes.last == quote else { return nil }
        let body = bytes[1..<(bytes.count - 1)]
        switch quote {
        case UInt8(ascii: "`"):
            guard !body.contains(UInt8(ascii: "`")) else { return nil }
            return String(decoding: body.filter { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            guard !body.contains(UInt8(ascii: "\n")) else { return nil }
            var output: [UInt8] = []
            var index = body.startIndex
            var characters = 0
            while index < body.endIndex {
                guard unquoteChar(body, at: &index, quote: quote, into: &output) else { return nil }
                characters += 1
            }
            if quote == UInt8(ascii: "'") && characters != 1 { return nil }
            return String(decoding: output, as: UTF8.self)
        default:
            return nil
        }
    }

    /// One (possibly escaped) character of a quoted literal, like Go's `strconv.UnquoteChar`.
    private static func unquoteChar(
        _ s: ArraySlice<UInt8>, at index: inout Int, quote: UInt8, into output: inout [UInt8]
    ) -> Bool {
        let c = s[index]
        if c == quote { return false }  // an unescaped quote inside the literal
        if c != UInt8(ascii: "\\") {
            if c < 0x80 {
                output.append(c)
                index += 1
                return true
            }
            // A multi-byte UTF-8 sequence: copy it whole (invalid bytes are repaired later).
            var end = index + 1
            while end < s.endIndex && s[end] & 0xC0 == 0x80 { end += 1 }
            output.append(contentsOf: s[index..<end])
            index = end
            return true
        }
        guard index + 1 < s.endIndex else { return false }
        let escape = s[index + 1]
        index += 2
        switch escape {
        case UInt8(ascii: "a"): output.append(0x07)
        case UInt8(ascii: "b"): output.append(0x08)
        case UInt8(ascii: "f"): output.append(0x0C)
        case UInt8(ascii: "n"): output.append(0x0A)
        case UInt8(ascii: "r"): output.append(0x0D)
        case UInt8(ascii: "t"): output.append(0x09)
        case UInt8(ascii: "v"): output.append(0x0B)
        case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            guard escape == quote else { return false }
            output.append(escape)
        case UInt8(ascii: "x"):
            guard let value = hexValue(s, at: &index, digits: 2) else { return false }
            output.append(UInt8(value))
        case UInt8(ascii: "u"), UInt8(ascii: "U"):
            let digits = escape == UInt8(ascii: "u") ? 4 : 8
            guard let value = hexValue(s, at: &index, digits: digits), let scalar = Unicode.Scalar(value) else {
                return false
            }
            output.append(contentsOf: Array(String(Character(scalar)).utf8))
        case UInt8(ascii: "0")...UInt8(ascii: "7"):
            guard index + 2 <= s.endIndex else { return false }
            var value = UInt32(escape - UInt8(ascii: "0"))
            for digit in s[index..<(index + 2)] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(digit) else { return false }
                value = value * 8 + UInt32(digit - UInt8(ascii: "0"))
            }
            guard value <= 255 else { return false }
            index += 2
            output.append(UInt8(value))
        default:
            return false
        }
        return true
    }

    private static func hexValue(_ s: ArraySlice<UInt8>, at index: inout Int, digits: Int) -> UInt32? {
        guard index + digits <= s.endIndex else { return nil }
        var value: UInt32 = 0
        for byte in s[index..<(index + digits)] {
            guard let digit = hexDigit(byte) else { return nil }
            value = value << 4 | digit
        }
        index += digits
        return value
    }

    private static func hexDigit(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }

    // MARK: time.Parse(time.UnixDate, …)

    private static let weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    private static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Go's `time.Parse(time.UnixDate, s)` (`Mon Jan _2 15:04:05 MST 2006`): names are matched
    /// case-insensitively (the weekday is not checked against the date), a layout space matches
    /// one or more spaces, fractional seconds are accepted after the seconds, and the date must
    /// exist. Zone: `UTC` is UTC; an abbreviation of the local time zone gets its offset;
    /// `GMT±h` gets that offset; any other abbreviation is taken as offset 0, as Go does.
    static func parseUnixDate(_ input: ArraySlice<UInt8>) -> Date? {
        var s = input
        guard lookup(&s, in: weekdays) != nil, skipSpace(&s),
            let monthIndex = lookup(&s, in: months), skipSpace(&s)
        else { return nil }
        if s.first == UInt8(ascii: " ") { s = s.dropFirst() }
        guard let day = number(&s, fixed: false), skipSpace(&s),
            let hour = number(&s, fixed: false), hour < 24, skipLiteral(&s, ":"),
            let minute = number(&s, fixed: true), minute < 60, skipLiteral(&s, ":"),
            let second = number(&s, fixed: true), second < 60
        else { return nil }
        var nanos: Int64 = 0
        if s.count >= 2, let mark = s.first, mark == UInt8(ascii: ".") || mark == UInt8(ascii: ","),
            isDigit(s.dropFirst().first)
        {
            s = s.dropFirst()
            var digits = 0
            while let byte = s.first, isDigit(byte) {
                if digits < 9 { nanos = nanos * 10 + Int64(byte - UInt8(ascii: "0")) }
                digits += 1
                s = s.dropFirst()
            }
            for _ in digits..<max(digits, 9) { nanos *= 10 }
        }
        guard skipSpace(&s), let zone = zoneName(&s), skipSpace(&s), s.count == 4,
            s.allSatisfy({ isDigit($0) }), let year = Int(String(decoding: s, as: UTF8.self))
        else { return nil }
        let month = monthIndex + 1
        guard day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let local = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        let offset = zoneOffset(zone, near: local)
        return Date(timeIntervalSince1970: TimeInterval(local - offset) + TimeInterval(nanos) / 1e9)
    }

    private static func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// A three-letter name (case-insensitive); its index.
    private static func lookup(_ s: inout ArraySlice<UInt8>, in names: [String]) -> Int? {
        guard s.count >= 3 else { return nil }
        let candidate = String(decoding: s.prefix(3), as: UTF8.self).lowercased()
        guard let index = names.firstIndex(of: candidate) else { return nil }
        s = s.dropFirst(3)
        return index
    }

    /// A layout space: at least one space in the value (all of them consumed), or the end.
    private static func skipSpace(_ s: inout ArraySlice<UInt8>) -> Bool {
        if let first = s.first, first != UInt8(ascii: " ") { return false }
        while s.first == UInt8(ascii: " ") { s = s.dropFirst() }
        return true
    }

    private static func skipLiteral(_ s: inout ArraySlice<UInt8>, _ literal: Unicode.Scalar) -> Bool {
        guard s.first == UInt8(ascii: literal) else { return false }
        s = s.dropFirst()
        return true
    }

    /// Go's `getnum`: one or two digits (exactly two when `fixed`).
    private static func number(_ s: inout ArraySlice<UInt8>, fixed: Bool) -> Int? {
        guard let first = s.first, isDigit(first) else { return nil }
        let second = s.dropFirst().first
        if !isDigit(second) {
            if fixed { return nil }
            s = s.dropFirst()
            return Int(first - UInt8(ascii: "0"))
        }
        s = s.dropFirst(2)
        return Int(first - UInt8(ascii: "0")) * 10 + Int((second ?? 0) - UInt8(ascii: "0"))
    }

    /// Go's `parseTimeZone` (after its `UTC` special case).
    private static func zoneName(_ s: inout ArraySlice<UInt8>) -> String? {
        let text = String(decoding: s, as: UTF8.self)
        func take(_ n: Int) -> String {
            let name = String(decoding: s.prefix(n), as: UTF8.self)
            s = s.dropFirst(n)
            return name
        }
        if text.hasPrefix("UTC") { return take(3) }
        guard s.count >= 3 else { return nil }
        if text.hasPrefix("ChST") || text.hasPrefix("MeST") { return take(4) }
        if text.hasPrefix("GMT") { return take(3 + signedOffsetLength(s.dropFirst(3))) }
        if s.first == UInt8(ascii: "+") || s.first == UInt8(ascii: "-") {
            let length = signedOffsetLength(s)
            return length > 0 ? take(length) : nil
        }
        let upper = s.prefix(6).prefix { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }.count
        let bytes = Array(s.prefix(5))
        switch upper {
        case 3: return take(3)
        case 4 where bytes[3] == UInt8(ascii: "T") || text.hasPrefix("WITA"): return take(4)
        case 5 where bytes[4] == UInt8(ascii: "T"): return take(5)
        default: return nil
        }
    }

    /// Go's `parseSignedOffset`: `+h`/`-h` with h ≤ 12; the length, or 0.
    private static func signedOffsetLength(_ s: ArraySlice<UInt8>) -> Int {
        guard let sign = s.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return 0 }
        let digits = s.dropFirst().prefix { isDigit($0) }
        guard !digits.isEmpty, let value = Int(String(decoding: digits, as: UTF8.self)), value <= 12 else {
            return 0
        }
        return 1 + digits.count
    }

    /// Seconds east of UTC for a parsed zone name, for a wall-clock time `local` (Unix seconds
    /// read as UTC).
    private static func zoneOffset(_ name: String, near local: Int64) -> Int64 {
        if name == "UTC" { return 0 }
        let zone = TimeZone.current
        for shift in [0, -182 * 86_400, 182 * 86_400] {
            let instant = Date(timeIntervalSince1970: TimeInterval(local + Int64(shift)))
            if zone.abbreviation(for: instant) == name {
                return Int64(zone.secondsFromGMT(for: instant))
            }
        }
        if name.hasPrefix("GMT"), name.count > 3, let hours = Int(name.dropFirst(3)) {
            return Int64(hours) * 3600
        }
        return 0
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
