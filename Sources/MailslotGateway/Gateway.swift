import Logging
import Mailslot
import MailslotTransport
import Synchronization

/// The network gateway: it receives Remote Mailslot Protocol datagrams on UDP (port 138 by default),
/// keeps those addressed to this machine, and delivers each message into the local mailslot named by
/// the transaction (`\MAILSLOT\BROWSE` → `\\.\mailslot\BROWSE`, case-insensitive), as an ordinary writer.
///
/// Nothing a peer sends can crash it or grow its memory without bound: datagrams are decoded by the
/// pure codec into a fixed set of buffers, and every datagram not delivered is counted under a reason.
public final class Gateway: @unchecked Sendable {
    /// What happened to one datagram.
    public enum Outcome: Sendable, Equatable {
        case delivered(mailslot: String, bytes: Int)
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
        /// Any other delivery failure (see the debug log).
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
        /// NetBIOS name queries for this machine's names that were answered.
        public var nameQueriesAnswered = 0
        /// Datagrams not delivered, by ``DropReason``.
        public var dropped: [String: Int] = [:]
        public var droppedTotal: Int { dropped.values.reduce(0, +) }

        /// One JSON object: `{"received":N,"delivered":N,"dropped":{"reason":N,...},"name_queries_answered":N}`.
        public var json: String {
            let reasons = dropped.keys.sorted().map { "\"\($0)\":\(dropped[$0]!)" }.joined(separator: ",")
            return "{\"received\":\(received),\"delivered\":\(delivered),\"dropped\":{\(reasons)},\"name_queries_answered\":\(nameQueriesAnswered)}"
        }
    }

    /// The settings in force and the names they accept; replaced as a whole by ``reload(_:)``.
    struct Settings: Sendable {
        var configuration: MailslotConfiguration
        /// This machine's names (three at most: a linear search beats hashing each datagram's name).
        var acceptedNames: [NetBIOSName]
    }

    private let settings: Locked<Settings>
    /// The configuration in force.
    public var configuration: MailslotConfiguration { settings.withLock { $0.configuration } }

    private let logger: Logger
    private let metrics: GatewayMetrics
    /// The receive loop's sockets by bound address; ``reload(_:)`` hands changes to the loop.
    private let sockets: Locked<[IPv4Address: FD]>
    private let nameFD: Locked<FD?>
    /// Descriptors that reload() took out of service; the loop closes them (it may be polling them).
    private let retired = Locked<[FD]>([])
    private let statsFD: FD
    private let stopFD: FD
    private let port: UInt16
    private let state = Locked(Counters())
    private let writers = Locked<[String: LocalWriter]>([:])
    private let stopped = Atomic<Bool>(false)

    /// The abstract socket name where `mailslotd stats` reads the counters for a port.
    public static func statsAddress(port: UInt16) -> [UInt8] { Array("mailslotd-stats:\(port)".utf8) }

    /// The most writer connections kept open to local mailslots at once.
    static let writerCacheLimit = 256
    /// How long a delivery may wait for a local mailslot that is momentarily full (its server is behind).
    static let deliveryWaitMilliseconds: UInt32 = 5
    /// After a mailslot made a delivery wait in vain, later deliveries to it do not wait for this long,
    /// so that one stuck server cannot stall the gateway.
    static let congestionNanoseconds: UInt64 = 1_000_000_000
    private let congested = Locked<[String: UInt64]>([:])

    static func settings(_ configuration: MailslotConfiguration) -> Settings {
        var names: Set<NetBIOSName> = []
        for text in [configuration.computerName, configuration.workgroup, "*"] {
            if let n = try? NetBIOSName(text, suffix: 0x00) { names.insert(n) }
        }
        return Settings(configuration: configuration, acceptedNames: Array(names))
    }

