import NIOSSL

/// Builds the NIOSSL context for a TLS configuration (once per client, not per connection).
enum TLSContextCache {
    static func makeContext(_ tls: RedisTLSConfiguration) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        do {
            if let caFile = tls.caFile {
                configuration.trustRoots = .file(caFile)
            }
            if let certificateFile = tls.certificateFile {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
                guard let keyFile = tls.privateKeyFile else {
                    throw RedisClientError(.invalidConfiguration, "a TLS client certificate needs its private key file")
                }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            }
            if tls.skipVerify {
                configuration.certificateVerification = .none
            }
            return try NIOSSLContext(configuration: configuration)
        } catch let error as RedisClientError {
            throw error
        } catch {
            throw RedisClientError(.tlsFailure, "could not set up TLS: \(error)")
        }
    }
}
