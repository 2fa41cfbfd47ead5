import Logging
import Mailslot
import MailslotTransport

/// The network gateway: it receives Remote Mailslot Protocol datagrams on UDP (port 138 by default),
/// keeps those addressed to this machine, and delivers each message into the local mailslot named by
/// the transaction (`\MAILSLOT\BROWSE` → `\\.\mailslot\BROWSE`, case-insensitive), as an ordinary writer.
///
/// Nothing a peer sends can crash it or grow its memory without bound: datagrams are decoded by the
/// pure codec into a fixed set of buffers, and every datagram not delivered is counted under a reason.
///
/// The gateway is policy only. Its sockets are the transport's ``GatewaySockets``; what deliveries need
/// (connections to local mailslots, their greetings, congestion, rate limits) is a ``GatewayDelivery``
/// that belongs to the receive loop alone. The one lock here guards what other threads see: the settings
/// (replaced by ``reload(_:)``) and the counters.
public final class Gateway: Sendable {
    /// What happened to one datagram.
    public enum Outcome: Sendable, Equatable {
        case delivered(mailslot: String, bytes: Int)
        /// Addressed to a computer at another site: handed to the bridge.
        case forwarded(mailslot: String)
        case dropped(reason: DropReason)
    }

    /// Why a datagram was not delivered: the one vocabulary of `mailslotd stats`, the metrics' `reason`
    /// label and the logs (snake_case, the decoder's reasons included).
    public enum DropReason: Sendable, Hashable, CustomStringConvertible {
        /// Addressed to a NetBIOS name that is not this machine's (without --accept-any-name).
        case notForUs
        /// The mailslot name in the datagram is not a valid local mailslot name.
        case badMailslotName
        /// No local server serves the mailslot (or it went away).
        case noSuchMailslot
        /// The mailslot's quota was full for longer than the gateway waits.
        case mailslotFull
        /// Larger than the mailslot's maximum message size.
        case tooLarge
        /// The mailslot's access rule does not admit the gateway.
        case accessDenied
        /// The mailslot did not opt in to messages from the network (`allowNetwork`, `--allow-network`).
        case notNetworkEnabled
        /// The source address is not in `allow_from`.
        case sourceNotAllowed
        /// The source sent more than `rate_limit` datagrams per second.
        case rateLimited
        /// The mailslot's server did not greet within a second (stopped, stuck, or not a mailslot server);
        /// it is not tried again for a second.
        case unresponsiveMailslot
        /// Any other delivery failure, such as the gateway stopping while a mailslot had not greeted yet
        /// (see the debug log).
        case deliveryFailed
        /// A UDP payload larger than the receive slot (8 KiB): no mailslot datagram is that large.
        case oversizeUDP
        /// Not a well-formed Remote Mailslot Protocol datagram; the decoder's reason (`data_out_of_bounds`, ...).
        case malformed(String)

        public var description: String {
            switch self {
            case .notForUs: "not_for_us"
            case .badMailslotName: "bad_mailslot_name"
            case .noSuchMailslot: "no_such_mailslot"
            case .mailslotFull: "mailslot_full"
            case .tooLarge: "too_large"
            case .accessDenied: "access_denied"
            case .notNetworkEnabled: "not_network_enabled"
            case .sourceNotAllowed: "source_not_allowed"
            case .rateLimited: "rate_limited"
            case .unresponsiveMailslot: "unresponsive_mailslot"
            case .deliveryFailed: "delivery_failed"
            case .oversizeUDP: "oversize_udp"
            case .malformed(let reason): reason
            }
        }
    }

    /// What the gateway has counted since it started.
    public struct Counters: Sendable, Equatable {
        public var received = 0
        public var delivered = 0
        /// Datagrams for computers at other sites, handed to the bridge.
        public var forwarded = 0
        /// NetBIOS name queries for this machine's names that were answered.
        public var nameQueriesAnswered = 0
        /// Datagrams not delivered, by ``DropReason``.
        public var dropped: [String: Int] = [:]
        public var droppedTotal: Int { dropped.values.reduce(0, +) }

        /// The bridge's, when one runs.
        public var bridge: BridgeCounters?

