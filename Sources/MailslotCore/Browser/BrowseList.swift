// The browse list: the hosts and workgroups a LAN's browser announcements describe, with expiry. Pure
// state: time comes in as arguments (tests drive it with a fake clock), nothing is read or sent here.

/// A point in time in milliseconds on a monotonic clock the caller chooses.
public struct BrowseInstant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: UInt64

    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }

    public static func < (a: BrowseInstant, b: BrowseInstant) -> Bool { a.milliseconds < b.milliseconds }

    /// This instant plus `milliseconds` (saturating).
    public func adding(milliseconds delta: UInt64) -> BrowseInstant {
        let (sum, overflow) = milliseconds.addingReportingOverflow(delta)
        return BrowseInstant(milliseconds: overflow ? .max : sum)
    }

    /// Milliseconds from `earlier` to this instant (0 when `earlier` is later).
    public func milliseconds(since earlier: BrowseInstant) -> UInt64 {
        milliseconds >= earlier.milliseconds ? milliseconds - earlier.milliseconds : 0
    }

    public var description: String { "t+\(milliseconds) ms" }
}

/// One received browser frame with what its datagram said about where it came from and went to.
public struct BrowseObservation: Sendable, Hashable {
    public var frame: BrowserFrame
    public var mailslot: BrowserMailslot
    /// The sender's IPv4 address (known when the datagram itself was received, not through a mailslot).
    public var sourceAddress: IPv4Address?
    /// The workgroup the datagram was addressed to (`WORKGROUP<1d>`, `<1e>`, or the group `<00>`), when its
    /// destination says so.
    public var workgroup: String?

    public init(frame: BrowserFrame, mailslot: BrowserMailslot = .browse, sourceAddress: IPv4Address? = nil, workgroup: String? = nil) {
        self.frame = frame
        self.mailslot = mailslot
        self.sourceAddress = sourceAddress
        self.workgroup = workgroup
    }

    /// The observation a whole received datagram gives: the frame, the header's source IP and, from the
    /// destination name, the workgroup (suffix 0x1D or 0x1E, or 0x00 sent to a group).
    public init(datagram: NetBIOSMailslotDatagram) throws(BrowserDecodeError) {
        guard let mailslot = BrowserMailslot(mailslotName: datagram.mailslotName) else {
            throw .notBrowserMailslot(datagram.mailslotName)
        }
        self.frame = try BrowserFrame.decode(datagram.data, mailslot: mailslot)
        self.mailslot = mailslot
        self.sourceAddress = IPv4Address(datagram.header.sourceIP)
        let destination = datagram.destinationName
        switch destination.suffix {
        case 0x1D, 0x1E:
            self.workgroup = BrowseList.key(destination.name)
        case 0x00 where datagram.messageType == .directGroup:
            self.workgroup = BrowseList.key(destination.name)
        default:
            self.workgroup = nil
        }
    }
}

/// A host of the browse list, as its latest announcement described it.
public struct BrowseHost: Sendable, Hashable {
    /// The announced name, upper-cased.
    public var name: String
    /// Its workgroup, when known: from the datagram's destination, or because a DomainAnnouncement names the
    /// host as the workgroup's master browser. Messages delivered through a mailslot carry no destination.
    public var workgroup: String?
    public var serverType: BrowserServerType
    public var osVersion: BrowserVersionNumber
    public var comment: String
    /// The announced periodicity in milliseconds.
    public var periodicity: UInt32
    public var firstSeen: BrowseInstant
    public var lastAnnouncement: BrowseInstant
    /// `lastAnnouncement` + 3 × periodicity: the host is removed when this passes without an announcement.
    public var expires: BrowseInstant
    /// The sender's address, when known.
    public var address: IPv4Address?
    /// Announcements received from it.
    public var announcements: Int
    /// Its latest frame was a LocalMasterAnnouncement, or it announces SV_TYPE_MASTER_BROWSER, or a
    /// DomainAnnouncement names it.
    public var isMasterBrowser: Bool
    public var mailslot: BrowserMailslot
}

