import MailslotCore

/// The mailslots that exist on this machine (in this network namespace), found from the listening
/// sockets in `/proc/net/unix` and the greeting each server sends.
public enum LocalDirectory {
    public struct Entry: Sendable {
        /// The name as its creator wrote it.
        public var name: MailslotName
        /// Every process that holds the server handle (found through `/proc/PID/fd`; processes of other
        /// users are visible only to root).
        public var holderPIDs: [Int32]
        public var ownerUID: UInt32
        public var access: WriterAccess
        public var maxMessageSize: UInt32
        public var quota: UInt64
    }

    public static func entries(timeoutMilliseconds: UInt32 = 500) -> [Entry] {
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
        let holders = socketHolders(Set(sockets.map(\.inode)))
        var result: [Entry] = []
        for socket in sockets {
            let placeholder = (try? MailslotName(local: "x"))!
            guard let (fd, greeting) = try? LocalWriter.connect(placeholder, socket.address, timeoutMilliseconds: timeoutMilliseconds, checkName: false) else { continue }
            Sys.close(fd)
            guard let name = try? MailslotName(local: greeting.path) else { continue }
            var pids = holders[socket.inode] ?? []
            if pids.isEmpty { pids = [greeting.serverPID] }
            result.append(Entry(name: name, holderPIDs: pids.sorted(), ownerUID: greeting.ownerUID, access: greeting.access,
                                maxMessageSize: greeting.maxMessageSize, quota: greeting.quota))
        }
        return result.sorted { $0.name.key < $1.name.key }
    }

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
