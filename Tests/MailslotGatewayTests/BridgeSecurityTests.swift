import Foundation
import Mailslot
import MailslotGateway
import MailslotTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The bridge's other credentials against a real nats-server: TLS checked against a CA file, and an NKey
/// (its seed in a file). Certificates and keys are made with openssl for each test.
extension BridgeTests {
    static let openssl = "/usr/bin/openssl"

    static func openssl(_ arguments: [String], in folder: String) throws {
        let result = try TestSupport.run(openssl, arguments, environment: ["OPENSSL_CONF": "/dev/null", "RANDFILE": folder + "/.rnd"])
        guard result.status == 0 else { throw TestSupport.Failure("openssl \(arguments.joined(separator: " ")): \(result.output)") }
    }

    /// A gateway bridged to `url` with extra settings.
    static func gateway(_ url: String, _ settings: [(String, String)]) throws -> Gateway {
        var configuration = MailslotConfiguration(computerName: "HOSTS", workgroup: "MSTEST", interfaces: ["127.0.0.1"], port: port(), nameService: false)
        try configuration.apply([("bridge", url)] + settings, source: "test")
        return try Gateway(configuration: configuration, logger: logger)
    }

    /// A server certificate for 127.0.0.1 signed by a CA of its own (`ca.pem`), and an unrelated CA (`other.pem`).
    @Test func tlsIsCheckedAgainstTheCAFile() throws {
        guard Self.available, TestSupport.programAvailable(Self.openssl, for: "the bridge's TLS test", install: "openssl") else { return }
        let folder = try TestSupport.temporaryFolder("bridge-tls")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try Self.openssl(["req", "-x509"] + ec + ["-keyout", "\(folder)/ca.key", "-out", "\(folder)/ca.pem", "-days", "1", "-subj", "/CN=mailslot test CA"], in: folder)
        try Self.openssl(["req", "-x509"] + ec + ["-keyout", "\(folder)/other.key", "-out", "\(folder)/other.pem", "-days", "1", "-subj", "/CN=another CA"], in: folder)
        try Self.openssl(["req"] + ec + ["-keyout", "\(folder)/server.key", "-out", "\(folder)/server.csr", "-subj", "/CN=127.0.0.1"], in: folder)
        try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(folder)/san.cnf", atomically: true, encoding: .utf8)
        try Self.openssl(["x509", "-req", "-in", "\(folder)/server.csr", "-CA", "\(folder)/ca.pem", "-CAkey", "\(folder)/ca.key", "-CAcreateserial",
                          "-out", "\(folder)/server.pem", "-days", "1", "-extfile", "\(folder)/san.cnf"], in: folder)
        let port = Self.port()
        let server = try TestSupport.Child(Self.natsServer, ["-a", "127.0.0.1", "-p", "\(port)", "--tls", "--tlscert", "\(folder)/server.pem",
                                                             "--tlskey", "\(folder)/server.key"])
        defer { server.signal(SIGKILL) }
        try server.waitFor("Server is ready", timeout: 20)
        let url = "nats://127.0.0.1:\(port)"
        let trusted = try Self.gateway(url, [("bridge_ca", "\(folder)/ca.pem")])
        let untrusted = try Self.gateway(url, [("bridge_ca", "\(folder)/other.pem")])
        let plain = try Self.gateway(url, [])
        let running = Running([trusted, untrusted, plain])
        defer { running.stop() }
        #expect(Self.waitUntilConnected([trusted]), "the server's certificate is signed by the CA in bridge_ca")
        usleep(500_000)
        #expect(untrusted.counters.bridge?.connected != true, "a certificate the CA file does not vouch for is refused")
        #expect(plain.counters.bridge?.connected != true, "without bridge_ca there is no TLS, and this server requires it")
    }

    /// An NKey in NATS's text form: base32 (no padding) of the prefix byte(s), the key and a CRC-16/XMODEM,
    /// little-endian.
    static func nkey(_ prefix: [UInt8], _ key: [UInt8]) -> String {
        var raw = prefix + key
        var crc: UInt16 = 0
        for byte in raw {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        raw += [UInt8(crc & 0xFF), UInt8(crc >> 8)]
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var out = "", buffer = 0, bits = 0
        for byte in raw {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                out.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        if bits > 0 { out.append(alphabet[(buffer << (5 - bits)) & 31]) }
        return out
    }

    /// A user NKey made with openssl (Ed25519): the public key ("U...") and the path of a file holding its seed ("SU...").
    static func userNKey(_ name: String, in folder: String) throws -> (publicKey: String, seedFile: String) {
        let key = try nkeyPair(name, type: NKeyPair.userType, in: folder)
        let seedFile = "\(folder)/\(name).nk"
        try (key.seed + "\n").write(toFile: seedFile, atomically: true, encoding: .utf8)
        return (key.publicKey, seedFile)
    }

    @Test func anNKeyIsUsed() throws {
        guard Self.available, TestSupport.programAvailable(Self.openssl, for: "the bridge's NKey test", install: "openssl") else { return }
        let folder = try TestSupport.temporaryFolder("bridge-nkey")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let allowed = try Self.userNKey("allowed", in: folder), stranger = try Self.userNKey("stranger", in: folder)
        #expect(allowed.publicKey.hasPrefix("U") && allowed.publicKey.count == 56)
        let port = Self.port()
        try "listen: 127.0.0.1:\(port)\nauthorization { users = [ { nkey: \"\(allowed.publicKey)\" } ] }\n"
            .write(toFile: "\(folder)/server.conf", atomically: true, encoding: .utf8)
        let server = try TestSupport.Child(Self.natsServer, ["-c", "\(folder)/server.conf"])
        defer { server.signal(SIGKILL) }
        try server.waitFor("Server is ready", timeout: 20)
        let url = "nats://127.0.0.1:\(port)"
        let good = try Self.gateway(url, [("bridge_nkey", allowed.publicKey), ("bridge_nkey_seed", allowed.seedFile)])
        // The stranger claims the allowed public key but signs with its own seed: the server's nonce check fails.
        let forged = try Self.gateway(url, [("bridge_nkey", allowed.publicKey), ("bridge_nkey_seed", stranger.seedFile)])
        let none = try Self.gateway(url, [])
        let running = Running([good, forged, none])
        defer { running.stop() }
        #expect(Self.waitUntilConnected([good]), "\(server.output)")
        usleep(500_000)
        #expect(forged.counters.bridge?.connected != true)
        #expect(none.counters.bridge?.connected != true)
    }
}
