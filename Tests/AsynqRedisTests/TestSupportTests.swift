import AsynqRedis
import AsynqTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tests of the real-server test support (`RedisTestServer`): every test starts its own servers on
/// their own free ports and directories, so they run in parallel.
@Suite("TestSupport", .timeLimit(.minutes(1)))
struct TestSupportTests {
    private func cli(_ arguments: [String], timeout: Duration = .seconds(10)) async throws -> CommandResult {
        try await ExternalCommand.run("redis-cli", arguments, timeout: timeout)
    }

    private func ping(_ server: RedisTestServer, _ extra: [String] = []) async throws -> String {
        try await cli(["-p", String(server.port)] + extra + ["ping"]).output
    }

    /// `kill(pid, 0)` fails with ESRCH: no such process (a zombie would still answer).
    private func processIsGone(_ pid: Int32) -> Bool {
        kill(pid, 0) == -1 && errno == ESRCH
    }

    private func directoryExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    @Test func startsAServerThatAnswersPing() async throws {
        try await withRedisServer { server in
            #expect(server.host == "127.0.0.1")
            #expect(server.isRunning)
            #expect(try await ping(server) == "PONG")
            // `pid` is the server itself, not its supervisor shell.
            let info = try await cli(["-p", String(server.port), "info", "server"])
            #expect(info.standardOutput.contains("process_id:\(server.pid)"))
            // No persistence, its own directory.
            let config = try await cli(["-p", String(server.port), "config", "get", "*"])
            let lines = config.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let values = Dictionary(stride(from: 0, to: lines.count - 1, by: 2).map { (lines[$0], lines[$0 + 1]) }) {
                a, _ in a
            }
            #expect(values["appendonly"] == "no")
            #expect(values["dir"] == server.directory)
            #expect(values["save"] == "")
            #expect(server.recentLogLines.contains { $0.contains("Ready to accept connections") })
            let log = try #require(readFile(server.logFile))
            #expect(log.contains("Ready to accept connections"))
        }
    }

    @Test func passwordServerRefusesUnauthenticatedClients() async throws {
        try await withRedisServer(.init(password: "s3cret")) { server in
            let unauthenticated = try await ping(server)
            #expect(unauthenticated.contains("NOAUTH"))
            let wrongPassword = try await cli(["-p", String(server.port), "-a", "wrong", "--no-auth-warning", "ping"])
            #expect(wrongPassword.standardError.contains("WRONGPASS"))
            #expect(wrongPassword.output.contains("NOAUTH"))
            let authenticated = try await ping(server, ["-a", "s3cret", "--no-auth-warning"])
            #expect(authenticated == "PONG")
            let options = server.connectionOptions(database: 3)
            #expect(options.password == "s3cret")
            #expect(options.username == nil)
            #expect(options.database == 3)
        }
    }

    @Test func aclUsers() async throws {
        let admin = RedisTestServer.ACLUser(name: "admin", password: "adminpw")
        let reader = RedisTestServer.ACLUser(
            name: "reader", password: "readerpw", rules: ["on", "~*", "+ping", "+get"])
        try await withRedisServer(.init(aclUsers: [admin, reader])) { server in
            let port = String(server.port)
            let adminSet = try await cli([
                "-p", port, "--user", "admin", "--pass", "adminpw", "--no-auth-warning", "set", "k", "v",
            ])
            #expect(adminSet.output == "OK")
            let readerGet = try await cli([
                "-p", port, "--user", "reader", "--pass", "readerpw", "--no-auth-warning", "get", "k",
            ])
            #expect(readerGet.output == "v")
            let readerSet = try await cli([
                "-p", port, "--user", "reader", "--pass", "readerpw", "--no-auth-warning", "set", "k", "w",
            ])
            #expect(readerSet.output.contains("NOPERM"))
            let wrong = try await cli(["-p", port, "--user", "admin", "--pass", "nope", "--no-auth-warning", "ping"])
            #expect(wrong.standardError.contains("WRONGPASS"))
            let options = server.connectionOptions(user: reader)
            #expect(options.username == "reader")
            #expect(options.password == "readerpw")
        }
    }