    /// The addresses to listen on: none configured means all (0.0.0.0). A socket bound to one unicast
    /// address does not see broadcasts, so each bound address's subnet broadcast address is bound too.
    static func listenAddresses(_ configuration: MailslotConfiguration) throws(MailslotError) -> [IPv4Address] {
        guard !configuration.interfaces.isEmpty else { return [.any] }
        let interfaces = Sys.interfaces()
        var addresses: [IPv4Address] = []
        for entry in configuration.interfaces {
            let address: IPv4Address
            if let literal = IPv4Address(entry) {
                address = literal
            } else if let named = interfaces.first(where: { $0.name == entry }) {
                address = named.address
            } else {
                throw MailslotError(.invalidParameter, "no IPv4 interface named '\(entry)' (interfaces: \(Set(interfaces.map(\.name)).sorted().joined(separator: ", "))); give an interface name or an IPv4 address")
            }
            if !addresses.contains(address) { addresses.append(address) }
            if let b = interfaces.first(where: { $0.address == address })?.broadcast, !addresses.contains(b) { addresses.append(b) }
        }
        return addresses
    }

    static func openSocket(_ address: IPv4Address, port: UInt16) throws(MailslotError) -> FD {
        do throws(Errno) {
            // Room for bursts (browser elections, many hosts answering at once).
            return try Sys.udpListener(address, port, receiveBuffer: 4 << 20)
        } catch {
            throw MailslotError(error, .listenUDP(port: port, address: address))
        }
    }

    /// Binds the UDP sockets and the stats endpoint. Throws when the port cannot be bound.
    public init(configuration: MailslotConfiguration, logger: Logger) throws(MailslotError) {
        self.logger = logger
        self.port = configuration.port
        self.settings = Locked(Gateway.settings(configuration))
        var bound: [IPv4Address: FD] = [:]
        do throws(MailslotError) {
            for address in try Gateway.listenAddresses(configuration) {
                bound[address] = try Gateway.openSocket(address, port: configuration.port)
            }
            do throws(Errno) { stopFD = try Sys.eventFD() } catch { throw MailslotError.system("could not create an eventfd", error) }
        } catch {
            bound.values.forEach(Sys.close)
            throw error
        }
        do throws(Errno) {
            statsFD = try Sys.abstractStreamListener(Gateway.statsAddress(port: configuration.port))
        } catch {
            bound.values.forEach(Sys.close)
            Sys.close(stopFD)
            throw Gateway.statsEndpointTaken(port: configuration.port, error)
        }
        self.sockets = Locked(bound)
        self.metrics = GatewayMetrics()
        nameFD = Locked(configuration.nameService ? Gateway.openNameService(port: configuration.namePort, logger: logger) : nil)
    }

    /// Applies a new configuration (SIGHUP): names, workgroup, interfaces, --accept-any-name, the name
    /// service. Sockets for addresses that stay are kept, with the datagrams waiting in them; new ones
    /// are bound before anything changes, so a configuration that cannot be applied leaves the old one
    /// in force. The port cannot change while the gateway runs.
    public func reload(_ configuration: MailslotConfiguration) throws(MailslotError) {
        guard configuration.port == port else {
            throw MailslotError(.invalidParameter, "the port cannot change while mailslotd runs (\(port) → \(configuration.port)); restart it")
        }
        let wanted = try Gateway.listenAddresses(configuration)
        let current = sockets.withLock { $0 }
        var opened: [IPv4Address: FD] = [:]
        do throws(MailslotError) {
            for address in wanted where current[address] == nil {
                opened[address] = try Gateway.openSocket(address, port: port)
            }
        } catch {
            opened.values.forEach(Sys.close)
            throw error
        }
        let old = self.configuration
        var newNameFD: FD?? = .none
        if configuration.nameService != old.nameService || configuration.namePort != old.namePort {
            newNameFD = .some(configuration.nameService ? Gateway.openNameService(port: configuration.namePort, logger: logger) : nil)
        }
        settings.withLock { $0 = Gateway.settings(configuration) }
        let removed: [FD] = sockets.withLock { sockets in
            let gone = sockets.filter { !wanted.contains($0.key) }
            for address in gone.keys { sockets[address] = nil }
            sockets.merge(opened) { $1 }
            return Array(gone.values)
        }
        var oldNameFD: FD?
        if case .some(let fd) = newNameFD {
            nameFD.withLock { current in
                oldNameFD = current
                current = fd
            }
        }
        retired.withLock { $0 += removed + (oldNameFD.map { [$0] } ?? []) }
        Sys.signalEventFD(stopFD) // the loop picks up the new descriptor set
        logger.info("configuration reloaded", metadata: [
            "computer_name": "\(configuration.computerName)", "workgroup": "\(configuration.workgroup)",
            "listen": "\(wanted.map(\.description).joined(separator: ","))", "accept_any_name": "\(configuration.acceptAnyName)",
        ])
    }

