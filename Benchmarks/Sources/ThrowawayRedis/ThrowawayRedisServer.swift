import AsynqRedis
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `redis-server` on a free port of 127.0.0.1 with no persistence, in its own temporary
/// directory, stopped by PID with `stop()`.
///
/// It cannot outlive this process: it is started by a small `/bin/sh` supervisor whose stdin is
/// a pipe only this process writes to; a watchdog in the supervisor blocks reading it, and when
/// this process ends for any reason (even SIGKILL) the pipe closes and the watchdog kills the
/// server and deletes its directory.
public final class ThrowawayRedisServer: Sendable {
    public let port: Int
    /// The PID of redis-server itself (not of its supervisor).
    public let pid: Int32
    public let directory: String
    private let supervisor: ChildProcess
    /// The write end of the supervisor's stdin; closing it (or dying) kills the server.
    private let lifeline: Int32

    /// `$1` is the directory to delete when orphaned, `$2...` the command.
    private static let supervisorScript = """
        exec 3<&0 0</dev/null
        dir=$1; shift
        "$@" 3<&- &
        child=$!
        ( read -r _ <&3; kill -KILL "$child"; rm -rf -- "$dir" ) >/dev/null 2>&1 &
        watchdog=$!
        exec 3<&-
        wait "$child"
        status=$?
        kill "$watchdog" 2>/dev/null
        exit $status
        """

    private init(port: Int, pid: Int32, directory: String, supervisor: ChildProcess, lifeline: Int32) {
        self.port = port
        self.pid = pid
        self.directory = directory
        self.supervisor = supervisor
        self.lifeline = lifeline
    }

    /// Starts `executable` (a path, or a name looked up in `PATH`); `label` names its temporary
    /// directory (`<label>-<pid>-<port>`).
    public static func start(executable: String, label: String = "redis-load") async throws -> ThrowawayRedisServer {
        guard let path = findExecutable(executable) else {
            throw LoadError("\(executable) not found on PATH: install it with 'apt-get install -y redis-server'")
        }
        let port = try freePort()
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(label)-\(getpid())-\(port)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let pidFile = directory + "/redis.pid"
        let logFile = directory + "/redis.log"
        let supervisor: ChildProcess
        let lifeline: (read: Int32, write: Int32)
        do {
            lifeline = try makePipe()
            let output = try openForWriting(directory + "/supervisor.log")
            defer {
                close(output)
                close(lifeline.read)
            }
            supervisor = try ChildProcess(
                path: "/bin/sh",
                arguments: [
                    "-c", supervisorScript, "redis-supervisor", directory,
                    path, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                    "--dir", directory, "--pidfile", pidFile, "--logfile", logFile,
                ],
                stdin: lifeline.read,
                stdout: output,
                stderr: output
            )
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }

        // Ready when it answers PING and has written its PID.
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        let options = RedisConnectionOptions.standalone(host: "127.0.0.1", port: port)
        while true {
            if let status = supervisor.exitStatus() {
                close(lifeline.write)
                let log = [logFile, directory + "/supervisor.log"]
                    .compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }
                    .joined(separator: "\n")
                try? FileManager.default.removeItem(atPath: directory)
                throw LoadError("redis-server exited at start (status \(status)):\n\(log.suffix(2000))")
            }
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                let connection = try? await RedisConnection.connect(
                    to: .tcp(host: "127.0.0.1", port: port), options: options)
            {
                let pong = try? await connection.send(RedisCommand("PING"))
                await connection.close()
                if pong != nil {
                    return ThrowawayRedisServer(
                        port: port,
                        pid: pid,
                        directory: directory,
                        supervisor: supervisor,
                        lifeline: lifeline.write
                    )
                }
            }
            if clock.now > deadline {
                // Closing the lifeline makes the watchdog kill the server and delete the directory.
                close(lifeline.write)
                _ = await supervisor.waitForExit(timeout: .seconds(5))
                throw LoadError("redis-server on port \(port) was not ready within 10 s")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// SIGTERM to the server's PID (SIGKILL after 10 s), then removes its directory.
    public func stop() async {
        kill(pid, SIGTERM)
        if await supervisor.waitForExit(timeout: .seconds(10)) == nil {
            kill(pid, SIGKILL)
            _ = await supervisor.waitForExit(timeout: .seconds(5))
        }
        close(lifeline)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A TCP port of 127.0.0.1 that nothing listens on (the kernel's choice for port 0).
public func freePort() throws -> Int {
    #if canImport(Glibc) || canImport(Musl)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
    #endif
    guard fd >= 0 else { throw LoadError("socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard bound == 0 else { throw LoadError("bind() failed: errno \(errno)") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let named = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard named == 0 else { throw LoadError("getsockname() failed: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}
