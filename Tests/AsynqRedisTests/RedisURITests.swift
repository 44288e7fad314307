import AsynqRedis
import Testing

@Suite("Redis URI parsing")
struct RedisURITests {
    struct Good: Sendable, CustomTestStringConvertible {
        let uri: String
        let topology: RedisConnectionOptions.Topology
        var username: String?
        var password: String?
        var database = 0
        var tls: RedisTLSConfiguration?

        var testDescription: String { uri }
    }

    static func tcp(_ host: String, _ port: Int = 6379) -> RedisConnectionOptions.Topology {
        .standalone(.tcp(host: host, port: port))
    }

    static func sentinel(
        _ master: String,
        _ sentinels: [RedisServerAddress],
        username: String? = nil,
        password: String? = nil
    ) -> RedisConnectionOptions.Topology {
        .sentinel(masterName: master, sentinels: sentinels, username: username, password: password)
    }

    static let goodURIs: [Good] = [
        // redis://
        Good(uri: "redis://localhost", topology: tcp("localhost")),
        Good(uri: "redis://localhost:6379", topology: tcp("localhost")),
        Good(uri: "redis://127.0.0.1:6380", topology: tcp("127.0.0.1", 6380)),
        Good(uri: "redis://localhost:6379/", topology: tcp("localhost")),
        Good(uri: "redis://localhost:6379/3", topology: tcp("localhost"), database: 3),
        Good(uri: "redis://localhost/12/ignored/segments", topology: tcp("localhost"), database: 12),
        Good(uri: "redis://localhost//5", topology: tcp("localhost"), database: 5),
        Good(uri: "redis://localhost:6379/0?ignored=yes", topology: tcp("localhost")),
        Good(uri: "redis://localhost?foo=bar", topology: tcp("localhost")),
        Good(uri: "REDIS://Redis.Example.COM:7000", topology: tcp("Redis.Example.COM", 7000)),
        Good(uri: "redis://my_redis-1.internal", topology: tcp("my_redis-1.internal")),
        Good(
            uri: "redis://:mypassword@localhost:6379/1", topology: tcp("localhost"), password: "mypassword", database: 1
        ),
        Good(uri: "redis://:@localhost", topology: tcp("localhost")),
        Good(
            uri: "redis://alice:s3cret@cache:6390/2", topology: tcp("cache", 6390), username: "alice",
            password: "s3cret", database: 2),
        Good(uri: "redis://alice@cache", topology: tcp("cache"), username: "alice"),
        Good(
            uri: "redis://:p%40ss%3Aw%2Ford%23%3F%25@localhost", topology: tcp("localhost"), password: "p@ss:w/ord#?%"),
        Good(uri: "redis://us%65r:pa:ss@localhost", topology: tcp("localhost"), username: "user", password: "pa:ss"),
        Good(uri: "redis://:p@ss@localhost", topology: tcp("localhost"), password: "p@ss"),
        Good(uri: "redis://:p%C3%A4ss@localhost", topology: tcp("localhost"), password: "päss"),
        Good(uri: "redis://:pa+ss@localhost", topology: tcp("localhost"), password: "pa+ss"),
        // IPv6
        Good(uri: "redis://[::1]", topology: tcp("::1")),
        Good(uri: "redis://[::1]:6380/4", topology: tcp("::1", 6380), database: 4),
        Good(uri: "redis://:pw@[2001:db8::7]:7001", topology: tcp("2001:db8::7", 7001), password: "pw"),
        Good(uri: "redis://[::ffff:192.0.2.1]", topology: tcp("::ffff:192.0.2.1")),
        Good(uri: "redis://[fe80::1%25eth0]:6379", topology: tcp("fe80::1%eth0")),
        // rediss://
        Good(
            uri: "rediss://localhost", topology: tcp("localhost"), tls: RedisTLSConfiguration(serverName: "localhost")),
        Good(
            uri: "rediss://:pw@redis.example.com:6380/2",
            topology: tcp("redis.example.com", 6380),
            password: "pw",
            database: 2,
            tls: RedisTLSConfiguration(serverName: "redis.example.com")
        ),
        Good(uri: "rediss://[::1]:6380", topology: tcp("::1", 6380), tls: RedisTLSConfiguration(serverName: "::1")),
        // redis-socket://
        Good(
            uri: "redis-socket:///var/run/redis/redis.sock",
            topology: .standalone(.unix(path: "/var/run/redis/redis.sock"))),
        Good(uri: "redis-socket://localhost/tmp/redis.sock", topology: .standalone(.unix(path: "/tmp/redis.sock"))),
        Good(
            uri: "redis-socket:///tmp/redis.sock?db=7", topology: .standalone(.unix(path: "/tmp/redis.sock")),
            database: 7),
        Good(uri: "redis-socket:///tmp/redis.sock?db=", topology: .standalone(.unix(path: "/tmp/redis.sock"))),
        Good(
            uri: "redis-socket://:pw@/tmp/redis.sock?foo=1&db=2&db=9",
            topology: .standalone(.unix(path: "/tmp/redis.sock")),
            password: "pw",
            database: 2
        ),
        Good(
            uri: "redis-socket://bob:pw@/tmp/my%20redis.sock",
            topology: .standalone(.unix(path: "/tmp/my redis.sock")),
            username: "bob",
            password: "pw"
        ),
        Good(
            uri: "redis-socket:///run/user@1000/redis.sock",
            topology: .standalone(.unix(path: "/run/user@1000/redis.sock"))),
        // redis-sentinel://
        Good(
            uri: "redis-sentinel://localhost:5000,localhost:5001,localhost:5002?master=mymaster",
            topology: sentinel(
                "mymaster",
                [
                    .tcp(host: "localhost", port: 5000), .tcp(host: "localhost", port: 5001),
                    .tcp(host: "localhost", port: 5002),
                ]
            )
        ),
        Good(
            uri: "redis-sentinel://:sentinelpw@s1:26379,s2/3?master=main",
            topology: sentinel(
                "main",
                [.tcp(host: "s1", port: 26379), .tcp(host: "s2", port: 26379)],
                password: "sentinelpw"
            ),
            database: 3
        ),
        Good(
            uri: "redis-sentinel://admin:pw@[::1]:26380,10.0.0.2:26381?master=my+master",
            topology: sentinel(
                "my master",
                [.tcp(host: "::1", port: 26380), .tcp(host: "10.0.0.2", port: 26381)],
                username: "admin",
                password: "pw"
            )
        ),
        Good(
            uri: "redis-sentinel://s1?master=a%26b&master=second",
            topology: sentinel("a&b", [.tcp(host: "s1", port: 26379)])
        ),
    ]