    private static func openNameService(port: UInt16, logger: Logger) -> FD? {
        do throws(Errno) {
            let fd = try Sys.udpSocket()
            do throws(Errno) {
                try Sys.setBroadcast(fd)
                try Sys.bind(fd, .any, port)
            } catch {
                Sys.close(fd)
                throw error
            }
            return fd
        } catch {
            logger.warning("not answering NetBIOS name queries: UDP port \(port) is not available (\(error.message)); another name server such as nmbd may own it")
            return nil
        }
    }

    deinit {
        retired.withLock { $0.forEach(Sys.close) }
        sockets.withLock { $0.values.forEach(Sys.close) }
        nameFD.withLock { if let fd = $0 { Sys.close(fd) } }
        Sys.close(statsFD)
        Sys.close(stopFD)
    }

    public var counters: Counters { state.withLock { $0 } }

    /// Ends ``run()`` (from any thread or a signal handler's task).
    public func stop() {
        stopped.store(true, ordering: .releasing)
        Sys.signalEventFD(stopFD)
    }

    /// Receives and delivers datagrams until ``stop()``. Blocks the calling thread.
    public func run() {
        // Mailslot datagrams are at most about 600 bytes (a 512-byte SMB part); 8 KiB slots leave room for any
        // real peer, and a larger datagram is counted as "oversize_udp" rather than read whole.
        let batch = Sys.DatagramBatch(slots: 64, slotSize: 8192)
        let configuration = self.configuration
        logger.info("mailslotd listening", metadata: [
            "name_service": "\(nameFD.withLock { $0 } != nil ? "\(configuration.namePort)" : "off")",
            "port": "\(configuration.port)", "listen": "\(sockets.withLock { $0.keys.map(\.description).sorted().joined(separator: ",") })",
            "computer_name": "\(configuration.computerName)", "workgroup": "\(configuration.workgroup)",
            "accept_any_name": "\(configuration.acceptAnyName)",
        ])
        while !stopped.load(ordering: .acquiring) {
            retired.withLock { fds in
                fds.forEach(Sys.close)
                fds.removeAll()
            }
            // The descriptor set is read each turn: reload() may have changed it (and woken the loop).
            let udp = sockets.withLock { Array($0.values) }
            let names = nameFD.withLock { $0 }
            var fds = udp + [stopFD, statsFD]
            if let names { fds.append(names) }
            let openingFDs = opening.withLock { Dictionary(uniqueKeysWithValues: $0.map { ($0.value.open.fd, $0.key) }) }
            fds += openingFDs.keys
            let ready = Sys.pollMany(fds, timeoutMilliseconds: expireOpenings())
            for fd in ready {
                if fd == stopFD { Sys.drainEventFD(stopFD); continue }
                if fd == statsFD { serveStats(); continue }
                if fd == names { answerNameQueries(fd); continue }
                if let key = openingFDs[fd] { finishOpening(key); continue }
                drain(fd, batch)
            }
            metrics.writerConnections.record(writers.withLock { $0.count })
        }
        writers.withLock { cache in
            cache.values.forEach { $0.close() }
            cache.removeAll()
        }
        opening.withLock { opening in
            opening.values.forEach { $0.open.cancel() }
            opening.removeAll()
        }
        logger.info("mailslotd stopped", metadata: ["counters": "\(counters.json)"])
    }

