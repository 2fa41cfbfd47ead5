// The only file in Mailslot that calls into the C library or the kernel. Every wrapper is thin: it
// turns a -1/errno return into a thrown `Errno` and retries EINTR where the call is restartable.
// Policy (what an errno means to a mailslot user) lives in the callers.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

/// A POSIX error number.
public struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: Int32
    public var call: String
    public init(_ code: Int32, _ call: String) {
        self.code = code
        self.call = call
    }
    static func current(_ call: String) -> Errno { Errno(errno, call) }
    public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
    public var message: String { String(cString: strerror(code)) }

    public static let again = EAGAIN
    public static let interrupted = EINTR
    public static let connectionRefused = ECONNREFUSED
    public static let noEntry = ENOENT
    public static let addressInUse = EADDRINUSE
    public static let brokenPipe = EPIPE
    public static let connectionReset = ECONNRESET
    public static let timedOut = ETIMEDOUT
    public static let notConnected = ENOTCONN
    public static let badFD = EBADF
    public static let permissionDenied = EACCES
}

public typealias FD = Int32
public typealias ThreadHandle = pthread_t

/// Thin typed wrappers over the system calls the transport uses.
public enum Sys {
    // MARK: descriptors

    public static func close(_ fd: FD) { _ = Glibc.close(fd) }

