// The CIFS Browser Protocol ([MS-BRWS] 2.2): the frames carried as mailslot data on \MAILSLOT\BROWSE and
// \MAILSLOT\LANMAN. Little-endian, byte-aligned. Decoding only; no I/O.

/// The browser frame opcodes ([MS-BRWS] 2.2), the first byte of every frame.
public enum BrowserOpcode: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case hostAnnouncement = 0x01
    case announcementRequest = 0x02
    case requestElection = 0x08
    case getBackupListRequest = 0x09
    case getBackupListResponse = 0x0A
    case becomeBackup = 0x0B
    case domainAnnouncement = 0x0C
    case masterAnnouncement = 0x0D
    case resetStateRequest = 0x0E
    case localMasterAnnouncement = 0x0F

    /// The specification's name, e.g. `HostAnnouncement`.
    public var description: String {
        switch self {
        case .hostAnnouncement: "HostAnnouncement"
        case .announcementRequest: "AnnouncementRequest"
        case .requestElection: "RequestElection"
        case .getBackupListRequest: "GetBackupListRequest"
        case .getBackupListResponse: "GetBackupListResponse"
        case .becomeBackup: "BecomeBackup"
        case .domainAnnouncement: "DomainAnnouncement"
        case .masterAnnouncement: "MasterAnnouncement"
        case .resetStateRequest: "ResetStateRequest"
        case .localMasterAnnouncement: "LocalMasterAnnouncement"
        }
    }
}

/// The two mailslots that carry browser frames.
public enum BrowserMailslot: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `\MAILSLOT\BROWSE`: [MS-BRWS] frames.
    case browse = "\\MAILSLOT\\BROWSE"
    /// `\MAILSLOT\LANMAN`: LAN Manager announcements (Samba's `lm announce`), and [MS-BRWS] frames that
    /// Windows may send there.
    case lanman = "\\MAILSLOT\\LANMAN"

    /// The mailslot a transaction names (any case), or nil when it is another one.
    public init?(mailslotName: String) {
        let upper = String(decoding: Array(mailslotName.utf8).map(WireBytes.asciiUppercased), as: UTF8.self)
        guard let match = BrowserMailslot(rawValue: upper) else { return nil }
        self = match
    }

    public var description: String { rawValue }
}

/// A major.minor version pair (OS version, browser protocol version).
public struct BrowserVersionNumber: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8

    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// `6.1`.
    public var description: String { "\(major).\(minor)" }

    public static func < (a: BrowserVersionNumber, b: BrowserVersionNumber) -> Bool {
        (a.major, a.minor) < (b.major, b.minor)
    }
}

/// How an announcement is laid out on the wire.
public enum BrowserFrameLayout: String, Sendable, Hashable, CustomStringConvertible {
    /// [MS-BRWS] 2.2.1/2.2.7/2.2.10: periodicity in milliseconds, 16-byte name field, browser version and
    /// signature 0xAA55.
    case browser
    /// The LAN Manager layout used on `\MAILSLOT\LANMAN` (Samba's `lm announce`): server type first,
    /// periodicity in seconds (16 bits), two NUL-terminated strings, no version or signature.
    case lanManager

    public var description: String {
        switch self {
        case .browser: "MS-BRWS"
        case .lanManager: "LAN Manager"
        }
    }
}

/// HostAnnouncement (0x01, [MS-BRWS] 2.2.1) and LocalMasterAnnouncement (0x0F, 2.2.10): a server says it
/// is there, what it runs and how often it will say so again.
public struct BrowserHostAnnouncement: Sendable, Hashable {
    public var layout: BrowserFrameLayout
    /// Sent as 0, ignored on receipt.
    public var updateCount: UInt8
    /// How often the server announces, in milliseconds (the LAN Manager layout's seconds × 1000).
    public var periodicity: UInt32
    /// The server's name (up to 15 characters).
    public var serverName: String
    /// OSVersionMajor.OSVersionMinor (Samba: its `announce version`, 6.1 by default; for a
    /// LocalMasterAnnouncement [MS-BRWS] calls the same bytes BrowserConfigVersion).
    public var osVersion: BrowserVersionNumber
    public var serverType: BrowserServerType
    /// BrowserVersionMajor.BrowserVersionMinor (15.1); nil in the LAN Manager layout.
    public var browserVersion: BrowserVersionNumber?
    /// 0xAA55; nil in the LAN Manager layout.
    public var signature: UInt16?
    /// The server's comment (Samba: `server string`).
    public var comment: String

