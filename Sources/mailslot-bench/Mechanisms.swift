// The local message mechanisms the bench compares, behind one small send/receive interface.
// Each hot-loop call is allocation-free; one dynamic dispatch per message is noise next to a system call
// (the ring, which makes none, is called through its concrete types).
import CBenchShim
import Glibc
import Mailslot

/// A local one-way message mechanism.
enum Mechanism: String, CaseIterable, Sendable {
    /// This library: a ring of its own per writer (handed over at open on an AF_UNIX SOCK_SEQPACKET
    /// connection), merged by the server into the shared-memory queue.
    case mailslot
    /// Raw AF_UNIX SOCK_DGRAM to an abstract address, blocking send/recv (net.unix.max_dgram_qlen applies).
    case udgram
    /// A POSIX message queue with the default mq_maxmsg and mq_msgsize = the message size.
    case posixMQ = "posix-mq"
    /// An anonymous pipe in packet mode (O_DIRECT), blocking write/read, one message per write; messages
    /// up to PIPE_BUF (4096 bytes) only. It has no name: the parent hands its ends over as descriptors.
    case pipe
    /// The physical limit: a bare single-producer single-consumer ring in shared memory (a memfd the
    /// parent hands over) per writer; both sides spin, no system calls.
    case ring

    /// Whether a child reaches the mechanism by name; pipe and ring are handed over as descriptors and
    /// their "address" is the child's descriptor number.
    var isNamed: Bool {
        switch self {
        case .mailslot, .udgram, .posixMQ: return true
        case .pipe, .ring: return false
        }
    }

    /// Whether one message of `size` bytes is one unit of the mechanism (a pipe splits a write larger
    /// than PIPE_BUF into several packets, so it is not measured there).
    func carries(size: Int) -> Bool {
        self == .pipe ? size <= Mechanism.pipePacketLimit : true
    }

    /// PIPE_BUF: the largest write a packet-mode pipe keeps as one packet.
    static let pipePacketLimit = 4096

    /// A unique address for a named mechanism: a mailslot name, an abstract socket name or an mq name.
    static func address(_ mechanism: Mechanism, tag: String) -> String {
        switch mechanism {
        case .mailslot: return #"\\.\mailslot\bench\"# + tag
        case .udgram: return "mailslot-bench." + tag
        case .posixMQ: return "/mailslot-bench." + tag
        case .pipe, .ring: preconditionFailure("\(mechanism.rawValue) has no name; it is handed over as a descriptor")
        }
    }

    /// The mq_maxmsg a POSIX queue gets: the system default (fs.mqueue.msg_default, 10 unless changed).
    static var defaultQueueLength: Int {
        readTextFile("/proc/sys/fs/mqueue/msg_default").flatMap { Int($0.trimmingSpaces) } ?? 10
    }
}

/// The sending side of a mechanism.
protocol MessageSender: AnyObject {
    /// Sends one message, blocking while the receiver cannot take it (bounded by the mechanism's timeout).
    func send(_ message: UnsafeRawBufferPointer) throws(BenchError)
    func close()
}

/// The receiving side of a mechanism.
protocol MessageReceiver: AnyObject {
    /// Receives one message into `buffer` and returns its length, or nil when none came within the idle
    /// timeout the receiver was made with.
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(BenchError) -> Int?
    /// Makes the address unopenable by anyone new (POSIX mq: unlinks the name). Idempotent.
    func unpublish()
    func close()
}

/// How long any single blocking send may wait before the run counts as failed.
let sendTimeoutMilliseconds: Int32 = 5_000

// MARK: mailslot

final class MailslotReceiver: MessageReceiver {
    let server: MailslotServer
    let idle: MailslotTimeout

    init(name: String, quota: Int = MailslotLimits.defaultQuota, idleMilliseconds: UInt32) throws(BenchError) {
        do throws(MailslotError) {
            server = try MailslotServer(name: name, options: .init(quota: quota))
        } catch {
            throw BenchError("could not create mailslot \(name): \(error)")
        }
        idle = .milliseconds(idleMilliseconds)
    }

