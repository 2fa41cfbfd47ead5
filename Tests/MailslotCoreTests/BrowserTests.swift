import Foundation
import MailslotCore
import MailslotTestSupport
import Testing

/// The browser vectors with their capture times (index.tsv's time_s), in capture order.
private struct BrowserVector: CustomStringConvertible {
    var vector: WireVector
    var time: BrowseInstant
    var description: String { vector.file }
}

private func browserVectors() throws -> [BrowserVector] {
    let text = try String(contentsOf: try WireFixtures.vectorsDirectory().appendingPathComponent("index.tsv"), encoding: .utf8)
    let rows = text.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    guard let header = rows.first, let fileColumn = header.firstIndex(of: "file"), let timeColumn = header.firstIndex(of: "time_s") else {
        throw WireFixtures.FixtureError.missing("index.tsv columns file and time_s")
    }
    var times: [String: BrowseInstant] = [:]
    for row in rows.dropFirst() where row.count == header.count {
        guard let seconds = Double(row[timeColumn]) else { throw WireFixtures.FixtureError.missing("time_s in \(row)") }
        times[row[fileColumn]] = BrowseInstant(milliseconds: UInt64((seconds * 1000).rounded()))
    }
    return try WireFixtures.goodVectors().filter { $0.firstDataByte != nil && $0.mailslot == #"\MAILSLOT\BROWSE"# }.map { vector in
        guard let time = times[vector.file] else { throw WireFixtures.FixtureError.missing("time of \(vector.file)") }
        return BrowserVector(vector: vector, time: time)
    }
}

private func frame(_ vector: WireVector) throws -> BrowserFrame {
    try BrowserFrame.decode(datagram: try wireDecodeMailslot(vector.bytes))
}

private func frame(named prefix: String) throws -> BrowserFrame {
    let vector = try #require(try WireFixtures.goodVectors().first { $0.file.hasPrefix(prefix) }, "no vector \(prefix)")
    return try frame(vector)
}

private func data(named prefix: String) throws -> [UInt8] {
    let vector = try #require(try WireFixtures.goodVectors().first { $0.file.hasPrefix(prefix) }, "no vector \(prefix)")
    return try wireDecodeMailslot(vector.bytes).data
}

private func decodeError(_ bytes: [UInt8], _ mailslot: BrowserMailslot = .browse) -> BrowserDecodeError? {
    do {
        _ = try BrowserFrame.decode(bytes, mailslot: mailslot)
        return nil
    } catch {
        return error
    }
}

/// The bits Samba's nmbd announces for a standalone server that may become browser (0x00819a03).
private let sambaServerType: BrowserServerType = [.workstation, .server, .printQueueServer, .unixServer, .nt, .ntServer,
                                                   .potentialBrowser, .dfs]

