import MailslotCore

/// The message queue of one mailslot, in a shared-memory file (memfd) that every process holding the
/// server handle maps. It is a byte ring of records protected by a process-shared robust mutex; a
/// futex word wakes waiting readers in any process.
///
/// Record layout (8-byte aligned): `u32 length, u32 tag`, then `length` bytes, padded to 8. A record
/// that would run past the end of the ring is preceded by a wrap tag and starts at offset 0.
/// Positions (`head`, `tail`) grow monotonically; the ring offset is `position % capacity`.
///
/// Writers never map this memory: only server-handle holders do, so a writer can neither read other
/// writers' messages nor corrupt the queue.
package final class SharedQueue: @unchecked Sendable {
    package let fd: FD
    let base: UnsafeMutableRawPointer
    let mappedSize: Int
    let ring: UnsafeMutableRawPointer
    package let capacity: Int

    static let headerSize = 4096
    static let magic: UInt64 = 0x3145_5551_544C_534D // "MSLTQUE1" little-endian
    static let recordTag: UInt32 = 0x4D53_4731
    static let wrapTag: UInt32 = 0x5752_4150
    /// Consumed memory goes back to the system in chunks of an eighth of the ring, 64 KiB to 2 MiB: one
    /// fallocate per chunk consumed, and an emptied queue keeps about two chunks resident, whatever it
    /// once held.
    package static func releaseChunk(capacity: Int) -> Int { min(2 << 20, max(64 << 10, capacity / 8)) & ~4095 }
    static let maxPathBytes = 2048

    // Header field offsets.
    private enum Off {
        static let magic = 0, version = 8, capacity = 16, head = 24, tail = 32, count = 40
        static let maxMessage = 48, readTimeout = 52, seq = 56, waiters = 60
        static let ownerUID = 64, accessKind = 68, accessArg = 72, readyWanted = 76, released = 80, created = 88
        static let pathLength = 96, holders = 100, network = 104, reserved = 112, mutex = 256, path = 512
    }

    // MARK: creation and adoption

    /// Creates a new queue with room for `quota` bytes of records.
    package init(quota: Int, maxMessageSize: UInt32, readTimeout: UInt32, ownerUID: UInt32,
                access: WriterAccess, allowNetwork: Bool = false, path: String) throws(Errno) {
        let capacity = (quota + 7) & ~7
        let fd = try Sys.memfd(name: "mailslot")
        let size = SharedQueue.headerSize + capacity
        do throws(Errno) {
            try Sys.truncate(fd, size: size)
            base = try Sys.mapShared(fd, size: size)
        } catch {
            Sys.close(fd)
            throw error
        }
        self.fd = fd
        self.mappedSize = size
        self.capacity = capacity
        self.ring = base + SharedQueue.headerSize
        try Sys.sharedMutexInit(base + Off.mutex)
        store(Off.version, UInt32(1))
        store(Off.capacity, UInt64(capacity))
        store(Off.maxMessage, maxMessageSize)
        store(Off.readTimeout, readTimeout)
        store(Off.ownerUID, ownerUID)
        switch access {
        case .owner: store(Off.accessKind, UInt32(0))
        case .group(let gid): store(Off.accessKind, UInt32(1)); store(Off.accessArg, gid)
        case .everyone: store(Off.accessKind, UInt32(2))
        }
        store(Off.network, UInt32(allowNetwork ? 1 : 0))
        store(Off.created, Sys.realtimeNanoseconds())
        let pathBytes = Array(path.utf8.prefix(SharedQueue.maxPathBytes))
        store(Off.pathLength, UInt32(pathBytes.count))
        pathBytes.withUnsafeBytes { (base + Off.path).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        store(Off.magic, SharedQueue.magic) // last: marks the header complete
    }

    /// Maps a queue created by another process (handed over by inheritance or SCM_RIGHTS).
    /// Takes ownership of `fd`.
    package init(adopting fd: FD) throws(Errno) {
        let size = try Sys.fileSize(fd)
        guard size > SharedQueue.headerSize else { throw Errno(Errno.badFD, "mailslot handle (queue too small)") }
        let base = try Sys.mapShared(fd, size: size)
        let capacity = Int(base.load(fromByteOffset: Off.capacity, as: UInt64.self))
        guard base.load(fromByteOffset: Off.magic, as: UInt64.self) == SharedQueue.magic,
              capacity + SharedQueue.headerSize == size else {
            Sys.unmap(base, size: size)
            throw Errno(Errno.badFD, "mailslot handle (not a mailslot queue)")
        }
        self.fd = fd
        self.base = base
        self.mappedSize = size
        self.capacity = capacity
        self.ring = base + SharedQueue.headerSize
    }

    deinit {
        Sys.unmap(base, size: mappedSize)
        Sys.close(fd)
    }

    // MARK: fixed fields

    package var ownerUID: UInt32 { load(Off.ownerUID) }
    package var access: WriterAccess {
        switch load(Off.accessKind) as UInt32 {
        case 1: return .group(load(Off.accessArg))
        case 2: return .everyone
        default: return .owner
        }
    }
    package var maxMessageSize: UInt32 { load(Off.maxMessage) }
    /// Whether the mailslot takes messages from the network (through mailslotd).
    package var allowsNetwork: Bool { (load(Off.network) as UInt32) == 1 }
    package var path: String {
        let n = min(Int(load(Off.pathLength) as UInt32), SharedQueue.maxPathBytes)
        return String(decoding: UnsafeRawBufferPointer(start: base + Off.path, count: n), as: UTF8.self)
    }
    /// When the mailslot was created (CLOCK_REALTIME, ns): Windows' GetFileTime creation time.
    package var createdNanoseconds: UInt64 { load(Off.created) }

    // MARK: queue operations (all under the lock)

    package struct Snapshot: Sendable {
        package var count: Int
        package var nextSize: Int?
        package var usedBytes: Int
        package var readTimeout: UInt32
    }

    package func snapshot() -> Snapshot {
        lock()
        defer { unlock() }
        let next = nextRecord().map { Int($0.length) }
        return Snapshot(count: Int(load(Off.count) as UInt64), nextSize: next,
                        usedBytes: Int(load(Off.tail) as UInt64 - load(Off.head)), readTimeout: load(Off.readTimeout))
    }

    package var readTimeout: UInt32 {
        get { lock(); defer { unlock() }; return load(Off.readTimeout) }
        set { lock(); store(Off.readTimeout, newValue); unlock() }
    }

    /// Bytes a message of `length` bytes takes in the ring (header and padding).
    package static func recordSize(_ length: Int) -> Int { 8 + ((length + 7) & ~7) }

    /// Appends one message if it fits, and wakes readers.
    package func push(_ message: UnsafeRawBufferPointer) -> Bool {
        push(count: 1) { _ in (message, false) } == 1
    }

    /// Sets aside room for a message that is still arriving in parts, so that the bytes it holds in the
    /// meantime count against the quota. false when the quota cannot hold it now.
    package func reserve(_ length: Int) -> Bool {
        let size = UInt64(SharedQueue.recordSize(length))
        lock()
        defer { unlock() }
        let used = (load(Off.tail) as UInt64) - load(Off.head)
        let reserved: UInt64 = load(Off.reserved)
        // (The record may still have to wait for room at the end of the ring when it is complete.)
        guard used + reserved + size <= UInt64(capacity) else { return false }
        store(Off.reserved, reserved + size)
        return true
    }

    /// Gives back a reservation whose message will never arrive (its writer died mid-message).
    package func cancelReservation(_ length: Int) {
        lock()
        store(Off.reserved, (load(Off.reserved) as UInt64) &- UInt64(SharedQueue.recordSize(length)))
        unlock()
    }

    /// Bytes set aside for messages still arriving in parts.
    package var reservedBytes: Int { lock(); defer { unlock() }; return Int(load(Off.reserved) as UInt64) }

    /// Appends messages in order under one lock until one does not fit, and wakes readers. `item(i)` gives
    /// the i-th message and whether it was reserved with ``reserve(_:)`` (it then always fits). Returns how
    /// many were taken.
    package func push(count: Int, _ item: (Int) -> (bytes: UnsafeRawBufferPointer, reserved: Bool)) -> Int {
        guard count > 0 else { return 0 }
        lock()
        var taken = 0
        while taken < count {
            let (bytes, reserved) = item(taken)
            if reserved { store(Off.reserved, (load(Off.reserved) as UInt64) &- UInt64(SharedQueue.recordSize(bytes.count))) }
            guard append(bytes) else {
                if reserved { store(Off.reserved, (load(Off.reserved) as UInt64) &+ UInt64(SharedQueue.recordSize(bytes.count))) }
                break
            }
            taken += 1
        }
        unlock()
        if taken > 0 { wakeReaders() }
        return taken
    }

    package enum PopResult: Equatable, Sendable {
        /// A message of this size was copied out and removed.
        case message(Int)
        /// The next message has this size, larger than the buffer; it stays queued.
        case tooSmall(Int)
        case empty
    }

    /// Removes the oldest message into `buffer`, if it fits.
    package func pop(into buffer: UnsafeMutableRawBufferPointer) -> PopResult {
        lock()
        defer { unlock() }
        guard let record = nextRecord() else { return .empty }
        let length = Int(record.length)
        guard length <= buffer.count else { return .tooSmall(length) }
        copyOut(from: record.position + 8, count: length, to: buffer.baseAddress)
        consume(record)
        return .message(length)
    }

    /// Removes the oldest message and returns it as an array.
    package func popArray(limit: Int) -> (PopResult, [UInt8]) {
        lock()
        defer { unlock() }
        guard let record = nextRecord() else { return (.empty, []) }
        let length = Int(record.length)
        guard length <= limit else { return (.tooSmall(length), []) }
        // Not for an empty message: Array(unsafeUninitializedCapacity: 0) stores its count into the shared
        // empty-array singleton, a write every other thread's empty arrays see (ThreadSanitizer reports it).
        let bytes = length == 0 ? [] : [UInt8](unsafeUninitializedCapacity: length) { buf, n in
            copyOut(from: record.position + 8, count: length, to: buf.baseAddress)
            n = length
        }
        consume(record)
        return (.message(length), bytes)
    }

    /// Whether holders keep the readiness descriptor up to date (someone asked for it).
    package var readyDescriptorWanted: Bool {
        get { Sys.atomicLoad(word(Off.readyWanted)) != 0 }
        set { Sys.atomicStore(word(Off.readyWanted), newValue ? 1 : 0) }
    }

    /// Runs `body` with the message count, under the lock.
    package func withCount(_ body: (Int) -> Void) {
        lock()
        body(Int(load(Off.count) as UInt64))
        unlock()
    }

    /// How many processes hold the mailslot (each engine counts itself in and out; a process that died
    /// without closing leaves the count too high, which only costs a little polling).
    package var holders: UInt32 { Sys.atomicLoad(word(Off.holders)) }
    package func addHolder() { Sys.atomicIncrement(word(Off.holders)) }
    package func removeHolder() { Sys.atomicAdd(word(Off.holders), UInt32.max) }

    // MARK: waiting

    /// The futex word bumped on every change that may interest a reader.
    package var sequence: UInt32 { Sys.atomicLoad(word(Off.seq)) }

    /// Waits until the sequence differs from `seen` or the deadline passes.
    package func wait(seen: UInt32, until deadline: Deadline) {
        Sys.atomicIncrement(word(Off.waiters))
        Sys.futexWait(word(Off.seq), expected: seen, timeoutNanoseconds: deadline.futexNanoseconds)
        Sys.atomicAdd(word(Off.waiters), UInt32.max) // -1
    }

    /// Wakes every waiting reader in every process (they re-check their own state).
    package func wakeReaders() {
        Sys.atomicIncrement(word(Off.seq))
        if Sys.atomicLoad(word(Off.waiters)) > 0 { Sys.futexWakeAll(word(Off.seq)) }
    }

    // MARK: internals

    private struct Record { var position: UInt64; var length: UInt32 }

    private func lock() { Sys.sharedMutexLock(base + Off.mutex) }
    private func unlock() { Sys.sharedMutexUnlock(base + Off.mutex) }

    private func load<T: FixedWidthInteger>(_ offset: Int) -> T { base.load(fromByteOffset: offset, as: T.self) }
    private func store<T: FixedWidthInteger>(_ offset: Int, _ value: T) { base.storeBytes(of: value, toByteOffset: offset, as: T.self) }
    private func word(_ offset: Int) -> UnsafeMutablePointer<UInt32> {
        (base + offset).assumingMemoryBound(to: UInt32.self)
    }

    private func offset(_ position: UInt64) -> Int { Int(position % UInt64(capacity)) }

    /// The record at the head, skipping a wrap tag. Caller holds the lock.
    private func nextRecord() -> Record? {
        var head: UInt64 = load(Off.head)
        let tail: UInt64 = load(Off.tail)
        guard head < tail else { return nil }
        if ring.load(fromByteOffset: offset(head) + 4, as: UInt32.self) == SharedQueue.wrapTag {
            head += UInt64(capacity - offset(head))
            store(Off.head, head)
            guard head < tail else { return nil }
        }
        let length = ring.load(fromByteOffset: offset(head), as: UInt32.self)
        return Record(position: head, length: length)
    }

    private func consume(_ record: Record) {
        var head = record.position + UInt64(SharedQueue.recordSize(Int(record.length)))
        store(Off.count, (load(Off.count) as UInt64) - 1)
        if head == load(Off.tail) as UInt64 {
            // Empty: restart at offset 0 so the whole ring is contiguous for the next message.
            let restart = (head + UInt64(capacity) - 1) / UInt64(capacity) * UInt64(capacity)
            releasePages(upTo: head, emptied: true)
            head = restart
            store(Off.tail, head)
            store(Off.released, head)
        } else {
            releasePages(upTo: head)
        }
        store(Off.head, head)
    }

    /// Returns consumed memory to the system, so that a queue that once held a lot does not keep it
    /// resident. While messages wait, whole consumed chunks go back (one system call per chunk). When the
    /// queue has just `emptied` (the next message starts over at the front of the ring), everything
    /// consumed goes back but the ring's first chunk, which the next messages use at once: an idle queue
    /// keeps at most one chunk, whatever it once held, and a queue that stays short costs no system call.
    private func releasePages(upTo head: UInt64, emptied: Bool = false) {
        let chunk = UInt64(SharedQueue.releaseChunk(capacity: capacity))
        let capacity = UInt64(self.capacity)
        guard capacity >= 2 * chunk else { return } // the smallest rings are not worth it
        // Free ring slots are the positions in [tail - capacity, head): consumed and not yet reused.
        let tail: UInt64 = load(Off.tail)
        let from = max(load(Off.released) as UInt64, tail >= capacity ? tail - capacity : 0)
        if emptied {
            // The ring's front (its first chunk, in the lap that just ended) stays for the next messages.
            let lapBase = head == 0 ? 0 : (head - 1) / capacity * capacity
            let end = (head + 4095) / 4096 * 4096
            punch(from, min(lapBase, end))
            punch(max(from, lapBase + chunk), end)
            store(Off.released, max(from, end))
            return
        }
        let limit = head / chunk * chunk
        guard limit >= from + chunk else { return }
        punch(from, limit)
        store(Off.released, limit)
    }

    /// Gives back the ring positions [from, to) (which may wrap around the ring's end).
    private func punch(_ from: UInt64, _ to: UInt64) {
        var position = from
        while position < to {
            let start = offset(position)
            let length = min(Int(to - position), capacity - start)
            Sys.punchHole(fd, offset: SharedQueue.headerSize + start, length: length)
            position += UInt64(length)
        }
    }

    private func append(_ message: UnsafeRawBufferPointer) -> Bool {
        let size = SharedQueue.recordSize(message.count)
        let head: UInt64 = load(Off.head)
        var tail: UInt64 = load(Off.tail)
        // Records never straddle the end of the ring; positions and the capacity are multiples of 8,
        // so when a record does not fit before the end there are at least 8 bytes for the wrap tag.
        let room = capacity - offset(tail)
        let wraps = size > room
        let needed = wraps ? room + size : size
        guard Int(tail - head) + Int(load(Off.reserved) as UInt64) + needed <= capacity else { return false }
        if wraps {
            ring.storeBytes(of: UInt32(0), toByteOffset: offset(tail), as: UInt32.self)
            ring.storeBytes(of: SharedQueue.wrapTag, toByteOffset: offset(tail) + 4, as: UInt32.self)
            tail += UInt64(room)
        }
        let at = offset(tail)
        ring.storeBytes(of: UInt32(message.count), toByteOffset: at, as: UInt32.self)
        ring.storeBytes(of: SharedQueue.recordTag, toByteOffset: at + 4, as: UInt32.self)
        if message.count > 0 { (ring + at + 8).copyMemory(from: message.baseAddress!, byteCount: message.count) }
        store(Off.tail, tail + UInt64(size))
        store(Off.count, (load(Off.count) as UInt64) + 1)
        return true
    }

    private func copyOut(from position: UInt64, count: Int, to destination: UnsafeMutableRawPointer?) {
        guard count > 0, let destination else { return }
        destination.copyMemory(from: ring + offset(position), byteCount: count)
    }
}