    @inline(__always)
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(BenchError) -> Int? {
        do throws(MailslotError) {
            return try server.read(into: buffer, timeout: idle)
        } catch where error.code == .semTimeout {
            return nil
        } catch {
            throw BenchError("mailslot read: \(error)")
        }
    }

    func unpublish() {}
    func close() { server.close() }
}

final class MailslotSender: MessageSender {
    let writer: MailslotWriter

    init(name: String) throws(BenchError) {
        do throws(MailslotError) {
            writer = try MailslotWriter(opening: name, options: .init(writeTimeoutMilliseconds: UInt32(sendTimeoutMilliseconds)))
        } catch {
            throw BenchError("could not open mailslot \(name): \(error)")
        }
    }

    @inline(__always)
    func send(_ message: UnsafeRawBufferPointer) throws(BenchError) {
        do throws(MailslotError) {
            try writer.write(message)
        } catch {
            throw BenchError("mailslot write: \(error)")
        }
    }

    func close() { writer.close() }
}

// MARK: AF_UNIX SOCK_DGRAM

final class DatagramReceiver: MessageReceiver {
    private(set) var fd: Int32

    init(name: String, idleMilliseconds: Int32) throws(BenchError) {
        let bytes = Array(name.utf8)
        fd = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { cbench_udgram_bind($0.baseAddress, $0.count) }
        }
        guard fd >= 0 else { throw .system("bind @\(name)") }
        guard cbench_set_socket_timeouts(fd, idleMilliseconds) == 0 else { throw .system("setsockopt SO_RCVTIMEO") }
    }

    @inline(__always)
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(BenchError) -> Int? {
        let n = cbench_recv(fd, buffer.baseAddress, buffer.count)
        if n >= 0 { return n }
        if errno == EAGAIN || errno == EWOULDBLOCK { return nil }
        throw .system("recv")
    }

    func unpublish() {}
    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
}

final class DatagramSender: MessageSender {
    private(set) var fd: Int32

    init(name: String) throws(BenchError) {
        fd = cbench_udgram_socket()
        guard fd >= 0 else { throw .system("socket") }
        let bytes = Array(name.utf8)
        let r = bytes.withUnsafeBufferPointer { b in
            b.withMemoryRebound(to: CChar.self) { cbench_udgram_connect(fd, $0.baseAddress, $0.count) }
        }
        guard r == 0 else { let e = errno; Glibc.close(fd); throw .system("connect @\(name)", e) }
        guard cbench_set_socket_timeouts(fd, sendTimeoutMilliseconds) == 0 else { throw .system("setsockopt SO_SNDTIMEO") }
    }

    @inline(__always)
    func send(_ message: UnsafeRawBufferPointer) throws(BenchError) {
        let n = cbench_send(fd, message.baseAddress, message.count)
        if n == message.count { return }
        if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
            throw BenchError("send: the receiver took nothing for \(sendTimeoutMilliseconds) ms")
        }
        throw n < 0 ? .system("send") : BenchError("send: short datagram (\(n) of \(message.count) bytes)")
    }

    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
}

// MARK: POSIX message queues

final class QueueReceiver: MessageReceiver {
    let name: String
    private(set) var mqd: Int32
    private var published = true
    let idleNanoseconds: UInt64

    /// Creates the queue (mq_maxmsg: the system default; mq_msgsize: `messageSize`).
    init(name: String, messageSize: Int, idleMilliseconds: Int) throws(BenchError) {
        self.name = name
        mqd = cbench_mq_create(name, Mechanism.defaultQueueLength, max(messageSize, 1))
        guard mqd >= 0 else { throw .system("mq_open(\(name), O_CREAT)") }
        idleNanoseconds = UInt64(idleMilliseconds) * 1_000_000
    }

    @inline(__always)
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(BenchError) -> Int? {
        let n = cbench_mq_receive(mqd, buffer.baseAddress, buffer.count, cbench_realtime_ns() + idleNanoseconds)
        if n >= 0 { return n }
        if errno == ETIMEDOUT { return nil }
        throw .system("mq_timedreceive")
    }

    func unpublish() {
        if published { _ = cbench_mq_unlink(name); published = false }
    }

