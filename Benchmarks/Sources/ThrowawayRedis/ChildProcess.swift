import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure to start or drive a child process (or the server it runs).
public struct LoadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The path of `name` (a path, or a name looked up in `PATH`), if it is an executable file.
public func findExecutable(_ name: String) -> String? {
    if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A child process started with `posix_spawn`.
///
/// Not Foundation's `Process`: it hands the child the signal mask of the spawning thread (Swift's
/// executor threads block most signals, so a `/bin/sh` child could then never see SIGCHLD or
/// SIGTERM) and lets it inherit our open descriptors (sockets to Redis included). Here the child
/// gets an empty signal mask, default dispositions, and only the three descriptors given.
public struct ChildProcess: Sendable {
    public let pid: Int32

    /// Starts `path` with `arguments` (without argv[0]); the descriptors become its stdin, stdout
    /// and stderr.
    public init(path: String, arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        var flags = Int32(POSIX_SPAWN_SETSIGMASK) | Int32(POSIX_SPAWN_SETSIGDEF)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)
        #else
        if let closeFrom = addCloseFrom { _ = closeFrom(&actions, 3) }
        #endif
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(truncatingIfNeeded: flags))

        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) }
        defer { for pointer in argv { free(pointer) } }
        guard !argv.contains(where: { $0 == nil }) else { throw LoadError("strdup failed") }
        argv.append(nil)
        var pid: pid_t = 0
        let result = argv.withUnsafeMutableBufferPointer { argvBuffer -> Int32 in
            guard let base = argvBuffer.baseAddress else { return EINVAL }
            return posix_spawn(&pid, path, &actions, &attributes, base, environ)
        }
        guard result == 0 else { throw LoadError("posix_spawn \(path) failed: \(String(cString: strerror(result)))") }
        self.pid = pid
    }

    /// The exit status (128 + signal when a signal ended it) once the child has exited, nil while
    /// it runs. Reaps the child.
    public func exitStatus() -> Int32? {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        guard result == pid else { return result < 0 ? -1 : nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// Waits (polling, without blocking a thread) until the child exits, for at most `timeout`.
    /// Returns its status, or nil on timeout.
    public func waitForExit(timeout: Duration = .seconds(3600)) async -> Int32? {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            if let status = exitStatus() { return status }
            if clock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// A pipe whose two ends are close-on-exec (a child gets an end only through `ChildProcess`'s dup2).
public func makePipe() throws -> (read: Int32, write: Int32) {
    var fds: [Int32] = [-1, -1]
    guard pipe(&fds) == 0 else { throw LoadError("pipe() failed: errno \(errno)") }
    for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    return (fds[0], fds[1])
}

/// Opens `path` for writing (created or truncated), close-on-exec.
public func openForWriting(_ path: String) throws -> Int32 {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw LoadError("cannot open \(path): errno \(errno)") }
    return fd
}

public func openDevNull() throws -> Int32 {
    let fd = open("/dev/null", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { throw LoadError("cannot open /dev/null: errno \(errno)") }
    return fd
}

#if !canImport(Darwin)
/// glibc 2.34+ (hidden behind `_GNU_SOURCE` in Swift's Glibc module): close every descriptor from N up in the child.
private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
private let addCloseFrom: AddCloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
    unsafeBitCast($0, to: AddCloseFrom.self)
}
#endif
