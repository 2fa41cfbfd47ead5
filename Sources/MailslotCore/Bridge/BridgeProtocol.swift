/// How `mailslotd` bridges carry mailslot datagrams between sites over NATS: the subjects, the headers,
/// and the checks every message from NATS passes before anything is done with it. Pure: no I/O.
///
/// Subjects (every token percent-encoded, so that no name can add a level or a wildcard):
///
/// | subject | what | who subscribes |
/// |---|---|---|
/// | `mailslot.v1.domain.<WORKGROUP>.<level>...` | a domain write (`\\WORKGROUP\mailslot\x`) seen at one site | every bridge of that workgroup |
/// | `mailslot.v1.unique.<SITE>` | a write to one computer that lives at SITE | SITE's bridges |
/// | `mailslot.v1.names.<WORKGROUP>` | a request: where is NAME? (the payload) | every bridge of that workgroup |
/// | `mailslot.v1.bridges.<SITE>` | a bridge's heartbeat (its id), for choosing one forwarder per LAN | SITE's bridges |
///
/// The message's payload is the mailslot message's data; the headers carry what the datagram carried
/// besides (``Header``).
public enum BridgeProtocol {
    public static let version = "1"
    public static let prefix = "mailslot.v1"
    /// The most data a bridged message carries: a NetBIOS datagram never carries more than 512 bytes of
    /// SMB, so anything larger did not come from a datagram.
    public static let largestData = 1_024
    /// The longest header value accepted.
    public static let largestHeaderValue = 300

    /// The header names.
    public enum Header {
        public static let version = "Mailslot-Version"
        public static let kind = "Mailslot-Kind"
        public static let workgroup = "Mailslot-Workgroup"
        public static let mailslot = "Mailslot-Name"
        public static let sourceName = "Mailslot-Source-Name"
        public static let sourceIP = "Mailslot-Source-IP"
        public static let destination = "Mailslot-Destination"
        public static let datagramID = "Mailslot-Datagram-Id"
        public static let site = "Mailslot-Site"
        public static let bridge = "Mailslot-Bridge"
    }

    public static func domainSubject(workgroup: String, mailslotName: String) -> String {
        let levels = mailslotName.split(separator: "\\", omittingEmptySubsequences: true).dropFirst() // after MAILSLOT
        return ([prefix, "domain", token(workgroup)] + levels.map { token(String($0)) }).joined(separator: ".")
    }

    public static func domainWildcard(workgroup: String) -> String { [prefix, "domain", token(workgroup), ">"].joined(separator: ".") }
    public static func uniqueSubject(site: String) -> String { [prefix, "unique", token(site)].joined(separator: ".") }
    public static func namesSubject(workgroup: String) -> String { [prefix, "names", token(workgroup)].joined(separator: ".") }
    public static func presenceSubject(site: String) -> String { [prefix, "bridges", token(site)].joined(separator: ".") }

    /// One subject token: upper-cased, with every byte outside `A-Z 0-9 _ -` written `%XX` (NATS subjects
    /// may not hold spaces, `.`, `*` or `>`, and a name must never become two levels or a wildcard).
    public static func token(_ text: String) -> String {
        // Most names are plain ASCII letters, digits, `_` and `-`: one pass, one string.
        var plain = true
        for byte in text.utf8 where !Self.isTokenByte(byte) && !(UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) {
            plain = false
            break
        }
        if plain, !text.isEmpty {
            return String(unsafeUninitializedCapacity: text.utf8.count) { buffer in
                for (i, byte) in text.utf8.enumerated() { buffer[i] = Self.asciiUppercased(byte) }
                return text.utf8.count
            }
        }
        var out = ""
        for byte in text.uppercased().utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out.isEmpty ? "%" : out
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"): true
        default: false
        }
    }

    static func asciiUppercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) ? byte - 0x20 : byte
    }
}