    private func drain(_ fd: FD, _ batch: Sys.DatagramBatch) {
        for _ in 0..<64 { // bounded, so one flooded socket does not starve the others
            let n: Int
            do throws(Errno) { n = try batch.receive(fd) } catch {
                logger.warning("UDP receive failed: \(error)")
                return
            }
            if n == 0 { return }
            let received = ContinuousClock.now
            // Decode the whole batch, then deliver runs of messages for the same mailslot together.
            let current = settings.withLock { $0 }
            var pending: [(name: MailslotName, data: [UInt8], address: IPv4Address, port: UInt16)] = []
            let now = Sys.monotonicNanoseconds()
            for i in 0..<n {
                let d = batch.datagram(i)
                if let refused = admit(d.address, current.configuration, now: now) {
                    record(.dropped(reason: refused), from: d.address, port: d.port)
                    continue
                }
                switch d.bytes.map({ accept($0, current) }) ?? .failure(.init(reason: .oversizeUDP)) {
                case .success(let (name, data)): pending.append((name, data, d.address, d.port))
                case .failure(let drop): record(.dropped(reason: drop.reason), from: d.address, port: d.port)
                }
            }
            var start = 0
            while start < pending.count {
                var end = start + 1
                while end < pending.count, pending[end].name.key == pending[start].name.key { end += 1 }
                route(pending[start..<end].map { Item(data: $0.data, address: $0.address, port: $0.port, received: received) },
                      to: pending[start].name)
                start = end
            }
            if n < batch.slots { return }
        }
    }

    /// Per-source token buckets for `rate_limit` (loop-owned; bounded).
    private let buckets = Locked<[UInt32: (tokens: Double, refilled: UInt64)]>([:])
    static let bucketLimit = 4096

    /// The source filters: `allow_from`, then `rate_limit` (a bucket of `rate_limit` tokens per source,
    /// refilled at that rate). nil: admitted.
    private func admit(_ source: IPv4Address, _ configuration: MailslotConfiguration, now: UInt64) -> DropReason? {
        if !configuration.allowFrom.isEmpty, !configuration.allowFrom.contains(where: { $0.contains(source.value) }) {
            return .sourceNotAllowed
        }
        guard configuration.rateLimit > 0 else { return nil }
        let rate = Double(configuration.rateLimit)
        return buckets.withLock { buckets in
            if buckets[source.value] == nil, buckets.count >= Gateway.bucketLimit {
                buckets = buckets.filter { Double(now - $0.value.refilled) / 1e9 * rate + $0.value.tokens < rate } // drop full buckets
                if buckets.count >= Gateway.bucketLimit { buckets.removeAll() }
            }
            var bucket = buckets[source.value] ?? (tokens: rate, refilled: now)
            bucket.tokens = min(rate, bucket.tokens + Double(now - bucket.refilled) / 1e9 * rate)
            bucket.refilled = now
            let admitted = bucket.tokens >= 1
            if admitted { bucket.tokens -= 1 }
            buckets[source.value] = bucket
            return admitted ? nil : .rateLimited
        }
    }

    /// One datagram's message on its way to a mailslot.
    struct Item {
        var data: [UInt8]
        var address: IPv4Address
        var port: UInt16
        var received: ContinuousClock.Instant
    }

    /// A connection to a mailslot that has not greeted yet, and what waits for it.
    struct PendingDelivery {
        var open: LocalWriter.PendingOpen
        var items: [Item]
        var deadline: UInt64
    }