    public init(layout: BrowserFrameLayout = .browser, updateCount: UInt8 = 0, periodicity: UInt32, serverName: String,
                osVersion: BrowserVersionNumber, serverType: BrowserServerType,
                browserVersion: BrowserVersionNumber? = BrowserVersionNumber(major: 15, minor: 1),
                signature: UInt16? = 0xAA55, comment: String) {
        self.layout = layout
        self.updateCount = updateCount
        self.periodicity = periodicity
        self.serverName = serverName
        self.osVersion = osVersion
        self.serverType = serverType
        self.browserVersion = browserVersion
        self.signature = signature
        self.comment = comment
    }

    /// A server type of zero announces that the server is shutting down ([MS-BRWS] 3.2.7).
    public var isShutdown: Bool { serverType.rawValue == 0 }
}

/// DomainAnnouncement (0x0C, [MS-BRWS] 2.2.7): a local master browser announces its workgroup to the
/// master browsers of other workgroups.
public struct BrowserDomainAnnouncement: Sendable, Hashable {
    public var layout: BrowserFrameLayout
    public var updateCount: UInt8
    /// How often the workgroup is announced, in milliseconds.
    public var periodicity: UInt32
    /// The workgroup or domain.
    public var machineGroup: String
    /// BrowserConfigVersionMajor.Minor (Samba sends its OS version here).
    public var browserConfigVersion: BrowserVersionNumber
    /// SV_TYPE_DOMAIN_ENUM and the master's own bits.
    public var serverType: BrowserServerType
    /// nil in the LAN Manager layout.
    public var browserVersion: BrowserVersionNumber?
    /// nil in the LAN Manager layout.
    public var signature: UInt16?
    /// The local master browser of the workgroup (the sender).
    public var localMasterBrowserName: String

    public init(layout: BrowserFrameLayout = .browser, updateCount: UInt8 = 0, periodicity: UInt32, machineGroup: String,
                browserConfigVersion: BrowserVersionNumber, serverType: BrowserServerType,
                browserVersion: BrowserVersionNumber? = BrowserVersionNumber(major: 15, minor: 1),
                signature: UInt16? = 0xAA55, localMasterBrowserName: String) {
        self.layout = layout
        self.updateCount = updateCount
        self.periodicity = periodicity
        self.machineGroup = machineGroup
        self.browserConfigVersion = browserConfigVersion
        self.serverType = serverType
        self.browserVersion = browserVersion
        self.signature = signature
        self.localMasterBrowserName = localMasterBrowserName
    }
}

/// AnnouncementRequest (0x02, [MS-BRWS] 2.2.2): every server that receives it announces itself soon.
public struct BrowserAnnouncementRequest: Sendable, Hashable {
    /// Should be 0; Samba's nmbd puts its workgroup token here.
    public var reserved: UInt8
    /// The sender's name (receivers ignore it).
    public var responseName: String
    /// True when the name came after an empty string, as Samba's nmbd lays it out (`02 01 00 NAME`, the
    /// name's NUL cut off).
    public var responseNameAfterEmptyString: Bool

    public init(reserved: UInt8 = 0, responseName: String, responseNameAfterEmptyString: Bool = false) {
        self.reserved = reserved
        self.responseName = responseName
        self.responseNameAfterEmptyString = responseNameAfterEmptyString
    }
}

/// The Desire byte of the election criteria (its low 8 bits, [MS-BRWS] 2.2.3 "Role").
public struct BrowserElectionDesire: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// A backup browser is running.
    public static let backup = BrowserElectionDesire(rawValue: 0x01)
    /// Keeps a browse list without being backup (Samba always sets it; [MS-BRWS] assigns the bit to
    /// domain controllers).
    public static let standby = BrowserElectionDesire(rawValue: 0x02)
    /// A master browser is running.
    public static let master = BrowserElectionDesire(rawValue: 0x04)
    /// Configured as preferred master browser.
    public static let preferredMaster = BrowserElectionDesire(rawValue: 0x08)
    /// Uses a NetBIOS name server (WINS).
    public static let winsClient = BrowserElectionDesire(rawValue: 0x20)
    /// Runs on the primary domain controller (Samba: is the domain master browser).
    public static let primaryDomainController = BrowserElectionDesire(rawValue: 0x80)

    public static let definitions: [(flag: BrowserElectionDesire, name: String)] = [
        (.backup, "BACKUP"), (.standby, "STANDBY"), (.master, "MASTER"), (.preferredMaster, "PREFERRED_MASTER"),
        (.winsClient, "WINS_CLIENT"), (.primaryDomainController, "PDC"),
    ]

    public var names: [String] {
        var names = Self.definitions.filter { contains($0.flag) }.map(\.name)
        let unknown = rawValue & ~Self.definitions.reduce(0) { $0 | $1.flag.rawValue }
        if unknown != 0 { names.append("unknown " + WireBytes.hex8(unknown)) }
        return names
    }

    /// `0x0a (STANDBY, PREFERRED_MASTER)`.
    public var description: String {
        WireBytes.hex8(rawValue) + " (" + (names.isEmpty ? "none" : names.joined(separator: ", ")) + ")"
    }
}