    @Test func tlsServer() async throws {
        try await withRedisServer(.init(tls: true)) { server in
            let certificates = try #require(server.certificates)
            let tlsPort = try #require(server.tlsPort)
            #expect(tlsPort != server.port)
            let answer = try await cli([
                "--tls", "--cacert", certificates.caFile, "--cert", certificates.clientCert, "--key",
                certificates.clientKey,
                "-p", String(tlsPort), "ping",
            ])
            #expect(answer.output == "PONG")
            // Client certificates are optional.
            let withoutClientCert = try await cli([
                "--tls", "--cacert", certificates.caFile, "-p", String(tlsPort), "ping",
            ])
            #expect(withoutClientCert.output == "PONG")
            // The plain port still answers.
            #expect(try await ping(server) == "PONG")
            // The server certificate names 127.0.0.1 and localhost.
            let verify = try await ExternalCommand.run(
                "openssl",
                [
                    "verify", "-CAfile", certificates.caFile, "-verify_ip", "127.0.0.1", "-verify_hostname",
                    "localhost", certificates.serverCert,
                ]
            )
            #expect(verify.succeeded, "\(verify.standardOutput) \(verify.standardError)")
            let options = try server.tlsConnectionOptions()
            #expect(options.tls?.caFile == certificates.caFile)
            #expect(options.tls?.certificateFile == certificates.clientCert)
            #expect(options.tls?.privateKeyFile == certificates.clientKey)
            #expect(options.topology == .standalone(.tcp(host: "127.0.0.1", port: tlsPort)))
        }
    }

    @Test func unixSocket() async throws {
        try await withRedisServer(.init(unixSocket: true)) { server in
            let path = try #require(server.unixSocketPath)
            #expect(path.hasPrefix(server.directory))
            #expect(try await cli(["-s", path, "ping"]).output == "PONG")
            #expect(try server.unixSocketConnectionOptions().topology == .standalone(.unix(path: path)))
        }
    }

    @Test func killThenRestartOnTheSamePort() async throws {
        try await withRedisServer { server in
            let port = server.port
            let firstPID = server.pid
            #expect(try await cli(["-p", String(port), "set", "k", "v"]).output == "OK")
            await server.kill()
            #expect(!server.isRunning)
            #expect(processIsGone(firstPID))
            let refused = try await cli(["-p", String(port), "ping"])
            #expect(refused.standardError.contains("Connection refused"))

            try await server.restart()
            #expect(server.isRunning)
            #expect(server.port == port)
            #expect(server.pid != firstPID)
            #expect(try await ping(server) == "PONG")
            // Nothing was persisted.
            #expect(try await cli(["-p", String(port), "get", "k"]).output == "")
        }
    }