    /// How long the gateway waits for a local mailslot's greeting before it gives the datagrams up.
    static let greetingWaitNanoseconds: UInt64 = 1_000_000_000
    /// A mailslot that did not greet in time is not tried again for this long (its datagrams are dropped).
    static let unresponsiveNanoseconds: UInt64 = 1_000_000_000
    /// The most datagrams that wait for one mailslot's greeting.
    static let pendingLimit = 256

    /// Loop-owned: connections being opened, and mailslots that did not answer.
    private let opening = Locked<[String: PendingDelivery]>([:])
    private let unresponsive = Locked<[String: UInt64]>([:])

    /// Delivers a run of messages for one mailslot at once when a connection to it is open; otherwise
    /// starts opening one without waiting (a stopped or hostile server cannot stall the loop) and keeps
    /// the messages until it greets.
    private func route(_ items: [Item], to name: MailslotName) {
        let key = name.key
        if writers.withLock({ $0[key] }) != nil {
            deliverNow(items, to: name)
            return
        }
        let now = Sys.monotonicNanoseconds()
        if let until = unresponsive.withLock({ $0[key] }), until > now {
            items.forEach { record(.dropped(reason: .unresponsiveMailslot), from: $0.address, port: $0.port) }
            return
        }
        // Already opening: the items join the wait (nil: no open under way).
        let overflow: [Item]? = opening.withLock { opening in
            guard var entry = opening[key] else { return nil }
            let room = max(0, Gateway.pendingLimit - entry.items.count)
            entry.items += items.prefix(room)
            opening[key] = entry
            return Array(items.dropFirst(room))
        }
        if let overflow {
            overflow.forEach { record(.dropped(reason: .mailslotFull), from: $0.address, port: $0.port) }
            return
        }
        do throws(MailslotError) {
            let open = try LocalWriter.PendingOpen.begin(name)
            opening.withLock { $0[key] = PendingDelivery(open: open, items: Array(items.prefix(Gateway.pendingLimit)), deadline: now + Gateway.greetingWaitNanoseconds) }
            items.dropFirst(Gateway.pendingLimit).forEach { record(.dropped(reason: .mailslotFull), from: $0.address, port: $0.port) }
            finishOpening(key) // a live server has usually greeted already
        } catch {
            items.forEach { record(.dropped(reason: Gateway.reason(error.code)), from: $0.address, port: $0.port) }
        }
    }

    /// Completes an open whose greeting may have arrived; delivers what waited for it.
    private func finishOpening(_ key: String) {
        guard let entry = opening.withLock({ $0[key] }) else { return }
        let writer: LocalWriter?
        do throws(MailslotError) {
            writer = try entry.open.finish(writeTimeoutMilliseconds: 0, logger: logger)
        } catch {
            opening.withLock { $0[key] = nil }
            entry.open.cancel()
            entry.items.forEach { record(.dropped(reason: Gateway.reason(error.code)), from: $0.address, port: $0.port) }
            return
        }
        guard let writer else { return }
        opening.withLock { $0[key] = nil }
        cache(writer, key)
        deliverNow(entry.items, to: entry.open.name)
    }

    /// Gives up the opens whose server did not greet in time; returns the poll timeout the next ones need.
    private func expireOpenings() -> Int32 {
        let now = Sys.monotonicNanoseconds()
        let expired: [(String, PendingDelivery)] = opening.withLock { opening in
            let gone = opening.filter { $0.value.deadline <= now }
            for key in gone.keys { opening[key] = nil }
            return Array(gone)
        }
        for (key, entry) in expired {
            entry.open.cancel()
            unresponsive.withLock { map in
                if map.count >= Gateway.writerCacheLimit { map = map.filter { $0.value > now } }
                map[key] = now + Gateway.unresponsiveNanoseconds
            }
            logger.debug("a local mailslot did not greet in time", metadata: ["mailslot": "\(entry.open.name)", "dropped": "\(entry.items.count)"])
            entry.items.forEach { record(.dropped(reason: .unresponsiveMailslot), from: $0.address, port: $0.port) }
        }
        guard let next = opening.withLock({ $0.values.map(\.deadline).min() }) else { return 1000 }
        return Int32(clamping: max(1, (next > now ? next - now : 0) / 1_000_000 + 1))
    }

