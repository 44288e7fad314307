/// A Lua script with its SHA1 digest, run with `EVALSHA` (loaded and retried once on `NOSCRIPT`).
public struct RedisScript: Hashable, Sendable {
    /// The Lua source.
    public let source: String
    /// Lowercase hex SHA1 of `source`, as `SCRIPT LOAD` returns it.
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(of: Array(source.utf8))
    }
}