/// The 32-bit election criteria of a RequestElection ([MS-BRWS] 2.2.3), compared as an unsigned number:
/// OS (bits 24-31), browser version (bits 8-23: major, then minor) and Desire (bits 0-7).
public struct BrowserElectionCriteria: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// The OS byte: Windows sends 0x01 (Windows for Workgroups), 0x10 (NT Workstation) or 0x20 (NT
    /// Server); Samba sends its `os level` (0-255).
    public var os: UInt8 { UInt8(truncatingIfNeeded: rawValue >> 24) }
    /// The browser protocol version: 15.1 ([MS-BRWS]: 0x00010F00).
    public var browserVersion: BrowserVersionNumber {
        BrowserVersionNumber(major: UInt8(truncatingIfNeeded: rawValue >> 8), minor: UInt8(truncatingIfNeeded: rawValue >> 16))
    }
    public var desire: BrowserElectionDesire { BrowserElectionDesire(rawValue: UInt8(truncatingIfNeeded: rawValue)) }

    /// The Windows name of the OS byte, when it is exactly one of Windows' values.
    public var osName: String? {
        switch os {
        case 0x01: "WINDOWS_FOR_WORKGROUPS"
        case 0x10: "NT_WORKSTATION"
        case 0x20: "NT_SERVER"
        default: nil
        }
    }

    /// `0x41010f0a (OS 0x41 = os level 65, browser 15.1, desire 0x0a (STANDBY, PREFERRED_MASTER))`.
    public var description: String {
        let osText = osName.map { "\(WireBytes.hex8(os)) \($0)" } ?? "\(WireBytes.hex8(os)) = os level \(os)"
        return "\(WireBytes.hex32(rawValue)) (OS \(osText), browser \(browserVersion), desire \(desire))"
    }

    public static func < (a: BrowserElectionCriteria, b: BrowserElectionCriteria) -> Bool { a.rawValue < b.rawValue }
}

/// RequestElection (0x08, [MS-BRWS] 2.2.3): starts or takes part in a browser election.
public struct BrowserRequestElection: Sendable, Hashable {
    /// 1 (Samba sends 0 with zero criteria and uptime).
    public var version: UInt8
    public var criteria: BrowserElectionCriteria
    /// Time since the browser started, in milliseconds: what Windows and Samba send ([MS-BRWS] says
    /// seconds).
    public var uptime: UInt32
    /// Sent as 0, ignored.
    public var unused: UInt32
    public var serverName: String

    public init(version: UInt8 = 1, criteria: BrowserElectionCriteria, uptime: UInt32, unused: UInt32 = 0, serverName: String) {
        self.version = version
        self.criteria = criteria
        self.uptime = uptime
        self.unused = unused
        self.serverName = serverName
    }
}

/// GetBackupListRequest (0x09, [MS-BRWS] 2.2.4): a client asks the master browser for backup browsers.
public struct BrowserGetBackupListRequest: Sendable, Hashable {
    public var requestedCount: UInt8
    /// Echoed in the response.
    public var token: UInt32

    public init(requestedCount: UInt8, token: UInt32) {
        self.requestedCount = requestedCount
        self.token = token
    }
}

/// GetBackupListResponse (0x0A, [MS-BRWS] 2.2.5): the master browser's answer.
public struct BrowserGetBackupListResponse: Sendable, Hashable {
    public var backupServerCount: UInt8
    public var token: UInt32
    public var backupServers: [String]

    public init(backupServerCount: UInt8, token: UInt32, backupServers: [String]) {
        self.backupServerCount = backupServerCount
        self.token = token
        self.backupServers = backupServers
    }
}

