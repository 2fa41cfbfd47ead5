import Logging
import MailslotCore
import Synchronization

/// The server side of a local mailslot in one process: the listening socket that holds the name, the
/// shared queue, the rings of the writers this process accepted, and an I/O thread that accepts writers,
/// checks their credentials, hands each a ring of its own and moves what they publish into the queue.
///
/// Several processes may hold the same mailslot (a handle inherited across fork/exec or sent over a
/// Unix socket): each runs its own engine over the same listening socket and the same queue.
///
/// **Reading and waiting.** Every message goes from a writer's ring into the queue in write order across
/// writers (see ``drain(_:)``); reads take it from the queue. A reader that finds the queue empty spins on
/// the rings for a bounded time (``spinNanoseconds``), then sleeps in epoll after asking every writer to
/// ring the doorbell (one byte on its connection) with its next message; the I/O thread parks meanwhile.
package final class LocalServerEngine: @unchecked Sendable {
    package let queue: SharedQueue
    package let listenFD: FD
    /// Readable while a message waits (maintained only once someone asks for it).
    package let readyFD: FD
    let epollFD: FD
    let stopFD: FD
    let logger: Logger
    private let liveness: ServerLiveness
    private let state: Locked<State>
    private let closed = Atomic<Bool>(false)
    private var thread: ThreadHandle?

    /// Counters for this process's engine.
    package typealias Counters = MailslotCounters

    /// The most writers one process's engine serves at once (each holds at most one ring,
    /// ``RingLayout/mappedSize`` bytes); the next one is refused with ERROR_NO_SYSTEM_RESOURCES (1450).
    package static let maxConnections = 1024
    /// How long accepting pauses after running out of descriptors.
    static let acceptPauseNanoseconds: UInt64 = 100_000_000
    /// How long a reader that finds nothing spins on the rings before it sleeps.
    package static let spinNanoseconds: UInt64 = 50_000

    private final class Connection {
        let id: UInt64
        let fd: FD
        let pid: Int32
        let uid: UInt32
        let ring: ServerRing
        var hungUp = false
        /// The last stamp taken from this ring (stamps never go back within one writer).
        var lastStamp: UInt64 = 0
        /// A message arriving in parts: its room in the queue is reserved; `filled` bytes have arrived.
        var assembly: UnsafeMutableRawBufferPointer?
        var filled = 0
        /// A message assembled from parts, waiting for its turn in the queue (its room reserved).
        var complete: (bytes: UnsafeMutableRawBufferPointer, stamp: UInt64)?
        var violation: String?
        init(id: UInt64, fd: FD, pid: Int32, uid: UInt32, ring: ServerRing) {
            self.id = id
            self.fd = fd
            self.pid = pid
            self.uid = uid
            self.ring = ring
        }
        deinit {
            assembly?.deallocate()
            complete?.bytes.deallocate()
        }
    }

    /// One message a round may queue: where it is, and its place in write order.
    private struct Candidate {
        var stamp: UInt64
        var sequence: Int
        var connection: Connection
        var bytes: UnsafeRawBufferPointer
        /// The ring position after the record (nil: an assembled message).
        var end: UInt64?
    }

    private struct State {
        var connections: [UInt64: Connection] = [:]
        var nextID: UInt64 = 0
        var counters = Counters()
        /// The queue could not take the oldest waiting message: look again soon.
        var queueFull = false
        var armed = false
        /// Accepting is paused until then (after running out of descriptors); 0: not paused.
        var acceptPausedUntil: UInt64 = 0
        var candidates: [Candidate] = []
        /// The rings a round looks at, with the tail it read (scratch, kept for its capacity).
        var looks: [(Connection, UInt64)] = []
    }

    static let listenToken: UInt64 = 0
    static let stopToken: UInt64 = 1
    static let wakeToken: UInt64 = 2
    /// Wakes the thread waiting in epoll.
    let wakeFD: FD
    static let connectionTokenBase: UInt64 = 16

    // MARK: life cycle

    /// Creates a new mailslot: binds its name and creates its queue.
    /// `ownerUID` is the user the access rule's "owner" means: this process's effective uid unless a
    /// privileged process creates the mailslot on a user's behalf (the file system does, for `open(2)`).
    package static func create(name: MailslotName, maxMessageSize: UInt32, readTimeout: MailslotTimeout,
                              access: WriterAccess, allowNetwork: Bool = false, quota: Int, ownerUID: UInt32 = Sys.euid,
                              logger: Logger) throws(MailslotError) -> LocalServerEngine {
        guard name.isLocal else {
            throw MailslotError(.invalidName, "'\(name)' names another machine; a mailslot can only be created on this machine, as \\\\.\\mailslot\\\(name.path)")
        }
        guard quota >= MailslotLimits.smallestQuota, quota <= MailslotLimits.largestQuota else {
            throw MailslotError(.invalidParameter, "a quota of \(quota) bytes is out of range; use \(MailslotLimits.smallestQuota) to \(MailslotLimits.largestQuota) bytes")
        }
        let address = LocalProtocol.abstractAddress(forKey: name.key)
        let listenFD: FD
        do throws(Errno) {
            listenFD = try Sys.unixSocket(seqpacket: true)
        } catch {
            throw MailslotError.system("could not create the mailslot's socket", error)
        }
        do throws(Errno) {
            try bindName(listenFD, address, name)
            try Sys.listen(listenFD, backlog: 4096)
        } catch {
            Sys.close(listenFD)
            throw MailslotError(error, .publish(name))
        }
        let queue: SharedQueue
        let readyFD: FD
        do throws(Errno) {
            queue = try SharedQueue(quota: quota, maxMessageSize: maxMessageSize, readTimeout: readTimeout.rawValue,
                                    ownerUID: ownerUID, access: access, allowNetwork: allowNetwork, path: name.path)
            readyFD = try Sys.eventFD()
        } catch {
            Sys.close(listenFD)
            throw MailslotError(error, .reserveQueue(quota: quota))
        }
        return try LocalServerEngine(listenFD: listenFD, queue: queue, readyFD: readyFD, logger: logger)
    }

    /// Binds the mailslot's name. A name still held only by a process between fork and exec (which keeps
    /// a copy of every descriptor for a moment, even close-on-exec ones) does not answer writers: wait
    /// for it briefly rather than report a mailslot that no longer exists.
    private static func bindName(_ fd: FD, _ address: [UInt8], _ name: MailslotName) throws(Errno) {
        let deadline = Deadline(milliseconds: 250)
        while true {
            do throws(Errno) {
                try Sys.bindAbstract(fd, address)
                return
            } catch where error.code == Errno.addressInUse && !deadline.passed {
                if let (probe, _) = try? LocalWriter.connect(name, address, timeoutMilliseconds: 50, checkName: false) {
                    Sys.close(probe)
                    throw error // a live server answered: the name is taken
                }
                _ = try? Sys.poll(fd, [], timeoutMilliseconds: 2) // a short pause before trying again
            }
        }
    }

    /// Takes over descriptors handed to this process (inherited or received over a Unix socket).
    package static func adopt(listenFD: FD, queueFD: FD, readyFD: FD, logger: Logger) throws(MailslotError) -> LocalServerEngine {
        let isListening = (try? Sys.socketIntOption(listenFD, Sys.soAcceptConn)) == 1
        let type = try? Sys.socketIntOption(listenFD, Sys.soType)
        guard isListening, type == Sys.sockSeqpacket, let bound = Sys.abstractName(listenFD),
              bound.starts(with: LocalProtocol.addressPrefix) else {
            throw MailslotError(.invalidHandle, "descriptor \(listenFD) is not a mailslot server handle")
        }
        let queue: SharedQueue
        do throws(Errno) {
            queue = try SharedQueue(adopting: queueFD)
        } catch {
            throw MailslotError(.invalidHandle, "descriptor \(queueFD) is not a mailslot queue", cause: error.cause)
        }
        do throws(Errno) {
            try Sys.setCloseOnExec(listenFD, true)
            try Sys.setNonBlocking(listenFD, true)
            try Sys.setCloseOnExec(readyFD, true)
        } catch {
            throw MailslotError.system("could not adopt the mailslot handle", error)
        }
        return try LocalServerEngine(listenFD: listenFD, queue: queue, readyFD: readyFD, logger: logger)
    }

    private init(listenFD: FD, queue: SharedQueue, readyFD: FD, logger: Logger) throws(MailslotError) {
        self.listenFD = listenFD
        self.queue = queue
        self.readyFD = readyFD
        self.logger = logger
        self.state = Locked(State())
        parkWord.initialize(to: 0)
        startedWord.initialize(to: 0)
        do throws(Errno) {
            liveness = try ServerLiveness()
        } catch {
            Sys.close(listenFD)
            throw MailslotError.system("could not create the mailslot's liveness page", error)
        }
        queue.addHolder()
        do throws(Errno) {
            epollFD = try Sys.epollCreate()
            stopFD = try Sys.eventFD()
            wakeFD = try Sys.eventFD()
            try Sys.epollAdd(epollFD, listenFD, events: Sys.epollIn, token: Self.listenToken)
            try Sys.epollAdd(epollFD, stopFD, events: Sys.epollIn, token: Self.stopToken)
            try Sys.epollAdd(epollFD, wakeFD, events: Sys.epollIn, token: Self.wakeToken)
        } catch {
            Sys.close(listenFD)
            throw MailslotError.system("could not start the mailslot's I/O thread", error)
        }
        do throws(Errno) {
            thread = try Sys.startThread { [self] in self.run() }
        } catch {
            Sys.close(listenFD)
            Sys.close(epollFD)
            Sys.close(stopFD)
            Sys.close(wakeFD)
            throw MailslotError.system("could not start the mailslot's I/O thread", error)
        }
        // The I/O thread holds the liveness page before any writer can be greeted.
        while Sys.atomicLoad(startedWord) == 0 { Sys.futexWait(startedWord, expected: 0, timeoutNanoseconds: 10_000_000) }
        logger.debug("mailslot server started", metadata: ["path": "\(queue.path)", "pid": "\(Sys.pid)"])
    }

    package var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Stops the I/O thread and closes this process's descriptors. The name is freed at once unless
    /// another process still holds the handle. Queued messages go with the last holder.
    package func close() {
        // Sequentially consistent with readerWait's claim of the watcher role: either the reader sees the close,
        // or this sees the reader and waits for it to leave epoll before the descriptors close.
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        Sys.signalEventFD(stopFD)
        unpark()
        if let thread, !Sys.isCurrentThread(thread) { Sys.join(thread) }
        // A reader polling in epoll wakes on the stop signal and lets go before the descriptors close.
        while watcher.load(ordering: .sequentiallyConsistent) == .reader { Sys.futexWait(parkWord, expected: Sys.atomicLoad(parkWord), timeoutNanoseconds: 1_000_000) }
        endAsyncReads()
        state.withLock { state in
            // What writers have published belongs to the mailslot: move it into the queue before this
            // process lets go, so that other holders of the handle still get it.
            drain(&state)
            let left = state.connections.values.filter { $0.ring.hasData || $0.complete != nil }.count
            if left > 0 {
                logger.debug("mailslot closed with messages its quota could not take", metadata: ["path": "\(queue.path)", "writers": "\(left)"])
            }
            for connection in state.connections.values { remove(connection, &state) }
        }
        Sys.close(listenFD)
        Sys.close(epollFD)
        Sys.close(stopFD)
        Sys.close(wakeFD)
        Sys.close(readyFD)
        queue.removeHolder()
        queue.wakeReaders()
        logger.debug("mailslot server closed", metadata: ["path": "\(queue.path)"])
    }

    deinit {
        close()
        parkWord.deallocate()
        startedWord.deallocate()
    }

    package var counters: Counters { state.withLock { $0.counters } }

    /// Descriptors that make up the handle, for passing to another process.
    package var handleDescriptors: [FD] { [listenFD, queue.fd, readyFD] }

    /// How many writers this process serves now (rings of writers that hung up with messages still in
    /// them included).
    package var connectionCount: Int { state.withLock { $0.connections.count } }

    // MARK: draining

    /// Takes every message writers have published into the queue (or what `rounds` rounds take), from
    /// the calling thread. Info and reads call this so that a message whose write has returned is always seen.
    @discardableResult
    package func drainNow(rounds: Int = 64) -> Int {
        guard !isClosed else { return 0 }
        return state.withLock { state in
            let moved = drain(&state, rounds: rounds)
            reap(&state)
            return moved
        }
    }

    /// The queue's state with every message whose write has returned counted, wherever it waits (the
    /// queue, or a writer's ring when the quota is full).
    package func exactSnapshot() -> SharedQueue.Snapshot {
        state.withLock { state in exactSnapshot(&state) }
    }

    private func exactSnapshot(_ state: inout State) -> SharedQueue.Snapshot {
        if !isClosed { drain(&state) }
        var snapshot = queue.snapshot()
        var oldest: (stamp: UInt64, size: Int)?
        func count(_ stamp: UInt64, _ size: Int) {
            snapshot.count += 1
            snapshot.usedBytes += SharedQueue.recordSize(size)
            if oldest == nil || stamp < oldest!.stamp { oldest = (stamp, size) }
        }
        for connection in state.connections.values {
            // An assembled message waiting for room, then what the ring holds behind it.
            if let complete = connection.complete { count(complete.stamp, complete.bytes.count) }
            let tail = connection.ring.tail
            var position = connection.ring.head
            for _ in 0..<(RingLayout.capacity / RingLayout.recordHeader) {
                guard case .record(let kind, let stamp, let payload, let end) = connection.ring.record(at: position, tail: tail),
                      kind == .whole else { break }
                count(stamp, payload.count)
                position = end
            }
        }
        if snapshot.nextSize == nil { snapshot.nextSize = oldest?.size }
        return snapshot
    }

    /// Moves what writers have published into the queue, oldest first across writers, until the queue is
    /// full or the rings are empty. Returns how many messages went.
    ///
    /// Each record carries its writer's CLOCK_MONOTONIC stamp, taken before the record was published. A
    /// round reads the clock (the watermark) before it looks at any ring, and queues, in stamp order, the
    /// records stamped before it; a record stamped after it waits for the next round. A write that returned
    /// before another began was therefore published before that other one was stamped: if the round did not
    /// see it, the other is stamped after the watermark and waits too. So one FIFO holds every writer's
    /// messages in write order (conformance W32). With one writer there is nothing to merge.
    ///
    /// A ring may also stop short of its tail in a round because of a message in parts: a large message
    /// whose room the quota cannot set aside yet, parts behind whole messages, an assembled message with
    /// records behind it. The earliest stamp such a ring leaves behind is the round's barrier: nothing
    /// stamped after it is queued in this round, so that smaller messages written later cannot overtake a
    /// waiting one. The exception is an assembled message, which already holds its room: holding it back
    /// could leave the waiting message waiting for that room for ever. (A ring that stops at its 64 records
    /// of a round sets no barrier: with 64 busy writers that halved the throughput, measured. Its later
    /// records may then be queued after another ring's records stamped later, within one round's depth.)
    @discardableResult
    private func drain(_ state: inout State, rounds: Int = 64) -> Int {
        var moved = 0
        for _ in 0..<rounds { // each round queues something or ends the loop; bounded all the same
            let (queued, more) = drainRound(&state)
            moved += queued
            if !more { break }
        }
        if moved > 0 {
            state.counters.messagesReceived += moved
            signalReady()
        }
        return moved
    }

    /// One round: returns how many messages it queued and whether another round may queue more.
    private func drainRound(_ state: inout State) -> (Int, Bool) {
        let single = state.connections.count == 1
        let watermark = single ? UInt64.max : Sys.monotonicNanoseconds()
        // Scratch arrays kept for their capacity, emptied after each round (they hold connections).
        var candidates = state.candidates
        defer {
            candidates.removeAll(keepingCapacity: true)
            state.candidates = candidates
        }
        var held = false
        var full = false
        var barrier: Barrier?
        // One look at every ring's tail, then one clock read: every record up to those tails was stamped
        // before `now`, so a later stamp is a lie. Rings with nothing new cost one load each.
        var looks = state.looks
        defer {
            looks.removeAll(keepingCapacity: true)
            state.looks = looks
        }
        for connection in state.connections.values where connection.violation == nil {
            let tail = connection.ring.tail
            if tail != connection.ring.head || connection.complete != nil { looks.append((connection, tail)) }
        }
        let now = Sys.monotonicNanoseconds()
        for (connection, tail) in looks {
            collect(connection, tail: tail, now: now, watermark: watermark, into: &candidates, held: &held, full: &full, barrier: &barrier)
        }
        if !single { candidates.sort { ($0.stamp, $0.sequence) < ($1.stamp, $1.sequence) } }
        // What may go this round: the candidates before the barrier, moved to the front in their order. An
        // assembled message goes whatever its stamp: it holds its room in the quota already, and a message
        // waiting for room behind the barrier may be waiting for exactly that room.
        var allowed = candidates.count
        if !single, let barrier {
            allowed = 0
            for i in candidates.indices {
                let candidate = candidates[i]
                guard candidate.end == nil || candidate.stamp < barrier.stamp
                        || (candidate.stamp == barrier.stamp && candidate.connection === barrier.connection) else { continue }
                candidates.swapAt(allowed, i)
                allowed += 1
            }
        }
        let taken = candidates.withUnsafeBufferPointer { list in
            queue.push(count: allowed) { i in (list[i].bytes, list[i].end == nil) }
        }
        // Backwards, so that each ring is consumed once, up to its last queued record.
        for candidate in candidates[0..<taken].reversed() {
            let connection = candidate.connection
            connection.lastStamp = max(connection.lastStamp, candidate.stamp)
            if let end = candidate.end {
                if end > connection.ring.head { connection.ring.consume(to: end) }
            } else {
                connection.complete?.bytes.deallocate()
                connection.complete = nil
            }
        }
        state.queueFull = full || taken < allowed
        queueFullHint.store(state.queueFull, ordering: .relaxed)
        // Another round may queue more when this one took all it was allowed and took something (a ring
        // that stopped short goes on from there), or was held by the watermark.
        return (taken, taken == allowed && (taken > 0 || held))
    }

    /// The earliest stamp a ring left behind in a round, and that ring.
    private struct Barrier {
        var stamp: UInt64
        var connection: Connection
    }

    /// Adds the records of one ring to a round: whole messages as candidates (at most 64), parts straight
    /// into the message they belong to.
    private func collect(_ connection: Connection, tail: UInt64, now: UInt64, watermark: UInt64, into candidates: inout [Candidate],
                         held: inout Bool, full: inout Bool, barrier: inout Barrier?) {
        guard connection.violation == nil else { return }
        let ring = connection.ring
        var lastStamp = connection.lastStamp
        // A stamp later than `now` is a lie: it goes just before the watermark. Stamps never go back within a ring.
        func clamped(_ stamp: UInt64) -> UInt64 { max(stamp > now ? min(now, watermark &- 1) : stamp, lastStamp) }
        /// This ring stops at `position` with records left: the first of them (the earliest in the ring)
        /// holds back everything stamped after it, in every ring.
        func stopShort(at position: UInt64) {
            guard case .record(_, let rawStamp, _, _) = ring.record(at: position, tail: tail) else { return }
            let stamp = clamped(rawStamp)
            guard stamp < watermark else { return } // held by the watermark anyway
            if barrier == nil || stamp < barrier!.stamp { barrier = Barrier(stamp: stamp, connection: connection) }
        }
        /// An assembled message waiting for room goes in its turn; nothing behind it goes before it.
        func offerComplete() {
            guard let complete = connection.complete else { return }
            if complete.stamp >= watermark { held = true; return }
            candidates.append(Candidate(stamp: complete.stamp, sequence: candidates.count, connection: connection,
                                        bytes: UnsafeRawBufferPointer(complete.bytes), end: nil))
            stopShort(at: ring.head)
        }
        if connection.complete != nil { return offerComplete() }
        let limit = effectiveMessageLimit
        var position = ring.head
        var taken = 0
        while taken < 64 {
            switch ring.record(at: position, tail: tail) {
            case .empty:
                return
            case .violation(let why):
                connection.violation = why
                return
            case .record(let kind, let rawStamp, let payload, let end):
                switch kind {
                case .whole:
                    let inProgress = connection.assembly.map { (total: $0.count, filled: connection.filled) }
                    if case .violation(let why) = PartRules.check(.whole, stamp: rawStamp, length: payload.count, inProgress: inProgress, limit: limit) {
                        connection.violation = why
                        return
                    }
                    let stamp = clamped(rawStamp)
                    if stamp >= watermark { held = true; return }
                    lastStamp = stamp
                    candidates.append(Candidate(stamp: stamp, sequence: candidates.count, connection: connection, bytes: payload, end: end))
                    position = end
                    taken += 1
                case .first, .part, .last:
                    // Parts leave the ring at once (into the message's own buffer), so they are taken only
                    // when nothing before them waits in this round.
                    guard position == ring.head else { return stopShort(at: position) }
                    guard take(part: kind, rawStamp, payload, connection, limit: limit, full: &full) else {
                        if connection.violation == nil { stopShort(at: position) } // waiting for room
                        return
                    }
                    ring.consume(to: end)
                    position = end
                    if kind == .last, connection.complete != nil {
                        connection.complete!.stamp = clamped(connection.complete!.stamp)
                        return offerComplete()
                    }
                case .wrap:
                    return // record(at:) skips wrap records
                }
            }
        }
    }

    /// Adds one part to the message it belongs to (``PartRules``). false when it cannot be taken now (the
    /// quota cannot reserve the message's room yet) or breaks the rules (the connection's violation is set).
    private func take(part kind: RingKind, _ stamp: UInt64, _ payload: UnsafeRawBufferPointer, _ connection: Connection,
                      limit: Int, full: inout Bool) -> Bool {
        let inProgress = connection.assembly.map { (total: $0.count, filled: connection.filled) }
        switch PartRules.check(kind, stamp: stamp, length: payload.count, inProgress: inProgress, limit: limit) {
        case .violation(let why):
            connection.violation = why
            return false
        case .start(let total):
            // The room for the whole message is set aside first, so that a message in parts counts
            // against the quota while it arrives.
            guard queue.reserve(total) else { full = true; return false }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: total, alignment: 16)
            buffer.copyMemory(from: payload)
            connection.assembly = buffer
            connection.filled = payload.count
        case .append(let complete):
            guard let buffer = connection.assembly else { return false }
            let end = connection.filled + payload.count
            UnsafeMutableRawBufferPointer(rebasing: buffer[connection.filled..<end]).copyMemory(from: payload)
            connection.filled = end
            if complete {
                connection.complete = (buffer, stamp)
                connection.assembly = nil
                connection.filled = 0
            }
        }
        return true
    }

    /// Lets go of writers that broke the rules, and of writers that hung up once their ring is empty.
    private func reap(_ state: inout State) {
        for connection in state.connections.values {
            if let violation = connection.violation {
                state.counters.protocolViolations += 1
                logger.debug("mailslot writer dropped: \(violation)", metadata: ["path": "\(queue.path)", "writer_pid": "\(connection.pid)"])
                remove(connection, &state)
            } else if connection.hungUp, !connection.ring.hasData, connection.complete == nil {
                // A writer that died mid-message leaves no partial message.
                remove(connection, &state)
            }
        }
    }

    /// Lets go of a writer: its connection, its reservation and its ring (whose writer then gets 109).
    private func remove(_ connection: Connection, _ state: inout State) {
        hangUp(connection)
        if let assembly = connection.assembly { queue.cancelReservation(assembly.count) }
        if let complete = connection.complete { queue.cancelReservation(complete.bytes.count) }
        connection.ring.markClosed()
        state.connections[connection.id] = nil
    }

    /// Reads a writer's connection: doorbell bytes (discarded) and the end of the connection.
    private func service(_ connection: Connection) {
        var scratch = (UInt64(0), UInt64(0))
        for _ in 0..<64 {
            let result = withUnsafeMutableBytes(of: &scratch) { buffer -> Result<Int?, Errno> in
                do throws(Errno) { return .success(try Sys.receive(connection.fd, into: buffer)) } catch { return .failure(error) }
            }
            guard case .success(let received) = result else {
                hangUp(connection)
                return
            }
            guard let received else { return }
            if received == 0, Sys.peerHungUp(connection.fd) {
                hangUp(connection)
                return
            }
        }
    }

    /// The writer has closed its connection (or died): its ring stays until what it published is queued.
    private func hangUp(_ connection: Connection) {
        guard !connection.hungUp else { return }
        Sys.epollRemove(epollFD, connection.fd)
        Sys.close(connection.fd)
        connection.hungUp = true
    }

    // MARK: who waits on the writers
    //
    // Normally the I/O thread waits in epoll for writers and queues what they publish. While a reader is
    // waiting for a message, that reader waits itself (spinning on the rings, then in epoll) and queues the
    // message it then reads, so a message costs at most one wake-up (writer to reader) instead of two
    // (writer to I/O thread to reader); the I/O thread parks meanwhile.

    /// Who waits on the writers (in epoll) now: one party at a time.
    enum Watcher: UInt8, AtomicRepresentable {
        /// Nobody: the I/O thread is between two turns, or parked.
        case nobody
        /// The I/O thread (no reader is waiting).
        case ioThread
        /// A waiting reader; the I/O thread parks until it lets go.
        case reader
    }

    private let watcher = Atomic<Watcher>(.nobody)
    /// Bumped by every synchronous read: while it moves, the I/O thread leaves the rings to the reader.
    private let readActivity = Atomic<UInt64>(0)
    /// The I/O thread's last look at ``readActivity`` (only the I/O thread touches it).
    nonisolated(unsafe) private var lastReadActivity: UInt64 = 0
    /// Synchronous reads waiting for a message (the I/O thread parks while there are any).
    private let readersWaiting = Atomic<Int>(0)
    /// The I/O thread parks on this word while a reader watches; ``unpark()`` bumps it and wakes it.
    private let parkWord = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// When a reader last left a short wait (without unparking the I/O thread).
    private let lastShortWait = Atomic<UInt64>(0)
    /// The I/O thread is parked for long (up to 5 s): a reader leaving must unpark it.
    private let ioThreadParkedLong = Atomic<Bool>(false)

    private func unpark() {
        Sys.atomicIncrement(parkWord)
        Sys.futexWakeAll(parkWord)
    }

    /// A wait in ms (-1: forever) capped at `cap`.
    private static func capped(_ wait: Int32, _ cap: Int32) -> Int32 { wait < 0 ? cap : min(wait, cap) }
    private let startedWord = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// The event buffer of the reader that polls; only the reader that holds the watcher role touches it.
    nonisolated(unsafe) private var readerTokens = [UInt64](repeating: 0, count: 64)

    /// Waits until `deadline` for writers and queues what they publish: first a bounded spin on the rings,
    /// then epoll. Returns at once when another reader is already doing it (the caller then sleeps on the
    /// queue's futex). Messages queued by other processes holding the handle are noticed within a 10 ms
    /// slice; with no other holder the reader sleeps until something happens or the deadline.
    package func readerWait(seen: UInt32, until deadline: Deadline) {
        readersWaiting.wrappingAdd(1, ordering: .sequentiallyConsistent)
        let started = Sys.monotonicNanoseconds()
        var watched = false
        defer {
            if watched { watcher.store(.nobody, ordering: .sequentiallyConsistent) }
            // Count this reader out before anyone is woken, so that the I/O thread sees nobody waiting.
            let left = readersWaiting.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
            if left > 0 {
                if watched { queue.wakeReaders() } // another reader takes over watching
            } else if Sys.monotonicNanoseconds() - started > 1_000_000 {
                // After a long wait, hand the writers back to the I/O thread at once. After a short one, as
                // in a busy exchange, the reader is likely to wait again soon: the I/O thread looks by itself
                // within 20 ms (see ``run()``), which saves two wake-ups per message.
                unpark()
            } else {
                lastShortWait.store(Sys.monotonicNanoseconds(), ordering: .sequentiallyConsistent)
                // An I/O thread that parked for long (no reader had come and gone lately) must not stay
                // parked now that nobody watches the writers.
                if ioThreadParkedLong.load(ordering: .sequentiallyConsistent) { unpark() }
            }
        }
        // Take the watcher role from nobody or from the I/O thread (which is then told to leave epoll).
        var current = watcher.load(ordering: .sequentiallyConsistent)
        while current != .reader {
            let (exchanged, found) = watcher.compareExchange(expected: current, desired: .reader, ordering: .sequentiallyConsistent)
            if exchanged { break }
            current = found
        }
        guard current != .reader else {
            queue.wait(seen: seen, until: deadline) // another reader watches
            return
        }
        watched = true
        if current == .ioThread { Sys.signalEventFD(wakeFD) }
        guard !closed.load(ordering: .sequentiallyConsistent), queue.sequence == seen else { return }
        // The bounded spin: a writer that answers within it costs no system call on either side. Each turn
        // yields the CPU, so a writer that shares it still runs.
        let spin = deadline.capped(atNanoseconds: Int64(Self.spinNanoseconds))
        while !spin.passed {
            if closed.load(ordering: .relaxed) || queue.sequence != seen { return }
            if state.withLock({ state in drain(&state) }) > 0 { return }
            Sys.yield()
        }
        if queue.sequence != seen { return }
        // Everything a reader waits for wakes epoll (writers, close, cancellation, async reads), so with no
        // other holder of the handle it sleeps until then or its deadline; messages another holder queues
        // are noticed within a 10 ms slice.
        let wait = queue.holders > 1 ? deadline.capped(atNanoseconds: 10_000_000) : deadline
        pollOnce(&readerTokens, timeoutMilliseconds: wait.epollMilliseconds, byReader: true)
    }

    /// Tests only: microseconds the I/O thread pauses between its epoll wait and the rest of its turn, as
    /// a thread preempted there on a busy machine does.
    package let ioTurnPauseForTesting = Atomic<UInt32>(0)

    /// Set while writers' messages wait for room in the queue.
    private let queueFullHint = Atomic<Bool>(false)

    /// A reader took a message: if writers wait for room, the thread that waits on them moves their
    /// messages in now (once per full spell).
    package func roomMade() {
        if queueFullHint.load(ordering: .relaxed), queueFullHint.exchange(false, ordering: .relaxed) { Sys.signalEventFD(wakeFD) }
    }

    /// Wakes a reader that waits in epoll (after a cancellation, for example).
    package func kickReaders() {
        if watcher.load(ordering: .acquiring) == .reader { Sys.signalEventFD(wakeFD) }
    }

    /// Asks every writer to ring the doorbell with its next message; true when one has already published
    /// something (then there is no sleeping to do).
    private func arm(_ state: inout State) -> Bool {
        for connection in state.connections.values where !connection.hungUp { connection.ring.arm() }
        state.armed = true
        Sys.fence()
        return state.connections.values.contains { $0.ring.hasData && $0.violation == nil }
    }

    private func disarm(_ state: inout State) {
        guard state.armed else { return }
        for connection in state.connections.values { connection.ring.disarm() }
        state.armed = false
    }

    /// One turn of waiting for writers and queueing what they published, by the I/O thread or a waiting reader.
    ///
    /// `deferring`: a reader is busy taking messages and drains the rings itself whenever the queue runs
    /// empty, so this turn only accepts writers and notices hang-ups, unless a ring is more than half full
    /// (then it drains as usual, so that the quota, not a ring, is what fills). Two threads moving
    /// messages into one queue would only fight over its lock.
    private func pollOnce(_ tokens: inout [UInt64], timeoutMilliseconds: Int32, byReader: Bool, deferring: Bool = false) {
        let waitMs = state.withLock { state -> Int32 in
            if deferring { return Self.capped(timeoutMilliseconds, 1) }
            // A full queue gets room when a reader takes a message: in this process the reader says so
            // (``roomMade()``); another holder's reads are noticed within 10 ms.
            var wait = state.queueFull && queue.holders > 1 ? Self.capped(timeoutMilliseconds, 10) : timeoutMilliseconds
            if state.acceptPausedUntil != 0 {
                let now = Sys.monotonicNanoseconds()
                if now >= state.acceptPausedUntil {
                    state.acceptPausedUntil = 0
                    try? Sys.epollModify(epollFD, listenFD, events: Sys.epollIn, token: Self.listenToken)
                } else {
                    wait = Self.capped(wait, Int32((state.acceptPausedUntil - now + 999_999) / 1_000_000))
                }
            }
            // Published messages are a reason not to sleep, unless they wait for room in a full queue.
            if wait != 0, arm(&state), !state.queueFull { wait = 0 }
            return wait
        }
        let n = (try? Sys.epollWait(epollFD, tokens: &tokens, timeoutMilliseconds: waitMs)) ?? 0
        if !byReader, case let pause = ioTurnPauseForTesting.load(ordering: .relaxed), pause > 0 { Sys.sleep(microseconds: pause) }
        if isClosed { return }
        state.withLock { state in
            disarm(&state)
            for token in tokens[0..<n] {
                switch token {
                case Self.stopToken: return
                case Self.listenToken: acceptAll(&state)
                case Self.wakeToken: Sys.drainEventFD(wakeFD)
                default:
                    if let connection = state.connections[token - Self.connectionTokenBase] { service(connection) }
                }
            }
            if deferring, !state.connections.values.contains(where: { $0.ring.tail &- $0.ring.head > UInt64(RingLayout.capacity / 2) }) {
                return
            }
            drain(&state)
            reap(&state)
        }
        // A reader waiting in epoll does not see the queue's futex: the I/O thread tells it. A reader that
        // took the watching over during this turn is told in any case: it may have armed the rings before
        // this turn disarmed them, or had its doorbell read (and not drained) here, and would otherwise
        // sleep to its deadline with messages waiting.
        if !byReader, watcher.load(ordering: .sequentiallyConsistent) == .reader { Sys.signalEventFD(wakeFD) }
    }

    private func run() {
        // Hold the liveness page for as long as this engine lives (writers read it to learn that the
        // server has gone, without a system call); let the constructor go on once it is held.
        let holding = (try? liveness.hold()) != nil
        Sys.atomicStore(startedWord, 1)
        Sys.futexWakeAll(startedWord)
        if !holding { logger.debug("mailslot liveness page could not be held; writers will notice a closed server only by its connection") }
        var tokens = [UInt64](repeating: 0, count: 64)
        while !isClosed {
            let ticket = Sys.atomicLoad(parkWord)
            serveAsyncReads()
            guard readersWaiting.load(ordering: .acquiring) == 0,
                  watcher.compareExchange(expected: .nobody, desired: .ioThread, ordering: .sequentiallyConsistent).exchanged else {
                // A reader waits on the writers itself: park until it lets go (``unpark()``). While readers
                // come and go quickly, look again every 20 ms, since they do not unpark after a short wait.
                // Readers came and went within the last 100 ms.
                func hot() -> Bool { Sys.monotonicNanoseconds() &- lastShortWait.load(ordering: .sequentiallyConsistent) < 100_000_000 }
                let wasHot = hot()
                let park = min(wasHot ? 20 : 5_000, Int64(asyncReadWaitMilliseconds()))
                ioThreadParkedLong.store(!wasHot, ordering: .sequentiallyConsistent)
                // A reader that left a short wait after `wasHot` was decided sees the flag, or is seen here.
                if wasHot || !hot() {
                    Sys.futexWait(parkWord, expected: ticket, timeoutNanoseconds: park * 1_000_000)
                }
                ioThreadParkedLong.store(false, ordering: .sequentiallyConsistent)
                continue
            }
            let activity = readActivity.load(ordering: .relaxed)
            let deferring = activity != lastReadActivity
            lastReadActivity = activity
            pollOnce(&tokens, timeoutMilliseconds: asyncReadWaitMilliseconds(), byReader: false, deferring: deferring)
            _ = watcher.compareExchange(expected: .ioThread, desired: .nobody, ordering: .sequentiallyConsistent)
        }
        if holding { liveness.release() }
    }

    private func acceptAll(_ state: inout State) {
        while true {
            let accepted: FD?
            do throws(Errno) {
                accepted = try Sys.accept(listenFD)
            } catch {
                // Out of descriptors (EMFILE, ENFILE) or memory: the listening socket stays readable, so stop
                // watching it for a moment instead of spinning; writers wait in the backlog meanwhile.
                state.acceptPausedUntil = Sys.monotonicNanoseconds() + Self.acceptPauseNanoseconds
                try? Sys.epollModify(epollFD, listenFD, events: 0, token: Self.listenToken)
                state.counters.acceptFailures += 1
                logger.debug("mailslot could not accept a writer; pausing", metadata: ["path": "\(queue.path)", "error": "\(error)"])
                return
            }
            guard let fd = accepted else { return }
            let credentials: Sys.PeerCredentials
            do throws(Errno) {
                credentials = try Sys.peerCredentials(fd)
            } catch {
                Sys.close(fd)
                continue
            }
            // The network gateway's service user may write only where the mailslot opted in to the network.
            let permitted = queue.access.permits(uid: credentials.uid, groups: credentials.groups, ownerUID: queue.ownerUID)
                || (queue.allowsNetwork && credentials.uid == LocalServerEngine.gatewayUID)
            if Sys.peerAbstractName(fd)?.starts(with: LocalProtocol.queryPrefix) == true {
                answerQuery(fd, permitted: permitted, &state)
                continue
            }
            guard permitted else {
                state.counters.writersRefused += 1
                logger.debug("mailslot writer refused by the access rule",
                             metadata: ["path": "\(queue.path)", "writer_pid": "\(credentials.pid)", "writer_uid": "\(credentials.uid)"])
                _ = try? Sys.send(fd, greeting(.accessDenied))
                Sys.close(fd)
                continue
            }
            guard state.connections.count < Self.maxConnections else {
                state.counters.writersOverLimit += 1
                logger.debug("mailslot writer refused: too many writers", metadata: ["path": "\(queue.path)", "writer_pid": "\(credentials.pid)"])
                _ = try? Sys.send(fd, greeting(.tooManyWriters))
                Sys.close(fd)
                continue
            }
            let ring: ServerRing
            do throws(Errno) {
                ring = try ServerRing()
            } catch {
                state.counters.acceptFailures += 1
                logger.debug("mailslot writer refused: no ring", metadata: ["path": "\(queue.path)", "error": "\(error)"])
                _ = try? Sys.send(fd, greeting(.serverOutOfResources))
                Sys.close(fd)
                continue
            }
            let id = state.nextID
            state.nextID += 1
            do throws(Errno) {
                try Sys.sendDescriptors(fd, greeting(.ok), [ring.fd, liveness.fd])
                try Sys.epollAdd(epollFD, fd, events: Sys.epollIn, token: Self.connectionTokenBase + id)
            } catch {
                Sys.close(fd)
                continue
            }
            ring.closeDescriptor()
            let connection = Connection(id: id, fd: fd, pid: credentials.pid, uid: credentials.uid, ring: ring)
            if state.armed { ring.arm() }
            state.connections[id] = connection
            state.counters.writersAccepted += 1
            logger.trace("mailslot writer connected", metadata: ["path": "\(queue.path)", "writer_pid": "\(credentials.pid)"])
        }
    }

    /// Answers a state query (GetMailslotInfo on a client handle): takes every message writers have
    /// published so far, then sends one greeting with the queue's state and closes the connection. A
    /// client the access rule refuses learns nothing about the queue.
    private func answerQuery(_ fd: FD, permitted: Bool, _ state: inout State) {
        var queueState: LocalGreeting.QueueState?
        if permitted {
            let s = exactSnapshot(&state)
            queueState = .init(messageCount: UInt32(clamping: s.count), nextMessageSize: s.nextSize.map { UInt32(clamping: $0) },
                               readTimeout: s.readTimeout, queuedBytes: UInt64(s.usedBytes))
        }
        _ = try? Sys.send(fd, greeting(permitted ? .ok : .accessDenied, state: queueState))
        Sys.close(fd)
    }

    /// The uid of the `mailslot` system user, as which mailslotd's unit runs (nil: there is none).
    static let gatewayUID: UInt32? = Sys.user(named: "mailslot")?.uid

    /// The greeting this mailslot sends (with the queue's state in the answer to a query).
    private func greeting(_ status: LocalGreeting.Status, state: LocalGreeting.QueueState? = nil) -> [UInt8] {
        LocalGreeting(status: status, maxMessageSize: queue.maxMessageSize,
                      quota: UInt64(queue.capacity), serverPID: Sys.pid, ownerUID: queue.ownerUID,
                      access: queue.access, path: queue.path, state: state, allowsNetwork: queue.allowsNetwork,
                      createdNanoseconds: queue.createdNanoseconds).encoded()
    }

    /// The largest message the server accepts from a writer.
    var effectiveMessageLimit: Int {
        MailslotLimits.largestAccepted(maxMessageSize: queue.maxMessageSize, quota: queue.capacity)
    }

    // MARK: reading
    //
    // The one place that says how a read goes. Synchronous reads: take a message if one waits; else move
    // what writers have published into the queue and take again; else wait (``readerWait(seen:until:)``:
    // a bounded spin, then epoll, or the queue's futex while another reader watches) until the queue
    // changes, the deadline passes, the mailslot closes or the read is cancelled; at the deadline, one
    // last look. Asynchronous reads wait in a FIFO that the I/O thread serves: no thread is parked per read,
    // and cancelling removes the waiter.

    /// How a read ended.
    package enum ReadEnd<Value> {
        case value(Value)
        /// The deadline passed with no message.
        case timedOut
        /// The mailslot was closed in this process while the read waited.
        case closed
        /// The read was cancelled (``CancelFlag``).
        case cancelled
    }

    /// Reads one message with `take` (which pops from the queue: a value, nil when empty, or an error
    /// such as ERROR_INSUFFICIENT_BUFFER), waiting as described above for at most `timeout`.
    package func receive<Value>(timeout: MailslotTimeout, cancellation: CancelFlag?,
                                take: () throws(MailslotError) -> Value?) throws(MailslotError) -> ReadEnd<Value> {
        readActivity.wrappingAdd(1, ordering: .relaxed)
        let deadline = Deadline(after: timeout)
        while true {
            let seen = queue.sequence
            if let value = try take() { tookMessage(); return .value(value) }
            if isClosed { return .closed }
            if cancellation?.isSet == true { return .cancelled }
            // A short drain (one round, and one more for what the watermark held): the reader takes these
            // before it drains again, so the queue empties and starts over at the front of its memory
            // instead of marching through (and faulting in) all of it while writers keep the rings full.
            if drainNow(rounds: 2) > 0 { continue }
            if deadline.passed {
                // Before timing out, take what writers have already published, so that a message whose
                // write has returned is always seen.
                drainNow()
                if let value = try take() { tookMessage(); return .value(value) }
                return .timedOut
            }
            readerWait(seen: seen, until: deadline)
        }
    }

    /// Ends a synchronous read waiting with `cancellation` (a message it had not taken stays queued).
    package func cancel(_ cancellation: CancelFlag) {
        cancellation.set()
        queue.wakeReaders()
        kickReaders()
    }

    /// After every message taken: room for writers whose messages wait, and the readiness descriptor.
    package func tookMessage() {
        roomMade()
        if queue.readyDescriptorWanted { updateReady() }
    }

    /// One asynchronous read waiting for a message.
    private final class AsyncRead: @unchecked Sendable {
        let id: UInt64
        let maxLength: Int
        let deadline: Deadline
        let continuation: CheckedContinuation<Result<[UInt8], MailslotError>, Never>
        init(id: UInt64, maxLength: Int, deadline: Deadline, continuation: CheckedContinuation<Result<[UInt8], MailslotError>, Never>) {
            self.id = id
            self.maxLength = maxLength
            self.deadline = deadline
            self.continuation = continuation
        }
    }

    private struct AsyncReads {
        var waiting: [AsyncRead] = []
        var nextID: UInt64 = 0
        /// Reads cancelled before they were registered.
        var cancelledEarly: Set<UInt64> = []
        var ended = false
    }

    private let asyncReads = Locked(AsyncReads())

    /// Reads one message without holding a thread: the read waits in a FIFO that the I/O thread serves.
    /// Cancelling the task ends it with ERROR_OPERATION_ABORTED (the message it had not taken stays).
    package func receive(maxLength: Int, timeout: MailslotTimeout) async -> Result<[UInt8], MailslotError> {
        if let result = takeMessage(maxLength: maxLength) {
            if case .success = result { tookMessage() }
            return result
        }
        let id = asyncReads.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let deadline = Deadline(after: timeout)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let read = AsyncRead(id: id, maxLength: maxLength, deadline: deadline, continuation: continuation)
                let refused: MailslotError? = asyncReads.withLock { state in
                    if state.cancelledEarly.remove(id) != nil { return MailslotError(.operationAborted, "the read was cancelled") }
                    if state.ended { return closedWhileWaiting() }
                    state.waiting.append(read)
                    return nil
                }
                if let refused { continuation.resume(returning: .failure(refused)); return }
                Sys.signalEventFD(wakeFD) // the I/O thread takes it from here
                unpark()
            }
        } onCancel: {
            let read = asyncReads.withLock { state -> AsyncRead? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else {
                    state.cancelledEarly.insert(id)
                    return nil
                }
                return state.waiting.remove(at: index)
            }
            read?.continuation.resume(returning: .failure(MailslotError(.operationAborted, "the read was cancelled")))
        }
    }

    /// Gives waiting asynchronous reads their messages, oldest read first, and ends those whose deadline
    /// passed. Runs on the I/O thread.
    private func serveAsyncReads() {
        var done: [(AsyncRead, Result<[UInt8], MailslotError>)] = []
        asyncReads.withLock { state in
            guard !state.waiting.isEmpty else { return }
            drainNow()
            while let first = state.waiting.first, let result = takeMessage(maxLength: first.maxLength) {
                done.append((first, result))
                state.waiting.removeFirst()
            }
            state.waiting.removeAll { read in
                guard read.deadline.passed else { return false }
                done.append((read, .failure(MailslotError(.semTimeout, "no message arrived in \\\\.\\mailslot\\\(queue.path) within the read timeout"))))
                return true
            }
        }
        for (read, result) in done {
            if case .success = result { tookMessage() }
            read.continuation.resume(returning: result)
        }
    }

    /// How long the I/O thread may sleep: 5 s (everything it waits for wakes it), or until the nearest
    /// asynchronous read's deadline.
    private func asyncReadWaitMilliseconds() -> Int32 {
        asyncReads.withLock { state in
            var wait: UInt32 = 5_000
            for read in state.waiting { wait = min(wait, read.deadline.remainingMilliseconds) }
            // Messages another holder of the handle queues are noticed within 10 ms.
            if !state.waiting.isEmpty, queue.holders > 1 { wait = min(wait, 10) }
            return Int32(wait)
        }
    }

    /// The mailslot closed: every waiting asynchronous read ends with ERROR_OPERATION_ABORTED.
    private func endAsyncReads() {
        let reads = asyncReads.withLock { state -> [AsyncRead] in
            state.ended = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for read in reads { read.continuation.resume(returning: .failure(closedWhileWaiting())) }
    }

    private func closedWhileWaiting() -> MailslotError {
        MailslotError(.operationAborted, "the mailslot \\\\.\\mailslot\\\(queue.path) was closed while a read was waiting")
    }

    /// Takes the oldest message if it is at most `maxLength` bytes (a larger one stays queued and gives
    /// ERROR_INSUFFICIENT_BUFFER); nil when the queue is empty.
    package func takeMessage(maxLength: Int) -> Result<[UInt8], MailslotError>? {
        switch queue.popArray(limit: maxLength) {
        case (.message, let bytes): return .success(bytes)
        case (.tooSmall(let size), _): return .failure(tooSmall(size, maxLength))
        case (.empty, _): return nil
        }
    }

    package func tooSmall(_ size: Int, _ capacity: Int) -> MailslotError {
        MailslotError(.insufficientBuffer, "the next message is \(size) bytes but the buffer holds \(capacity); the message stays queued, read it with a larger buffer")
    }

    // MARK: readiness descriptor

    /// Turns on the readable-while-a-message-waits descriptor (for every holder of the handle).
    package func enableReadyDescriptor() {
        queue.readyDescriptorWanted = true
        updateReady()
    }

    func signalReady() {
        if queue.readyDescriptorWanted { updateReady() }
    }

    /// Makes `readyFD` readable exactly when the queue is not empty (under the queue lock).
    package func updateReady() {
        queue.withCount { count in
            if count > 0 { Sys.signalEventFD(readyFD) } else { Sys.drainEventFD(readyFD) }
        }
    }
}

/// Set when the task or thread waiting for a read is cancelled.
package final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    package init() {}
    package func set() { flag.store(true, ordering: .releasing) }
    package var isSet: Bool { flag.load(ordering: .acquiring) }
}
