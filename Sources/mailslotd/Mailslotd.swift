import ArgumentParser
import Dispatch
import Foundation
import Logging
import Mailslot
import MailslotGateway
import ServiceLifecycle

@main
struct Mailslotd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mailslotd",
        abstract: "The Mailslot network gateway: Remote Mailslot Protocol datagrams in, local mailslot messages out.",
        discussion: """
            Receives NetBIOS datagrams (UDP 138) carrying SMB mailslot writes from Windows, Samba and other \
            Mailslot hosts, keeps those addressed to this machine (COMPUTER<00>, WORKGROUP<00>, broadcasts; \
            with --accept-any-name every destination) and writes each message into the local mailslot the \
            datagram names (\\MAILSLOT\\BROWSE goes to \\\\.\\mailslot\\browse). A datagram for a mailslot \
            nobody serves is dropped and counted.

            Settings come from /etc/mailslot.conf (or MAILSLOT_CONFIG), MAILSLOT_* variables, then these \
            flags. Logs go to standard error, one JSON object per line. SIGTERM and SIGINT stop it \
            gracefully. `mailslotd stats` prints its counters while it runs.
            """,
        subcommands: [Run.self, Stats.self],
        defaultSubcommand: Run.self
    )
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default).")

    @Option(help: "UDP port to receive on (default: 138, or the configured port).")
    var port: UInt16?

    @Option(help: "An IPv4 address to bind (repeatable; default: all).")
    var bind: [String] = []

    @Option(help: "This machine's NetBIOS name (default: the host name, upper-cased, at most 15 characters).")
    var name: String?

    @Option(help: "The workgroup or domain whose group datagrams this machine accepts (default: WORKGROUP).")
    var workgroup: String?

    @Flag(help: "Deliver datagrams whatever NetBIOS name they are addressed to (watch a LAN's browser traffic on \\\\.\\mailslot\\browse).")
    var acceptAnyName = false

    @Option(help: "UDP port on which to answer NetBIOS name queries for this machine's names (default: 137, or the configured name port).")
    var namePort: UInt16?

    @Flag(help: "Do not answer NetBIOS name queries (leave UDP 137 to another name server).")
    var noNameService = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level '\(logLevel)'") }
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mailslotd")
        let settings: MailslotConfiguration
        do throws(MailslotError) { settings = try MailslotConfiguration.load() } catch { fail(error) }
        var addresses: [IPv4Address] = []
        for text in bind {
            guard let a = IPv4Address(text) else { fail(MailslotError(.invalidParameter, "--bind '\(text)' is not an IPv4 address")) }
            addresses.append(a)
        }
        let configuration = Gateway.Configuration(port: port ?? settings.port, bindAddresses: addresses,
                                                  computerName: name ?? settings.computerName,
                                                  workgroup: workgroup ?? settings.workgroup, acceptAnyName: acceptAnyName,
                                                  nameServicePort: noNameService ? nil : (namePort ?? settings.namePort))
        let gateway: Gateway
        do throws(MailslotError) { gateway = try Gateway(configuration: configuration, logger: logger) } catch { fail(error) }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: GatewayService(gateway: gateway))],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Runs the gateway's receive loop on a thread of its own and stops it on graceful shutdown.
struct GatewayService: Service {
    let gateway: Gateway

    func run() async throws {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    gateway.run()
                    continuation.resume()
                }
            }
        } onGracefulShutdown: {
            gateway.stop()
        }
    }
}

struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the counters of the mailslotd running on a port (in this network namespace) as JSON.")

    @Option(help: "The port the gateway listens on (default: the configured port, 138).")
    var port: UInt16?

    func run() {
        do throws(MailslotError) {
            let port: UInt16
            if let given = self.port { port = given } else { port = try MailslotConfiguration.load().port }
            print(try Gateway.readStats(port: port), terminator: "")
        } catch {
            fail(error)
        }
    }
}

func fail(_ error: MailslotError) -> Never {
    FileHandle.standardError.write(Data((error.description + "\n").utf8))
    exit(1)
}

/// One JSON object per log line on standard error.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [String: String] = ["level": "\(event.level)", "label": label, "message": "\(event.message)",
                                        "time": ISO8601DateFormatter().string(from: Date())]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { fields[k] = "\(v)" }
        let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}
