/// The network settings shared by the library, the `mailslot` tool and the `mailslotd` gateway.
///
/// Sources, later ones winning: built-in defaults, the configuration file (`/etc/mailslot.conf`, or the
/// path in `MAILSLOT_CONFIG`), environment variables, then command-line flags.
///
/// File format: one `key = value` per line, `#` starts a comment. Keys and their variables:
///
/// | key | environment | default |
/// |---|---|---|
/// | `computer_name` | `MAILSLOT_COMPUTER_NAME` | the host name, upper-cased, cut to 15 characters |
/// | `workgroup` | `MAILSLOT_WORKGROUP` | `WORKGROUP` |
/// | `interfaces` | `MAILSLOT_INTERFACES` | every up, broadcast-capable IPv4 interface (comma-separated names or addresses) |
/// | `port` | `MAILSLOT_PORT` | 138 (the NetBIOS datagram service) |
/// | `name_port` | `MAILSLOT_NAME_PORT` | 137 (the NetBIOS name service, for name queries) |
/// | `resolve_timeout_ms` | `MAILSLOT_RESOLVE_TIMEOUT_MS` | 1500 |
/// | `accept_any_name` | `MAILSLOT_ACCEPT_ANY_NAME` | no (mailslotd: deliver datagrams for any NetBIOS name) |
/// | `name_service` | `MAILSLOT_NAME_SERVICE` | yes (mailslotd: answer NetBIOS name queries) |
/// | `metrics` | `MAILSLOT_METRICS` | none (mailslotd: serve Prometheus metrics on ADDRESS:PORT) |
/// | `allow_from` | `MAILSLOT_ALLOW_FROM` | any (mailslotd: accept datagrams only from these subnets, `10.0.0.0/8,192.168.1.7`) |
/// | `rate_limit` | `MAILSLOT_RATE_LIMIT` | 0 = none (mailslotd: datagrams per second accepted from one source address) |
/// | `mount` | `MAILSLOT_MOUNT` | none (mailslotd: serve the mailslots as files in this folder, e.g. `/run/mailslot`) |
/// | `bridge` | `MAILSLOT_BRIDGE` | none (mailslotd: the NATS server(s) that join sites, `nats://HOST:PORT`, comma-separated) |
/// | `site` | `MAILSLOT_SITE` | the computer name (mailslotd: this LAN's name among the bridged sites) |
/// | `bridge_workgroups` | `MAILSLOT_BRIDGE_WORKGROUPS` | the workgroup (mailslotd: the workgroups whose domain writes are bridged) |
/// | `bridge_user`, `bridge_password` | `MAILSLOT_BRIDGE_USER`, `..._PASSWORD` | none (NATS user and password) |
/// | `bridge_token` | `MAILSLOT_BRIDGE_TOKEN` | none (NATS token) |
/// | `bridge_credentials` | `MAILSLOT_BRIDGE_CREDENTIALS` | none (a NATS `.creds` file: JWT and NKey seed) |
/// | `bridge_nkey`, `bridge_nkey_seed` | `MAILSLOT_BRIDGE_NKEY`, `..._SEED` | none (an NKey public key, and the file holding its seed) |
/// | `bridge_ca` | `MAILSLOT_BRIDGE_CA` | none (a CA certificate file: TLS to the NATS server) |
///
/// The same settings have the same command-line flags in `mailslot` and `mailslotd` (`--computer-name`,
/// `--workgroup`, `--interface`, `--port`, `--name-port`, ...), applied through ``apply(_:source:)`` as
/// the last source. Every value remembers where it came from (``source(of:)``), for `--check-config`.
public struct MailslotConfiguration: Sendable, Equatable {
    public var computerName: String
    public var workgroup: String
    /// Interface names or IPv4 addresses; empty means every up, broadcast-capable IPv4 interface (the
    /// gateway then listens on all addresses).
    public var interfaces: [String]
    public var port: UInt16
    public var namePort: UInt16
    public var resolveTimeoutMilliseconds: UInt32
    /// The gateway delivers datagrams whatever NetBIOS name they are addressed to.
    public var acceptAnyName: Bool
    /// The gateway answers NetBIOS name queries for this machine's names on ``namePort``.
    public var nameService: Bool
    /// Where the gateway serves Prometheus metrics (`ADDRESS:PORT`); nil: nowhere.
    public var metrics: String?
    /// The subnets the gateway accepts datagrams from; empty: any.
    public var allowFrom: [Subnet] = []
    /// Datagrams per second the gateway accepts from one source address (a burst of as many); 0: no limit.
    public var rateLimit: UInt32 = 0
    /// The folder where mailslotd serves the mailslots as files; nil: it does not.
    public var mount: String?
    /// The NATS servers the bridge connects to; empty: no bridge.
    public var bridge: [String] = []
    /// This LAN's name among the bridged sites; nil: the computer name.
    public var site: String?
    /// The workgroups whose domain writes are bridged; empty: the workgroup.
    public var bridgeWorkgroups: [String] = []
    public var bridgeUser: String?
    public var bridgePassword: String?
    public var bridgeToken: String?
    public var bridgeCredentials: String?
    public var bridgeNKey: String?
    public var bridgeNKeySeed: String?
    public var bridgeCA: String?