@Suite("Browser protocol: frames from real nmbd datagrams")
struct BrowserFrameTests {
    @Test("Every browser datagram among the vectors decodes to the frame its first data byte names")
    func everyVectorDecodes() throws {
        let vectors = try browserVectors()
        #expect(vectors.count == 34, "expected the 34 \\MAILSLOT\\BROWSE vectors, got \(vectors.count)")
        var seen: Set<BrowserOpcode> = []
        for v in vectors {
            let decoded = try frame(v.vector)
            #expect(decoded.opcode.rawValue == v.vector.firstDataByte, "\(v)")
            seen.insert(decoded.opcode)
            #expect(decoded.describe().count > 3, "\(v)")
            #expect(!decoded.summary.isEmpty)
        }
        #expect(seen == [.hostAnnouncement, .announcementRequest, .requestElection, .getBackupListRequest, .getBackupListResponse,
                         .domainAnnouncement, .localMasterAnnouncement])
    }

    @Test("HostAnnouncement of NMBDA: name, 1-minute periodicity, OS 6.1, Samba's server type, comment, version, signature")
    func hostAnnouncementNMBDA() throws {
        guard case .hostAnnouncement(let a) = try frame(named: "f006") else { Issue.record("not a HostAnnouncement"); return }
        #expect(a.layout == .browser)
        #expect(a.serverName == "NMBDA")
        #expect(a.periodicity == 60_000)
        #expect(a.osVersion == BrowserVersionNumber(major: 6, minor: 1))
        #expect(a.serverType.rawValue == 0x0081_9A03)
        #expect(a.serverType == sambaServerType)
        #expect(a.serverType.names == ["SV_TYPE_WORKSTATION", "SV_TYPE_SERVER", "SV_TYPE_PRINTQ_SERVER", "SV_TYPE_SERVER_UNIX",
                                       "SV_TYPE_NT", "SV_TYPE_SERVER_NT", "SV_TYPE_POTENTIAL_BROWSER", "SV_TYPE_DFS"])
        #expect(a.browserVersion == BrowserVersionNumber(major: 15, minor: 1))
        #expect(a.signature == 0xAA55)
        #expect(a.comment == "mailslot research A")
        #expect(!a.isShutdown)
    }

    @Test("NMBDB's announcements: growing periodicity (1, 2, 3 min), then the shutdown announcement (type 0, period 0)")
    func nmbdbAnnouncements() throws {
        var periods: [UInt32] = []
        for prefix in ["f015", "f067", "f068"] {
            guard case .hostAnnouncement(let a) = try frame(named: prefix) else { Issue.record("\(prefix)"); continue }
            #expect(a.serverName == "NMBDB")
            #expect(a.comment == "mailslot research B")
            #expect(a.serverType == sambaServerType)
            periods.append(a.periodicity)
        }
        #expect(periods == [60_000, 120_000, 180_000])
        guard case .hostAnnouncement(let down) = try frame(named: "f071") else { Issue.record("f071"); return }
        #expect(down.serverName == "NMBDB" && down.isShutdown && down.periodicity == 0 && down.serverType.rawValue == 0)
        #expect(down.serverType.description == "0x00000000 (none)")
    }

    @Test("The test script's HostAnnouncement: FAKEHOST, 12 minutes, workstation + server + NT")
    func scriptedAnnouncement() throws {
        guard case .hostAnnouncement(let a) = try frame(named: "f069") else { Issue.record("f069"); return }
        #expect(a.serverName == "FAKEHOST")
        #expect(a.periodicity == 720_000)
        #expect(a.serverType == [.workstation, .server, .nt])
        #expect(a.comment == "hello from research")
    }

    @Test("LocalMasterAnnouncement: NMBDA with SV_TYPE_MASTER_BROWSER; its shutdown has type 0")
    func localMasterAnnouncement() throws {
        guard case .localMasterAnnouncement(let a) = try frame(named: "f065") else { Issue.record("f065"); return }
        #expect(a.serverName == "NMBDA")
        #expect(a.serverType.rawValue == 0x0084_9A03)
        // The master bit replaces the potential-browser bit of its HostAnnouncements.
        #expect(a.serverType == sambaServerType.subtracting(.potentialBrowser).union(.masterBrowser))
        #expect(a.periodicity == 120_000)
        #expect(a.comment == "mailslot research A")
        guard case .localMasterAnnouncement(let down) = try frame(named: "f099") else { Issue.record("f099"); return }
        #expect(down.isShutdown)
    }

    @Test("DomainAnnouncement: workgroup MSTEST, master browser NMBDA, SV_TYPE_DOMAIN_ENUM | SV_TYPE_NT")
    func domainAnnouncement() throws {
        guard case .domainAnnouncement(let d) = try frame(named: "f066") else { Issue.record("f066"); return }
        #expect(d.machineGroup == "MSTEST")
        #expect(d.localMasterBrowserName == "NMBDA")
        #expect(d.serverType == [.domainEnum, .nt])
        #expect(d.browserConfigVersion == BrowserVersionNumber(major: 6, minor: 1))
        #expect(d.browserVersion == BrowserVersionNumber(major: 15, minor: 1) && d.signature == 0xAA55)
        #expect(d.periodicity == 120_000)
    }

    @Test("RequestElection: criteria os level 65, browser 15.1, desire; uptime in milliseconds; the server name")
    func requestElection() throws {
        guard case .requestElection(let e) = try frame(named: "f051") else { Issue.record("f051"); return }
        #expect(e.version == 1)
        #expect(e.criteria.rawValue == 0x4101_0F0A)
        #expect(e.criteria.os == 65 && e.criteria.osName == nil)
        #expect(e.criteria.browserVersion == BrowserVersionNumber(major: 15, minor: 1))
        #expect(e.criteria.desire == [.standby, .preferredMaster])
        #expect(e.uptime == 6000)
        #expect(e.serverName == "NMBDA")
        // The 5 RequestElections of the first burst are 2 s apart: uptime is in milliseconds.
        var uptimes: [UInt32] = []
        for prefix in ["f051", "f052", "f053", "f054", "f055"] {
            if case .requestElection(let r) = try frame(named: prefix) { uptimes.append(r.uptime) }
        }
        #expect(uptimes == [6000, 8000, 10_000, 12_000, 14_000])
        // Once master, the criteria say so.
        guard case .requestElection(let later) = try frame(named: "f082") else { Issue.record("f082"); return }
        #expect(later.criteria.desire == [.backup, .standby, .master, .preferredMaster])
        #expect(BrowserElectionCriteria(rawValue: 0x2000_0000).osName == "NT_SERVER")
    }

    @Test("AnnouncementRequest: Samba's layout (name after an empty string) and the plain one")
    func announcementRequests() throws {
        guard case .announcementRequest(let samba) = try frame(named: "f064") else { Issue.record("f064"); return }
        #expect(samba.responseName == "NMBDA" && samba.responseNameAfterEmptyString && samba.reserved == 1)
        guard case .announcementRequest(let plain) = try frame(named: "f077") else { Issue.record("f077"); return }
        #expect(plain.responseName == "PROBE" && !plain.responseNameAfterEmptyString && plain.reserved == 0)
    }

    @Test("GetBackupListRequest and its response: count, token echoed, the backup server NMBDA")
    func backupList() throws {
        guard case .getBackupListRequest(let request) = try frame(named: "f072") else { Issue.record("f072"); return }
        #expect(request.requestedCount == 4 && request.token == 0x1234_5678)
        guard case .getBackupListResponse(let response) = try frame(named: "f073") else { Issue.record("f073"); return }
        #expect(response.backupServerCount == 1 && response.token == 0x1234_5678 && response.backupServers == ["NMBDA"])
    }

    @Test("describe() names the opcode and every field, with one line per server type bit")
    func describeLines() throws {
        let lines = try frame(named: "f006").describe()
        #expect(lines.first == #"Browser frame (\MAILSLOT\BROWSE)"#)
        for expected in ["0x01 HostAnnouncement", "60000 ms (1 min)", "\"NMBDA\"", "6.1", "0x00819a03", "SV_TYPE_POTENTIAL_BROWSER (0x00010000)",
                         "15.1", "0xaa55", "\"mailslot research A\""] {
            #expect(lines.contains { $0.contains(expected) }, "no line with \(expected): \(lines)")
        }
        let election = try frame(named: "f051").describe()
        #expect(election.contains { $0.contains("0x41010f0a") })
        #expect(election.contains { $0.contains("os level 65") })
        #expect(election.contains { $0.contains("desire 0x0a (STANDBY, PREFERRED_MASTER)") })
        // The datagram's description carries the frame after the mailslot fields.
        let datagram = try decodeDatagram(try WireFixtures.goodVectors().first { $0.file.hasPrefix("f066") }!.bytes).describe()
        let start = try #require(datagram.firstIndex { $0.hasPrefix("Browser frame") })
        #expect(datagram[start...].contains { $0.contains("0x0c DomainAnnouncement") })
        #expect(datagram[start...].contains { $0.contains("LocalMasterBrowser") && $0.contains("NMBDA") })
        // Other mailslots get no browser section.
        let other = try decodeDatagram(try WireFixtures.goodVectors().first { $0.file.hasPrefix("f070") }!.bytes).describe()
        #expect(!other.contains { $0.hasPrefix("Browser frame") })
    }

    @Test("The other opcodes: BecomeBackup, MasterAnnouncement, ResetStateRequest")
    func otherOpcodes() throws {
        #expect(try BrowserFrame.decode([0x0B] + Array("NMBDB".utf8) + [0]) == .becomeBackup(BrowserBecomeBackup(browserToPromote: "NMBDB")))
        #expect(try BrowserFrame.decode([0x0D] + Array("LMB".utf8) + [0])
            == .masterAnnouncement(BrowserMasterAnnouncement(masterBrowserServerName: "LMB")))
        guard case .resetStateRequest(let reset) = try BrowserFrame.decode([0x0E, 0x03]) else { Issue.record("reset"); return }
        #expect(reset.type == [.stopMaster, .clearAll])
        #expect(reset.type.names == ["RESET_STATE_STOP_MASTER", "RESET_STATE_CLEAR_ALL"])
        #expect(BrowserFrame.resetStateRequest(reset).describe().contains { $0.contains("RESET_STATE_CLEAR_ALL") })
    }

    @Test("\\MAILSLOT\\LANMAN: Samba's LAN Manager layout, and an MS-BRWS announcement sent there")
    func lanman() throws {
        // Samba's send_lm_announcement: type, update count, server type, OS major/minor, period in s, name, comment.
        var lm: [UInt8] = [0x01, 0x00, 0x03, 0x9A, 0x81, 0x00, 0x06, 0x01, 0x3C, 0x00]
        lm += Array("NMBDA".utf8) + [0] + Array("MAILSLOT NETWORK TEST PEER".utf8) + [0]
        guard case .hostAnnouncement(let a) = try BrowserFrame.decode(lm, mailslot: .lanman) else { Issue.record("lm"); return }
        #expect(a.layout == .lanManager && a.serverName == "NMBDA" && a.periodicity == 60_000)
        #expect(a.serverType == sambaServerType && a.osVersion.description == "6.1" && a.browserVersion == nil && a.signature == nil)
        #expect(a.comment == "MAILSLOT NETWORK TEST PEER")
        // On \MAILSLOT\BROWSE the mailslot decides: the MS-BRWS layout (here: nonsense, but no trap); too short fails.
        #expect(try BrowserFrame.decode(lm, mailslot: .browse).hostAnnouncement?.layout == .browser)
        #expect(decodeError(Array(lm.prefix(30)), .browse)?.reason == "truncated")
        // An MS-BRWS HostAnnouncement on \MAILSLOT\LANMAN keeps its layout (recognised by the signature).
        let browse = try data(named: "f006")
        guard case .hostAnnouncement(let b) = try BrowserFrame.decode(browse, mailslot: .lanman) else { Issue.record("browse"); return }
        #expect(b.layout == .browser && b.serverName == "NMBDA" && b.periodicity == 60_000)
        #expect(BrowserMailslot(mailslotName: #"\mailslot\LanMan"#) == .lanman)
        #expect(BrowserMailslot(mailslotName: #"\MAILSLOT\NET\NETLOGON"#) == nil)
    }
}

