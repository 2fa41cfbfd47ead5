import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Samba's nmbd as a real, independent peer, in a namespace of its own next to one of ours.
extension NetworkTests {
    @Suite("Samba nmbd as a peer")
    struct Nmbd {
        static let workgroup = "MSTEST"
        static let nmbdName = "NMBDHOST"
        static let ourName = "OURHOST"

        /// Starts nmbd on a host with a private directory tree (nothing in /var/lib/samba or /etc/samba is
        /// used) and its log on standard output.
        static func startNmbd(_ lab: Lab, _ host: Host) throws -> Child {
            guard let nmbd = Prerequisites.tool("nmbd") else { throw HarnessError("nmbd is not installed") }
            let dir = "\(lab.directory)/nmbd-\(host.label)"
            for sub in ["lock", "state", "cache", "private", "pid", "ncalrpc", "log"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/\(sub)", withIntermediateDirectories: true)
            }
            let conf = try Fixtures.text("nmbd-smb.conf.template")
                .replacingOccurrences(of: "@NAME@", with: host.computerName)
                .replacingOccurrences(of: "@WORKGROUP@", with: host.workgroup)
                .replacingOccurrences(of: "@ADDRESS@", with: host.address)
                .replacingOccurrences(of: "@PREFIX@", with: "\(host.prefix)")
                .replacingOccurrences(of: "@DIR@", with: dir)
            try conf.write(toFile: "\(dir)/smb.conf", atomically: true, encoding: .utf8)
            return try lab.start(host, [nmbd, "-F", "--no-process-group", "--debug-stdout", "-d", "10", "-s", "\(dir)/smb.conf"],
                                 label: "nmbd", environment: Spawn.environment(), mergeOutput: true)
        }

        static func makeLab(_ tag: String, subnet: String) async throws -> (Lab, nmbdHost: Host, ours: Host) {
            let lab = try Lab(tag: tag, subnet: subnet)
            do {
                let n = try await lab.addHost("n", octet: 1, computerName: nmbdName, workgroup: workgroup)
                let m = try await lab.addHost("m", octet: 2, computerName: ourName, workgroup: workgroup)
                return (lab, n, m)
            } catch {
                lab.shutdown()
                throw error
            }
        }

