import ArgumentParser
import Foundation
import Mailslot
import MailslotTransport

struct Browse: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the LAN's hosts and workgroups, as their browser announcements describe them.",
        discussion: """
            Listens to the CIFS Browser Protocol announcements that Windows, Samba's nmbd and other SMB hosts \
            broadcast, then prints each host (name, workgroup, server types, OS version, comment, whether it is \
            a master browser, its last announcement and when it expires) and each workgroup with its master \
            browser. Without --watch it listens for --timeout milliseconds (default 15000) and prints one \
            table, or with --json one object with `hosts` and `workgroups`. With --watch the table is redrawn \
            as announcements arrive, or with --json one object per event per line (host_added, host_updated, \
            host_expired, host_left, workgroup_added, workgroup_updated, workgroup_expired, master_changed).

            Expiry: a host or workgroup disappears when 3 x its announced periodicity passes without a new \
            announcement (hosts announce every 1 to 12 minutes), or at once when it announces that it shuts \
            down (server type 0). Hosts announce soon after they start and then every few minutes, so a short \
            --timeout shows the hosts that started or announced within it.

            So that the table fills in seconds rather than minutes, it first asks the hosts of the workgroup \
            (--workgroup, else the configured one) to announce themselves, with an AnnouncementRequest to \
            WORKGROUP<00> as a master browser does at start ([MS-BRWS] 3.3), and asks each workgroup it learns \
            of the same; nmbd answers at once, Windows within 30 s. --passive only listens.

            Where it listens (--source auto): on UDP port 138 itself when it can bind it (root or \
            CAP_NET_BIND_SERVICE, and no daemon owns the port); otherwise on the local mailslots \
            \\\\.\\mailslot\\browse and \\\\.\\mailslot\\lanman, which `mailslotd --accept-any-name` fills. \
            Through mailslotd a message carries no NetBIOS header, so a host's workgroup and address are known \
            only when a workgroup's DomainAnnouncement names it as master browser.
            """
    )

    enum Source: String, ExpressibleByArgument, CaseIterable {
        case auto, udp, mailslot
    }

    @Option(help: "Show only this workgroup (or domain) and its hosts.")
    var workgroup: String?

    @Flag(help: "Print JSON: one object (or, with --watch, one object per event per line).")
    var json = false

    @Flag(help: "Keep listening and show changes as they happen (until interrupted or --timeout).")
    var watch = false

    @Option(help: "Milliseconds to listen (default 15000; with --watch: until interrupted).")
    var timeout: UInt32?

    @Option(help: "Where to listen: auto, udp (bind UDP port 138 itself) or mailslot (\\\\.\\mailslot\\browse, filled by mailslotd --accept-any-name).")
    var source: Source = .auto

    @Option(help: "The NetBIOS datagram port for --source udp (default 138, or the configured port).")
    var port: UInt16?

    @Flag(help: "Only listen: do not ask the hosts of a workgroup to announce themselves.")
    var passive = false

    static let defaultTimeoutMilliseconds: UInt32 = 15_000

    func validate() throws {
        if let workgroup, BrowseList.key(workgroup).isEmpty || workgroup.utf8.count > 15 {
            throw ValidationError("--workgroup must be a NetBIOS name of 1 to 15 characters")
        }
    }

    func run() throws {
        let configuration = runOrFail { () throws(MailslotError) in try MailslotConfiguration.load() }
        let udpPort = port ?? configuration.port
        let receiver = runOrFail { () throws(MailslotError) in try BrowseReceiver.open(source, port: udpPort) }
        let filter = workgroup.map(BrowseList.key)
        var asked: Set<String> = []
        func ask(_ group: String) {
            guard !passive, asked.count < Self.maximumWorkgroupsAsked, asked.insert(group).inserted else { return }
            if let problem = Self.requestAnnouncements(from: group, configuration) { note(problem) }
        }
        ask(filter ?? BrowseList.key(configuration.workgroup))
        if filter != nil, case .mailslots = receiver.kind, !json {
            note("through mailslotd a host's workgroup is known only for master browsers; --workgroup shows only hosts whose workgroup is known")
        }
        var session = BrowseSession(filter: filter)
        let limit = timeout ?? (watch ? nil : Self.defaultTimeoutMilliseconds)
        let view = BrowseView(json: json, filter: filter, receiver: receiver)
        // A terminal's table is redrawn each second (the EXPIRES column counts down); a pipe gets a table per change.
        let isTerminal = isatty(1) == 1
        var lastDraw = session.now
        if watch && !json { view.redraw(session) }
        while true {
            let now = session.now
            if let limit, now.milliseconds >= UInt64(limit) { break }
            // Wake for the next datagram, the next expiry, the end, or (watching a table) a redraw each second.
            var wait: UInt64 = 1000
            if let limit { wait = min(wait, UInt64(limit) - now.milliseconds) }
            if let next = session.list.nextExpiry { wait = min(wait, next.milliseconds(since: now) + 1) }
            let received = runOrFail { () throws(MailslotError) in try receiver.receive(timeoutMilliseconds: Int32(max(1, wait))) }
            var events = session.expire()
            for item in received { events += session.observe(item) }
            for case .workgroupAdded(let group) in events where session.isShown(workgroup: group.name) { ask(group.name) }
            guard watch else { continue }
            if json {
                for event in events where session.isShown(event) { emit(view.eventLine(event, session: session)) }
            } else if !events.isEmpty || (isTerminal && session.now.milliseconds(since: lastDraw) >= 1000) {
                view.redraw(session)
                lastDraw = session.now
            }
        }
        if !watch {
            if json {
                emit(view.summaryObject(session))
            } else {
                for line in view.tableLines(session) { emit(line) }
            }
            if !json, session.list.hosts.isEmpty, session.list.workgroups.isEmpty, case .mailslots(_, _, let why) = receiver.kind {
                note("no browser announcements arrived on \\\\.\\mailslot\\browse" + (why.map { " (not listening on UDP itself: \($0))" } ?? "")
                     + "; they arrive there only from mailslotd --accept-any-name: is it running?")
            }
        }
        receiver.close()
    }

    static let maximumWorkgroupsAsked = 16

    /// Sends an AnnouncementRequest ([MS-BRWS] 2.2.2) to `WORKGROUP<00>` on \MAILSLOT\BROWSE: every host of
    /// the workgroup announces itself. Returns what went wrong, if anything (listening goes on).
    static func requestAnnouncements(from workgroup: String, _ configuration: MailslotConfiguration) -> String? {
        let name = Array(BrowseList.key(configuration.computerName).unicodeScalars.prefix(15).map { UInt8(truncatingIfNeeded: $0.value) })
        let frame: [UInt8] = [BrowserOpcode.announcementRequest.rawValue, 0] + name + [0]
        do throws(MailslotError) {
            let writer = try MailslotWriter(opening: try MailslotName(parsing: "\\\\\(workgroup)\\mailslot\\browse"),
                                            options: .init(writeTimeoutMilliseconds: 0, configuration: configuration))
            defer { writer.close() }
            try writer.write(frame)
            return nil
        } catch {
            return "could not ask workgroup \(workgroup) to announce itself (listening anyway): \(error)"
        }
    }

    func note(_ text: String) {
        FileHandle.standardError.write(Data("mailslot browse: \(text)\n".utf8))
    }
}