/// A mailslot message as one site's bridge publishes it and another's receives it.
public struct BridgedMessage: Sendable, Equatable {
    public enum Kind: String, Sendable { case domain, unique }

    public var kind: Kind
    public var workgroup: String
    /// The mailslot name as the datagram carried it (`\MAILSLOT\BROWSE`).
    public var mailslotName: String
    /// The NetBIOS name and address of the machine that wrote it.
    public var sourceName: String
    public var sourceIP: UInt32
    /// For a unique write: the computer it is for.
    public var destination: String?
    public var datagramID: UInt16
    /// The site whose LAN carried it, and the bridge that published it.
    public var site: String
    public var bridge: String
    public var data: [UInt8]

    public init(kind: Kind, workgroup: String, mailslotName: String, sourceName: String, sourceIP: UInt32, destination: String? = nil,
                datagramID: UInt16, site: String, bridge: String, data: [UInt8]) {
        self.kind = kind
        self.workgroup = workgroup
        self.mailslotName = mailslotName
        self.sourceName = sourceName
        self.sourceIP = sourceIP
        self.destination = destination
        self.datagramID = datagramID
        self.site = site
        self.bridge = bridge
        self.data = data
    }

    /// The subject it is published on.
    public var subject: String {
        switch kind {
        case .domain: BridgeProtocol.domainSubject(workgroup: workgroup, mailslotName: mailslotName)
        case .unique: BridgeProtocol.uniqueSubject(site: site)
        }
    }

    /// The headers it is published with.
    public var headers: [(name: String, value: String)] {
        var headers: [(String, String)] = [
            (BridgeProtocol.Header.version, BridgeProtocol.version), (BridgeProtocol.Header.kind, kind.rawValue),
            (BridgeProtocol.Header.workgroup, workgroup), (BridgeProtocol.Header.mailslot, mailslotName),
            (BridgeProtocol.Header.sourceName, sourceName), (BridgeProtocol.Header.sourceIP, IPv4Address(sourceIP).description),
            (BridgeProtocol.Header.datagramID, String(datagramID)), (BridgeProtocol.Header.site, site), (BridgeProtocol.Header.bridge, bridge),
        ]
        if let destination { headers.append((BridgeProtocol.Header.destination, destination)) }
        return headers
    }

    /// What identifies one datagram wherever it travels: its source, its id, its mailslot (in any case) and
    /// its data. Two bridges that both saw it on one LAN publish messages with the same key, and a
    /// re-broadcast keeps it. Keys are only compared within one process (each bridge works out its own), so
    /// they come from Swift's `Hasher`: SipHash, seeded afresh in each process, so that nobody can make two
    /// datagrams collide on purpose and have one dropped as the other's duplicate. Computed without
    /// allocating for ASCII mailslot names (every name a datagram carries in practice): it runs for every
    /// bridged message at both ends.
    public var key: UInt64 {
        var hasher = Hasher()
        func combine(_ text: String) {
            var text = text
            hasher.combine(text.utf8.count) // so that bytes cannot move from one field to the next
            text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
        hasher.combine(sourceIP)
        combine(sourceName)
        hasher.combine(datagramID)
        var name = mailslotName
        let ascii = name.withUTF8 { bytes in
            guard bytes.allSatisfy({ $0 < 0x80 }) else { return false }
            hasher.combine(bytes.count)
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bytes.count) { upper in
                for i in bytes.indices { upper[i] = BridgeProtocol.asciiUppercased(bytes[i]) }
                hasher.combine(bytes: UnsafeRawBufferPointer(upper))
            }
            return true
        }
        if !ascii { combine(mailslotName.uppercased()) }
        hasher.combine(data.count)
        data.withUnsafeBytes { hasher.combine(bytes: $0) }
        return UInt64(bitPattern: Int64(hasher.finalize()))
    }

    /// Why a message from NATS is not a bridged mailslot message (each a snake_case drop reason).
    public enum Rejection: String, Error, Sendable {
        case unknownVersion = "unknown_version"
        case missingHeader = "missing_header"
        case badHeader = "bad_header"
        case oversized = "oversized"
        case subjectMismatch = "subject_mismatch"
    }