        @Test("nmbd's start-up HostAnnouncement reaches our \\\\.\\mailslot\\browse through mailslotd --accept-any-name",
              .enabled(if: Prerequisites.available(.root, .netns, .nmbd, .tcpdump, test: "nmbd announcement")), .timeLimit(.minutes(1)))
        func nmbdHostAnnouncementReachesOurBrowseListener() async throws {
            try Prerequisites.require(.root, .netns, .nmbd, .tcpdump)
            let (lab, n, m) = try await Self.makeLab("nmbd-announce", subnet: "10.72.0")
            defer { lab.shutdown() }
            let capture = try await lab.startCapture(m, filter: "udp port 138", name: "announce")
            let gateway = try await lab.startGateway(m, extra: ["--accept-any-name"])
            let browse = try await lab.startListener(m, #"\\.\mailslot\browse"#)
            let nmbd = try Self.startNmbd(lab, n)

            // HostAnnouncement: opcode 0x01, update count, periodicity (4), then the server name (16, NUL-padded).
            let announcement = await Listener.waitFor(browse, timeout: 20) { message in
                message.data.count >= 22 && message.data[0] == 0x01
                    && String(decoding: message.data[6..<22].prefix { $0 != 0 }, as: UTF8.self) == Self.nmbdName
            }
            try #require(announcement != nil, "no HostAnnouncement from \(Self.nmbdName) reached \\\\.\\mailslot\\browse within 20 s; got \(Listener.messages(browse))\n\(gateway.tail())\n\(nmbd.tail(40))")
            let stats = try await lab.stats(m)
            #expect(stats.delivered >= 1, "\(stats)")

            // On the wire it was a DIRECT_GROUP broadcast to MSTEST<1d>, a name mailslotd does not own: the
            // delivered bytes are exactly the datagram's data.
            _ = await Wait.until(timeout: 5) { !capture.packetsSoFar().isEmpty }
            let packets = try capture.stop()
            let announcements = packets.filter { $0.sourceAddress == n.address }.compactMap { NetBIOSWire.datagram($0.payload) }
                .filter { $0.data?.first == 0x01 }
            let first = try #require(announcements.first, "no HostAnnouncement from nmbd in the capture: \(packets)")
            #expect(first.type == 0x11)
            #expect(first.destination == TestNetBIOSName(name: Self.workgroup, suffix: 0x1D))
            #expect(first.source == TestNetBIOSName(name: Self.nmbdName, suffix: 0x00))
            #expect(first.mailslotName?.uppercased() == #"\MAILSLOT\BROWSE"#)
            #expect(packets.contains { $0.sourceAddress == n.address && $0.destinationAddress == n.broadcast })
            #expect(announcements.contains { $0.data == announcement?.data }, "the delivered message differs from every announcement on the wire")
        }

        @Test("A write to \\\\NMBDHOST\\mailslot\\probe\\test is resolved by nmbd's NetBIOS name answer and parsed by nmbd",
              .enabled(if: Prerequisites.available(.root, .netns, .nmbd, .tcpdump, test: "write to nmbd")), .timeLimit(.minutes(1)))
        func aWriteToNmbdIsResolvedByNameQueryAndParsedByNmbd() async throws {
            try Prerequisites.require(.root, .netns, .nmbd, .tcpdump)
            let (lab, n, m) = try await Self.makeLab("nmbd-probe", subnet: "10.72.1")
            defer { lab.shutdown() }
            // Our host knows no NMBDHOST: not in its /etc/hosts, no DNS (its resolver is its own loopback).
            let lookup = try await lab.exec(m, ["getent", "hosts", Self.nmbdName])
            #expect(lookup.status != 0, "NMBDHOST resolves without NetBIOS: \(lookup)")

            let nmbd = try Self.startNmbd(lab, n)
            // nmbd accepts unique datagrams only for names it has finished registering.
            let registered = await Wait.line(in: nmbd.stdoutPath, timeout: 30, stopIf: nmbd) {
                $0.contains("register_name_timeout_response: success in registering name \(Self.nmbdName)<00>")
            }
            try #require(registered != nil, "nmbd did not register \(Self.nmbdName)<00> within 30 s\n\(nmbd.tail(40))")

            let capture = try await lab.startCapture(m, filter: "udp port 137 or udp port 138", name: "probe")
            let message = "probe from mailslot \(getpid())-\(lab.number)"
            let sent = try await lab.send(m, #"\\NMBDHOST\mailslot\probe\test"#, [message])
            #expect(sent.status == 0, "mailslot send failed: \(sent)")

            // (b) nmbd's own parser: names, source address, mailslot name, first data byte and DataCount.
            let expected = "process_dgram: datagram from \(Self.ourName)<00> to \(Self.nmbdName)<00> IP \(m.address) "
                + #"for \MAILSLOT\probe\test of type \#(message.utf8.first!) len=\#(message.utf8.count)"#
            let logged = await Wait.line(in: nmbd.stdoutPath, timeout: 10, stopIf: nmbd) { $0.lowercased().contains(expected.lowercased()) }
            let seen = nmbd.stdout.split(separator: "\n").filter { $0.contains("process_dgram") || $0.contains("ignoring dgram") }
            #expect(logged != nil, "nmbd did not log '\(expected)' within 10 s; its datagram lines: \(seen)")

            // (c) the address came from a NetBIOS name query that nmbd answered.
            _ = await Wait.until(timeout: 5) { capture.packetsSoFar().contains { $0.destinationPort == 138 } }
            let packets = try capture.stop()
            let queryIndex = packets.firstIndex { p in
                guard p.sourceAddress == m.address, p.destinationPort == 137, let ns = NetBIOSWire.nameService(p.payload) else { return false }
                return !ns.isResponse && ns.opcode == 0 && ns.question == TestNetBIOSName(name: Self.nmbdName, suffix: 0)
            }
            let query = try #require(queryIndex.map { packets[$0] }, "no name query for \(Self.nmbdName)<00> from our host: \(packets)")
            let queryPacket = NetBIOSWire.nameService(query.payload)!
            #expect(query.destinationAddress == m.broadcast, "the name query went to \(query.destinationAddress)")
            #expect(queryPacket.isBroadcast, "the broadcast query lacks the B flag")
            let responseIndex = packets.firstIndex { p in
                guard p.sourceAddress == n.address, p.sourcePort == 137, p.destinationAddress == m.address,
                      p.destinationPort == query.sourcePort, let ns = NetBIOSWire.nameService(p.payload) else { return false }
                return ns.isResponse && ns.transactionID == queryPacket.transactionID
            }
            let response = try #require(responseIndex.map { packets[$0] }, "nmbd's answer to our name query is not in the capture: \(packets)")
            let answer = NetBIOSWire.nameService(response.payload)!
            #expect(answer.rcode == 0 && answer.answer == TestNetBIOSName(name: Self.nmbdName, suffix: 0))
            #expect(answer.answerAddresses == [n.address])
            let datagramIndex = packets.firstIndex { $0.sourceAddress == m.address && $0.destinationAddress == n.address && $0.destinationPort == 138 }
            let datagram = try #require(datagramIndex.map { packets[$0] }.flatMap { NetBIOSWire.datagram($0.payload) },
                                        "our datagram to \(n.address):138 is not in the capture: \(packets)")
            #expect(queryIndex! < responseIndex! && responseIndex! < datagramIndex!, "query, answer and datagram out of order")
            #expect(datagram.type == 0x10)
            #expect(datagram.source == TestNetBIOSName(name: Self.ourName, suffix: 0))
            #expect(datagram.destination == TestNetBIOSName(name: Self.nmbdName, suffix: 0))
            #expect(datagram.sourceIP == m.address)
            #expect(datagram.mailslotName?.lowercased() == #"\mailslot\probe\test"#)
            #expect(datagram.data == Array(message.utf8))
        }
    }
}