/// What a `mailslot browse` run keeps: the list, the clock and the frames it ignored.
struct BrowseSession {
    var list = BrowseList()
    let filter: String?
    let startedAt = ContinuousClock.now
    let startedWall = Date()
    var ignored: [String: Int] = [:]

    init(filter: String?) { self.filter = filter }

    var now: BrowseInstant {
        let elapsed = ContinuousClock.now - startedAt
        return BrowseInstant(milliseconds: UInt64(max(0, elapsed.milliseconds)))
    }

    func date(_ instant: BrowseInstant) -> Date { startedWall.addingTimeInterval(Double(instant.milliseconds) / 1000) }

    mutating func expire() -> [BrowseEvent] { list.expire(at: now) }

    mutating func observe(_ item: BrowseReceiver.Item) -> [BrowseEvent] {
        switch item {
        case .ignored(let reason):
            ignored[reason, default: 0] += 1
            return []
        case .observation(let observation):
            return list.observe(observation, at: now)
        }
    }

    func isShown(_ host: BrowseHost) -> Bool { filter == nil || host.workgroup == filter }
    func isShown(workgroup name: String) -> Bool { filter == nil || name == filter }

    func isShown(_ event: BrowseEvent) -> Bool {
        switch event {
        case .hostAdded(let h), .hostUpdated(let h, _), .hostExpired(let h), .hostLeft(let h): isShown(h)
        case .workgroupAdded(let w), .workgroupUpdated(let w, _), .workgroupExpired(let w): isShown(workgroup: w.name)
        case .masterChanged(let w, _, _): isShown(workgroup: w)
        }
    }

