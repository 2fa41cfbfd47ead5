import Dispatch
import Logging
import Mailslot
import MailslotTransport

/// Joins the LANs of several sites over NATS, so that a domain write (`\\WORKGROUP\mailslot\x`) made at
/// one site reaches every site, and a write to a computer at another site (`\\HOSTB\mailslot\x`) reaches
/// it. The wire between sites is NATS alone ([`BridgeProtocol`](BridgeProtocol) has the subjects).
///
/// - **Out**: each domain datagram of a bridged workgroup that this LAN carries (the gateway received it,
///   from another host or, looped back, from a writer on this one) is published once, by this LAN's
///   forwarder.
/// - **In**: a domain message from another site is re-broadcast on this LAN by its forwarder, as an
///   ordinary DIRECT_GROUP datagram carrying the original source name and address, so that Windows and
///   Samba hosts receive it once. This host's own mailslots get it from the bridge directly, through the
///   gateway's delivery (``Gateway/deliverRelayed(_:)``): the gateway's sockets drop the kernel's copy
///   of the broadcast, and an interface without a broadcast address (loopback), where only this host
///   would hear it, is sent nothing.
/// - **One forwarder per LAN**: the bridges of a site announce themselves every half second; the one with
///   the smallest id among those heard in the last 1.5 s forwards, the others only listen. So two bridges
///   on one LAN neither publish a datagram twice nor re-broadcast one twice. A datagram this bridge
///   re-broadcast is never published again (it is remembered, and a re-broadcast's UDP source is not its
///   NetBIOS source); messages are also de-duplicated by datagram key for 30 s.
/// - **Unique writes**: each bridge learns the names of its LAN (its own, the senders of the datagrams it
///   sees, and any it is asked about, by a name query) and answers other bridges' questions; a NetBIOS name
///   query on this LAN for a name at another site is answered by this host (a proxy), so the writer sends
///   the datagram here, and it goes over NATS to that site's bridge, which sends it on to the computer.
/// - **Failure**: while NATS is away the LAN side goes on unchanged; what could not be forwarded is
///   counted (`nats_unavailable`), and the client reconnects by itself with back-off (``ReconnectBackoff``).
final class Bridge: @unchecked Sendable {
    struct Settings: Sendable {
        var site: String
        var workgroups: Set<String>
        var id: String
        var computerName: String
        var port: UInt16
        var configuration: MailslotConfiguration
    }


    private struct State {
        var peers: [String: (site: String, seen: ContinuousClock.Instant)] = [:]
        var lanNames: [String: (address: IPv4Address, seen: ContinuousClock.Instant)] = [:]
        var remoteNames: [String: (site: String, until: ContinuousClock.Instant)] = [:]
        var lookups: Set<String> = []
        var outbound = RecentKeys()
        var inbound = RecentKeys()
        var counters = BridgeCounters()
        var stopped = false

        /// Whether the bridge of `settings` forwards for its LAN: no bridge of its site with a smaller id was
        /// heard from lately.
        func forwards(_ settings: Settings, now: ContinuousClock.Instant) -> Bool {
            peers.allSatisfy { id, peer in peer.site != settings.site || now - peer.seen > Bridge.peerTimeout || id >= settings.id }
        }
    }

    let settings: Settings
    private let client: NatsClient
    private let sockets: GatewaySockets
    private let logger: Logger
    private let metrics: BridgeMetrics
    private let state = Locked(State())
    private let lookups = DispatchQueue(label: "mailslot.bridge.lookups", attributes: .concurrent)
    private let heartbeat = Locked<ThreadHandle?>(nil)
    private let wakeHeartbeat: FD

    static let heartbeatMilliseconds: Int32 = 500
    static let peerTimeout: Duration = .milliseconds(1_500)
    static let nameLifetime: Duration = .seconds(600)
    static let remoteNameLifetime: Duration = .seconds(60)
    static let nameLimit = 4_096
    static let lookupTimeoutMilliseconds: Int64 = 600

