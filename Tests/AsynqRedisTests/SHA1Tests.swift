import AsynqRedis
import Testing

@Suite("SHA1")
struct SHA1Tests {
    struct Vector: Sendable, CustomTestStringConvertible {
        let name: String
        let message: [UInt8]
        let hex: String

        var testDescription: String { name }
    }

    /// The FIPS 180 examples, plus two everyday strings.
    static let fipsVectors: [Vector] = [
        Vector(name: "empty", message: [], hex: "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        Vector(name: "abc", message: Array("abc".utf8), hex: "a9993e364706816aba3e25717850c26c9cd0d89d"),
        Vector(
            name: "448-bit message",
            message: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
            hex: "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        ),
        Vector(
            name: "896-bit message",
            message: Array(
                "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
                    .utf8
            ),
            hex: "a49b2446a02c645bf419f995b67091253a04a259"
        ),
        Vector(
            name: "quick brown fox",
            message: Array("The quick brown fox jumps over the lazy dog".utf8),
            hex: "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"
        ),
        Vector(name: "lua return 1", message: Array("return 1".utf8), hex: "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"),
    ]

    @Test(arguments: fipsVectors)
    func knownAnswers(_ vector: Vector) {
        #expect(SHA1.hexDigest(of: vector.message) == vector.hex)
    }

    @Test func oneMillionA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA1.hexDigest(of: message) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    /// Messages of bytes 0, 1, 2, … (mod 256) whose lengths straddle the padding boundaries
    /// (55/56 bytes: length fits or spills into a second block; 64: exactly one block).
    /// Expected values from `sha1sum`.
    @Test(arguments: [
        (1, "5ba93c9db0cff93f52b521d7420e43f6eda2784f"),
        (55, "8ae2d46729cfe68ff927af5eec9c7d1b66d65ac2"),
        (56, "636e2ec698dac903498e648bd2f3af641d3c88cb"),
        (57, "7cb1330f35244b57437539253304ea78a6b7c443"),
        (63, "6d942da0c4392b123528f2905c713a3ce28364bd"),
        (64, "c6138d514ffa2135bfce0ed0b8fac65669917ec7"),
        (65, "69bd728ad6e13cd76ff19751fde427b00e395746"),
        (119, "41c89d06001bab4ab78736b44efe7ce18ce6ae08"),
        (120, "d3dbd653bd8597b7475321b60a36891278e6a04a"),
        (127, "89d7312a903f65cd2b3e34a975e55dbea9033353"),
        (128, "e6434bc401f98603d7eda504790c98c67385d535"),
        (129, "3352e41cc30b40ae80108970492b21014049e625"),
        (1000, "af0b191c2de46fe13fe0908f5a6a4e90e0cafc46"),
    ])
    func blockBoundaries(length: Int, hex: String) {
        let message = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        #expect(SHA1.hexDigest(of: message) == hex)
        // The same bytes through a collection without contiguous storage.
        let lazyMessage = (0..<length).lazy.map { UInt8(truncatingIfNeeded: $0) }
        #expect(SHA1.hexString(SHA1.digest(of: lazyMessage)) == hex)
    }

    @Test func digestIsTwentyBytesAndHexIsLowercase() {
        let digest = SHA1.digest(of: Array("abc".utf8))
        #expect(digest.count == 20)
        #expect(digest.prefix(4) == [0xA9, 0x99, 0x3E, 0x36])
        let hex = SHA1.hexDigest(of: Array("abc".utf8))
        #expect(hex.count == 40)
        #expect(hex == hex.lowercased())
    }

    @Test func sliceAndArrayAgree() {
        let bytes = (0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let slice = bytes[13..<213]
        #expect(SHA1.digest(of: slice) == SHA1.digest(of: Array(slice)))
    }

    @Test func redisScriptUsesSHA1() {
        #expect(RedisScript("return 1").sha1 == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db")
    }
}