@Suite("Browser protocol: malformed frames are rejected with a reason, never a trap")
struct BrowserRejectionTests {
    @Test("Specific reasons for specific faults")
    func reasons() throws {
        #expect(decodeError([]) == .emptyFrame)
        #expect(decodeError([0x03]) == .unknownOpcode(0x03))
        #expect(decodeError([0x10, 0, 0]) == .unknownOpcode(0x10))
        var host = try data(named: "f006")
        #expect(decodeError(Array(host.prefix(20))) == .truncated(.hostAnnouncement, needed: 33, available: 20))
        // No NUL after the comment.
        #expect(decodeError(Array(host.dropLast())) == .stringNotTerminated(field: "Comment"))
        // A 16-byte name field without its NUL.
        for i in 6..<22 { host[i] = 0x41 }
        #expect(decodeError(host) == .stringNotTerminated(field: "ServerName"))
        // Variable-length names have at most 15 bytes.
        #expect(decodeError([0x0B] + Array(repeating: 0x41, count: 16) + [0]) == .nameTooLong(field: "BrowserToPromote", length: 16))
        #expect(decodeError([0x0B] + Array(repeating: 0x41, count: 15) + [0]) == nil)
        // Three backup servers declared, one present.
        #expect(decodeError([0x0A, 3, 1, 2, 3, 4] + Array("NMBDA".utf8) + [0]) == .backupListTruncated(declared: 3, found: 1))
        #expect(decodeError([0x09, 1, 2, 3]) == .truncated(.getBackupListRequest, needed: 6, available: 4))
        #expect(decodeError([0x08, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == .stringNotTerminated(field: "ServerName"))
        #expect(decodeError([0x0E]) == .truncated(.resetStateRequest, needed: 2, available: 1))
        // A datagram for another mailslot is not a browser frame.
        let other = try wireDecodeMailslot(try WireFixtures.goodVectors().first { $0.file.hasPrefix("f070") }!.bytes)
        #expect(throws: BrowserDecodeError.notBrowserMailslot(#"\MAILSLOT\RESEARCH\TEST"#)) { try BrowserFrame.decode(datagram: other) }
        // Reasons are snake_case and descriptions say what is wrong.
        for error in [BrowserDecodeError.emptyFrame, .unknownOpcode(3), .truncated(.becomeBackup, needed: 2, available: 1),
                      .stringNotTerminated(field: "Comment"), .nameTooLong(field: "ServerName", length: 20),
                      .backupListTruncated(declared: 2, found: 0), .notBrowserMailslot("x")] {
            #expect(error.reason.allSatisfy { $0.isLowercase || $0 == "_" }, "\(error.reason)")
            #expect(!error.description.isEmpty)
        }
    }

