import Foundation
import Logging
import Mailslot
import MailslotGateway
import MailslotTestSupport
import MailslotTransport
import Testing

@Suite("Gateway")
struct GatewayTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    static func port() -> UInt16 { TestSupport.ports() }

    func makeGateway(acceptAny: Bool = false) throws -> Gateway {
        try Gateway(configuration: .init(computerName: "GWHOST", workgroup: "MSTEST", interfaces: ["127.0.0.1"], port: Self.port(),
                                         acceptAnyName: acceptAny, nameService: false), logger: Self.logger)
    }

    func datagram(_ type: NetBIOSDatagramType = .directUnique, to destination: String, suffix: UInt8 = 0,
                  mailslot: String, data: [UInt8]) throws -> [UInt8] {
        try NetBIOSMailslotDatagram(messageType: type, datagramID: 7, sourceIP: IPv4Address.loopback.value,
                                    sourceName: NetBIOSName("PEER"), destinationName: NetBIOSName(destination, suffix: suffix),
                                    mailslotName: mailslot, data: data).encoded()
    }

    func handle(_ d: GatewayDelivery, _ bytes: [UInt8]) -> Gateway.Outcome {
        bytes.withUnsafeBytes { d.handle($0, from: .loopback) }
    }

    func uniquePath(_ tag: String) -> String { "gateway-test\\\(tag)-\(getpid())" }

    @Test func deliversToItsOwnNamesAndDropsOthers() throws {
        let g = try makeGateway()
        let d = g.makeDelivery()
        let path = uniquePath("own")
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .immediate, options: .init(allowNetwork: true))
        defer { server.close() }
        let wire = "\\MAILSLOT\\" + path.uppercased() // case-insensitive match
        #expect(handle(d, try datagram(to: "GWHOST", mailslot: wire, data: [1])).isDelivered)
        #expect(handle(d, try datagram(.directGroup, to: "MSTEST", mailslot: wire, data: [2])).isDelivered)
        #expect(handle(d, try datagram(.broadcast, to: "*", mailslot: wire, data: [3])).isDelivered)
        #expect(handle(d, try datagram(to: "OTHER", mailslot: wire, data: [4])) == .dropped(reason: .notForUs))
        #expect(handle(d, try datagram(.directGroup, to: "MSTEST", suffix: 0x1d, mailslot: wire, data: [5])) == .dropped(reason: .notForUs))
        #expect(handle(d, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\nobody-\(getpid())", data: [6])) == .dropped(reason: .noSuchMailslot))
        var got: [[UInt8]] = []
        while let m = try? server.read() { got.append(m) }
        #expect(got == [[1], [2], [3]])
    }

    @Test func acceptAnyNameWatchesEveryDestination() throws {
        let g = try makeGateway(acceptAny: true)
        let d = g.makeDelivery()
        let path = uniquePath("browse")
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .immediate, options: .init(allowNetwork: true))
        defer { server.close() }
        #expect(handle(d, try datagram(.directGroup, to: "MSTEST", suffix: 0x1d, mailslot: "\\MAILSLOT\\" + path, data: [0x01, 0x02])).isDelivered)
        #expect(try server.read() == [0x01, 0x02])
    }

    @Test func malformedInputIsCountedNeverFatal() throws {
        let g = try makeGateway()
        let d = g.makeDelivery()
        let good = try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\x", data: Array("payload".utf8))
        var reasons: Set<String> = []
        for cut in 0..<good.count {
            if case .dropped(let reason) = handle(d, Array(good[0..<cut])) { reasons.insert(reason.description) } else { Issue.record("truncated datagram delivered") }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5_000 {
            var bytes = good
            for _ in 0..<Int.random(in: 1...8, using: &rng) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = handle(d, bytes)
        }
        #expect(reasons.count >= 2)
    }

    @Test func runsOverUDPAndCountsAndStops() throws {
        let g = try makeGateway()
        let path = uniquePath("udp")
        // Generous: the whole suite runs in parallel on two cores, with load tests beside this one.
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .milliseconds(60_000), options: .init(allowNetwork: true))
        defer { server.close() }
        let thread = Thread { g.run() }
        thread.start()
        defer { g.stop() }
        var configuration = MailslotConfiguration(computerName: "SENDER", workgroup: "MSTEST", interfaces: ["lo"], port: g.configuration.port)
        configuration.resolveTimeoutMilliseconds = 200
        let writer = try MailslotWriter(opening: "\\\\127.0.0.1\\mailslot\\" + path, options: .init(configuration: configuration))
        #expect(writer.maxMessageSize == 432 - UInt32((path.utf8.count + 3) / 4 * 4))
        try writer.write("over udp")
        #expect(try server.read() == Array("over udp".utf8))
        #expect(MailslotError.code { try writer.write([UInt8](repeating: 0, count: Int(writer.maxMessageSize) + 1)) } == .badNetPath)
        // A datagram larger than any mailslot datagram is counted, not read whole.
        let raw = try Sys.udpSocket()
        defer { Sys.close(raw) }
        #expect(try Sys.sendTo(raw, [UInt8](repeating: 0x10, count: 9_000), .loopback, g.configuration.port))
        #expect(GatewayTestSupport.eventually { g.counters.received == 2 })
        let stats = try Gateway.readStats(port: g.configuration.port)
        #expect(stats.contains("\"received\":2,\"delivered\":1,\"dropped\":{\"oversize_udp\":1}"), "\(stats)")
        g.stop()
        #expect(GatewayTestSupport.eventually { thread.isFinished })
    }

    /// A local mailslot that never greets (a SIGSTOPped server; a socket another program bound to a
    /// mailslot's address) must not delay delivery to others: before, each of its datagrams held the
    /// receive loop for up to a second.
    @Test func aSilentLocalMailslotDoesNotStallDeliveryToOthers() throws {
        let g = try makeGateway()
        let thread = Thread { g.run() }
        thread.start()
        defer { g.stop() }
        let live = uniquePath("live"), stopped = uniquePath("stopped"), squatted = uniquePath("squatted")
        let server = try MailslotServer(name: try MailslotName(local: live), readTimeout: .milliseconds(10_000), options: .init(allowNetwork: true))
        defer { server.close() }
        // A socket on a mailslot's address that accepts connections and never says a word.
        let squatter = try Sys.unixSocket(seqpacket: true)
        defer { Sys.close(squatter) }
        try Sys.bindAbstract(squatter, LocalProtocol.abstractAddress(forKey: try MailslotName(local: squatted).key))
        try Sys.listen(squatter, backlog: 16)
        // A real server, stopped.
        let child = try GatewayTestSupport.stoppedListener(stopped)
        defer { child.signal(SIGCONT); child.signal(SIGKILL) }

        let raw = try Sys.udpSocket()
        defer { Sys.close(raw) }
        func send(_ path: String, _ data: [UInt8]) throws {
            _ = try Sys.sendTo(raw, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + path, data: data), .loopback, g.configuration.port)
        }
        for i in 0..<5 { try send(stopped, [UInt8(i)]); try send(squatted, [UInt8(i)]) }
        let started = Date()
        for i in 0..<50 { try send(live, [UInt8(i)]) }
        var got: [[UInt8]] = []
        while got.count < 50, let m = try? server.read() { got.append(m) }
        let elapsed = Date().timeIntervalSince(started)
        print("gateway: 50 datagrams for a live mailslot behind 10 for silent ones arrived in \(Int(elapsed * 1000)) ms")
        #expect(got == (0..<50).map { [UInt8($0)] })
        // Loose: a stall is a second per silent datagram (ten here); the two cores are shared with other tests.
        #expect(elapsed < 2.5, "50 datagrams for a live mailslot took \(elapsed) s behind silent ones")
        #expect(GatewayTestSupport.eventually { g.counters.dropped["unresponsive_mailslot"] == 10 }, "\(g.counters)")
        // Within the next second the silent ones are not waited for at all.
        try send(squatted, [9])
        #expect(GatewayTestSupport.eventually { g.counters.dropped["unresponsive_mailslot"] == 11 }, "\(g.counters)")
    }

    /// Datagrams that wait for a local mailslot's greeting when the gateway stops are counted as dropped
    /// (`delivery_failed`), not forgotten: every datagram received is delivered or dropped under a reason.
    @Test func datagramsWaitingForAGreetingAtStopAreCounted() throws {
        let g = try makeGateway()
        let thread = Thread { g.run() }
        thread.start()
        let stopped = uniquePath("greets-late")
        let child = try GatewayTestSupport.stoppedListener(stopped)
        defer { child.signal(SIGCONT); child.signal(SIGKILL) }
        let raw = try Sys.udpSocket()
        defer { Sys.close(raw) }
        for i in 0..<3 {
            _ = try Sys.sendTo(raw, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + stopped, data: [UInt8(i)]), .loopback, g.configuration.port)
        }
        usleep(300_000) // taken and waiting: the gateway waits a second for a greeting
        g.stop()
        #expect(GatewayTestSupport.eventually { thread.isFinished })
        let counters = g.counters
        #expect(counters.received == 3 && counters.delivered == 0 && counters.dropped == ["delivery_failed": 3], "\(counters)")
    }

    /// A burst larger than a mailslot's quota and ring together waits in the gateway's backlog (which is
    /// tried again only when the ring has room), and all of it arrives, in order, once the reader reads.
    /// A reader that takes nothing for longer than the backlog's patience (1 s) loses the backlog, counted
    /// as `mailslot_full`, and never a message twice.
    @Test(arguments: [false, true])
    func aBurstWaitsInTheBacklogForItsReader(readerStalls: Bool) throws {
        let g = try makeGateway()
        let thread = Thread { g.run() }
        thread.start()
        defer { g.stop() }
        let path = uniquePath(readerStalls ? "stalled" : "burst")
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .milliseconds(2_000),
                                        options: .init(allowNetwork: true, quota: 65_536))
        defer { server.close() }
        let raw = try Sys.udpSocket()
        defer { Sys.close(raw) }
        let count = 600 // about 145 fit in the quota and 145 in the ring: the rest wait in the backlog
        for i in 0..<count {
            var data = [UInt8](repeating: 0x61, count: 400)
            data.withUnsafeMutableBytes { $0.storeBytes(of: UInt32(i), as: UInt32.self) }
            _ = try Sys.sendTo(raw, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + path, data: data), .loopback, g.configuration.port)
            if i % 64 == 63 { usleep(1_000) } // within the gateway's socket buffer
        }
        if readerStalls { usleep(1_600_000) }
        var sequence: [UInt32] = []
        while let message = try? server.read(timeout: .milliseconds(readerStalls ? 300 : 2_000)) {
            sequence.append(message.withUnsafeBytes { $0.load(as: UInt32.self) })
        }
        #expect(sequence == sequence.sorted() && Set(sequence).count == sequence.count, "in order, none twice")
        #expect(GatewayTestSupport.eventually { g.counters.received == count }, "\(g.counters)")
        let counters = g.counters
        if readerStalls {
            #expect((counters.dropped["mailslot_full"] ?? 0) > 0 && sequence.count < count, "\(counters)")
            #expect(counters.delivered == sequence.count && counters.delivered + counters.dropped.values.reduce(0, +) == count, "\(counters)")
        } else {
            #expect(sequence.count == count && counters.delivered == count && counters.dropped.isEmpty, "\(counters)")
        }
    }

    /// Datagrams for a mailslot nobody serves are counted drops, batch after batch; once the mailslot is
    /// created, the next datagram reaches it (the socket a refused open left is reused, and connects).
    @Test func aMailslotCreatedAfterDropsForItIsReached() throws {
        let g = try makeGateway()
        let thread = Thread { g.run() }
        thread.start()
        defer { g.stop() }
        let path = uniquePath("later")
        let raw = try Sys.udpSocket()
        defer { Sys.close(raw) }
        func send(_ data: [UInt8]) throws {
            _ = try Sys.sendTo(raw, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + path, data: data), .loopback, g.configuration.port)
        }
        try send([0])
        #expect(GatewayTestSupport.eventually { g.counters.dropped["no_such_mailslot"] == 1 }, "\(g.counters)")
        for i in 1...60 {
            try send([UInt8(i)])
            if i % 3 == 0 { usleep(2_000) } // batches of a few
        }
        #expect(GatewayTestSupport.eventually { g.counters.dropped["no_such_mailslot"] == 61 }, "\(g.counters)")
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .milliseconds(2_000), options: .init(allowNetwork: true))
        defer { server.close() }
        try send([99])
        #expect(try server.read() == [99])
        // Counted just after the write: the reader may be first.
        #expect(GatewayTestSupport.eventually { g.counters.delivered == 1 } && g.counters.dropped["no_such_mailslot"] == 61, "\(g.counters)")
    }

    /// The network reaches only mailslots that opted in, whoever runs the gateway (these tests run as
    /// root, which every access rule admits).
    @Test func onlyMailslotsThatOptedInGetDatagrams() throws {
        let g = try makeGateway()
        let d = g.makeDelivery()
        let closed = uniquePath("local-only"), open = uniquePath("networked")
        let local = try MailslotServer(name: try MailslotName(local: closed), readTimeout: .immediate, options: .init(access: .everyone))
        let networked = try MailslotServer(name: try MailslotName(local: open), readTimeout: .immediate, options: .init(allowNetwork: true))
        defer { local.close(); networked.close() }
        #expect(handle(d, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + closed, data: [1])) == .dropped(reason: .notNetworkEnabled))
        #expect(handle(d, try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + open, data: [2])).isDelivered)
        #expect(throws: MailslotError.self) { try local.read() }
        #expect(try networked.read() == [2])
    }

    /// `allow_from` and `rate_limit`: counted drops, and the rest delivered.
    @Test func sourceFiltersAndRateLimit() throws {
        let g = try makeGateway()
        let d = g.makeDelivery()
        let path = uniquePath("filters")
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .immediate, options: .init(allowNetwork: true))
        defer { server.close() }
        var filtered = g.configuration
        try filtered.apply([("allow_from", "10.1.0.0/16, 127.0.0.1"), ("rate_limit", "5")], source: "test")
        try g.reload(filtered)
        let bytes = try datagram(to: "GWHOST", mailslot: "\\MAILSLOT\\" + path, data: [7])
        #expect(bytes.withUnsafeBytes { d.handle($0, from: IPv4Address("10.2.0.1")!) } == .dropped(reason: .sourceNotAllowed))
        #expect(bytes.withUnsafeBytes { d.handle($0, from: IPv4Address("10.1.200.3")!) }.isDelivered)
        // A burst of 20 from one address: the bucket holds 5, refilled at 5 per second.
        let outcomes = (0..<20).map { _ in bytes.withUnsafeBytes { d.handle($0, from: .loopback) } }
        let delivered = outcomes.filter(\.isDelivered).count
        #expect(delivered >= 5 && delivered <= 7, "\(delivered) of 20 delivered")
        #expect(outcomes.filter { $0 == .dropped(reason: .rateLimited) }.count == 20 - delivered)
        // Another source has a bucket of its own.
        #expect(bytes.withUnsafeBytes { d.handle($0, from: IPv4Address("10.1.0.9")!) }.isDelivered)
        #expect(throws: MailslotError.self) {
            var bad = filtered
            try bad.apply([("allow_from", "10.0.0.0/33")], source: "test")
        }
    }

    @Test func answersNameQueriesForItsOwnNamesOnly() throws {
        let g = try makeGateway()
        func reply(_ name: String, _ suffix: UInt8 = 0) throws -> NameQueryResponse? {
            let query = NameQueryRequest(transactionID: 0x4242, name: try NetBIOSName(name, suffix: suffix))
            return try g.nameQueryReply(query, from: .loopback).map { try NameQueryResponse.decode($0, matching: query) }
        }
        let computer = try reply("gwhost")
        #expect(computer?.entries.count == 1)
        #expect(computer?.entries.first?.isGroup == false)
        #expect(computer?.entries.first.map { IPv4Address($0.address) } == .loopback)
        #expect(try reply("MSTEST")?.entries.first?.isGroup == true)
        #expect(try reply("OTHER") == nil)
        #expect(try reply("GWHOST", 0x20) == nil)
    }

    @Test func reloadAppliesNewNamesAndKeepsTheOldConfigurationWhenTheNewOneCannotApply() throws {
        let g = try makeGateway()
        let d = g.makeDelivery()
        let path = uniquePath("reload")
        let server = try MailslotServer(name: try MailslotName(local: path), readTimeout: .immediate, options: .init(allowNetwork: true))
        defer { server.close() }
        let wire = "\\MAILSLOT\\" + path
        #expect(handle(d, try datagram(to: "GWHOST", mailslot: wire, data: [1])).isDelivered)

        var renamed = g.configuration
        try renamed.apply([("computer_name", "renamed"), ("workgroup", "other")], source: "test")
        try g.reload(renamed)
        #expect(handle(d, try datagram(to: "GWHOST", mailslot: wire, data: [2])) == .dropped(reason: .notForUs))
        #expect(handle(d, try datagram(.directGroup, to: "MSTEST", mailslot: wire, data: [3])) == .dropped(reason: .notForUs))
        #expect(handle(d, try datagram(to: "RENAMED", mailslot: wire, data: [4])).isDelivered)
        #expect(handle(d, try datagram(.directGroup, to: "OTHER", mailslot: wire, data: [5])).isDelivered)

        // An interface that does not exist, or another port: refused, and nothing changes.
        var missing = renamed
        try missing.apply([("interfaces", "no-such-interface0"), ("computer_name", "third")], source: "test")
        #expect(throws: MailslotError.self) { try g.reload(missing) }
        var moved = renamed
        moved.port += 1
        #expect(throws: MailslotError.self) { try g.reload(moved) }
        #expect(g.configuration.computerName == "RENAMED")
        #expect(handle(d, try datagram(to: "RENAMED", mailslot: wire, data: [6])).isDelivered)
        #expect(handle(d, try datagram(to: "THIRD", mailslot: wire, data: [7])) == .dropped(reason: .notForUs))
        var got: [[UInt8]] = []
        while let m = try? server.read() { got.append(m) }
        #expect(got == [[1], [4], [5], [6]])
    }

    @Test func aSecondGatewayOnTheSamePortFailsClearly() throws {
        let g = try makeGateway()
        do {
            _ = try Gateway(configuration: g.configuration, logger: Self.logger)
            Issue.record("a second gateway bound the same port")
        } catch {
            #expect(error.message.contains("port \(g.configuration.port)"))
            #expect(error.message.contains("another mailslotd"))
        }
    }
}

extension Gateway.Outcome {
    var isDelivered: Bool { if case .delivered = self { return true }; return false }
}

enum GatewayTestSupport {
    /// Starts `mailslot listen` on `\\.\mailslot\<path>` (network writes allowed) and stops it (SIGSTOP) once it
    /// serves: a local mailslot that takes connections and greets nobody until it is continued. The caller
    /// kills it.
    static func stoppedListener(_ path: String) throws -> TestSupport.Child {
        let child = try TestSupport.Child(TestSupport.product("mailslot"), ["listen", #"\\.\mailslot\"# + path, "--timeout", "30000", "--allow-network"])
        #expect(TestSupport.eventually { MailslotDirectory.list().contains { $0.name.path == path } })
        child.signal(SIGSTOP)
        return child
    }

    static func eventually(timeout: TimeInterval = 10, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline { if condition() { return true }; usleep(5_000) }
        return condition()
    }
}

