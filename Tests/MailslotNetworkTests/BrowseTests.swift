import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `mailslot browse` on a third host of a LAN where two Samba nmbd hosts announce themselves.
extension NetworkTests {
    @Suite("mailslot browse with nmbd peers")
    struct Browse {
        static let workgroup = "MSTEST"

        /// NMBDA: preferred master with a high os level, so it wins the election quickly; a time server
        /// (SV_TYPE_TIME_SOURCE). Samba 4.17 announces OS version 6.1 whatever smb.conf says ("announce
        /// version" is gone).
        static let peerA: [(key: String, value: String)] = [
            ("server string", "browse peer A"), ("time server", "yes"), ("preferred master", "yes"), ("os level", "65"),
        ]
        static let typesA: (with: Set<String>, without: Set<String>) = (["SV_TYPE_TIME_SOURCE", "SV_TYPE_DFS"], [])
        /// NMBDB: no MS-DFS, so no SV_TYPE_DFS.
        static let peerB: [(key: String, value: String)] = [("server string", "browse peer B"), ("host msdfs", "no")]
        static let typesB: (with: Set<String>, without: Set<String>) = ([], ["SV_TYPE_TIME_SOURCE", "SV_TYPE_DFS"])

        /// What nmbd announces for a standalone server, whatever its role.
        static let sambaTypes: Set<String> = ["SV_TYPE_WORKSTATION", "SV_TYPE_SERVER", "SV_TYPE_PRINTQ_SERVER", "SV_TYPE_SERVER_UNIX",
                                              "SV_TYPE_NT", "SV_TYPE_SERVER_NT"]

        static func checkPeer(_ host: [String: Any]?, name: String, comment: String, address: String?, workgroup: String?,
                              types: (with: Set<String>, without: Set<String>), sourceLocation: SourceLocation = #_sourceLocation) {
            guard let host else {
                Issue.record("no state for \(name)", sourceLocation: sourceLocation)
                return
            }
            #expect(host["name"] as? String == name, sourceLocation: sourceLocation)
            #expect(host["os_version"] as? String == "6.1" && host["os_major"] as? Int == 6 && host["os_minor"] as? Int == 1,
                    "\(host)", sourceLocation: sourceLocation)
            #expect(host["comment"] as? String == comment, "\(host)", sourceLocation: sourceLocation)
            #expect(host["workgroup"] as? String == workgroup, "\(host)", sourceLocation: sourceLocation)
            #expect(host["address"] as? String == address, "\(host)", sourceLocation: sourceLocation)
            let announced = Set(host["server_types"] as? [String] ?? [])
            #expect(sambaTypes.union(types.with).isSubset(of: announced), "\(announced)", sourceLocation: sourceLocation)
            #expect(types.without.isDisjoint(with: announced), "\(announced)", sourceLocation: sourceLocation)
            #expect((host["periodicity_ms"] as? Int ?? 0) >= 60_000, "\(host)", sourceLocation: sourceLocation)
        }

