import CMailslotShim
import MailslotCore

// The rings' format and the checks the server applies are in MailslotCore (RingFormat.swift); this file
// maps the rings and does the waiting and waking around them.

/// The server's view of one writer's ring. The server trusts nothing in it: it keeps the head itself, reads
/// the writer's tail once per look, copies each record header once and checks it against the ring before
/// it touches the bytes.
package final class ServerRing: @unchecked Sendable {
    /// The memfd, until it has gone to the writer (the server keeps only the mapping).
    private(set) package var fd: FD
    let base: UnsafeMutableRawPointer
    let data: UnsafeMutableRawPointer
    let capacity = RingLayout.capacity
    /// The position consumed up to (the server's own copy; the ring's is only for the writer).
    private(set) var head: UInt64 = 0

    /// Creates a ring for a new writer: sealed against shrinking and growing, so the writer cannot make
    /// the server's mapping fault.
    package init() throws(Errno) {
        let (fd, base) = try Sys.sealableSharedMemory(name: "mailslot-ring", size: RingLayout.mappedSize)
        do throws(Errno) {
            try Sys.addSeals(fd, [.shrink, .grow, .seal])
        } catch {
            Sys.unmap(base, size: RingLayout.mappedSize)
            Sys.close(fd)
            throw error
        }
        self.fd = fd
        self.base = base
        self.data = base + RingLayout.headerSize
        base.storeBytes(of: UInt32(capacity), toByteOffset: RingLayout.Offset.capacity, as: UInt32.self)
        base.storeBytes(of: RingLayout.magic, toByteOffset: RingLayout.Offset.magic, as: UInt64.self)
    }

    deinit {
        Sys.unmap(base, size: RingLayout.mappedSize)
        closeDescriptor()
    }

    /// The writer has the ring: the server needs only its mapping (one descriptor less per writer).
    package func closeDescriptor() {
        if fd >= 0 { Sys.close(fd) }
        fd = -1
    }

    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt32> { (base + offset).assumingMemoryBound(to: UInt32.self) }
    private var tailWord: UnsafeMutablePointer<UInt64> { (base + RingLayout.Offset.tail).assumingMemoryBound(to: UInt64.self) }

    /// What the writer has published (read once per look).
    @inline(__always)
    package var tail: UInt64 { cms_load_acquire_u64(tailWord) }

    /// Whether the writer has published something the server has not consumed.
    @inline(__always)
    package var hasData: Bool { tail != head }

    package typealias Record = RingReader.Record

    /// The record at `position` (the head, or a later position in a batch), given the tail read once.
    @inline(__always)
    package func record(at position: UInt64, tail: UInt64) -> Record {
        RingReader(data: UnsafeRawPointer(data), capacity: capacity).record(at: position, head: head, tail: tail)
    }

    /// Consumes up to `position` and wakes the writer if it waits for room.
    package func consume(to position: UInt64) {
        head = position
        cms_store_release_u64((base + RingLayout.Offset.head).assumingMemoryBound(to: UInt64.self), position)
        cms_fence()
        if cms_load_relaxed_u32(word(RingLayout.Offset.writerWaiting)) != 0 {
            cms_store_relaxed_u32(word(RingLayout.Offset.writerWaiting), 0)
            wakeWriter()
        }
    }

    private func wakeWriter() {
        Sys.atomicIncrement(word(RingLayout.Offset.headWake))
        Sys.futexWakeAll(word(RingLayout.Offset.headWake))
    }

    /// Asks the writer to ring the doorbell (one byte on the connection) with its next message. The caller
    /// issues one fence after arming every ring and then checks ``hasData`` on each.
    @inline(__always)
    package func arm() { cms_store_relaxed_u32(word(RingLayout.Offset.readerSleeping), 1) }

    /// The server is awake again: writers need not ring.
    @inline(__always)
    package func disarm() { cms_store_relaxed_u32(word(RingLayout.Offset.readerSleeping), 0) }

    /// The server has let go of the mailslot: writes fail with ERROR_BROKEN_PIPE from now on.
    package func markClosed() {
        cms_store_relaxed_u32(word(RingLayout.Offset.closed), 1)
        cms_fence()
        wakeWriter()
    }
}

