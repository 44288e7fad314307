public import Foundation

/// A parsed cron spec with the semantics of robfig/cron v3's standard parser, which Go asynq
/// uses for `Scheduler.Register`.
///
/// Accepted forms:
/// - five fields `minute hour day-of-month month day-of-week` separated by white space. Each
///   field is a comma list of `*` or `?` (any), `n`, `a-b`, `*/s`, `a-b/s` or `a/s` (a through
///   the field's maximum). Ranges: minute 0–59, hour 0–23, day of month 1–31, month 1–12 or
///   `JAN`–`DEC`, day of week 0–6 or `SUN`–`SAT` (Sunday is 0; 7 is rejected); names are
///   case-insensitive.
/// - day rule: if the day-of-month or day-of-week field is unrestricted (`*` or `?` with no step
///   above 1), a day must match both fields; if both are restricted, matching either is enough.
///   So `0 0 1 * MON` fires on the 1st and on every Monday, `0 0 * * MON` on Mondays only.
/// - descriptors (exact, lower case): `@yearly`/`@annually` (`0 0 1 1 *`), `@monthly`
///   (`0 0 1 * *`), `@weekly` (`0 0 * * 0`), `@daily`/`@midnight` (`0 0 * * *`), `@hourly`
///   (`0 * * * *`).
/// - `@every <Go duration>` (`@every 1h30m`, `@every 90s`): a fixed delay, not aligned to the
///   clock. As in robfig, a delay under one second (zero and negative included) becomes one
///   second, and the sub-second part of longer delays is dropped (`@every 1.5s` is every second).
/// - a `TZ=<zone> ` or `CRON_TZ=<zone> ` prefix (IANA name, `UTC`, or `Local` for the default
///   zone) evaluates the rest in that zone; otherwise `defaultTimeZone` applies.
///
/// Daylight saving time (five-field specs and descriptors), as robfig's `SpecSchedule.Next`
/// behaves, since it walks the zone's wall clock but steps hours and minutes in real time:
/// - a wall time skipped by a spring-forward transition does not fire that day: `30 2 * * *` in
///   America/New_York fires on 2024-03-09 and next on 2024-03-11, not on 2024-03-10. Hourly and
///   minute-wise schedules simply continue after the gap (`0 * * * *` goes 01:00 EST → 03:00 EDT).
/// - a wall time repeated by a fall-back transition fires at both occurrences: `30 1 * * *` in
///   America/New_York fires at 01:30 EDT and again at 01:30 EST on 2024-11-03. Times outside the
///   repeated hour fire once.
/// - where midnight itself is skipped (America/Santiago, 2024-09-08 00:00 -> 01:00), that day
///   still counts for the day fields (its start is its first wall time, 01:00), but a job at
///   00:00 has nothing to fire at and skips the day, like any other skipped wall time.
///
/// `next(after:)` returns nil when nothing matches within five years (`0 0 30 2 *`), where robfig
/// returns the zero time and the entry never runs.
public struct CronSchedule: Sendable, Hashable, CustomStringConvertible {
    /// The spec as written.
    public let spec: String
    /// The zone the spec is evaluated in (from a `TZ=`/`CRON_TZ=` prefix, else the default).
    public let timeZone: TimeZone
    let kind: CronParsedKind

    /// Parses a cron spec. `defaultTimeZone` is the zone used without a `TZ=`/`CRON_TZ=` prefix
    /// (Go asynq: `SchedulerOpts.Location`, UTC by default).
    public init(parsing spec: String, defaultTimeZone: TimeZone = .gmt) throws(CronParseError) {
        let parsed = try CronSpecParser.parse(spec, defaultTimeZone: defaultTimeZone)
        self.spec = spec
        self.timeZone = parsed.timeZone
        self.kind = parsed.kind
    }

    /// For `@every`, the fixed delay between runs (whole seconds); nil for calendar schedules.
    public var interval: Duration? {
        switch kind {
        case .every(let seconds): return .seconds(seconds)
        case .fields: return nil
        }
    }

    /// The spec as written, which is also what Go asynq records as the entry's spec.
    public var description: String { spec }