    @Test("Every truncation of every browser vector decodes or fails with a reason; the fixed part is required")
    func truncations() throws {
        for v in try browserVectors() {
            let bytes = try wireDecodeMailslot(v.vector.bytes).data
            for length in 0..<bytes.count {
                let prefix = Array(bytes.prefix(length))
                if let error = decodeError(prefix) {
                    #expect(!error.reason.isEmpty)
                } else {
                    // Only the AnnouncementRequest accepts a cut name (receivers ignore it); other frames end in a NUL.
                    #expect(v.vector.firstDataByte == 0x02, "\(v) accepted \(length) of \(bytes.count) bytes")
                }
            }
            #expect(decodeError(bytes) == nil, "\(v)")
        }
    }

    @Test("Random mutations of the vectors (fixed seed) never trap, on either mailslot")
    func mutations() throws {
        var random = SplitMix64(seed: 0x42524F57)
        let seeds = try browserVectors().map { try wireDecodeMailslot($0.vector.bytes).data }
        var accepted = 0, rejected = 0
        for _ in 0..<20_000 {
            var bytes = seeds[Int.random(in: 0..<seeds.count, using: &random)]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1 where !bytes.isEmpty: bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &random)...)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
                default: if !bytes.isEmpty { bytes[0] = [0x01, 0x02, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F].randomElement(using: &random)! }
                }
            }
            for mailslot in BrowserMailslot.allCases {
                do {
                    let frame = try BrowserFrame.decode(bytes, mailslot: mailslot)
                    _ = frame.describe(mailslot: mailslot)
                    _ = frame.summary
                    accepted += 1
                } catch {
                    #expect(!error.reason.isEmpty)
                    rejected += 1
                }
            }
        }
        #expect(accepted > 1000 && rejected > 1000, "accepted \(accepted), rejected \(rejected)")
    }
}