/// BecomeBackup (0x0B, [MS-BRWS] 2.2.6): the master browser promotes a potential browser.
public struct BrowserBecomeBackup: Sendable, Hashable {
    public var browserToPromote: String
    public init(browserToPromote: String) { self.browserToPromote = browserToPromote }
}

/// MasterAnnouncement (0x0D, [MS-BRWS] 2.2.8): a local master browser tells the domain master it exists.
public struct BrowserMasterAnnouncement: Sendable, Hashable {
    public var masterBrowserServerName: String
    public init(masterBrowserServerName: String) { self.masterBrowserServerName = masterBrowserServerName }
}

/// The Type byte of a ResetStateRequest ([MS-BRWS] 2.2.9).
public struct BrowserResetStateType: OptionSet, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// RESET_STATE_STOP_MASTER: stop being master browser.
    public static let stopMaster = BrowserResetStateType(rawValue: 0x01)
    /// RESET_STATE_CLEAR_ALL: stop all browser activity.
    public static let clearAll = BrowserResetStateType(rawValue: 0x02)
    /// RESET_STATE_STOP: stop the browser service.
    public static let stop = BrowserResetStateType(rawValue: 0x04)

    public var names: [String] {
        var names: [String] = []
        if contains(.stopMaster) { names.append("RESET_STATE_STOP_MASTER") }
        if contains(.clearAll) { names.append("RESET_STATE_CLEAR_ALL") }
        if contains(.stop) { names.append("RESET_STATE_STOP") }
        if rawValue & ~0x07 != 0 { names.append("unknown " + WireBytes.hex8(rawValue & ~0x07)) }
        return names
    }

    public var description: String {
        WireBytes.hex8(rawValue) + " (" + (names.isEmpty ? "none" : names.joined(separator: ", ")) + ")"
    }
}

/// ResetStateRequest (0x0E, [MS-BRWS] 2.2.9).
public struct BrowserResetStateRequest: Sendable, Hashable {
    public var type: BrowserResetStateType
    public init(type: BrowserResetStateType) { self.type = type }
}

/// One decoded browser frame.
public enum BrowserFrame: Sendable, Hashable {
    case hostAnnouncement(BrowserHostAnnouncement)
    case announcementRequest(BrowserAnnouncementRequest)
    case requestElection(BrowserRequestElection)
    case getBackupListRequest(BrowserGetBackupListRequest)
    case getBackupListResponse(BrowserGetBackupListResponse)
    case becomeBackup(BrowserBecomeBackup)
    case domainAnnouncement(BrowserDomainAnnouncement)
    case masterAnnouncement(BrowserMasterAnnouncement)
    case resetStateRequest(BrowserResetStateRequest)
    case localMasterAnnouncement(BrowserHostAnnouncement)

    public var opcode: BrowserOpcode {
        switch self {
        case .hostAnnouncement: .hostAnnouncement
        case .announcementRequest: .announcementRequest
        case .requestElection: .requestElection
        case .getBackupListRequest: .getBackupListRequest
        case .getBackupListResponse: .getBackupListResponse
        case .becomeBackup: .becomeBackup
        case .domainAnnouncement: .domainAnnouncement
        case .masterAnnouncement: .masterAnnouncement
        case .resetStateRequest: .resetStateRequest
        case .localMasterAnnouncement: .localMasterAnnouncement
        }
    }

    /// The announcement of a HostAnnouncement or LocalMasterAnnouncement, else nil.
    public var hostAnnouncement: BrowserHostAnnouncement? {
        switch self {
        case .hostAnnouncement(let a), .localMasterAnnouncement(let a): a
        default: nil
        }
    }

    /// Decodes the data of a message on `mailslot`.
    ///
    /// On `\MAILSLOT\BROWSE` every frame has the [MS-BRWS] layout. On `\MAILSLOT\LANMAN` a host, local
    /// master or domain announcement has the LAN Manager layout unless it carries the [MS-BRWS] signature
    /// 0xAA55 at offset 30 (Windows may send [MS-BRWS] announcements there); other opcodes have the
    /// [MS-BRWS] layout. Bytes after a complete frame are ignored. Strings are ISO 8859-1 (one character
    /// per byte), so nothing is lost.
    ///
    /// Never traps; every rejection is a ``BrowserDecodeError`` with a specific reason.
    public static func decode(_ data: some Collection<UInt8>, mailslot: BrowserMailslot = .browse) throws(BrowserDecodeError) -> BrowserFrame {
        try BrowserFrameDecoder(Array(data)).decode(mailslot: mailslot)
    }