/// A workgroup (or domain) of the browse list.
public struct BrowseWorkgroup: Sendable, Hashable {
    public var name: String
    /// Its local master browser, when known.
    public var masterBrowser: String?
    /// From its latest DomainAnnouncement, nil when none arrived (the workgroup is known from its hosts).
    public var periodicity: UInt32?
    public var lastAnnouncement: BrowseInstant?
    /// When the DomainAnnouncement's validity (3 × periodicity) ends; nil without one, or once it lapsed
    /// while hosts of the workgroup remain (it stays as long as they do).
    public var expires: BrowseInstant?
    public var serverType: BrowserServerType?
    /// The hosts of the list that are known to belong to it.
    public var hostCount: Int
}

/// What changed in the browse list.
public enum BrowseEvent: Sendable, Hashable {
    case hostAdded(BrowseHost)
    /// A host announced itself again; `changed` names the fields that differ (`server_type`, `os_version`,
    /// `comment`, `periodicity`, `workgroup`, `address`, `master_browser`), empty for a plain refresh.
    case hostUpdated(BrowseHost, changed: [String])
    /// Missed its announcements: 3 × periodicity passed since the last one.
    case hostExpired(BrowseHost)
    /// Announced that it is shutting down (server type 0).
    case hostLeft(BrowseHost)
    case workgroupAdded(BrowseWorkgroup)
    case workgroupUpdated(BrowseWorkgroup, changed: [String])
    /// Its DomainAnnouncement expired and no host of it remains.
    case workgroupExpired(BrowseWorkgroup)
    case masterChanged(workgroup: String, from: String?, to: String?)

    /// `host_added`, `master_changed`, ...
    public var name: String {
        switch self {
        case .hostAdded: "host_added"
        case .hostUpdated: "host_updated"
        case .hostExpired: "host_expired"
        case .hostLeft: "host_left"
        case .workgroupAdded: "workgroup_added"
        case .workgroupUpdated: "workgroup_updated"
        case .workgroupExpired: "workgroup_expired"
        case .masterChanged: "master_changed"
        }
    }
}

/// The hosts and workgroups that browser announcements describe, and their expiry.
///
/// Rule: an entry expires when 3 × its announced periodicity passes without a new announcement, as
/// [MS-BRWS] 3.3.5.4 says for workgroups and Samba's nmbd does for hosts (Windows and nmbd announce every
/// 1 to 12 minutes, so a host that stops without saying so disappears after 3 to 36 minutes). A
/// HostAnnouncement or LocalMasterAnnouncement with server type 0 ([MS-BRWS] 3.2.7, sent when a server
/// shuts down) removes the host at once.
///
/// The list is bounded (``maximumHosts``, ``maximumWorkgroups``): announcements of new names beyond that are
/// counted in ``refusedAnnouncements`` and otherwise ignored, so a flood of invented names cannot grow it.
public struct BrowseList: Sendable {
    public let maximumHosts: Int
    public let maximumWorkgroups: Int
    public private(set) var refusedAnnouncements = 0

    private var hostsByKey: [String: BrowseHost] = [:]
    private var workgroupsByKey: [String: BrowseWorkgroup] = [:]

    public init(maximumHosts: Int = 4096, maximumWorkgroups: Int = 1024) {
        self.maximumHosts = max(1, maximumHosts)
        self.maximumWorkgroups = max(1, maximumWorkgroups)
    }

    /// The hosts, by workgroup (unknown last), then name.
    public var hosts: [BrowseHost] {
        hostsByKey.values.sorted { ($0.workgroup ?? "\u{FF}", $0.name) < ($1.workgroup ?? "\u{FF}", $1.name) }
    }

    /// The workgroups by name, with their host counts.
    public var workgroups: [BrowseWorkgroup] {
        workgroupsByKey.values.map(counted).sorted { $0.name < $1.name }
    }

    public func host(named name: String) -> BrowseHost? { hostsByKey[Self.key(name)] }
    public func workgroup(named name: String) -> BrowseWorkgroup? { workgroupsByKey[Self.key(name)].map(counted) }

    /// The earliest time at which ``expire(at:)`` will remove something, or nil.
    public var nextExpiry: BrowseInstant? {
        let hostTimes = hostsByKey.values.map(\.expires)
        let groupTimes = workgroupsByKey.values.compactMap(\.expires)
        return (hostTimes + groupTimes).min()
    }

    /// Names compare as upper-case ASCII without trailing spaces, as NetBIOS names do.
    public static func key(_ name: String) -> String {
        var bytes = Array(name.unicodeScalars.map { $0.value <= 0xFF ? UInt8($0.value) : 0x3F })
        while bytes.last == 0x20 { bytes.removeLast() }
        return WireBytes.latin1String(bytes.map(WireBytes.asciiUppercased))
    }