        /// One JSON object: `{"received":N,"delivered":N,"dropped":{"reason":N,...},"name_queries_answered":N}`,
        /// with `"forwarded":N` and `"bridge":{"connected":..,"published":N,"received":N,"rebroadcast":N,
        /// "forwarded":N,"delivered":N,"dropped":{...}}` when a bridge runs.
        public var json: String {
            func reasons(_ map: [String: Int]) -> String { map.keys.sorted().map { "\"\($0)\":\(map[$0]!)" }.joined(separator: ",") }
            var text = "{\"received\":\(received),\"delivered\":\(delivered),\"dropped\":{\(reasons(dropped))},\"name_queries_answered\":\(nameQueriesAnswered)"
            if let bridge {
                text += ",\"forwarded\":\(forwarded),\"bridge\":{\"connected\":\(bridge.connected),\"published\":\(bridge.published),"
                    + "\"received\":\(bridge.received),\"rebroadcast\":\(bridge.rebroadcast),\"forwarded\":\(bridge.forwarded),"
                    + "\"delivered\":\(bridge.delivered),\"dropped\":{\(reasons(bridge.dropped))}}"
            }
            return text + "}"
        }
    }

    /// The settings in force and the names they accept; replaced as a whole by ``reload(_:)``. A class, so
    /// that the receive loop takes them for each batch at the cost of one reference, not a copy of the
    /// whole configuration.
    final class Settings: Sendable {
        let configuration: MailslotConfiguration
        /// This machine's names (three at most: a linear search beats hashing each datagram's name).
        let acceptedNames: [NetBIOSName]

        init(_ configuration: MailslotConfiguration) {
            var names: Set<NetBIOSName> = []
            for text in [configuration.computerName, configuration.workgroup, "*"] {
                if let n = try? NetBIOSName(text, suffix: 0x00) { names.insert(n) }
            }
            self.configuration = configuration
            acceptedNames = Array(names)
        }

        /// Whether a datagram (or relayed message) addressed to `destination` is for this machine: one of
        /// its names, or any name with --accept-any-name.
        func accepts(_ destination: NetBIOSName) -> Bool {
            configuration.acceptAnyName || acceptedNames.contains(destination)
        }
    }

    /// What other threads see of the gateway: the settings and the counters, behind the gateway's one lock.
    private struct Shared {
        var settings: Settings
        var counters = Counters()
        var stopped = false
    }

    private let shared: Locked<Shared>
    /// The receive loop's delivery state while ``run()`` runs. The bridge delivers what it re-broadcasts
    /// into this host's mailslots through it as well (``deliverRelayed(_:)``), so the loop and the bridge
    /// take it in turns; nothing done with it waits.
    private let delivery = Locked<GatewayDelivery?>(nil)
    let logger: Logger
    let metrics: GatewayMetrics
    private let sockets: GatewaySockets
    /// The bridge to the other sites, when `bridge` is configured.
    let bridge: Bridge?

    /// The configuration in force.
    public var configuration: MailslotConfiguration { shared.withLock { $0.settings.configuration } }
    var settings: Settings { shared.withLock { $0.settings } }
    public var counters: Counters {
        var counters = shared.withLock { $0.counters }
        counters.bridge = bridge?.counters
        return counters
    }

    /// The abstract socket name where `mailslotd stats` reads the counters for a port.
    public static func statsAddress(port: UInt16) -> [UInt8] { Array("mailslotd-stats:\(port)".utf8) }

    /// Binds the UDP sockets and the stats endpoint. Throws when the port cannot be bound.
    public init(configuration: MailslotConfiguration, logger: Logger) throws(MailslotError) {
        self.logger = logger
        sockets = try GatewaySockets(addresses: try GatewaySockets.listenAddresses(configuration.interfaces), port: configuration.port,
                                     nameServicePort: configuration.nameService ? configuration.namePort : nil,
                                     statsAddress: Gateway.statsAddress(port: configuration.port),
                                     dropOwnRelays: !configuration.bridge.isEmpty, logger: logger)
        shared = Locked(Shared(settings: Settings(configuration)))
        metrics = GatewayMetrics()
        bridge = configuration.bridge.isEmpty ? nil
            : try Bridge(configuration: configuration, sockets: sockets, logger: logger, metrics: BridgeMetrics())
    }

    /// Applies a new configuration (SIGHUP): names, workgroup, interfaces, --accept-any-name, the name
    /// service, the source filters. Sockets for addresses that stay are kept, with the datagrams waiting
    /// in them; new ones are bound before anything changes, so a configuration that cannot be applied
    /// leaves the old one in force. The port cannot change while the gateway runs.
    public func reload(_ configuration: MailslotConfiguration) throws(MailslotError) {
        guard configuration.port == sockets.port else {
            throw MailslotError(.invalidParameter, "the port cannot change while mailslotd runs (\(sockets.port) → \(configuration.port)); restart it")
        }
        let wanted = try GatewaySockets.listenAddresses(configuration.interfaces)
        let old = self.configuration
        try sockets.rebind(wanted, nameServicePort: configuration.nameService ? configuration.namePort : nil,
                           currentNameServicePort: old.nameService ? old.namePort : nil, logger: logger)
        shared.withLock { $0.settings = Settings(configuration) }
        logger.info("configuration reloaded", metadata: [
            "computer_name": "\(configuration.computerName)", "workgroup": "\(configuration.workgroup)",
            "listen": "\(wanted.map(\.description).joined(separator: ","))", "accept_any_name": "\(configuration.acceptAnyName)",
        ])
    }

