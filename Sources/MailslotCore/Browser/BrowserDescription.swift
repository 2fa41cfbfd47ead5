// Human-readable field listings of browser frames, in the style of DatagramDescription (`mailslot decode`).

private let browserFieldWidth = 22

private func browserField(_ name: String, _ value: String) -> String {
    "  " + WireBytes.padded(name, browserFieldWidth) + value
}

/// A continuation line under a field (one per flag).
private func browserFlagLine(_ text: String) -> String {
    "  " + String(repeating: " ", count: browserFieldWidth + 2) + text
}

/// `60000 ms (1 min)`, `720000 ms (12 min)`, `1500 ms (1.5 s)`.
func browserDurationText(milliseconds: UInt64) -> String {
    "\(milliseconds) ms (\(BrowseDuration.text(milliseconds: milliseconds)))"
}

private func quoted(_ text: String) -> String { text.debugDescription }

extension BrowserServerType {
    /// The ServerType field and one line per set bit.
    func describeLines(_ field: String = "ServerType") -> [String] {
        var lines = [browserField(field, WireBytes.hex32(rawValue) + (rawValue == 0 ? " (none: the server is shutting down)" : ""))]
        for definition in Self.definitions where contains(definition.flag) {
            lines.append(browserFlagLine("\(definition.name) (\(WireBytes.hex32(definition.flag.rawValue)))"))
        }
        for bit in unknownBits { lines.append(browserFlagLine("undefined bit \(WireBytes.hex32(bit))")) }
        return lines
    }
}

extension BrowserFrame {
    /// Lines for every field of the frame, under a `Browser frame (\MAILSLOT\BROWSE)` title.
    public func describe(mailslot: BrowserMailslot = .browse) -> [String] {
        var lines = ["Browser frame (\(mailslot))"]
        lines.append(browserField("Opcode", "\(WireBytes.hex8(opcode.rawValue)) \(opcode)"))
        switch self {
        case .hostAnnouncement(let a), .localMasterAnnouncement(let a):
            lines += a.describeLines()
        case .domainAnnouncement(let d):
            lines.append(browserField("Layout", d.layout.description))
            lines.append(browserField("UpdateCount", "\(d.updateCount)"))
            lines.append(browserField("Periodicity", browserDurationText(milliseconds: UInt64(d.periodicity))))
            lines.append(browserField("MachineGroup", quoted(d.machineGroup)))
            lines.append(browserField(d.layout == .browser ? "BrowserConfigVersion" : "OSVersion", d.browserConfigVersion.description))
            lines += d.serverType.describeLines()
            if let version = d.browserVersion { lines.append(browserField("BrowserVersion", version.description)) }
            if let signature = d.signature { lines.append(browserField("Signature", signatureText(signature))) }
            lines.append(browserField("LocalMasterBrowser", quoted(d.localMasterBrowserName)))
        case .announcementRequest(let r):
            lines.append(browserField("Reserved", WireBytes.hex8(r.reserved)))
            let note = r.responseNameAfterEmptyString ? " (after an empty string, as Samba's nmbd sends it)" : ""
            lines.append(browserField("ResponseName", quoted(r.responseName) + note))
        case .requestElection(let e):
            lines.append(browserField("Version", "\(e.version)"))
            lines.append(browserField("Criteria", WireBytes.hex32(e.criteria.rawValue)))
            let osText = e.criteria.osName.map { "\(WireBytes.hex8(e.criteria.os)) \($0)" }
                ?? "\(WireBytes.hex8(e.criteria.os)) (os level \(e.criteria.os))"
            lines.append(browserFlagLine("OS " + osText))
            lines.append(browserFlagLine("browser version \(e.criteria.browserVersion)"))
            lines.append(browserFlagLine("desire \(e.criteria.desire)"))
            lines.append(browserField("Uptime", browserDurationText(milliseconds: UInt64(e.uptime))))
            lines.append(browserField("Unused", WireBytes.hex32(e.unused)))
            lines.append(browserField("ServerName", quoted(e.serverName)))
        case .getBackupListRequest(let r):
            lines.append(browserField("RequestedCount", "\(r.requestedCount)"))
            lines.append(browserField("Token", WireBytes.hex32(r.token)))
        case .getBackupListResponse(let r):
            lines.append(browserField("BackupServerCount", "\(r.backupServerCount)"))
            lines.append(browserField("Token", WireBytes.hex32(r.token)))
            for (index, name) in r.backupServers.enumerated() {
                lines.append(browserField("BackupServer[\(index)]", quoted(name)))
            }
        case .becomeBackup(let b):
            lines.append(browserField("BrowserToPromote", quoted(b.browserToPromote)))
        case .masterAnnouncement(let m):
            lines.append(browserField("MasterBrowserName", quoted(m.masterBrowserServerName)))
        case .resetStateRequest(let r):
            lines.append(browserField("Type", r.type.description))
        }
        return lines
    }

