import Foundation

/// Wall-clock fields of an instant in some time zone.
struct CronLocalTime: Equatable {
    var year: Int
    var month: Int  // 1...12
    var day: Int  // 1...31
    var hour: Int
    var minute: Int
    var second: Int
    var weekday: Int  // 0 = Sunday ... 6 = Saturday
}

/// The small part of Go's `time` package the cron engine relies on, over whole Unix seconds:
/// reading local fields, building an instant from (possibly out-of-range) local fields the way
/// `time.Date` normalises them, adding calendar days/months the way `Time.AddDate` does, and
/// truncating to a whole minute.
struct CronZoneClock {
    let zone: TimeZone

    /// UTC offset, in seconds, in force at the instant.
    func offset(at unix: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(unix))))
    }

    func local(_ unix: Int64) -> CronLocalTime {
        let wall = unix + offset(at: unix)
        let days = Self.floorDiv(wall, 86_400)
        let secondOfDay = wall - days * 86_400
        let (year, month, day) = Self.civil(fromDays: days)
        return CronLocalTime(
            year: year,
            month: month,
            day: day,
            hour: Int(secondOfDay / 3_600),
            minute: Int(secondOfDay % 3_600 / 60),
            second: Int(secondOfDay % 60),
            weekday: Int(Self.floorMod(days + 4, 7))  // 1970-01-01 was a Thursday
        )
    }

    /// Go's `time.Date(year, month, day, hour, minute, second, 0, zone)`.
    ///
    /// Out-of-range fields carry over (month 13 is January of the next year, day 32 of January
    /// is February 1st, ...). A wall time that does not exist or exists twice is resolved as Go
    /// does: take the offset in force at the wall time read as if it were UTC, and if the instant
    /// that offset gives falls outside that offset's period, use the offset in force at that
    /// instant instead. Written as one formula: `wall - offset(wall - offset(wall))`. (For zones
    /// west of Greenwich this puts a skipped wall time before the gap and picks the earlier of
    /// two repeated ones; east of Greenwich it is the other way round. That is Go's behaviour,
    /// and the cron engine only leans on it at midnight and at whole hours.)
    func instant(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64 {
        let monthIndex = Int64(month) - 1
        let normalisedYear = Int64(year) + Self.floorDiv(monthIndex, 12)
        let normalisedMonth = Self.floorMod(monthIndex, 12) + 1
        let days = Self.days(fromCivil: normalisedYear, Int(normalisedMonth), 1) + Int64(day) - 1
        let wall = days * 86_400 + Int64(hour) * 3_600 + Int64(minute) * 60 + Int64(second)
        return wall - offset(at: wall - offset(at: wall))
    }

    /// Go's `t.AddDate(0, months, days)`: same wall clock, calendar fields moved, then normalised.
    func adding(months: Int = 0, days: Int = 0, to unix: Int64) -> Int64 {
        let t = local(unix)
        return instant(
            year: t.year,
            month: t.month + months,
            day: t.day + days,
            hour: t.hour,
            minute: t.minute,
            second: t.second
        )
    }

    /// Go's `t.Truncate(time.Minute)`: rounds the absolute instant (not the wall clock) down.
    static func truncatedToMinute(_ unix: Int64) -> Int64 {
        Self.floorDiv(unix, 60) * 60
    }

    // MARK: proleptic Gregorian calendar arithmetic

    /// Days since 1970-01-01 of a civil date.
    static func days(fromCivil year: Int64, _ month: Int, _ day: Int) -> Int64 {
        // Count years from March so that the leap day is the last day of the counting year.
        let y = month <= 2 ? year - 1 : year
        let era = Self.floorDiv(y, 400)
        let yearOfEra = y - era * 400
        let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date `days` after 1970-01-01.
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = Self.floorDiv(shifted, 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }

    // MARK: integer division rounding towards negative infinity

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
        a - Self.floorDiv(a, b) * b
    }
}
