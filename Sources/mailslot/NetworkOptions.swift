import ArgumentParser
import Mailslot

/// Overrides of the network configuration (/etc/mailslot.conf, MAILSLOT_* variables).
struct NetworkOptions: ParsableArguments {
    @Option(help: "Destination UDP port for datagrams (default 138).")
    var port: UInt16?

    @Option(help: "Send on this interface (name or IPv4 address; repeatable; default: every up, broadcast-capable IPv4 interface).")
    var interface: [String] = []

    @Option(help: "This machine's NetBIOS name, the datagrams' source (default: the host name).")
    var computerName: String?

    @Option(help: "The workgroup that \\\\*\\mailslot\\x addresses (default WORKGROUP).")
    var workgroup: String?

    @Option(help: "UDP port for NetBIOS name queries (default 137).")
    var namePort: UInt16?

    func configuration() throws(MailslotError) -> MailslotConfiguration {
        var configuration = try MailslotConfiguration.load()
        var settings: [(key: String, value: String)] = []
        if let port { settings.append(("port", "\(port)")) }
        if !interface.isEmpty { settings.append(("interfaces", interface.joined(separator: ","))) }
        if let computerName { settings.append(("computer_name", computerName)) }
        if let workgroup { settings.append(("workgroup", workgroup)) }
        if let namePort { settings.append(("name_port", "\(namePort)")) }
        try configuration.apply(settings, source: "command line")
        return configuration
    }
}