@Suite("Browse list: hosts, workgroups, master browsers and expiry on a fake clock")
struct BrowserListTests {
    static func host(_ name: String, period: UInt32 = 60_000, type: BrowserServerType = sambaServerType,
                     os: (UInt8, UInt8) = (6, 1), comment: String = "peer") -> BrowserHostAnnouncement {
        BrowserHostAnnouncement(periodicity: period, serverName: name, osVersion: BrowserVersionNumber(major: os.0, minor: os.1),
                                serverType: type, comment: comment)
    }

    static func at(_ seconds: Double) -> BrowseInstant { BrowseInstant(milliseconds: UInt64(seconds * 1000)) }

    @Test("Observations from whole datagrams: the workgroup comes from the destination name, the address from the header")
    func observationFromDatagram() throws {
        let vectors = try WireFixtures.goodVectors()
        let announce = try BrowseObservation(datagram: try wireDecodeMailslot(vectors.first { $0.file.hasPrefix("f006") }!.bytes))
        #expect(announce.workgroup == "MSTEST" && announce.sourceAddress?.description == "10.99.0.1" && announce.mailslot == .browse)
        let lma = try BrowseObservation(datagram: try wireDecodeMailslot(vectors.first { $0.file.hasPrefix("f065") }!.bytes))
        #expect(lma.workgroup == "MSTEST") // MSTEST<1e>
        let domain = try BrowseObservation(datagram: try wireDecodeMailslot(vectors.first { $0.file.hasPrefix("f066") }!.bytes))
        #expect(domain.workgroup == nil) // <01><02>__MSBROWSE__<02><01>
        let reply = try BrowseObservation(datagram: try wireDecodeMailslot(vectors.first { $0.file.hasPrefix("f073") }!.bytes))
        #expect(reply.workgroup == nil) // PROBE<00>, a unique name
    }

