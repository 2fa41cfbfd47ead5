import ArgumentParser
import Dispatch
import Foundation
import Logging
import Mailslot
import MailslotCommandLine
import MailslotFiles
import MailslotGateway
import MailslotTransport
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

@main
struct Mailslotd: ParsableCommand {
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
            flags; --check-config prints the result and where each value came from. SIGHUP reloads the \
            file (an invalid one is refused and the running configuration stays). Logs go to standard \
            error, one JSON object per line. SIGTERM and SIGINT stop it gracefully. Under systemd \
            (Type=notify) it reports readiness, reloads and stopping. `mailslotd stats` prints its \
            counters while it runs; --metrics serves them to Prometheus.
            """,
        version: MailslotVersion.string,
        subcommands: [Run.self, Stats.self],
        defaultSubcommand: Run.self
    )
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway (the default).")

    @OptionGroup(title: "Configuration (each overrides the key of /etc/mailslot.conf named in its help)")
    var options: ConfigurationOptions

    @Flag(help: "Deliver datagrams whatever NetBIOS name they are addressed to, to watch a LAN's browser traffic on \\\\.\\mailslot\\browse (key accept_any_name).")
    var acceptAnyName = false

    @Flag(help: "Do not answer NetBIOS name queries; leave UDP 137 to another name server (key name_service = no).")
    var noNameService = false

    @Option(help: ArgumentHelp("Serve Prometheus metrics over HTTP at http://ADDRESS:PORT/metrics (key metrics; off by default).",
                               valueName: "address:port"))
    var metrics: String?

    @Option(help: "After binding its ports, become this user, keeping only CAP_NET_BIND_SERVICE (needs root).")
    var user: String?

    @Option(help: ArgumentHelp("Bridge this LAN's domain mailslot writes with other sites through this NATS server (key bridge; repeat for more servers; credentials and TLS: the bridge_* keys of the configuration file).",
                               valueName: "nats://host:port"))
    var bridge: [String] = []

    @Option(help: "This LAN's name among the bridged sites (key site; default: the computer name).")
    var site: String?

    @Option(help: ArgumentHelp("A workgroup whose domain writes are bridged (key bridge_workgroups; repeatable; default: the workgroup).",
                               valueName: "workgroup"))
    var bridgeWorkgroup: [String] = []

    @Option(help: ArgumentHelp("Also serve this machine's mailslots as files in this folder, as `mailslot mount` does (key mount, e.g. /run/mailslot; needs root, and excludes --user).",
                               valueName: "folder"))
    var mount: String?

    @Flag(help: "Print the effective configuration, and where each value came from, then exit.")
    var checkConfig = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    /// The executable's own flags, as configuration settings (applied with the shared ones).
    var extraSettings: [(key: String, value: String)] {
        var settings: [(key: String, value: String)] = []
        if acceptAnyName { settings.append(("accept_any_name", "yes")) }
        if noNameService { settings.append(("name_service", "no")) }
        if let metrics { settings.append(("metrics", metrics)) }
        if let mount { settings.append(("mount", mount)) }
        if !bridge.isEmpty { settings.append(("bridge", bridge.joined(separator: ","))) }
        if let site { settings.append(("site", site)) }
        if !bridgeWorkgroup.isEmpty { settings.append(("bridge_workgroups", bridgeWorkgroup.joined(separator: ","))) }
        return settings
    }

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level '\(logLevel)'") }
        let configuration: MailslotConfiguration
        do throws(MailslotError) { configuration = try options.configuration(adding: extraSettings) } catch { fail(error) }
        if checkConfig {
            print("# mailslotd: the effective configuration (file: \(MailslotConfiguration.filePath()))")
            print(configuration.report)
            return
        }
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mailslotd")
        // Metrics first: the gateway's counters bind to the backend in force when they are created.
        let registry = PrometheusCollectorRegistry()
        if configuration.metrics != nil { MetricsSystem.bootstrap(DocumentedMetricsFactory(registry: registry, help: GatewayMetrics.help.merging(BridgeMetrics.help) { $1 })) }

        let gateway: Gateway
        do throws(MailslotError) { gateway = try Gateway(configuration: configuration, logger: logger) } catch { fail(error) }
        var fileSystem: MailslotFileSystem?
        if let folder = configuration.mount {
            // The file system writes into every user's mailslots on its callers' behalf, after checking each
            // mailslot's rule itself: that needs root, which --user gives up.
            if user != nil {
                fail(MailslotError(.invalidParameter, "--mount (key mount) needs mailslotd to stay root, and --user gives root up; run `mailslot mount \(folder)` as a service of its own, or leave out --user"))
            }
            do throws(MailslotError) {
                fileSystem = try MailslotFileSystem(.init(mountPoint: folder, allowOther: Sys.isRoot, logger: logger))
            } catch { fail(error) }
        }
        var metricsServer: MetricsServer?
        if let address = configuration.metrics {
            do throws(MailslotError) { metricsServer = try MetricsServer(address: address, registry: registry, logger: logger) } catch { fail(error) }
        }
        if let user {
            // Before any thread starts: capabilities belong to threads, and new threads inherit the caller's.
            do throws(MailslotError) { try Sys.dropPrivileges(to: user) } catch { fail(error) }
            logger.info("running as an unprivileged user", metadata: ["user": "\(user)", "capabilities": "CAP_NET_BIND_SERVICE"])
        }
        do throws(MailslotError) { try metricsServer?.start() } catch { fail(error) }

        let flags = options.settings + extraSettings
        let reload = ReloadService(gateway: gateway, logger: logger) { () throws(MailslotError) -> MailslotConfiguration in
            try MailslotConfiguration.load(overrides: flags)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: GatewayService(gateway: gateway)), .init(service: reload)]
        if let metricsServer { services.append(.init(service: metricsServer)) }
        if let fileSystem { services.append(.init(service: FileSystemService(fileSystem: fileSystem, logger: logger), successTerminationBehavior: .ignore)) }
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        Sys.notifySystemd("READY=1\nSTATUS=receiving on UDP \(configuration.port)")

        let finished = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)
        Task {
            do { try await group.run() } catch { failure.withLock { $0 = error } }
            finished.signal()
        }
        finished.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}

/// Serves the mailslots as files until graceful shutdown or cancellation (then unmounts); if someone
/// unmounts the folder from outside, says so and lets the gateway run on.
struct FileSystemService: Service {
    let fileSystem: MailslotFileSystem
    let logger: Logger

    func run() async throws {
        try fileSystem.start()
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    fileSystem.wait()
                    continuation.resume()
                }
            }
        } onCancelOrGracefulShutdown: {
            fileSystem.stop()
        }
        fileSystem.stop()
        logger.info("the mailslot file system ended", metadata: ["mount": "\(fileSystem.options.mountPoint)"])
    }
}

/// Runs the gateway's receive loop on a thread of its own and stops it on graceful shutdown or cancellation.
struct GatewayService: Service {
    let gateway: Gateway

    func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Thread.detachNewThread {
                    gateway.run()
                    continuation.resume()
                }
            }
        } onCancelOrGracefulShutdown: {
            Sys.notifySystemd("STOPPING=1")
            gateway.stop()
        }
    }
}

/// SIGHUP: reads the configuration again (file, environment, the same flags) and applies it; a
/// configuration that is invalid or cannot be applied is refused and logged, and the old one stays.
struct ReloadService: Service {
    let gateway: Gateway
    let logger: Logger
    let load: @Sendable () throws(MailslotError) -> MailslotConfiguration

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            Sys.notifySystemd("RELOADING=1")
            do throws(MailslotError) {
                try gateway.reload(try load())
            } catch {
                logger.error("configuration refused; the running configuration stays in force", metadata: ["error": "\(error)"])
            }
            Sys.notifySystemd("READY=1")
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
