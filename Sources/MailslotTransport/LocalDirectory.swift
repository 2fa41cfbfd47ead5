import MailslotCore
import Synchronization

/// The mailslots that exist on this machine (in this network namespace), found from the listening
/// sockets in `/proc/net/unix` and the greeting each server sends.
package enum LocalDirectory {
    package typealias Entry = MailslotDirectoryEntry

    /// Every mailslot whose server answers within `timeoutMilliseconds` (all are asked at once, so a
    /// socket that never answers costs that much in all, not per socket). The owner is the kernel's
    /// word (SO_PEERCRED of the listening socket), never what the server says about itself.
    /// `holders` false leaves out the walk over every process's descriptors that finds the pids holding
    /// each mailslot (`holderPIDs` is then the answering server's pid alone).
    package static func entries(timeoutMilliseconds: UInt32 = 300, holders findHolders: Bool = true) -> [Entry] {
        let sockets = listeningSockets()
        let holders = findHolders ? socketHolders(Set(sockets.map(\.inode))) : [:]

        // Connect to all of them as state queries (which servers answer and close; they open no writer).
        struct Probe { var fd: FD; var inode: UInt64; var ownerUID: UInt32 }
        var probes: [FD: Probe] = [:]
        for socket in sockets {
            guard let query = connectQuery(to: socket.address, as: queryAddress("list")) else { continue }
            probes[query.fd] = Probe(fd: query.fd, inode: socket.inode, ownerUID: query.ownerUID)
        }
        defer { probes.keys.forEach(Sys.close) }
        var result: [Entry] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        let deadline = Deadline(milliseconds: timeoutMilliseconds)
        var waiting = Set(probes.keys)
        while !waiting.isEmpty {
            let remaining = deadline.remainingMilliseconds
            if remaining == 0 { break }
            for fd in Sys.pollMany(Array(waiting), timeoutMilliseconds: Int32(clamping: remaining)) {
                waiting.remove(fd)
                guard let probe = probes[fd], let greeting = receiveGreeting(fd, into: &buffer),
                      let name = try? MailslotName(local: greeting.path) else { continue }
                var pids = holders[probe.inode] ?? []
                if pids.isEmpty { pids = [greeting.serverPID] }
                result.append(Entry(name: name, holderPIDs: pids.sorted(), ownerUID: probe.ownerUID, greeting: greeting))
            }
        }
        return result.sorted { $0.name.key < $1.name.key }
    }

    /// Whether a mailslot lives below the path level `folderKey` (case-folded, no trailing `\`): from the
    /// listening addresses alone, which name the mailslots whose names fit (no connection); when some
    /// address is a hash of a long name, those servers are asked.
    package static func hasMailslot(under folderKey: String) -> Bool {
        let wanted = LocalProtocol.namedAddressPrefix + Array((folderKey + "\\").utf8)
        var hashed = false
        for socket in listeningSockets() {
            if socket.address.starts(with: wanted) { return true }
            if socket.address.starts(with: LocalProtocol.hashedAddressPrefix) { hashed = true }
        }
        return hashed && entries(holders: false).contains { $0.name.key.hasPrefix(folderKey + "\\") }
    }

    /// The listening mailslot sockets in `/proc/net/unix`: inode and abstract address (without its `@`).
    private static func listeningSockets() -> [(inode: UInt64, address: [UInt8])] {
        guard let table = Sys.readFile("/proc/net/unix") else { return [] }
        var sockets: [(inode: UInt64, address: [UInt8])] = []
        for line in table.split(separator: UInt8(ascii: "\n")).dropFirst() {
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 7, omittingEmptySubsequences: true)
            guard fields.count == 8,
                  String(decoding: fields[3], as: UTF8.self) == "00010000", // listening
                  String(decoding: fields[4], as: UTF8.self) == "0005",     // SOCK_SEQPACKET
                  fields[7].first == UInt8(ascii: "@"),
                  let inode = UInt64(String(decoding: fields[6], as: UTF8.self)) else { continue }
            let address = Array(fields[7].dropFirst())
            guard address.starts(with: LocalProtocol.addressPrefix) else { continue }
            sockets.append((inode, address))
        }
        return sockets
    }

    /// One mailslot, asked directly (a state query, which opens no writer); nil when no server answers
    /// for the name within `timeoutMilliseconds`. The owner is the kernel's word, as in ``entries``.
    package static func entry(for name: MailslotName, timeoutMilliseconds: UInt32 = 300) -> Entry? {
        guard let query = connectQuery(to: LocalProtocol.abstractAddress(forKey: name.key),
                                       as: queryAddress("stat")) else { return nil }
        defer { Sys.close(query.fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        guard (try? Sys.poll(query.fd, .readable, timeoutMilliseconds: Int32(clamping: timeoutMilliseconds)))?.isEmpty == false,
              let greeting = receiveGreeting(query.fd, into: &buffer),
              let answered = try? MailslotName(local: greeting.path), answered.key == name.key else { return nil }
        return Entry(name: answered, holderPIDs: [greeting.serverPID], ownerUID: query.ownerUID, greeting: greeting)
    }

    /// Connects to a mailslot's listening socket as a state query, from the query address `local`
    /// (the server answers with its greeting and closes; it opens no writer). The owner is the kernel's
    /// word (SO_PEERCRED). Nil when any step fails.
    private static func connectQuery(to address: [UInt8], as local: [UInt8]) -> (fd: FD, ownerUID: UInt32)? {
        guard let fd = try? Sys.unixSocket(seqpacket: true) else { return nil }
        guard (try? Sys.bindAbstract(fd, local)) != nil,
              (try? Sys.connectAbstract(fd, address)) != nil,
              let peer = try? Sys.peerCredentials(fd) else {
            Sys.close(fd)
            return nil
        }
        return (fd, peer.uid)
    }

    /// The greeting a server sent on a query connection, when it is one.
    private static func receiveGreeting(_ fd: FD, into buffer: inout [UInt8]) -> LocalGreeting? {
        guard let received = try? Sys.receive(fd, into: &buffer) else { return nil }
        return LocalGreeting(decoding: Array(buffer[0..<received]))
    }

    /// The address a query socket binds to: `kind`, this process and a number no other query of this
    /// process has had, so that lists and lookups made at the same time by several threads never take
    /// each other's address.
    package static func queryAddress(_ kind: String) -> [UInt8] {
        LocalProtocol.queryPrefix + Array("\(kind):\(Sys.pid):\(querySerial.add(1, ordering: .relaxed).newValue)".utf8)
    }

    private static let querySerial = Atomic<UInt64>(0)

    /// Maps socket inodes to the pids that hold a descriptor for them.
    static func socketHolders(_ inodes: Set<UInt64>) -> [UInt64: [Int32]] {
        guard !inodes.isEmpty else { return [:] }
        var holders: [UInt64: [Int32]] = [:]
        for entry in Sys.listDirectory("/proc") {
            guard let pid = Int32(entry) else { continue }
            for fd in Sys.listDirectory("/proc/\(pid)/fd") {
                guard let target = Sys.readLink("/proc/\(pid)/fd/\(fd)"), target.hasPrefix("socket:["),
                      let inode = UInt64(target.dropFirst(8).dropLast()), inodes.contains(inode) else { continue }
                if !(holders[inode]?.contains(pid) ?? false) { holders[inode, default: []].append(pid) }
            }
        }
        return holders
    }
}

extension MailslotDirectoryEntry {
    init(name: MailslotName, holderPIDs: [Int32], ownerUID: UInt32, greeting: LocalGreeting) {
        self.init(name: name, holderPIDs: holderPIDs, ownerUID: ownerUID, access: greeting.access, maxMessageSize: greeting.maxMessageSize,
                  quota: greeting.quota, allowsNetwork: greeting.allowsNetwork, createdNanoseconds: greeting.createdNanoseconds)
    }
}