    /// Checks a message received from NATS: every header present, well-formed and within bounds, the data
    /// no larger than a datagram carries, and the subject the one its headers say.
    public init(subject: String, header: (String) -> String?, data: [UInt8]) throws(Rejection) {
        func value(_ name: String) throws(Rejection) -> String {
            guard let text = header(name) else { throw .missingHeader }
            try BridgedMessage.check(value: text)
            return text
        }
        guard try value(BridgeProtocol.Header.version) == BridgeProtocol.version else { throw .unknownVersion }
        guard data.count <= BridgeProtocol.largestData else { throw .oversized }
        guard let kind = Kind(rawValue: try value(BridgeProtocol.Header.kind)) else { throw .badHeader }
        let workgroup = try value(BridgeProtocol.Header.workgroup)
        let mailslotName = try value(BridgeProtocol.Header.mailslot)
        let sourceName = try value(BridgeProtocol.Header.sourceName)
        guard let sourceIP = IPv4Address(try value(BridgeProtocol.Header.sourceIP)),
              let datagramID = UInt16(try value(BridgeProtocol.Header.datagramID)) else { throw .badHeader }
        let site = try value(BridgeProtocol.Header.site)
        let bridge = try value(BridgeProtocol.Header.bridge)
        let destination = kind == .unique ? try value(BridgeProtocol.Header.destination) : nil
        self.init(kind: kind, workgroup: workgroup, mailslotName: mailslotName, sourceName: sourceName, sourceIP: sourceIP.value,
                  destination: destination, datagramID: datagramID, site: site, bridge: bridge, data: data)
        try checkNames()
        guard self.subject == subject else { throw .subjectMismatch }
    }

    /// Throws what ``init(subject:header:data:)`` would throw for its headers: what a bridge checks before
    /// it publishes a datagram of its LAN. A name from the LAN may hold any byte; one with a line break
    /// would end its header early, and the other sites refuse names that are not printable ASCII.
    public func check() throws(Rejection) {
        for (_, value) in headers { try BridgedMessage.check(value: value) }
        try checkNames()
    }

    /// A header value: within bounds, no control characters.
    private static func check(value text: String) throws(Rejection) {
        guard text.utf8.count <= BridgeProtocol.largestHeaderValue, !text.unicodeScalars.contains(where: { $0.value < 0x20 }) else { throw .badHeader }
    }

    /// Names as NetBIOS carries them: at most 15 bytes, printable ASCII; the mailslot under `\MAILSLOT\`.
    private func checkNames() throws(Rejection) {
        for name in [workgroup, sourceName] + (destination.map { [$0] } ?? []) {
            guard !name.isEmpty, name.utf8.count <= 15, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else { throw .badHeader }
        }
        guard mailslotName.uppercased().hasPrefix("\\MAILSLOT\\"), mailslotName.utf8.count > 10, mailslotName.utf8.count <= 255,
              !site.isEmpty, !bridge.isEmpty else { throw .badHeader }
    }

    /// The next message of a stream this one began: a message from NATS whose subject and headers are this
    /// one's but for the datagram id (the caller has compared them), so that only the id and the data are
    /// new, and only they are checked, as ``init(subject:header:data:)`` checks them.
    public func next(datagramID text: String?, data: [UInt8]) throws(Rejection) -> BridgedMessage {
        guard let text else { throw .missingHeader }
        guard data.count <= BridgeProtocol.largestData else { throw .oversized }
        guard text.utf8.count <= BridgeProtocol.largestHeaderValue, let datagramID = UInt16(text) else { throw .badHeader }
        var next = self
        next.datagramID = datagramID
        next.data = data
        return next
    }
}

extension String {
    func leftPadded(to width: Int) -> String { count >= width ? self : String(repeating: "0", count: width - count) + self }
}