    @Test func stopEndsTheProcessAndRemovesTheDirectory() async throws {
        let server = try await RedisTestServer.start(.init(unixSocket: true, tls: true))
        let pid = server.pid
        let supervisor = try #require(server.supervisedProcess).supervisorPID
        #expect(directoryExists(server.directory))
        await server.stop()
        #expect(!server.isRunning)
        #expect(processIsGone(pid))
        #expect(processIsGone(supervisor))  // reaped, not a zombie
        #expect(!directoryExists(server.directory))
        // stop() twice is harmless; restart() after stop() works.
        await server.stop()
        try await server.restart()
        #expect(try await ping(server) == "PONG")
        let certificates = try #require(server.certificates)
        let tlsPing = try await cli([
            "--tls", "--cacert", certificates.caFile, "-p", String(try #require(server.tlsPort)), "ping",
        ])
        #expect(tlsPing.output == "PONG")
        await server.stop()
        #expect(!directoryExists(server.directory))
    }

    @Test func pauseAndResume() async throws {
        try await withRedisServer { server in
            try server.pause()
            let frozen = try await cli(["-p", String(server.port), "ping"], timeout: .milliseconds(500))
            #expect(frozen.timedOut)
            try server.resume()
            #expect(try await ping(server) == "PONG")
        }
    }

    @Test func stopWorksOnAPausedServer() async throws {
        let server = try await RedisTestServer.start()
        let pid = server.pid
        try server.pause()
        await server.stop()
        #expect(processIsGone(pid))
    }

    /// The orphan protection: closing the lifeline (what the kernel does when the test process
    /// dies) makes the watchdog kill the server. Other servers and commands run meanwhile, so this
    /// also shows that no other process holds the lifeline open.
    @Test func serverDiesWithItsLifeline() async throws {
        try await withRedisServer { bystander in
            let server = try await RedisTestServer.start()
            let process = try #require(server.supervisedProcess)
            let pid = server.pid
            #expect(try await ping(bystander) == "PONG")
            process.severLifeline()
            let status = await process.waitForExit(timeout: .seconds(10))
            #expect(status == .signaled(SIGKILL))
            #expect(processIsGone(pid))
            // The watchdog also deleted the orphan's directory.
            #expect(!directoryExists(server.directory))
            #expect(try await ping(bystander) == "PONG")
            await server.stop()
        }
    }

    @Test func exitedServerReportsItsOutput() async throws {
        let error = await #expect(throws: TestSupportError.self) {
            _ = try await RedisTestServer.start(.init(extraArguments: ["--no-such-option", "1"]))
        }
        #expect(error?.kind == .exitedBeforeReady)
        #expect(error?.description.contains("no-such-option") == true)
    }

    @Test func missingExecutable() async throws {
        let error = await #expect(throws: TestSupportError.self) {
            _ = try await RedisTestServer.start(.init(executable: "redis-server-that-is-not-installed"))
        }
        #expect(error?.kind == .executableNotFound)
        #expect(
            error?.message
                == "redis-server-that-is-not-installed not found on PATH: install it with 'apt-get install -y redis-server redis-sentinel redis-tools' (scripts/test does this)"
        )
    }

    @Test func withRedisServerStopsTheServerWhenTheBodyThrows() async throws {
        struct Boom: Error {}
        let box = Box()
        await #expect(throws: Boom.self) {
            try await withRedisServer { server in
                box.set(pid: server.pid, directory: server.directory)
                throw Boom()
            }
        }
        let (pid, directory) = box.get()
        #expect(pid > 0)
        #expect(processIsGone(pid))
        #expect(!directoryExists(directory))
    }

    @Test func concurrentServersGetDistinctPorts() async throws {
        let servers = try await withThrowingTaskGroup(of: RedisTestServer.self) { group in
            for _ in 0..<4 { group.addTask { try await RedisTestServer.start(.init(tls: true)) } }
            var servers: [RedisTestServer] = []
            for try await server in group { servers.append(server) }
            return servers
        }
        let ports = servers.flatMap { [$0.port, $0.tlsPort ?? 0] }
        #expect(Set(ports).count == ports.count)
        #expect(Set(servers.map(\.directory)).count == servers.count)
        for server in servers {
            #expect(try await ping(server) == "PONG")
            await server.stop()
        }
    }

    @Test func clusterModeGetsABusPort() async throws {
        try await withRedisServer(.init(extraArguments: ["--cluster-enabled", "yes"])) { server in
            let busPort = try #require(server.clusterBusPort)
            #expect(busPort != server.port)
            let info = try await cli(["-p", String(server.port), "cluster", "info"])
            #expect(info.standardOutput.contains("cluster_state:"))
        }
    }

    private func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private final class Box: Sendable {
    private let value = Mutex((pid: Int32(0), directory: ""))

    func set(pid: Int32, directory: String) {
        value.withLock { $0 = (pid, directory) }
    }

    func get() -> (Int32, String) { value.withLock { ($0.pid, $0.directory) } }
}
