/// SHA-1 as specified in FIPS 180-4.
///
/// Redis names Lua scripts by the SHA-1 of their source (`SCRIPT LOAD`, `EVALSHA`), which is the
/// only use here. SHA-1 is broken for collision resistance: do not use it for security.
package enum SHA1 {
    /// Length of a digest in bytes.
    package static let digestByteCount = 20

    /// The digest of `bytes` as 40 lowercase hexadecimal characters, the form `SCRIPT LOAD` returns.
    package static func hexDigest(of bytes: [UInt8]) -> String {
        hexString(digest(of: bytes))
    }

    /// The 20-byte digest of `bytes`.
    package static func digest(of bytes: some Collection<UInt8>) -> [UInt8] {
        if let result = bytes.withContiguousStorageIfAvailable({ digest(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        let copy = Array(bytes)
        return copy.withUnsafeBytes { digest($0) }
    }

    /// Lowercase hexadecimal form of `bytes`.
    package static func hexString(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    // MARK: - Implementation

    private static let blockSize = 64

    private static func digest(_ message: UnsafeRawBufferPointer) -> [UInt8] {
        var state = State()
        let fullBlocks = message.count / blockSize
        let remaining = message.count - fullBlocks * blockSize

        // The final block(s): the leftover bytes, the 0x80 marker, zeros, and the message
        // length in bits as a big-endian 64-bit number. One block when the leftover and the
        // marker leave room for the length (remaining < 56), else two.
        var tail = [UInt8](repeating: 0, count: 2 * blockSize)
        let tailLength = remaining < blockSize - 8 ? blockSize : 2 * blockSize
        for index in 0..<remaining {
            tail[index] = message[fullBlocks * blockSize + index]
        }
        tail[remaining] = 0x80
        // The length is defined modulo 2^64 bits.
        let bitLength = UInt64(truncatingIfNeeded: message.count) &<< 3
        for index in 0..<8 {
            tail[tailLength - 1 - index] = UInt8(truncatingIfNeeded: bitLength >> (8 * UInt64(index)))
        }

        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { schedule in
            for block in 0..<fullBlocks {
                let start = block * blockSize
                state.compress(
                    UnsafeRawBufferPointer(rebasing: message[start..<(start + blockSize)]), schedule: schedule)
            }
            tail.withUnsafeBytes { tailBytes in
                var start = 0
                while start < tailLength {
                    state.compress(
                        UnsafeRawBufferPointer(rebasing: tailBytes[start..<(start + blockSize)]),
                        schedule: schedule
                    )
                    start += blockSize
                }
            }
        }
        return state.bytes
    }

    private struct State {
        var h0: UInt32 = 0x6745_2301
        var h1: UInt32 = 0xEFCD_AB89
        var h2: UInt32 = 0x98BA_DCFE
        var h3: UInt32 = 0x1032_5476
        var h4: UInt32 = 0xC3D2_E1F0

        var bytes: [UInt8] {
            var result: [UInt8] = []
            result.reserveCapacity(SHA1.digestByteCount)
            for word in [h0, h1, h2, h3, h4] {
                result.append(UInt8(truncatingIfNeeded: word >> 24))
                result.append(UInt8(truncatingIfNeeded: word >> 16))
                result.append(UInt8(truncatingIfNeeded: word >> 8))
                result.append(UInt8(truncatingIfNeeded: word))
            }
            return result
        }

        @inline(__always)
        private static func rotateLeft(_ value: UInt32, by amount: UInt32) -> UInt32 {
            (value &<< amount) | (value &>> (32 &- amount))
        }

        /// Processes one 64-byte block. `schedule` is scratch space for the 80-word message schedule.
        mutating func compress(_ block: UnsafeRawBufferPointer, schedule w: UnsafeMutableBufferPointer<UInt32>) {
            for t in 0..<16 {
                w[t] = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: t * 4, as: UInt32.self))
            }
            for t in 16..<80 {
                w[t] = Self.rotateLeft(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], by: 1)
            }

            var a = h0
            var b = h1
            var c = h2
            var d = h3
            var e = h4

            for t in 0..<20 {
                let f = (b & c) | (~b & d)
                let temp = Self.rotateLeft(a, by: 5) &+ f &+ e &+ 0x5A82_7999 &+ w[t]
                e = d
                d = c
                c = Self.rotateLeft(b, by: 30)
                b = a
                a = temp
            }
            for t in 20..<40 {
                let f = b ^ c ^ d
                let temp = Self.rotateLeft(a, by: 5) &+ f &+ e &+ 0x6ED9_EBA1 &+ w[t]
                e = d
                d = c
                c = Self.rotateLeft(b, by: 30)
                b = a
                a = temp
            }
            for t in 40..<60 {
                let f = (b & c) | (b & d) | (c & d)
                let temp = Self.rotateLeft(a, by: 5) &+ f &+ e &+ 0x8F1B_BCDC &+ w[t]
                e = d
                d = c
                c = Self.rotateLeft(b, by: 30)
                b = a
                a = temp
            }
            for t in 60..<80 {
                let f = b ^ c ^ d
                let temp = Self.rotateLeft(a, by: 5) &+ f &+ e &+ 0xCA62_C1D6 &+ w[t]
                e = d
                d = c
                c = Self.rotateLeft(b, by: 30)
                b = a
                a = temp
            }

            h0 = h0 &+ a
            h1 = h1 &+ b
            h2 = h2 &+ c
            h3 = h3 &+ d
            h4 = h4 &+ e
        }
    }
}