    public static func setCloseOnExec(_ fd: FD, _ on: Bool) throws(Errno) {
        let flags = fcntl(fd, F_GETFD)
        guard flags >= 0 else { throw .current("fcntl(F_GETFD)") }
        let new = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC)
        guard fcntl(fd, F_SETFD, new) == 0 else { throw .current("fcntl(F_SETFD)") }
    }

    public static func setNonBlocking(_ fd: FD, _ on: Bool) throws(Errno) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0 else { throw .current("fcntl(F_GETFL)") }
        let new = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)
        guard fcntl(fd, F_SETFL, new) == 0 else { throw .current("fcntl(F_SETFL)") }
    }

    public static func duplicate(_ fd: FD) throws(Errno) -> FD {
        let r = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard r >= 0 else { throw .current("fcntl(F_DUPFD_CLOEXEC)") }
        return r
    }

    public static func isValid(_ fd: FD) -> Bool { fcntl(fd, F_GETFD) >= 0 }

    // MARK: identity

    public static var pid: Int32 { getpid() }
    public static var uid: UInt32 { getuid() }
    public static var euid: UInt32 { geteuid() }

    // MARK: AF_UNIX sockets

    /// A non-blocking, close-on-exec `AF_UNIX` socket of the given type.
    public static func unixSocket(seqpacket: Bool) throws(Errno) -> FD {
        let type = (seqpacket ? Int32(SOCK_SEQPACKET.rawValue) : Int32(SOCK_DGRAM.rawValue))
            | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue)
        let fd = socket(AF_UNIX, type, 0)
        guard fd >= 0 else { throw .current("socket(AF_UNIX)") }
        return fd
    }

    /// A connected pair of `AF_UNIX` sockets.
    public static func socketPair(seqpacket: Bool) throws(Errno) -> (FD, FD) {
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

    public static func bindAbstract(_ fd: FD, _ name: [UInt8]) throws(Errno) {
        let r = withAbstractAddress(name) { Glibc.bind(fd, $0, $1) }
        guard r == 0 else { throw .current("bind") }
    }

    public static func connectAbstract(_ fd: FD, _ name: [UInt8]) throws(Errno) {
        while true {
            let r = withAbstractAddress(name) { Glibc.connect(fd, $0, $1) }
            if r == 0 { return }
            if errno == EINTR { continue }
            throw .current("connect")
        }
    }

    /// The abstract name a socket is bound to (without the leading NUL), or nil.
    public static func abstractName(_ fd: FD) -> [UInt8]? {
        abstractAddress(fd, peer: false)
    }

    /// The abstract name the peer of a connected socket is bound to, or nil (an unbound peer).
    public static func peerAbstractName(_ fd: FD) -> [UInt8]? {
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

    public static func listen(_ fd: FD, backlog: Int32) throws(Errno) {
        guard Glibc.listen(fd, backlog) == 0 else { throw .current("listen") }
    }

    public static func socketIntOption(_ fd: FD, _ option: Int32) throws(Errno) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, option, &value, &length) == 0 else { throw .current("getsockopt") }
        return value
    }

    public static func setSocketIntOption(_ fd: FD, _ option: Int32, _ value: Int32) throws(Errno) {
        var v = value
        guard setsockopt(fd, SOL_SOCKET, option, &v, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw .current("setsockopt")
        }
    }

    public static let soAcceptConn = SO_ACCEPTCONN
    public static let soType = SO_TYPE
    public static let soSndBuf = SO_SNDBUF
    public static let soRcvBuf = SO_RCVBUF
    public static let sockSeqpacket = Int32(SOCK_SEQPACKET.rawValue)

    /// accept4(SOCK_CLOEXEC | SOCK_NONBLOCK); nil when no connection is pending.
    public static func accept(_ fd: FD) throws(Errno) -> FD? {
        while true {
            let r = cms_accept_nonblocking(fd)
            if r >= 0 { return r }
            switch errno {
            case EINTR: continue
            case EAGAIN, ECONNABORTED: return nil
            default: throw .current("accept4")
            }
        }
    }

    public struct PeerCredentials: Sendable {
        public var pid: Int32
        public var uid: UInt32
        public var gid: UInt32
        public var groups: [UInt32]
    }

    /// The kernel-verified credentials of a connected AF_UNIX peer, with its supplementary groups.
    public static func peerCredentials(_ fd: FD) throws(Errno) -> PeerCredentials {
        var pid: Int32 = 0, uid: UInt32 = 0, gid: UInt32 = 0
        guard cms_peer_credentials(fd, &pid, &uid, &gid) == 0 else { throw .current("getsockopt(SO_PEERCRED)") }
        var groups = [UInt32](repeating: 0, count: 256)
        let n = cms_peer_groups(fd, &groups, Int32(groups.count))
        var all = [gid]
        if n > 0 { all += groups[0..<Int(n)] }
        return PeerCredentials(pid: pid, uid: uid, gid: gid, groups: all)
    }

    /// Sends one record: a payload and its kind byte last (non-blocking, no SIGPIPE). false on EAGAIN.
    public static func sendFramed(_ fd: FD, kind: UInt8, _ payload: UnsafeRawBufferPointer) throws(Errno) -> Bool {
        while true {
            let r = cms_send_framed(fd, kind, payload.baseAddress, payload.count)
            if r >= 0 { return true }
            if errno == EINTR { continue }
            if errno == EAGAIN { return false }
            throw .current("sendmsg")
        }
    }

    /// Sends up to 64 small messages as framed records with one system call; returns how many went
    /// (0 when the socket buffer is full).
    public static func sendFramedBatch(_ fd: FD, kind: UInt8, _ messages: ArraySlice<[UInt8]>) throws(Errno) -> Int {
        let count = min(messages.count, 64)
        guard count > 0 else { return 0 }
        var pointers = [UnsafeRawPointer?](repeating: nil, count: count)
        var lengths = [Int](repeating: 0, count: count)
        // The arrays' storage stays alive and unmoved for the duration of this call.
        let base = messages.startIndex
        return try withExtendedLifetime(messages) { () -> Result<Int, Errno> in
            for i in 0..<count {
                messages[base + i].withUnsafeBytes { pointers[i] = $0.baseAddress }
                lengths[i] = messages[base + i].count
            }
            while true {
                let r = pointers.withUnsafeBufferPointer { p in lengths.withUnsafeBufferPointer { l in
                    cms_send_framed_batch(fd, kind, p.baseAddress, l.baseAddress, Int32(count)) } }
                if r >= 0 { return .success(Int(r)) }
                if errno == EINTR { continue }
                if errno == EAGAIN { return .success(0) }
                return .failure(.current("sendmmsg"))
            }
        }.get()
    }

    /// Sends bytes as one record (non-blocking, no SIGPIPE). false on EAGAIN.
    public static func send(_ fd: FD, _ bytes: UnsafeRawBufferPointer) throws(Errno) -> Bool {
        while true {
            let r = Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT))
            if r >= 0 { return true }
            if errno == EINTR { continue }
            if errno == EAGAIN { return false }
            throw .current("send")
        }
    }

    /// Receives one record; nil on EAGAIN; 0 bytes means end of stream for our framed protocol.
    public static func receive(_ fd: FD, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int? {
        while true {
            let r = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if r >= 0 { return r }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw .current("recv")
        }
    }

    /// Receives one record into an array; nil on EAGAIN.
    public static func receive(_ fd: FD, into buffer: inout [UInt8]) throws(Errno) -> Int? {
        while true {
            let r = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if r >= 0 { return r }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw .current("recv")
        }
    }

    /// Sends an array as one record (non-blocking, no SIGPIPE). false on EAGAIN.
    public static func send(_ fd: FD, _ bytes: [UInt8]) throws(Errno) -> Bool {
        while true {
            let r = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT)) }
            if r >= 0 { return true }
            if errno == EINTR { continue }
            if errno == EAGAIN { return false }
            throw .current("send")
        }
    }

    /// Receives up to `count` records into `buffers` (slots of `slotSize` bytes, `stride` bytes apart).
    /// Returns how many; 0 when none are waiting.
    public static func receiveBatch(_ fd: FD, buffers: UnsafeMutablePointer<UInt8>, slotSize: Int, stride: Int, count: Int,
                                    lengths: UnsafeMutablePointer<UInt32>, flags: UnsafeMutablePointer<Int32>,
                                    stamps: UnsafeMutablePointer<Int64>) throws(Errno) -> Int {
        while true {
            let r = cms_recv_batch(fd, buffers, slotSize, stride, Int32(count), lengths, flags, stamps)
            if r >= 0 { return Int(r) }
            if errno == EINTR { continue }
            if errno == EAGAIN { return 0 }
            throw .current("recvmmsg")
        }
    }

    public static let truncatedFlag = Int32(MSG_TRUNC)

    /// Asks the kernel to stamp every record sent to this socket (SO_TIMESTAMPNS).
    public static func enableTimestamps(_ fd: FD) throws(Errno) {
        guard cms_enable_timestamps(fd) == 0 else { throw .current("setsockopt(SO_TIMESTAMPNS)") }
    }

    /// Sends a small payload with descriptors attached (SCM_RIGHTS).
    public static func sendDescriptors(_ socket: FD, _ payload: [UInt8], _ fds: [FD]) throws(Errno) {
        while true {
            let r = payload.withUnsafeBytes { p in fds.withUnsafeBufferPointer { f in
                cms_send_fds(socket, p.baseAddress, p.count, f.baseAddress, Int32(f.count)) } }
            if r >= 0 { return }
            if errno == EINTR { continue }
            throw .current("sendmsg(SCM_RIGHTS)")
        }
    }

    /// Receives a small payload and the descriptors attached to it (blocking).
    public static func receiveDescriptors(_ socket: FD, maxPayload: Int) throws(Errno) -> ([UInt8], [FD]) {
        var buffer = [UInt8](repeating: 0, count: maxPayload)
        var fds = [Int32](repeating: -1, count: 8)
        var received: Int32 = 0
        while true {
            let r = buffer.withUnsafeMutableBytes { b in
                cms_recv_fds(socket, b.baseAddress, b.count, &fds, 8, &received)
            }
            if r >= 0 { return (Array(buffer[0..<r]), Array(fds[0..<Int(received)])) }
            if errno == EINTR { continue }
            throw .current("recvmsg(SCM_RIGHTS)")
        }
    }

    // MARK: waiting

    public struct PollEvents: OptionSet, Sendable {
        public let rawValue: Int16
        public init(rawValue: Int16) { self.rawValue = rawValue }
        public static let readable = PollEvents(rawValue: Int16(POLLIN))
        public static let writable = PollEvents(rawValue: Int16(POLLOUT))
        public static let error = PollEvents(rawValue: Int16(POLLERR))
        public static let hangup = PollEvents(rawValue: Int16(POLLHUP))
    }

    /// poll(2) on one descriptor; timeout in ms (-1 forever). Returns the events, empty on timeout.
    public static func poll(_ fd: FD, _ events: PollEvents, timeoutMilliseconds: Int32) throws(Errno) -> PollEvents {
        var p = pollfd(fd: fd, events: events.rawValue, revents: 0)
        let r = Glibc.poll(&p, 1, timeoutMilliseconds)
        if r < 0 {
            if errno == EINTR { return [] }
            throw .current("poll")
        }
        return PollEvents(rawValue: p.revents)
    }

    /// poll(2) on several descriptors for readability; returns those that are readable (or in error).
    public static func pollMany(_ fds: [FD], timeoutMilliseconds: Int32) -> [FD] {
        var set = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let r = Glibc.poll(&set, nfds_t(set.count), timeoutMilliseconds)
        guard r > 0 else { return [] }
        return set.filter { $0.revents != 0 }.map(\.fd)
    }

    public static func epollCreate() throws(Errno) -> FD {
        let fd = cms_epoll_create()
        guard fd >= 0 else { throw .current("epoll_create1") }
        return fd
    }

    public static let epollIn: UInt32 = 0x001

    /// Adds a descriptor; `token` comes back from ``epollWait``.
    public static func epollAdd(_ epfd: FD, _ fd: FD, events: UInt32, token: UInt64) throws(Errno) {
        guard cms_epoll_ctl(epfd, 1, fd, events, token) == 0 else { throw .current("epoll_ctl(ADD)") }
    }

    public static func epollModify(_ epfd: FD, _ fd: FD, events: UInt32, token: UInt64) throws(Errno) {
        guard cms_epoll_ctl(epfd, 3, fd, events, token) == 0 else { throw .current("epoll_ctl(MOD)") }
    }

    public static func epollRemove(_ epfd: FD, _ fd: FD) {
        _ = cms_epoll_ctl(epfd, 2, fd, 0, 0)
    }

    /// Waits for events; fills `tokens` and returns how many (0 on timeout or EINTR).
    public static func epollWait(_ epfd: FD, tokens: inout [UInt64], timeoutMilliseconds: Int32) throws(Errno) -> Int {
        let r = cms_epoll_wait(epfd, &tokens, Int32(tokens.count), timeoutMilliseconds)
        if r < 0 {
            if errno == EINTR { return 0 }
            throw .current("epoll_wait")
        }
        return Int(r)
    }

    public static func eventFD() throws(Errno) -> FD {
        let fd = cms_eventfd()
        guard fd >= 0 else { throw .current("eventfd") }
        return fd
    }

    /// Resets an eventfd counter to zero (it stops polling readable).
    public static func drainEventFD(_ fd: FD) {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }

    public static func signalEventFD(_ fd: FD) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    // MARK: shared memory

    public static func memfd(name: String) throws(Errno) -> FD {
        let fd = cms_memfd_create(name)
        guard fd >= 0 else { throw .current("memfd_create") }
        return fd
    }

    public static func truncate(_ fd: FD, size: Int) throws(Errno) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .current("ftruncate") }
    }

    public static func fileSize(_ fd: FD) throws(Errno) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .current("fstat") }
        return Int(st.st_size)
    }

    public static func mapShared(_ fd: FD, size: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw .current("mmap") }
        return p
    }

    public static func unmap(_ p: UnsafeMutableRawPointer, size: Int) { _ = munmap(p, size) }

    /// Gives pages of a shared-memory file back to the system (they read as zero afterwards).
    public static func punchHole(_ fd: FD, offset: Int, length: Int) {
        _ = cms_punch_hole(fd, Int64(offset), Int64(length))
    }

    public static func futexWait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanoseconds: Int64) {
        _ = cms_futex_wait(word, expected, timeoutNanoseconds)
    }

    public static func futexWakeAll(_ word: UnsafeMutablePointer<UInt32>) {
        _ = cms_futex_wake(word, Int32.max)
    }

    public static func atomicLoad(_ word: UnsafeMutablePointer<UInt32>) -> UInt32 { cms_atomic_load_u32(word) }
    public static func atomicStore(_ word: UnsafeMutablePointer<UInt32>, _ v: UInt32) { cms_atomic_store_u32(word, v) }
    public static func atomicIncrement(_ word: UnsafeMutablePointer<UInt32>) { _ = cms_atomic_add_u32(word, 1) }
    public static func atomicAdd(_ word: UnsafeMutablePointer<UInt32>, _ v: UInt32) { _ = cms_atomic_add_u32(word, v) }

    public static let sharedMutexSize = Int(CMS_MUTEX_SIZE)
    public static func sharedMutexInit(_ p: UnsafeMutableRawPointer) throws(Errno) {
        guard cms_shm_mutex_init(p) == 0 else { throw .current("pthread_mutex_init") }
    }
    /// Returns true when the previous owner died holding the lock.
    @discardableResult
    public static func sharedMutexLock(_ p: UnsafeMutableRawPointer) -> Bool { cms_shm_mutex_lock(p) == 1 }
    public static func sharedMutexUnlock(_ p: UnsafeMutableRawPointer) { cms_shm_mutex_unlock(p) }

    // MARK: time and threads

    /// CLOCK_MONOTONIC in nanoseconds.
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// CLOCK_REALTIME in nanoseconds.
    public static func realtimeNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    public static func pinToCPU(_ cpu: Int) -> Bool { cms_pin_to_cpu(Int32(cpu)) == 0 }

    /// Starts a detached-joinable pthread running `body`.
    public static func startThread(_ body: @escaping @Sendable () -> Void) throws(Errno) -> ThreadHandle {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let r = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        guard r == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw Errno(r, "pthread_create")
        }
        return thread
    }

    public static func join(_ thread: ThreadHandle) { _ = pthread_join(thread, nil) }
    public static func isCurrentThread(_ thread: ThreadHandle) -> Bool { pthread_equal(pthread_self(), thread) != 0 }

    // MARK: UDP/IPv4

    /// A non-blocking, close-on-exec UDP socket.
    public static func udpSocket() throws(Errno) -> FD {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw .current("socket(AF_INET)") }
        return fd
    }

    /// A UDP socket for receiving a NetBIOS port: broadcasts allowed, a receive buffer of up to
    /// `receiveBuffer` bytes (capped by rmem_max) for bursts, bound to `address:port`.
    public static func udpListener(_ address: IPv4Address, _ port: UInt16, receiveBuffer: Int32) throws(Errno) -> FD {
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

    public static func bind(_ fd: FD, _ address: IPv4Address, _ port: UInt16) throws(Errno) {
        let r = withSocketAddress(address, port) { Glibc.bind(fd, $0, $1) }
        guard r == 0 else { throw .current("bind(\(address):\(port))") }
    }

    /// Associates a UDP socket with a peer (to learn the route's source address with ``localAddress``).
    public static func connect(_ fd: FD, _ address: IPv4Address, _ port: UInt16) throws(Errno) {
        let r = withSocketAddress(address, port) { Glibc.connect(fd, $0, $1) }
        guard r == 0 else { throw .current("connect(\(address):\(port))") }
    }

    public static func localAddress(_ fd: FD) throws(Errno) -> (IPv4Address, UInt16) {
        var sin = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let r = withUnsafeMutablePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard r == 0 else { throw .current("getsockname") }
        return (IPv4Address(UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
    }

    /// A stream socket bound to an abstract name and listening (for status endpoints).
    public static func abstractStreamListener(_ name: [UInt8]) throws(Errno) -> FD {
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
    public static func unixStreamSocket() throws(Errno) -> FD {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .current("socket(AF_UNIX)") }
        return fd
    }

    /// Connects a blocking stream socket to an abstract name and reads until the peer closes. `peer`
    /// sees the server's kernel-reported credentials first and may refuse it (nothing is read then).
    public static func readAbstractStream(_ name: [UInt8], limit: Int = 1 << 20,
                                          peer: (PeerCredentials) -> Bool = { _ in true }) throws(Errno) -> [UInt8] {
        let fd = try unixStreamSocket()
        defer { Glibc.close(fd) }
        try connectAbstract(fd, name)
        guard peer(try peerCredentials(fd)) else { throw Errno(EACCES, "the peer's credentials") }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw .current("read") }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Writes all of `bytes` to a descriptor (blocking briefly on a non-blocking one is avoided: best effort).
    public static func writeAll(_ fd: FD, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    public static func setBroadcast(_ fd: FD) throws(Errno) { try setSocketIntOption(fd, SO_BROADCAST, 1) }
    public static func setReuseAddress(_ fd: FD) throws(Errno) { try setSocketIntOption(fd, SO_REUSEADDR, 1) }

    /// Sends one datagram; false when the socket buffer is full (EAGAIN).
    public static func sendTo(_ fd: FD, _ bytes: [UInt8], _ address: IPv4Address, _ port: UInt16) throws(Errno) -> Bool {
        while true {
            let r = bytes.withUnsafeBytes { b in
                withSocketAddress(address, port) { sendto(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL), $0, $1) }
            }
            if r >= 0 { return true }
            if errno == EINTR { continue }
            if errno == EAGAIN { return false }
            throw .current("sendto(\(address):\(port))")
        }
    }

    /// Receives one datagram with its source; nil when none is waiting.
    public static func receiveFrom(_ fd: FD, into buffer: inout [UInt8]) throws(Errno) -> (count: Int, address: IPv4Address, port: UInt16)? {
        var sin = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        while true {
            let r = buffer.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &sin) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fd, b.baseAddress, b.count, Int32(MSG_DONTWAIT) | Int32(MSG_TRUNC), $0, &length)
                    }
                }
            }
            if r >= 0 {
                return (r, IPv4Address(UInt32(bigEndian: sin.sin_addr.s_addr)), UInt16(bigEndian: sin.sin_port))
            }
            if errno == EINTR { continue }
            if errno == EAGAIN { return nil }
            throw .current("recvfrom")
        }
    }

    /// Receive buffers for batched UDP reads.
    public final class DatagramBatch: @unchecked Sendable {
        public let slots: Int
        public let slotSize: Int
        let buffer: UnsafeMutablePointer<UInt8>
        let lengths: UnsafeMutablePointer<UInt32>
        let addresses: UnsafeMutablePointer<UInt32>
        let ports: UnsafeMutablePointer<UInt16>
        public private(set) var count = 0

        public init(slots: Int = 64, slotSize: Int = 65536) {
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
        public func receive(_ fd: FD) throws(Errno) -> Int {
            while true {
                let r = cms_recv_batch_from(fd, buffer, slotSize, Int32(slots), lengths, addresses, ports)
                if r >= 0 { count = Int(r); return count }
                if errno == EINTR { continue }
                if errno == EAGAIN { count = 0; return 0 }
                throw .current("recvmmsg")
            }
        }

        /// Datagram `i`: its bytes (nil when it was larger than a slot), sender address and port.
        public func datagram(_ i: Int) -> (bytes: UnsafeRawBufferPointer?, address: IPv4Address, port: UInt16) {
            let length = Int(lengths[i])
            let bytes = length > slotSize ? nil : UnsafeRawBufferPointer(start: buffer + i * slotSize, count: length)
            return (bytes, IPv4Address(addresses[i]), ports[i])
        }
    }

    public struct Interface: Sendable, Hashable {
        public var name: String
        public var address: IPv4Address
        public var netmask: IPv4Address
        public var broadcast: IPv4Address?
        public var isUp: Bool
        public var isLoopback: Bool
    }

    /// The IPv4 addresses of this machine's interfaces (getifaddrs).
    public static func interfaces() -> [Interface] {
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
    public static func lookUpHost(_ name: String) -> [IPv4Address] {
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

    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static var environment: [String: String] {
        var result: [String: String] = [:]
        var cursor = environ
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") { result[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            cursor += 1
        }
        return result
    }

    // MARK: /proc

    /// Reads a whole (small) file such as /proc/net/unix; nil when it cannot be read.
    public static func readFile(_ path: String, limit: Int = 64 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Entries of a directory (names only), or [] if it cannot be read.
    public static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The target of a symbolic link, or nil.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