    /// The first activation strictly after `date`, always on a whole second; nil if there is none
    /// within five years.
    ///
    /// For `@every d` that is `date` with its sub-second part dropped, plus `d` (robfig's
    /// `ConstantDelaySchedule`: the schedule runs `d` after the previous run started).
    public func next(after date: Date) -> Date? {
        let wholeSeconds = date.timeIntervalSince1970.rounded(.down)
        guard wholeSeconds.isFinite, abs(wholeSeconds) < 1e17 else { return nil }
        let start = Int64(wholeSeconds)
        switch kind {
        case .every(let seconds):
            let (next, overflow) = start.addingReportingOverflow(seconds)
            return overflow ? nil : Date(timeIntervalSince1970: TimeInterval(next))
        case .fields(let fields):
            guard fields.canMatch else { return nil }
            return CronSearch(fields: fields, clock: CronZoneClock(zone: timeZone)).next(after: start)
                .map { Date(timeIntervalSince1970: TimeInterval($0)) }
        }
    }
}

/// robfig's search for the next matching time, over whole Unix seconds in one zone.
///
/// It starts one second after the given time (sub-second part dropped) and settles the fields
/// from the largest down: month, day, hour, minute, second. A field that does not match is
/// advanced: months and days with calendar arithmetic on the wall clock (`AddDate`), hours,
/// minutes and seconds by adding real elapsed time. The first time any field has to move, the
/// smaller fields are reset (to the 1st at midnight, midnight, the hour, the minute). When an
/// advanced field wraps (month to January, day to the 1st, hour to 0, minute to 0, second to 0)
/// the search starts over from the month, because the larger fields may no longer match. It
/// gives up once the year passes the starting year plus five.
///
/// Because hours are added in real time, a spring-forward gap is skipped over (02:30 never
/// appears on that day, so that day does not fire) and a fall-back hour is walked twice (01:30
/// is reached once with each offset, so it fires twice). Adding a day lands on midnight; where
/// that midnight does not exist the wall-clock normalisation leaves it at 23:00 before the gap
/// or 01:00 after it, and the search moves it to the day's start (adds an hour after 12:00,
/// subtracts the hour count otherwise).
struct CronSearch {
    let fields: CronFields
    let clock: CronZoneClock

    /// Upper bound on loop steps, only as a guard against a zone whose offsets would make the
    /// search go round in circles; a real search takes at most a few thousand steps.
    private static let stepLimit = 2_000_000

    func next(after unix: Int64) -> Int64? {
        var t = unix + 1
        var added = false
        let yearLimit = clock.local(t).year + 5
        var steps = 0

        search: while true {
            var now = clock.local(t)
            if now.year > yearLimit { return nil }

            while !CronFields.contains(fields.month, now.month) {
                if !added {
                    added = true
                    t = clock.instant(year: now.year, month: now.month, day: 1, hour: 0, minute: 0, second: 0)
                }
                t = clock.adding(months: 1, to: t)
                now = clock.local(t)
                if now.month == 1 { continue search }
                steps += 1
                if steps > Self.stepLimit { return nil }
            }

            while !fields.dayMatches(now) {
                if !added {
                    added = true
                    t = clock.instant(year: now.year, month: now.month, day: now.day, hour: 0, minute: 0, second: 0)
                }
                t = clock.adding(days: 1, to: t)
                now = clock.local(t)
                // A skipped midnight normalises to 23:00 the day before or 01:00; go to the day's start.
                if now.hour != 0 {
                    t += now.hour > 12 ? Int64(24 - now.hour) * 3_600 : -Int64(now.hour) * 3_600
                    now = clock.local(t)
                }
                if now.day == 1 { continue search }
                steps += 1
                if steps > Self.stepLimit { return nil }
            }

            while !CronFields.contains(fields.hour, now.hour) {
                if !added {
                    added = true
                    t = clock.instant(
                        year: now.year,
                        month: now.month,
                        day: now.day,
                        hour: now.hour,
                        minute: 0,
                        second: 0
                    )
                }
                t += 3_600
                now = clock.local(t)
                if now.hour == 0 { continue search }
                steps += 1
                if steps > Self.stepLimit { return nil }
            }

            while !CronFields.contains(fields.minute, now.minute) {
                if !added {
                    added = true
                    t = CronZoneClock.truncatedToMinute(t)
                }
                t += 60
                now = clock.local(t)
                if now.minute == 0 { continue search }
                steps += 1
                if steps > Self.stepLimit { return nil }
            }

            // The standard parser has no seconds field: only second 0 matches, and stepping
            // second by second would wrap to the next minute's second 0 and start over there.
            if now.second != 0 {
                added = true
                t += Int64(60 - now.second)
                continue search
            }

            return t
        }
    }
}
