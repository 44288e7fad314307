import AsynqCLICore
import Foundation
import Testing

@Suite("CLI output helpers")
struct CLIOutputHelperTests {
    @Test("tables align like Go's tabwriter (min 0, tab 8, padding 2, spaces)")
    func goTabwriterLayout() {
        let table = Table.render(
            headers: ["ID", "Type", "Payload"],
            rows: [["1", "email:deliver", "hello"], ["22", "x", "ü"]])
        #expect(
            table == """
                ID  Type           Payload  
                --  ----           -------  
                1   email:deliver  hello    
                22  x              ü        

                """
        )
    }

    @Test("an empty cell is padded with tabs, as Go's tabwriter does")
    func emptyCellsUseTabs() {
        let table = Table.render(headers: ["A", "Last Error"], rows: [["x", ""]])
        #expect(table == "A  Last Error  \n-  ----------  \nx  \t\t\n")
    }

    @Test("column blocks end at a line with fewer cells")
    func columnBlocks() {
        let text = TabWriter().format("a\tb\nlong cell\tc\nplain line\nx\ty\n")
        #expect(text == "a          b\nlong cell  c\nplain line\nx  y\n")
        #expect(TabWriter().format("a\tb") == "a  b")
    }

    @Test("payload cells: printable UTF-8 as text, anything else 'non-printable bytes'")
    func payloadRule() {
        #expect(CLIFormat.bytes(Data("{\"to\":\"a\"}".utf8)) == "{\"to\":\"a\"}")
        #expect(CLIFormat.bytes(Data("héllo wörld".utf8)) == "héllo wörld")
        #expect(CLIFormat.bytes(nil) == "non-printable bytes")
        #expect(CLIFormat.bytes(Data("   ".utf8)) == "non-printable bytes")
        #expect(CLIFormat.bytes(Data("a\nb".utf8)) == "non-printable bytes")
        #expect(CLIFormat.bytes(Data([0xFF, 0xFE])) == "non-printable bytes")
        #expect(CLIFormat.bytes(Data("a\u{00A0}b".utf8)) == "non-printable bytes")
    }

    @Test("error rate and rounded durations")
    func numbers() {
        #expect(CLIFormat.errorRate(processed: 0, failed: 0) == "N/A")
        #expect(CLIFormat.errorRate(processed: 8, failed: 1) == "12.50%")
        #expect(CLIFormat.roundedDuration(seconds: 3723.4) == "1h2m3s")
        #expect(CLIFormat.roundedDuration(seconds: 0.5) == "1s")
        #expect(CLIFormat.roundedDuration(seconds: 0.4) == "0s")
        #expect(
            CLIFormat.processIn(Date(timeIntervalSince1970: 100), now: Date(timeIntervalSince1970: 190))
                == "right now")
        #expect(
            CLIFormat.processIn(Date(timeIntervalSince1970: 190), now: Date(timeIntervalSince1970: 100))
                == "in 1m30s")
    }

    @Test("times: UnixDate, Go's default layout and RFC 3339 in UTC")
    func times() {
        let date = Date(timeIntervalSince1970: 1_700_000_000.25)
        #expect(CLIFormat.pastTime(date) == "Tue Nov 14 22:13:20 UTC 2023")
        #expect(CLIFormat.pastTime(nil) == "")
        #expect(CLIFormat.goDefaultTime(date) == "2023-11-14 22:13:20.25 +0000 UTC")
        #expect(
            CLIFormat.rfc3339Nano(Date(timeIntervalSince1970: 1_700_000_000)) == "2023-11-14T22:13:20Z")
        #expect(CLIFormat.day(date) == "2023-11-14")
    }

    @Test("config file: key: value lines, comments and quotes")
    func configFile() throws {
        let values = try ConfigFile.parse(
            """
            # asynq
            uri: 10.0.0.1:6380   # primary
            db: 2
            password: "p#ss"
            unknown: ignored
            """,
            path: "test"
        )
        #expect(values == ["uri": "10.0.0.1:6380", "db": "2", "password": "p#ss"])
    }

    @Test("global flags before the subcommand move behind it")
    func globalFlagsAnywhere() throws {
        let prepared = try PreparedArguments(["-u", "h:1", "--tls", "queue", "ls", "--json"])
        #expect(prepared.arguments == ["queue", "ls", "-u", "h:1", "--tls", "--json"])
        #expect(prepared.commandPath == "asynq queue ls")
        #expect(throws: CLIError.self) { try PreparedArguments(["queue", "lst"]) }
    }
}
