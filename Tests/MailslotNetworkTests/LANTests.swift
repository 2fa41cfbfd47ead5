import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Hosts of one workgroup (and one host of another) on one bridge, each running `mailslotd` and a
/// listener on `\\.\mailslot\t`.
///
/// How `\\HOSTB\mailslot\t` is resolved here: mostly from the sender's own /etc/hosts (the first step of
/// resolution); one test empties the hosts files so that names are found by NetBIOS name queries, which
/// each host's mailslotd answers for its computer and workgroup names. Each namespace has a private hosts file: `ip netns exec` runs the command in a new mount namespace and bind-mounts
/// /etc/netns/NAMESPACE/hosts over /etc/hosts (ip-netns(8)), so the machine's real /etc/hosts is never
/// touched. The resolver of each namespace points at its own loopback, so no lookup leaves the lab. The
/// IP-literal form (`\\10.71.0.3\mailslot\t`) is tested too. NetBIOS name resolution against a real name
/// server is tested with nmbd (NmbdTests).
extension NetworkTests {
    @Suite("A LAN of mailslotd hosts")
    struct LAN {
        static let slot = #"\\.\mailslot\t"#
        static let workgroup = "MSTEST"
        static let otherWorkgroup = "OTHERWG"

        struct Machine {
            var host: Host
            var gateway: Child
            var listeners: [String: Child]
            var listener: Child { listeners[LAN.slot]! }
        }

        /// Builds the hosts (label, last octet, computer name, workgroup); each runs mailslotd and a listener on
        /// every one of `slots`. Every host's /etc/hosts knows every other host by computer name.
        static func build(_ lab: Lab, _ specs: [(String, Int, String, String)], slots: [String] = [slot]) async throws -> [String: Machine] {
            var hosts: [Host] = []
            for (label, octet, name, workgroup) in specs {
                hosts.append(try await lab.addHost(label, octet: octet, computerName: name, workgroup: workgroup))
            }
            var machines: [String: Machine] = [:]
            for host in hosts {
                try lab.setNameFiles(host, hostsEntries: hosts.filter { $0.label != host.label }.map { ($0.address, $0.computerName) })
                let gateway = try await lab.startGateway(host)
                var listeners: [String: Child] = [:]
                for slot in slots { listeners[slot] = try await lab.startListener(host, slot) }
                machines[host.label] = Machine(host: host, gateway: gateway, listeners: listeners)
            }
            return machines
        }

        static func tails(_ machines: [String: Machine]) -> String {
            machines.keys.sorted().map { key in
                let m = machines[key]!
                return ([m.gateway.tail(15)] + m.listeners.values.map { $0.tail(10) }).joined(separator: "\n")
            }.joined(separator: "\n")
        }

        /// Sends and requires success.
        static func sendOK(_ lab: Lab, _ from: Host, _ name: String, _ message: String) async throws {
            let r = try await lab.send(from, name, [message])
            #expect(r.status == 0, "mailslot send \(name) from \(from) failed: \(r)")
            #expect(r.stderr.isEmpty, "mailslot send \(name) printed on stderr: \(r.stderr)")
        }

        static func expectDelivery(_ machines: [String: Machine], _ labels: [String], _ text: String, after what: String) async {
            for label in labels {
                let m = machines[label]!
                let got = await Listener.waitFor(m.listener, timeout: 10) { $0.text == text }
                #expect(got != nil, "\(what): \(m.host.computerName) did not receive '\(text)' within 10 s; it has \(Listener.texts(m.listener))\n\(m.gateway.tail(15))")
            }
        }

