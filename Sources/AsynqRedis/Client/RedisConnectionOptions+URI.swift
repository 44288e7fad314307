extension RedisConnectionOptions {
    /// Builds options from a connection URI, accepting the schemes of Go asynq's `ParseRedisURI`.
    ///
    /// | Scheme | Form | Result |
    /// |---|---|---|
    /// | `redis` | `redis://[[user]:password@]host[:port][/db]` | one server over TCP |
    /// | `rediss` | same | the same over TLS, verifying the certificate against `host` (`serverName`) |
    /// | `redis-socket` | `redis-socket://[[user]:password@]/path/to/socket[?db=N]` | one server on a unix socket |
    /// | `redis-sentinel` | `redis-sentinel://[[user]:password@]h1:p1,h2:p2[/db]?master=name` | a master found through Sentinel |
    /// | `redis-cluster` | `redis-cluster://[[user]:password@]h1:p1,h2:p2` | a Redis Cluster (extension: not in Go asynq) |
    ///
    /// Rules, mostly those of Go asynq:
    /// - The scheme is case-insensitive. Any other scheme throws
    ///   `asynq: unsupported uri scheme: "<scheme>"`.
    /// - `port` defaults to 6379 (26379 for the sentinels of `redis-sentinel`); it must be 1–65535.
    ///   IPv6 literals go in brackets: `redis://[::1]:6380`, `redis://[fe80::1%25eth0]`.
    /// - `db` is the first segment of the path and must be a non-negative integer; later segments
    ///   are ignored, as in Go. An empty path or a lone `/` means database 0 (Go rejects the lone `/`).
    ///   For `redis-socket` the path is the socket, so the database is the `db` query parameter.
    /// - User name and password are percent-decoded, so `/`, `?`, `#`, `@` and `:` in them must be
    ///   written `%2F`, `%3F`, `%23`, `%40` and `%3A`. An empty password means none.
    /// - Extension: Go asynq ignores the user name; this parser keeps it as the ACL user (Redis 6+).
    ///   `:password@` (no user) authenticates as the default user, exactly as in Go.
    /// - `redis-sentinel`: the user name and password authenticate to the **sentinels** (Go's
    ///   `SentinelPassword`), not to the master; set `password` on the result for the master.
    ///   The `master` query parameter is required. Hosts are split on commas.
    /// - `redis-cluster` (an extension of this port): hosts are seed nodes, split on commas; the
    ///   credentials are those of the nodes. There is no database (a path other than `/` or `/0` is
    ///   rejected).
    /// - `redis-socket` allows no host other than `localhost`.
    /// - Other query parameters are ignored, as in Go; a fragment (`#…`) is rejected because it
    ///   usually means an unencoded `#` in a password.
    ///
    /// Errors are ``RedisClientError`` with code `.invalidConfiguration`; their messages never
    /// contain the password.
    public init(uri: String) throws(RedisClientError) {
        self = try RedisURIParser(uri: uri).parse()
    }
}

/// A hand-written parser for the small subset of RFC 3986 that Redis URIs use. It works on the
/// UTF-8 bytes of the URI, so every index below is a byte offset.
private struct RedisURIParser {
    private let bytes: [UInt8]

    init(uri: String) {
        self.bytes = Array(uri.utf8)
    }

    private enum Scheme: String {
        case redis
        case rediss
        case redisSocket = "redis-socket"
        case redisSentinel = "redis-sentinel"
        case redisCluster = "redis-cluster"

        var errorPrefix: String {
            switch self {
            case .redis, .rediss: "asynq: could not parse redis uri"
            case .redisSocket: "asynq: could not parse redis socket uri"
            case .redisSentinel: "asynq: could not parse redis sentinel uri"
            case .redisCluster: "asynq: could not parse redis cluster uri"
            }
        }
    }

    /// The pieces of `scheme://userinfo@authority/path?query`, still percent-encoded.
    private struct Parts {
        var scheme: Scheme
        var userinfo: ArraySlice<UInt8>?
        var host: ArraySlice<UInt8>
        var path: ArraySlice<UInt8>
        var query: ArraySlice<UInt8>?
    }

