// libFuzzer entry point for the browser protocol (Sources/MailslotCore/Browser/*.swift).
//
// Built by `scripts/fuzz-codec.sh --browser` together with the codec and browser sources into one module,
// so there is no `import MailslotCore`. Besides "never trap", it checks the decoder's and the browse
// list's invariants and stops with fatalError (which libFuzzer reports as a crash) when one is violated.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes: [UInt8] = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    for mailslot in BrowserMailslot.allCases {
        fuzzFrame(bytes, mailslot)
    }
    fuzzInsideDatagram(bytes)
    return 0
}

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

private func checkName(_ name: String, _ field: String) {
    check(name.unicodeScalars.count <= 15, "\(field) longer than 15: \(name.debugDescription)")
    check(!name.unicodeScalars.contains("\u{0}"), "NUL inside \(field)")
}

private func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
}

private func fuzzFrame(_ bytes: [UInt8], _ mailslot: BrowserMailslot) {
    let frame: BrowserFrame
    do {
        frame = try BrowserFrame.decode(bytes, mailslot: mailslot)
    } catch {
        check(!error.reason.isEmpty && error.reason.allSatisfy { $0.isLowercase || $0 == "_" }, "reason \(error.reason)")
        check(!error.description.isEmpty, "error text")
        if bytes.isEmpty { check(error == .emptyFrame, "empty input: \(error)") }
        return
    }
    check(!bytes.isEmpty && frame.opcode.rawValue == bytes[0], "opcode")
    check(frame.describe(mailslot: mailslot).count >= 2, "description")
    check(!frame.summary.isEmpty, "summary")
    switch frame {
    case .hostAnnouncement(let a), .localMasterAnnouncement(let a):
        checkName(a.serverName, "ServerName")
        if mailslot == .browse { check(a.layout == .browser, "layout on BROWSE") }
        if a.layout == .browser {
            check(bytes.count >= 33 && a.periodicity == u32(bytes, 2) && a.serverType.rawValue == u32(bytes, 24), "fields")
            check(a.signature != nil && a.browserVersion != nil, "MS-BRWS fields")
        } else {
            check(mailslot == .lanman && a.signature == nil && a.periodicity % 1000 == 0, "LAN Manager layout")
        }
    case .domainAnnouncement(let d):
        checkName(d.machineGroup, "MachineGroup")
        checkName(d.localMasterBrowserName, "LocalMasterBrowserName")
    case .requestElection(let e):
        check(bytes.count >= 15 && e.criteria.rawValue == u32(bytes, 2) && e.uptime == u32(bytes, 6), "election fields")
        checkName(e.serverName, "ServerName")
        _ = e.criteria.description
    case .getBackupListResponse(let r):
        check(r.backupServers.count == Int(r.backupServerCount), "backup count")
        r.backupServers.forEach { checkName($0, "BackupServer") }
    case .announcementRequest(let r):
        checkName(r.responseName, "ResponseName")
    case .becomeBackup(let b):
        checkName(b.browserToPromote, "BrowserToPromote")
    case .masterAnnouncement(let m):
        checkName(m.masterBrowserServerName, "MasterBrowserServerName")
    case .getBackupListRequest, .resetStateRequest:
        break
    }
    // Decoding is a function of the bytes.
    check((try? BrowserFrame.decode(bytes, mailslot: mailslot)) == frame, "deterministic")
    fuzzList(frame, mailslot, bytes)
}

/// The browse list stays bounded and consistent whatever frames arrive, and its expiry keeps its word.
private func fuzzList(_ frame: BrowserFrame, _ mailslot: BrowserMailslot, _ bytes: [UInt8]) {
    var list = BrowseList(maximumHosts: 2, maximumWorkgroups: 2)
    let workgroups: [String?] = [nil, "WG", "OTHER"]
    var now = BrowseInstant(milliseconds: UInt64(bytes.last ?? 0) * 1000)
    for step in 0..<4 {
        let observation = BrowseObservation(frame: frame, mailslot: mailslot, workgroup: workgroups[step % 3])
        _ = list.observe(observation, at: now)
        check(list.hosts.count <= 2 && list.workgroups.count <= 2, "bounds")
        for host in list.hosts {
            check(host.expires >= host.lastAnnouncement && host.lastAnnouncement <= now, "host times")
            if let w = host.workgroup { check(list.workgroup(named: w) != nil, "host in a missing workgroup \(w)") }
        }
        for group in list.workgroups {
            check(group.hostCount == list.hosts.filter { $0.workgroup == group.name }.count, "host count")
            if let master = group.masterBrowser { checkName(master, "master") }
        }
        now = now.adding(milliseconds: UInt64(bytes.first ?? 1) * 997)
    }
    if let next = list.nextExpiry {
        _ = list.expire(at: next)
        check(list.nextExpiry.map { $0 > next } ?? true, "expire(at: nextExpiry) left an entry due")
    }
}

/// The frame inside a real datagram: the datagram codec's description carries it.
private func fuzzInsideDatagram(_ bytes: [UInt8]) {
    guard bytes.count <= 400,
          let source = try? NetBIOSName("FUZZER"), let destination = try? NetBIOSName("MSTEST", suffix: 0x1D),
          let datagram = try? NetBIOSMailslotDatagram(
            messageType: .directGroup, datagramID: 1, sourceIP: 0x0A00_0001, sourceName: source, destinationName: destination,
            mailslotName: #"\MAILSLOT\BROWSE"#, data: bytes) else { return }
    guard case .mailslot(let decoded) = try? decodeDatagram(datagram.encoded()) else {
        check(false, "a built datagram does not decode")
        return
    }
    check(decoded.describe().contains { $0.hasPrefix("Browser frame") }, "no browser section")
    if let observation = try? BrowseObservation(datagram: decoded) {
        check(observation.workgroup == "MSTEST" && observation.sourceAddress == IPv4Address(0x0A00_0001), "observation")
    }
}
