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
    public struct Configuration: Sendable {
        public var port: UInt16
        /// Addresses to bind; empty binds all IPv4 addresses (0.0.0.0).
        public var bindAddresses: [IPv4Address]
        public var computerName: String
        public var workgroup: String
        /// Deliver datagrams whatever their destination NetBIOS name (to watch a LAN's browser traffic).
        public var acceptAnyName: Bool
        /// The UDP port on which to answer NetBIOS name queries for `COMPUTER<00>` and `WORKGROUP<00>`, as
        /// a B-node does, so that other Mailslot hosts can resolve `\\COMPUTER` and `\\WORKGROUP` names
        /// without DNS. nil: do not answer. When the port is taken (Samba's nmbd runs here), the gateway
        /// runs without it and says so in its log.
        public var nameServicePort: UInt16?

        public init(port: UInt16 = 138, bindAddresses: [IPv4Address] = [], computerName: String, workgroup: String = "WORKGROUP",
                    acceptAnyName: Bool = false, nameServicePort: UInt16? = nil) {
            self.port = port
            self.bindAddresses = bindAddresses
            self.computerName = MailslotConfiguration.netbiosName(computerName)
            self.workgroup = MailslotConfiguration.netbiosName(workgroup)
            self.acceptAnyName = acceptAnyName
            self.nameServicePort = nameServicePort
        }
    }

    /// What the gateway has counted since it started.
    public struct Counters: Sendable, Equatable {
        public var received = 0
        public var delivered = 0
        /// NetBIOS name queries for this machine's names that were answered.
        public var nameQueriesAnswered = 0
        /// Datagrams not delivered, by reason (`not_for_us`, `no_such_mailslot`, `mailslot_full`, decode reasons...).
        public var dropped: [String: Int] = [:]
        public var droppedTotal: Int { dropped.values.reduce(0, +) }

        /// One JSON object: `{"received":N,"delivered":N,"dropped":{"reason":N,...}}`.
        public var json: String {
            let reasons = dropped.keys.sorted().map { "\"\($0)\":\(dropped[$0]!)" }.joined(separator: ",")
            return "{\"received\":\(received),\"delivered\":\(delivered),\"dropped\":{\(reasons)},\"name_queries_answered\":\(nameQueriesAnswered)}"
        }
    }

    /// What happened to one datagram.
    public enum Outcome: Sendable, Equatable {
        case delivered(mailslot: String, bytes: Int)
        case dropped(reason: String)
    }

    public let configuration: Configuration
    private let logger: Logger
    private let sockets: [FD]
    private let nameFD: FD?
    private let statsFD: FD?
    private let stopFD: FD
    private let state = Locked(Counters())
    private let writers = Locked<[String: LocalWriter]>([:])
    private let stopped = Atomic<Bool>(false)
    /// This machine's names (three at most: a linear search beats hashing each datagram's name).
    private let acceptedNames: [NetBIOSName]

    /// The abstract socket name where `mailslotd stats` reads the counters for a port.
    public static func statsAddress(port: UInt16) -> [UInt8] { Array("mailslotd-stats:\(port)".utf8) }

    /// The most writer connections kept open to local mailslots at once.
    static let writerCacheLimit = 256
    /// How long a delivery may wait for a local mailslot that is momentarily full (its server is behind).
    static let deliveryWaitMilliseconds: UInt32 = 50
    /// After a mailslot made a delivery wait in vain, later deliveries to it do not wait for this long,
    /// so that one stuck server cannot stall the gateway.
    static let congestionNanoseconds: UInt64 = 1_000_000_000
    private let congested = Locked<[String: UInt64]>([:])

    /// Binds the UDP sockets and the stats endpoint. Throws when the port cannot be bound.
    public init(configuration: Configuration, logger: Logger) throws(MailslotError) {
        self.configuration = configuration
        self.logger = logger
        var names: Set<NetBIOSName> = []
        for (text, suffix) in [(configuration.computerName, UInt8(0x00)), (configuration.workgroup, UInt8(0x00)), ("*", UInt8(0x00))] {
            if let n = try? NetBIOSName(text, suffix: suffix) { names.insert(n) }
        }
        acceptedNames = Array(names)
        var sockets: [FD] = []
        // A socket bound to one unicast address does not see broadcasts: bind each bound address's
        // subnet broadcast address too.
        var addresses = configuration.bindAddresses
        for address in configuration.bindAddresses {
            if let b = Sys.interfaces().first(where: { $0.address == address })?.broadcast, !addresses.contains(b) { addresses.append(b) }
        }
        do throws(Errno) {
            for address in addresses.isEmpty ? [IPv4Address.any] : addresses {
                let fd = try Sys.udpSocket()
                sockets.append(fd)
                try Sys.setBroadcast(fd)
                // Room for bursts (browser elections, many hosts answering at once): up to rmem_max.
                try? Sys.setSocketIntOption(fd, Sys.soRcvBuf, 4 << 20)
                try Sys.bind(fd, address, configuration.port)
            }
            stopFD = try Sys.eventFD()
        } catch {
            sockets.forEach(Sys.close)
            let hint = error.code == Errno.addressInUse ? " (is nmbd or another mailslotd running?)" : error.code == 13 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE)" : ""
            throw MailslotError(.accessDenied, "cannot listen on UDP port \(configuration.port)\(hint): \(error.message)", cause: error.cause)
        }
        self.sockets = sockets
        statsFD = try? Sys.abstractStreamListener(Gateway.statsAddress(port: configuration.port))
        nameFD = configuration.nameServicePort.flatMap { Gateway.openNameService(port: $0, logger: logger) }
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
        sockets.forEach(Sys.close)
        if let nameFD { Sys.close(nameFD) }
        if let statsFD { Sys.close(statsFD) }
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
        var fds = sockets + [stopFD]
        if let statsFD { fds.append(statsFD) }
        if let nameFD { fds.append(nameFD) }
        logger.info("mailslotd listening", metadata: [
            "name_service": "\(nameFD != nil ? "\(configuration.nameServicePort ?? 0)" : "off")",
            "port": "\(configuration.port)", "bind": "\(configuration.bindAddresses.isEmpty ? "0.0.0.0" : configuration.bindAddresses.map(\.description).joined(separator: ","))",
            "computer_name": "\(configuration.computerName)", "workgroup": "\(configuration.workgroup)",
            "accept_any_name": "\(configuration.acceptAnyName)",
        ])
        while !stopped.load(ordering: .acquiring) {
            let ready = Sys.pollMany(fds, timeoutMilliseconds: 1000)
            for fd in ready {
                if fd == stopFD { continue }
                if fd == statsFD { serveStats(); continue }
                if fd == nameFD { answerNameQueries(fd); continue }
                drain(fd, batch)
            }
        }
        writers.withLock { cache in
            cache.values.forEach { $0.close() }
            cache.removeAll()
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
            // Decode the whole batch, then deliver runs of messages for the same mailslot together.
            var pending: [(name: MailslotName, data: [UInt8], address: IPv4Address, port: UInt16)] = []
            for i in 0..<n {
                let d = batch.datagram(i)
                switch d.bytes.map({ accept($0) }) ?? .failure(.init(reason: "oversize_udp")) {
                case .success(let (name, data)): pending.append((name, data, d.address, d.port))
                case .failure(let drop): record(.dropped(reason: drop.reason), from: d.address, port: d.port)
                }
            }
            var start = 0
            while start < pending.count {
                var end = start + 1
                while end < pending.count, pending[end].name.key == pending[start].name.key { end += 1 }
                let outcomes = deliver(pending[start..<end].map(\.data), to: pending[start].name)
                for (item, outcome) in zip(pending[start..<end], outcomes) { record(outcome, from: item.address, port: item.port) }
                start = end
            }
            if n < batch.slots { return }
        }
    }

    private func record(_ outcome: Outcome, from address: IPv4Address, port: UInt16) {
        state.withLock { c in
            c.received += 1
            switch outcome {
            case .delivered: c.delivered += 1
            case .dropped(let reason): c.dropped[reason, default: 0] += 1
            }
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
        switch accept(bytes) {
        case .success(let (name, data)): return deliver([data], to: name)[0]
        case .failure(let drop): return .dropped(reason: drop.reason)
        }
    }

    struct Drop: Error { var reason: String }

    /// Decodes a datagram and decides whether it is for this machine: the local mailslot and the message.
    private func accept(_ bytes: UnsafeRawBufferPointer) -> Result<(MailslotName, [UInt8]), Drop> {
        let decoded: NetBIOSMailslotDatagram
        do throws(DatagramDecodeError) {
            decoded = try NetBIOSMailslotDatagram.decode(bytes)
        } catch {
            return .failure(Drop(reason: error.reason))
        }
        guard configuration.acceptAnyName || decoded.messageType == .broadcast || acceptedNames.contains(decoded.destinationName) else {
            return .failure(Drop(reason: "not_for_us"))
        }
        guard let local = localName(decoded.transaction) else { return .failure(Drop(reason: "bad_mailslot_name")) }
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
    func deliver(_ messages: [[UInt8]], to name: MailslotName) -> [Outcome] {
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
                do throws(MailslotError) {
                    writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 0, logger: logger)
                } catch {
                    outcomes += messages[index...].map { _ in .dropped(reason: Gateway.reason(error.code)) }
                    break
                }
                writers.withLock { cache in
                    if cache.count >= Gateway.writerCacheLimit, let victim = cache.keys.first { cache.removeValue(forKey: victim)?.close() }
                    cache[key] = writer
                }
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

    static func reason(_ code: MailslotError.Code) -> String {
        switch code {
        case .fileNotFound, .brokenPipe: return "no_such_mailslot"
        case .semTimeout, .notEnoughQuota: return "mailslot_full"
        case .messageExceedsMaxSize: return "too_large"
        case .accessDenied: return "access_denied"
        default: return "delivery_failed"
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
            logger.debug("answered a NetBIOS name query", metadata: ["name": "\(query.name)", "from": "\(received.address):\(received.port)"])
        }
    }

    /// The positive response to a query for one of this machine's names, or nil.
    public func nameQueryReply(_ query: NameQueryRequest, from querier: IPv4Address) -> [UInt8]? {
        guard query.name.suffix == 0x00, query.name.scope.isEmpty else { return nil }
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
        guard let statsFD else { return }
        while let client = try? Sys.accept(statsFD) {
            Sys.writeAll(client, Array((counters.json + "\n").utf8))
            Sys.close(client)
        }
    }

    /// Reads the counters of the gateway on `port` running in this network namespace.
    public static func readStats(port: UInt16) throws(MailslotError) -> String {
        do throws(Errno) {
            return String(decoding: try Sys.readAbstractStream(statsAddress(port: port)), as: UTF8.self)
        } catch {
            throw MailslotError(.fileNotFound, "no mailslotd is running for port \(port) in this network namespace", cause: error.cause)
        }
    }
}