    /// One line: `HostAnnouncement NMBDA 6.1 0x00819a03 "mailslot research A", every 1 min`.
    public var summary: String {
        switch self {
        case .hostAnnouncement(let a), .localMasterAnnouncement(let a):
            let what = a.isShutdown ? "shutting down" : "type \(WireBytes.hex32(a.serverType.rawValue)), every \(BrowseDuration.text(milliseconds: UInt64(a.periodicity)))"
            return "\(opcode) \(a.serverName) OS \(a.osVersion), \(what), comment \(quoted(a.comment))"
        case .domainAnnouncement(let d):
            return "\(opcode) workgroup \(d.machineGroup), master browser \(d.localMasterBrowserName), every \(BrowseDuration.text(milliseconds: UInt64(d.periodicity)))"
        case .announcementRequest(let r):
            return "\(opcode) from \(r.responseName)"
        case .requestElection(let e):
            return "\(opcode) from \(e.serverName), criteria \(WireBytes.hex32(e.criteria.rawValue)), up \(BrowseDuration.text(milliseconds: UInt64(e.uptime)))"
        case .getBackupListRequest(let r):
            return "\(opcode) for \(r.requestedCount) server(s), token \(WireBytes.hex32(r.token))"
        case .getBackupListResponse(let r):
            return "\(opcode) token \(WireBytes.hex32(r.token)): \(r.backupServers.joined(separator: ", "))"
        case .becomeBackup(let b):
            return "\(opcode) \(b.browserToPromote)"
        case .masterAnnouncement(let m):
            return "\(opcode) \(m.masterBrowserServerName)"
        case .resetStateRequest(let r):
            return "\(opcode) \(r.type)"
        }
    }
}

private func signatureText(_ signature: UInt16) -> String {
    WireBytes.hex16(signature) + (signature == 0xAA55 ? "" : " (expected 0xaa55)")
}

extension BrowserHostAnnouncement {
    func describeLines() -> [String] {
        var lines: [String] = []
        lines.append(browserField("Layout", layout.description))
        lines.append(browserField("UpdateCount", "\(updateCount)"))
        let period = browserDurationText(milliseconds: UInt64(periodicity))
        lines.append(browserField("Periodicity", layout == .lanManager ? period + ", sent in seconds" : period))
        lines.append(browserField("ServerName", quoted(serverName)))
        lines.append(browserField("OSVersion", osVersion.description))
        lines += serverType.describeLines()
        if let browserVersion { lines.append(browserField("BrowserVersion", browserVersion.description)) }
        if let signature { lines.append(browserField("Signature", signatureText(signature))) }
        lines.append(browserField("Comment", quoted(comment)))
        return lines
    }
}

/// Durations for people: `1.5 s`, `1 min`, `2 min 30 s`, `1 h 5 min`.
public enum BrowseDuration {
    public static func text(milliseconds: UInt64) -> String {
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds < 60_000 {
            let tenths = milliseconds / 100
            return tenths % 10 == 0 ? "\(tenths / 10) s" : "\(tenths / 10).\(tenths % 10) s"
        }
        let seconds = milliseconds / 1000
        if seconds < 3600 {
            return seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds / 60) min \(seconds % 60) s"
        }
        let minutes = seconds / 60
        return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
    }
}
