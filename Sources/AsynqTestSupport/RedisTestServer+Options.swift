public import AsynqRedis

extension RedisTestServer {
    /// Options for a plain TCP connection. Authenticates as `user` when given, else as the default
    /// user with `options.password` (if any).
    public func connectionOptions(database: Int = 0, user: ACLUser? = nil) -> RedisConnectionOptions {
        .standalone(
            host: host,
            port: port,
            username: user?.name,
            password: user.map(\.password) ?? options.password,
            database: database
        )
    }

    /// Options for the unix socket; throws unless the server was started with `unixSocket: true`.
    public func unixSocketConnectionOptions(
        database: Int = 0, user: ACLUser? = nil
    ) throws(TestSupportError) -> RedisConnectionOptions {
        guard let unixSocketPath else {
            throw TestSupportError(.notRunning, "the server was started without a unix socket (Options.unixSocket)")
        }
        return .standalone(
            unixSocket: unixSocketPath,
            username: user?.name,
            password: user.map(\.password) ?? options.password,
            database: database
        )
    }

    /// TLS settings trusting the test CA, with the client certificate when `clientCertificate`;
    /// nil unless the server was started with `tls: true`.
    public func tlsConfiguration(
        clientCertificate: Bool = true, serverName: String? = "localhost"
    ) -> RedisTLSConfiguration? {
        guard let certificates else { return nil }
        return RedisTLSConfiguration(
            caFile: certificates.caFile,
            certificateFile: clientCertificate ? certificates.clientCert : nil,
            privateKeyFile: clientCertificate ? certificates.clientKey : nil,
            serverName: serverName
        )
    }

    /// Options for the TLS port; throws unless the server was started with `tls: true`.
    public func tlsConnectionOptions(
        database: Int = 0,
        user: ACLUser? = nil,
        clientCertificate: Bool = true,
        serverName: String? = "localhost"
    ) throws(TestSupportError) -> RedisConnectionOptions {
        guard let tlsPort, let tls = tlsConfiguration(clientCertificate: clientCertificate, serverName: serverName)
        else {
            throw TestSupportError(.notRunning, "the server was started without TLS (Options.tls)")
        }
        return .standalone(
            host: host,
            port: tlsPort,
            username: user?.name,
            password: user.map(\.password) ?? options.password,
            database: database,
            tls: tls
        )
    }
}