    /// Decodes the browser frame a mailslot datagram carries.
    ///
    /// - Throws: ``BrowserDecodeError/notBrowserMailslot(_:)`` when the datagram is for another mailslot.
    public static func decode(datagram: NetBIOSMailslotDatagram) throws(BrowserDecodeError) -> BrowserFrame {
        guard let mailslot = BrowserMailslot(mailslotName: datagram.mailslotName) else {
            throw .notBrowserMailslot(datagram.mailslotName)
        }
        return try decode(datagram.data, mailslot: mailslot)
    }
}

/// The decoder's cursor: every read is bounds-checked and reports what was missing.
private struct BrowserFrameDecoder {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static let nameFieldLength = 16
    static let maximumNameLength = 15

    func decode(mailslot: BrowserMailslot) throws(BrowserDecodeError) -> BrowserFrame {
        guard let first = bytes.first else { throw .emptyFrame }
        guard let opcode = BrowserOpcode(rawValue: first) else { throw .unknownOpcode(first) }
        switch opcode {
        case .hostAnnouncement, .localMasterAnnouncement, .domainAnnouncement:
            let lanManager = mailslot == .lanman && !hasBrowserSignature
            let announcement = lanManager ? try lanManagerAnnouncement(opcode) : try browserAnnouncement(opcode)
            switch opcode {
            case .hostAnnouncement: return .hostAnnouncement(announcement)
            case .localMasterAnnouncement: return .localMasterAnnouncement(announcement)
            default:
                return .domainAnnouncement(BrowserDomainAnnouncement(
                    layout: announcement.layout, updateCount: announcement.updateCount, periodicity: announcement.periodicity,
                    machineGroup: announcement.serverName, browserConfigVersion: announcement.osVersion,
                    serverType: announcement.serverType, browserVersion: announcement.browserVersion,
                    signature: announcement.signature, localMasterBrowserName: announcement.comment))
            }
        case .announcementRequest:
            try need(opcode, 2)
            var (name, end) = try string(at: 2, field: "ResponseName", opcode: opcode, name: true, allowUnterminated: true)
            var afterEmpty = false
            if name.isEmpty, end < bytes.count {
                // Samba's nmbd writes the name one byte late and cuts its NUL: `02 token 00 NAME`.
                (name, end) = try string(at: end, field: "ResponseName", opcode: opcode, name: true, allowUnterminated: true)
                afterEmpty = true
            }
            return .announcementRequest(BrowserAnnouncementRequest(reserved: bytes[1], responseName: name,
                                                                   responseNameAfterEmptyString: afterEmpty))
        case .requestElection:
            try need(opcode, 14)
            let (name, _) = try string(at: 14, field: "ServerName", opcode: opcode, name: true)
            return .requestElection(BrowserRequestElection(
                version: bytes[1], criteria: BrowserElectionCriteria(rawValue: u32(2)), uptime: u32(6), unused: u32(10),
                serverName: name))
        case .getBackupListRequest:
            try need(opcode, 6)
            return .getBackupListRequest(BrowserGetBackupListRequest(requestedCount: bytes[1], token: u32(2)))
        case .getBackupListResponse:
            try need(opcode, 6)
            let count = Int(bytes[1])
            var names: [String] = []
            var offset = 6
            while names.count < count {
                guard offset < bytes.count else { throw .backupListTruncated(declared: count, found: names.count) }
                let (name, end) = try string(at: offset, field: "BackupServerList[\(names.count)]", opcode: opcode, name: true)
                names.append(name)
                offset = end
            }
            return .getBackupListResponse(BrowserGetBackupListResponse(backupServerCount: bytes[1], token: u32(2), backupServers: names))
        case .becomeBackup:
            try need(opcode, 2)
            let (name, _) = try string(at: 1, field: "BrowserToPromote", opcode: opcode, name: true)
            return .becomeBackup(BrowserBecomeBackup(browserToPromote: name))
        case .masterAnnouncement:
            try need(opcode, 2)
            let (name, _) = try string(at: 1, field: "MasterBrowserServerName", opcode: opcode, name: true)
            return .masterAnnouncement(BrowserMasterAnnouncement(masterBrowserServerName: name))
        case .resetStateRequest:
            try need(opcode, 2)
            return .resetStateRequest(BrowserResetStateRequest(type: BrowserResetStateType(rawValue: bytes[1])))
        }
    }