    func close() {
        unpublish()
        if mqd >= 0 { _ = cbench_mq_close(mqd); mqd = -1 }
    }

    deinit { close() }
}

final class QueueSender: MessageSender {
    private(set) var mqd: Int32

    init(name: String) throws(BenchError) {
        mqd = cbench_mq_open(name, 1)
        guard mqd >= 0 else { throw .system("mq_open(\(name), O_WRONLY)") }
    }

    @inline(__always)
    func send(_ message: UnsafeRawBufferPointer) throws(BenchError) {
        let deadline = cbench_realtime_ns() + UInt64(sendTimeoutMilliseconds) * 1_000_000
        if cbench_mq_send(mqd, message.baseAddress, message.count, deadline) == 0 { return }
        if errno == ETIMEDOUT { throw BenchError("mq_timedsend: the receiver took nothing for \(sendTimeoutMilliseconds) ms") }
        throw .system("mq_timedsend")
    }

    func close() { if mqd >= 0 { _ = cbench_mq_close(mqd); mqd = -1 } }
}

// MARK: pipes in packet mode

/// The reading end of a packet-mode pipe: one blocking read per message. A pipe read has no timeout;
/// it ends when every writer's end is closed (end of file: `receive` returns nil), which their exit or
/// their alarm guarantees.
final class PipeReceiver: MessageReceiver {
    private(set) var fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// The pipe end inherited as descriptor `address` (a number).
    convenience init(inherited address: String) throws(BenchError) {
        self.init(fd: try inheritedDescriptor(address))
    }

    @inline(__always)
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(BenchError) -> Int? {
        let n = cbench_read(fd, buffer.baseAddress, buffer.count)
        if n > 0 { return n }
        if n == 0 { usleep(1_000); return nil } // end of file: every writer has closed its end
        throw .system("read pipe")
    }

    func unpublish() {}
    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
    deinit { close() }
}

/// The writing end of a packet-mode pipe: one blocking write per message (at most PIPE_BUF bytes).
final class PipeSender: MessageSender {
    private(set) var fd: Int32

    init(fd: Int32) {
        cbench_ignore_sigpipe() // a reader that died fails the write with EPIPE instead of killing us
        self.fd = fd
    }

    convenience init(inherited address: String) throws(BenchError) {
        self.init(fd: try inheritedDescriptor(address))
    }

    @inline(__always)
    func send(_ message: UnsafeRawBufferPointer) throws(BenchError) {
        let n = cbench_write(fd, message.baseAddress, message.count)
        if n == message.count { return }
        throw n < 0 ? .system("write pipe") : BenchError("write pipe: short write (\(n) of \(message.count) bytes)")
    }

    func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
    deinit { close() }
}

/// A pipe in packet mode (O_DIRECT); both ends close-on-exec here.
func makePacketPipe() throws(BenchError) -> (readEnd: Int32, writeEnd: Int32) {
    var fds: [Int32] = [-1, -1]
    guard cbench_packet_pipe(&fds) == 0 else { throw .system("pipe2(O_DIRECT)") }
    return (fds[0], fds[1])
}

/// The descriptor number a child was told its endpoint is at, checked to be open.
func inheritedDescriptor(_ address: String) throws(BenchError) -> Int32 {
    guard let fd = Int32(address), fd >= 0, cbench_fd_is_open(fd) != 0 else {
        throw BenchError("\(address) is not an inherited descriptor")
    }
    return fd
}

// MARK: shared-memory rings

/// One bare single-producer single-consumer ring of fixed-size slots in a memfd, mapped here (layout
/// and operations: CBenchShim.h). The parent creates it and hands the descriptor to the child.
final class SharedRing {
    private(set) var fd: Int32
    let base: UnsafeMutableRawPointer
    let length: Int

    /// About this many bytes of slots per ring (at least 16 slots).
    static let targetBytes = 256 << 10

    /// The slot count for messages of `size` bytes: a power of two.
    static func slotCount(messageSize size: Int) -> Int {
        let slotSize = cbench_ring_slot_size(size)
        var slots = 16
        while slots * 2 * slotSize <= targetBytes { slots *= 2 }
        return slots
    }

