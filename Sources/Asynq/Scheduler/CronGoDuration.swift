/// Go `time.ParseDuration`, exact to the nanosecond, with Go's error texts: whole units are
/// accumulated as integers and the scaled fraction truncated, as Go does (`1.9999999999s` is
/// 1 999 999 999 ns). Used by the cron parser (`@every`) and by `GoFormat.parseDuration`.
enum CronGoDuration {
    /// Nanoseconds for `text`, or Go's error message (`time: invalid duration "x"`, …).
    static func parse(_ text: String) -> Result<Int64, CronGoDurationError> {
        let bytes = Array(text.utf8)
        let invalid = CronGoDurationError(message: "time: invalid duration " + quote(bytes))
        let limit: UInt64 = 1 << 63
        var index = 0
        var negative = false
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            index = 1
        }
        if bytes.count - index == 1 && bytes[index] == UInt8(ascii: "0") { return .success(0) }
        if index == bytes.count { return .failure(invalid) }

        var total: UInt64 = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: ".") || isDigit(bytes[index]) else { return .failure(invalid) }

            // Whole part: overflow past 2^63 is an error.
            let wholeStart = index
            var whole: UInt64 = 0
            while index < bytes.count, isDigit(bytes[index]) {
                guard whole <= limit / 10 else { return .failure(invalid) }
                whole = whole * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                guard whole <= limit else { return .failure(invalid) }
                index += 1
            }
            let hasWhole = index != wholeStart

            // Fraction: digits beyond what fits are consumed and ignored.
            var fraction: UInt64 = 0
            var scale: Double = 1
            var hasFraction = false
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                index += 1
                let fractionStart = index
                var saturated = false
                while index < bytes.count, isDigit(bytes[index]) {
                    defer { index += 1 }
                    if saturated { continue }
                    guard fraction <= (limit - 1) / 10 else {
                        saturated = true
                        continue
                    }
                    let next = fraction * 10 + UInt64(bytes[index] - UInt8(ascii: "0"))
                    guard next <= limit else {
                        saturated = true
                        continue
                    }
                    fraction = next
                    scale *= 10
                }
                hasFraction = index != fractionStart
            }
            guard hasWhole || hasFraction else { return .failure(invalid) }

            // Unit: everything up to the next digit or dot.
            let unitStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "."), !isDigit(bytes[index]) {
                index += 1
            }
            guard index != unitStart else {
                return .failure(CronGoDurationError(message: "time: missing unit in duration " + quote(bytes)))
            }
            let unitBytes = Array(bytes[unitStart..<index])
            guard let unit = unitNanoseconds(String(decoding: unitBytes, as: UTF8.self)) else {
                return .failure(
                    CronGoDurationError(
                        message: "time: unknown unit " + quote(unitBytes) + " in duration " + quote(bytes)
                    )
                )
            }

            guard whole <= limit / unit else { return .failure(invalid) }
            var value = whole * unit
            if fraction > 0 {
                // fraction < scale, so the product is below `unit` and always fits.
                let scaled = Double(fraction) * (Double(unit) / scale)
                guard scaled >= 0, scaled < 18_000_000_000_000_000_000 else { return .failure(invalid) }
                value += UInt64(scaled)
                guard value <= limit else { return .failure(invalid) }
            }
            total += value
            guard total <= limit else { return .failure(invalid) }
        }
        if negative {
            return .success(total == limit ? Int64.min : -Int64(total))
        }
        guard total < limit else { return .failure(invalid) }
        return .success(Int64(total))
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func unitNanoseconds(_ unit: String) -> UInt64? {
        switch unit {
        case "ns": return 1
        case "us", "\u{00B5}s", "\u{03BC}s": return 1_000
        case "ms": return 1_000_000
        case "s": return 1_000_000_000
        case "m": return 60_000_000_000
        case "h": return 3_600_000_000_000
        default: return nil
        }
    }

    /// The quoting Go's time package uses in its errors: printable ASCII as is (with `"` and `\`
    /// escaped), every byte of anything else as `\xNN`.
    static func quote(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789abcdef")
        var out = "\""
        for byte in bytes {
            if byte < 0x20 || byte >= 0x80 {
                out += "\\x"
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            } else {
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { out += "\\" }
                out.unicodeScalars.append(Unicode.Scalar(byte))
            }
        }
        return out + "\""
    }
}

struct CronGoDurationError: Error, Equatable {
    let message: String
}
