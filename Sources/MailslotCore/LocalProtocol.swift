/// The small protocol between a local writer and a mailslot server, carried over an
/// `AF_UNIX SOCK_SEQPACKET` connection to the server's abstract address.
///
/// 1. The writer connects. The server checks the writer's credentials (SO_PEERCRED) and sends one greeting
///    record (``LocalGreeting``): whether the writer may write, the maximum message size, the quota. With
///    an accepting greeting come two descriptors (SCM_RIGHTS): the writer's own ring (a sealed memfd that
///    only this writer and the server map) and the server's liveness page (read-only).
/// 2. The writer copies each message into its ring (RingLayout, in Ring/RingFormat.swift). The connection then
///    carries only doorbell bytes (sent when the server sleeps) and, by closing, the writer's departure.
public enum LocalProtocol {
    /// The abstract socket address of a mailslot (without the leading NUL byte).
    ///
    /// Names whose canonical form fits are used as they are, so that `/proc/net/unix` and `ss -x` show
    /// them; longer ones are replaced by a 128-bit hash of the canonical name (the server's greeting
    /// repeats the full name, and writers check it).
    public static func abstractAddress(forKey key: String) -> [UInt8] {
        let body = Array(key.utf8)
        if namedAddressPrefix.count + body.count <= maxAddressBytes { return namedAddressPrefix + body }
        return hashedAddressPrefix + Array(fnv1a128Hex(body).utf8)
    }

    /// The start of the address of a mailslot whose key fits: `mailslot:` and the key itself.
    public static let namedAddressPrefix: [UInt8] = Array("mailslot:".utf8)
    /// The start of the address of a mailslot whose key is too long, followed by a hash of the key.
    public static let hashedAddressPrefix: [UInt8] = Array("mailslot#".utf8)

    /// The prefix every mailslot address starts with (`mailslot:` or `mailslot#`).
    public static let addressPrefix: [UInt8] = Array("mailslot".utf8)

    /// `sun_path` holds 108 bytes; the abstract name uses the 107 after the leading NUL.
    public static let maxAddressBytes = 107

    /// A client that binds its socket to an abstract name starting with this before it connects asks for
    /// the mailslot's state instead of opening it for writing (`GetMailslotInfo` on a client handle): the
    /// server answers with one greeting that carries ``LocalGreeting/state`` and closes the connection.
    public static let queryPrefix: [UInt8] = Array("msquery:".utf8)

    static func fnv1a128Hex(_ bytes: [UInt8]) -> String {
        // Two independent 64-bit FNV-1a lanes (different offset bases) make a 128-bit digest.
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x6c62_272e_07bb_0142
        for byte in bytes {
            a = (a ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            b = (b ^ UInt64(byte &+ 0x5A)) &* 0x0000_0100_0000_01B3
        }
        func hex(_ v: UInt64) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: 16 - s.count) + s
        }
        return hex(a) + hex(b)
    }
}

/// The first record a server sends on every writer connection.
public struct LocalGreeting: Sendable, Hashable {
    public enum Status: UInt16, Sendable {
        case ok = 0
        case accessDenied = 5
        /// The mailslot already serves as many writers as it takes at once.
        case tooManyWriters = 1450
        /// The server could not set up this writer's ring: it is out of descriptors or memory for now.
        case serverOutOfResources = 8
    }
    public var status: Status
    /// The mailslot's maximum message size (0 = any).
    public var maxMessageSize: UInt32
    /// The mailslot's quota in bytes.
    public var quota: UInt64
    /// The pid of the server process that answered.
    public var serverPID: Int32
    /// The uid that created the mailslot.
    public var ownerUID: UInt32
    /// The access rule, for display (`mailslot list`).
    public var access: WriterAccess
    /// The mailslot path as its creator wrote it.
    public var path: String
    /// The queue's state, in the answer to a query (``LocalProtocol/queryPrefix``); nil for writers.
    public var state: QueueState?
    /// Whether the mailslot takes messages from the network: mailslotd delivers only where this is set.
    public var allowsNetwork: Bool
    /// When the mailslot was created (CLOCK_REALTIME, nanoseconds since 1970): its files' times.
    public var createdNanoseconds: UInt64

    /// What a query learns: every message whose write returned before the query is counted.
    public struct QueueState: Sendable, Hashable {
        public var messageCount: UInt32
        /// The size of the next message; nil when the mailslot is empty.
        public var nextMessageSize: UInt32?
        public var readTimeout: UInt32
        public var queuedBytes: UInt64
        public init(messageCount: UInt32, nextMessageSize: UInt32?, readTimeout: UInt32, queuedBytes: UInt64) {
            self.messageCount = messageCount
            self.nextMessageSize = nextMessageSize
            self.readTimeout = readTimeout
            self.queuedBytes = queuedBytes
        }
    }

