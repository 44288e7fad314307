import Asynq
import Foundation
import Testing

// Expected next-fire times below were worked out by hand from the documented semantics of
// robfig/cron v3's standard parser (see the CronSchedule documentation), not recorded from a run.
//
// Calendar landmarks used: 2024-05-15 is a Wednesday; 2024-09-01 a Sunday; US DST 2024 starts
// 2024-03-10 02:00 EST (-> 03:00 EDT) and ends 2024-11-03 02:00 EDT (-> 01:00 EST); UK summer
// time 2024 starts 2024-03-31 01:00 GMT (-> 02:00 BST) and ends 2024-10-27 02:00 BST
// (-> 01:00 GMT); Chile's 2024 summer time starts 2024-09-08 00:00 -04 (-> 01:00 -03), so that
// midnight does not exist; India is +05:30 all year.

struct CronNextCase: Sendable, CustomTestStringConvertible {
    let spec: String
    let after: String
    let expected: String?
    var fraction: Double = 0

    var testDescription: String { "\(spec) after \(after) -> \(expected ?? "never")" }
}

struct CronErrorCase: Sendable, CustomTestStringConvertible {
    let spec: String
    let field: CronParseError.Field?
    let fragment: String

    var testDescription: String { "\"\(spec)\"" }
}

private func cronInstant(_ text: String) throws -> Date {
    try Date(text, strategy: .iso8601)
}

private func cronZone(_ identifier: String) throws -> TimeZone {
    try #require(TimeZone(identifier: identifier), "time zone \(identifier) is known")
}