    private func counted(_ group: BrowseWorkgroup) -> BrowseWorkgroup {
        var group = group
        group.hostCount = hostsByKey.values.filter { $0.workgroup == group.name }.count
        return group
    }

    private static func expiry(_ now: BrowseInstant, periodicity: UInt32) -> BrowseInstant {
        now.adding(milliseconds: 3 * UInt64(periodicity))
    }

    /// Applies one received frame at `now` (first removing what expired before it) and returns what changed.
    public mutating func observe(_ observation: BrowseObservation, at now: BrowseInstant) -> [BrowseEvent] {
        var events = expire(at: now)
        switch observation.frame {
        case .hostAnnouncement(let a):
            events += announce(a, master: false, observation, now)
        case .localMasterAnnouncement(let a):
            events += announce(a, master: true, observation, now)
        case .domainAnnouncement(let d):
            events += announceWorkgroup(d, now)
        case .announcementRequest, .requestElection, .getBackupListRequest, .getBackupListResponse, .becomeBackup,
             .masterAnnouncement, .resetStateRequest:
            break // requests and elections describe no host
        }
        return events
    }

    /// Removes the hosts and workgroups whose time has passed at `now`.
    public mutating func expire(at now: BrowseInstant) -> [BrowseEvent] {
        var events: [BrowseEvent] = []
        for (key, host) in hostsByKey.sorted(by: { $0.key < $1.key }) where host.expires <= now {
            hostsByKey[key] = nil
            events.append(.hostExpired(host))
            events += hostGone(host)
        }
        events += dropEmptyWorkgroups(at: now)
        return events
    }

    private mutating func announce(_ a: BrowserHostAnnouncement, master: Bool, _ observation: BrowseObservation,
                                   _ now: BrowseInstant) -> [BrowseEvent] {
        let key = Self.key(a.serverName)
        guard !key.isEmpty else { return [] }
        var events: [BrowseEvent] = []
        if a.isShutdown {
            if let gone = hostsByKey.removeValue(forKey: key) {
                events.append(.hostLeft(gone))
                events += hostGone(gone)
                events += dropEmptyWorkgroups(at: now)
            }
            return events
        }
        let previous = hostsByKey[key]
        guard previous != nil || hostsByKey.count < maximumHosts else {
            refusedAnnouncements += 1
            return []
        }
        // The workgroup: the datagram's destination, what we knew, or the workgroup whose master it is.
        let inferred = workgroupsByKey.values.first { $0.masterBrowser == key }?.name
        let workgroup = observation.workgroup.map(Self.key) ?? previous?.workgroup ?? inferred
        if let workgroup {
            events += ensureWorkgroup(workgroup)
            guard workgroupsByKey[workgroup] != nil else { return events } // the workgroup bound refused it
        }
        let isMaster = master || a.serverType.contains(.masterBrowser)
            || (workgroup.flatMap { workgroupsByKey[$0]?.masterBrowser } == key)
        let host = BrowseHost(
            name: key, workgroup: workgroup, serverType: a.serverType, osVersion: a.osVersion, comment: a.comment,
            periodicity: a.periodicity, firstSeen: previous?.firstSeen ?? now, lastAnnouncement: now,
            expires: Self.expiry(now, periodicity: a.periodicity),
            address: observation.sourceAddress ?? previous?.address, announcements: (previous?.announcements ?? 0) + 1,
            isMasterBrowser: isMaster, mailslot: observation.mailslot)
        hostsByKey[key] = host
        if let previous {
            events.append(.hostUpdated(host, changed: Self.changes(from: previous, to: host)))
        } else {
            events.append(.hostAdded(host))
        }
        if master, let workgroup { events += setMaster(key, of: workgroup) }
        if previous?.workgroup != workgroup { events += dropEmptyWorkgroups(at: now) }
        return events
    }