    /// Creates a ring for messages of up to `messageSize` bytes.
    init(messageSize: Int) throws(BenchError) {
        let slotSize = cbench_ring_slot_size(messageSize)
        let slots = SharedRing.slotCount(messageSize: messageSize)
        length = cbench_ring_bytes(slotSize, slots)
        fd = cbench_memfd("mailslot-bench-ring", length)
        guard fd >= 0 else { throw .system("memfd_create") }
        guard let base = cbench_map_shared(fd, length) else {
            let e = errno
            Glibc.close(fd)
            throw .system("mmap ring", e)
        }
        self.base = base
        cbench_ring_init(base, slotSize, slots)
    }

    /// Maps the ring inherited as descriptor `address` (a number), which it then closes.
    init(inherited address: String) throws(BenchError) {
        let fd = try inheritedDescriptor(address)
        let size = cbench_fd_size(fd)
        guard size > 0 else { throw .system("fstat ring") }
        guard let base = cbench_map_shared(fd, size) else { throw .system("mmap ring") }
        guard cbench_ring_check(base, size) == 0 else {
            _ = cbench_unmap(base, size)
            throw BenchError("descriptor \(fd) holds no ring")
        }
        self.base = base
        length = size
        Glibc.close(fd)
        self.fd = -1
    }

    /// Closes the descriptor (the mapping stays).
    func closeDescriptor() { if fd >= 0 { Glibc.close(fd); fd = -1 } }

    /// How many spins a waiting side of this thread makes between yields: 1 when it is pinned to one
    /// CPU (the other side runs only when it yields), 64 otherwise. Read when a side is made.
    static var spinsPerYield: UInt32 { cbench_cpu_count() == 1 ? 1 : UInt32(CBENCH_RING_SPINS_PER_YIELD) }

    deinit {
        closeDescriptor()
        _ = cbench_unmap(base, length)
    }
}

/// The reader of one or more rings (one per writer): takes the next message round robin, waiting
/// (spinning, then napping) while all are empty.
final class RingReceiver: MessageReceiver {
    let rings: [SharedRing]
    private let bases: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let count: Int32
    /// The ring after the last one served (a pointer: no exclusivity check per message).
    private let cursor: UnsafeMutablePointer<Int32>
    private let spinsPerYield = SharedRing.spinsPerYield
    let idleNanoseconds: UInt64

    init(rings: [SharedRing], idleMilliseconds: Int) {
        self.rings = rings
        bases = .allocate(capacity: max(rings.count, 1))
        for (i, ring) in rings.enumerated() { bases[i] = ring.base }
        count = Int32(rings.count)
        cursor = .allocate(capacity: 1)
        cursor.pointee = 0
        idleNanoseconds = UInt64(idleMilliseconds) * 1_000_000
    }

    @inline(__always)
    func receive(into buffer: UnsafeMutableRawBufferPointer) throws(BenchError) -> Int? {
        let n = cbench_rings_pop(bases, count, cursor, buffer.baseAddress, buffer.count, spinsPerYield, idleNanoseconds)
        if n >= 0 { return Int(n) }
        if n == -1 { return nil }
        throw BenchError("ring: a slot holds a length larger than the slot or the buffer")
    }

    func unpublish() {}
    func close() { for ring in rings { ring.closeDescriptor() } }

    deinit {
        bases.deallocate()
        cursor.deallocate()
    }
}

/// The writer of one ring: copies the message in and publishes it, waiting (spinning, then napping)
/// while the ring is full.
final class RingSender: MessageSender {
    let ring: SharedRing
    private let base: UnsafeMutableRawPointer
    private let spinsPerYield = SharedRing.spinsPerYield
    static let timeoutNanoseconds = UInt64(sendTimeoutMilliseconds) * 1_000_000

    init(ring: SharedRing) {
        self.ring = ring
        base = ring.base
    }