    /// The site name in force.
    public var siteName: String { site ?? computerName }
    /// The workgroups bridged, in force.
    public var bridgedWorkgroups: [String] { bridgeWorkgroups.isEmpty ? [workgroup] : bridgeWorkgroups }

    /// An IPv4 subnet, `ADDRESS/PREFIX` (a bare address is a /32).
    public struct Subnet: Sendable, Hashable, CustomStringConvertible {
        public var network: UInt32
        public var prefixLength: Int
        public var mask: UInt32 { Subnet.mask(prefixLength) }

        static func mask(_ prefixLength: Int) -> UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }

        public init?(_ text: String) {
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard let address = IPv4Address(String(parts[0])) else { return nil }
            let length = parts.count == 2 ? Int(parts[1]) : 32
            guard let length, (0...32).contains(length) else { return nil }
            prefixLength = length
            network = address.value & Subnet.mask(length)
        }

        public func contains(_ address: UInt32) -> Bool { address & mask == network }

        public var description: String { "\(IPv4Address(network))/\(prefixLength)" }
    }

    /// Every key the file, the environment and the flags know, in the order `--check-config` prints them.
    public static let keys = ["computer_name", "workgroup", "interfaces", "port", "name_port", "resolve_timeout_ms",
                              "accept_any_name", "name_service", "metrics", "allow_from", "rate_limit", "mount",
                              "bridge", "site", "bridge_workgroups", "bridge_user", "bridge_password", "bridge_token",
                              "bridge_credentials", "bridge_nkey", "bridge_nkey_seed", "bridge_ca"]

    /// Where each key's value came from: "default", the file's path, "environment (MAILSLOT_X)", "command line".
    public private(set) var sources: [String: String] = [:]

    public func source(of key: String) -> String { sources[key] ?? "default" }

    public init(computerName: String, workgroup: String = "WORKGROUP", interfaces: [String] = [], port: UInt16 = 138,
                namePort: UInt16 = 137, resolveTimeoutMilliseconds: UInt32 = 1500, acceptAnyName: Bool = false,
                nameService: Bool = true, metrics: String? = nil) {
        self.computerName = MailslotConfiguration.netbiosName(computerName)
        self.workgroup = MailslotConfiguration.netbiosName(workgroup)
        self.interfaces = interfaces
        self.port = port
        self.namePort = namePort
        self.resolveTimeoutMilliseconds = resolveTimeoutMilliseconds
        self.acceptAnyName = acceptAnyName
        self.nameService = nameService
        self.metrics = metrics
    }

    /// The value of a key as the file spells it.
    public func value(of key: String) -> String {
        switch key {
        case "computer_name": return computerName
        case "workgroup": return workgroup
        case "interfaces": return interfaces.joined(separator: ",")
        case "port": return "\(port)"
        case "name_port": return "\(namePort)"
        case "resolve_timeout_ms": return "\(resolveTimeoutMilliseconds)"
        case "accept_any_name": return acceptAnyName ? "yes" : "no"
        case "name_service": return nameService ? "yes" : "no"
        case "metrics": return metrics ?? ""
        case "allow_from": return allowFrom.map(\.description).joined(separator: ",")
        case "rate_limit": return "\(rateLimit)"
        case "mount": return mount ?? ""
        case "bridge": return bridge.joined(separator: ",")
        case "site": return siteName
        case "bridge_workgroups": return bridgedWorkgroups.joined(separator: ",")
        case "bridge_user": return bridgeUser ?? ""
        case "bridge_password": return bridgePassword == nil ? "" : "********" // never printed
        case "bridge_token": return bridgeToken == nil ? "" : "********"
        case "bridge_credentials": return bridgeCredentials ?? ""
        case "bridge_nkey": return bridgeNKey ?? ""
        case "bridge_nkey_seed": return bridgeNKeySeed ?? ""
        case "bridge_ca": return bridgeCA ?? ""
        default: return ""
        }
    }

    /// The effective configuration, one `key = value  # source` line per key (`mailslotd --check-config`).
    public var report: String {
        MailslotConfiguration.keys.map { key in
            "\(key) = \(value(of: key))".padding(toLength: 40) + "# \(source(of: key))"
        }.joined(separator: "\n")
    }

    public static let defaultPath = "/etc/mailslot.conf"

    /// A NetBIOS name: upper case, at most 15 characters (the host name's first DNS label).
    public static func netbiosName(_ text: String) -> String {
        let label = text.split(separator: ".", maxSplits: 1).first.map(String.init) ?? text
        return String(label.uppercased().prefix(15))
    }

    /// Applies `key = value` settings (from the file or the environment). Unknown keys and bad values are errors.
    public mutating func apply(_ settings: [(key: String, value: String)], source: String) throws(MailslotError) {
        for (key, value) in settings {
            func flag() throws(MailslotError) -> Bool {
                switch value.trimmingSpaces.lowercased() {
                case "yes", "true", "on", "1": return true
                case "no", "false", "off", "0": return false
                default: throw MailslotError(.invalidParameter, "\(source): '\(key)' must be yes or no, not '\(value)'")
                }
            }
            func number<T: FixedWidthInteger>(_: T.Type) throws(MailslotError) -> T {
                guard let v = T(value.trimmingSpaces), v > 0 else {
                    throw MailslotError(.invalidParameter, "\(source): '\(key)' must be a positive number, not '\(value)'")
                }
                return v
            }
            switch key {
            case "computer_name":
                guard !value.isEmpty else { throw MailslotError(.invalidParameter, "\(source): computer_name is empty") }
                computerName = MailslotConfiguration.netbiosName(value)
            case "workgroup":
                guard !value.isEmpty else { throw MailslotError(.invalidParameter, "\(source): workgroup is empty") }
                workgroup = MailslotConfiguration.netbiosName(value)
            case "interfaces":
                interfaces = value.split(separator: ",").map { String($0).trimmingSpaces }.filter { !$0.isEmpty }
            case "port": port = try number(UInt16.self)
            case "name_port": namePort = try number(UInt16.self)
            case "resolve_timeout_ms": resolveTimeoutMilliseconds = try number(UInt32.self)
            case "accept_any_name": acceptAnyName = try flag()
            case "name_service": nameService = try flag()
            case "metrics":
                let text = value.trimmingSpaces
                guard text.isEmpty || MailslotConfiguration.hostAndPort(text) != nil else {
                    throw MailslotError(.invalidParameter, "\(source): 'metrics' must be ADDRESS:PORT (for example 127.0.0.1:9138), not '\(value)'")
                }
                metrics = text.isEmpty ? nil : text
            case "mount":
                let text = value.trimmingSpaces
                guard text.isEmpty || text.hasPrefix("/") else {
                    throw MailslotError(.invalidParameter, "\(source): 'mount' must be an absolute folder path (for example /run/mailslot), not '\(value)'")
                }
                mount = text.isEmpty ? nil : text
            case "bridge":
                var servers: [String] = []
                for item in value.split(separator: ",").map({ String($0).trimmingSpaces }).filter({ !$0.isEmpty }) {
                    let lower = item.lowercased()
                    guard lower.hasPrefix("nats://") || lower.hasPrefix("tls://"), item.count > 7 else {
                        throw MailslotError(.invalidParameter, "\(source): 'bridge' takes NATS server URLs like nats://10.0.0.5:4222 (tls:// for TLS), not '\(item)'")
                    }
                    servers.append(item)
                }
                bridge = servers
            case "site":
                let text = value.trimmingSpaces
                guard !text.isEmpty, text.utf8.count <= 64, text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                    throw MailslotError(.invalidParameter, "\(source): 'site' must be 1 to 64 printable characters without spaces, not '\(value)'")
                }
                site = text
            case "bridge_workgroups":
                bridgeWorkgroups = value.split(separator: ",").map { MailslotConfiguration.netbiosName(String($0).trimmingSpaces) }.filter { !$0.isEmpty }
            case "bridge_user": bridgeUser = value.isEmpty ? nil : value
            case "bridge_password": bridgePassword = value.isEmpty ? nil : value
            case "bridge_token": bridgeToken = value.isEmpty ? nil : value
            case "bridge_nkey": bridgeNKey = value.trimmingSpaces.isEmpty ? nil : value.trimmingSpaces
            case "bridge_credentials", "bridge_nkey_seed", "bridge_ca":
                let text = value.trimmingSpaces
                guard text.isEmpty || text.hasPrefix("/") else {
                    throw MailslotError(.invalidParameter, "\(source): '\(key)' must be an absolute file path, not '\(value)'")
                }
                let path = text.isEmpty ? nil : text
                switch key {
                case "bridge_credentials": bridgeCredentials = path
                case "bridge_nkey_seed": bridgeNKeySeed = path
                default: bridgeCA = path
                }
            case "allow_from":
                var subnets: [Subnet] = []
                for item in value.split(separator: ",").map({ String($0).trimmingSpaces }).filter({ !$0.isEmpty }) {
                    guard let subnet = Subnet(item) else {
                        throw MailslotError(.invalidParameter, "\(source): 'allow_from' takes IPv4 subnets like 10.0.0.0/8 or addresses, not '\(item)'")
                    }
                    subnets.append(subnet)
                }
                allowFrom = subnets
            case "rate_limit":
                guard let v = UInt32(value.trimmingSpaces) else {
                    throw MailslotError(.invalidParameter, "\(source): 'rate_limit' must be a number of datagrams per second (0: no limit), not '\(value)'")
                }
                rateLimit = v
            default:
                throw MailslotError(.invalidParameter, "\(source): unknown setting '\(key)' (known: \(MailslotConfiguration.keys.joined(separator: ", ")))")
            }
            sources[key] = source
        }
    }

    /// `ADDRESS:PORT` with an IPv4 address (or `localhost`) and a port from 1 to 65535, split; nil otherwise.
    public static func hostAndPort(_ text: String) -> (host: String, port: UInt16)? {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0 else { return nil }
        let host = String(text[..<colon])
        guard host == "localhost" || IPv4Address(host) != nil else { return nil }
        return (host, port)
    }

    /// Parses the configuration file's text into settings.
    public static func parseFile(_ text: String, path: String) throws(MailslotError) -> [(key: String, value: String)] {
        var settings: [(key: String, value: String)] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").trimmingSpaces
            if line.isEmpty { continue }
            let parts = line.split(separator: "=", maxSplits: 1).map { String($0).trimmingSpaces }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw MailslotError(.invalidParameter, "\(path):\(number + 1): expected 'key = value', found '\(line)'")
            }
            settings.append((parts[0].lowercased(), parts[1]))
        }
        return settings
    }

    /// The settings named by environment variables (`MAILSLOT_WORKGROUP` → `workgroup`, ...).
    public static func environmentSettings(_ environment: [String: String]) -> [(key: String, value: String)] {
        keys.compactMap { key in environment["MAILSLOT_" + key.uppercased()].map { (key, $0) } }
    }

    /// Builds the configuration from defaults, the file's text (if any) and the environment.
    public static func resolve(hostname: String, fileText: String?, filePath: String,
                               environment: [String: String]) throws(MailslotError) -> MailslotConfiguration {
        var configuration = MailslotConfiguration(computerName: hostname.isEmpty ? "LOCALHOST" : hostname)
        if let fileText { try configuration.apply(try parseFile(fileText, path: filePath), source: filePath) }
        for (key, value) in environmentSettings(environment) {
            try configuration.apply([(key, value)], source: "environment (MAILSLOT_\(key.uppercased()))")
        }
        return configuration
    }
}

extension String {
    func padding(toLength length: Int) -> String {
        count >= length ? self + " " : self + String(repeating: " ", count: length - count)
    }

    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