    private func deliverNow(_ items: [Item], to name: MailslotName) {
        let outcomes = deliver(items.map(\.data), to: name, mayOpen: false)
        let now = ContinuousClock.now
        for (item, outcome) in zip(items, outcomes) {
            record(outcome, from: item.address, port: item.port)
            if case .delivered = outcome { metrics.deliveryLatency.recordNanoseconds((now - item.received).nanoseconds) }
        }
        // The server went away or was replaced: the rest wait for a fresh connection, opened without blocking.
        if outcomes.count < items.count { route(Array(items[outcomes.count...]), to: name) }
    }

    private func cache(_ writer: LocalWriter, _ key: String) {
        writers.withLock { cache in
            if cache.count >= Gateway.writerCacheLimit, let victim = cache.keys.first { cache.removeValue(forKey: victim)?.close() }
            cache[key] = writer
        }
    }

    private func record(_ outcome: Outcome, from address: IPv4Address, port: UInt16) {
        state.withLock { c in
            c.received += 1
            switch outcome {
            case .delivered: c.delivered += 1
            case .dropped(let reason): c.dropped[reason.description, default: 0] += 1
            }
        }
        metrics.received.increment()
        switch outcome {
        case .delivered: metrics.delivered.increment()
        case .dropped(let reason): metrics.dropped(reason).increment()
        }
        switch outcome {
        case .delivered(let mailslot, let bytes):
            logger.debug("datagram delivered", metadata: ["from": "\(address):\(port)", "mailslot": "\(mailslot)", "bytes": "\(bytes)"])
        case .dropped(let reason):
            logger.debug("datagram dropped", metadata: ["from": "\(address):\(port)", "reason": "\(reason)"])
        }
    }

    /// Decodes one datagram and delivers it. Public so that tests and tools can drive it without sockets.
    public func handle(_ bytes: UnsafeRawBufferPointer, from address: IPv4Address) -> Outcome {
        let current = settings.withLock { $0 }
        if let refused = admit(address, current.configuration, now: Sys.monotonicNanoseconds()) { return .dropped(reason: refused) }
        switch accept(bytes, current) {
        case .success(let (name, data)): return deliver([data], to: name)[0]
        case .failure(let drop): return .dropped(reason: drop.reason)
        }
    }

    struct Drop: Error { var reason: DropReason }

    /// Decodes a datagram and decides whether it is for this machine: the local mailslot and the message.
    private func accept(_ bytes: UnsafeRawBufferPointer, _ current: Settings) -> Result<(MailslotName, [UInt8]), Drop> {
        let decoded: NetBIOSMailslotDatagram
        do throws(DatagramDecodeError) {
            decoded = try NetBIOSMailslotDatagram.decode(bytes)
        } catch {
            return .failure(Drop(reason: .malformed(error.reason)))
        }
        guard current.configuration.acceptAnyName || decoded.messageType == .broadcast
                || current.acceptedNames.contains(decoded.destinationName) else {
            return .failure(Drop(reason: .notForUs))
        }
        guard let local = localName(decoded.transaction) else { return .failure(Drop(reason: .badMailslotName)) }
        return .success((local, decoded.data))
    }

    /// Parsed local names by their wire bytes: parsing and case-folding a name costs more than decoding
    /// the datagram, and a LAN uses few mailslot names. Bounded like the writer cache.
    private let names = Locked<[[UInt8]: MailslotName]>([:])
    private let lastName = Locked<(wire: [UInt8], name: MailslotName)?>(nil)