    @Test("Replaying the nmbd capture at its own times: both hosts appear, NMBDA becomes master, both leave when they stop")
    func replayCapture() throws {
        var list = BrowseList()
        var log: [(String, BrowseEvent)] = []
        for v in try browserVectors() {
            let observation = try BrowseObservation(datagram: try wireDecodeMailslot(v.vector.bytes))
            for event in list.observe(observation, at: v.time) { log.append((v.vector.file, event)) }
            if v.vector.file.hasPrefix("f068") {
                // Mid-capture: NMBDA, NMBDB (and the script's FAKEHOST later) in MSTEST, NMBDA its master browser.
                let a = try #require(list.host(named: "nmbda"))
                #expect(a.workgroup == "MSTEST" && a.isMasterBrowser && a.osVersion.description == "6.1")
                #expect(a.comment == "mailslot research A" && a.address?.description == "10.99.0.1")
                let b = try #require(list.host(named: "NMBDB"))
                #expect(b.workgroup == "MSTEST" && !b.isMasterBrowser && b.serverType == sambaServerType)
                #expect(b.periodicity == 180_000 && b.expires == v.time.adding(milliseconds: 540_000))
                #expect(list.workgroup(named: "MSTEST")?.masterBrowser == "NMBDA")
                #expect(list.workgroup(named: "MSTEST")?.hostCount == 2)
            }
        }
        let names = log.map { "\($0.0.prefix(4)) \($0.1.name)" }
        #expect(names.contains("f006 host_added") && names.contains("f006 workgroup_added") && names.contains("f015 host_added"))
        #expect(log.contains { if case .masterChanged("MSTEST", nil, "NMBDA") = $0.1 { $0.0.hasPrefix("f065") } else { false } })
        #expect(log.contains { if case .hostLeft(let h) = $0.1 { h.name == "NMBDB" && $0.0.hasPrefix("f071") } else { false } })
        #expect(log.contains { if case .hostLeft(let h) = $0.1 { h.name == "NMBDA" && $0.0.hasPrefix("f099") } else { false } })
        #expect(log.contains { if case .masterChanged("MSTEST", "NMBDA", nil) = $0.1 { $0.0.hasPrefix("f099") } else { false } })
        #expect(!log.contains { $0.1.name == "host_expired" }, "nothing expires within the capture: \(names)")
        // After the capture only the script's FAKEHOST (12-minute period) remains.
        #expect(list.hosts.map(\.name) == ["FAKEHOST"])
        // MSTEST's last DomainAnnouncement (t = 274.3 s, 4 min) keeps the workgroup until 3 x 4 min later.
        let group = try #require(list.workgroup(named: "MSTEST"))
        #expect(group.expires == Self.at(274.322).adding(milliseconds: 720_000))
        #expect(list.expire(at: Self.at(994.321)).isEmpty)
        let late = list.expire(at: Self.at(103.371 + 2160))
        #expect(late.contains { if case .hostExpired(let h) = $0 { h.name == "FAKEHOST" } else { false } })
        #expect(late.contains { if case .workgroupExpired(let g) = $0 { g.name == "MSTEST" } else { false } })
        #expect(list.hosts.isEmpty && list.workgroups.isEmpty && list.nextExpiry == nil)
    }

