import Logging
import Mailslot
import MailslotTransport

/// What the gateway needs to deliver datagrams into local mailslots: the connections to local mailslots,
/// the opens waiting for a greeting, the mailslots that did not answer or were full, the parsed names and
/// the per-source rate limits. ``Gateway/run()`` makes one and keeps it behind a lock: its receive loop
/// uses it for what the LAN sends, and the bridge for what it re-broadcasts (``deliverRelayed(_:)``),
/// one at a time; the class itself has no lock. Tests and tools drive one made by
/// ``Gateway/makeDelivery()``.
///
/// No local mailslot can hold the loop: a connection is opened without waiting and finished when the
/// server greets (a stopped or hostile server costs nothing but its own datagrams), and a write waits
/// at most a few milliseconds for a full mailslot, and then not at all for a second.
package final class GatewayDelivery {
    typealias Outcome = Gateway.Outcome
    typealias DropReason = Gateway.DropReason

    /// The most writer connections kept open to local mailslots at once (and entries in each cache).
    static let writerCacheLimit = 256
    /// How long a delivery by ``handle(_:from:)`` (tests, tools) may wait for a full mailslot.
    static let deliveryWaitMilliseconds: UInt32 = 5
    /// How long messages may wait in a mailslot's backlog for room in its ring (the receive loop never
    /// waits for a mailslot: it tries again each millisecond); then they are dropped, and messages for
    /// that mailslot are dropped at once for ``congestion``, so that one stuck server costs nothing.
    static let backlogPatience: Duration = .seconds(1)
    static let congestion: Duration = .seconds(1)
    /// How long the gateway waits for a local mailslot's greeting before it gives the datagrams up.
    static let greetingWait: Duration = .seconds(1)
    /// A mailslot that did not greet in time is not tried again for this long (its datagrams are dropped).
    static let unresponsive: Duration = .seconds(1)
    /// The most datagrams that wait for one mailslot's greeting (a second of a busy sender), and for all
    /// greetings together: at most about 5 MB of messages.
    static let pendingLimit = 2_048
    static let pendingTotalLimit = 8_192
    /// The most sources with a rate-limit bucket.
    static let bucketLimit = 4096

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
        var deadline: ContinuousClock.Instant
    }

    private struct Bucket {
        var tokens: Double
        var refilled: ContinuousClock.Instant
    }

    private let gateway: Gateway
    private var logger: Logger { gateway.logger }

    /// Open connections to local mailslots by name key.
    private var writers: [String: LocalWriter] = [:]
    /// Opens waiting for a greeting, by name key.
    private var opening: [String: PendingDelivery] = [:]
    /// Mailslots that did not greet in time, until when they are skipped.
    private var unresponsiveUntil: [String: ContinuousClock.Instant] = [:]
    /// Mailslots whose ring stayed full, until when messages for them are dropped at once.
    private var congestedUntil: [String: ContinuousClock.Instant] = [:]
    /// Messages waiting for room in a mailslot's ring, by name key.
    private var backlogs: [String: Backlog] = [:]

    /// A mailslot's waiting messages: `items[head...]`, oldest first. A turn of the loop writes from the
    /// head and moves it on, so a long backlog behind a slow reader costs each turn only what it writes.
    struct Backlog {
        var name: MailslotName
        var items: [Item]
        var head = 0
        var since: ContinuousClock.Instant
        var waiting: ArraySlice<Item> { items[head...] }
    }
    /// The most messages one write call of a backlog takes (what a ring usually has room for at once).
    static let backlogChunk = 64
    /// Parsed local names by what a message calls them: parsing and case-folding a name costs more than
    /// decoding the datagram, and a LAN uses few mailslot names. Most traffic goes to one: the last one
    /// found answers that without hashing. At most ``writerCacheLimit`` (then it starts afresh).
    struct NameCache<Key: Hashable> {
        private var names: [Key: MailslotName] = [:]
        private var last: (key: Key, name: MailslotName)?

        /// The name `key` stands for: cached, or `parse`d (nil: not a valid local name, not cached).
        mutating func name(_ key: Key, parse: () -> MailslotName?) -> MailslotName? {
            if let last, last.key == key { return last.name }
            let name: MailslotName
            if let cached = names[key] {
                name = cached
            } else {
                guard let parsed = parse() else { return nil }
                if names.count >= GatewayDelivery.writerCacheLimit { names.removeAll() }
                names[key] = parsed
                name = parsed
            }
            last = (key, name)
            return name
        }
    }
    /// Datagrams' mailslot names, by their wire bytes.
    private var names = NameCache<[UInt8]>()
    /// The names of the messages the bridge relays (``deliverRelayed(_:)``), as strings.
    private var relayedNames = NameCache<String>()
    /// Per-source token buckets for `rate_limit`.
    private var buckets: [UInt32: Bucket] = [:]
    /// The socket of the last open that found no server, kept for the next open (``LocalWriter/PendingOpen/begin(_:spare:)``).
    private var spareSocket: FD?

    init(_ gateway: Gateway) { self.gateway = gateway }

    deinit {
        if let spareSocket { Sys.close(spareSocket) }
    }

    /// Open connections to local mailslots.
    var connectionCount: Int { writers.count }

    /// The descriptors of the opens waiting for a greeting: the loop polls them with its sockets.
    var openingDescriptors: [FD] { opening.values.map(\.open.fd) }

    /// Closes every connection and gives up every open (the loop is ending); what waited is counted
    /// (`mailslot_full` for a backlog, `delivery_failed` for an open that had not been greeted).
    func close() {
        for backlog in backlogs.values { backlog.waiting.forEach { gateway.record(.dropped(reason: .mailslotFull), from: $0.address, port: $0.port) } }
        backlogs.removeAll()
        writers.values.forEach { $0.close() }
        writers.removeAll()
        for entry in opening.values {
            entry.open.cancel()
            logger.debug("stopped while a local mailslot had not greeted yet", metadata: ["mailslot": "\(entry.open.name)", "dropped": "\(entry.items.count)"])
            entry.items.forEach { gateway.record(.dropped(reason: .deliveryFailed), from: $0.address, port: $0.port) }
        }
        opening.removeAll()
        if let spareSocket { Sys.close(spareSocket) }
        spareSocket = nil
    }

    /// Decodes one datagram and delivers it, opening a connection (and waiting for its greeting) when
    /// none is open: for tests and tools, not for the receive loop.
    package func handle(_ bytes: UnsafeRawBufferPointer, from address: IPv4Address) -> Gateway.Outcome {
        let settings = gateway.settings
        let outcome: Outcome
        if let refused = admit(address, settings.configuration, now: .now) {
            outcome = .dropped(reason: refused)
        } else {
            switch accept(bytes, from: address, settings) {
            case .success(let (name, data)): outcome = deliver([data], to: name, mayOpen: true).outcomes[0]
            case .failure(let drop): outcome = drop.outcome
            }
        }
        gateway.record(outcome, from: address, port: 138)
        return outcome
    }

    /// Decodes a received batch and delivers runs of messages for the same mailslot together.
    func deliver(_ batch: Sys.DatagramBatch, count: Int) {
        let received = ContinuousClock.now
        let settings = gateway.settings
        var pending: [(name: MailslotName, item: Item)] = []
        for i in 0..<count {
            let d = batch.datagram(i)
            if let refused = admit(d.address, settings.configuration, now: received) {
                gateway.record(.dropped(reason: refused), from: d.address, port: d.port)
                continue
            }
            switch d.bytes.map({ accept($0, from: d.address, settings) }) ?? .failure(Drop(reason: .oversizeUDP)) {
            case .success(let (name, data)): pending.append((name, Item(data: data, address: d.address, port: d.port, received: received)))
            case .failure(let drop): gateway.record(drop.outcome, from: d.address, port: d.port)
            }
        }
        route(runsOf: pending)
    }

    /// Delivers messages that this host's bridge re-broadcast (``Gateway/deliverRelayed(_:)``) as
    /// ``deliver(_:count:)`` delivers the datagram each would have been: accepted when its destination
    /// is one of this machine's names, into the local mailslot its name says. Returns whether the receive
    /// loop has something new to watch (an open waiting for a greeting, or a backlog).
    func deliverRelayed(_ messages: [Gateway.RelayedMessage]) -> Bool {
        let (openings, hadBacklog) = (opening.count, hasBacklog)
        let received = ContinuousClock.now
        let settings = gateway.settings
        var pending: [(name: MailslotName, item: Item)] = []
        pending.reserveCapacity(messages.count)
        for message in messages {
            guard settings.accepts(message.destination) else {
                gateway.record(.dropped(reason: .notForUs), from: message.source, port: Gateway.RelayedMessage.port)
                continue
            }
            guard let name = localName(relayed: message.mailslot) else {
                gateway.record(.dropped(reason: .badMailslotName), from: message.source, port: Gateway.RelayedMessage.port)
                continue
            }
            pending.append((name, Item(data: message.data, address: message.source, port: Gateway.RelayedMessage.port, received: received)))
        }
        route(runsOf: pending)
        return opening.count > openings || (hasBacklog && !hadBacklog)
    }

    /// Routes runs of messages for the same mailslot together.
    private func route(runsOf pending: [(name: MailslotName, item: Item)]) {
        var start = 0
        while start < pending.count {
            var end = start + 1
            while end < pending.count, pending[end].name.key == pending[start].name.key { end += 1 }
            route(pending[start..<end].map(\.item), to: pending[start].name)
            start = end
        }
    }

    /// A datagram not delivered here: dropped for a reason, or forwarded to another site by the bridge.
    struct Drop: Error {
        var reason: DropReason?
        var forwarded: String?
        init(reason: DropReason?, forwarded: String? = nil) {
            self.reason = reason
            self.forwarded = forwarded
        }
        var outcome: Outcome { reason.map { .dropped(reason: $0) } ?? .forwarded(mailslot: forwarded ?? "") }
    }

    /// The source filters: `allow_from`, then `rate_limit` (a bucket of `rate_limit` tokens per source,
    /// refilled at that rate). nil: admitted.
    private func admit(_ source: IPv4Address, _ configuration: MailslotConfiguration, now: ContinuousClock.Instant) -> DropReason? {
        if !configuration.allowFrom.isEmpty, !configuration.allowFrom.contains(where: { $0.contains(source.value) }) {
            return .sourceNotAllowed
        }
        guard configuration.rateLimit > 0 else { return nil }
        let rate = Double(configuration.rateLimit)
        func filled(_ bucket: Bucket) -> Double { min(rate, bucket.tokens + (now - bucket.refilled).seconds * rate) }
        if buckets[source.value] == nil, buckets.count >= GatewayDelivery.bucketLimit {
            buckets = buckets.filter { filled($0.value) < rate } // full buckets say nothing a new one would not
            if buckets.count >= GatewayDelivery.bucketLimit { buckets.removeAll() }
        }
        var bucket = buckets[source.value].map { Bucket(tokens: filled($0), refilled: now) } ?? Bucket(tokens: rate, refilled: now)
        let admitted = bucket.tokens >= 1
        if admitted { bucket.tokens -= 1 }
        buckets[source.value] = bucket
        return admitted ? nil : .rateLimited
    }

    /// Decodes a datagram and decides whether it is for this machine: the local mailslot and the message.
    private func accept(_ bytes: UnsafeRawBufferPointer, from address: IPv4Address, _ settings: Gateway.Settings) -> Result<(MailslotName, [UInt8]), Drop> {
        let decoded: NetBIOSMailslotDatagram
        do throws(DatagramDecodeError) {
            decoded = try NetBIOSMailslotDatagram.decode(bytes)
        } catch {
            return .failure(Drop(reason: .malformed(error.reason)))
        }
        gateway.bridge?.observe(decoded, from: address)
        guard decoded.messageType == .broadcast || settings.accepts(decoded.destinationName) else {
            if gateway.bridge?.forwardUnique(decoded) == true { return .failure(Drop(reason: nil, forwarded: decoded.mailslotName)) }
            return .failure(Drop(reason: .notForUs))
        }
        guard let local = localName(decoded.transaction) else { return .failure(Drop(reason: .badMailslotName)) }
        return .success((local, decoded.data))
    }

    /// The local name of a relayed message's `\MAILSLOT\...` name (the bridge has checked its form).
    private func localName(relayed mailslot: String) -> MailslotName? {
        relayedNames.name(mailslot) {
            let prefix = MailslotTransaction.mailslotPrefix
            guard mailslot.utf8.count > prefix.utf8.count, mailslot.prefix(prefix.count).uppercased() == prefix else { return nil }
            return try? MailslotName(local: String(mailslot.dropFirst(prefix.count)))
        }
    }

    private func localName(_ transaction: MailslotTransaction) -> MailslotName? {
        // The decoder has checked the `\MAILSLOT\` prefix; names travel one byte per character.
        names.name(transaction.mailslotNameBytes) { try? MailslotName(local: transaction.mailslotNameAfterPrefix) }
    }

    /// Delivers a run of messages for one mailslot at once when a connection to it is open; otherwise
    /// starts opening one without waiting and keeps the messages until it greets.
    private func route(_ items: [Item], to name: MailslotName) {
        let key = name.key
        if writers[key] != nil {
            deliverNow(items, to: name)
            return
        }
        let now = ContinuousClock.now
        if let until = unresponsiveUntil[key], until > now {
            items.forEach { gateway.record(.dropped(reason: .unresponsiveMailslot), from: $0.address, port: $0.port) }
            return
        }
        let waitingInAll = opening.values.reduce(0) { $0 + $1.items.count }
        let room = min(GatewayDelivery.pendingLimit - (opening[key]?.items.count ?? 0), GatewayDelivery.pendingTotalLimit - waitingInAll)
        items.dropFirst(max(0, room)).forEach { gateway.record(.dropped(reason: .mailslotFull), from: $0.address, port: $0.port) }
        if opening[key] != nil {
            opening[key]!.items += items.prefix(max(0, room))
            return
        }
        do throws(MailslotError) {
            guard let open = try LocalWriter.PendingOpen.begin(name, spare: &spareSocket) else {
                items.prefix(room).forEach { gateway.record(.dropped(reason: .noSuchMailslot), from: $0.address, port: $0.port) }
                return
            }
            opening[key] = PendingDelivery(open: open, items: Array(items.prefix(room)), deadline: now + GatewayDelivery.greetingWait)
            finishOpening(key) // a live server has usually greeted already
        } catch {
            items.prefix(room).forEach { gateway.record(.dropped(reason: GatewayDelivery.reason(error.code)), from: $0.address, port: $0.port) }
        }
    }

    /// The open polled on `fd` became readable: its greeting may have arrived.
    func finishOpening(_ fd: FD) {
        if let key = opening.first(where: { $0.value.open.fd == fd })?.key { finishOpening(key) }
    }

    /// Completes an open whose greeting may have arrived; delivers what waited for it.
    private func finishOpening(_ key: String) {
        guard let entry = opening[key] else { return }
        let writer: LocalWriter?
        do throws(MailslotError) {
            writer = try entry.open.finish(writeTimeoutMilliseconds: 0, logger: logger)
        } catch {
            opening[key] = nil
            entry.open.cancel()
            entry.items.forEach { gateway.record(.dropped(reason: GatewayDelivery.reason(error.code)), from: $0.address, port: $0.port) }
            return
        }
        guard let writer else { return }
        opening[key] = nil
        cache(writer, key)
        deliverNow(entry.items, to: entry.open.name)
    }

    /// Gives up the opens whose server did not greet in time; returns the poll timeout the next ones need.
    func expireOpenings() -> Int32 {
        let now = ContinuousClock.now
        for (key, entry) in opening where entry.deadline <= now {
            opening[key] = nil
            entry.open.cancel()
            if unresponsiveUntil.count >= GatewayDelivery.writerCacheLimit { unresponsiveUntil = unresponsiveUntil.filter { $0.value > now } }
            unresponsiveUntil[key] = now + GatewayDelivery.unresponsive
            logger.debug("a local mailslot did not greet in time", metadata: ["mailslot": "\(entry.open.name)", "dropped": "\(entry.items.count)"])
            entry.items.forEach { gateway.record(.dropped(reason: .unresponsiveMailslot), from: $0.address, port: $0.port) }
        }
        guard let next = opening.values.map(\.deadline).min() else { return 1000 }
        let milliseconds = max(.zero, next - now).milliseconds + 1
        return Int32(clamping: milliseconds)
    }

    /// Delivers what it can now, never waiting: messages that find the mailslot's ring full wait in its
    /// backlog, in order, and are tried again when the ring has room (``retryBacklogs()``).
    private func deliverNow(_ items: [Item], to name: MailslotName) {
        let key = name.key
        if backlogs[key] != nil { // behind the ones already waiting
            queue(items, for: name)
            return
        }
        let (outcomes, full) = deliver(items.map(\.data), to: name, mayOpen: false)
        record(outcomes, for: items[...])
        guard outcomes.count < items.count else { return }
        let rest = items[outcomes.count...]
        // The server went away or was replaced: the rest wait for a fresh connection, opened without blocking.
        guard full else { return route(Array(rest), to: name) }
        backlogs[key] = Backlog(name: name, items: [], since: .now)
        queue(Array(rest), for: name)
    }

    /// Adds messages to a mailslot's backlog, within its bound and the bound of all backlogs.
    private func queue(_ items: [Item], for name: MailslotName) {
        let key = name.key
        let waitingInAll = backlogs.values.reduce(0) { $0 + $1.waiting.count }
        let room = max(0, min(GatewayDelivery.pendingLimit - (backlogs[key]?.waiting.count ?? 0), GatewayDelivery.pendingTotalLimit - waitingInAll))
        backlogs[key]?.items += items.prefix(room)
        items.dropFirst(room).forEach { gateway.record(.dropped(reason: .mailslotFull), from: $0.address, port: $0.port) }
    }

    /// Whether messages wait for room in a mailslot's ring: the loop then comes back within a millisecond.
    var hasBacklog: Bool { !backlogs.isEmpty }

    /// Tries the backlogs again (each turn of the loop). A backlog whose mailslot's ring still has no room
    /// for its first message is left as it is: a look at the ring, where a write attempt would cost an
    /// error on every turn (at a busy sender's rate, with a reader behind). One that has room is written
    /// from its head, a chunk at a time, until the ring is full again.
    func retryBacklogs() {
        guard !backlogs.isEmpty else { return }
        let now = ContinuousClock.now
        for key in Array(backlogs.keys) {
            guard let backlog = backlogs[key] else { continue }
            if now - backlog.since < GatewayDelivery.backlogPatience, let first = backlog.waiting.first, let writer = writers[key],
               !writer.hasRoom(for: first.data.count) {
                continue
            }
            resume(key, now: now)
        }
    }

    /// Writes a backlog from its head: what the ring takes is delivered; when it fills up again the rest
    /// waits, unless the backlog has waited longer than ``backlogPatience`` (then it is dropped, and the
    /// mailslot is congested for a while); when the connection is gone the rest is routed afresh.
    private func resume(_ key: String, now: ContinuousClock.Instant) {
        guard var backlog = backlogs.removeValue(forKey: key) else { return } // now the only owner of its items
        while !backlog.waiting.isEmpty {
            let chunk = backlog.waiting.prefix(GatewayDelivery.backlogChunk)
            let (outcomes, full) = deliver(chunk.map(\.data), to: backlog.name, mayOpen: false)
            record(outcomes, for: chunk)
            backlog.head += outcomes.count
            if outcomes.count == chunk.count { continue }
            let rest = backlog.waiting
            guard full else { return route(Array(rest), to: backlog.name) } // the server went away or was replaced
            guard now - backlog.since < GatewayDelivery.backlogPatience else { return giveUp(rest, key) }
            if backlog.head >= GatewayDelivery.backlogChunk * 16 { // forget the delivered front now and then
                backlog.items.removeFirst(backlog.head)
                backlog.head = 0
            }
            backlogs[key] = backlog
            return
        }
    }

    private func record(_ outcomes: [Outcome], for items: ArraySlice<Item>) {
        let now = ContinuousClock.now
        for (item, outcome) in zip(items, outcomes) {
            gateway.record(outcome, from: item.address, port: item.port)
            if case .delivered = outcome { gateway.metrics.deliveryLatency.recordNanoseconds((now - item.received).nanoseconds) }
        }
    }

    /// The server has taken nothing for a while: these are dropped, and messages for the mailslot are
    /// dropped at once for ``congestion``.
    private func giveUp(_ items: ArraySlice<Item>, _ key: String) {
        if congestedUntil.count >= GatewayDelivery.writerCacheLimit { congestedUntil.removeAll() }
        congestedUntil[key] = ContinuousClock.now + GatewayDelivery.congestion
        items.forEach { gateway.record(.dropped(reason: .mailslotFull), from: $0.address, port: $0.port) }
    }

    private func cache(_ writer: LocalWriter, _ key: String) {
        if writers.count >= GatewayDelivery.writerCacheLimit, let victim = writers.keys.first { writers.removeValue(forKey: victim)?.close() }
        writers[key] = writer
    }

    /// Writes messages into one local mailslot as an ordinary writer, reusing a cached connection;
    /// returns one outcome per message, in order.
    /// With `mayOpen` false (the receive loop) it never opens a connection itself and never waits: it
    /// returns outcomes for the messages it could write, and `full` when it stopped at a full ring (the
    /// caller keeps the rest in the mailslot's backlog) rather than for want of a connection (the caller
    /// routes the rest through a non-blocking open). With `mayOpen` (tests and tools) a full mailslot gets
    /// a few milliseconds, then the message is dropped.
    private func deliver(_ messages: [[UInt8]], to name: MailslotName, mayOpen: Bool) -> (outcomes: [Outcome], full: Bool) {
        let key = name.key
        let label = name.description // once, not for each message delivered
        var outcomes: [Outcome] = []
        outcomes.reserveCapacity(messages.count)
        var index = 0
        var reopened = false
        while index < messages.count {
            let writer: LocalWriter
            if let cached = writers[key] {
                writer = cached
            } else {
                guard mayOpen else { break }
                do throws(MailslotError) {
                    writer = try LocalWriter.open(name, writeTimeoutMilliseconds: 0, logger: logger)
                } catch {
                    outcomes += messages[index...].map { _ in .dropped(reason: GatewayDelivery.reason(error.code)) }
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
            let now = ContinuousClock.now
            let congested = congestedUntil[key].map { $0 > now } ?? false
            if congested && !mayOpen {
                outcomes += messages[index...].map { _ in .dropped(reason: .mailslotFull) }
                break
            }
            let wait = mayOpen && !congested ? GatewayDelivery.deliveryWaitMilliseconds : 0
            do throws(MailslotError) {
                try writer.write(batch: messages[index...], sent: &sent, timeoutMilliseconds: wait)
                outcomes += messages[index...].map { .delivered(mailslot: label, bytes: $0.count) }
                index = messages.count
            } catch {
                outcomes += messages[index..<index + sent].map { .delivered(mailslot: label, bytes: $0.count) }
                index += sent
                if error.code == .brokenPipe || error.code == .invalidHandle {
                    writers.removeValue(forKey: key)?.close()
                    // The mailslot's server went away (or was replaced): connect afresh once.
                    if !reopened { reopened = true; continue }
                }
                if error.code == .semTimeout && !mayOpen { return (outcomes, true) } // the ring is full: the rest wait
                if error.code == .semTimeout {
                    if congestedUntil.count >= GatewayDelivery.writerCacheLimit { congestedUntil.removeAll() }
                    congestedUntil[key] = ContinuousClock.now + GatewayDelivery.congestion
                }
                outcomes.append(.dropped(reason: GatewayDelivery.reason(error.code)))
                index += 1
            }
        }
        return (outcomes, false)
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
}