    var hosts: [BrowseHost] { list.hosts.filter(isShown) }
    var workgroups: [BrowseWorkgroup] { list.workgroups.filter { isShown(workgroup: $0.name) } }
}

/// Where browser frames come from: the datagrams of UDP port 138, or the local mailslots mailslotd fills.
final class BrowseReceiver {
    enum Kind {
        case udp(DatagramListener)
        /// `why`: why not UDP (with --source auto), for the hint when nothing arrives.
        case mailslots(browse: MailslotServer, lanman: MailslotServer?, why: String?)
    }

    enum Item {
        case observation(BrowseObservation)
        case ignored(String)
    }

    let kind: Kind

    init(kind: Kind) { self.kind = kind }

    static let browseName = #"\\.\mailslot\browse"#
    static let lanmanName = #"\\.\mailslot\lanman"#

    static func open(_ source: Browse.Source, port: UInt16) throws(MailslotError) -> BrowseReceiver {
        switch source {
        case .udp:
            do throws(MailslotError) {
                return BrowseReceiver(kind: .udp(try DatagramListener(port: port)))
            } catch {
                let advice = error.cause?.errno == Errno.addressInUse
                    ? "use --source mailslot while mailslotd --accept-any-name runs, or stop the process that owns the port"
                    : "run as root or give mailslot CAP_NET_BIND_SERVICE, or use --source mailslot with mailslotd --accept-any-name"
                throw MailslotError(error.code, "\(error.message); \(advice)", cause: error.cause)
            }
        case .mailslot:
            return try openMailslots(why: nil)
        case .auto:
            do throws(MailslotError) {
                return BrowseReceiver(kind: .udp(try DatagramListener(port: port)))
            } catch {
                return try openMailslots(why: error.message)
            }
        }
    }

    /// The writer is mailslotd: the mailslots opt in to the network (which admits mailslotd's service
    /// user), and no other local user may write. What arrives is untrusted LAN input, and the decoder
    /// treats it so.
    static func openMailslots(why: String?) throws(MailslotError) -> BrowseReceiver {
        let options = MailslotServer.Options(access: .owner, allowNetwork: true)
        let browse: MailslotServer
        do throws(MailslotError) {
            browse = try MailslotServer(name: browseName, readTimeout: .immediate, options: options)
        } catch {
            guard error.code == .alreadyExists else { throw error }
            throw MailslotError(.alreadyExists, "\(browseName) already exists: another program serves it (see `mailslot list`); stop it, or use --source udp as root where no daemon owns UDP port 138")
        }
        // \\.\mailslot\lanman only if it is free: another program may be using it.
        let lanman = try? MailslotServer(name: lanmanName, readTimeout: .immediate, options: options)
        return BrowseReceiver(kind: .mailslots(browse: browse, lanman: lanman, why: why))
    }

