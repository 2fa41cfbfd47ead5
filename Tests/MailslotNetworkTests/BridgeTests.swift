import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Two sites joined by `mailslotd --bridge` over a NATS server (Debian's nats-server) in a third network:
///
///     site A (10.73.0.0/24): A1 (bridge), A2 (bridge)        site B (10.73.1.0/24): B1 (bridge), B2, nmbd
///              \______ backbone (10.73.2.0/24): NATS at .10 ______/
///
/// Every site host runs mailslotd on its LAN interface alone and a listener on `\\.\mailslot\t`; the
/// bridges reach NATS over the backbone. Nothing but NATS crosses the backbone.
extension NetworkTests {
    @Suite("Sites bridged over NATS")
    struct Bridged {
        static let slot = #"\\.\mailslot\t"#
        static let workgroup = "MSTEST"

        struct Site {
            var hosts: [Host]
            var gateways: [String: Child]
            var listeners: [String: Child]
        }

        /// Starts mailslotd on a host's LAN interface (and a bridge when `site` is given), and a listener.
        static func startHost(_ lab: Lab, _ host: Host, site: String?, nats: String) async throws -> (Child, Child) {
            var extra = ["--interface", host.interface, "--log-level", "debug"]
            if let site { extra += ["--bridge", nats, "--site", site] }
            let gateway = try await lab.startGateway(host, extra: extra)
            let listener = try await lab.startListener(host, slot)
            return (gateway, listener)
        }

        static func count(_ listener: Child, _ text: String) -> Int { Listener.texts(listener).filter { $0 == text }.count }

        /// `mailslot send` on a host, on its LAN interface alone (a bridge host has a backbone interface too).
        static func send(_ lab: Lab, _ host: Host, _ name: String, _ text: String) async throws -> RunResult {
            try await lab.send(host, name, [text], environment: ["MAILSLOT_INTERFACES": host.interface])
        }

        @Test("Domain writes reach every host of both sites exactly once, unique writes cross to the other site, nmbd hears the re-broadcast",
              .enabled(if: Prerequisites.available(.root, .netns, .nmbd, .nats, .tcpdump, test: "bridged sites")), .timeLimit(.minutes(3)))
        func bridgedSites() async throws {
            try Prerequisites.require(.root, .netns, .nmbd, .nats, .tcpdump)
            let siteA = try Lab(tag: "site-a", subnet: "10.73.0"), siteB = try Lab(tag: "site-b", subnet: "10.73.1"), backbone = try Lab(tag: "backbone", subnet: "10.73.2")
            defer { siteA.shutdown(); siteB.shutdown(); backbone.shutdown() }
            let a1 = try await siteA.addHost("a", octet: 1, computerName: "SITEA1", workgroup: Self.workgroup)
            let a2 = try await siteA.addHost("b", octet: 2, computerName: "SITEA2", workgroup: Self.workgroup)
            let b1 = try await siteB.addHost("c", octet: 1, computerName: "SITEB1", workgroup: Self.workgroup)
            let b2 = try await siteB.addHost("d", octet: 2, computerName: "SITEB2", workgroup: Self.workgroup)
            let nmbdHost = try await siteB.addHost("n", octet: 3, computerName: Nmbd.nmbdName, workgroup: Self.workgroup)
            let natsHost = try await backbone.addHost("z", octet: 10, computerName: "NATS", workgroup: Self.workgroup)
            let a1Backbone = try await siteA.connect(a1, to: backbone, octet: 1)
            try await siteA.connect(a2, to: backbone, octet: 2)
            try await siteB.connect(b1, to: backbone, octet: 3)

            guard let natsServer = Prerequisites.tool("nats-server") else { throw HarnessError("nats-server is not installed") }
            let nats = try backbone.start(natsHost, [natsServer, "-a", natsHost.address, "-p", "4222"], label: "nats-server", mergeOutput: true)
            let natsReady = await Wait.line(in: nats.stdoutPath, timeout: 20, stopIf: nats) { $0.contains("Server is ready") }
            try #require(natsReady != nil, "nats-server did not start\n\(nats.tail())")
            let url = "nats://\(natsHost.address):4222"

            let nmbd = try Nmbd.startNmbd(siteB, nmbdHost)
            // nmbd takes datagrams only for names it has registered; the workgroup's takes a few seconds.
            let registered = await Wait.line(in: nmbd.stdoutPath, timeout: 40, stopIf: nmbd) {
                $0.contains("success in registering name \(Self.workgroup)<00>")
            }
            try #require(registered != nil, "nmbd did not register \(Self.workgroup)<00>\n\(nmbd.tail(30))")
            var gateways: [String: Child] = [:], listeners: [String: Child] = [:]
            for (lab, host, site) in [(siteA, a1, "A"), (siteA, a2, "A"), (siteB, b1, "B"), (siteB, b2, nil)] as [(Lab, Host, String?)] {
                (gateways[host.computerName], listeners[host.computerName]) = try await Self.startHost(lab, host, site: site, nats: url)
            }
            let everyone = ["SITEA1", "SITEA2", "SITEB1", "SITEB2"]
            func tails() -> String { everyone.map { "\($0): \(gateways[$0]!.tail(12))" }.joined(separator: "\n") }
            // The bridges connect, hear each other and settle on one forwarder per site.
            for name in ["SITEA1", "SITEA2", "SITEB1"] {
                let connected = await Wait.line(in: gateways[name]!.stderrPath, timeout: 20, stopIf: gateways[name]!) { $0.contains("bridge connected to NATS") }
                try #require(connected != nil, "\(name)'s bridge did not connect\n\(tails())")
            }
            try await Task.sleep(for: .seconds(2))

            // mailslotd listens on the LAN only: nothing of ours on a backbone address.
            let sockets = try await siteA.exec(a1, ["ss", "-uln"])
            #expect(!sockets.stdout.contains(a1Backbone.address) && !sockets.stdout.contains("0.0.0.0:138"), "A1 listens beyond its LAN:\n\(sockets.stdout)")
            let backboneCapture = try await siteA.startCapture(Host(label: "a", namespace: a1.namespace, interface: a1Backbone.interface,
                                                                    address: a1Backbone.address, broadcast: "10.73.2.255", prefix: 24,
                                                                    computerName: a1.computerName, workgroup: a1.workgroup),
                                                               filter: "udp", name: "backbone-udp")

            // 1. A domain write at site A: every host of both sites, exactly once; nmbd at site B sees it.
            let domain = "domain from A \(getpid())"
            #expect(try await Self.send(siteA, a2, #"\\MSTEST\mailslot\t"#, domain).status == 0)
            for name in everyone {
                let got = await Listener.waitFor(listeners[name]!, timeout: 10) { $0.text == domain }
                #expect(got != nil, "\(name) did not receive the domain write\n\(tails())")
            }
            let nmbdSaw = await Wait.line(in: nmbd.stdoutPath, timeout: 10, stopIf: nmbd) {
                $0.lowercased().contains("process_dgram: datagram from sitea2<00> to mstest<00> ip \(b1.address) for \\mailslot\\t")
            }
            #expect(nmbdSaw != nil, "nmbd at site B did not log the re-broadcast datagram\n\(nmbd.tail(30))")
            // 2. A domain write at site B reaches site A once, though site A has two bridges.
            let fromB = "domain from B \(getpid())"
            #expect(try await Self.send(siteB, b2, #"\\*\mailslot\t"#, fromB).status == 0)
            for name in everyone {
                let got = await Listener.waitFor(listeners[name]!, timeout: 10) { $0.text == fromB }
                #expect(got != nil, "\(name) did not receive site B's domain write\n\(tails())")
            }
            // 3. A workgroup that is not bridged stays at its site.
            let other = "other workgroup \(getpid())"
            _ = try await Self.send(siteA, a2, #"\\OTHERWG\mailslot\t"#, other)
            // 4. A write to one computer at the other site, found by a name query the bridge answers for it.
            let unique = "unique to SITEB2 \(getpid())"
            let sent = try await Self.send(siteA, a2, #"\\SITEB2\mailslot\t"#, unique)
            #expect(sent.status == 0, "\\\\SITEB2 from site A: \(sent)\n\(tails())")
            let arrived = await Listener.waitFor(listeners["SITEB2"]!, timeout: 10) { $0.text == unique }
            #expect(arrived != nil, "SITEB2 did not receive the unique write\n\(tails())")

            // Exactly once everywhere, after a moment for any late duplicate.
            try await Task.sleep(for: .seconds(2))
            for name in everyone {
                #expect(Self.count(listeners[name]!, domain) == 1, "\(name) got the domain write \(Self.count(listeners[name]!, domain)) times")
                #expect(Self.count(listeners[name]!, fromB) == 1, "\(name) got site B's write \(Self.count(listeners[name]!, fromB)) times")
                #expect(Self.count(listeners[name]!, other) == 0, "\(name) got the other workgroup's write")
                #expect(Self.count(listeners[name]!, unique) == (name == "SITEB2" ? 1 : 0), "\(name) got the unique write \(Self.count(listeners[name]!, unique)) times")
            }
            // Nothing but NATS crossed the backbone.
            let udp = try backboneCapture.stop()
            #expect(udp.isEmpty, "UDP on the backbone: \(udp.prefix(5))")
            // The counters agree: one publication per write at site A (two bridges there), one re-broadcast at B.
            let statsA1 = try await siteA.stats(a1), statsA2 = try await siteA.stats(a2)
            print("bridged sites: A1 \(statsA1), A2 \(statsA2)")
        }
    }
}