    public init(status: Status, maxMessageSize: UInt32, quota: UInt64, serverPID: Int32, ownerUID: UInt32,
                access: WriterAccess, path: String, state: QueueState? = nil, allowsNetwork: Bool = false,
                createdNanoseconds: UInt64 = 0) {
        self.state = state
        self.createdNanoseconds = createdNanoseconds
        self.allowsNetwork = allowsNetwork
        self.status = status
        self.maxMessageSize = maxMessageSize
        self.quota = quota
        self.serverPID = serverPID
        self.ownerUID = ownerUID
        self.access = access
        self.path = path
    }

    static let magic: [UInt8] = Array("MSLT".utf8)
    static let version: UInt16 = 5

    public func encoded() -> [UInt8] {
        var out = LocalGreeting.magic
        out.appendLE(LocalGreeting.version)
        out.appendLE(status.rawValue)
        out.appendLE(maxMessageSize)
        out.appendLE(quota)
        out.appendLE(UInt32(bitPattern: serverPID))
        out.appendLE(ownerUID)
        switch access {
        case .owner: out.append(0); out.appendLE(UInt32(0))
        case .group(let gid): out.append(1); out.appendLE(gid)
        case .everyone: out.append(2); out.appendLE(UInt32(0))
        }
        out.append(allowsNetwork ? 1 : 0)
        out.appendLE(createdNanoseconds)
        if let state {
            out.append(1)
            out.appendLE(state.messageCount)
            out.appendLE(state.nextMessageSize ?? UInt32.max)
            out.append(state.nextMessageSize == nil ? 0 : 1)
            out.appendLE(state.readTimeout)
            out.appendLE(state.queuedBytes)
        } else {
            out.append(0)
        }
        let name = Array(path.utf8.prefix(4096))
        out.appendLE(UInt16(name.count))
        out += name
        return out
    }

    /// Decodes a greeting; `nil` for anything that is not one (the peer is not a mailslot server).
    public init?(decoding bytes: [UInt8]) {
        var r = ByteReader(bytes)
        guard r.take(4) == LocalGreeting.magic, r.u16() == LocalGreeting.version,
              let statusRaw = r.u16(), let status = Status(rawValue: statusRaw),
              let max = r.u32(), let quota = r.u64(), let pid = r.u32(), let owner = r.u32(),
              let accessKind = r.u8(), let accessArg = r.u32(), let network = r.u8(), network <= 1,
              let created = r.u64(), let hasState = r.u8(), hasState <= 1
        else { return nil }
        var state: QueueState?
        if hasState == 1 {
            guard let count = r.u32(), let next = r.u32(), let hasNext = r.u8(), hasNext <= 1,
                  let timeout = r.u32(), let used = r.u64() else { return nil }
            state = QueueState(messageCount: count, nextMessageSize: hasNext == 1 ? next : nil, readTimeout: timeout, queuedBytes: used)
        }
        // A path that is not UTF-8 is not a mailslot's (names are refused with 123 when they are not): the
        // peer is not a mailslot server, whatever it says (found by scripts/fuzz-codec.sh --greeting).
        guard let nameLength = r.u16(), let name = r.take(Int(nameLength)), r.isAtEnd,
              let path = String(validating: name, as: UTF8.self) else { return nil }
        let access: WriterAccess
        switch accessKind {
        case 0: access = .owner
        case 1: access = .group(accessArg)
        case 2: access = .everyone
        default: return nil
        }
        self.init(status: status, maxMessageSize: max, quota: quota, serverPID: Int32(bitPattern: pid),
                  ownerUID: owner, access: access, path: path, state: state,
                  allowsNetwork: network == 1, createdNanoseconds: created)
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { self.append(contentsOf: $0) }
    }
}

/// A bounds-checked little-endian reader.
struct ByteReader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var isAtEnd: Bool { offset == bytes.count }
    mutating func take(_ n: Int) -> [UInt8]? {
        guard n >= 0, bytes.count - offset >= n else { return nil }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }
    mutating func u8() -> UInt8? { take(1)?[0] }
    mutating func u16() -> UInt16? { take(2).map { UInt16($0[0]) | UInt16($0[1]) << 8 } }
    mutating func u32() -> UInt32? { take(4).map { $0.reversed().reduce(0) { $0 << 8 | UInt32($1) } } }
    mutating func u64() -> UInt64? { take(8).map { $0.reversed().reduce(0) { $0 << 8 | UInt64($1) } } }
}