    /// What arrived within the timeout (possibly nothing).
    func receive(timeoutMilliseconds: Int32) throws(MailslotError) -> [Item] {
        switch kind {
        case .udp(let listener):
            var items: [Item] = []
            var wait = timeoutMilliseconds
            while items.count < 256, let datagram = try listener.receive(timeoutMilliseconds: wait) {
                items.append(Self.item(datagram))
                wait = 0
            }
            return items
        case .mailslots(let browse, let lanman, _):
            var servers = [(browse, BrowserMailslot.browse)]
            if let lanman { servers.append((lanman, .lanman)) }
            _ = Sys.pollMany(servers.map(\.0.readinessDescriptor), timeoutMilliseconds: timeoutMilliseconds)
            var items: [Item] = []
            for (server, mailslot) in servers {
                while items.count < 256, (try? server.info().messageCount) ?? 0 > 0 {
                    let message = try server.read(timeout: .immediate)
                    do throws(BrowserDecodeError) {
                        items.append(.observation(BrowseObservation(frame: try BrowserFrame.decode(message, mailslot: mailslot),
                                                                    mailslot: mailslot)))
                    } catch {
                        items.append(.ignored(error.reason))
                    }
                }
            }
            return items
        }
    }

    static func item(_ datagram: DatagramListener.Datagram) -> Item {
        if datagram.truncated { return .ignored("oversize_udp") }
        guard let decoded = try? decodeDatagram(datagram.bytes) else { return .ignored("malformed_datagram") }
        guard let message = decoded.mailslot else { return .ignored("not_mailslot_datagram") }
        do throws(BrowserDecodeError) {
            return .observation(try BrowseObservation(datagram: message))
        } catch {
            return .ignored(error.reason)
        }
    }

    /// `UDP port 138` or `\\.\mailslot\browse and \\.\mailslot\lanman (filled by mailslotd)`.
    var description: String {
        switch kind {
        case .udp(let listener): "UDP port \(listener.port)"
        case .mailslots(_, let lanman, _):
            (lanman == nil ? Self.browseName : "\(Self.browseName) and \(Self.lanmanName)") + " (filled by mailslotd --accept-any-name)"
        }
    }

    func close() {
        switch kind {
        case .udp(let listener): listener.close()
        case .mailslots(let browse, let lanman, _):
            browse.close()
            lanman?.close()
        }
    }
}

/// Tables and JSON for people and programs.
struct BrowseView {
    let json: Bool
    let filter: String?
    let receiver: BrowseReceiver

    let clock: DateFormatter = {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "HH:mm:ss"
        return f
    }()

    let iso: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()

    func relative(_ instant: BrowseInstant, _ session: BrowseSession) -> String {
        let now = session.now
        return instant <= now ? "now" : "in " + BrowseDuration.text(milliseconds: (instant.milliseconds(since: now) + 999) / 1000 * 1000)
    }

