import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Hands out free TCP ports on 127.0.0.1.
///
/// A port is found by binding a socket to port 0 and reading the port the kernel chose, then
/// closing the socket. Ports handed out stay reserved in this process until `release`, so two
/// servers of the same test process never get the same port, and a killed server's port is not
/// given to another server before its `restart()`. Another process may still take a port between
/// the probe and the server's bind: servers retry on "Address already in use".
public enum PortAllocator {
    private static let reserved = Mutex<Set<Int>>([])

    /// Reserves `count` distinct free ports.
    public static func reserve(count: Int) throws(TestSupportError) -> [Int] {
        var ports: [Int] = []
        do {
            for _ in 0..<count { ports.append(try reserveOne()) }
        } catch {
            release(ports)
            throw error
        }
        return ports
    }

    /// Reserves one free port.
    public static func reserveOne() throws(TestSupportError) -> Int {
        for _ in 0..<100 {
            let port = try probe()
            let inserted = reserved.withLock { $0.insert(port).inserted }
            if inserted { return port }
        }
        throw TestSupportError(.systemCall, "no free TCP port found on 127.0.0.1")
    }

    /// Reserves `port` again (after a release), if nobody in this process holds it. Returns
    /// whether it was free in this process.
    @discardableResult
    public static func reserveAgain(_ port: Int) -> Bool {
        reserved.withLock { $0.insert(port).inserted }
    }

    public static func release(_ ports: [Int]) {
        reserved.withLock { reserved in
            for port in ports { reserved.remove(port) }
        }
    }

    /// Binds 127.0.0.1:0 and returns the port the kernel chose.
    private static func probe() throws(TestSupportError) -> Int {
        #if canImport(Glibc) || canImport(Musl)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        if fd < 0 { throw Posix.systemError("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        if bound != 0 { throw Posix.systemError("bind 127.0.0.1:0") }
        var actual = sockaddr_in()
        var actualLength = length
        let named = withUnsafeMutablePointer(to: &actual) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &actualLength) }
        }
        if named != 0 { throw Posix.systemError("getsockname") }
        return Int(UInt16(bigEndian: actual.sin_port))
    }
}