    @Test("A host expires exactly 3 x its periodicity after its last announcement; a new announcement extends it")
    func expiry() {
        var list = BrowseList()
        let events = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("alpha", period: 1000)), workgroup: "WG"), at: Self.at(10))
        #expect(events.map(\.name) == ["workgroup_added", "host_added"])
        #expect(list.nextExpiry == Self.at(13))
        #expect(list.expire(at: Self.at(12.999)).isEmpty)
        // Announced again at 12 s: now valid until 15 s.
        let refresh = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("ALPHA", period: 1000)), workgroup: "wg"), at: Self.at(12))
        #expect(refresh == [.hostUpdated(list.host(named: "ALPHA")!, changed: [])])
        #expect(list.host(named: "alpha")?.announcements == 2)
        #expect(list.expire(at: Self.at(14.999)).isEmpty)
        let gone = list.expire(at: Self.at(15))
        #expect(gone.map(\.name) == ["host_expired", "workgroup_expired"])
        #expect(list.hosts.isEmpty)
    }

    @Test("Updates name what changed; the master browser moves from A to B; shutdown removes at once")
    func updatesMasterAndShutdown() throws {
        var list = BrowseList()
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("A")), workgroup: "WG"), at: Self.at(0))
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("B")), workgroup: "WG"), at: Self.at(1))
        let becameMaster = list.observe(BrowseObservation(frame: .localMasterAnnouncement(Self.host("A")), workgroup: "WG"), at: Self.at(2))
        #expect(becameMaster.contains(.masterChanged(workgroup: "WG", from: nil, to: "A")))
        #expect(list.host(named: "A")?.isMasterBrowser == true)
        let changed = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("B", os: (10, 0), comment: "new"))), at: Self.at(3))
        guard case .hostUpdated(let b, let fields) = changed.first else { Issue.record("\(changed)"); return }
        #expect(b.workgroup == "WG", "the workgroup is kept when an observation does not say")
        #expect(fields == ["os_version", "comment"])
        let moved = list.observe(BrowseObservation(frame: .localMasterAnnouncement(Self.host("B")), workgroup: "WG"), at: Self.at(4))
        #expect(moved.contains(.masterChanged(workgroup: "WG", from: "A", to: "B")))
        #expect(list.host(named: "A")?.isMasterBrowser == false && list.host(named: "B")?.isMasterBrowser == true)
        #expect(list.workgroup(named: "WG")?.masterBrowser == "B")
        let left = list.observe(BrowseObservation(frame: .localMasterAnnouncement(Self.host("B", period: 0, type: []))), at: Self.at(5))
        #expect(left.map(\.name) == ["host_left", "master_changed"])
        #expect(list.host(named: "B") == nil && list.workgroup(named: "WG")?.masterBrowser == nil)
        // Requests and elections describe no host.
        #expect(list.observe(BrowseObservation(frame: .requestElection(BrowserRequestElection(
            criteria: BrowserElectionCriteria(rawValue: 0x2001_0F00), uptime: 1, serverName: "C"))), at: Self.at(6)).isEmpty)
        #expect(list.hosts.map(\.name) == ["A"])
    }

    @Test("Through a mailslot (no destination): the workgroup of a host is learnt from the DomainAnnouncement naming it master")
    func workgroupFromDomainAnnouncement() {
        var list = BrowseList()
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("LMB"))), at: Self.at(0))
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("OTHER"))), at: Self.at(0))
        #expect(list.host(named: "LMB")?.workgroup == nil && list.workgroups.isEmpty)
        let domain = BrowserDomainAnnouncement(periodicity: 60_000, machineGroup: "office", browserConfigVersion: .init(major: 6, minor: 1),
                                               serverType: [.domainEnum, .nt], localMasterBrowserName: "lmb")
        let events = list.observe(BrowseObservation(frame: .domainAnnouncement(domain)), at: Self.at(1))
        #expect(events.map(\.name) == ["workgroup_added", "master_changed", "host_updated"])
        if case .hostUpdated(let h, let changed) = events.last {
            #expect(h.name == "LMB" && h.workgroup == "OFFICE" && h.isMasterBrowser && changed == ["workgroup", "master_browser"])
        }
        #expect(list.host(named: "OTHER")?.workgroup == nil)
        #expect(list.workgroup(named: "Office")?.hostCount == 1)
        // A later DomainAnnouncement refreshes the workgroup; its expiry follows the periodicity.
        let again = list.observe(BrowseObservation(frame: .domainAnnouncement(domain)), at: Self.at(2))
        #expect(again.map(\.name) == ["workgroup_updated"])
        #expect(list.workgroup(named: "OFFICE")?.expires == Self.at(182))
        // A host announcing before the DomainAnnouncement of its workgroup gets the workgroup when it announces again.
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("LMB"))), at: Self.at(3))
        #expect(list.host(named: "LMB")?.workgroup == "OFFICE")
    }

    @Test("A workgroup whose DomainAnnouncement lapsed stays with its hosts, and no expiry is left in the past")
    func lapsedWorkgroup() {
        var list = BrowseList()
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("H", period: 60_000)), workgroup: "WG"), at: Self.at(0))
        let domain = BrowserDomainAnnouncement(periodicity: 1000, machineGroup: "WG", browserConfigVersion: .init(major: 6, minor: 1),
                                               serverType: [.domainEnum], localMasterBrowserName: "H")
        _ = list.observe(BrowseObservation(frame: .domainAnnouncement(domain)), at: Self.at(0))
        #expect(list.nextExpiry == Self.at(3))
        #expect(list.expire(at: Self.at(3)).isEmpty)
        #expect(list.workgroup(named: "WG")?.expires == nil && list.workgroup(named: "WG")?.masterBrowser == "H")
        #expect(list.nextExpiry == Self.at(180), "the lapsed announcement must not keep a due time")
        #expect(list.expire(at: Self.at(180)).map(\.name) == ["host_expired", "master_changed", "workgroup_expired"])
    }

    @Test("The list is bounded: new names beyond the limit are refused and counted")
    func bounded() {
        var list = BrowseList(maximumHosts: 2, maximumWorkgroups: 1)
        for (i, name) in ["H1", "H2", "H3"].enumerated() {
            _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host(name)), workgroup: "WG"), at: Self.at(Double(i)))
        }
        #expect(list.hosts.map(\.name) == ["H1", "H2"] && list.refusedAnnouncements == 1)
        // A known host still updates; a second workgroup is refused.
        #expect(list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("H1"))), at: Self.at(5)).map(\.name) == ["host_updated"])
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("H1")), workgroup: "OTHER"), at: Self.at(6))
        #expect(list.workgroups.map(\.name) == ["WG"] && list.refusedAnnouncements == 2)
        #expect(list.host(named: "H1")?.workgroup == "WG")
    }

    @Test("Periodicities near UInt32.max do not overflow; names compare without case and trailing spaces")
    func extremes() {
        var list = BrowseList()
        _ = list.observe(BrowseObservation(frame: .hostAnnouncement(Self.host("big  ", period: .max))), at: BrowseInstant(milliseconds: .max - 5))
        #expect(list.host(named: "BIG")?.expires == BrowseInstant(milliseconds: .max))
        #expect(BrowseList.key("nmbda  ") == "NMBDA")
        #expect(BrowseDuration.text(milliseconds: 720_000) == "12 min" && BrowseDuration.text(milliseconds: 1500) == "1.5 s")
        #expect(BrowseDuration.text(milliseconds: 150_000) == "2 min 30 s" && BrowseDuration.text(milliseconds: 3_900_000) == "1 h 5 min")
    }
}
