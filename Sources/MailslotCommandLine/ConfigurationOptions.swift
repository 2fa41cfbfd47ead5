import ArgumentParser
import Mailslot

/// The flags that override the configuration, with one spelling in every executable (`mailslot send`,
/// `mailslot browse`, `mailslotd`): each is a key of /etc/mailslot.conf applied as the last source.
public struct ConfigurationOptions: ParsableArguments {
    @Option(help: "The NetBIOS datagram port: where datagrams go and where mailslotd listens (default 138; key port).")
    public var port: UInt16?

    @Option(help: ArgumentHelp("An interface (name or IPv4 address) to send on, or for mailslotd to listen on; repeatable (default: every up, broadcast-capable IPv4 interface; mailslotd: all addresses; key interfaces).",
                               valueName: "name-or-address"))
    public var interface: [String] = []

    @Option(help: "This machine's NetBIOS name (default: the host name, upper-cased, at most 15 characters; key computer_name).")
    public var computerName: String?

    @Option(help: "The workgroup or domain: what \\\\*\\mailslot\\x addresses and whose group datagrams mailslotd accepts (default WORKGROUP; key workgroup).")
    public var workgroup: String?

    @Option(help: "The NetBIOS name service port, for name queries (default 137; key name_port).")
    public var namePort: UInt16?

    public init() {}

    /// The flags given, as configuration settings.
    public var settings: [(key: String, value: String)] {
        var settings: [(key: String, value: String)] = []
        if let port { settings.append(("port", "\(port)")) }
        if !interface.isEmpty { settings.append(("interfaces", interface.joined(separator: ","))) }
        if let computerName { settings.append(("computer_name", computerName)) }
        if let workgroup { settings.append(("workgroup", workgroup)) }
        if let namePort { settings.append(("name_port", "\(namePort)")) }
        return settings
    }

    /// The configuration file, the environment, then these flags (and `more`, from the executable's own flags).
    public func configuration(adding more: [(key: String, value: String)] = []) throws(MailslotError) -> MailslotConfiguration {
        try MailslotConfiguration.load(overrides: settings + more)
    }
}
