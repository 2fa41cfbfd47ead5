// AF_UNIX sockets: abstract names, credentials, records, descriptor passing.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

extension Sys {
    // MARK: AF_UNIX sockets

    /// A non-blocking, close-on-exec `AF_UNIX` socket of the given type.
    package static func unixSocket(seqpacket: Bool) throws(Errno) -> FD {
        let type = (seqpacket ? Int32(SOCK_SEQPACKET.rawValue) : Int32(SOCK_DGRAM.rawValue))
            | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw .current("socket(AF_UNIX)") }
        return fd
    }

    /// A connected pair of `AF_UNIX` sockets.
    package static func socketPair(seqpacket: Bool) throws(Errno) -> (FD, FD) {
        var fds: [Int32] = [-1, -1]
        let type = (seqpacket ? Int32(SOCK_SEQPACKET.rawValue) : Int32(SOCK_DGRAM.rawValue)) | Int32(SOCK_CLOEXEC.rawValue)
        guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { throw .current("socketpair") }
        return (fds[0], fds[1])
    }

    /// Runs `body` with a `sockaddr_un` for an abstract name and its exact length
    /// (`offsetof(sun_path) + 1 + name length`: not `sizeof(sockaddr_un)`, which names a different socket).
    static func withAbstractAddress<R>(_ name: [UInt8], _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let count = min(name.count, 107)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw[0] = 0
            for i in 0..<count { raw[i + 1] = name[i] }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + 1 + count)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    package static func bindAbstract(_ fd: FD, _ name: [UInt8]) throws(Errno) {
        let r = withAbstractAddress(name) { Glibc.bind(fd, $0, $1) }
        guard r == 0 else { throw .current("bind") }
    }

    package static func connectAbstract(_ fd: FD, _ name: [UInt8]) throws(Errno) {
        _ = try retrying("connect") { withAbstractAddress(name) { Glibc.connect(fd, $0, $1) } }
    }

    /// The abstract name a socket is bound to (without the leading NUL), or nil.
    package static func abstractName(_ fd: FD) -> [UInt8]? {
        abstractAddress(fd, peer: false)
    }

    /// The abstract name the peer of a connected socket is bound to, or nil (an unbound peer).
    package static func peerAbstractName(_ fd: FD) -> [UInt8]? {
        abstractAddress(fd, peer: true)
    }

    private static func abstractAddress(_ fd: FD, peer: Bool) -> [UInt8]? {
        var address = sockaddr_un()
        var length = socklen_t(MemoryLayout<sockaddr_un>.size)
        let r = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer ? getpeername(fd, $0, &length) : getsockname(fd, $0, &length) }
        }
        let pathLength = Int(length) - MemoryLayout<sa_family_t>.size
        guard r == 0, address.sun_family == sa_family_t(AF_UNIX), pathLength > 1 else { return nil }
        return withUnsafeBytes(of: &address.sun_path) { raw in
            raw[0] == 0 ? Array(raw[1..<pathLength]) : nil
        }
    }

    package static func listen(_ fd: FD, backlog: Int32) throws(Errno) {
        guard Glibc.listen(fd, backlog) == 0 else { throw .current("listen") }
    }

    package static func socketIntOption(_ fd: FD, _ option: Int32) throws(Errno) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, option, &value, &length) == 0 else { throw .current("getsockopt") }
        return value
    }

    package static func setSocketIntOption(_ fd: FD, _ option: Int32, _ value: Int32) throws(Errno) {
        var v = value
        guard setsockopt(fd, SOL_SOCKET, option, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw .current("setsockopt")
        }
    }

    package static let soAcceptConn = SO_ACCEPTCONN
    package static let soType = SO_TYPE
    package static let soSndBuf = SO_SNDBUF
    package static let soRcvBuf = SO_RCVBUF
    package static let sockSeqpacket = Int32(SOCK_SEQPACKET.rawValue)

    /// accept4(SOCK_CLOEXEC | SOCK_NONBLOCK); nil when no connection is pending.
    package static func accept(_ fd: FD) throws(Errno) -> FD? {
        do throws(Errno) {
            return try retryingUnlessWouldBlock("accept4") { cms_accept_nonblocking(fd) }
        } catch where error.code == ECONNABORTED {
            return nil // the writer gave up before it was accepted
        }
    }

    package struct PeerCredentials: Sendable {
        package var pid: Int32
        package var uid: UInt32
        package var gid: UInt32
        package var groups: [UInt32]
    }

    /// The kernel-verified credentials of a connected AF_UNIX peer, with its supplementary groups.
    package static func peerCredentials(_ fd: FD) throws(Errno) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard cms_peer_credentials(fd, &pid, &uid, &gid) == 0 else { throw .current("getsockopt(SO_PEERCRED)") }
        var groups = [UInt32](repeating: 0, count: 256)
        let n = cms_peer_groups(fd, &groups, Int32(groups.count))
        var all = [gid]
        if n > 0 { all += groups[0..<Int(n)] }
        return PeerCredentials(pid: pid, uid: uid, gid: gid, groups: all)
    }

    /// Sends bytes as one record (non-blocking, no SIGPIPE). false on EAGAIN.
    package static func send(_ fd: FD, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Bool {
        try retryingUnlessWouldBlock("send") { Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) } != nil
    }

    /// Sends an array as one record (non-blocking, no SIGPIPE). false on EAGAIN.
    package static func send(_ fd: FD, _ bytes: [UInt8]) throws(Errno) -> Bool {
        let result = bytes.withUnsafeBytes { buffer -> Result<Bool, Errno> in
            do throws(Errno) { return .success(try send(fd, buffer)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Receives one record; nil on EAGAIN; 0 bytes is an empty record or the end of the connection.
    package static func receive(_ fd: FD, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        try retryingUnlessWouldBlock("recv") { recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
    }

    /// Receives one record into an array; nil on EAGAIN.
    package static func receive(_ fd: FD, into buffer: inout [UInt8]) throws(Errno) -> Int? {
        let result = buffer.withUnsafeMutableBytes { raw -> Result<Int?, Errno> in
            do throws(Errno) { return .success(try receive(fd, into: raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Sends a small payload with descriptors attached (SCM_RIGHTS).
    package static func sendDescriptors(_ socket: FD, _ payload: [UInt8], _ fds: [FD]) throws(Errno) {
        _ = try retrying("sendmsg(SCM_RIGHTS)") {
            payload.withUnsafeBytes { p in fds.withUnsafeBufferPointer { f in cms_send_fds(socket, p.baseAddress, p.count, f.baseAddress, Int32(f.count)) } }
        }
    }

    /// Receives a small record and the descriptors attached to it (waits on a blocking socket); nil when
    /// a non-blocking socket has nothing waiting.
    package static func receiveDescriptors(_ socket: FD, maxPayload: Int) throws(Errno) -> ([UInt8], [FD])? {
        var buffer = [UInt8](repeating: 0, count: maxPayload)
        var fds = [Int32](repeating: -1, count: 8)
        var received: Int32 = 0
        guard let r = try retryingUnlessWouldBlock("recvmsg(SCM_RIGHTS)", {
            buffer.withUnsafeMutableBytes { b in cms_recv_fds(socket, b.baseAddress, b.count, &fds, 8, &received) }
        }) else { return nil }
        return (Array(buffer[0..<r]), Array(fds[0..<Int(received)]))
    }

    /// Whether the peer of a connected socket has closed or shut it down (no wait).
    package static func peerHungUp(_ fd: FD) -> Bool { cms_peer_hung_up(fd) != 0 }
}
