#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Small wrappers over the C library used by the process launcher.
///
/// Every descriptor created here is close-on-exec, so no child process started elsewhere in the
/// test process (a `Foundation.Process`, another launcher) inherits it by accident. The
/// descriptors a child must see are `dup2`'d onto 0, 1 and 2 by `posix_spawn` file actions,
/// which clears the flag on the copies only.
enum Posix {
    static func errorText(_ code: Int32) -> String {
        if let text = strerror(code) { return String(cString: text) }
        return "errno \(code)"
    }

    static func systemError(_ call: String, _ code: Int32 = errno) -> TestSupportError {
        TestSupportError(.systemCall, "\(call) failed: \(errorText(code))")
    }

    // MARK: Pipes

    /// A pipe whose two ends are close-on-exec and numbered 3 or above.
    static func makePipe() throws(TestSupportError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        let result = fds.withUnsafeMutableBufferPointer { buffer -> Int32 in
            guard let base = buffer.baseAddress else { return -1 }
            if let pipe2 = LibC.pipe2 {
                return pipe2(base, O_CLOEXEC)
            }
            // Fallback without pipe2: a short window in which a concurrent fork could inherit the
            // descriptors; our own spawns close everything above 2 anyway.
            let rc = pipe(base)
            if rc == 0 {
                _ = fcntl(base[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(base[1], F_SETFD, FD_CLOEXEC)
            }
            return rc
        }
        if result != 0 { throw systemError("pipe") }
        do {
            return (try aboveStandardStreams(fds[0]), try aboveStandardStreams(fds[1]))
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
    }

    /// Moves `fd` to a number above 2 (should the process have closed one of its standard
    /// streams, a new descriptor could land there and be clobbered by the spawn's `dup2`s).
    private static func aboveStandardStreams(_ fd: Int32) throws(TestSupportError) -> Int32 {
        if fd > 2 { return fd }
        let moved = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        if moved < 0 { throw systemError("fcntl(F_DUPFD_CLOEXEC)") }
        close(fd)
        return moved
    }

    static func closeDescriptor(_ fd: Int32) {
        if fd >= 0 { _ = close(fd) }
    }

    /// Writes all of `bytes` to `fd`, ignoring errors (used for log files only).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard var pointer = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = write(fd, pointer, remaining)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            remaining -= written
            pointer += written
        }
    }

    // MARK: Executables

    /// Resolves `name` like a shell does: a name containing "/" is used as is, anything else is
    /// looked up in `$PATH`. Returns nil when nothing executable is found.
    static func findExecutable(_ name: String) -> String? {
        if name.isEmpty { return nil }
        if name.contains("/") {
            return access(name, X_OK) == 0 ? name : nil
        }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
            let candidate = "\(directory)/\(name)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    // MARK: Spawning

    /// Starts `path` with `arguments` (argv[0] included) and the given descriptors as its standard
    /// streams. All other descriptors are closed in the child; signal dispositions that the test
    /// process may have changed (SIGPIPE ignored by a test runner, a blocked signal mask) are reset.
    static func spawn(
        path: String,
        arguments: [String],
        stdin: Int32,
        stdout: Int32,
        stderr: Int32,
        newProcessGroup: Bool
    ) throws(TestSupportError) -> pid_t {
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
        if let closeFrom = LibC.addCloseFrom {
            _ = closeFrom(&actions, 3)
        }
        #endif
        if newProcessGroup {
            flags |= Int32(POSIX_SPAWN_SETPGROUP)
            posix_spawnattr_setpgroup(&attributes, 0)
        }
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

        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
        defer { for pointer in argv { free(pointer) } }
        if argv.contains(where: { $0 == nil }) { throw TestSupportError(.systemCall, "strdup failed") }
        argv.append(nil)

        var pid: pid_t = 0
        let result = argv.withUnsafeMutableBufferPointer { argvBuffer -> Int32 in
            guard let argvBase = argvBuffer.baseAddress else { return EINVAL }
            return posix_spawn(&pid, path, &actions, &attributes, argvBase, environ)
        }
        if result != 0 {
            throw TestSupportError(.spawnFailed, "posix_spawn \(path) failed: \(errorText(result))")
        }
        return pid
    }

    /// `waitpid` without `WNOHANG`, retried on EINTR. Blocks: call it from a thread pool thread.
    static func waitForExit(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, 0)
            if result == pid { return status }
            if result < 0, errno == EINTR { continue }
            return nil  // ECHILD: already reaped by someone else
        }
    }
}

/// Glibc functions that Swift's Glibc module hides behind `_GNU_SOURCE`, looked up at run time.
private enum LibC {
    #if canImport(Darwin)
    static let pipe2: PipeTwo? = nil
    #else
    typealias PipeTwo = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

    static let pipe2: PipeTwo? = lookup("pipe2", as: PipeTwo.self)
    /// glibc 2.34+: close every descriptor from N up in the child.
    static let addCloseFrom: AddCloseFrom? = lookup("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)

    private static func lookup<F>(_ name: String, as type: F.Type) -> F? {
        guard let symbol = dlsym(nil, name) else { return nil }
        return unsafeBitCast(symbol, to: type)
    }
    #endif
}

#if canImport(Darwin)
private typealias PipeTwo = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
#endif
