import Foundation
import Logging
import Mailslot
import MailslotGateway
import MailslotTestSupport
import MailslotTransport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The NATS bridge with two gateways ("sites") in this process on loopback and a real nats-server
/// (Debian's) that each test starts on a port of its own. On loopback one machine is both sites, so a
/// domain write reaches the same local mailslot twice: once from its own site's gateway and once
/// re-broadcast by the other site's bridge. The namespace tests (MailslotNetworkTests) have real LANs.
@Suite("NATS bridge", .serialized)
struct BridgeTests {
    static let natsServer = ["/usr/sbin/nats-server", "/usr/bin/nats-server"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/sbin/nats-server"
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static func port() -> UInt16 { TestSupport.ports() }

    /// Whether nats-server and the NATS C client are here; says loudly why not (a failure under CI=true).
    static var available: Bool {
        guard TestSupport.programAvailable(natsServer, for: "the bridge tests", install: "nats-server") else { return false }
        do throws(MailslotError) {
            try NatsClient.loadLibrary()
            return true
        } catch {
            TestSupport.programAvailable("/nonexistent/libnats.so", for: "the bridge tests (\(error.message))", install: "libnats3.4")
            return false
        }
    }

    /// A nats-server on 127.0.0.1, killed by pid when the test ends.
    final class NatsServer {
        let port: UInt16
        private(set) var child: TestSupport.Child

        init(port: UInt16) throws {
            self.port = port
            child = try NatsServer.start(port)
        }

        static func start(_ port: UInt16) throws -> TestSupport.Child {
            let child = try TestSupport.Child(BridgeTests.natsServer, ["-a", "127.0.0.1", "-p", "\(port)"])
            try child.waitFor("Server is ready", timeout: 20)
            return child
        }

        var url: String { "nats://127.0.0.1:\(port)" }

        func kill() {
            child.signal(SIGKILL)
            _ = try? child.finish(timeout: 10)
        }

        func restart() throws { child = try NatsServer.start(port) }

        deinit { kill() }
    }

    static func gateway(site: String, port: UInt16, nats: String, workgroups: String = "MSTEST") throws -> Gateway {
        var configuration = MailslotConfiguration(computerName: "HOST" + site, workgroup: "MSTEST", interfaces: ["127.0.0.1"], port: port,
                                                  nameService: false)
        try configuration.apply([("bridge", nats), ("site", site), ("bridge_workgroups", workgroups)], source: "test")
        return try Gateway(configuration: configuration, logger: logger)
    }

    /// Gateways each running on a thread of its own until `stop()`, which also waits for the threads.
    final class Running {
        let gateways: [Gateway]
        private let threads: [Thread]

        init(_ gateways: [Gateway]) {
            self.gateways = gateways
            threads = gateways.map { gateway in Thread { gateway.run() } }
            for thread in threads { thread.start() }
        }

        /// One gateway per site, each on a port of its own, bridged through `nats`.
        convenience init(sites: [String], nats: NatsServer) throws {
            self.init(try sites.map { try BridgeTests.gateway(site: $0, port: BridgeTests.port(), nats: nats.url) })
        }

        subscript(index: Int) -> Gateway { gateways[index] }

        func stop() {
            for gateway in gateways { gateway.stop() }
            for thread in threads { _ = TestSupport.eventually { thread.isFinished } }
        }
    }

    /// Site A's gateway and bridge on a NATS server of its own, and an observer of what it publishes for
    /// MSTEST, subscribed before it returns.
    final class ObservedSite {
        let nats: NatsServer
        let sites: Running
        let observer: NatsClient
        let seen = Guarded<[NatsClient.Message]>([])

        init() throws {
            nats = try NatsServer(port: BridgeTests.port())
            sites = try Running(sites: ["A"], nats: nats)
            observer = try NatsClient(.init(servers: [nats.url], name: "observer")) { _ in }
            #expect(BridgeTests.waitUntilConnected(sites.gateways) && TestSupport.eventually { self.observer.isConnected })
            try observer.subscribe(BridgeProtocol.domainWildcard(workgroup: "MSTEST")) { [seen] message in seen.withLock { $0.append(message) } }
            observer.flush()
            usleep(300_000)
        }

        func stop() {
            observer.close()
            sites.stop()
        }
    }

    /// Site B's gateway and bridge on a NATS server of its own, a listener for network writes, and `peer`, a
    /// client that speaks for site A (or attacks), connected before it returns.
    final class ReceivingSite {
        let nats: NatsServer
        let sites: Running
        let path: String
        let server: MailslotServer
        let peer: NatsClient
        var gateway: Gateway { sites[0] }

        init(_ tag: String, readTimeout: MailslotTimeout, peer name: String) throws {
            nats = try NatsServer(port: BridgeTests.port())
            sites = try Running(sites: ["B"], nats: nats)
            #expect(BridgeTests.waitUntilConnected(sites.gateways))
            path = "bridge-test\\\(tag)-\(getpid())"
            server = try BridgeTests.listener(path, readTimeout: readTimeout)
            peer = try NatsClient(.init(servers: [nats.url], name: name)) { _ in }
            #expect(TestSupport.eventually { self.peer.isConnected })
            usleep(300_000)
        }

        /// A domain message of site A's bridge for the listener, without data.
        func message(datagramID: UInt16) -> BridgedMessage {
            BridgedMessage(kind: .domain, workgroup: "MSTEST", mailslotName: "\\MAILSLOT\\" + path, sourceName: "FARHOST",
                           sourceIP: 0x0A00_0001, datagramID: datagramID, site: "A", bridge: "HOSTA-1", data: [])
        }

        func stop() {
            peer.close()
            server.close()
            sites.stop()
        }
    }

    /// A local mailslot that accepts network writes.
    static func listener(_ path: String, readTimeout: MailslotTimeout) throws -> MailslotServer {
        try MailslotServer(name: try MailslotName(local: path), readTimeout: readTimeout, options: .init(allowNetwork: true))
    }

    /// A domain datagram (DIRECT_GROUP to WORKGROUP<00>) as a Windows host sends it.
    static func domainDatagram(_ workgroup: String = "MSTEST", mailslot: String, data: [UInt8], id: UInt16,
                               source: IPv4Address = .loopback, sourceName: String = "WRITER") throws -> [UInt8] {
        try NetBIOSMailslotDatagram(messageType: .directGroup, datagramID: id, sourceIP: source.value, sourceName: NetBIOSName(sourceName),
                                    destinationName: NetBIOSName(workgroup, suffix: 0), mailslotName: "\\MAILSLOT\\" + mailslot, data: data).encoded()
    }

    static func send(_ bytes: [UInt8], to port: UInt16) throws {
        let fd = try Sys.udpSocket()
        defer { Sys.close(fd) }
        _ = try Sys.sendTo(fd, bytes, .loopback, port)
    }

    /// Both bridges see each other's heartbeat and are connected.
    static func waitUntilConnected(_ gateways: [Gateway]) -> Bool {
        TestSupport.eventually(timeout: 15) { gateways.allSatisfy { $0.counters.bridge?.connected == true } }
    }

    @Test func aDomainWriteAtOneSiteIsReBroadcastAtTheOtherOnceAndNeverComesBack() throws {
        guard Self.available else { return }
        let nats = try NatsServer(port: Self.port())
        let sites = try Running(sites: ["A", "B"], nats: nats)
        defer { sites.stop() }
        let a = sites[0], b = sites[1]
        #expect(Self.waitUntilConnected(sites.gateways))
        let path = "bridge-test\\domain-\(getpid())"
        let server = try Self.listener(path, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        usleep(300_000) // subscriptions registered at the server
        for i in 0..<20 { try Self.send(try Self.domainDatagram(mailslot: path, data: Array("m\(i)".utf8), id: UInt16(i)), to: a.configuration.port) }
        // This machine is both sites: each message arrives twice, once per site, and never a third time.
        var got: [String: Int] = [:]
        for _ in 0..<40 { got[String(decoding: try server.read(), as: UTF8.self), default: 0] += 1 }
        #expect(got == Dictionary(uniqueKeysWithValues: (0..<20).map { ("m\($0)", 2) }))
        usleep(500_000)
        #expect(MailslotError.code { _ = try server.read(timeout: .immediate) } == .semTimeout, "a message came back a third time")
        let ca = try #require(a.counters.bridge), cb = try #require(b.counters.bridge)
        #expect(ca.published == 20 && ca.rebroadcast == 0, "site A: \(ca)")
        #expect(cb.received == 20 && cb.rebroadcast == 20 && cb.published == 0, "site B: \(cb)")
        // A workgroup that is not bridged stays at its site.
        try Self.send(try Self.domainDatagram("OTHERWG", mailslot: path, data: [1], id: 99), to: a.configuration.port)
        usleep(500_000)
        #expect(a.counters.bridge?.published == 20)
    }

    @Test func hostileMessagesFromNatsAreCountedDrops() throws {
        guard Self.available else { return }
        let site = try ReceivingSite("hostile", readTimeout: .milliseconds(300), peer: "attacker")
        defer { site.stop() }
        let (b, server, attacker) = (site.gateway, site.server, site.peer)
        var good = site.message(datagramID: 1)
        good.data = Array("hello".utf8)
        func headers(_ change: (inout [String: String]) -> Void) -> [(name: String, value: String)] {
            var map = Dictionary(uniqueKeysWithValues: good.headers.map { ($0.name, $0.value) })
            change(&map)
            return map.map { ($0.key, $0.value) }
        }
        let subject = good.subject
        try attacker.publish(subject, headers: [], data: Array("no headers".utf8))                                        // missing_header
        try attacker.publish(subject, headers: headers { $0[BridgeProtocol.Header.version] = "9" }, data: good.data)     // unknown_version
        try attacker.publish(subject, headers: headers { $0[BridgeProtocol.Header.sourceIP] = "300.1.1.1" }, data: good.data) // bad_header
        try attacker.publish(subject, headers: good.headers, data: [UInt8](repeating: 7, count: 5_000))                  // oversized
        try attacker.publish(BridgeProtocol.domainSubject(workgroup: "MSTEST", mailslotName: "\\MAILSLOT\\elsewhere"),
                             headers: good.headers, data: good.data)                                                     // subject_mismatch
        try attacker.publish(subject, headers: headers { $0[BridgeProtocol.Header.site] = "B" }, data: good.data)        // own_site
        try attacker.publish(subject, headers: good.headers, data: good.data)                                            // delivered
        try attacker.publish(subject, headers: good.headers, data: good.data)                                            // duplicate
        #expect(try server.read(timeout: .milliseconds(5_000)) == Array("hello".utf8))
        #expect(TestSupport.eventually { (b.counters.bridge?.dropped.values.reduce(0, +) ?? 0) >= 7 })
        let dropped = b.counters.bridge?.dropped ?? [:]
        for reason in ["missing_header", "unknown_version", "bad_header", "oversized", "subject_mismatch", "own_site", "duplicate"] {
            #expect(dropped[reason] == 1, "\(reason): \(dropped)")
        }
        #expect(MailslotError.code { _ = try server.read(timeout: .immediate) } == .semTimeout)
        // The same stream's headers, in the same order, with only the datagram id or the data bad (the bridge
        // checks only those again for the next message of a stream): counted drops all the same.
        func stream(id: String) -> [(name: String, value: String)] {
            good.headers.map { ($0.name, $0.name == BridgeProtocol.Header.datagramID ? id : $0.value) }
        }
        try attacker.publish(subject, headers: stream(id: "70000"), data: good.data)                              // bad_header
        try attacker.publish(subject, headers: stream(id: "5"), data: [UInt8](repeating: 7, count: 5_000))      // oversized
        #expect(TestSupport.eventually { b.counters.bridge?.dropped["bad_header"] == 2 && b.counters.bridge?.dropped["oversized"] == 2 }, "\(b.counters)")
        #expect(MailslotError.code { _ = try server.read(timeout: .milliseconds(200)) } == .semTimeout)
        // A bridge that heartbeats as site C cannot speak for site A.
        try attacker.publish(BridgeProtocol.presenceSubject(site: "B"), headers: [(BridgeProtocol.Header.site, "C")], data: Array("HOSTA-1".utf8))
        usleep(300_000)
        var forged = good
        forged.datagramID = 2
        try attacker.publish(subject, headers: forged.headers, data: forged.data)
        #expect(TestSupport.eventually { b.counters.bridge?.dropped["forged_site"] == 1 }, "\(b.counters)")
    }

    /// A burst from NATS is re-broadcast whole, once each and in order: the bridge holds re-broadcasts back
    /// while more messages wait in nats.c and sends them together (sendmmsg), so this checks that none is
    /// lost, repeated or reordered on the way, and that each is counted.
    @Test func aBurstFromNatsIsReBroadcastWholeAndInOrder() throws {
        guard Self.available else { return }
        let site = try ReceivingSite("burst", readTimeout: .milliseconds(5_000), peer: "site A")
        defer { site.stop() }
        let (b, server, publisher) = (site.gateway, site.server, site.peer)
        let count = 3_000
        for i in 0..<count {
            var message = site.message(datagramID: UInt16(i))
            message.data = Array("m\(i)".utf8)
            try publisher.publish(message.subject, headers: message.headers, data: message.data)
        }
        publisher.flush()
        var got: [String] = []
        while got.count < count, let data = try? server.read() { got.append(String(decoding: data, as: UTF8.self)) }
        let misplaced = zip(got, 0..<count).first { $0.0 != "m\($0.1)" }
        #expect(got.count == count && misplaced == nil, "\(got.count) of \(count) arrived; the first out of place: \(misplaced.map { "\($0.0) at \($0.1)" } ?? "none")")
        #expect(MailslotError.code { _ = try server.read(timeout: .milliseconds(300)) } == .semTimeout, "a message came twice")
        let counters = try #require(b.counters.bridge)
        #expect(counters.received == count && counters.rebroadcast == count && counters.dropped.isEmpty, "\(counters)")
    }

    /// A gateway stopped in the middle of a burst from NATS: what its bridge had taken (counted received)
    /// and held back for the next send is still delivered, before the delivery closes, and counted. Every
    /// message taken is re-broadcast or dropped under a reason, every one re-broadcast is the gateway's
    /// (delivered or dropped), and the mailslot got what was delivered, in order.
    @Test func whatTheBridgeHeldBackIsDeliveredAtStop() throws {
        guard Self.available else { return }
        let site = try ReceivingSite("stop", readTimeout: .milliseconds(300), peer: "site A")
        defer { site.stop() }
        let b = site.gateway
        let count = 30_000 // far more than the bridge takes before the stop: it stops in the middle of bursts
        let messages = (0..<count).map { i in
            var message = site.message(datagramID: UInt16(truncatingIfNeeded: i))
            message.data = Array("m\(i)".utf8)
            return message
        }
        let publisher = Thread { [peer = site.peer] in
            for message in messages { try? peer.publish(message.subject, headers: message.headers, data: message.data) }
            peer.flush()
        }
        publisher.start()
        let deadline = Date().addingTimeInterval(20)
        while (b.counters.bridge?.received ?? 0) < 1_000, Date() < deadline { usleep(200) }
        site.sites.stop()
        #expect(TestSupport.eventually { publisher.isFinished })
        let counters = b.counters
        let bridge = try #require(counters.bridge)
        #expect(bridge.received < count, "the burst was over before the stop: nothing was held back")
        #expect(bridge.received == bridge.rebroadcast + bridge.dropped.values.reduce(0, +), "\(counters)")
        #expect(counters.received == bridge.rebroadcast, "\(counters)")
        var got: [String] = []
        while let data = try? site.server.read() { got.append(String(decoding: data, as: UTF8.self)) }
        #expect(got == (0..<got.count).map { "m\($0)" } && got.count == counters.delivered, "\(got.count) read, \(counters)")
    }

    /// The bridge delivers what it re-broadcasts into this host's mailslots itself, with the gateway's
    /// checks: a host whose own workgroup is not the message's (it bridges a workgroup it is no member
    /// of) does not take it, as its gateway would not take the datagram (`not_for_us`); the LAN still
    /// gets it.
    @Test func aHostOutsideTheBridgedWorkgroupDoesNotTakeItsMessages() throws {
        guard Self.available else { return }
        let nats = try NatsServer(port: Self.port())
        var configuration = MailslotConfiguration(computerName: "HOSTB", workgroup: "SITEWG", interfaces: ["127.0.0.1"], port: Self.port(),
                                                  nameService: false)
        try configuration.apply([("bridge", nats.url), ("site", "B"), ("bridge_workgroups", "MSTEST")], source: "test")
        let sites = Running([try Gateway(configuration: configuration, logger: Self.logger)])
        defer { sites.stop() }
        let b = sites[0]
        #expect(Self.waitUntilConnected([b]))
        let path = "bridge-test\\outsider-\(getpid())"
        let server = try Self.listener(path, readTimeout: .milliseconds(300))
        defer { server.close() }
        let peer = try NatsClient(.init(servers: [nats.url], name: "site A")) { _ in }
        defer { peer.close() }
        #expect(TestSupport.eventually { peer.isConnected })
        usleep(300_000)
        let message = BridgedMessage(kind: .domain, workgroup: "MSTEST", mailslotName: "\\MAILSLOT\\" + path, sourceName: "FARHOST",
                                     sourceIP: 0x0A00_0001, datagramID: 1, site: "A", bridge: "HOSTA-1", data: Array("hello".utf8))
        try peer.publish(message.subject, headers: message.headers, data: message.data)
        #expect(TestSupport.eventually { b.counters.dropped["not_for_us"] == 1 }, "\(b.counters)")
        #expect(MailslotError.code { _ = try server.read() } == .semTimeout, "a host outside MSTEST took its message")
        #expect(b.counters.bridge?.rebroadcast == 1 && b.counters.delivered == 0, "\(b.counters)")
    }

    /// A message for a mailslot whose connection the bridge must first open, while its server is slow to
    /// greet (stopped): the gateway's receive loop is woken to watch the open, and delivers as soon as the
    /// server greets, not when the loop next wakes by itself (a second later, when nothing else comes).
    @Test func aRelayedMessageWaitsForAGreetingWithoutWaitingForTheLoop() throws {
        guard Self.available else { return }
        let site = try ReceivingSite("greeting", readTimeout: .milliseconds(5_000), peer: "site A")
        defer { site.stop() }
        let slow = "bridge-test\\slow-\(getpid())"
        let child = try GatewayTestSupport.stoppedListener(slow)
        defer { child.signal(SIGKILL) }
        // The loop has just gone to sleep (for a second: nothing it watches has a deadline) after a datagram.
        try Self.send(try Self.domainDatagram(mailslot: site.path, data: Array("first".utf8), id: 1), to: site.gateway.configuration.port)
        #expect(try site.server.read() == Array("first".utf8))
        var message = site.message(datagramID: 2)
        message.mailslotName = "\\MAILSLOT\\" + slow
        message.data = Array("late greeting".utf8)
        try site.peer.publish(message.subject, headers: message.headers, data: message.data)
        usleep(150_000) // the bridge has begun the open meanwhile
        child.signal(SIGCONT)
        let woken = Date()
        try child.waitFor("late greeting", timeout: 5)
        let elapsed = Date().timeIntervalSince(woken)
        // Loose, for shared machines: unwoken, the loop would take the greeting only when its second is up.
        #expect(elapsed < 0.6, "delivered \(Int(elapsed * 1000)) ms after the server greeted")
        #expect(site.gateway.counters.delivered == 2, "\(site.gateway.counters)")
    }

    @Test func theNatsServerKilledAndRestartedUnderTraffic() throws {
        guard Self.available else { return }
        let nats = try NatsServer(port: Self.port())
        let sites = try Running(sites: ["A", "B"], nats: nats)
        defer { sites.stop() }
        let a = sites[0], b = sites[1]
        #expect(Self.waitUntilConnected(sites.gateways))
        let path = "bridge-test\\restart-\(getpid())"
        let server = try Self.listener(path, readTimeout: .milliseconds(5_000))
        defer { server.close() }
        usleep(300_000)
        var sent = 0
        func burst(_ count: Int) throws {
            for _ in 0..<count {
                try Self.send(try Self.domainDatagram(mailslot: path, data: Array("n\(sent)".utf8), id: UInt16(truncatingIfNeeded: sent)), to: a.configuration.port)
                sent += 1
                usleep(2_000)
            }
        }
        try burst(50)
        nats.kill()
        #expect(TestSupport.eventually { a.counters.bridge?.connected == false })
        try burst(50) // the LAN side goes on; nothing reaches the other site
        try nats.restart()
        #expect(Self.waitUntilConnected([a, b]))
        usleep(1_000_000) // heartbeats heard again, subscriptions back
        try burst(50)
        usleep(500_000)
        var counts: [String: Int] = [:]
        while let message = try? server.read(timeout: .milliseconds(300)) { counts[String(decoding: message, as: UTF8.self), default: 0] += 1 }
        let ca = try #require(a.counters.bridge)
        print("bridge restart: site A published \(ca.published), not forwarded \(ca.dropped["nats_unavailable"] ?? 0), messages read \(counts.values.reduce(0, +))")
        // Site A's own delivery lost nothing; no message arrived more than twice (once per site).
        #expect((0..<150).allSatisfy { counts["n\($0)", default: 0] >= 1 }, "site A's own delivery lost messages")
        #expect(counts.values.allSatisfy { $0 <= 2 }, "a message was delivered twice by one site")
        // What could not be forwarded was counted; the last 50 went through after the restart.
        #expect(ca.published + (ca.dropped["nats_unavailable"] ?? 0) == 150, "\(ca)")
        #expect((100..<150).allSatisfy { counts["n\($0)"] == 2 }, "after the restart, messages did not reach the other site")
    }

    /// A TCP listener that accepts and hangs up at once, before any NATS greeting (a proxy in front of a
    /// server that is down, a server restarting), counting the connection attempts. Killed by pid.
    final class HangingUpListener {
        private let child: TestSupport.Child

        init(port: UInt16) throws {
            child = try TestSupport.Child("/usr/bin/python3", ["-c", """
                import socket
                s = socket.socket()
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", \(port)))
                s.listen(16)
                print("bound", flush=True)
                while True:
                    c, _ = s.accept()
                    print("attempt", flush=True)
                    c.close()
                """])
            try child.waitFor("bound")
        }

        var attempts: Int { child.output.components(separatedBy: "attempt").count - 1 }

        func kill() {
            child.signal(SIGKILL)
            _ = try? child.finish(timeout: 10)
        }

        deinit { kill() }
    }

    /// Reconnecting backs off. A listener that hangs up stands in for a NATS server that is not there:
    /// with the back-off, the first connect and the attempts after 0.25, 0.75 and 1.75 s fit in 2.5 s (the
    /// next is at 3.75 s); the fixed 250 ms wait used before would make about 10. Then the real server
    /// comes up on that port and the client connects by itself (nats.c's own first-connect retry never
    /// would: one hang-up closed its connection for good).
    @Test func reconnectingBacksOffAndConnectsWhenTheServerComes() throws {
        guard Self.available else { return }
        let port = Self.port()
        let listener = try HangingUpListener(port: port)
        let connected = Guarded(false)
        let started = Date()
        let client = try NatsClient(.init(servers: ["nats://127.0.0.1:\(port)"], name: "backoff-test")) { event in
            if case .connected = event { connected.withLock { $0 = true } }
        }
        Thread.sleep(until: started.addingTimeInterval(2.5))
        let attempts = listener.attempts
        print("reconnect back-off: \(attempts) connection attempts in the first 2.5 s")
        #expect(attempts >= 2 && attempts <= 4, "\(attempts) attempts in 2.5 s; the back-off allows at most 4")
        listener.kill()
        let nats = try NatsServer(port: port)
        #expect(TestSupport.eventually(timeout: 15) { connected.withLock { $0 } }, "never connected to \(nats.url)")
        withExtendedLifetime(client) {}
    }

    /// A gateway whose bridge never ran (created, then dropped) stops trying to reach NATS: nothing keeps
    /// a thread knocking on the server's port for the rest of the process's life.
    @Test func aBridgeDroppedBeforeItRanStopsTrying() throws {
        guard Self.available else { return }
        let natsPort = Self.port()
        let listener = try HangingUpListener(port: natsPort)
        do { _ = try Self.gateway(site: "A", port: Self.port(), nats: "nats://127.0.0.1:\(natsPort)") }
        Thread.sleep(forTimeInterval: 0.2) // the listener's lines about attempts before the drop arrive
        let dropped = listener.attempts
        Thread.sleep(forTimeInterval: 2.5) // a bridge still trying would come back after 0.25, 0.75 and 1.75 s
        #expect(dropped <= 2 && listener.attempts == dropped, "\(listener.attempts - dropped) attempts after the gateway was dropped")
    }

    /// A NATS server that wants a user and password: the bridge with the right ones connects, with wrong
    /// ones it does not (and the gateway goes on without it).
    @Test func credentialsAreUsed() throws {
        guard Self.available else { return }
        let port = Self.port()
        let child = try TestSupport.Child(Self.natsServer, ["-a", "127.0.0.1", "-p", "\(port)", "--user", "bridge", "--pass", "s3cret"])
        defer { child.signal(SIGKILL) }
        try child.waitFor("Server is ready", timeout: 20)
        func gateway(_ password: String) throws -> Gateway {
            var configuration = MailslotConfiguration(computerName: "HOSTC", workgroup: "MSTEST", interfaces: ["127.0.0.1"], port: Self.port(),
                                                      nameService: false)
            try configuration.apply([("bridge", "nats://127.0.0.1:\(port)"), ("bridge_user", "bridge"), ("bridge_password", password)], source: "test")
            #expect(configuration.value(of: "bridge_password") == "********")
            return try Gateway(configuration: configuration, logger: Self.logger)
        }
        let good = try gateway("s3cret"), bad = try gateway("wrong")
        let running = Running([good, bad])
        defer { running.stop() }
        #expect(Self.waitUntilConnected([good]))
        usleep(500_000)
        #expect(bad.counters.bridge?.connected != true)
    }

    /// Headers travel as one block each way (cmn_connection_publish_with_headers, cmn_msg_header_block):
    /// names and values arrive as sent, a value with non-ASCII bytes too, a NUL ends a name or value as in C,
    /// a message without headers has none, and a hostile one with 200 keeps its first 64.
    /// A bridge publishes the datagrams of one stream (one writer, one mailslot) with the subject and
    /// headers it worked out for the first: interleaved streams, and datagrams of a workgroup that is not
    /// bridged between them, must each still be published with their own.
    @Test func interleavedStreamsArePublishedEachWithItsOwnSubjectAndHeaders() throws {
        guard Self.available else { return }
        let site = try ObservedSite()
        defer { site.stop() }
        let (sites, seen) = (site.sites, site.seen)
        let streams = [("WRITER", #"bridge-test\one"#), ("OTHERPC", #"bridge-test\two"#), ("WRITER", #"bridge-test\two"#), ("OTHERPC", #"bridge-test\one"#)]
        for i in 0..<40 {
            let (source, mailslot) = streams[i / 3 % streams.count] // runs of three, then the next stream
            if i % 7 == 6 { try Self.send(try Self.domainDatagram("OTHERWG", mailslot: mailslot, data: [0], id: 999, sourceName: source), to: sites[0].configuration.port) }
            try Self.send(try Self.domainDatagram(mailslot: mailslot, data: Array("\(source) \(mailslot) \(i)".utf8), id: UInt16(i), sourceName: source),
                          to: sites[0].configuration.port)
        }
        #expect(TestSupport.eventually(timeout: 10) { seen.withLock { $0.count } >= 40 })
        usleep(300_000)
        let messages = seen.withLock { $0 }
        #expect(messages.count == 40, "the workgroup that is not bridged stays here")
        for raw in messages {
            let message = try BridgedMessage(subject: raw.subject, header: { raw.header($0) }, data: raw.data)
            let mailslot = String(message.mailslotName.dropFirst(#"\MAILSLOT\"#.count))
            #expect(String(decoding: message.data, as: UTF8.self) == "\(message.sourceName) \(mailslot) \(message.datagramID)", "\(raw.headers)")
        }
    }

    /// A datagram of this LAN whose names NATS headers cannot carry is not published: a line break in a
    /// header value ends the header (libnats 3.4.1 handed this source name to the other site as
    /// "A  SITE:X  B:"), and the other sites refuse names that are not printable ASCII. It is a counted
    /// drop; the LAN side still delivers it.
    @Test func aDatagramWhoseNamesCannotBeHeadersIsNotPublished() throws {
        guard Self.available else { return }
        let site = try ObservedSite()
        defer { site.stop() }
        let (sites, seen) = (site.sites, site.seen)
        let port = sites[0].configuration.port
        try Self.send(try Self.domainDatagram(mailslot: "bridge-test", data: [1], id: 1, sourceName: "A\r\nSite:X\r\nB:"), to: port)
        try Self.send(try Self.domainDatagram(mailslot: "bridge-test\u{7}bell", data: [2], id: 2), to: port)
        try Self.send(try Self.domainDatagram(mailslot: "bridge-test", data: [3], id: 3, sourceName: "PC\u{E9}"), to: port)
        try Self.send(try Self.domainDatagram(mailslot: "bridge-test", data: [4], id: 4), to: port) // a good one, last
        #expect(TestSupport.eventually(timeout: 10) { !seen.withLock { $0.isEmpty } })
        usleep(300_000)
        let messages = seen.withLock { $0 }
        #expect(messages.map(\.data) == [[4]], "\(messages.map(\.headers))")
        #expect(TestSupport.eventually { sites[0].counters.bridge?.dropped["bad_header"] == 3 }, "\(sites[0].counters)")
    }

    /// Two header blocks that differ only in one header's value compare equal but for it, whatever that
    /// value's length; any other difference, or the header missing, makes them different.
    @Test func headerBlocksCompareButForOneValue() {
        func block(_ pairs: [(String, String)]) -> NatsClient.HeaderBlock { NatsClient.HeaderBlock(pairs.map { (name: $0.0, value: $0.1) }) }
        let base = block([("A", "1"), ("Id", "7"), ("B", "two")])
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "1"), ("Id", "65535"), ("B", "two")])) == "7")
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "1"), ("Id", ""), ("B", "two")])) == "7")
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "1"), ("Id", "7"), ("B", "tw0")])) == nil)
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "12"), ("Id", "7"), ("B", "two")])) == nil)
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "1"), ("Id", "7"), ("B", "two"), ("C", "3")])) == nil)
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("Id", "7"), ("A", "1"), ("B", "two")])) == nil, "same pairs in another order: not compared further")
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "1"), ("B", "two")])) == nil)
        #expect(block([("A", "1")]).value(of: "Id", ifOtherwiseEqualTo: block([("A", "1")])) == nil, "without the header there is nothing to compare around")
        #expect(base.value(of: "Id", ifOtherwiseEqualTo: block([("A", "1"), ("Id", "7"), ("Id2", "x"), ("B", "two")])) == nil)
        #expect(block([("A", "1"), ("Id", "65535"), ("B", "two")]).value(of: "Id", ifOtherwiseEqualTo: base) == "65535", "the block's own value")
        #expect(block([("A", "1"), ("Id", ""), ("B", "two")]).value(of: "Id", ifOtherwiseEqualTo: base) == "")
        #expect(block([("A", "2"), ("Id", "8"), ("B", "two")]).value(of: "Id", ifOtherwiseEqualTo: base) == nil)
    }

    @Test func headerBlocksCrossTheServerIntact() throws {
        guard Self.available else { return }
        let nats = try NatsServer(port: Self.port())
        // Two clients: a bridge's client never hears its own messages (no echo).
        let client = try NatsClient(.init(servers: [nats.url], name: "header publisher")) { _ in }
        let subscriber = try NatsClient(.init(servers: [nats.url], name: "header subscriber")) { _ in }
        defer {
            client.close()
            subscriber.close()
        }
        #expect(TestSupport.eventually(timeout: 15) { client.isConnected && subscriber.isConnected })
        let received = Guarded<[NatsClient.Message]>([])
        try subscriber.subscribe("hdr.test") { message in received.withLock { $0.append(message) } }
        subscriber.flush()
        var block = NatsClient.HeaderBlock([("Mailslot-Name", #"\MAILSLOT\x"#), ("Mailslot-Site", "Zürich")])
        block.append("Cut", "before\u{0}after")
        try client.publish("hdr.test", headers: block, data: [1, 2, 3])
        try client.publish("hdr.test", data: [4])
        var many = NatsClient.HeaderBlock()
        for i in 0..<200 { many.append("K\(i)", "v\(i)") }
        try client.publish("hdr.test", headers: many, data: [])
        client.flush()
        #expect(TestSupport.eventually(timeout: 10) { received.withLock { $0.count } == 3 })
        let messages = received.withLock { $0 }
        guard messages.count == 3 else { return }
        #expect(messages[0].header("Mailslot-Name") == #"\MAILSLOT\x"#)
        #expect(messages[0].header("Mailslot-Site") == "Zürich")
        #expect(messages[0].header("Cut") == "before")
        #expect(messages[0].header("mailslot-name") == nil, "names are case-sensitive, as in nats.c")
        #expect(messages[0].data == [1, 2, 3])
        #expect(messages[1].headers.isEmpty && messages[1].data == [4])
        #expect(messages[2].headers.count == 64)
        #expect(messages[2].headers.allSatisfy { $0.value == "v" + $0.key.dropFirst() })
        // A key given twice is sent twice (the first value is the one read); more than the shim's stack buffer.
        received.withLock { $0.removeAll() }
        var twice = NatsClient.HeaderBlock([("Twice", "first"), ("Twice", "second")])
        for i in 0..<40 { twice.append("Long\(i)", String(repeating: "x", count: 60)) }
        let large = (0..<3_000).map { UInt8(truncatingIfNeeded: $0) }
        try client.publish("hdr.test", headers: twice, data: large)
        // A pair that could not be one header line of its own is refused, and nothing is sent.
        for (name, value) in [("Line", "a\r\nInjected: yes"), ("Feed", "a\nb"), ("Co:lon", "v"), ("", "v"), ("Return\r", "v"),
                              (" Lead", "folds into the header before"), ("Sp ace", "v"), ("Tab\t", "v")] {
            #expect(throws: NatsClient.Failure.self, "\(name.debugDescription)") { try client.publish("hdr.test", headers: NatsClient.HeaderBlock([(name, value)]), data: []) }
        }
        client.flush()
        #expect(TestSupport.eventually(timeout: 10) { received.withLock { $0.count } == 1 })
        usleep(200_000)
        let last = received.withLock { $0 }
        #expect(last.count == 1 && last.first?.header("Twice") == "first" && last.first?.data == large)
        #expect(last.first?.header("Long39") == String(repeating: "x", count: 60))
    }

    /// The shim's declarations of the NATS C client match Debian's headers, prototype by prototype.
    @Test func theShimMatchesTheNatsHeaders() throws {
        guard Self.available, TestSupport.programAvailable("/usr/include/nats/nats.h", for: "the libnats ABI check", install: "libnats-dev",
                                                           executable: false) else { return }
        let flags = try TestSupport.run("/usr/bin/pkg-config", ["--cflags", "libnats"])
        let build = try TestSupport.run("/usr/bin/cc", ["-std=gnu11", "-Wall", "-Wextra", "-Werror"]
                                        + flags.output.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
                                        + ["-I", TestSupport.packageRoot + "/Sources/CMailslotNats/include", "-c",
                                           TestSupport.packageRoot + "/Tests/MailslotGatewayTests/Fixtures/nats_abi_check.c", "-o", "/dev/null"])
        #expect(build.status == 0, "\(build.output)")
    }
}
