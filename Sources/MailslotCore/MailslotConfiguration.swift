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
public struct MailslotConfiguration: Sendable, Equatable {
    public var computerName: String
    public var workgroup: String
    /// Interface names or IPv4 addresses; empty means every up, broadcast-capable IPv4 interface.
    public var interfaces: [String]
    public var port: UInt16
    public var namePort: UInt16
    public var resolveTimeoutMilliseconds: UInt32

    public init(computerName: String, workgroup: String = "WORKGROUP", interfaces: [String] = [], port: UInt16 = 138,
                namePort: UInt16 = 137, resolveTimeoutMilliseconds: UInt32 = 1500) {
        self.computerName = MailslotConfiguration.netbiosName(computerName)
        self.workgroup = MailslotConfiguration.netbiosName(workgroup)
        self.interfaces = interfaces
        self.port = port
        self.namePort = namePort
        self.resolveTimeoutMilliseconds = resolveTimeoutMilliseconds
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
            default:
                throw MailslotError(.invalidParameter, "\(source): unknown setting '\(key)' (known: computer_name, workgroup, interfaces, port, name_port, resolve_timeout_ms)")
            }
        }
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
        let keys = ["computer_name", "workgroup", "interfaces", "port", "name_port", "resolve_timeout_ms"]
        return keys.compactMap { key in environment["MAILSLOT_" + key.uppercased()].map { (key, $0) } }
    }

    /// Builds the configuration from defaults, the file's text (if any) and the environment.
    public static func resolve(hostname: String, fileText: String?, filePath: String,
                               environment: [String: String]) throws(MailslotError) -> MailslotConfiguration {
        var configuration = MailslotConfiguration(computerName: hostname.isEmpty ? "LOCALHOST" : hostname)
        if let fileText { try configuration.apply(try parseFile(fileText, path: filePath), source: filePath) }
        try configuration.apply(environmentSettings(environment), source: "environment")
        return configuration
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