    @inline(__always)
    func send(_ message: UnsafeRawBufferPointer) throws(BenchError) {
        let r = cbench_ring_push(base, message.baseAddress, message.count, spinsPerYield, RingSender.timeoutNanoseconds)
        if r == 1 { return }
        throw r == 0 ? BenchError("ring: the reader took nothing for \(sendTimeoutMilliseconds) ms")
                     : BenchError("ring: a \(message.count)-byte message does not fit a slot")
    }

    func close() { ring.closeDescriptor() }
}

// MARK: factories

/// Creates the receiving endpoint of `mechanism` at `address` (pipe, ring: an inherited descriptor's number).
func makeReceiver(_ mechanism: Mechanism, address: String, messageSize: Int, quota: Int = MailslotLimits.defaultQuota,
                  idleMilliseconds: Int = 2_000) throws(BenchError) -> any MessageReceiver {
    switch mechanism {
    case .mailslot: return try MailslotReceiver(name: address, quota: quota, idleMilliseconds: UInt32(idleMilliseconds))
    case .udgram: return try DatagramReceiver(name: address, idleMilliseconds: Int32(idleMilliseconds))
    case .posixMQ: return try QueueReceiver(name: address, messageSize: messageSize, idleMilliseconds: idleMilliseconds)
    case .pipe: return try PipeReceiver(inherited: address)
    case .ring: return RingReceiver(rings: [try SharedRing(inherited: address)], idleMilliseconds: idleMilliseconds)
    }
}

/// Opens the sending endpoint of `mechanism` to `address` (pipe, ring: an inherited descriptor's number).
func makeSender(_ mechanism: Mechanism, address: String) throws(BenchError) -> any MessageSender {
    switch mechanism {
    case .mailslot: return try MailslotSender(name: address)
    case .udgram: return try DatagramSender(name: address)
    case .posixMQ: return try QueueSender(name: address)
    case .pipe: return try PipeSender(inherited: address)
    case .ring: return RingSender(ring: try SharedRing(inherited: address))
    }
}

/// A descriptor map entry: the parent's descriptor and the number the child finds it at.
typealias HandedDescriptor = (parent: Int32, child: Int32)

/// The parent's side of a throughput run: the receiver, and how each writer child reaches it (its
/// --address, and for pipe and ring the descriptor it inherits).
final class Inbound {
    let receiver: any MessageReceiver
    let addresses: [String]
    let descriptors: [[HandedDescriptor]]
    /// The pipe's write end, which the parent drops once the writers have their copies.
    private var pipeWriteEnd: Int32
    private let rings: [SharedRing]

    /// Creates the receiver of a run with `writers` writers.
    init(_ mechanism: Mechanism, tag: String, writers: Int, messageSize: Int) throws(BenchError) {
        let fd = ChildProcess.firstEndpointFD
        switch mechanism {
        case .mailslot, .udgram, .posixMQ:
            let address = Mechanism.address(mechanism, tag: tag)
            receiver = try makeReceiver(mechanism, address: address, messageSize: messageSize)
            addresses = Array(repeating: address, count: writers)
            descriptors = Array(repeating: [], count: writers)
            pipeWriteEnd = -1
            rings = []
        case .pipe:
            let (readEnd, writeEnd) = try makePacketPipe()
            receiver = PipeReceiver(fd: readEnd)
            addresses = Array(repeating: "\(fd)", count: writers)
            descriptors = Array(repeating: [(writeEnd, fd)], count: writers)
            pipeWriteEnd = writeEnd
            rings = []
        case .ring:
            var made: [SharedRing] = []
            for _ in 0..<writers { made.append(try SharedRing(messageSize: messageSize)) }
            receiver = RingReceiver(rings: made, idleMilliseconds: 2_000)
            addresses = Array(repeating: "\(fd)", count: writers)
            descriptors = made.map { [($0.fd, fd)] }
            pipeWriteEnd = -1
            rings = made
        }
    }

    /// Drops the parent's copies of what the children inherited (call once they are all started), so
    /// that a pipe's reader sees end of file when every writer has ended.
    func closeHandedOver() {
        if pipeWriteEnd >= 0 { Glibc.close(pipeWriteEnd); pipeWriteEnd = -1 }
        for ring in rings { ring.closeDescriptor() }
    }

    func close() {
        closeHandedOver()
        receiver.close()
    }
}