    func tableLines(_ session: BrowseSession) -> [String] {
        let hosts = session.hosts
        let groups = session.workgroups
        var lines: [String] = []
        if hosts.isEmpty {
            lines.append("no hosts" + (filter.map { " in workgroup \($0)" } ?? ""))
        } else {
            var rows = [["HOST", "WORKGROUP", "MASTER", "OS", "TYPE", "COMMENT", "ADDRESS", "LAST SEEN", "EXPIRES"]]
            for h in hosts {
                rows.append([h.name, h.workgroup ?? "-", h.isMasterBrowser ? "yes" : "-", h.osVersion.description,
                             h.serverType.labels.joined(separator: ","), h.comment, h.address?.description ?? "-",
                             clock.string(from: session.date(h.lastAnnouncement)), relative(h.expires, session)])
            }
            lines += Self.aligned(rows)
        }
        lines.append("")
        if groups.isEmpty {
            lines.append("no workgroups" + (filter.map { " named \($0)" } ?? ""))
        } else {
            var rows = [["WORKGROUP", "MASTER BROWSER", "HOSTS", "LAST ANNOUNCED", "EXPIRES"]]
            for g in groups {
                rows.append([g.name, g.masterBrowser ?? "-", "\(g.hostCount)",
                             g.lastAnnouncement.map { clock.string(from: session.date($0)) } ?? "-",
                             g.expires.map { relative($0, session) } ?? "with its hosts"])
            }
            lines += Self.aligned(rows)
        }
        lines.append("")
        let seconds = String(format: "%.1f", Double(session.now.milliseconds) / 1000)
        var footer = "\(hosts.count) host(s), \(groups.count) workgroup(s); listened \(seconds) s on \(receiver.description)"
        let ignoredCount = session.ignored.values.reduce(0, +)
        if ignoredCount > 0 {
            footer += "; ignored \(ignoredCount) datagram(s): " + session.ignored.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        lines.append(footer)
        return lines
    }

    func redraw(_ session: BrowseSession) {
        let isTerminal = isatty(1) == 1
        let text = (isTerminal ? "\u{1B}[H\u{1B}[2J" : "") + tableLines(session).joined(separator: "\n") + (isTerminal ? "" : "\n")
        emit(text)
    }

    static func aligned(_ rows: [[String]]) -> [String] {
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
    }

    func hostObject(_ h: BrowseHost, _ session: BrowseSession) -> [String: Any] {
        [
            "name": h.name, "workgroup": h.workgroup ?? NSNull(), "master_browser": h.isMasterBrowser,
            "server_type": Int(h.serverType.rawValue), "server_types": h.serverType.names,
            "os_version": h.osVersion.description, "os_major": Int(h.osVersion.major), "os_minor": Int(h.osVersion.minor),
            "comment": h.comment, "periodicity_ms": Int(h.periodicity), "address": h.address?.description ?? NSNull(),
            "first_seen": iso.string(from: session.date(h.firstSeen)),
            "last_announcement": iso.string(from: session.date(h.lastAnnouncement)),
            "expires": iso.string(from: session.date(h.expires)), "announcements": h.announcements,
            "mailslot": h.mailslot.rawValue,
        ]
    }

    func workgroupObject(_ g: BrowseWorkgroup, _ session: BrowseSession) -> [String: Any] {
        [
            "name": g.name, "master_browser": g.masterBrowser ?? NSNull(), "hosts": g.hostCount,
            "periodicity_ms": g.periodicity.map { Int($0) } ?? NSNull(),
            "last_announcement": g.lastAnnouncement.map { iso.string(from: session.date($0)) } ?? NSNull(),
            "expires": g.expires.map { iso.string(from: session.date($0)) } ?? NSNull(),
        ]
    }

    func sourceFields() -> [String: Any] {
        switch receiver.kind {
        case .udp(let listener): ["source": "udp", "port": Int(listener.port)]
        case .mailslots(_, let lanman, _):
            ["source": "mailslot", "mailslots": [BrowseReceiver.browseName] + (lanman == nil ? [] : [BrowseReceiver.lanmanName])]
        }
    }

    func summaryObject(_ session: BrowseSession) -> String {
        var object = sourceFields()
        object["listened_ms"] = Int(session.now.milliseconds)
        object["hosts"] = session.hosts.map { hostObject($0, session) }
        object["workgroups"] = session.workgroups.map { workgroupObject($0, session) }
        object["ignored"] = session.ignored
        return Self.text(object)
    }

    func eventLine(_ event: BrowseEvent, session: BrowseSession) -> String {
        var object: [String: Any] = ["event": event.name, "time": iso.string(from: session.date(session.now))]
        switch event {
        case .hostAdded(let h), .hostExpired(let h), .hostLeft(let h):
            object["host"] = hostObject(h, session)
        case .hostUpdated(let h, let changed):
            object["host"] = hostObject(h, session)
            object["changed"] = changed
        case .workgroupAdded(let g), .workgroupExpired(let g):
            object["workgroup"] = workgroupObject(g, session)
        case .workgroupUpdated(let g, let changed):
            object["workgroup"] = workgroupObject(g, session)
            object["changed"] = changed
        case .masterChanged(let workgroup, let from, let to):
            object["workgroup"] = workgroup
            object["from"] = from ?? NSNull()
            object["to"] = to ?? NSNull()
        }
        return Self.text(object)
    }

    static func text(_ object: [String: Any]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
