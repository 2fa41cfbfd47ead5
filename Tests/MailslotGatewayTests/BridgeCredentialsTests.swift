import Foundation
import Mailslot
import MailslotGateway
import MailslotTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The bridge's `.creds` file against a real nats-server in operator mode (NATS "decentralized JWT auth"):
/// the server trusts an operator, the operator vouches for an account with a JWT, the account for a user.
/// There is no nsc here: the keys are Ed25519 keys made with openssl, and the JWTs are put together by hand.
extension BridgeTests {
    /// An Ed25519 key made with openssl: its NKey public key ("O...", "A..." or "U..."), its seed ("SO...",
    /// "SA..." or "SU...") and the PEM file that openssl signs with.
    struct NKeyPair {
        /// The NKey prefix byte of each type.
        static let operatorType: UInt8 = 14 << 3, accountType: UInt8 = 0, userType: UInt8 = 20 << 3

        let publicKey: String
        let seed: String
        let pem: String
    }

    /// A new key of one type (`NKeyPair.operatorType` ...). A seed's prefix is two bytes: 'S' and the type.
    static func nkeyPair(_ name: String, type: UInt8, in folder: String) throws -> NKeyPair {
        let pem = "\(folder)/\(name).pem"
        try openssl(["genpkey", "-algorithm", "ed25519", "-out", pem], in: folder)
        try openssl(["pkey", "-in", pem, "-outform", "DER", "-out", "\(folder)/\(name).der"], in: folder)
        try openssl(["pkey", "-in", pem, "-pubout", "-outform", "DER", "-out", "\(folder)/\(name).pub.der"], in: folder)
        let privateDER = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name).der")))
        let publicDER = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(folder)/\(name).pub.der")))
        let seed: UInt8 = 18 << 3
        return NKeyPair(publicKey: nkey([type], Array(publicDER.suffix(32))),
                      seed: nkey([seed | (type >> 5), (type & 31) << 3], Array(privateDER.suffix(32))), pem: pem)
    }

    /// Base64url without padding, as JWTs use it.
    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// The claims of a JWT (`type` is "operator", "account" or "user"). `nats` holds the type's own fields
    /// and ends with a comma. jti is not checked by nats-server (nsc puts a hash of the claims there).
    static func claims(type: String, name: String, issuer: String, subject: String, nats: String = "") -> String {
        let now = Int(Date().timeIntervalSince1970)
        return #"{"jti":"mailslot-test-\#(type)-\#(now)","iat":\#(now),"iss":"\#(issuer)","name":"\#(name)","sub":"\#(subject)","#
            + #""nats":{\#(nats)"type":"\#(type)","version":2}}"#
    }

    /// An account without limits (-1 each), and a user without limits or permissions.
    static let accountFields = #""limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,"conn":-1,"leaf":-1},"#
        + #""default_permissions":{"pub":{},"sub":{}},"#
    static let userFields = #""pub":{},"sub":{},"subs":-1,"data":-1,"payload":-1,"#

    /// A JWT: base64url of the header and of the claims, then of the issuer's Ed25519 signature over those two.
    static func jwt(_ claims: String, signedBy issuer: NKeyPair, in folder: String) throws -> String {
        let signed = base64URL(Array(#"{"typ":"JWT","alg":"ed25519-nkey"}"#.utf8)) + "." + base64URL(Array(claims.utf8))
        try signed.write(toFile: "\(folder)/to-sign", atomically: true, encoding: .utf8)
        try openssl(["pkeyutl", "-sign", "-rawin", "-inkey", issuer.pem, "-in", "\(folder)/to-sign", "-out", "\(folder)/signature"], in: folder)
        let signature = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(folder)/signature")))
        return signed + "." + base64URL(signature)
    }

    /// A .creds file as nsc writes it: the user JWT, then the user's seed. Returns its path.
    static func credsFile(_ name: String, jwt: String, seed: String, in folder: String) throws -> String {
        let path = "\(folder)/\(name).creds"
        try """
            -----BEGIN NATS USER JWT-----
            \(jwt)
            ------END NATS USER JWT------

            ************************* IMPORTANT *************************
            NKEY Seed printed below can be used to sign and prove identity.
            NKEYs are sensitive and should be treated as secrets.

            -----BEGIN USER NKEY SEED-----
            \(seed)
            ------END USER NKEY SEED------

            *************************************************************

            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The server knows the operator and, preloaded, the one account it issued. A user of that account
    /// connects; a user vouched for by an account the operator never issued does not, nor one whose seed
    /// is another user's (it cannot sign the server's nonce for the JWT's subject), nor a bridge without
    /// credentials.
    @Test func aCredsFileIsUsed() throws {
        guard Self.available, TestSupport.programAvailable(Self.openssl, for: "the bridge's .creds test", install: "openssl") else { return }
        let folder = try TestSupport.temporaryFolder("bridge-creds")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let operatorKey = try Self.nkeyPair("operator", type: NKeyPair.operatorType, in: folder)
        let account = try Self.nkeyPair("account", type: NKeyPair.accountType, in: folder)
        let stranger = try Self.nkeyPair("stranger", type: NKeyPair.accountType, in: folder)
        let user = try Self.nkeyPair("user", type: NKeyPair.userType, in: folder)
        let other = try Self.nkeyPair("other", type: NKeyPair.userType, in: folder)
        #expect(operatorKey.publicKey.hasPrefix("O") && account.publicKey.hasPrefix("A"))
        #expect(user.publicKey.hasPrefix("U") && user.publicKey.count == 56 && user.seed.hasPrefix("SU"))

        // The operator signs itself and the account; the account (or the stranger) signs the user.
        let operatorJWT = try Self.jwt(Self.claims(type: "operator", name: "mailslot test operator", issuer: operatorKey.publicKey,
                                                   subject: operatorKey.publicKey), signedBy: operatorKey, in: folder)
        let accountJWT = try Self.jwt(Self.claims(type: "account", name: "mailslot", issuer: operatorKey.publicKey, subject: account.publicKey,
                                                  nats: Self.accountFields), signedBy: operatorKey, in: folder)
        let userJWT = try Self.jwt(Self.claims(type: "user", name: "bridge", issuer: account.publicKey, subject: user.publicKey,
                                               nats: Self.userFields), signedBy: account, in: folder)
        let strangersUserJWT = try Self.jwt(Self.claims(type: "user", name: "bridge", issuer: stranger.publicKey, subject: user.publicKey,
                                                        nats: Self.userFields), signedBy: stranger, in: folder)
        let good = try Self.credsFile("good", jwt: userJWT, seed: user.seed, in: folder)
        let unknownAccount = try Self.credsFile("stranger", jwt: strangersUserJWT, seed: user.seed, in: folder)
        let wrongSeed = try Self.credsFile("wrong-seed", jwt: userJWT, seed: other.seed, in: folder)

        let port = Self.port()
        try """
            listen: 127.0.0.1:\(port)
            operator: "\(operatorJWT)"
            resolver: MEMORY
            resolver_preload: {
              \(account.publicKey): "\(accountJWT)"
            }

            """.write(toFile: "\(folder)/server.conf", atomically: true, encoding: .utf8)
        // -D: the server says why it refuses a connection ("Account JWT lookup error", "Signature not verified").
        let server = try TestSupport.Child(Self.natsServer, ["-c", "\(folder)/server.conf", "-D"])
        defer { server.signal(SIGKILL) }
        try server.waitFor("Server is ready", timeout: 20)
        let url = "nats://127.0.0.1:\(port)"
        let trusted = try Self.gateway(url, [("bridge_credentials", good)])
        let untrusted = try Self.gateway(url, [("bridge_credentials", unknownAccount)])
        let forged = try Self.gateway(url, [("bridge_credentials", wrongSeed)])
        let none = try Self.gateway(url, [])
        let running = Running([trusted, untrusted, forged, none])
        defer { running.stop() }
        #expect(Self.waitUntilConnected([trusted]), "\(server.output)")
        usleep(500_000)
        #expect(untrusted.counters.bridge?.connected != true, "a user of an account the operator never issued is refused")
        #expect(forged.counters.bridge?.connected != true, "a seed that is not the JWT's user is refused")
        #expect(none.counters.bridge?.connected != true, "in operator mode every client needs a user JWT")
    }
}