    /// Ends ``run()`` (from any thread or a signal handler's task).
    public func stop() {
        shared.withLock { $0.stopped = true }
        sockets.wake()
    }

    /// A delivery state of its own, for driving the gateway without its receive loop (tests and tools):
    /// ``GatewayDelivery/handle(_:from:)`` decodes and delivers one datagram. ``run()`` makes its own.
    package func makeDelivery() -> GatewayDelivery { GatewayDelivery(self) }

    /// Receives and delivers datagrams until ``stop()``. Blocks the calling thread.
    public func run() {
        // Mailslot datagrams are at most about 600 bytes (a 512-byte SMB part); 8 KiB slots leave room for any
        // real peer, and a larger datagram is counted as "oversize_udp" rather than read whole.
        let batch = Sys.DatagramBatch(slots: 64, slotSize: 8192)
        let delivery = GatewayDelivery(self)
        self.delivery.withLock { $0 = delivery }
        // Every use of `delivery` is under its lock: the bridge's threads use it too.
        func locked<R>(_ body: () -> R) -> R { self.delivery.withLock { _ in body() } }
        let configuration = self.configuration
        logger.info("mailslotd listening", metadata: [
            "name_service": "\(sockets.answersNameQueries ? "\(configuration.namePort)" : "off")",
            "port": "\(configuration.port)", "listen": "\(sockets.listening.map(\.description).joined(separator: ","))",
            "computer_name": "\(configuration.computerName)", "workgroup": "\(configuration.workgroup)",
            "accept_any_name": "\(configuration.acceptAnyName)",
        ])
        do throws(MailslotError) { try bridge?.start { [weak self] in self?.deliverRelayed($0) } } catch {
            logger.error("the bridge could not start; the gateway runs without it", metadata: ["error": "\(error)"])
        }
        while !shared.withLock({ $0.stopped }) {
            // Expired opens first: their descriptors are closed then, and must not be polled.
            let (timeout, opening) = locked { (delivery.hasBacklog ? 1 : delivery.expireOpenings(), delivery.openingDescriptors) }
            for ready in sockets.wait(also: opening, timeoutMilliseconds: timeout) {
                switch ready {
                case .woken: continue
                case .statsClients: sockets.answerStatsClients(counters.json + "\n")
                case .nameQueries: answerNameQueries()
                case .other(let fd): locked { delivery.finishOpening(fd) }
                case .datagrams(let fd): drain(fd, batch) { n in locked { delivery.deliver(batch, count: n) } }
                }
            }
            let connections = locked {
                if delivery.hasBacklog { _ = delivery.expireOpenings() }
                delivery.retryBacklogs()
                return delivery.connectionCount
            }
            metrics.writerConnections.record(connections)
        }
        bridge?.stop() // what it still holds back is delivered before the delivery closes
        self.delivery.withLock { d in
            d?.close()
            d = nil
        }
        logger.info("mailslotd stopped", metadata: ["counters": "\(counters.json)"])
    }

    /// Receives what waits on `fd` a batch at a time and hands each batch to `deliver`.
    private func drain(_ fd: FD, _ batch: Sys.DatagramBatch, deliver: (Int) -> Void) {
        for _ in 0..<64 { // bounded, so one flooded socket does not starve the others
            let n: Int
            do throws(Errno) { n = try sockets.receive(fd, into: batch) } catch {
                logger.warning("UDP receive failed: \(error)")
                return
            }
            if n == 0 { return }
            deliver(n)
            if n < batch.slots { return }
        }
    }

    /// A message of another site that this host's bridge re-broadcast on its LAN, for this host's own
    /// mailslots: what the re-broadcast datagram would have brought here.
    struct RelayedMessage {
        /// Where the datagram was addressed: `WORKGROUP<00>`.
        var destination: NetBIOSName
        /// `\MAILSLOT\...`, as the datagram names it.
        var mailslot: String
        var data: [UInt8]
        /// The original sender's address, as the datagram carries it.
        var source: IPv4Address
        /// The port the counters and logs give as a relayed message's sender's: the datagram port, which the
        /// original sender used.
        static let port: UInt16 = 138
    }