    private func localName(_ transaction: MailslotTransaction) -> MailslotName? {
        let wire = transaction.mailslotNameBytes
        // Most traffic goes to one mailslot: the last name answers without hashing.
        if let last = lastName.withLock({ $0 }), last.wire == wire { return last.name }
        if let cached = names.withLock({ $0[wire] }) {
            lastName.withLock { $0 = (wire, cached) }
            return cached
        }
        // The decoder has checked the `\MAILSLOT\` prefix; names travel one byte per character.
        guard let name = try? MailslotName(local: transaction.mailslotNameAfterPrefix) else { return nil }
        names.withLock { cache in
            if cache.count >= Gateway.writerCacheLimit { cache.removeAll() }
            cache[wire] = name
        }
        return name
    }

    /// Writes messages into one local mailslot as an ordinary writer, reusing a cached connection;
    /// returns one outcome per message, in order.
    /// With `mayOpen` false (the receive loop) it never opens a connection itself: it returns outcomes
    /// for the messages it could write, and the caller routes the rest through a non-blocking open.
    func deliver(_ messages: [[UInt8]], to name: MailslotName, mayOpen: Bool = true) -> [Outcome] {
        let key = name.key
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(messages.count)
        var index = 0
        var reopened = false
        while index < messages.count {
            let writer: LocalWriter
            if let cached = writers.withLock({ $0[key] }) {
                writer = cached
            } else {
                guard mayOpen else { break }
                do throws(MailslotError) {
                    writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 0, logger: logger)
                } catch {
                    outcomes += messages[index...].map { _ in .dropped(reason: Gateway.reason(error.code)) }
                    break
                }
                cache(writer, key)
            }
            // Only a mailslot that opted in to the network gets datagrams, whoever runs the gateway (root
            // passes every access rule; the opt-in is the mailslot's, checked here as well as by its server).
            guard writer.greeting.allowsNetwork else {
                outcomes += messages[index...].map { _ in .dropped(reason: .notNetworkEnabled) }
                break
            }
            var sent = 0
            let now = Sys.monotonicNanoseconds()
            let wait = congested.withLock { ($0[key] ?? 0) > now } ? 0 : Gateway.deliveryWaitMilliseconds
            do throws(MailslotError) {
                try writer.write(batch: messages[index...], sent: &sent, timeoutMilliseconds: wait)
                outcomes += messages[index...].map { .delivered(mailslot: name.description, bytes: $0.count) }
                index = messages.count
            } catch {
                outcomes += messages[index..<index + sent].map { .delivered(mailslot: name.description, bytes: $0.count) }
                index += sent
                if error.code == .brokenPipe || error.code == .invalidHandle {
                    writers.withLock { $0.removeValue(forKey: key)?.close() }
                    // The mailslot's server went away (or was replaced): connect afresh once.
                    if !reopened { reopened = true; continue }
                }
                if error.code == .semTimeout {
                    congested.withLock { cache in
                        if cache.count >= Gateway.writerCacheLimit { cache.removeAll() }
                        cache[key] = Sys.monotonicNanoseconds() + Gateway.congestionNanoseconds
                    }
                }
                outcomes.append(.dropped(reason: Gateway.reason(error.code)))
                index += 1
            }
        }
        return outcomes
    }

    static func reason(_ code: MailslotError.Code) -> DropReason {
        switch code {
        case .fileNotFound, .brokenPipe: return .noSuchMailslot
        case .semTimeout, .notEnoughQuota: return .mailslotFull
        case .messageExceedsMaxSize: return .tooLarge
        case .accessDenied: return .accessDenied
        default: return .deliveryFailed
        }
    }

    /// Answers name queries for `COMPUTER<00>` (unique) and `WORKGROUP<00>` (group) with the address of
    /// the interface on the querier's subnet. Other queries are ignored, as a B-node ignores them.
    private func answerNameQueries(_ fd: FD) {
        var buffer = [UInt8](repeating: 0, count: 1500)
        for _ in 0..<64 {
            guard let received = try? Sys.receiveFrom(fd, into: &buffer) else { return }
            guard received.count <= buffer.count,
                  let query = try? NameQueryRequest.decode(buffer[0..<received.count]) else { continue }
            guard let reply = nameQueryReply(query, from: received.address) else { continue }
            _ = try? Sys.sendTo(fd, reply, received.address, received.port)
            state.withLock { $0.nameQueriesAnswered += 1 }
            metrics.nameQueriesAnswered.increment()
            logger.debug("answered a NetBIOS name query", metadata: ["name": "\(query.name)", "from": "\(received.address):\(received.port)"])
        }
    }

    /// The positive response to a query for one of this machine's names, or nil.
    public func nameQueryReply(_ query: NameQueryRequest, from querier: IPv4Address) -> [UInt8]? {
        guard query.name.suffix == 0x00, query.name.scope.isEmpty else { return nil }
        let configuration = self.configuration
        let isGroup: Bool
        switch query.name.name {
        case configuration.computerName: isGroup = false
        case configuration.workgroup: isGroup = true
        default: return nil
        }
        let interfaces = Sys.interfaces().filter { $0.isUp }
        let mine = interfaces.first { $0.address.value & $0.netmask.value == querier.value & $0.netmask.value && $0.netmask.value != 0 }
            ?? interfaces.first { !$0.isLoopback }
        guard let address = mine?.address else { return nil }
        let entry = NameQueryAddressEntry(nbFlags: isGroup ? 0x8000 : 0x0000, address: address.value)
        return NameQueryResponse(transactionID: query.transactionID, answerName: query.name, ttl: 0, entries: [entry]).encoded()
    }

    private func serveStats() {
        while let client = try? Sys.accept(statsFD) {
            Sys.writeAll(client, Array((counters.json + "\n").utf8))
            Sys.close(client)
        }
    }

    /// Why the stats endpoint could not be opened: most likely another process holds its name.
    static func statsEndpointTaken(port: UInt16, _ error: Errno) -> MailslotError {
        guard error.code == Errno.addressInUse else {
            return MailslotError.system("could not open the stats endpoint for port \(port)", error)
        }
        var holder = "another process"
        if let fd = try? Sys.unixStreamSocket(), (try? Sys.connectAbstract(fd, statsAddress(port: port))) != nil {
            if let peer = try? Sys.peerCredentials(fd) { holder = "pid \(peer.pid) (uid \(peer.uid))" }
            Sys.close(fd)
        }
        return MailslotError(.alreadyExists, "the stats endpoint for port \(port) (the abstract socket @\(String(decoding: statsAddress(port: port), as: UTF8.self))) is held by \(holder): another mailslotd runs for this port, or another program took the name; stop it, then start mailslotd again", cause: error.cause)
    }

    /// The users whose stats endpoint `mailslotd stats` believes: root, the caller, and the service user.
    static var trustedStatsUIDs: Set<UInt32> {
        var uids: Set<UInt32> = [0, Sys.euid]
        if let service = Sys.user(named: "mailslot") { uids.insert(service.uid) }
        return uids
    }

    /// Reads the counters of the gateway on `port` running in this network namespace. The endpoint's
    /// owner is checked with the kernel's credentials: a squatter's numbers are refused.
    public static func readStats(port: UInt16) throws(MailslotError) -> String {
        var impostor: Sys.PeerCredentials?
        do throws(Errno) {
            let trusted = trustedStatsUIDs
            let bytes = try Sys.readAbstractStream(statsAddress(port: port)) { peer in
                if trusted.contains(peer.uid) { return true }
                impostor = peer
                return false
            }
            return String(decoding: bytes, as: UTF8.self)
        } catch {
            if let impostor {
                throw MailslotError(.accessDenied, "the stats endpoint for port \(port) is held by pid \(impostor.pid) of uid \(impostor.uid), not by root, this user or the mailslot service user: it is not mailslotd, and its numbers are not shown")
            }
            throw MailslotError(.fileNotFound, "no mailslotd is running for port \(port) in this network namespace", cause: error.cause)
        }
    }
}
