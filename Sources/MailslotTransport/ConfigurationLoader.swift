import MailslotCore

extension MailslotConfiguration {
    /// ``load(environment:)``, then command-line settings over it (the last source).
    package static func load(overrides: [(key: String, value: String)]) throws(MailslotError) -> MailslotConfiguration {
        var configuration = try load()
        try configuration.apply(overrides, source: "command line")
        return configuration
    }

    /// The configuration file: `MAILSLOT_CONFIG`, else /etc/mailslot.conf.
    package static func filePath(environment: [String: String] = Sys.environment) -> String {
        environment["MAILSLOT_CONFIG"] ?? defaultPath
    }

    /// The configuration of this machine: defaults (host name, WORKGROUP, all interfaces, ports 138/137),
    /// then the file (`MAILSLOT_CONFIG` or /etc/mailslot.conf, if it exists), then `MAILSLOT_*` variables.
    package static func load(environment: [String: String] = Sys.environment) throws(MailslotError) -> MailslotConfiguration {
        let path = filePath(environment: environment)
        let text = Sys.readFile(path, limit: 1 << 20).map { String(decoding: $0, as: UTF8.self) }
        if text == nil, environment["MAILSLOT_CONFIG"] != nil {
            throw MailslotError(.fileNotFound, "the configuration file '\(path)' named by MAILSLOT_CONFIG cannot be read")
        }
        return try resolve(hostname: Sys.hostName, fileText: text, filePath: path, environment: environment)
    }
}
