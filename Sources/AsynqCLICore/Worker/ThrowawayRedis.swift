import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `redis-server` for `asynq dev`: its own temporary directory, a free port on 127.0.0.1,
/// no persistence, its own process group (so Ctrl-C in the terminal reaches only us), and
/// stopped by PID (SIGTERM, SIGKILL after 5 s) with its directory removed.
final class ThrowawayRedis: Sendable {
    let pid: pid_t
    let port: Int
    let directory: String
    private let output: Int32
    private let threads: NIOThreadPool

    private init(pid: pid_t, port: Int, directory: String, output: Int32, threads: NIOThreadPool) {
        self.pid = pid
        self.port = port
        self.directory = directory
        self.output = output
        self.threads = threads
    }

    /// Starts a server and returns once it accepts connections. `threads` needs two free
    /// threads for as long as the server runs (output reader and exit waiter).
    static func start(executable: String, threads: NIOThreadPool) async throws -> ThrowawayRedis {
        var template = Array("/tmp/asynq-dev-XXXXXX".utf8CString)
        let directory = template.withUnsafeMutableBufferPointer { buffer -> String? in
            guard let base = buffer.baseAddress, let result = mkdtemp(base) else { return nil }
            return String(cString: result)
        }
        guard let directory else { throw CLIError("cannot create a temporary directory in /tmp") }
        var lastError: (any Error)?
        for _ in 0..<5 {
            do {
                let port = try freePort()
                let server = try launch(
                    executable: executable, port: port, directory: directory, threads: threads)
                if try await server.waitUntilReady() { return server }
                await server.stop(removeDirectory: false)
                close(server.output)
                lastError = CLIError("redis-server did not start on port \(port)")
            } catch {
                lastError = error
            }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw lastError ?? CLIError("redis-server did not start")
    }

    private static func launch(
        executable: String, port: Int, directory: String, threads: NIOThreadPool
    ) throws
        -> ThrowawayRedis
    {
        let pipe = try ProcessSpawner.makePipe()
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if devNull >= 0 { close(devNull) } }
        let arguments = [
            executable, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--daemonize", "no", "--logfile", "",
        ]
        let pid: pid_t
        do {
            pid = try ProcessSpawner.spawn(
                path: executable,
                arguments: arguments,
                environment: ["PATH=/usr/local/bin:/usr/bin:/bin"],
                stdin: devNull,
                stdout: pipe.write,
                stderr: pipe.write
            )
        } catch {
            close(pipe.read)
            close(pipe.write)
            throw error
        }
        close(pipe.write)
        return ThrowawayRedis(
            pid: pid, port: port, directory: directory, output: pipe.read, threads: threads)
    }

    /// Reads the server's output until it says it is ready (true) or exits (false); at most 10 s.
    private func waitUntilReady() async throws -> Bool {
        let output = self.output
        let pid = self.pid
        return try await withThrowingTaskGroup(of: Bool?.self) { group in
            group.addTask {
                try await self.threads.runIfActive {
                    var line: [UInt8] = []
                    var byte: UInt8 = 0
                    while read(output, &byte, 1) == 1 {
                        if byte != UInt8(ascii: "\n") {
                            line.append(byte)
                            continue
                        }
                        let text = String(decoding: line, as: UTF8.self)
                        line.removeAll()
                        if text.lowercased().contains("ready to accept connections") { return true }
                        if text.contains("Address already in use") { return false }
                    }
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(10))
                return nil
            }
            let first = try await group.next() ?? nil
            if first == nil { _ = kill(pid, SIGKILL) }
            group.cancelAll()
            while try await group.next() != nil {}
            return first ?? false
        }
    }

    /// Reads (and drops) what the server prints until it exits, so it never blocks on a full
    /// pipe; then closes the pipe. Call it once, after `start`.
    func drainOutput() async {
        let output = self.output
        _ = try? await threads.runIfActive {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(output, &buffer, buffer.count)
                if count > 0 || (count < 0 && errno == EINTR) { continue }
                break
            }
            close(output)
        }
    }

    /// SIGTERM, SIGKILL after 5 s (at once when the task is cancelled), waits for the exit,
    /// removes the directory.
    func stop(removeDirectory: Bool = true) async {
        let pid = self.pid
        _ = kill(pid, SIGTERM)
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                _ = try? await self.threads.runIfActive {
                    var status: Int32 = 0
                    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                return false
            }
            if await group.next() == false { _ = kill(pid, SIGKILL) }
            group.cancelAll()
            await group.waitForAll()
        }
        if removeDirectory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// A port the kernel reports free on 127.0.0.1.
    private static func freePort() throws -> Int {
        #if canImport(Glibc) || canImport(Musl)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw CLIError("socket failed: \(ProcessSpawner.errorText(errno))") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else {
            throw CLIError("bind 127.0.0.1:0 failed: \(ProcessSpawner.errorText(errno))")
        }
        var actual = sockaddr_in()
        var actualLength = length
        let named = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        guard named == 0 else {
            throw CLIError("getsockname failed: \(ProcessSpawner.errorText(errno))")
        }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
}