    /// The [MS-BRWS] signature 0xAA55 where the [MS-BRWS] announcement layout puts it.
    var hasBrowserSignature: Bool { bytes.count >= 32 && bytes[30] == 0x55 && bytes[31] == 0xAA }

    /// [MS-BRWS] 2.2.1/2.2.7/2.2.10: opcode, UpdateCount, Periodicity (ms, 4), name (16), two version
    /// bytes, ServerType (4), browser version (2), Signature (2), then a NUL-terminated string.
    func browserAnnouncement(_ opcode: BrowserOpcode) throws(BrowserDecodeError) -> BrowserHostAnnouncement {
        try need(opcode, 33)
        let nameField = opcode == .domainAnnouncement ? "MachineGroup" : "ServerName"
        let name = try fixedName(at: 6, field: nameField)
        let stringField = opcode == .domainAnnouncement ? "LocalMasterBrowserName" : "Comment"
        let (text, _) = try string(at: 32, field: stringField, opcode: opcode, name: opcode == .domainAnnouncement)
        return BrowserHostAnnouncement(
            layout: .browser, updateCount: bytes[1], periodicity: u32(2), serverName: name,
            osVersion: BrowserVersionNumber(major: bytes[22], minor: bytes[23]), serverType: BrowserServerType(rawValue: u32(24)),
            browserVersion: BrowserVersionNumber(major: bytes[28], minor: bytes[29]), signature: u16(30), comment: text)
    }

    /// The LAN Manager layout: opcode, UpdateCount, ServerType (4), OS major and minor, Periodicity (s, 2),
    /// then the name and the comment, each NUL-terminated.
    func lanManagerAnnouncement(_ opcode: BrowserOpcode) throws(BrowserDecodeError) -> BrowserHostAnnouncement {
        try need(opcode, 11)
        let nameField = opcode == .domainAnnouncement ? "MachineGroup" : "ServerName"
        let (name, nameEnd) = try string(at: 10, field: nameField, opcode: opcode, name: true)
        let stringField = opcode == .domainAnnouncement ? "LocalMasterBrowserName" : "Comment"
        guard nameEnd < bytes.count else { throw .stringNotTerminated(field: stringField) }
        let (text, _) = try string(at: nameEnd, field: stringField, opcode: opcode, name: opcode == .domainAnnouncement)
        return BrowserHostAnnouncement(
            layout: .lanManager, updateCount: bytes[1], periodicity: UInt32(u16(8)) * 1000, serverName: name,
            osVersion: BrowserVersionNumber(major: bytes[6], minor: bytes[7]), serverType: BrowserServerType(rawValue: u32(2)),
            browserVersion: nil, signature: nil, comment: text)
    }

    func need(_ opcode: BrowserOpcode, _ count: Int) throws(BrowserDecodeError) {
        guard bytes.count >= count else { throw .truncated(opcode, needed: count, available: bytes.count) }
    }

    func u16(_ offset: Int) -> UInt16 { WireBytes.uint16LE(bytes, at: offset) ?? 0 }
    func u32(_ offset: Int) -> UInt32 { WireBytes.uint32LE(bytes, at: offset) ?? 0 }

    /// A 16-byte field holding a NUL-terminated name; what follows the NUL is ignored.
    func fixedName(at offset: Int, field: String) throws(BrowserDecodeError) -> String {
        let slice = bytes[offset..<(offset + Self.nameFieldLength)]
        guard let nul = slice.firstIndex(of: 0) else { throw .stringNotTerminated(field: field) }
        return WireBytes.latin1String(bytes[offset..<nul])
    }

    /// A NUL-terminated string starting at `offset` and the offset after its NUL. Names may have at most
    /// 15 bytes. With `allowUnterminated`, a string that runs to the end of the frame is accepted.
    func string(at offset: Int, field: String, opcode: BrowserOpcode, name: Bool,
                allowUnterminated: Bool = false) throws(BrowserDecodeError) -> (String, Int) {
        guard offset <= bytes.count else { throw .truncated(opcode, needed: offset + 1, available: bytes.count) }
        let end: Int
        let next: Int
        if let nul = bytes[offset...].firstIndex(of: 0) {
            end = nul
            next = nul + 1
        } else if allowUnterminated {
            end = bytes.count
            next = bytes.count
        } else {
            throw .stringNotTerminated(field: field)
        }
        if name && end - offset > Self.maximumNameLength { throw .nameTooLong(field: field, length: end - offset) }
        return (WireBytes.latin1String(bytes[offset..<end]), next)
    }
}
