#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// PEM files for TLS tests, made with `openssl` at test time: a CA, a server certificate for
/// localhost / 127.0.0.1 / ::1 (in its subject alternative names), and a client certificate, both
/// signed by the CA. Keys are ECDSA P-256, unencrypted.
public struct TestCertificates: Sendable, Hashable {
    public var directory: String
    public var caFile: String
    public var caKey: String
    public var serverCert: String
    public var serverKey: String
    public var clientCert: String
    public var clientKey: String

    /// The host names in the server certificate.
    public static let serverDNSNames = ["localhost"]
    /// The IP addresses in the server certificate.
    public static let serverIPAddresses = ["127.0.0.1", "::1"]

    public init(directory: String) {
        self.directory = directory
        self.caFile = "\(directory)/ca.crt"
        self.caKey = "\(directory)/ca.key"
        self.serverCert = "\(directory)/server.crt"
        self.serverKey = "\(directory)/server.key"
        self.clientCert = "\(directory)/client.crt"
        self.clientKey = "\(directory)/client.key"
    }

    /// Generates a fresh CA, server and client certificate in `directory` (which must exist),
    /// replacing files of the same names.
    public static func generate(in directory: String) async throws -> TestCertificates {
        let certificates = TestCertificates(directory: directory)
        let config = "\(directory)/openssl.cnf"
        let subjectAltNames = (serverDNSNames.map { "DNS:\($0)" } + serverIPAddresses.map { "IP:\($0)" })
            .joined(separator: ", ")
        try writeFile(
            config,
            """
            [req]
            distinguished_name = dn
            prompt = no
            [dn]
            CN = swift-asynq test
            [ca_ext]
            basicConstraints = critical, CA:TRUE
            keyUsage = critical, keyCertSign, cRLSign
            subjectKeyIdentifier = hash
            [server_ext]
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = serverAuth
            subjectAltName = \(subjectAltNames)
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            [client_ext]
            basicConstraints = critical, CA:FALSE
            keyUsage = critical, digitalSignature, keyEncipherment
            extendedKeyUsage = clientAuth
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid

            """)
        let newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try await openssl(
            ["req", "-x509", "-config", config, "-extensions", "ca_ext"] + newKey
                + [
                    "-keyout", certificates.caKey, "-out", certificates.caFile, "-days", "30",
                    "-subj", "/CN=swift-asynq test CA",
                ]
        )
        for (name, cert, key, subject, extensions) in [
            ("server", certificates.serverCert, certificates.serverKey, "/CN=localhost", "server_ext"),
            ("client", certificates.clientCert, certificates.clientKey, "/CN=swift-asynq test client", "client_ext"),
        ] {
            let request = "\(directory)/\(name).csr"
            try await openssl(
                ["req", "-new", "-config", config] + newKey + ["-keyout", key, "-out", request, "-subj", subject]
            )
            try await openssl([
                "x509", "-req", "-in", request, "-CA", certificates.caFile, "-CAkey", certificates.caKey,
                "-set_serial", randomSerial(), "-days", "30", "-sha256",
                "-extfile", config, "-extensions", extensions, "-out", cert,
            ])
        }
        return certificates
    }

    private static func openssl(_ arguments: [String]) async throws {
        try await ExternalCommand.runChecked(
            "openssl",
            arguments,
            installHint: "install it with 'apt-get install -y openssl'"
        )
    }

    private static func randomSerial() -> String {
        "0x" + String(UInt64.random(in: 1...UInt64(Int64.max)), radix: 16)
    }

    private static func writeFile(_ path: String, _ text: String) throws(TestSupportError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd < 0 { throw Posix.systemError("open \(path)") }
        defer { close(fd) }
        Array(text.utf8).withUnsafeBytes { Posix.writeAll(fd, $0) }
    }
}