/// The writer's side of its ring.
package final class ClientRing: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let data: UnsafeMutableRawPointer
    let capacity: Int
    /// The server's liveness word (read-only).
    let liveness: UnsafeRawPointer
    let livenessSize: Int
    private var tail: UInt64 = 0

    /// Maps the ring and the liveness page the server sent. Takes ownership of both descriptors (closed here).
    package init(ringFD: FD, livenessFD: FD) throws(Errno) {
        defer { Sys.close(ringFD); Sys.close(livenessFD) }
        guard let size = try? Sys.fileSize(ringFD), size == RingLayout.mappedSize,
              Sys.seals(ringFD).contains(.shrink), let livenessSize = try? Sys.fileSize(livenessFD),
              livenessSize >= 64, Sys.seals(livenessFD).contains(.shrink) else {
            throw Errno(Errno.badFD, "mailslot ring (not a sealed ring of the expected size)")
        }
        let base = try Sys.mapShared(ringFD, size: size)
        guard base.load(fromByteOffset: RingLayout.Offset.magic, as: UInt64.self) == RingLayout.magic,
              base.load(fromByteOffset: RingLayout.Offset.capacity, as: UInt32.self) == UInt32(RingLayout.capacity) else {
            Sys.unmap(base, size: size)
            throw Errno(Errno.badFD, "mailslot ring (bad header)")
        }
        do throws(Errno) {
            liveness = try Sys.mapReadOnly(livenessFD, size: livenessSize)
        } catch {
            Sys.unmap(base, size: size)
            throw error
        }
        self.livenessSize = livenessSize
        self.base = base
        self.data = base + RingLayout.headerSize
        self.capacity = RingLayout.capacity
        self.tail = cms_load_acquire_u64((base + RingLayout.Offset.tail).assumingMemoryBound(to: UInt64.self))
    }

    deinit {
        Sys.unmap(base, size: RingLayout.mappedSize)
        Sys.unmap(UnsafeMutableRawPointer(mutating: liveness), size: livenessSize)
    }

    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt32> { (base + offset).assumingMemoryBound(to: UInt32.self) }

    /// Whether the server still holds the mailslot (no system call).
    @inline(__always)
    package var serverAlive: Bool {
        Sys.livenessAlive(liveness) && cms_load_relaxed_u32(word(RingLayout.Offset.closed)) == 0
    }

    /// Where a record of `size` bytes goes now: the bytes left before the ring's end, and whether it must
    /// start at offset 0 after a wrap record; nil when it does not fit.
    @inline(__always)
    private func place(_ size: Int) -> (room: Int, wraps: Bool)? {
        let head = cms_load_acquire_u64((base + RingLayout.Offset.head).assumingMemoryBound(to: UInt64.self))
        let room = capacity - Int(tail % UInt64(capacity))
        let wraps = size > room
        let needed = wraps ? room + size : size
        guard tail &- head <= UInt64(capacity), Int(tail &- head) + needed <= capacity else { return nil }
        return (room, wraps)
    }

    /// Whether a record with `length` bytes of payload fits now (a look at the head: no system call).
    package func hasRoom(for length: Int) -> Bool { place(RingLayout.recordSize(length)) != nil }

    /// Copies one record into the ring and publishes it; false when it does not fit now.
    @inline(__always)
    package func append(_ kind: RingKind, stamp: UInt64, _ payload: UnsafeRawBufferPointer) -> Bool {
        let size = RingLayout.recordSize(payload.count)
        guard let (room, wraps) = place(size) else { return false }
        var tail = self.tail
        if wraps {
            let offset = Int(tail % UInt64(capacity))
            data.storeBytes(of: UInt32(0), toByteOffset: offset, as: UInt32.self)
            data.storeBytes(of: RingKind.wrap.rawValue, toByteOffset: offset + 4, as: UInt8.self)
            tail += UInt64(room)
        }
        let at = Int(tail % UInt64(capacity))
        data.storeBytes(of: UInt32(payload.count), toByteOffset: at, as: UInt32.self)
        data.storeBytes(of: UInt32(kind.rawValue), toByteOffset: at + 4, as: UInt32.self)
        data.storeBytes(of: stamp, toByteOffset: at + 8, as: UInt64.self)
        if let source = payload.baseAddress, payload.count > 0 {
            (data + at + RingLayout.recordHeader).copyMemory(from: source, byteCount: payload.count)
        }
        tail += UInt64(size)
        self.tail = tail
        cms_store_release_u64((base + RingLayout.Offset.tail).assumingMemoryBound(to: UInt64.self), tail)
        return true
    }

    /// Whether the server sleeps and this writer must ring the doorbell (it takes the duty: one ring per sleep).
    @inline(__always)
    package func takeDoorbell() -> Bool {
        cms_fence()
        guard cms_load_relaxed_u32(word(RingLayout.Offset.readerSleeping)) != 0 else { return false }
        return cms_exchange_u32(word(RingLayout.Offset.readerSleeping), 0) != 0
    }

    /// Waits (futex on the head) until the server consumes something, at most `nanoseconds`, unless a
    /// record of `length` bytes fits already or the server has gone.
    package func waitForRoom(for length: Int, nanoseconds: Int64) {
        let wake = word(RingLayout.Offset.headWake)
        let seen = Sys.atomicLoad(wake)
        cms_store_relaxed_u32(word(RingLayout.Offset.writerWaiting), 1)
        cms_fence()
        guard place(RingLayout.recordSize(length)) == nil, serverAlive else { return }
        Sys.futexWait(wake, expected: seen, timeoutNanoseconds: nanoseconds)
    }
}

/// A server process's liveness page: one robust mutex, locked by the engine's own thread for as long as the
/// mailslot lives in this process. Writers map it read-only (the memfd is sealed against writes after the
/// server's own mapping), so none can fake the server's death for another.
package final class ServerLiveness: @unchecked Sendable {
    package let fd: FD
    let base: UnsafeMutableRawPointer
    static let size = 4096

    package init() throws(Errno) {
        let (fd, base) = try Sys.sealableSharedMemory(name: "mailslot-liveness", size: ServerLiveness.size)
        do throws(Errno) {
            try Sys.livenessInit(base)
            try Sys.addSeals(fd, [.shrink, .grow, .futureWrite, .seal])
        } catch {
            Sys.unmap(base, size: ServerLiveness.size)
            Sys.close(fd)
            throw error
        }
        self.fd = fd
        self.base = base
    }

    deinit {
        Sys.unmap(base, size: ServerLiveness.size)
        Sys.close(fd)
    }

    /// Called by the thread that holds the page for the mailslot's life.
    package func hold() throws(Errno) { try Sys.livenessHold(base) }
    package func release() { Sys.livenessRelease(base) }
}
