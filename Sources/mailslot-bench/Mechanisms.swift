// The three local message mechanisms the bench compares, behind one small send/receive interface.
// Each hot-loop call is allocation-free; one dynamic dispatch per message is noise next to a system call.
import CBenchShim
import Glibc
import Mailslot

/// A local one-way message mechanism.
enum Mechanism: String, CaseIterable, Sendable {
    /// This library: AF_UNIX SOCK_SEQPACKET to the server, its I/O thread, the shared-memory queue.
    case mailslot
    /// Raw AF_UNIX SOCK_DGRAM to an abstract address, blocking send/recv (net.unix.max_dgram_qlen applies).
    case udgram
    /// A POSIX message queue with the default mq_maxmsg and mq_msgsize = the message size.
    case posixMQ = "posix-mq"

    /// A unique address for this mechanism: a mailslot name, an abstract socket name or an mq name.
    static func address(_ mechanism: Mechanism, tag: String) -> String {
        switch mechanism {
        case .mailslot: return #"\\.\mailslot\bench\"# + tag
        case .udgram: return "mailslot-bench." + tag
        case .posixMQ: return "/mailslot-bench." + tag
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

// MARK: factories

/// Creates the receiving endpoint of `mechanism` at `address`.
func makeReceiver(_ mechanism: Mechanism, address: String, messageSize: Int, quota: Int = MailslotLimits.defaultQuota,
                  idleMilliseconds: Int = 2_000) throws(BenchError) -> any MessageReceiver {
    switch mechanism {
    case .mailslot: return try MailslotReceiver(name: address, quota: quota, idleMilliseconds: UInt32(idleMilliseconds))
    case .udgram: return try DatagramReceiver(name: address, idleMilliseconds: Int32(idleMilliseconds))
    case .posixMQ: return try QueueReceiver(name: address, messageSize: messageSize, idleMilliseconds: idleMilliseconds)
    }
}

/// Opens the sending endpoint of `mechanism` to `address`.
func makeSender(_ mechanism: Mechanism, address: String) throws(BenchError) -> any MessageSender {
    switch mechanism {
    case .mailslot: return try MailslotSender(name: address)
    case .udgram: return try DatagramSender(name: address)
    case .posixMQ: return try QueueSender(name: address)
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
