public import NIOCore

/// The hash slot of a key in Redis Cluster: `CRC16(key) mod 16384`, where CRC16 is the
/// XMODEM variant (polynomial 0x1021, initial value 0, no reflection, no final XOR) and only the
/// hash tag is hashed when the key has one.
///
/// Hash tag rule (as in Redis' `keyHashSlot`): if the key contains a `{`, and a `}` follows it
/// with at least one byte between them, only the bytes between the *first* `{` and the first
/// `}` after it are hashed. `{}`, a `{` without a closing `}`, or a `}` before any `{` leave the
/// whole key hashed. So `asynq:{default}:pending` and `default` share slot 5718.
public enum RedisClusterHashSlot {
    /// Number of hash slots in a Redis Cluster.
    public static let count = 16384

    /// The slot of a key given as text (hashed as its UTF-8 bytes).
    public static func slot(forKey key: String) -> Int {
        var key = key
        return key.withUTF8 { slot(forKeyBytes: UnsafeRawBufferPointer($0)) }
    }

    /// The slot of a key given as bytes.
    public static func slot(forKey key: ByteBuffer) -> Int {
        key.withUnsafeReadableBytes { slot(forKeyBytes: $0) }
    }

    /// The slot of a key given as bytes.
    public static func slot(forKey key: [UInt8]) -> Int {
        key.withUnsafeBytes { slot(forKeyBytes: $0) }
    }

    static func slot(forKeyBytes key: UnsafeRawBufferPointer) -> Int {
        let hashed = hashTag(of: key)
        return Int(crc16(UnsafeRawBufferPointer(rebasing: key[hashed])) & 0x3FFF)
    }

    /// The range of bytes that is hashed: the tag between the first `{` and the next `}`, or all.
    private static func hashTag(of key: UnsafeRawBufferPointer) -> Range<Int> {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return 0..<key.count }
        let start = open + 1
        guard let close = key[start...].firstIndex(of: UInt8(ascii: "}")), close > start else {
            return 0..<key.count
        }
        return start..<close
    }

    /// CRC16-XMODEM ("CRC-16/CCITT" with initial value 0): the checksum Redis Cluster uses.
    /// Check value: `crc16("123456789") == 0x31C3`.
    public static func crc16(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)]
        }
        return crc
    }

    /// CRC16-XMODEM of `bytes`.
    public static func crc16(_ bytes: [UInt8]) -> UInt16 {
        bytes.withUnsafeBytes { crc16($0) }
    }

    /// The byte-wise lookup table for polynomial 0x1021, computed once.
    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
