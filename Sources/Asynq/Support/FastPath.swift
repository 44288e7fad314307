import AsynqRedis
package import Foundation
package import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `Data` as one RESP argument, written straight into the command buffer (``RESPBytes`` would
/// first copy it into an array).
package struct RESPData: RESPArgument, Sendable {
    package var data: Data

    package init(_ data: Data) {
        self.data = data
    }

    package func encodeRESP(into buffer: inout ByteBuffer) -> Int {
        data.withUnsafeBytes { buffer.writeRESPBulkString($0) }
        return 1
    }
}

/// Random (version 4) UUIDs as lowercase strings, the form Go asynq uses for task IDs.
package enum TaskIDGenerator {
    /// Random bytes from the system's generator, fetched 4 KiB at a time: one system call
    /// serves 256 IDs instead of one each.
    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var offset = 4096
    }

    private static let pool = Mutex(Pool())

    /// A new lowercase UUIDv4 string, formatted without the intermediate upper-case string of
    /// `UUID().uuidString`.
    package static func make() -> String {
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &bytes) { raw in
            pool.withLock { pool in
                if pool.offset + raw.count > pool.bytes.count {
                    pool.bytes.withUnsafeMutableBytes { fill($0) }
                    pool.offset = 0
                }
                pool.bytes.withUnsafeBytes { source in
                    raw.copyMemory(
                        from: UnsafeRawBufferPointer(rebasing: source[pool.offset..<(pool.offset + raw.count)]))
                }
                pool.offset += raw.count
            }
        }
        return withUnsafeBytes(of: &bytes) { raw -> String in
            String(unsafeUninitializedCapacity: 36) { out -> Int in
                let hex: StaticString = "0123456789abcdef"
                let digits = hex.utf8Start
                var position = 0
                for index in 0..<16 {
                    var byte = raw[index]
                    if index == 6 { byte = (byte & 0x0F) | 0x40 }  // version 4
                    if index == 8 { byte = (byte & 0x3F) | 0x80 }  // RFC 4122 variant
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        out[position] = UInt8(ascii: "-")
                        position += 1
                    }
                    out[position] = digits[Int(byte >> 4)]
                    out[position + 1] = digits[Int(byte & 0x0F)]
                    position += 2
                }
                return position
            }
        }
    }

    private static func fill(_ raw: UnsafeMutableRawBufferPointer) {
        guard let base = raw.baseAddress else { return }
        arc4random_buf(base, raw.count)
    }
}

extension String {
    /// True when the string is empty or only white space (Go's `strings.TrimSpace(s) == ""`),
    /// without Foundation's character-set machinery.
    package var isBlank: Bool { allSatisfy(\.isWhitespace) }
}