        @Test("On its own UDP socket: both nmbd hosts appear with their names, workgroup, types, OS and comment; NMBDA becomes master; a stopped host leaves",
              .enabled(if: Prerequisites.available(.root, .netns, .nmbd, test: "browse over UDP")), .timeLimit(.minutes(4)))
        func browseOverUDP() async throws {
            try Prerequisites.require(.root, .netns, .nmbd)
            let started = Date()
            let lab = try Lab(tag: "browse-udp", subnet: "10.73.0")
            defer { lab.shutdown() }
            let a = try await lab.addHost("a", octet: 1, computerName: "NMBDA", workgroup: Self.workgroup)
            let b = try await lab.addHost("b", octet: 2, computerName: "NMBDB", workgroup: Self.workgroup)
            let c = try await lab.addHost("c", octet: 3, computerName: "OBSERVER", workgroup: Self.workgroup)
            let watch = try await lab.startBrowse(c, ["--watch", "--json", "--source", "udp", "--timeout", "80000"])
            // One peer at a time: two nmbds starting together on a loaded machine sometimes left the first one
            // silent for over a minute while the second took the election.
            let nmbdA = try lab.startNmbdPeer(a, settings: Self.peerA)
            var nmbdB: Child?

            // Their start-up HostAnnouncements (to MSTEST<1d>) usually arrive within seconds. A host busy with
            // its election may hold its first one back; then the workgroup is asked to announce itself (an
            // AnnouncementRequest to MSTEST<00>, as mailslot browse sends at its start, before the peers ran).
            let request = lab.directory + "/announcement-request"
            try Data([0x02, 0x00] + Array("OBSERVER".utf8) + [0]).write(to: URL(fileURLWithPath: request))
            for name in ["NMBDA", "NMBDB"] {
                if name == "NMBDB" { nmbdB = try lab.startNmbdPeer(b, settings: Self.peerB) }
                var added = await BrowseOutput.waitFor(watch, timeout: 20) { BrowseOutput.isHostEvent($0, "host_added", name) }
                if added == nil {
                    _ = try await lab.exec(c, [try Products.mailslot(), "send", #"\\MSTEST\mailslot\browse"#, "--file", request,
                                               "--workgroup", Self.workgroup], timeout: 20)
                    added = await BrowseOutput.waitFor(watch, timeout: 40) { BrowseOutput.isHostEvent($0, "host_added", name) }
                }
                try #require(added != nil, "no host_added for \(name) within 60 s: \(BrowseOutput.summary(watch))\n\(watch.tail())\n\(nmbdA.tail(10))")
            }
            Self.checkPeer(BrowseOutput.latestHost(watch, "NMBDA"), name: "NMBDA", comment: "browse peer A",
                           address: a.address, workgroup: Self.workgroup, types: Self.typesA)
            Self.checkPeer(BrowseOutput.latestHost(watch, "NMBDB"), name: "NMBDB", comment: "browse peer B",
                           address: b.address, workgroup: Self.workgroup, types: Self.typesB)
            #expect(BrowseOutput.objects(watch).contains { $0["event"] as? String == "workgroup_added"
                && ($0["workgroup"] as? [String: Any])?["name"] as? String == Self.workgroup })

            // NMBDA, the preferred master, wins the election and announces itself as local master browser.
            let master = await BrowseOutput.waitFor(watch, timeout: 90) {
                $0["event"] as? String == "master_changed" && $0["workgroup"] as? String == Self.workgroup && $0["to"] as? String == "NMBDA"
            }
            try #require(master != nil, "NMBDA did not become master browser of MSTEST within 90 s: \(BrowseOutput.summary(watch))\n\(nmbdA.tail(20))")
            #expect(BrowseOutput.latestHost(watch, "NMBDA")?["master_browser"] as? Bool == true)
            #expect(BrowseOutput.latestHost(watch, "NMBDB")?["master_browser"] as? Bool == false)

            // Stopped with SIGTERM, NMBDB announces server type 0 and disappears at once.
            nmbdB?.stop(signal: SIGTERM, grace: 10)
            let left = await BrowseOutput.waitFor(watch, timeout: 10) { BrowseOutput.isHostEvent($0, "host_left", "NMBDB") }
            #expect(left != nil, "NMBDB did not leave within 10 s of SIGTERM: \(BrowseOutput.summary(watch))")
            watch.stop(signal: SIGTERM, grace: 5)

            // A one-shot run asks MSTEST to announce (AnnouncementRequest to MSTEST<00>) and prints one object.
            let shot = try await lab.exec(c, [try Products.mailslot(), "browse", "--json", "--timeout", "5000"], timeout: 30)
            #expect(shot.status == 0, "\(shot)")
            let summary = try #require(BrowseOutput.objects(shot.stdout).first, "no JSON from mailslot browse: \(shot)")
            #expect(summary["source"] as? String == "udp" && summary["port"] as? Int == 138)
            let hosts = summary["hosts"] as? [[String: Any]] ?? []
            #expect(hosts.map { $0["name"] as? String } == ["NMBDA"], "NMBDB stopped, NMBDA answers the request: \(hosts)")
            Self.checkPeer(hosts.first, name: "NMBDA", comment: "browse peer A", address: a.address, workgroup: Self.workgroup,
                           types: Self.typesA)
            #expect(hosts.first?["master_browser"] as? Bool == true, "\(hosts)")
            let groups = summary["workgroups"] as? [[String: Any]] ?? []
            #expect(groups.contains { $0["name"] as? String == Self.workgroup && $0["master_browser"] as? String == "NMBDA" }, "\(groups)")
            print("browse over UDP: \(Int(Date().timeIntervalSince(started))) s")
        }

        /// A HostAnnouncement ([MS-BRWS] 2.2.1) written by hand: SHORTLIVED, every 2 s, OS 5.1, workstation + server.
        static let shortLivedAnnouncement: [UInt8] = {
            var frame: [UInt8] = [0x01, 0x00, 0xD0, 0x07, 0x00, 0x00] // HostAnnouncement, update count, 2000 ms
            frame += Array("SHORTLIVED".utf8) + [UInt8](repeating: 0, count: 6) // 16-byte name field
            frame += [0x05, 0x01, 0x03, 0x00, 0x00, 0x00, 0x0F, 0x01, 0x55, 0xAA] // OS 5.1, type 3, browser 15.1, 0xAA55
            return frame + Array("expires in 6 s".utf8) + [0]
        }()

        /// A DomainAnnouncement ([MS-BRWS] 2.2.7) by hand: MSTEST, master browser NMBDA, every minute.
        static let domainAnnouncement: [UInt8] = {
            var frame: [UInt8] = [0x0C, 0x00, 0x60, 0xEA, 0x00, 0x00]
            frame += Array("MSTEST".utf8) + [UInt8](repeating: 0, count: 10)
            frame += [0x06, 0x01, 0x00, 0x10, 0x00, 0x80, 0x0F, 0x01, 0x55, 0xAA] // DOMAIN_ENUM | NT
            return frame + Array("NMBDA".utf8) + [0]
        }()

        @Test("Through mailslotd --accept-any-name: nmbd's host appears on \\\\.\\mailslot\\browse, a 2 s announcement expires after 6 s, a DomainAnnouncement tells the workgroup, SIGTERM removes the host",
              .enabled(if: Prerequisites.available(.root, .netns, .nmbd, test: "browse through mailslotd")), .timeLimit(.minutes(2)))
        func browseThroughMailslotd() async throws {
            try Prerequisites.require(.root, .netns, .nmbd)
            let started = Date()
            let lab = try Lab(tag: "browse-mailslot", subnet: "10.73.1")
            defer { lab.shutdown() }
            let a = try await lab.addHost("a", octet: 1, computerName: "NMBDA", workgroup: Self.workgroup)
            let b = try await lab.addHost("b", octet: 2, computerName: "SENDER", workgroup: Self.workgroup)
            let c = try await lab.addHost("c", octet: 3, computerName: "OBSERVER", workgroup: Self.workgroup)
            let gateway = try await lab.startGateway(c, extra: ["--accept-any-name"])
            // UDP 138 belongs to mailslotd, so --source auto picks the mailslots.
            let watch = try await lab.startBrowse(c, ["--watch", "--json", "--timeout", "70000", "--source", "mailslot"])
            let nmbdA = try lab.startNmbdPeer(a, settings: Self.peerA)

            let added = await BrowseOutput.waitFor(watch, timeout: 20) { BrowseOutput.isHostEvent($0, "host_added", "NMBDA") }
            try #require(added != nil, "no host_added for NMBDA within 20 s: \(BrowseOutput.summary(watch))\n\(watch.tail())\n\(gateway.tail())")
            // A mailslot message has no NetBIOS header: no workgroup, no address (yet).
            Self.checkPeer(BrowseOutput.latestHost(watch, "NMBDA"), name: "NMBDA", comment: "browse peer A",
                           address: nil, workgroup: nil, types: Self.typesA)
            #expect((BrowseOutput.latestHost(watch, "NMBDA")?["mailslot"] as? String) == #"\MAILSLOT\BROWSE"#)

            // Expiry over the real path: 3 x 2000 ms after its only announcement, SHORTLIVED is gone.
            let file = "\(lab.directory)/shortlived.bin"
            try Data(Self.shortLivedAnnouncement).write(to: URL(fileURLWithPath: file))
            let sent = try await lab.send(b, #"\\MSTEST\mailslot\browse"#, [], extraArguments: ["--file", file])
            #expect(sent.status == 0, "\(sent)")
            let short = await BrowseOutput.waitFor(watch, timeout: 10) { BrowseOutput.isHostEvent($0, "host_added", "SHORTLIVED") }
            try #require(short != nil, "SHORTLIVED did not appear: \(BrowseOutput.summary(watch))")
            let addedAt = Date()
            #expect((short?["host"] as? [String: Any])?["periodicity_ms"] as? Int == 2000)
            #expect((short?["host"] as? [String: Any])?["os_version"] as? String == "5.1")
            #expect((short?["host"] as? [String: Any])?["server_types"] as? [String] == ["SV_TYPE_WORKSTATION", "SV_TYPE_SERVER"])
            let expired = await BrowseOutput.waitFor(watch, timeout: 15) { BrowseOutput.isHostEvent($0, "host_expired", "SHORTLIVED") }
            let after = Date().timeIntervalSince(addedAt)
            #expect(expired != nil, "SHORTLIVED did not expire within 15 s: \(BrowseOutput.summary(watch))")
            #expect(after >= 5.5 && after < 9, "SHORTLIVED expired after \(after) s, expected 6 s")

            // A DomainAnnouncement naming NMBDA master of MSTEST gives the host its workgroup.
            let domainFile = "\(lab.directory)/domain.bin"
            try Data(Self.domainAnnouncement).write(to: URL(fileURLWithPath: domainFile))
            let sentDomain = try await lab.send(b, #"\\MSTEST\mailslot\browse"#, [], extraArguments: ["--file", domainFile])
            #expect(sentDomain.status == 0, "\(sentDomain)")
            let master = await BrowseOutput.waitFor(watch, timeout: 10) {
                $0["event"] as? String == "master_changed" && $0["workgroup"] as? String == Self.workgroup && $0["to"] as? String == "NMBDA"
            }
            #expect(master != nil, "no master_changed to NMBDA: \(BrowseOutput.summary(watch))")
            _ = await Wait.until(timeout: 5) { BrowseOutput.latestHost(watch, "NMBDA")?["workgroup"] as? String == Self.workgroup }
            #expect(BrowseOutput.latestHost(watch, "NMBDA")?["workgroup"] as? String == Self.workgroup)
            #expect(BrowseOutput.latestHost(watch, "NMBDA")?["master_browser"] as? Bool == true)

            // SIGTERM: nmbd's shutdown announcement removes the host.
            nmbdA.stop(signal: SIGTERM, grace: 10)
            let left = await BrowseOutput.waitFor(watch, timeout: 10) { BrowseOutput.isHostEvent($0, "host_left", "NMBDA") }
            #expect(left != nil, "NMBDA did not leave within 10 s of SIGTERM: \(BrowseOutput.summary(watch))")
            let stats = try await lab.stats(c)
            #expect(stats.delivered >= 3, "\(stats)")
            print("browse through mailslotd: \(Int(Date().timeIntervalSince(started))) s")
        }
    }
}