    /// Delivers messages this host's bridge re-broadcast into this host's mailslots, as the gateway
    /// delivers a received datagram: the same name check, the same connections and backlogs. (The
    /// kernel's copy of the re-broadcast never reaches the datagram sockets: see
    /// ``Sys/dropOwnRelays(_:port:)``.) Wakes the receive loop when it has a new open or backlog to watch.
    func deliverRelayed(_ messages: [RelayedMessage]) {
        switch delivery.withLock({ $0?.deliverRelayed(messages) }) {
        case true?: sockets.wake()
        case false?: break
        case nil: // the receive loop is not running
            messages.forEach { record(.dropped(reason: .deliveryFailed), from: $0.source, port: RelayedMessage.port) }
        }
    }

    /// Counts one datagram's outcome (the counters, the metrics and a debug log line).
    func record(_ outcome: Outcome, from address: IPv4Address, port: UInt16) {
        shared.withLock { shared in
            shared.counters.received += 1
            switch outcome {
            case .delivered: shared.counters.delivered += 1
            case .forwarded: shared.counters.forwarded += 1
            case .dropped(let reason): shared.counters.dropped[reason.description, default: 0] += 1
            }
        }
        metrics.received.increment()
        switch outcome {
        case .delivered(let mailslot, let bytes):
            metrics.delivered.increment()
            logger.debug("datagram delivered", metadata: ["from": "\(address):\(port)", "mailslot": "\(mailslot)", "bytes": "\(bytes)"])
        case .forwarded(let mailslot):
            logger.debug("datagram forwarded to another site", metadata: ["from": "\(address):\(port)", "mailslot": "\(mailslot)"])
        case .dropped(let reason):
            metrics.dropped(reason).increment()
            logger.debug("datagram dropped", metadata: ["from": "\(address):\(port)", "reason": "\(reason)"])
        }
    }

    /// Answers name queries for `COMPUTER<00>` (unique) and `WORKGROUP<00>` (group) with the address of
    /// the interface on the querier's subnet. Other queries are ignored, as a B-node ignores them.
    private func answerNameQueries() {
        var buffer = [UInt8](repeating: 0, count: 1500)
        for _ in 0..<64 {
            guard let received = sockets.nextNameQuery(into: &buffer) else { return }
            guard received.count <= buffer.count, let query = try? NameQueryRequest.decode(buffer[0..<received.count]) else { continue }
            guard let reply = nameQueryReply(query, from: received.address) else {
                // A computer at another site: the bridge may know it, or find it; this host then answers for it.
                if let bridge, query.name.suffix == 0x00, query.name.scope.isEmpty {
                    bridge.lookUpForQuery(query.name.name, from: received.address) { [self] in
                        guard let proxy = nameQueryReply(query, from: received.address, standingInFor: true) else { return }
                        sockets.answerNameQuery(proxy, to: received.address, port: received.port)
                        shared.withLock { $0.counters.nameQueriesAnswered += 1 }
                        metrics.nameQueriesAnswered.increment()
                    }
                }
                continue
            }
            sockets.answerNameQuery(reply, to: received.address, port: received.port)
            shared.withLock { $0.counters.nameQueriesAnswered += 1 }
            metrics.nameQueriesAnswered.increment()
            logger.debug("answered a NetBIOS name query", metadata: ["name": "\(query.name)", "from": "\(received.address):\(received.port)"])
        }
    }

    /// The positive response to a query for one of this machine's names (or, `standingInFor` a computer
    /// at another site that the bridge reaches, for that name), or nil.
    public func nameQueryReply(_ query: NameQueryRequest, from querier: IPv4Address, standingInFor: Bool = false) -> [UInt8]? {
        guard query.name.suffix == 0x00, query.name.scope.isEmpty else { return nil }
        let configuration = self.configuration
        let isGroup: Bool
        switch query.name.name {
        case _ where standingInFor: isGroup = false
        case configuration.computerName: isGroup = false
        case configuration.workgroup: isGroup = true
        default: return nil
        }
        let interfaces = GatewaySockets.interfaces().filter { $0.isUp }
        let mine = interfaces.first { $0.address.value & $0.netmask.value == querier.value & $0.netmask.value && $0.netmask.value != 0 }
            ?? interfaces.first { !$0.isLoopback }
        guard let address = mine?.address else { return nil }
        let entry = NameQueryAddressEntry(nbFlags: isGroup ? 0x8000 : 0x0000, address: address.value)
        return NameQueryResponse(transactionID: query.transactionID, answerName: query.name, ttl: 0, entries: [entry]).encoded()
    }

    /// Reads the counters of the gateway on `port` running in this network namespace. The endpoint's
    /// owner is checked with the kernel's credentials: a squatter's numbers are refused.
    public static func readStats(port: UInt16) throws(MailslotError) -> String {
        try GatewaySockets.readStats(statsAddress(port: port), port: port)
    }
}