    @Test(arguments: goodURIs)
    func parsesGoodURI(_ good: Good) throws {
        let options = try RedisConnectionOptions(uri: good.uri)
        #expect(options.topology == good.topology)
        #expect(options.username == good.username)
        #expect(options.password == good.password)
        #expect(options.database == good.database)
        #expect(options.tls == good.tls)
    }

    struct Bad: Sendable, CustomTestStringConvertible {
        let uri: String
        /// Text the error message must contain.
        let message: String

        var testDescription: String { uri }
    }

    static let badURIs: [Bad] = [
        // Scheme
        Bad(uri: "http://localhost:6379", message: #"asynq: unsupported uri scheme: "http""#),
        Bad(uri: "HTTPS://localhost", message: #"asynq: unsupported uri scheme: "https""#),
        Bad(uri: "localhost:6379", message: #"asynq: unsupported uri scheme: "localhost""#),
        Bad(uri: "127.0.0.1:6379", message: #"asynq: unsupported uri scheme: """#),
        Bad(uri: "", message: #"asynq: unsupported uri scheme: """#),
        Bad(uri: "redis+sentinel://h?master=m", message: #"asynq: unsupported uri scheme: "redis+sentinel""#),
        Bad(uri: "redis:localhost", message: #"expected "//" after "redis:""#),
        Bad(uri: "redis:/localhost", message: #"expected "//" after "redis:""#),
        // Database
        Bad(
            uri: "redis://localhost/db1",
            message: "asynq: could not parse redis uri: database number should be the first segment of the path"),
        Bad(uri: "redis://localhost:6379/-1", message: "database number should be the first segment of the path"),
        Bad(uri: "redis://localhost:6379/+1", message: "database number should be the first segment of the path"),
        Bad(
            uri: "redis://localhost/99999999999999999999999",
            message: "database number should be the first segment of the path"),
        Bad(uri: "rediss://localhost/x", message: "database number should be the first segment of the path"),
        Bad(
            uri: "redis-sentinel://s1/abc?master=m", message: "database number should be the first segment of the path"),
        // Host and port
        Bad(uri: "redis://", message: "asynq: could not parse redis uri: missing host"),
        Bad(uri: "redis:///0", message: "missing host"),
        Bad(uri: "redis://:pw@", message: "missing host"),
        Bad(uri: "redis://:pw@:6379", message: "missing host"),
        Bad(uri: "redis://localhost:", message: #"invalid port "" in "localhost:""#),
        Bad(uri: "redis://localhost:0", message: #"invalid port "0""#),
        Bad(uri: "redis://localhost:65536", message: #"invalid port "65536""#),
        Bad(uri: "redis://localhost:63a9", message: #"invalid port "63a9""#),
        Bad(uri: "redis://localhost:+80", message: #"invalid port "+80""#),
        Bad(uri: "redis://[::1]:", message: "invalid port"),
        Bad(uri: "redis://[::1]x", message: "unexpected text after ']'"),
        Bad(uri: "redis://[::1", message: "missing ']'"),
        Bad(uri: "redis://[]:6379", message: "invalid IPv6 address"),
        Bad(uri: "redis://[example.com]", message: "invalid IPv6 address"),
        Bad(uri: "redis://[fe80::1%eth0]", message: "invalid IPv6 zone"),
        Bad(uri: "redis://::1", message: "must be in brackets"),
        Bad(uri: "redis://fe80::1:6379", message: "must be in brackets"),
        Bad(uri: "redis://local host", message: "unexpected space"),
        Bad(uri: "redis://local%20host", message: "invalid character in host"),
        Bad(uri: "redis://loc,alhost", message: "invalid character in host"),
        // Credentials
        Bad(uri: "redis://:bad%zzpw@localhost", message: "invalid percent-encoding in password"),
        Bad(uri: "redis://:pw%4@localhost", message: "invalid percent-encoding in password"),
        Bad(uri: "redis://us%er:pw@localhost", message: "invalid percent-encoding in user name"),
        Bad(uri: "redis://:%FF%FE@localhost", message: "not valid UTF-8"),
        Bad(uri: "redis://:pa#ss@localhost", message: "percent-encode it as %23"),
        Bad(uri: "redis://:pa/ss@localhost", message: "'@' after the host"),
        Bad(uri: "redis://:pa?ss@localhost", message: "'@' after the host"),
        // redis-socket
        Bad(uri: "redis-socket://", message: "asynq: could not parse redis socket uri: path does not exist"),
        Bad(uri: "redis-socket:///", message: "path does not exist"),
        Bad(uri: "redis-socket://:pw@", message: "path does not exist"),
        Bad(uri: "redis-socket:///?db=1", message: "path does not exist"),
        Bad(uri: "redis-socket://tmp/redis.sock", message: #"unexpected host "tmp""#),
        Bad(
            uri: "redis-socket:///tmp/redis.sock?db=one",
            message: "asynq: could not parse redis socket uri: query param `db` should be a number"),
        Bad(uri: "redis-socket:///tmp/redis.sock?db=-2", message: "query param `db` should be a number"),
        Bad(uri: "redis-socket:///tmp/redis.sock?db=%", message: "invalid percent-encoding in query"),
        // redis-sentinel
        Bad(
            uri: "redis-sentinel://s1:26379,s2:26379",
            message: "asynq: could not parse redis sentinel uri: missing master name"),
        Bad(uri: "redis-sentinel://s1?master=", message: "missing master name"),
        Bad(uri: "redis-sentinel://s1?mastername=x", message: "missing master name"),
        Bad(uri: "redis-sentinel://?master=m", message: "missing sentinel addresses"),
        Bad(uri: "redis-sentinel://:pw@/0?master=m", message: "missing sentinel addresses"),
        Bad(uri: "redis-sentinel://s1,,s2?master=m", message: "empty sentinel address"),
        Bad(uri: "redis-sentinel://s1,?master=m", message: "empty sentinel address"),
        Bad(uri: "redis-sentinel://s1:abc,s2?master=m", message: #"invalid port "abc""#),
        Bad(uri: "redis-sentinel://s1:1,::1?master=m", message: "must be in brackets"),
    ]

    @Test(arguments: badURIs)
    func rejectsBadURI(_ bad: Bad) {
        do {
            let options = try RedisConnectionOptions(uri: bad.uri)
            Issue.record("expected an error, got \(options.topology)")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(bad.message), "message: \(error.message)")
        }
    }

    @Test func unsupportedSchemeMessageIsExactlyGos() {
        #expect(throws: RedisClientError(.invalidConfiguration, #"asynq: unsupported uri scheme: "mongodb""#)) {
            try RedisConnectionOptions(uri: "mongodb://localhost")
        }
    }

    @Test(arguments: [
        "redis://:hunter2@localhost:99999",
        "redis://:hunter2@localhost/nodb",
        "redis://:hunter2%zz@localhost",
        "redis://:hun/ter2@localhost",
        "redis://:hun?ter2@localhost",
        "redis://:hun#ter2@localhost",
        "redis-sentinel://:hunter2@s1",
        "redis-socket://:hunter2@",
        "redis://:hunter2@[::1",
    ])
    func errorsNeverContainThePassword(uri: String) {
        do {
            _ = try RedisConnectionOptions(uri: uri)
            Issue.record("expected an error")
        } catch {
            #expect(!error.message.contains("hunter"), "message: \(error.message)")
            #expect(!error.message.contains("ter2"), "message: \(error.message)")
        }
    }

    @Test func sentinelPasswordIsNotTheMasterPassword() throws {
        let options = try RedisConnectionOptions(uri: "redis-sentinel://:sentinelpw@s1:26379?master=mymaster")
        #expect(options.password == nil)
        #expect(options.username == nil)
        guard case .sentinel(let master, _, _, let sentinelPassword) = options.topology else {
            Issue.record("expected a sentinel topology, got \(options.topology)")
            return
        }
        #expect(master == "mymaster")
        #expect(sentinelPassword == "sentinelpw")
    }

    @Test func otherOptionsKeepTheirDefaults() throws {
        let parsed = try RedisConnectionOptions(uri: "redis://localhost")
        let defaults = RedisConnectionOptions.standalone()
        #expect(parsed.protocolVersion == defaults.protocolVersion)
        #expect(parsed.connectTimeout == defaults.connectTimeout)
        #expect(parsed.commandTimeout == defaults.commandTimeout)
        #expect(parsed.maxConnections == defaults.maxConnections)
        #expect(parsed.clientName == nil)
    }
}