        @Test("\\\\*, \\\\HOSTB, \\\\WORKGROUP, another workgroup and an IP literal reach exactly the right hosts",
              .enabled(if: Prerequisites.available(.root, .netns, test: "LAN routing")), .timeLimit(.minutes(2)))
        func writesReachExactlyTheRightHosts() async throws {
            try Prerequisites.require(.root, .netns)
            let lab = try Lab(tag: "lan", subnet: "10.71.0")
            defer { lab.shutdown() }
            let m = try await Self.build(lab, [("a", 1, "HOSTA", Self.workgroup), ("b", 2, "HOSTB", Self.workgroup),
                                              ("c", 3, "HOSTC", Self.workgroup), ("d", 4, "HOSTD", Self.otherWorkgroup)])
            let a = m["a"]!.host
            let token = "\(getpid())-\(lab.number)"
            let star = "star \(token)", unique = "unique \(token)", group = "group \(token)", other = "other \(token)"
            let literal = "literal \(token)", barrier = "barrier \(token)"

            // 1. \\*: the sender's workgroup (DIRECT_GROUP to MSTEST<00> at the broadcast address).
            try await Self.sendOK(lab, a, #"\\*\mailslot\t"#, star)
            await Self.expectDelivery(m, ["b", "c"], star, after: #"\\*\mailslot\t"#)
            // 2. \\HOSTB: DIRECT_UNIQUE to HOSTB<00> at its address (from the sender's /etc/hosts).
            try await Self.sendOK(lab, a, #"\\HOSTB\mailslot\t"#, unique)
            await Self.expectDelivery(m, ["b"], unique, after: #"\\HOSTB\mailslot\t"#)
            // 3. \\MSTEST: the workgroup by name.
            try await Self.sendOK(lab, a, #"\\\#(Self.workgroup)\mailslot\t"#, group)
            await Self.expectDelivery(m, ["b", "c"], group, after: #"\\MSTEST\mailslot\t"#)
            // 4a. \\OTHERWG from a host of MSTEST: not its workgroup, so the name is looked up: not in the
            // hosts file, so by a NetBIOS name query, which D's mailslotd answers as a group name; the write
            // then goes as a DIRECT_GROUP broadcast to OTHERWG<00>, which only D accepts.
            let queried = "queried \(token)"
            try await Self.sendOK(lab, a, #"\\\#(Self.otherWorkgroup)\mailslot\t"#, queried)
            await Self.expectDelivery(m, ["d"], queried, after: #"\\OTHERWG\mailslot\t (resolved by a name query)"#)
            // 4b. The same name as the sender's configured workgroup: a DIRECT_GROUP broadcast to OTHERWG<00>, which
            // only D accepts (the positive control for D; B and C drop it as not for them).
            let r4 = try await lab.send(a, #"\\\#(Self.otherWorkgroup)\mailslot\t"#, [other], extraArguments: ["--workgroup", Self.otherWorkgroup])
            #expect(r4.status == 0, "\(r4)")
            await Self.expectDelivery(m, ["d"], other, after: #"\\OTHERWG\mailslot\t --workgroup OTHERWG"#)
            // 5. An IPv4 literal: one machine, without any name lookup.
            try await Self.sendOK(lab, a, #"\\\#(m["c"]!.host.address)\mailslot\t"#, literal)
            await Self.expectDelivery(m, ["c"], literal, after: #"\\10.71.0.3\mailslot\t"#)
            // 6. A last broadcast as a barrier: once every gateway has counted it, every earlier datagram
            // (sent earlier, on the same wire, to the same socket) has been handled too.
            try await Self.sendOK(lab, a, #"\\*\mailslot\t"#, barrier)
            await Self.expectDelivery(m, ["b", "c"], barrier, after: "the barrier broadcast")

            let b = try await lab.waitForStats(m["b"]!.host, received: 6)
            let c = try await lab.waitForStats(m["c"]!.host, received: 6)
            let d = try await lab.waitForStats(m["d"]!.host, received: 5)
            let context = Self.tails(m)
            // B: star, unique, group, barrier delivered; the two OTHERWG broadcasts are not for it.
            #expect(Listener.texts(m["b"]!.listener) == [star, unique, group, barrier], "\(context)")
            #expect(b == GatewayStats(received: 6, delivered: 4, dropped: ["not_for_us": 2]), "HOSTB: \(b)")
            // C: star, group, literal, barrier; not HOSTB's unique datagram (never even received).
            #expect(Listener.texts(m["c"]!.listener) == [star, group, literal, barrier], "\(context)")
            #expect(c == GatewayStats(received: 6, delivered: 4, dropped: ["not_for_us": 2]), "HOSTC: \(c)")
            // D, of another workgroup: nothing from \\*, \\MSTEST or the barrier; only its own workgroup's messages.
            #expect(Listener.texts(m["d"]!.listener) == [queried, other], "\(context)")
            #expect(d == GatewayStats(received: 5, delivered: 2, dropped: ["not_for_us": 3]), "HOSTD: \(d)")
            // Every message arrived whole: the listeners saw exactly the text, byte for byte.
            for message in Listener.messages(m["b"]!.listener) { #expect(message.size == message.data.count) }
        }

        @Test("\\\\HOSTB is found by a NetBIOS name query that the peer's mailslotd answers (no hosts entry, no DNS)",
              .enabled(if: Prerequisites.available(.root, .netns, test: "name service")), .timeLimit(.minutes(1)))
        func computerNamesResolveThroughMailslotdsNameService() async throws {
            try Prerequisites.require(.root, .netns)
            let lab = try Lab(tag: "nbns", subnet: "10.71.2")
            defer { lab.shutdown() }
            let m = try await Self.build(lab, [("a", 1, "HOSTA", Self.workgroup), ("b", 2, "HOSTB", Self.workgroup),
                                              ("c", 3, "HOSTC", Self.workgroup)])
            for label in ["a", "b", "c"] { try lab.setNameFiles(m[label]!.host, hostsEntries: []) }
            let token = "\(getpid())-\(lab.number)"
            try await Self.sendOK(lab, m["a"]!.host, #"\\HOSTB\mailslot\t"#, "by query \(token)")
            await Self.expectDelivery(m, ["b"], "by query \(token)", after: #"\\HOSTB\mailslot\t"#)
            let unknown = try await lab.send(m["a"]!.host, #"\\NOBODY\mailslot\t"#, ["x"])
            #expect(unknown.status != 0 && unknown.stderr.hasPrefix("error 53 ERROR_BAD_NETPATH: cannot find the computer 'NOBODY'"), "\(unknown)")
            let b = try await lab.waitForStats(m["b"]!.host, received: 1)
            #expect(b == GatewayStats(received: 1, delivered: 1, dropped: [:]), "HOSTB: \(b)")
            #expect(Listener.texts(m["c"]!.listener).isEmpty)
        }

        @Test("A host receives its own domain broadcast (\\\\* and \\\\WORKGROUP)",
              .enabled(if: Prerequisites.available(.root, .netns, test: "own broadcast")), .timeLimit(.minutes(1)))
        func aHostReceivesItsOwnDomainBroadcast() async throws {
            try Prerequisites.require(.root, .netns)
            let lab = try Lab(tag: "own", subnet: "10.71.1")
            defer { lab.shutdown() }
            let m = try await Self.build(lab, [("a", 1, "HOSTA", Self.workgroup), ("b", 2, "HOSTB", Self.workgroup)])
            let a = m["a"]!
            let token = "\(getpid())-\(lab.number)"
            try await Self.sendOK(lab, a.host, #"\\*\mailslot\t"#, "own star \(token)")
            try await Self.sendOK(lab, a.host, #"\\MSTEST\mailslot\t"#, "own group \(token)")
            await Self.expectDelivery(m, ["b"], "own group \(token)", after: "both domain writes")
            // Linux loops a broadcast back to the sender's own sockets bound to the port, and the sender's
            // mailslotd accepts its own workgroup: like Windows, the writing machine gets its own domain write.
            let own = try await lab.waitForStats(a.host, received: 2, timeout: 5)
            let received = await Listener.waitFor(a.listener, timeout: 5) { $0.text == "own group \(token)" }
            FileHandle.standardError.write(Data("observed: the sending host's mailslotd counted \(own) and its listener has \(Listener.texts(a.listener))\n".utf8))
            #expect(received != nil)
            #expect(Listener.texts(a.listener) == ["own star \(token)", "own group \(token)"], "\(Self.tails(m))")
            #expect(own == GatewayStats(received: 2, delivered: 2, dropped: [:]), "HOSTA: \(own)")
        }

        @Test("An over-size remote or domain write fails with 53 ERROR_BAD_NETPATH and puts nothing on the wire",
              .enabled(if: Prerequisites.available(.root, .netns, .tcpdump, test: "over-size write")), .timeLimit(.minutes(1)))
        func overSizeWritesFailWith53AndSendNothing() async throws {
            try Prerequisites.require(.root, .netns, .tcpdump)
            let lab = try Lab(tag: "size", subnet: "10.71.2")
            defer { lab.shutdown() }
            let five = #"\\.\mailslot\abcde"#
            let m = try await Self.build(lab, [("a", 1, "HOSTA", Self.workgroup), ("b", 2, "HOSTB", Self.workgroup)],
                                         slots: [Self.slot, five])
            let a = m["a"]!.host, b = m["b"]!
            // Name queries (137) are captured too: an over-size write must not even look a name up.
            let capture = try await lab.startCapture(a, filter: "udp port 137 or udp port 138", name: "oversize")

            // The limit is 432 - roundup4(length after \mailslot\): 428 for "t", 424 for "abcde".
            let tooBig = String(repeating: "x", count: 429), tooBigFive = String(repeating: "y", count: 425)
            for name in [#"\\*\mailslot\t"#, #"\\MSTEST\mailslot\t"#, #"\\HOSTB\mailslot\t"#, #"\\\#(b.host.address)\mailslot\t"#,
                         #"\\NOSUCHHOST\mailslot\t"#] {
                let r = try await lab.send(a, name, [tooBig])
                #expect(r.status != 0, "a 429-byte write to \(name) succeeded: \(r)")
                #expect(r.stderr.hasPrefix("error 53 ERROR_BAD_NETPATH"), "429 bytes to \(name): \(r.stderr)")
            }
            let r5 = try await lab.send(a, #"\\*\mailslot\abcde"#, [tooBigFive])
            #expect(r5.status != 0 && r5.stderr.hasPrefix("error 53 ERROR_BAD_NETPATH"), "425 bytes to \\\\*\\mailslot\\abcde: \(r5)")
            #expect(capture.packetsSoFar().isEmpty, "over-size writes put packets on the wire: \(capture.packetsSoFar())")

            // The largest messages that fit go through, whole: the markers that prove the capture was live.
            let fits = String(repeating: "t", count: 428), fitsFive = String(repeating: "f", count: 424)
            try await Self.sendOK(lab, a, #"\\HOSTB\mailslot\t"#, fits)
            try await Self.sendOK(lab, a, #"\\*\mailslot\abcde"#, fitsFive)
            let got = await Listener.waitFor(b.listener) { $0.text == fits }
            let gotFive = await Listener.waitFor(b.listeners[five]!) { $0.text == fitsFive }
            #expect(got?.size == 428, "the 428-byte message to \\\\HOSTB\\mailslot\\t did not arrive whole\n\(Self.tails(m))")
            #expect(gotFive?.size == 424, "the 424-byte message to \\\\*\\mailslot\\abcde did not arrive whole\n\(Self.tails(m))")
            _ = await Wait.until(timeout: 5) { capture.packetsSoFar().count >= 2 }
            let packets = try capture.stop()
            let sizes = packets.compactMap { NetBIOSWire.datagram($0.payload)?.data?.count }
            #expect(packets.count == 2, "expected only the two markers on UDP 137/138, captured: \(packets)")
            #expect(sizes == [428, 424], "the captured datagrams carry \(sizes) data bytes")
            #expect(Listener.messages(b.listener).map(\.size) == [428], "HOSTB received \(Listener.messages(b.listener))")
        }
    }
}