    func parse() throws(RedisClientError) -> RedisConnectionOptions {
        let parts = try split()
        let prefix = parts.scheme.errorPrefix
        let credentials = try Self.credentials(parts.userinfo, prefix: prefix)

        switch parts.scheme {
        case .redis, .rediss:
            let address = try Self.hostAndPort(parts.host, defaultPort: 6379, prefix: prefix)
            let database = try Self.databaseFromPath(parts.path, prefix: prefix)
            var tls: RedisTLSConfiguration?
            if parts.scheme == .rediss, case .tcp(let host, _) = address {
                tls = RedisTLSConfiguration(serverName: host)
            }
            return RedisConnectionOptions(
                topology: .standalone(address),
                username: credentials.username,
                password: credentials.password,
                database: database,
                tls: tls
            )

        case .redisSocket:
            let host = try Self.decode(parts.host, prefix: prefix, what: "host")
            guard host.isEmpty || Self.isLocalhost(parts.host) else {
                throw Self.error(
                    prefix,
                    "unexpected host \"\(host)\" (write redis-socket:///path/to/socket, with three slashes)"
                )
            }
            let path = try Self.decode(parts.path, prefix: prefix, what: "path")
            guard !path.isEmpty, path != "/" else {
                throw Self.error(
                    prefix,
                    "path does not exist (expected redis-socket://[:password@]/path/to/socket[?db=N])"
                )
            }
            let query = try Self.queryItems(parts.query, prefix: prefix)
            var database = 0
            if let text = Self.firstValue(named: "db", in: query), !text.isEmpty {
                guard let value = Self.nonNegativeInteger(text) else {
                    throw Self.error(prefix, "query param `db` should be a number")
                }
                database = value
            }
            return .standalone(
                unixSocket: path,
                username: credentials.username,
                password: credentials.password,
                database: database
            )

        case .redisSentinel:
            var sentinels: [RedisServerAddress] = []
            for entry in parts.host.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                if entry.isEmpty {
                    throw Self.error(
                        prefix,
                        parts.host.isEmpty ? "missing sentinel addresses" : "empty sentinel address in host list"
                    )
                }
                sentinels.append(try Self.hostAndPort(entry, defaultPort: 26379, prefix: prefix))
            }
            let database = try Self.databaseFromPath(parts.path, prefix: prefix)
            let query = try Self.queryItems(parts.query, prefix: prefix)
            guard let master = Self.firstValue(named: "master", in: query), !master.isEmpty else {
                throw Self.error(prefix, "missing master name (add ?master=<name>)")
            }
            return .sentinel(
                masterName: master,
                sentinels: sentinels,
                sentinelUsername: credentials.username,
                sentinelPassword: credentials.password,
                database: database
            )

        case .redisCluster:
            var nodes: [RedisServerAddress] = []
            for entry in parts.host.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
                if entry.isEmpty {
                    throw Self.error(
                        prefix,
                        parts.host.isEmpty ? "missing node addresses" : "empty node address in host list"
                    )
                }
                nodes.append(try Self.hostAndPort(entry, defaultPort: 6379, prefix: prefix))
            }
            guard try Self.databaseFromPath(parts.path, prefix: prefix) == 0 else {
                throw Self.error(prefix, "Redis Cluster has only database 0")
            }
            return .cluster(nodes: nodes, username: credentials.username, password: credentials.password)
        }
    }

    // MARK: - Splitting

    private func split() throws(RedisClientError) -> Parts {
        // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), ended by ":".
        var index = 0
        var schemeText = ""
        if let first = bytes.first, Self.isLetter(first) {
            var end = 1
            while end < bytes.count, Self.isSchemeByte(bytes[end]) { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: ":") {
                schemeText = String(decoding: bytes[0..<end], as: UTF8.self).lowercased()
                index = end + 1
            }
        }
        guard let scheme = Scheme(rawValue: schemeText) else {
            throw RedisClientError(.invalidConfiguration, "asynq: unsupported uri scheme: \"\(schemeText)\"")
        }
        let prefix = scheme.errorPrefix
        guard bytes.count >= index + 2, bytes[index] == UInt8(ascii: "/"), bytes[index + 1] == UInt8(ascii: "/") else {
            throw Self.error(prefix, "expected \"//\" after \"\(scheme.rawValue):\"")
        }
        index += 2

        if bytes[index...].contains(UInt8(ascii: "#")) {
            throw Self.error(prefix, "unexpected '#' (percent-encode it as %23 in a user name or password)")
        }
        if let bad = bytes[index...].first(where: { $0 < 0x21 || $0 == 0x7F }) {
            let what = bad == UInt8(ascii: " ") ? "space" : "control character"
            throw Self.error(prefix, "unexpected \(what) in uri (percent-encode it)")
        }

        // authority runs to the first "/" or "?".
        let rest = bytes[index...]
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.count
        let authority = bytes[index..<authorityEnd]
        let afterAuthority = bytes[authorityEnd...]
        let queryStart = afterAuthority.firstIndex(of: UInt8(ascii: "?"))
        let path = bytes[authorityEnd..<(queryStart ?? bytes.count)]
        let query = queryStart.map { bytes[($0 + 1)...] }

        // userinfo ends at the last "@" of the authority (as Go does), so an unencoded "@" in a
        // password still works.
        var userinfo: ArraySlice<UInt8>?
        var host = authority
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) {
            userinfo = bytes[authority.startIndex..<at]
            host = bytes[(at + 1)..<authority.endIndex]
        } else if !authority.isEmpty, afterAuthority.contains(UInt8(ascii: "@")),
            scheme != .redisSocket || !Self.isLocalhost(authority)
        {
            // Most likely a password with an unencoded "/" or "?": say so without echoing any of it.
            throw Self.error(prefix, "'@' after the host: percent-encode '/' and '?' in the password as %2F and %3F")
        }
        return Parts(scheme: scheme, userinfo: userinfo, host: host, path: path, query: query)
    }

    // MARK: - Components

    private static func credentials(
        _ userinfo: ArraySlice<UInt8>?,
        prefix: String
    ) throws(RedisClientError) -> (username: String?, password: String?) {
        guard let userinfo else { return (nil, nil) }
        let user: ArraySlice<UInt8>
        var password: String?
        if let colon = userinfo.firstIndex(of: UInt8(ascii: ":")) {
            user = userinfo[userinfo.startIndex..<colon]
            password = try decode(userinfo[(colon + 1)...], prefix: prefix, what: "password")
        } else {
            user = userinfo
        }
        let username = try decode(user, prefix: prefix, what: "user name")
        return (username.isEmpty ? nil : username, password?.isEmpty == false ? password : nil)
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`.
    private static func hostAndPort(
        _ text: ArraySlice<UInt8>,
        defaultPort: Int,
        prefix: String
    ) throws(RedisClientError) -> RedisServerAddress {
        let shown = String(decoding: text, as: UTF8.self)
        if text.isEmpty {
            throw error(prefix, "missing host")
        }
        let host: String
        let portText: ArraySlice<UInt8>?
        if text.first == UInt8(ascii: "[") {
            guard let close = text.firstIndex(of: UInt8(ascii: "]")) else {
                throw error(prefix, "missing ']' in host \"\(shown)\"")
            }
            let literal = text[(text.startIndex + 1)..<close]
            host = try ipv6Literal(literal, shown: shown, prefix: prefix)
            let after = text[(close + 1)...]
            if after.isEmpty {
                portText = nil
            } else if after.first == UInt8(ascii: ":") {
                portText = after.dropFirst()
            } else {
                throw error(prefix, "unexpected text after ']' in host \"\(shown)\"")
            }
        } else {
            let colons = text.lazy.filter { $0 == UInt8(ascii: ":") }.count
            if colons > 1 {
                throw error(prefix, "IPv6 address \"\(shown)\" must be in brackets, e.g. [::1]:6379")
            }
            let nameBytes: ArraySlice<UInt8>
            if let colon = text.firstIndex(of: UInt8(ascii: ":")) {
                nameBytes = text[text.startIndex..<colon]
                portText = text[(colon + 1)...]
            } else {
                nameBytes = text
                portText = nil
            }
            if nameBytes.isEmpty {
                throw error(prefix, "missing host in \"\(shown)\"")
            }
            guard nameBytes.allSatisfy(isHostNameByte) else {
                throw error(prefix, "invalid character in host \"\(shown)\"")
            }
            host = String(decoding: nameBytes, as: UTF8.self)
        }

        var port = defaultPort
        if let portText {
            let portString = String(decoding: portText, as: UTF8.self)
            guard let value = nonNegativeInteger(portString), (1...65535).contains(value) else {
                throw error(prefix, "invalid port \"\(portString)\" in \"\(shown)\" (expected 1-65535)")
            }
            port = value
        }
        return .tcp(host: host, port: port)
    }

    /// The inside of `[...]`: hex digits, `:` and `.` (embedded IPv4), optionally followed by a
    /// zone written `%25zone`.
    private static func ipv6Literal(
        _ literal: ArraySlice<UInt8>,
        shown: String,
        prefix: String
    ) throws(RedisClientError) -> String {
        var address = literal
        var zone = ""
        if let percent = literal.firstIndex(of: UInt8(ascii: "%")) {
            address = literal[literal.startIndex..<percent]
            let encodedZone = literal[percent...]
            guard encodedZone.starts(with: Array("%25".utf8)) else {
                throw error(prefix, "invalid IPv6 zone in host \"\(shown)\" (write the '%' as %25)")
            }
            zone = try decode(encodedZone.dropFirst(3), prefix: prefix, what: "IPv6 zone")
            guard !zone.isEmpty else {
                throw error(prefix, "empty IPv6 zone in host \"\(shown)\"")
            }
        }
        let valid =
            address.contains(UInt8(ascii: ":"))
            && address.allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
        guard valid else {
            throw error(prefix, "invalid IPv6 address in host \"\(shown)\"")
        }
        let text = String(decoding: address, as: UTF8.self)
        return zone.isEmpty ? text : "\(text)%\(zone)"
    }

    /// The database number from the first path segment; 0 when the path is empty.
    private static func databaseFromPath(_ path: ArraySlice<UInt8>, prefix: String) throws(RedisClientError) -> Int {
        let segments = path.split(separator: UInt8(ascii: "/"))
        guard let first = segments.first else { return 0 }
        let text = try decode(first, prefix: prefix, what: "path")
        guard let database = nonNegativeInteger(text) else {
            throw error(prefix, "database number should be the first segment of the path")
        }
        return database
    }

    private static func queryItems(
        _ query: ArraySlice<UInt8>?,
        prefix: String
    ) throws(RedisClientError) -> [(name: String, value: String)] {
        guard let query else { return [] }
        var items: [(name: String, value: String)] = []
        for pair in query.split(separator: UInt8(ascii: "&")) {
            let name: ArraySlice<UInt8>
            let value: ArraySlice<UInt8>
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                name = pair[pair.startIndex..<equals]
                value = pair[(equals + 1)...]
            } else {
                name = pair
                value = []
            }
            let decodedName = try decode(name, prefix: prefix, what: "query", plusIsSpace: true)
            let decodedValue = try decode(value, prefix: prefix, what: "query", plusIsSpace: true)
            items.append((decodedName, decodedValue))
        }
        return items
    }

    private static func firstValue(named name: String, in items: [(name: String, value: String)]) -> String? {
        items.first { $0.name == name }?.value
    }

    // MARK: - Helpers

    private static func error(_ prefix: String, _ detail: String) -> RedisClientError {
        RedisClientError(.invalidConfiguration, "\(prefix): \(detail)")
    }

    /// Decodes `%XX` escapes (and `+` as a space in queries); the result must be valid UTF-8.
    private static func decode(
        _ text: ArraySlice<UInt8>,
        prefix: String,
        what: String,
        plusIsSpace: Bool = false
    ) throws(RedisClientError) -> String {
        guard text.contains(UInt8(ascii: "%")) || (plusIsSpace && text.contains(UInt8(ascii: "+"))) else {
            return String(decoding: text, as: UTF8.self)
        }
        var output: [UInt8] = []
        output.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < text.endIndex,
                    let high = hexValue(text[index + 1]),
                    let low = hexValue(text[index + 2])
                else {
                    throw error(prefix, "invalid percent-encoding in \(what)")
                }
                output.append(high << 4 | low)
                index += 3
            } else {
                output.append(plusIsSpace && byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
                index += 1
            }
        }
        guard let decoded = String(validating: output, as: UTF8.self) else {
            throw error(prefix, "percent-encoded \(what) is not valid UTF-8")
        }
        return decoded
    }

    /// Digits only (no sign, no spaces), fitting in an `Int`.
    private static func nonNegativeInteger(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        return Int(text)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func isLocalhost(_ host: ArraySlice<UInt8>) -> Bool {
        String(decoding: host, as: UTF8.self).lowercased() == "localhost"
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        hexValue(byte) != nil
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }

    private static func isSchemeByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }

    /// Letters, digits, `-`, `.`, `_`, `~`: enough for DNS names, IPv4 and container host names.
    private static func isHostNameByte(_ byte: UInt8) -> Bool {
        isLetter(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
            || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "~")
    }
}