    init(configuration: MailslotConfiguration, sockets: GatewaySockets, logger: Logger, metrics: BridgeMetrics) throws(MailslotError) {
        let id = configuration.computerName + "-" + String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16)
        settings = Settings(site: configuration.siteName, workgroups: Set(configuration.bridgedWorkgroups), id: id,
                            computerName: configuration.computerName, port: configuration.port, configuration: configuration)
        self.sockets = sockets
        self.logger = logger
        self.metrics = metrics
        do throws(Errno) { wakeHeartbeat = try Sys.eventFD() } catch { throw MailslotError.system("could not create an eventfd", error) }
        var options = NatsClient.Options(servers: configuration.bridge, name: "mailslotd \(settings.site) \(id)")
        options.user = configuration.bridgeUser
        options.password = configuration.bridgePassword
        options.token = configuration.bridgeToken
        options.credentialsFile = configuration.bridgeCredentials
        options.nkey = configuration.bridgeNKey
        options.nkeySeedFile = configuration.bridgeNKeySeed
        options.caFile = configuration.bridgeCA
        let state = self.state, metrics = self.metrics, logger = self.logger
        client = try NatsClient(options) { event in
            switch event {
            case .connected, .reconnected:
                state.withLock { $0.counters.connected = true }
                metrics.connected.record(1)
                logger.info("bridge connected to NATS", metadata: ["event": "\(event)"])
            case .disconnected, .closed:
                state.withLock { $0.counters.connected = false }
                metrics.connected.record(0)
                logger.warning("bridge lost NATS; delivering on this LAN as before, forwarding nothing until it is back", metadata: ["event": "\(event)"])
            case .error(let text):
                logger.warning("NATS error", metadata: ["error": "\(text)"])
            }
        }
        logger.info("bridge started", metadata: ["site": "\(settings.site)", "id": "\(id)", "workgroups": "\(settings.workgroups.sorted().joined(separator: ","))",
                                                 "servers": "\(configuration.bridge.joined(separator: ","))", "libnats": "\(NatsClient.libraryVersion)"])
    }

    deinit {
        client.close() // also when start() or stop() never ran: ends a first connect that is still trying
        Sys.close(wakeHeartbeat)
    }

    /// Subscribes and starts the heartbeat. Subscriptions made while NATS is away take effect when it is
    /// back. What this bridge re-broadcasts is handed to `deliverLocally` for this host's own mailslots.
    func start(deliverLocally: @escaping @Sendable ([Gateway.RelayedMessage]) -> Void) throws(MailslotError) {
        heldBack.withLock { $0.deliverLocally = deliverLocally }
        do throws(NatsClient.Failure) {
            for workgroup in settings.workgroups {
                try client.subscribe(BridgeProtocol.domainWildcard(workgroup: workgroup)) { [weak self] m in self?.handle { $0.receivedDomain(m) } }
                try client.subscribe(BridgeProtocol.namesSubject(workgroup: workgroup)) { [weak self] m in self?.handle { $0.receivedNameQuestion(m) } }
            }
            // Each unique message for this site goes to one of its bridges.
            try client.subscribe(BridgeProtocol.uniqueSubject(site: settings.site), queueGroup: "unique") { [weak self] m in
                self?.handle { $0.receivedUnique(m) }
            }
            try client.subscribe(BridgeProtocol.presenceSubject(site: settings.site)) { [weak self] m in self?.handle { $0.receivedPresence(m) } }
        } catch {
            throw MailslotError(.badNetPath, "the bridge could not subscribe on NATS: \(error.text)")
        }
        do throws(Errno) {
            let thread = try Sys.startThread { [self] in beat() }
            heartbeat.withLock { $0 = thread }
        } catch {
            throw MailslotError.system("could not start the bridge's heartbeat", error)
        }
    }

    func stop() {
        guard state.withLock({ s in defer { s.stopped = true }; return !s.stopped }) else { return }
        Sys.signalEventFD(wakeHeartbeat)
        if let thread = heartbeat.withLock({ t in defer { t = nil }; return t }) { Sys.join(thread) }
        handlers.withLock { $0.closed = true } // no handler starts from now on
        client.close()
        // nats.c does not wait for a handler that runs as the connection closes (its thread is detached).
        while handlers.withLock({ $0.running }) > 0 { Sys.sleep(microseconds: 1_000) }
        lookups.sync(flags: .barrier) {}
        sendHeldBack() // no handler runs any more: what they held back goes now
    }

    /// The subscriptions' handlers running now, and whether new ones may start (``stop()`` waits for the
    /// ones that run, so that nothing they hold back is left behind).
    private let handlers = Locked((running: 0, closed: false))

    /// Runs a subscription's handler, unless the bridge is stopping.
    private func handle(_ body: (Bridge) -> Void) {
        guard handlers.withLock({ h -> Bool in
            guard !h.closed else { return false }
            h.running += 1
            return true
        }) else { return }
        defer { handlers.withLock { $0.running -= 1 } }
        body(self)
    }

    var counters: BridgeCounters { state.withLock { $0.counters } }

    /// The heartbeat: this bridge's id on its site's presence subject, every half second.
    private func beat() {
        while !state.withLock({ $0.stopped }) {
            try? client.publish(BridgeProtocol.presenceSubject(site: settings.site), headers: [(BridgeProtocol.Header.site, settings.site)],
                                data: Array(settings.id.utf8))
            sendHeldBack() // re-broadcasts whose next message never came (its subscription ended meanwhile)
            _ = Sys.pollMany([wakeHeartbeat], timeoutMilliseconds: Bridge.heartbeatMilliseconds)
        }
    }

    private func drop(_ reason: String) {
        state.withLock { $0.counters.dropped[reason, default: 0] += 1 }
        metrics.dropped(reason).increment()
    }

    // MARK: out (from the gateway's receive loop: never waits)

    /// Sees every mailslot datagram the gateway decoded: learns the sender's name, and publishes a domain
    /// write of a bridged workgroup when this bridge forwards for its LAN.
    func observe(_ datagram: NetBIOSMailslotDatagram, from address: IPv4Address) {
        // A datagram a host sent itself has its own address as its NetBIOS source; a re-broadcast does not.
        guard datagram.header.sourceIP == address.value else { return }
        let now = ContinuousClock.now
        let (stream, learnNow) = lastStream.withLock { last -> (OutgoingStream, Bool) in
            if let known = last, known.stream.carries(datagram) {
                let stale = now - known.learned > OutgoingStream.relearn
                if stale { last = (known.stream, now) }
                return (known.stream, stale)
            }
            let fresh = OutgoingStream(datagram, settings: settings)
            last = (fresh, now)
            return (fresh, true)
        }
        if learnNow { learn(stream.message.sourceName, at: address, now: now) }
        guard var message = stream.published else {
            // A domain write of a bridged workgroup that cannot be published: counted by the LAN's forwarder.
            if let rejection = stream.rejection, state.withLock({ $0.forwards(settings, now: now) }) { drop(rejection) }
            return
        }
        message.datagramID = datagram.header.datagramID
        message.data = datagram.data
        let key = message.key
        // Published, or re-broadcast by this bridge, already; or another bridge forwards for this LAN.
        guard state.withLock({ $0.forwards(settings, now: now) && $0.outbound.insert(key, now: now) }) else { return }
        publish(message, subject: stream.subject, headers: stream.headers)
    }

    /// A DIRECT_UNIQUE datagram for a name that is not this machine's: published to the site where that
    /// computer lives, when one is known. True when it was taken (published, or counted as not forwarded).
    func forwardUnique(_ datagram: NetBIOSMailslotDatagram) -> Bool {
        let name = datagram.destinationName.name
        guard datagram.messageType == .directUnique, datagram.destinationName.suffix == 0x00,
              let site = state.withLock({ s -> String? in
                  guard let remote = s.remoteNames[name], remote.until > .now else { return nil }
                  return remote.site
              }) else { return false }
        let message = BridgedMessage(kind: .unique, workgroup: settings.workgroups.sorted().first ?? settings.configuration.workgroup,
                                     mailslotName: datagram.mailslotName, sourceName: datagram.sourceName.name,
                                     sourceIP: datagram.header.sourceIP, destination: name, datagramID: datagram.header.datagramID,
                                     site: site, bridge: settings.id, data: datagram.data)
        publish(message, subject: message.subject, headers: message.streamHeaders)
        return true
    }

    /// What the datagrams of one stream (one writer to one mailslot) share: the names as strings, the
    /// message they are published as (or nil: not a domain write of a bridged workgroup), its subject and
    /// every header but the datagram id. Worked out for the first datagram and reused while the stream
    /// goes on: comparing the raw names costs less than making strings of them for every datagram.
    /// A class: taken for each datagram at the cost of one reference.
    private final class OutgoingStream: Sendable {
        let sourceIP: UInt32
        let messageType: NetBIOSDatagramType
        let sourceName: NetBIOSName
        let destinationName: NetBIOSName
        let mailslotNameBytes: [UInt8]
        let message: BridgedMessage
        /// The message it is published as; nil when it is not a domain write of a bridged workgroup, or its
        /// names cannot be headers (`rejection` then says why).
        let published: BridgedMessage?
        let rejection: String?
        let subject: String
        let headers: NatsClient.HeaderBlock

        /// The sender's name and address are learned again when this long has passed since the last time.
        static let relearn: Duration = .seconds(1)

        init(_ datagram: NetBIOSMailslotDatagram, settings: Settings) {
            sourceIP = datagram.header.sourceIP
            messageType = datagram.messageType
            sourceName = datagram.sourceName
            destinationName = datagram.destinationName
            mailslotNameBytes = datagram.transaction.mailslotNameBytes
            let workgroup = destinationName.name
            message = BridgedMessage(kind: .domain, workgroup: workgroup, mailslotName: datagram.mailslotName, sourceName: sourceName.name,
                                     sourceIP: sourceIP, datagramID: 0, site: settings.site, bridge: settings.id, data: [])
            let bridged = messageType == .directGroup && destinationName.suffix == 0x00 && settings.workgroups.contains(workgroup)
            var refused: BridgedMessage.Rejection?
            if bridged { do throws(BridgedMessage.Rejection) { try message.check() } catch { refused = error } }
            published = bridged && refused == nil ? message : nil
            rejection = refused?.rawValue
            subject = message.subject
            headers = message.streamHeaders
        }

        func carries(_ datagram: NetBIOSMailslotDatagram) -> Bool {
            datagram.header.sourceIP == sourceIP && datagram.messageType == messageType && datagram.sourceName == sourceName
                && datagram.destinationName == destinationName && datagram.transaction.mailslotNameBytes == mailslotNameBytes
        }
    }

    /// The last stream ``observe(_:from:)`` saw (it runs on the gateway's receive loop), and when its
    /// sender was last learned.
    private let lastStream = Locked<(stream: OutgoingStream, learned: ContinuousClock.Instant)?>(nil)

    /// Publishes `message` on `subject` with `headers` (its own but the datagram id, which is added here).
    private func publish(_ message: BridgedMessage, subject: String, headers: NatsClient.HeaderBlock) {
        var headers = headers
        headers.append(BridgeProtocol.Header.datagramID, String(message.datagramID))
        do throws(NatsClient.Failure) {
            try client.publish(subject, headers: headers, data: message.data)
            state.withLock { state in
                if message.kind == .unique { state.counters.forwarded += 1 } else { state.counters.published += 1 }
            }
            (message.kind == .unique ? metrics.forwarded : metrics.published).increment()
        } catch {
            drop("nats_unavailable")
            logger.debug("not forwarded", metadata: ["mailslot": "\(message.mailslotName)", "error": "\(error.text)"])
        }
    }

    private func learn(_ name: String, at address: IPv4Address, now: ContinuousClock.Instant) {
        state.withLock { state in
            if state.lanNames[name] == nil, state.lanNames.count >= Bridge.nameLimit {
                state.lanNames = state.lanNames.filter { now - $0.value.seen < Bridge.nameLifetime }
                if state.lanNames.count >= Bridge.nameLimit { state.lanNames.removeAll() }
            }
            state.lanNames[name] = (address, now)
        }
    }

    // MARK: name queries for computers at other sites

    /// A NetBIOS name query on this LAN for a name that is not this machine's: when the name lives at
    /// another site (known, or found by asking the other bridges), `answer` is called, later and from
    /// another thread, to reply with this host's address (the datagram then comes here and goes on over
    /// NATS). Queries from this host itself are not answered (its own bridge asks its own LAN).
    func lookUpForQuery(_ name: String, from querier: IPv4Address, answer: @escaping @Sendable () -> Void) {
        guard !GatewaySockets.interfaces().contains(where: { $0.address == querier }) else { return }
        let known = state.withLock { s -> Bool? in
            if let remote = s.remoteNames[name], remote.until > .now { return true }
            if let local = s.lanNames[name], ContinuousClock.now - local.seen < Bridge.nameLifetime { return false } // on this LAN: it answers
            guard s.lookups.insert(name).inserted else { return false } // a lookup is under way
            return nil
        }
        if known == true { answer(); return }
        guard known == nil else { return }
        lookups.async { [self] in
            defer { _ = state.withLock { $0.lookups.remove(name) } }
            for workgroup in settings.workgroups.sorted() {
                guard let reply = try? client.request(BridgeProtocol.namesSubject(workgroup: workgroup), data: Array(name.utf8),
                                                      timeoutMilliseconds: Bridge.lookupTimeoutMilliseconds) else { continue }
                let parts = String(decoding: reply.data.prefix(128), as: UTF8.self).split(separator: " ")
                guard parts.count == 2, String(parts[0]) != settings.site else { continue }
                state.withLock { $0.remoteNames[name] = (String(parts[0]), .now + Bridge.remoteNameLifetime) }
                if state.withLock({ $0.remoteNames.count > Bridge.nameLimit }) { state.withLock { $0.remoteNames.removeAll() } }
                answer()
                return
            }
        }
    }

    /// Another bridge asks where a computer is: answered ("SITE ADDRESS") when it is on this LAN (this
    /// machine, a name seen lately, or one a name query here finds).
    private func receivedNameQuestion(_ question: NatsClient.Message) {
        let name = String(decoding: question.data.prefix(16), as: UTF8.self).uppercased()
        guard !name.isEmpty, name.utf8.count <= 15, question.reply != nil else { return drop("bad_name_question") }
        var address = name == settings.computerName ? GatewaySockets.interfaces().first { !$0.isLoopback && $0.isUp }?.address : nil
        if address == nil { address = state.withLock { $0.lanNames[name] }.flatMap { ContinuousClock.now - $0.seen < Bridge.nameLifetime ? $0.address : nil } }
        if address == nil, let netbios = try? NetBIOSName(name, suffix: 0x00) {
            var quick = settings.configuration
            quick.resolveTimeoutMilliseconds = 300
            let resolver = NetBIOSResolver(configuration: quick, interfaces: NetworkInterfaces.selected(settings.configuration), logger: logger)
            if let found = resolver.query(netbios), !found.isGroup, !GatewaySockets.interfaces().contains(where: { $0.address == found.address }) {
                address = found.address
                learn(name, at: found.address, now: .now)
            }
        }
        guard let address else { return }
        try? client.respond(to: question, data: Array("\(settings.site) \(address)".utf8))
    }

    // MARK: in (on nats.c's threads)

    /// A message from NATS that passed ``accept(_:domain:)``, and for a domain message whether this bridge
    /// re-broadcasts it (it forwards for its LAN).
    private struct Accepted {
        var message: BridgedMessage
        var rebroadcast: Bool
    }

    /// Checks a message from NATS: well-formed, from another site, not forged, not seen before; for a
    /// `domain` message, also of a bridged workgroup. One look at the state per message (this runs for
    /// every message from every other site).
    private func accept(_ raw: NatsClient.Message, domain: Bool) -> Accepted? {
        metrics.received.increment()
        let message: BridgedMessage
        let bridged: Bool
        do throws(BridgedMessage.Rejection) {
            // The messages of one stream differ only in their datagram id and data: those alone are checked again.
            let previous = lastIncoming.withLock { last -> (stream: IncomingStream, id: String)? in
                guard let last, last.subject == raw.subject,
                      let id = raw.headerBlock.value(of: BridgeProtocol.Header.datagramID, ifOtherwiseEqualTo: last.headers) else { return nil }
                return (last, id)
            }
            if let previous {
                message = try previous.stream.message.next(datagramID: previous.id, data: raw.data)
                bridged = previous.stream.bridged
            } else {
                message = try BridgedMessage(subject: raw.subject, header: { raw.header($0) }, data: raw.data)
                bridged = settings.workgroups.contains(message.workgroup)
                var kept = message
                kept.data = []
                lastIncoming.withLock { $0 = IncomingStream(subject: raw.subject, headers: raw.headerBlock, message: kept, bridged: bridged) }
            }
        } catch {
            state.withLock { $0.counters.received += 1 }
            drop(error.rawValue)
            return nil
        }
        let key = message.key
        let now = ContinuousClock.now
        let (rejection, rebroadcast) = state.withLock { state -> (String?, Bool) in
            state.counters.received += 1
            // A site's bridges are known by their heartbeats: a message that claims a site its bridge does
            // not belong to is forged.
            if let peer = state.peers[message.bridge], peer.site != message.site { return ("forged_site", false) }
            if message.bridge == settings.id { return ("forged_site", false) }
            if message.kind == .domain, message.site == settings.site { return ("own_site", false) } // this LAN carried it
            guard state.inbound.insert(key, now: now) else { return ("duplicate", false) }
            guard domain else { return (nil, false) }
            guard bridged else { return ("workgroup_not_bridged", false) }
            // The LAN's forwarder re-broadcasts it; this host gets it from there.
            guard state.forwards(settings, now: now) else { return (nil, false) }
            // Remembered too: should a copy of the re-broadcast reach this host's gateway after all, it is not published again.
            _ = state.outbound.insert(key, now: now)
            return (nil, true)
        }
        if let rejection {
            drop(rejection)
            return nil
        }
        return Accepted(message: message, rebroadcast: rebroadcast)
    }

    /// The last message from NATS whose subject and headers passed their checks: the subject, the headers,
    /// what they said, and whether its workgroup is bridged here (the checks of each message against the
    /// state, such as duplicates, still run).
    private struct IncomingStream {
        var subject: String
        var headers: NatsClient.HeaderBlock
        var message: BridgedMessage
        var bridged: Bool
    }

    private let lastIncoming = Locked<IncomingStream?>(nil)

    private func receivedDomain(_ raw: NatsClient.Message) {
        // Whatever became of this message, nothing held back waits for one that is not coming.
        defer { if !raw.morePending { sendHeldBack() } }
        guard let accepted = accept(raw, domain: true), accepted.rebroadcast else { return }
        let message = accepted.message
        let targets = lanTargets()
        let sent = heldBack.withLock { held -> (rebroadcast: Int, failed: Int)? in
            guard let relayed = held.relayed(message) else { return nil }
            if !targets.isEmpty {
                guard let bytes = datagram(message, type: .directGroup, to: message.workgroup) else { return nil }
                held.datagrams.append(bytes)
            }
            held.local.append(relayed)
            return held.local.count < Bridge.heldBackLimit ? (0, 0) : send(&held, to: targets)
        }
        guard let sent else { return drop("malformed") }
        tally(rebroadcast: sent.rebroadcast, failed: sent.failed)
    }

    /// Re-broadcasts held back while more messages waited in nats.c, so that a burst leaves in one
    /// sendmmsg per LAN target rather than one sendto per message, and reaches this host's mailslots in one
    /// write each. They go when a message comes with none behind it, when ``heldBackLimit`` wait, or at
    /// the next heartbeat (half a second) when neither happens.
    private struct HeldBack {
        /// The datagrams for the LAN (none when it has no target but this host).
        var datagrams = Sys.OutgoingDatagrams()
        /// The same messages for this host's mailslots, in the same order.
        var local: [Gateway.RelayedMessage] = []
        /// The gateway's delivery into this host's mailslots (set by ``start(deliverLocally:)``).
        var deliverLocally: (@Sendable ([Gateway.RelayedMessage]) -> Void)?
        /// The last workgroup a message was for, as a NetBIOS name (most messages are for one).
        var lastWorkgroup: (text: String, name: NetBIOSName)?

        /// `message` as this host's gateway would have received its re-broadcast; nil when its
        /// workgroup is no NetBIOS name (the checks on arrival have refused such a message already).
        mutating func relayed(_ message: BridgedMessage) -> Gateway.RelayedMessage? {
            if lastWorkgroup?.text != message.workgroup {
                guard let name = try? NetBIOSName(message.workgroup, suffix: 0x00) else { return nil }
                lastWorkgroup = (message.workgroup, name)
            }
            return Gateway.RelayedMessage(destination: lastWorkgroup!.name, mailslot: message.mailslotName, data: message.data,
                                          source: IPv4Address(message.sourceIP))
        }
    }
    private let heldBack = Locked(HeldBack())
    static let heldBackLimit = 32

    /// Sends what was held back (``send(_:to:)``).
    private func sendHeldBack() {
        let (rebroadcast, failed) = heldBack.withLock { send(&$0, to: lanTargets()) }
        tally(rebroadcast: rebroadcast, failed: failed)
    }

    /// Sends `held` to every LAN target, hands it to this host's mailslots, and empties it; returns how
    /// many messages were re-broadcast (on a LAN with no target but this host: delivered here), and how
    /// many datagrams reached no target (`lan_send_failed`; this host's mailslots still had them). Called
    /// with the lock held, so that the re-broadcasts of one subscription leave in the order they came
    /// even when another subscription's thread sends.
    private func send(_ held: inout HeldBack, to targets: [(address: IPv4Address, source: IPv4Address?)]) -> (rebroadcast: Int, failed: Int) {
        guard !held.local.isEmpty else { return (0, 0) }
        defer {
            held.datagrams.removeAll()
            held.local.removeAll(keepingCapacity: true)
        }
        held.deliverLocally?(held.local)
        // Messages that came while the LAN had no target but this host have no datagram (the targets are
        // looked up again every few seconds, so a burst may hold both kinds): delivered here, and done.
        let localOnly = held.local.count - held.datagrams.count
        guard !targets.isEmpty, !held.datagrams.isEmpty else { return (held.local.count, 0) }
        let datagrams = held.datagrams
        var reached = [Bool](repeating: false, count: datagrams.count)
        for target in targets {
            let sent = sockets.sendDatagrams(datagrams, to: target.address, port: settings.port, from: target.source)
            reached.replaceSubrange(0..<sent, with: repeatElement(true, count: sent))
            // sendmmsg stops at the first that fails: the rest are tried one at a time.
            for i in sent..<datagrams.count where sockets.sendDatagram(Array(datagrams.datagram(i)), to: target.address, port: settings.port, from: target.source) {
                reached[i] = true
            }
        }
        let rebroadcast = reached.reduce(0) { $0 + ($1 ? 1 : 0) }
        return (localOnly + rebroadcast, reached.count - rebroadcast)
    }

    /// Counts what ``send(_:to:)`` sent and what reached no target.
    private func tally(rebroadcast: Int, failed: Int) {
        if rebroadcast > 0 {
            state.withLock { $0.counters.rebroadcast += rebroadcast }
            metrics.rebroadcast.increment(by: rebroadcast)
        }
        for _ in 0..<failed { drop("lan_send_failed") }
    }

    private func receivedUnique(_ raw: NatsClient.Message) {
        guard let message = accept(raw, domain: false)?.message, let destination = message.destination else { return }
        guard message.site == settings.site else { return drop("wrong_site") }
        var address = destination == settings.computerName ? GatewaySockets.interfaces().first { !$0.isLoopback && $0.isUp }?.address : nil
        if address == nil { address = state.withLock { $0.lanNames[destination]?.address } }
        if address == nil, let netbios = try? NetBIOSName(destination, suffix: 0x00) {
            let resolver = NetBIOSResolver(configuration: settings.configuration, interfaces: NetworkInterfaces.selected(settings.configuration), logger: logger)
            if let found = resolver.query(netbios), !found.isGroup { address = found.address; learn(destination, at: found.address, now: .now) }
        }
        guard let address, let bytes = datagram(message, type: .directUnique, to: destination) else { return drop("unknown_destination") }
        guard sockets.sendDatagram(bytes, to: address, port: settings.port) else { return drop("lan_send_failed") }
        state.withLock { $0.counters.delivered += 1 }
        metrics.rebroadcast.increment()
    }

    private func receivedPresence(_ raw: NatsClient.Message) {
        let id = String(decoding: raw.data.prefix(128), as: UTF8.self)
        guard !id.isEmpty, id != settings.id, let site = raw.header(BridgeProtocol.Header.site) else { return }
        state.withLock { state in
            if state.peers.count > 256 { state.peers = state.peers.filter { ContinuousClock.now - $0.value.seen < Bridge.peerTimeout } }
            state.peers[id] = (site, .now)
        }
    }

    /// The datagram a bridged message becomes on this LAN: from its original sender, as Windows sends it.
    /// The datagrams of one stream come from one template (``MailslotDatagramTemplate``).
    private func datagram(_ message: BridgedMessage, type: NetBIOSDatagramType, to destination: String) -> [UInt8]? {
        let template = lastTemplate.withLock { last -> MailslotDatagramTemplate? in
            if let last, last.type == type, last.sourceIP == message.sourceIP, last.source == message.sourceName, last.destination == destination,
               last.mailslot == message.mailslotName {
                return last.template
            }
            guard let source = try? NetBIOSName(message.sourceName, suffix: 0x00), let target = try? NetBIOSName(destination, suffix: 0x00),
                  let template = try? MailslotDatagramTemplate(messageType: type, sourceIP: message.sourceIP, sourceName: source,
                                                               destinationName: target, mailslotName: message.mailslotName) else { return nil }
            last = (type, message.sourceIP, message.sourceName, destination, message.mailslotName, template)
            return template
        }
        return try? template?.encoded(datagramID: message.datagramID, data: message.data)
    }

    /// The template of the last datagram made here, by what it was made from.
    private let lastTemplate = Locked<(type: NetBIOSDatagramType, sourceIP: UInt32, source: String, destination: String, mailslot: String,
                                       template: MailslotDatagramTemplate)?>(nil)

    /// Where a re-broadcast goes: each configured interface's broadcast address, sent from that
    /// interface's socket. An interface without one (loopback, a point-to-point link) gets nothing: only
    /// this host would hear a datagram sent to its own address there, and this host's mailslots get the
    /// message from the bridge directly. Looked up again every few seconds (reading the interfaces costs
    /// more than sending a datagram).
    private func lanTargets() -> [(address: IPv4Address, source: IPv4Address?)] {
        let now = ContinuousClock.now
        if let cached = targets.withLock({ $0 }), now < cached.until { return cached.targets }
        let fresh = NetworkInterfaces.selected(settings.configuration).compactMap { i in
            i.broadcast.map { ($0, settings.configuration.interfaces.isEmpty ? nil : Optional(i.address)) }
        }
        targets.withLock { $0 = (fresh, now + .seconds(5)) }
        return fresh
    }

    private let targets = Locked<(targets: [(address: IPv4Address, source: IPv4Address?)], until: ContinuousClock.Instant)?>(nil)
}

extension BridgedMessage {
    /// Its headers but the datagram id: what the messages of one stream share.
    fileprivate var streamHeaders: NatsClient.HeaderBlock {
        NatsClient.HeaderBlock(headers.filter { $0.name != BridgeProtocol.Header.datagramID })
    }
}

/// What a gateway's bridge has counted (`mailslotd stats` prints it under `bridge`).
public struct BridgeCounters: Sendable, Equatable {
    /// Domain writes of this LAN published to the other sites.
    public var published = 0
    /// Messages received from NATS (before the checks).
    public var received = 0
    /// Messages from other sites sent on this LAN, and to this host's own mailslots (all a LAN of loopback alone gets).
    public var rebroadcast = 0
    /// Writes to computers at other sites, published to their site.
    public var forwarded = 0
    /// Writes from other sites sent on to a computer of this LAN.
    public var delivered = 0
    /// Not forwarded or not delivered, by reason.
    public var dropped: [String: Int] = [:]
    /// Connected to NATS now.
    public var connected = false
}