private let fieldCases: [CronNextCase] = [
    // every minute, strictly after, on whole minutes
    .init(spec: "* * * * *", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:21:00Z"),
    .init(spec: "* * * * *", after: "2024-05-15T10:20:00Z", expected: "2024-05-15T10:21:00Z"),
    .init(spec: "? ? ? ? ?", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:21:00Z"),
    .init(spec: "* * * * *", after: "2024-05-15T10:20:59Z", expected: "2024-05-15T10:21:00Z", fraction: 0.999),
    // single values
    .init(spec: "5 * * * *", after: "2024-05-15T10:20:00Z", expected: "2024-05-15T11:05:00Z"),
    .init(spec: "5 * * * *", after: "2024-05-15T10:04:59Z", expected: "2024-05-15T10:05:00Z"),
    .init(spec: "0 12 * * *", after: "2024-05-15T12:00:00Z", expected: "2024-05-16T12:00:00Z"),
    .init(spec: "0 0 * * *", after: "2024-12-31T23:59:59Z", expected: "2025-01-01T00:00:00Z"),
    // ranges, steps, lists
    .init(spec: "10-12 * * * *", after: "2024-05-15T10:10:30Z", expected: "2024-05-15T10:11:00Z"),
    .init(spec: "10-12 * * * *", after: "2024-05-15T10:12:00Z", expected: "2024-05-15T11:10:00Z"),
    .init(spec: "*/15 * * * *", after: "2024-05-15T10:20:00Z", expected: "2024-05-15T10:30:00Z"),
    .init(spec: "*/15 * * * *", after: "2024-05-15T10:45:00Z", expected: "2024-05-15T11:00:00Z"),
    .init(spec: "10-40/15 * * * *", after: "2024-05-15T10:25:00Z", expected: "2024-05-15T10:40:00Z"),
    .init(spec: "10-40/15 * * * *", after: "2024-05-15T10:40:00Z", expected: "2024-05-15T11:10:00Z"),
    .init(spec: "5/20 * * * *", after: "2024-05-15T10:06:00Z", expected: "2024-05-15T10:25:00Z"),
    .init(spec: "5/20 * * * *", after: "2024-05-15T10:45:00Z", expected: "2024-05-15T11:05:00Z"),
    .init(spec: "0 */6 * * *", after: "2024-05-15T13:00:00Z", expected: "2024-05-15T18:00:00Z"),
    .init(spec: "0 9,17 * * *", after: "2024-05-15T09:00:00Z", expected: "2024-05-15T17:00:00Z"),
    .init(spec: "0 9,17 * * *", after: "2024-05-15T17:00:00Z", expected: "2024-05-16T09:00:00Z"),
    .init(spec: "0,30 8-9 * * *", after: "2024-05-15T09:30:00Z", expected: "2024-05-16T08:00:00Z"),
    .init(spec: "0 0 1,15 * *", after: "2024-05-15T00:00:00Z", expected: "2024-06-01T00:00:00Z"),
    .init(spec: "0 0 1,,15 * *", after: "2024-05-01T00:00:00Z", expected: "2024-05-15T00:00:00Z"),
    .init(spec: "  0\t9  *  * *  ", after: "2024-05-15T10:00:00Z", expected: "2024-05-16T09:00:00Z"),
    // robfig ignores whatever follows a star before "/": "*-5" is "*"
    .init(spec: "*-5 * * * *", after: "2024-05-15T10:20:00Z", expected: "2024-05-15T10:21:00Z"),
    // a field of nothing but commas allows nothing: never fires
    .init(spec: "0 0 , * *", after: "2024-05-15T00:00:00Z", expected: nil),
    // months, by number and by name
    .init(spec: "0 0 1 JUL *", after: "2024-07-01T00:00:00Z", expected: "2025-07-01T00:00:00Z"),
    .init(spec: "0 0 1 jan,Jul *", after: "2024-05-15T00:00:00Z", expected: "2024-07-01T00:00:00Z"),
    .init(spec: "0 0 1 Feb-apr/2 *", after: "2024-02-01T00:00:00Z", expected: "2024-04-01T00:00:00Z"),
    .init(spec: "0 0 1 Feb-apr/2 *", after: "2024-04-01T00:00:00Z", expected: "2025-02-01T00:00:00Z"),
    .init(spec: "0 0 1 */3 *", after: "2024-05-15T00:00:00Z", expected: "2024-07-01T00:00:00Z"),
    .init(spec: "0 0 1 1/5 *", after: "2024-05-15T00:00:00Z", expected: "2024-06-01T00:00:00Z"),
    .init(spec: "0 0 31 * *", after: "2024-04-01T00:00:00Z", expected: "2024-05-31T00:00:00Z"),
    // days of the week, by number and by name (Sunday is 0)
    .init(spec: "0 9 * * MON-FRI", after: "2024-05-17T09:00:00Z", expected: "2024-05-20T09:00:00Z"),
    .init(spec: "0 9 * * sat,SUN", after: "2024-05-15T00:00:00Z", expected: "2024-05-18T09:00:00Z"),
    .init(spec: "0 9 * * 0", after: "2024-05-15T00:00:00Z", expected: "2024-05-19T09:00:00Z"),
    .init(spec: "0 9 * * 6", after: "2024-05-15T00:00:00Z", expected: "2024-05-18T09:00:00Z"),
    .init(spec: "0 9 * * 1-5/2", after: "2024-05-15T09:00:00Z", expected: "2024-05-17T09:00:00Z"),
    .init(spec: "0 9 * * */2", after: "2024-05-15T09:00:00Z", expected: "2024-05-16T09:00:00Z"),
    // day rule: both restricted -> either matches
    .init(spec: "0 0 1 * MON", after: "2024-05-15T00:00:00Z", expected: "2024-05-20T00:00:00Z"),
    .init(spec: "0 0 1 * MON", after: "2024-05-27T00:00:00Z", expected: "2024-06-01T00:00:00Z"),
    .init(spec: "0 0 1 * MON", after: "2024-06-01T00:00:00Z", expected: "2024-06-03T00:00:00Z"),
    .init(spec: "0 0 13 * FRI", after: "2024-09-01T00:00:00Z", expected: "2024-09-06T00:00:00Z"),
    .init(spec: "0 0 13 * FRI", after: "2024-09-06T00:00:00Z", expected: "2024-09-13T00:00:00Z"),
    .init(spec: "0 0 13 * FRI", after: "2024-09-13T00:00:00Z", expected: "2024-09-20T00:00:00Z"),
    .init(spec: "0 0 1-31 * MON", after: "2024-05-27T00:00:00Z", expected: "2024-05-28T00:00:00Z"),
    .init(spec: "0 0 */2 * MON", after: "2024-06-09T00:00:00Z", expected: "2024-06-10T00:00:00Z"),
    .init(spec: "0 0 */2 * MON", after: "2024-06-10T00:00:00Z", expected: "2024-06-11T00:00:00Z"),
    // day rule: one side unrestricted (*, ?, */1) -> both must match
    .init(spec: "0 0 * * MON", after: "2024-05-27T00:00:00Z", expected: "2024-06-03T00:00:00Z"),
    .init(spec: "0 0 ? * MON", after: "2024-05-27T00:00:00Z", expected: "2024-06-03T00:00:00Z"),
    .init(spec: "0 0 */1 * MON", after: "2024-05-27T00:00:00Z", expected: "2024-06-03T00:00:00Z"),
    .init(spec: "0 0 13 * *", after: "2024-09-01T00:00:00Z", expected: "2024-09-13T00:00:00Z"),
    .init(spec: "0 0 13 * ?", after: "2024-09-01T00:00:00Z", expected: "2024-09-13T00:00:00Z"),
    // leap days and impossible dates
    .init(spec: "0 0 29 2 *", after: "2024-03-01T00:00:00Z", expected: "2028-02-29T00:00:00Z"),
    .init(spec: "0 0 29 2 *", after: "2025-01-01T00:00:00Z", expected: "2028-02-29T00:00:00Z"),
    .init(spec: "0 0 29 2 *", after: "2024-02-28T12:00:00Z", expected: "2024-02-29T00:00:00Z"),
    .init(spec: "0 0 29 2 MON", after: "2025-03-01T00:00:00Z", expected: "2026-02-02T00:00:00Z"),
    .init(spec: "0 0 30 2 *", after: "2024-01-01T00:00:00Z", expected: nil),
    .init(spec: "0 0 31 4,6,9,11 *", after: "2024-01-01T00:00:00Z", expected: nil),
    // descriptors
    .init(spec: "@yearly", after: "2024-05-15T00:00:00Z", expected: "2025-01-01T00:00:00Z"),
    .init(spec: "@annually", after: "2024-05-15T00:00:00Z", expected: "2025-01-01T00:00:00Z"),
    .init(spec: "@monthly", after: "2024-05-15T00:00:00Z", expected: "2024-06-01T00:00:00Z"),
    .init(spec: "@weekly", after: "2024-05-15T00:00:00Z", expected: "2024-05-19T00:00:00Z"),
    .init(spec: "@daily", after: "2024-05-15T10:20:00Z", expected: "2024-05-16T00:00:00Z"),
    .init(spec: "@midnight", after: "2024-05-15T10:20:00Z", expected: "2024-05-16T00:00:00Z"),
    .init(spec: "@hourly", after: "2024-05-15T10:20:00Z", expected: "2024-05-15T11:00:00Z"),
    .init(spec: "TZ=UTC  @daily", after: "2024-05-15T10:20:00Z", expected: "2024-05-16T00:00:00Z"),
]

private let everyCases: [CronNextCase] = [
    // fixed delay from the given time with its sub-second part dropped, not clock aligned
    .init(spec: "@every 1h30m", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T11:50:30Z", fraction: 0.75),
    .init(spec: "@every 90s", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:22:00Z"),
    .init(spec: "@every 1m0.9s", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:21:30Z"),
    // under a second (zero and negative too) becomes one second
    .init(spec: "@every 500ms", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:20:31Z", fraction: 0.5),
    .init(spec: "@every 1.5s", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:20:31Z"),
    .init(spec: "@every 0s", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:20:31Z"),
    .init(spec: "@every -1m", after: "2024-05-15T10:20:30Z", expected: "2024-05-15T10:20:31Z"),
    // time zones do not matter for a fixed delay
    .init(
        spec: "TZ=America/New_York @every 1h", after: "2024-03-10T01:30:00-05:00", expected: "2024-03-10T03:30:00-04:00"
    ),
]

private let zoneCases: [CronNextCase] = [
    // New York, spring forward: 02:30 does not exist on 2024-03-10, so that day does not fire
    .init(
        spec: "TZ=America/New_York 30 2 * * *", after: "2024-03-08T12:00:00-05:00",
        expected: "2024-03-09T02:30:00-05:00"),
    .init(
        spec: "TZ=America/New_York 30 2 * * *", after: "2024-03-09T02:30:00-05:00",
        expected: "2024-03-11T02:30:00-04:00"),
    .init(
        spec: "TZ=America/New_York 30 2 * * *", after: "2024-03-10T01:59:59-05:00",
        expected: "2024-03-11T02:30:00-04:00"),
    .init(
        spec: "TZ=America/New_York 30 1 * * *", after: "2024-03-09T01:30:00-05:00",
        expected: "2024-03-10T01:30:00-05:00"),
    .init(
        spec: "TZ=America/New_York 0 * * * *", after: "2024-03-10T01:00:00-05:00", expected: "2024-03-10T03:00:00-04:00"
    ),
    .init(
        spec: "TZ=America/New_York 0 0 * * *", after: "2024-03-09T12:00:00-05:00", expected: "2024-03-10T00:00:00-05:00"
    ),
    .init(
        spec: "TZ=America/New_York 0 0 * * *", after: "2024-03-10T00:00:00-05:00", expected: "2024-03-11T00:00:00-04:00"
    ),
    // New York, fall back: 02:30 happens once that day
    .init(
        spec: "TZ=America/New_York 30 2 * * *", after: "2024-11-02T02:30:00-04:00",
        expected: "2024-11-03T02:30:00-05:00"),
    .init(
        spec: "TZ=America/New_York 30 2 * * *", after: "2024-11-03T02:30:00-05:00",
        expected: "2024-11-04T02:30:00-05:00"),
    // ... while the repeated hour is walked twice
    .init(
        spec: "TZ=America/New_York 0 * * * *", after: "2024-11-03T01:00:00-04:00", expected: "2024-11-03T01:00:00-05:00"
    ),
    .init(
        spec: "TZ=America/New_York 0 * * * *", after: "2024-11-03T01:00:00-05:00", expected: "2024-11-03T02:00:00-05:00"
    ),
    .init(
        spec: "TZ=America/New_York 30 1 * * *", after: "2024-11-03T01:45:00-04:00",
        expected: "2024-11-03T01:30:00-05:00"),
    // London
    .init(spec: "TZ=Europe/London 0 9 * * *", after: "2024-06-01T00:00:00Z", expected: "2024-06-01T09:00:00+01:00"),
    .init(spec: "TZ=Europe/London 0 9 * * *", after: "2024-12-01T00:00:00Z", expected: "2024-12-01T09:00:00Z"),
    .init(spec: "TZ=Europe/London 30 1 * * *", after: "2024-03-30T01:30:00Z", expected: "2024-04-01T01:30:00+01:00"),
    .init(
        spec: "TZ=Europe/London 30 1 * * *", after: "2024-10-26T01:30:00+01:00", expected: "2024-10-27T01:30:00+01:00"),
    .init(spec: "TZ=Europe/London 30 1 * * *", after: "2024-10-27T01:30:00+01:00", expected: "2024-10-27T01:30:00Z"),
    .init(spec: "TZ=Europe/London 30 1 * * *", after: "2024-10-27T01:30:00Z", expected: "2024-10-28T01:30:00Z"),
    // Kolkata, +05:30
    .init(spec: "TZ=Asia/Kolkata 0 9 * * *", after: "2024-05-15T00:00:00Z", expected: "2024-05-15T03:30:00Z"),
    .init(spec: "TZ=Asia/Kolkata 0 9 * * *", after: "2024-05-15T03:30:00Z", expected: "2024-05-16T03:30:00Z"),
    .init(spec: "CRON_TZ=Asia/Kolkata 0 0 * * *", after: "2024-05-15T00:00:00Z", expected: "2024-05-15T18:30:00Z"),
    .init(spec: "CRON_TZ=Asia/Kolkata */45 * * * *", after: "2024-05-15T00:00:00Z", expected: "2024-05-15T00:15:00Z"),
    .init(spec: "TZ=Asia/Kolkata @monthly", after: "2024-05-15T00:00:00Z", expected: "2024-05-31T18:30:00Z"),
    // Santiago: midnight of 2024-09-08 does not exist. The day search still lands on that day
    // (at its first wall time, 01:00 -03) ...
    .init(
        spec: "TZ=America/Santiago 0 12 8 9 *", after: "2024-09-01T12:00:00-04:00",
        expected: "2024-09-08T12:00:00-03:00"),
    // ... but a midnight job has nothing to fire at that day
    .init(
        spec: "TZ=America/Santiago 0 0 * * *", after: "2024-09-07T12:00:00-04:00", expected: "2024-09-09T00:00:00-03:00"
    ),
    // explicit UTC wins over any default zone
    .init(spec: "TZ=UTC 0 9 * * *", after: "2024-05-15T00:00:00Z", expected: "2024-05-15T09:00:00Z"),
    .init(spec: "TZ= 0 9 * * *", after: "2024-05-15T00:00:00Z", expected: "2024-05-15T09:00:00Z"),
]

private let errorCases: [CronErrorCase] = [
    .init(spec: "", field: nil, fragment: "empty spec string"),
    .init(spec: "* * * *", field: nil, fragment: "expected exactly 5 fields, found 4: [* * * *]"),
    .init(spec: "0 0 * * * *", field: nil, fragment: "expected exactly 5 fields, found 6: [0 0 * * * *]"),
    .init(spec: " @daily", field: nil, fragment: "expected exactly 5 fields, found 1: [@daily]"),
    .init(spec: "TZ=UTC ", field: nil, fragment: "expected exactly 5 fields, found 0: []"),
    // minute
    .init(spec: "60 * * * *", field: .minute, fragment: "end of range (60) above maximum (59): 60"),
    .init(spec: "0-60 * * * *", field: .minute, fragment: "end of range (60) above maximum (59): 0-60"),
    .init(
        spec: "x * * * *", field: .minute,
        fragment: #"failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax"#),
    .init(
        spec: "-5 * * * *", field: .minute,
        fragment: #"failed to parse int from : strconv.Atoi: parsing "": invalid syntax"#),
    .init(
        spec: "99999999999999999999 * * * *", field: .minute,
        fragment: #"parsing "99999999999999999999": value out of range"#),
    .init(spec: "5-1 * * * *", field: .minute, fragment: "beginning of range (5) beyond end of range (1): 5-1"),
    .init(spec: "1-2-3 * * * *", field: .minute, fragment: "too many hyphens: 1-2-3"),
    .init(spec: "*/5/2 * * * *", field: .minute, fragment: "too many slashes: */5/2"),
    .init(spec: "*/0 * * * *", field: .minute, fragment: "step of range should be a positive number: */0"),
    .init(spec: "*/-1 * * * *", field: .minute, fragment: "negative number (-1) not allowed: -1"),
    .init(
        spec: "*/ * * * *", field: .minute,
        fragment: #"failed to parse int from : strconv.Atoi: parsing "": invalid syntax"#),
    .init(spec: "JAN * * * *", field: .minute, fragment: "failed to parse int from JAN"),
    // hour
    .init(spec: "0 24 * * *", field: .hour, fragment: "end of range (24) above maximum (23): 24"),
    .init(spec: "0 1,x * * *", field: .hour, fragment: "failed to parse int from x"),
    // day of month
    .init(spec: "0 0 0 * *", field: .dayOfMonth, fragment: "beginning of range (0) below minimum (1): 0"),
    .init(spec: "0 0 32 * *", field: .dayOfMonth, fragment: "end of range (32) above maximum (31): 32"),
    .init(spec: "0 0 L * *", field: .dayOfMonth, fragment: "failed to parse int from L"),
    // month
    .init(spec: "0 0 * 13 *", field: .month, fragment: "end of range (13) above maximum (12): 13"),
    .init(spec: "0 0 * 0 *", field: .month, fragment: "beginning of range (0) below minimum (1): 0"),
    .init(spec: "0 0 * JANUARY *", field: .month, fragment: "failed to parse int from JANUARY"),
    .init(spec: "0 0 * MON *", field: .month, fragment: "failed to parse int from MON"),
    // day of week
    .init(spec: "0 0 * * 7", field: .dayOfWeek, fragment: "end of range (7) above maximum (6): 7"),
    .init(spec: "0 0 * * 0-7", field: .dayOfWeek, fragment: "end of range (7) above maximum (6): 0-7"),
    .init(spec: "0 0 * * MON-SUNDAY", field: .dayOfWeek, fragment: "failed to parse int from SUNDAY"),
    .init(spec: "0 0 * * 1#2", field: .dayOfWeek, fragment: "failed to parse int from 1#2"),
    .init(
        spec: "0 0 * * FRI-MON", field: .dayOfWeek, fragment: "beginning of range (5) beyond end of range (1): FRI-MON"),
    // descriptors
    .init(spec: "@foo", field: nil, fragment: "unrecognized descriptor: @foo"),
    .init(spec: "@Daily", field: nil, fragment: "unrecognized descriptor: @Daily"),
    .init(spec: "@daily ", field: nil, fragment: "unrecognized descriptor: @daily "),
    .init(spec: "@every", field: nil, fragment: "unrecognized descriptor: @every"),
    .init(spec: "@every x", field: nil, fragment: #"failed to parse duration @every x: time: invalid duration "x""#),
    .init(spec: "@every ", field: nil, fragment: #"failed to parse duration @every : time: invalid duration """#),
    .init(
        spec: "@every 5", field: nil,
        fragment: #"failed to parse duration @every 5: time: missing unit in duration "5""#),
    .init(spec: "@every 1d", field: nil, fragment: #"time: unknown unit "d" in duration "1d""#),
    .init(spec: "@every 1h 30m", field: nil, fragment: #"time: unknown unit "h " in duration "1h 30m""#),
    .init(spec: "@every 9223372036854775808ns", field: nil, fragment: "time: invalid duration"),
    // time zone prefix
    .init(
        spec: "TZ=Mars/Base 0 0 * * *", field: nil,
        fragment: "provided bad location Mars/Base: unknown time zone Mars/Base"),
    .init(spec: "TZ=GMT+5 0 0 * * *", field: nil, fragment: "provided bad location GMT+5: unknown time zone GMT+5"),
    .init(spec: "CRON_TZ=America/New_York", field: nil, fragment: "time zone prefix must be followed by a space"),
]

@Suite("Cron schedule (robfig/cron v3 standard parser)")
struct CronScheduleTests {
    private func check(_ entry: CronNextCase, defaultTimeZone: TimeZone = .gmt) throws {
        let schedule = try CronSchedule(parsing: entry.spec, defaultTimeZone: defaultTimeZone)
        let after = try cronInstant(entry.after).addingTimeInterval(entry.fraction)
        let expected = try entry.expected.map(cronInstant)
        #expect(schedule.next(after: after) == expected, "\(entry.testDescription)")
    }

    @Test("field forms, names, day rule, leap days, descriptors", arguments: fieldCases)
    func fieldForms(_ entry: CronNextCase) throws {
        try check(entry)
    }

    @Test("@every: fixed delay, at least one second, whole seconds", arguments: everyCases)
    func every(_ entry: CronNextCase) throws {
        try check(entry)
    }

    @Test("time zones and daylight saving transitions", arguments: zoneCases)
    func zones(_ entry: CronNextCase) throws {
        try check(entry)
    }

    @Test("invalid specs name the failing field and keep robfig's wording", arguments: errorCases)
    func invalid(_ entry: CronErrorCase) {
        let error = #expect(throws: CronParseError.self) { try CronSchedule(parsing: entry.spec) }
        guard let error else { return }
        #expect(error.spec == entry.spec)
        #expect(error.field == entry.field, "\(error)")
        #expect(error.message.contains(entry.fragment), "\(error.message)")
        #expect(error.description.contains(entry.fragment))
        if let field = entry.field {
            #expect(error.description.hasPrefix("\(field.rawValue) field: "), "\(error)")
        }
    }

    @Test("the error description starts with the field name")
    func errorDescription() {
        let error = #expect(throws: CronParseError.self) { try CronSchedule(parsing: "0-60 * * * *") }
        #expect(error?.description == "minute field: end of range (60) above maximum (59): 0-60")
        let dow = #expect(throws: CronParseError.self) { try CronSchedule(parsing: "0 0 * * 7") }
        #expect(dow?.description == "day of week field: end of range (7) above maximum (6): 7")
        let dom = #expect(throws: CronParseError.self) { try CronSchedule(parsing: "0 0 0 * *") }
        #expect(dom?.description == "day of month field: beginning of range (0) below minimum (1): 0")
        let descriptor = #expect(throws: CronParseError.self) { try CronSchedule(parsing: "@every 1x") }
        #expect(
            descriptor?.description == #"failed to parse duration @every 1x: time: unknown unit "x" in duration "1x""#)
    }

    @Test("New York 01:30 daily fires twice on the fall-back day and skips nothing else")
    func fallBackSequence() throws {
        let schedule = try CronSchedule(parsing: "30 1 * * *", defaultTimeZone: try cronZone("America/New_York"))
        var fires: [Date] = []
        var cursor = try cronInstant("2024-11-01T12:00:00-04:00")
        for _ in 0..<4 {
            let next = try #require(schedule.next(after: cursor))
            fires.append(next)
            cursor = next
        }
        let expected = try [
            "2024-11-02T01:30:00-04:00",
            "2024-11-03T01:30:00-04:00",
            "2024-11-03T01:30:00-05:00",
            "2024-11-04T01:30:00-05:00",
        ].map(cronInstant)
        #expect(fires == expected)
    }

    @Test("New York 02:30 daily skips the spring-forward day")
    func springForwardSequence() throws {
        let schedule = try CronSchedule(parsing: "TZ=America/New_York 30 2 * * *")
        var fires: [Date] = []
        var cursor = try cronInstant("2024-03-08T12:00:00-05:00")
        for _ in 0..<3 {
            let next = try #require(schedule.next(after: cursor))
            fires.append(next)
            cursor = next
        }
        let expected = try [
            "2024-03-09T02:30:00-05:00",
            "2024-03-11T02:30:00-04:00",
            "2024-03-12T02:30:00-04:00",
        ].map(cronInstant)
        #expect(fires == expected)
    }

    @Test("the default zone applies without a prefix; a prefix overrides it; TZ=Local means the default")
    func defaultZone() throws {
        let kolkata = try cronZone("Asia/Kolkata")
        let newYork = try cronZone("America/New_York")
        let after = try cronInstant("2024-05-15T00:00:00Z")

        let plain = try CronSchedule(parsing: "0 9 * * *", defaultTimeZone: kolkata)
        #expect(plain.timeZone == kolkata)
        #expect(plain.next(after: after) == (try cronInstant("2024-05-15T03:30:00Z")))

        let prefixed = try CronSchedule(parsing: "TZ=America/New_York 0 9 * * *", defaultTimeZone: kolkata)
        #expect(prefixed.timeZone == newYork)
        #expect(prefixed.next(after: after) == (try cronInstant("2024-05-15T13:00:00Z")))

        let local = try CronSchedule(parsing: "TZ=Local 0 9 * * *", defaultTimeZone: kolkata)
        #expect(local.timeZone == kolkata)

        let utcDefault = try CronSchedule(parsing: "0 9 * * *")
        #expect(utcDefault.timeZone.secondsFromGMT(for: after) == 0)
        #expect(utcDefault.next(after: after) == (try cronInstant("2024-05-15T09:00:00Z")))
    }

    @Test(
        "@every parses Go durations exactly and keeps whole seconds",
        arguments: [
            ("@every 1h30m", 5_400),
            ("@every 90s", 90),
            ("@every 1.5h", 5_400),
            ("@every .5h", 1_800),
            ("@every 2h45m30.5s", 9_930),
            ("@every +5s", 5),
            ("@every 1.9999999999s", 1),
            ("@every 3999999999999999999ns", 3_999_999_999),
            ("@every 1500ms", 1),
            ("@every 2000000us", 2),
            ("@every 3000000\u{00B5}s", 3),
            ("@every 4000000\u{03BC}s", 4),
            ("@every 1\u{00B5}s", 1),
            ("@every 0", 1),
            ("@every -9223372036854775808ns", 1),
        ]
    )
    func everyInterval(_ spec: String, seconds: Int64) throws {
        let schedule = try CronSchedule(parsing: spec)
        #expect(schedule.interval == .seconds(seconds))
    }

    @Test("calendar schedules have no interval; description is the spec as written")
    func descriptionAndInterval() throws {
        let schedule = try CronSchedule(parsing: "CRON_TZ=Europe/London 0 9 * * MON-FRI")
        #expect(schedule.interval == nil)
        #expect(schedule.description == "CRON_TZ=Europe/London 0 9 * * MON-FRI")
        #expect(schedule.spec == "CRON_TZ=Europe/London 0 9 * * MON-FRI")
        #expect(try CronSchedule(parsing: "@hourly").interval == nil)
    }

    @Test("equal specs in the same zone are equal; the default zone distinguishes them")
    func hashable() throws {
        let a = try CronSchedule(parsing: "*/5 * * * *")
        let b = try CronSchedule(parsing: "*/5 * * * *")
        let c = try CronSchedule(parsing: "*/5 * * * *", defaultTimeZone: try cronZone("Asia/Kolkata"))
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }

    @Test("next(after:) is strictly later and lands on whole seconds")
    func strictlyLaterWholeSeconds() throws {
        let schedule = try CronSchedule(parsing: "* * * * *")
        var cursor = try cronInstant("2024-05-15T10:20:00Z").addingTimeInterval(0.25)
        for _ in 0..<100 {
            let next = try #require(schedule.next(after: cursor))
            #expect(next > cursor)
            #expect(next.timeIntervalSince1970.truncatingRemainder(dividingBy: 60) == 0)
            cursor = next
        }
        #expect(cursor == (try cronInstant("2024-05-15T12:00:00Z")))
    }
}
