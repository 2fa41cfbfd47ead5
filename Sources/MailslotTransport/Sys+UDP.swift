// UDP/IPv4 sockets and interfaces: what the gateway and the network writer use.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

extension Sys {
    // MARK: UDP/IPv4

    /// A non-blocking, close-on-exec UDP socket.
    package static func udpSocket() throws(Errno) -> FD {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .current("socket(AF_INET)") }
        return fd
    }

    /// A UDP socket for receiving a NetBIOS port: broadcasts allowed, a receive buffer of up to
    /// `receiveBuffer` bytes (capped by rmem_max) for bursts, bound to `address:port`.
    package static func udpListener(_ address: IPv4Address, _ port: UInt16, receiveBuffer: Int32) throws(Errno) -> FD {
        let fd = try udpSocket()
        do throws(Errno) {
            try setBroadcast(fd)
            try? setSocketIntOption(fd, soRcvBuf, receiveBuffer)
            try bind(fd, address, port)
        } catch {
            close(fd)
            throw error
        }
        return fd
    }

    static func withSocketAddress<R>(_ address: IPv4Address, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr = in_addr(s_addr: address.value.bigEndian)
        return withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    package static func bind(_ fd: FD, _ address: IPv4Address, _ port: UInt16) throws(Errno) {
        let r = withSocketAddress(address, port) { Glibc.bind(fd, $0, $1) }
        guard r == 0 else { throw .current("bind(\(address):\(port))") }
    }

    /// Associates a UDP socket with a peer (to learn the route's source address with ``localAddress``).
    package static func connect(_ fd: FD, _ address: IPv4Address, _ port: UInt16) throws(Errno) {
        let r = withSocketAddress(address, port) { Glibc.connect(fd, $0, $1) }
        guard r == 0 else { throw .current("connect(\(address):\(port))") }
    }

    package static func localAddress(_ fd: FD) throws(Errno) -> (IPv4Address, UInt16) {
        var sin = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard r == 0 else { throw .current("getsockname") }
        return (IPv4Address(UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
    }

    /// A stream socket bound to an abstract name and listening (for status endpoints).
    package static func abstractStreamListener(_ name: [UInt8]) throws(Errno) -> FD {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .current("socket(AF_UNIX)") }
        do throws(Errno) {
            try bindAbstract(fd, name)
            try listen(fd, backlog: 16)
        } catch {
            Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// A blocking AF_UNIX stream socket (close-on-exec).
    package static func unixStreamSocket() throws(Errno) -> FD {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .current("socket(AF_UNIX)") }
        return fd
    }

    /// Connects a blocking stream socket to an abstract name and reads until the peer closes. `peer`
    /// sees the server's kernel-reported credentials first and may refuse it (nothing is read then).
    package static func readAbstractStream(_ name: [UInt8], limit: Int = 1 << 20,
                                          peer: (PeerCredentials) -> Bool = { _ in true }) throws(Errno) -> [UInt8] {
        let fd = try unixStreamSocket()
        defer { Glibc.close(fd) }
        try connectAbstract(fd, name)
        guard peer(try peerCredentials(fd)) else { throw Errno(EACCES, "the peer's credentials") }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = try retrying("read") { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Writes all of `bytes` to a descriptor (blocking briefly on a non-blocking one is avoided: best effort).
    package static func writeAll(_ fd: FD, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            guard let n = try? retrying("write", { bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }), n > 0 else { return }
            offset += n
        }
    }

    package static func setBroadcast(_ fd: FD) throws(Errno) { try setSocketIntOption(fd, SO_BROADCAST, 1) }

    /// Makes a UDP socket deaf to what this host's gateway relays for other hosts: the kernel's copies of
    /// its own broadcasts sent from `port` whose NetBIOS source is another host (`cms_drop_own_relays`).
    package static func dropOwnRelays(_ fd: FD, port: UInt16) throws(Errno) {
        guard cms_drop_own_relays(fd, port) == 0 else { throw .current("setsockopt(SO_ATTACH_FILTER)") }
    }

    package static func setReuseAddress(_ fd: FD) throws(Errno) { try setSocketIntOption(fd, SO_REUSEADDR, 1) }

    /// Sends one datagram; false when the socket buffer is full (EAGAIN).
    package static func sendTo(_ fd: FD, _ bytes: [UInt8], _ address: IPv4Address, _ port: UInt16) throws(Errno) -> Bool {
        try retryingUnlessWouldBlock("sendto(\(address):\(port))") {
            bytes.withUnsafeBytes { b in withSocketAddress(address, port) { sendto(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL), $0, $1) } }
        } != nil
    }

    /// Datagrams gathered to leave together (``sendBatch(_:_:to:_:)``): laid end to end, with their lengths.
    package struct OutgoingDatagrams: Sendable {
        /// The most one batch holds (what one sendmmsg here takes).
        package static let capacity = 64
        package private(set) var bytes: [UInt8] = []
        package private(set) var lengths: [UInt32] = []

        package init() {}

        package var count: Int { lengths.count }
        package var isEmpty: Bool { lengths.isEmpty }

        package mutating func append(_ datagram: [UInt8]) {
            precondition(count < OutgoingDatagrams.capacity)
            bytes += datagram
            lengths.append(UInt32(datagram.count))
        }

        /// Datagram `index`'s bytes.
        package func datagram(_ index: Int) -> ArraySlice<UInt8> {
            let start = lengths[..<index].reduce(0) { $0 + Int($1) }
            return bytes[start..<start + Int(lengths[index])]
        }

        /// Empties it, keeping its storage for the next batch.
        package mutating func removeAll() {
            bytes.removeAll(keepingCapacity: true)
            lengths.removeAll(keepingCapacity: true)
        }
    }

    /// Sends `datagrams` to one address in one sendmmsg; returns how many were sent, the first ones (0 when
    /// the socket's buffer is full).
    package static func sendBatch(_ fd: FD, _ datagrams: OutgoingDatagrams, to address: IPv4Address, _ port: UInt16) throws(Errno) -> Int {
        Int(try retryingUnlessWouldBlock("sendmmsg(\(address):\(port))") {
            datagrams.bytes.withUnsafeBufferPointer { b in
                datagrams.lengths.withUnsafeBufferPointer { cms_send_batch_to(fd, b.baseAddress, $0.baseAddress, Int32($0.count), address.value, port) }
            }
        } ?? 0)
    }

    /// Receives one datagram with its source; nil when none is waiting.
    package static func receiveFrom(_ fd: FD, into buffer: inout [UInt8]) throws(Errno) -> (count: Int, address: IPv4Address, port: UInt16)? {
        var sin = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard let r = try retryingUnlessWouldBlock("recvfrom", {
            buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &sin) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC), $0, &length)
                    }
                }
            }
        }) else { return nil }
        return (r, IPv4Address(UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
    }

    /// Receive buffers for batched UDP reads.
    package final class DatagramBatch: @unchecked Sendable {
        package let slots: Int
        package let slotSize: Int
        let buffer: UnsafeMutablePointer<UInt8>
        let lengths: UnsafeMutablePointer<UInt32>
        let addresses: UnsafeMutablePointer<UInt32>
        let ports: UnsafeMutablePointer<UInt16>
        package private(set) var count = 0

        package init(slots: Int = 64, slotSize: Int = 65536) {
            self.slots = min(slots, 64)
            self.slotSize = slotSize
            buffer = .allocate(capacity: self.slots * slotSize)
            lengths = .allocate(capacity: self.slots)
            addresses = .allocate(capacity: self.slots)
            ports = .allocate(capacity: self.slots)
        }

        deinit {
            buffer.deallocate(); lengths.deallocate(); addresses.deallocate(); ports.deallocate()
        }

        /// Receives what is waiting (up to `slots` datagrams); returns how many.
        package func receive(_ fd: FD) throws(Errno) -> Int {
            count = Int(try Sys.retryingUnlessWouldBlock("recvmmsg") { cms_recv_batch_from(fd, buffer, slotSize, Int32(slots), lengths, addresses, ports) } ?? 0)
            return count
        }

        /// Datagram `i`: its bytes (nil when it was larger than a slot), sender address and port.
        package func datagram(_ i: Int) -> (bytes: UnsafeRawBufferPointer?, address: IPv4Address, port: UInt16) {
            let length = Int(lengths[i])
            let bytes = length > slotSize ? nil : UnsafeRawBufferPointer(start: buffer + i * slotSize, count: length)
            return (bytes, IPv4Address(addresses[i]), ports[i])
        }
    }

    package struct Interface: Sendable, Hashable {
        package var name: String
        package var address: IPv4Address
        package var netmask: IPv4Address
        package var broadcast: IPv4Address?
        package var isUp: Bool
        package var isLoopback: Bool
    }

    /// The IPv4 addresses of this machine's interfaces (getifaddrs).
    package static func interfaces() -> [Interface] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: [Interface] = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let addr = entry.pointee.ifa_addr, addr.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            func ipv4(_ p: UnsafeMutablePointer<sockaddr>?) -> IPv4Address? {
                guard let p else { return nil }
                return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { IPv4Address(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
            }
            let flags = entry.pointee.ifa_flags
            let isBroadcast = flags & 0x2 != 0 // IFF_BROADCAST
            result.append(Interface(name: String(cString: entry.pointee.ifa_name), address: ipv4(addr)!,
                                    netmask: ipv4(entry.pointee.ifa_netmask) ?? .any,
                                    broadcast: isBroadcast ? ipv4(entry.pointee.ifa_ifu.ifu_broadaddr) : nil,
                                    isUp: flags & 0x1 != 0, isLoopback: flags & 0x8 != 0))
        }
        return result
    }

    /// IPv4 addresses for a host name from /etc/hosts and DNS (getaddrinfo), or [] when it has none.
    package static func lookUpHost(_ name: String) -> [IPv4Address] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(name, nil, &hints, &result) == 0, let first = result else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [IPv4Address] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let addr = entry.pointee.ai_addr, addr.pointee.sa_family == sa_family_t(AF_INET) {
                let a = addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { IPv4Address(UInt32(bigEndian: $0.pointee.sin_addr.s_addr)) }
                if !addresses.contains(a) { addresses.append(a) }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    package static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    package static var environment: [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { result[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            cursor += 1
        }
        return result
    }
}