    private mutating func announceWorkgroup(_ d: BrowserDomainAnnouncement, _ now: BrowseInstant) -> [BrowseEvent] {
        let key = Self.key(d.machineGroup)
        guard !key.isEmpty else { return [] }
        let before = workgroupsByKey[key]
        guard before != nil || workgroupsByKey.count < maximumWorkgroups else {
            refusedAnnouncements += 1
            return []
        }
        var group = before ?? BrowseWorkgroup(name: key, masterBrowser: nil, periodicity: nil, lastAnnouncement: nil,
                                              expires: nil, serverType: nil, hostCount: 0)
        group.periodicity = d.periodicity
        group.lastAnnouncement = now
        group.expires = Self.expiry(now, periodicity: d.periodicity)
        group.serverType = d.serverType
        workgroupsByKey[key] = group
        var events: [BrowseEvent] = []
        if let before {
            var changed: [String] = []
            if before.periodicity != group.periodicity { changed.append("periodicity") }
            if before.serverType != group.serverType { changed.append("server_type") }
            events.append(.workgroupUpdated(counted(group), changed: changed))
        } else {
            events.append(.workgroupAdded(counted(group)))
        }
        let master = Self.key(d.localMasterBrowserName)
        guard !master.isEmpty else { return events }
        events += setMaster(master, of: key)
        // The master's host entry now knows its workgroup.
        if var host = hostsByKey[master], host.workgroup != key || !host.isMasterBrowser {
            let previous = host
            host.workgroup = key
            host.isMasterBrowser = true
            hostsByKey[master] = host
            events.append(.hostUpdated(host, changed: Self.changes(from: previous, to: host)))
            events += dropEmptyWorkgroups(at: now)
        }
        return events
    }

    /// Creates the workgroup record when it is new (bounded).
    private mutating func ensureWorkgroup(_ key: String) -> [BrowseEvent] {
        guard workgroupsByKey[key] == nil else { return [] }
        guard workgroupsByKey.count < maximumWorkgroups else {
            refusedAnnouncements += 1
            return []
        }
        let group = BrowseWorkgroup(name: key, masterBrowser: nil, periodicity: nil, lastAnnouncement: nil, expires: nil,
                                    serverType: nil, hostCount: 0)
        workgroupsByKey[key] = group
        return [.workgroupAdded(group)]
    }

    private mutating func setMaster(_ master: String?, of workgroup: String) -> [BrowseEvent] {
        guard var group = workgroupsByKey[workgroup], group.masterBrowser != master else { return [] }
        let old = group.masterBrowser
        group.masterBrowser = master
        workgroupsByKey[workgroup] = group
        var events: [BrowseEvent] = [.masterChanged(workgroup: workgroup, from: old, to: master)]
        // A workgroup has one local master browser: the previous one no longer is, unless it says so itself.
        if let old, var host = hostsByKey[old], host.isMasterBrowser, !host.serverType.contains(.masterBrowser) {
            let previous = host
            host.isMasterBrowser = false
            hostsByKey[old] = host
            events.append(.hostUpdated(host, changed: Self.changes(from: previous, to: host)))
        }
        return events
    }

    /// A host left the list: a workgroup whose master it was has no known master any more.
    private mutating func hostGone(_ host: BrowseHost) -> [BrowseEvent] {
        var events: [BrowseEvent] = []
        for (key, group) in workgroupsByKey.sorted(by: { $0.key < $1.key }) where group.masterBrowser == host.name {
            events += setMaster(nil, of: key)
        }
        return events
    }

    /// Removes workgroups that have neither a valid DomainAnnouncement nor hosts.
    private mutating func dropEmptyWorkgroups(at now: BrowseInstant) -> [BrowseEvent] {
        var events: [BrowseEvent] = []
        let populated = Set(hostsByKey.values.compactMap(\.workgroup))
        for (key, group) in workgroupsByKey.sorted(by: { $0.key < $1.key }) {
            let announced = group.expires.map { $0 > now } ?? false
            if announced { continue }
            if populated.contains(key) {
                // Its DomainAnnouncement lapsed, but hosts remain: it lives on with them.
                workgroupsByKey[key]?.expires = nil
            } else {
                workgroupsByKey[key] = nil
                events.append(.workgroupExpired(counted(group)))
            }
        }
        return events
    }

    private static func changes(from a: BrowseHost, to b: BrowseHost) -> [String] {
        var changed: [String] = []
        if a.workgroup != b.workgroup { changed.append("workgroup") }
        if a.serverType != b.serverType { changed.append("server_type") }
        if a.osVersion != b.osVersion { changed.append("os_version") }
        if a.comment != b.comment { changed.append("comment") }
        if a.periodicity != b.periodicity { changed.append("periodicity") }
        if a.address != b.address { changed.append("address") }
        if a.isMasterBrowser != b.isMasterBrowser { changed.append("master_browser") }
        return changed
    }
}
