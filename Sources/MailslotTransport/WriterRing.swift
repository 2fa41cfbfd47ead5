import CMailslotShim

/// The ring one writer shares with the server: a memfd the server creates for each writer it accepts and
/// sends with the greeting (SCM_RIGHTS). Only that writer and the server map it, so no writer can see,
/// reorder or corrupt another writer's messages.
///
/// Layout: a 4 KiB header page, then `capacity` bytes of records. Positions grow monotonically; the
/// offset in the ring is `position % capacity`. Every field has one writer:
///
/// | offset | field | written by |
/// |---|---|---|
/// | 0 | magic `MSLTRNG1` (u64), 8: capacity (u32) | server, at creation |
/// | 64 | head: the position the server has consumed up to (u64) | server |
/// | 72 | head wake: bumped when the server consumes for a writer that waits (futex, u32) | server |
/// | 76 | writer waiting (u32) | writer sets, server clears |
/// | 128 | tail: the position the writer has published up to (u64, release) | writer |
/// | 192 | reader sleeping: set before the server sleeps; the writer that clears it rings the doorbell | both |
/// | 256 | closed: the server has let go of the mailslot (u32) | server |
///
/// A record is a 16-byte header (`u32 length, u8 kind, 3 bytes zero, u64 stamp`) and `length` bytes,
/// padded to 16. The stamp is CLOCK_MONOTONIC when the write began publishing (it orders messages across
/// writers); in a ``RingKind/first`` record it is the whole message's length instead. A record never
/// straddles the end of the ring: a ``RingKind/wrap`` record there says the next one starts at offset 0.
/// One record carries at most ``maxPayload`` bytes (half the ring, so an empty ring always takes one);
/// bigger messages travel as a first record, parts, and a last record.
package enum RingLayout {
    package static let headerSize = 4096
    package static let capacity = 64 * 1024
    package static let mappedSize = headerSize + capacity
    package static let magic: UInt64 = 0x3147_4E52_544C_534D // "MSLTRNG1" little-endian
    package static let recordHeader = 16
    /// The largest payload of one record.
    package static let maxPayload = capacity / 2 - recordHeader

    @inline(__always)
    package static func recordSize(_ length: Int) -> Int { recordHeader + ((length + 15) & ~15) }

    enum Off {
        static let magic = 0, capacity = 8, head = 64, headWake = 72, writerWaiting = 76, tail = 128
        static let readerSleeping = 192, closed = 256
    }
}