/// The parent's side of a round trip: its receiver, what the echo child is told (--listen, --reply and
/// for pipe and ring the descriptors it inherits: one pipe or ring per direction, made here), and the
/// sender to the echo child (for the named mechanisms opened once the child has created its endpoint).
final class RoundTripEnds {
    let mechanism: Mechanism
    let receiver: any MessageReceiver
    let listen: String
    let reply: String
    let descriptors: [HandedDescriptor]
    private var handedOver: [Int32]
    private let rings: [SharedRing]
    private var sender: (any MessageSender)?

    init(_ mechanism: Mechanism, tag: String, messageSize: Int) throws(BenchError) {
        self.mechanism = mechanism
        let (listenFD, replyFD) = (ChildProcess.firstEndpointFD, ChildProcess.secondEndpointFD)
        switch mechanism {
        case .mailslot, .udgram, .posixMQ:
            reply = Mechanism.address(mechanism, tag: tag + "a")
            listen = Mechanism.address(mechanism, tag: tag + "b")
            receiver = try makeReceiver(mechanism, address: reply, messageSize: messageSize)
            descriptors = []
            handedOver = []
            rings = []
        case .pipe:
            let toEcho = try makePacketPipe()
            let fromEcho: (readEnd: Int32, writeEnd: Int32)
            do throws(BenchError) { fromEcho = try makePacketPipe() } catch {
                Glibc.close(toEcho.readEnd)
                Glibc.close(toEcho.writeEnd)
                throw error
            }
            receiver = PipeReceiver(fd: fromEcho.readEnd)
            sender = PipeSender(fd: toEcho.writeEnd)
            (listen, reply) = ("\(listenFD)", "\(replyFD)")
            descriptors = [(toEcho.readEnd, listenFD), (fromEcho.writeEnd, replyFD)]
            handedOver = [toEcho.readEnd, fromEcho.writeEnd]
            rings = []
        case .ring:
            let toEcho = try SharedRing(messageSize: messageSize)
            let fromEcho = try SharedRing(messageSize: messageSize)
            receiver = RingReceiver(rings: [fromEcho], idleMilliseconds: 2_000)
            sender = RingSender(ring: toEcho)
            (listen, reply) = ("\(listenFD)", "\(replyFD)")
            descriptors = [(toEcho.fd, listenFD), (fromEcho.fd, replyFD)]
            handedOver = []
            rings = [toEcho, fromEcho]
        }
    }

    /// Drops the parent's copies of what the echo child inherited (call once it is started).
    func closeHandedOver() {
        for fd in handedOver { Glibc.close(fd) }
        handedOver = []
        for ring in rings { ring.closeDescriptor() }
    }

    /// The sender to the echo child; call once it is ready. Makes both endpoints unopenable by anyone new.
    func openSender() throws(BenchError) -> any MessageSender {
        if let sender { return sender }
        let made = try makeSender(mechanism, address: listen)
        sender = made
        receiver.unpublish()
        if mechanism == .posixMQ { _ = cbench_mq_unlink(listen) }
        return made
    }

    func close() {
        closeHandedOver()
        sender?.close()
        receiver.close()
        if mechanism == .posixMQ { _ = cbench_mq_unlink(listen) } // the echo child's queue, if it got that far
    }
}

/// The first 8 bytes of every bench message: the writer's id and its sequence number, little endian.
enum MessageHeader {
    static let size = 8

    @inline(__always)
    static func write(writer: UInt32, sequence: UInt32, to buffer: UnsafeMutableRawPointer) {
        buffer.storeBytes(of: writer.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: sequence.littleEndian, toByteOffset: 4, as: UInt32.self)
    }

    @inline(__always)
    static func read(_ buffer: UnsafeRawPointer) -> (writer: UInt32, sequence: UInt32) {
        (UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 0, as: UInt32.self)),
         UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
    }
}

/// A page-aligned buffer of `count` bytes filled with a pattern, freed by the caller.
func makeMessageBuffer(_ count: Int) -> UnsafeMutableRawBufferPointer {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 16), alignment: 4096)
    for i in 0..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) }
    return buffer
}