/// The kind byte of a ring record.
package enum RingKind: UInt8, Sendable {
    case whole = 0x57 // 'W'
    case first = 0x46 // 'F': the first part of a larger message; its stamp field holds the message's length
    case part = 0x50 // 'P'
    case last = 0x4C // 'L'
    case wrap = 0x58 // 'X': the rest of the ring is empty; the next record starts at offset 0
}

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
        base.storeBytes(of: UInt32(capacity), toByteOffset: RingLayout.Off.capacity, as: UInt32.self)
        base.storeBytes(of: RingLayout.magic, toByteOffset: RingLayout.Off.magic, as: UInt64.self)
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
    private var tailWord: UnsafeMutablePointer<UInt64> { (base + RingLayout.Off.tail).assumingMemoryBound(to: UInt64.self) }

    /// What the writer has published (read once per look).
    @inline(__always)
    package var tail: UInt64 { cms_load_acquire_u64(tailWord) }

    /// Whether the writer has published something the server has not consumed.
    @inline(__always)
    package var hasData: Bool { tail != head }

    /// One record as the server sees it.
    package enum Record {
        case empty
        /// A record whose header passed every check; `payload` points into the ring (copy it once), `end` is
        /// the position after it.
        case record(kind: RingKind, stamp: UInt64, payload: UnsafeRawBufferPointer, end: UInt64)
        /// The writer broke the ring's rules; the server drops it.
        case violation(String)
    }

    /// The record at `position` (the head, or a later position in a batch), given the tail read once.
    package func record(at position: UInt64, tail: UInt64) -> Record {
        var position = position
        guard tail >= position, tail - head <= UInt64(capacity), tail & 15 == 0 else {
            return .violation("a ring tail outside the ring")
        }
        while true {
            if position == tail { return .empty }
            let offset = Int(position % UInt64(capacity))
            let room = capacity - offset
            // One copy of the header: what is checked is what is used.
            let length = Int(data.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let kindByte = data.loadUnaligned(fromByteOffset: offset + 4, as: UInt8.self)
            let stamp = data.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)
            guard let kind = RingKind(rawValue: kindByte) else { return .violation("an unknown record kind \(kindByte)") }
            if kind == .wrap {
                guard tail - position >= UInt64(room) else { return .violation("a wrap record past the tail") }
                position += UInt64(room)
                continue
            }
            guard length <= RingLayout.maxPayload else { return .violation("a record of \(length) bytes, more than a ring record holds") }
            let size = RingLayout.recordSize(length)
            guard size <= room, UInt64(size) <= tail - position else { return .violation("a record that runs past the ring or the tail") }
            let payload = UnsafeRawBufferPointer(start: data + offset + RingLayout.recordHeader, count: length)
            return .record(kind: kind, stamp: stamp, payload: payload, end: position + UInt64(size))
        }
    }

    /// Consumes up to `position` and wakes the writer if it waits for room.
    package func consume(to position: UInt64) {
        head = position
        cms_store_release_u64((base + RingLayout.Off.head).assumingMemoryBound(to: UInt64.self), position)
        cms_fence()
        if cms_load_relaxed_u32(word(RingLayout.Off.writerWaiting)) != 0 {
            cms_store_relaxed_u32(word(RingLayout.Off.writerWaiting), 0)
            wakeWriter()
        }
    }

    private func wakeWriter() {
        Sys.atomicIncrement(word(RingLayout.Off.headWake))
        Sys.futexWakeAll(word(RingLayout.Off.headWake))
    }

    /// Asks the writer to ring the doorbell (one byte on the connection) with its next message. The caller
    /// issues one fence after arming every ring and then checks ``hasData`` on each.
    @inline(__always)
    package func arm() { cms_store_relaxed_u32(word(RingLayout.Off.readerSleeping), 1) }

    /// The server is awake again: writers need not ring.
    @inline(__always)
    package func disarm() { cms_store_relaxed_u32(word(RingLayout.Off.readerSleeping), 0) }

    /// The server has let go of the mailslot: writes fail with ERROR_BROKEN_PIPE from now on.
    package func markClosed() {
        cms_store_relaxed_u32(word(RingLayout.Off.closed), 1)
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
        guard base.load(fromByteOffset: RingLayout.Off.magic, as: UInt64.self) == RingLayout.magic,
              base.load(fromByteOffset: RingLayout.Off.capacity, as: UInt32.self) == UInt32(RingLayout.capacity) else {
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
        self.tail = cms_load_acquire_u64((base + RingLayout.Off.tail).assumingMemoryBound(to: UInt64.self))
    }

    deinit {
        Sys.unmap(base, size: RingLayout.mappedSize)
        Sys.unmap(UnsafeMutableRawPointer(mutating: liveness), size: livenessSize)
    }

    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt32> { (base + offset).assumingMemoryBound(to: UInt32.self) }

    /// Whether the server still holds the mailslot (no system call).
    @inline(__always)
    package var serverAlive: Bool {
        Sys.livenessAlive(liveness) && cms_load_relaxed_u32(word(RingLayout.Off.closed)) == 0
    }

    /// Copies one record into the ring and publishes it; false when it does not fit now.
    @inline(__always)
    package func append(_ kind: RingKind, stamp: UInt64, _ payload: UnsafeRawBufferPointer) -> Bool {
        let size = RingLayout.recordSize(payload.count)
        let head = cms_load_acquire_u64((base + RingLayout.Off.head).assumingMemoryBound(to: UInt64.self))
        var tail = self.tail
        let offset = Int(tail % UInt64(capacity))
        let room = capacity - offset
        let wraps = size > room
        let needed = wraps ? room + size : size
        guard tail &- head <= UInt64(capacity), Int(tail &- head) + needed <= capacity else { return false }
        if wraps {
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
        cms_store_release_u64((base + RingLayout.Off.tail).assumingMemoryBound(to: UInt64.self), tail)
        return true
    }

    /// Whether a record of `length` bytes fits now.
    package func hasRoom(for length: Int) -> Bool {
        let size = RingLayout.recordSize(length)
        let head = cms_load_acquire_u64((base + RingLayout.Off.head).assumingMemoryBound(to: UInt64.self))
        let room = capacity - Int(tail % UInt64(capacity))
        let needed = size > room ? room + size : size
        return tail &- head <= UInt64(capacity) && Int(tail &- head) + needed <= capacity
    }

    /// Whether the server sleeps and this writer must ring the doorbell (it takes the duty: one ring per sleep).
    @inline(__always)
    package func takeDoorbell() -> Bool {
        cms_fence()
        guard cms_load_relaxed_u32(word(RingLayout.Off.readerSleeping)) != 0 else { return false }
        return cms_exchange_u32(word(RingLayout.Off.readerSleeping), 0) != 0
    }

    /// Waits (futex on the head) until the server consumes something, at most `nanoseconds`.
    package func waitForRoom(nanoseconds: Int64, stillFull: () -> Bool) {
        let wake = word(RingLayout.Off.headWake)
        let seen = Sys.atomicLoad(wake)
        cms_store_relaxed_u32(word(RingLayout.Off.writerWaiting), 1)
        cms_fence()
        guard stillFull(), serverAlive else { return }
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
    package var alive: Bool { Sys.livenessAlive(base) }
}
