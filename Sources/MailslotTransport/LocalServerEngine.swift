import Logging
import MailslotCore
import Synchronization

/// The server side of a local mailslot in one process: the listening socket that holds the name, the
/// shared queue, and an I/O thread that accepts writers, checks their credentials and drains their
/// connections into the queue as fast as messages arrive.
///
/// Several processes may hold the same mailslot (a handle inherited across fork/exec or sent over a
/// Unix socket): each runs its own engine over the same listening socket and the same queue.
public final class LocalServerEngine: @unchecked Sendable {
    public let queue: SharedQueue
    public let listenFD: FD
    /// Readable while a message waits (maintained only once someone asks for it).
    public let readyFD: FD
    let epollFD: FD
    let stopFD: FD
    let logger: Logger
    private let state: Locked<State>
    private let closed = Atomic<Bool>(false)
    private var thread: ThreadHandle?

    /// Counters for this process's engine.
    public struct Counters: Sendable, Equatable {
        public var writersAccepted = 0
        public var writersRefused = 0
        public var messagesReceived = 0
        public var protocolViolations = 0
    }

    private final class Connection {
        let fd: FD
        let pid: Int32
        let uid: UInt32
        var partial: [UInt8]? = nil
        var pending: [[UInt8]] = []
        var reading = true
        init(fd: FD, pid: Int32, uid: UInt32) {
            self.fd = fd
            self.pid = pid
            self.uid = uid
        }
    }

    private struct State {
        var connections: [FD: Connection] = [:]
        var blocked: Set<FD> = []
        var counters = Counters()
        var scratch = BatchBuffers()
        /// Messages read from writers that may not go into the queue yet: another writer could still
        /// have an older one unread (see ``drainRound(_:watermark:_:)``). Oldest first.
        var held: [Taken] = []
        var nextOrder: UInt64 = 0
    }

    /// One message read from a writer while several write: its kernel timestamp and arrival order.
    private struct Taken {
        var stamp: Int64
        var order: UInt64
        var connection: Connection
        var bytes: [UInt8]
    }

    static let listenToken: UInt64 = 0
    static let stopToken: UInt64 = 1
    static let wakeToken: UInt64 = 2
    /// Wakes the I/O thread to queue held messages.
    let wakeFD: FD
    static let connectionTokenBase: UInt64 = 16

    // MARK: life cycle

    /// Creates a new mailslot: binds its name and creates its queue.
    public static func create(name: MailslotName, maxMessageSize: UInt32, readTimeout: MailslotTimeout,
                              access: WriterAccess, allowNetwork: Bool = false, quota: Int, logger: Logger) throws(MailslotError) -> LocalServerEngine {
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
            if error.code == Errno.addressInUse {
                throw MailslotError(.alreadyExists, "a mailslot named \(name) already exists on this machine (names are case-insensitive); choose another name or close the other server first")
            }
            throw MailslotError.system("could not publish the mailslot's name", error)
        }
        let queue: SharedQueue
        let readyFD: FD
        do throws(Errno) {
            queue = try SharedQueue(quota: quota, maxMessageSize: maxMessageSize, readTimeout: readTimeout.rawValue,
                                    ownerUID: Sys.euid, access: access, allowNetwork: allowNetwork, path: name.path)
            readyFD = try Sys.eventFD()
        } catch {
            Sys.close(listenFD)
            if error.code == 12 /* ENOMEM */ || error.code == 28 /* ENOSPC */ {
                throw MailslotError(.notEnoughMemory, "could not reserve \(quota) bytes for the mailslot's queue; use a smaller quota", cause: error.cause)
            }
            throw MailslotError.system("could not create the mailslot's queue", error)
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
    public static func adopt(listenFD: FD, queueFD: FD, readyFD: FD, logger: Logger) throws(MailslotError) -> LocalServerEngine {
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
        logger.debug("mailslot server started", metadata: ["path": "\(queue.path)", "pid": "\(Sys.pid)"])
    }

    public var isClosed: Bool { closed.load(ordering: .acquiring) }

    /// Stops the I/O thread and closes this process's descriptors. The name is freed at once unless
    /// another process still holds the handle. Queued messages go with the last holder.
    public func close() {
        // Sequentially consistent with readerWait's claim of readerPolling: either the reader sees the close,
        // or this sees the reader and waits for it to leave epoll before the descriptors close.
        guard !closed.exchange(true, ordering: .sequentiallyConsistent) else { return }
        Sys.signalEventFD(stopFD)
        if let thread, !Sys.isCurrentThread(thread) { Sys.join(thread) }
        // A reader polling in epoll wakes on the stop signal and lets go before the descriptors close.
        while readerPolling.load(ordering: .sequentiallyConsistent) { Sys.futexWait(parkWord, expected: 0, timeoutNanoseconds: 1_000_000) }
        state.withLock { state in
            // What writers have already sent belongs to the mailslot: move it into the queue before this
            // process lets go, so that other holders of the handle still get it.
            retryBlocked(&state)
            _ = drainRound(Array(state.connections.values), watermark: Int64.max, &state)
            for (fd, connection) in state.connections {
                if !connection.pending.isEmpty {
                    logger.debug("mailslot closed with messages its quota could not take",
                                 metadata: ["path": "\(queue.path)", "messages": "\(connection.pending.count)"])
                }
                Sys.close(fd)
            }
            state.connections.removeAll()
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
    }

    public var counters: Counters { state.withLock { $0.counters } }

    /// Descriptors that make up the handle, for passing to another process.
    public var handleDescriptors: [FD] { [listenFD, queue.fd, readyFD] }

    // MARK: draining

    /// Takes every message already sent by an open writer into the queue, from the calling thread.
    /// Info and reads call this so that a message whose write has returned is always seen.
    @discardableResult
    public func drainNow() -> Int {
        guard !isClosed else { return 0 }
        // Every writer is read after this instant, so every message sent before it is taken now.
        let watermark = Int64(bitPattern: Sys.realtimeNanoseconds())
        return state.withLock { state in
            let moved = drainRound(Array(state.connections.values), watermark: watermark, &state)
            if !state.held.isEmpty { Sys.signalEventFD(wakeFD) } // the I/O thread queues them in a moment
            return moved
        }
    }

    // MARK: who waits on the writers' connections
    //
    // Normally the I/O thread waits in epoll for writers and queues what they send. While a reader is
    // waiting for a message, that reader waits in epoll itself and queues the message it then reads, so
    // a message costs one wake-up (writer to reader) instead of two (writer to I/O thread to reader);
    // the I/O thread parks meanwhile.

    private let readersWaiting = Atomic<Int>(0)
    /// A reader is inside ``pollOnce``.
    private let readerPolling = Atomic<Bool>(false)
    /// The I/O thread is inside epoll_wait.
    private let ioThreadPolling = Atomic<Bool>(false)
    private let parkWord = UnsafeMutablePointer<UInt32>.allocate(capacity: 1)
    /// The event buffer of the reader that polls; only the holder of ``readerPolling`` touches it.
    nonisolated(unsafe) private var readerTokens = [UInt64](repeating: 0, count: 64)

    /// Waits up to `timeoutNanoseconds` (<0: forever) for writers and queues what they send, as the I/O
    /// thread would, in slices. Returns at once when another reader is already doing it (the caller then
    /// sleeps on the queue's futex). Messages queued by other processes holding the handle are noticed
    /// within a 10 ms slice; with no other holder, a slice is a second (an idle reader wakes once a second).
    public func readerWait(seen: UInt32, timeoutNanoseconds: Int64) {
        readersWaiting.wrappingAdd(1, ordering: .acquiringAndReleasing)
        defer { readersWaiting.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
        guard readerPolling.compareExchange(expected: false, desired: true, ordering: .sequentiallyConsistent).exchanged else {
            queue.wait(seen: seen, timeoutNanoseconds: timeoutNanoseconds)
            return
        }
        let started = Sys.monotonicNanoseconds()
        defer {
            readerPolling.store(false, ordering: .releasing)
            if readersWaiting.load(ordering: .acquiring) > 1 {
                queue.wakeReaders() // another reader may take over
            } else if Sys.monotonicNanoseconds() - started > 1_000_000 {
                // After a long wait, hand the writers back to the I/O thread at once (after a short one, as
                // in a busy exchange, the reader is likely to wait again soon; the I/O thread looks by itself).
                Sys.futexWakeAll(parkWord)
            }
        }
        guard !closed.load(ordering: .sequentiallyConsistent), queue.sequence == seen else { return }
        // Move the I/O thread out of epoll (it parks while readers wait), so that the writer wakes us.
        if ioThreadPolling.load(ordering: .acquiring) { Sys.signalEventFD(wakeFD) }
        let slice: Int64 = queue.holders > 1 ? 10_000_000 : 1_000_000_000
        let wait = timeoutNanoseconds < 0 ? slice : min(timeoutNanoseconds, slice)
        pollOnce(&readerTokens, timeoutMilliseconds: Int32((wait + 999_999) / 1_000_000), byReader: true)
    }

    /// Wakes a reader that waits in epoll (after a cancellation, for example).
    public func kickReaders() {
        if readerPolling.load(ordering: .acquiring) { Sys.signalEventFD(wakeFD) }
    }

    /// One turn of waiting for writers and queueing what they sent, by the I/O thread or a waiting reader.
    private func pollOnce(_ tokens: inout [UInt64], timeoutMilliseconds: Int32, byReader: Bool) {
        // A writer that epoll does not report as readable had nothing unread at some instant after this
        // one, so any message it sends later is stamped later: messages stamped before it are all taken.
        let watermark = Int64(bitPattern: Sys.realtimeNanoseconds())
        let waitMs = state.withLock { !$0.held.isEmpty ? 0 : $0.blocked.isEmpty ? timeoutMilliseconds : min(timeoutMilliseconds, 2) }
        let n = (try? Sys.epollWait(epollFD, tokens: &tokens, timeoutMilliseconds: waitMs)) ?? 0
        if isClosed { return }
        let pushed = state.withLock { state -> Int in
            var ready: [Connection] = []
            for token in tokens[0..<n] {
                switch token {
                case Self.stopToken: return 0
                case Self.listenToken: acceptAll(&state)
                case Self.wakeToken: Sys.drainEventFD(wakeFD)
                default:
                    let fd = FD(truncatingIfNeeded: token - Self.connectionTokenBase)
                    if let connection = state.connections[fd] { ready.append(connection) }
                }
            }
            // With as many events as fit, others may be waiting unreported: take every connection, so that
            // messages of different writers still go into the queue in the order they were written.
            if n == tokens.count { ready = Array(state.connections.values) }
            var pushed = 0
            if !state.blocked.isEmpty { pushed += retryBlocked(&state) }
            if !ready.isEmpty || !state.held.isEmpty { pushed += drainRound(ready, watermark: watermark, &state) }
            return pushed
        }
        // A reader waiting in epoll does not see the queue's futex: the I/O thread tells it.
        if pushed > 0, !byReader, readerPolling.load(ordering: .acquiring) { Sys.signalEventFD(wakeFD) }
    }

    private func run() {
        var tokens = [UInt64](repeating: 0, count: 64)
        while !isClosed {
            if readersWaiting.load(ordering: .acquiring) > 0 {
                // A reader waits on the writers itself; look again in a moment (or when it says so).
                Sys.futexWait(parkWord, expected: 0, timeoutNanoseconds: 20_000_000)
                continue
            }
            ioThreadPolling.store(true, ordering: .releasing)
            pollOnce(&tokens, timeoutMilliseconds: 1_000, byReader: false)
            ioThreadPolling.store(false, ordering: .releasing)
        }
    }

    private func acceptAll(_ state: inout State) {
        while let fd = try? Sys.accept(listenFD) {
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
            let greeting = greeting(permitted: permitted)
            // Stamp every record the writer sends (it sends only after this greeting), for ordering across writers.
            let stamped = (try? Sys.enableTimestamps(fd)) != nil
            let sent = stamped && ((try? Sys.send(fd, greeting)) ?? false)
            guard permitted, sent else {
                if !permitted {
                    state.counters.writersRefused += 1
                    logger.debug("mailslot writer refused by the access rule",
                                 metadata: ["path": "\(queue.path)", "writer_pid": "\(credentials.pid)", "writer_uid": "\(credentials.uid)"])
                }
                Sys.close(fd)
                continue
            }
            do throws(Errno) {
                try Sys.epollAdd(epollFD, fd, events: Sys.epollIn, token: Self.connectionTokenBase + UInt64(UInt32(bitPattern: fd)))
            } catch {
                Sys.close(fd)
                continue
            }
            state.connections[fd] = Connection(fd: fd, pid: credentials.pid, uid: credentials.uid)
            state.counters.writersAccepted += 1
            logger.trace("mailslot writer connected", metadata: ["path": "\(queue.path)", "writer_pid": "\(credentials.pid)"])
        }
    }

    private func drop(_ connection: Connection, _ state: inout State, violation: String?) {
        if let violation {
            state.counters.protocolViolations += 1
            logger.debug("mailslot writer dropped: \(violation)", metadata: ["path": "\(queue.path)", "writer_pid": "\(connection.pid)"])
        }
        Sys.epollRemove(epollFD, connection.fd)
        Sys.close(connection.fd)
        state.connections[connection.fd] = nil
        state.blocked.remove(connection.fd)
    }

    /// Reads what writers have sent and queues it. Returns how many messages were queued.
    ///
    /// With one writer the messages go from the receive buffers straight into the queue. With several,
    /// each message is stamped by the kernel when it is sent; the messages read are queued in stamp order,
    /// but only those stamped before `watermark`, an instant after which every writer has been read or
    /// seen empty: an older message cannot still be unread anywhere. Later ones are held for the next
    /// round (the I/O thread's next turn, a few microseconds later). So one FIFO holds every writer's
    /// messages in write order: a write that returned before another began is read before it.
    /// Answers a state query (GetMailslotInfo on a client handle): takes every message writers have sent so
    /// far, then sends one greeting with the queue's state and closes the connection. A client the access
    /// rule refuses learns nothing about the queue.
    /// The uid of the `mailslot` system user, as which mailslotd's unit runs (nil: there is none).
    static let gatewayUID: UInt32? = Sys.user(named: "mailslot")?.uid

    private func answerQuery(_ fd: FD, permitted: Bool, _ state: inout State) {
        var queueState: LocalGreeting.QueueState?
        if permitted {
            _ = drainRound(Array(state.connections.values), watermark: Int64(bitPattern: Sys.realtimeNanoseconds()), &state)
            let s = queue.snapshot()
            queueState = .init(messageCount: UInt32(clamping: s.count), nextMessageSize: s.nextSize.map { UInt32(clamping: $0) },
                               readTimeout: s.readTimeout, queuedBytes: UInt64(s.usedBytes))
        }
        _ = try? Sys.send(fd, greeting(permitted: permitted, state: queueState))
        Sys.close(fd)
    }

    /// The greeting this mailslot sends (with the queue's state in the answer to a query).
    private func greeting(permitted: Bool, state: LocalGreeting.QueueState? = nil) -> [UInt8] {
        LocalGreeting(status: permitted ? .ok : .accessDenied, maxMessageSize: queue.maxMessageSize,
                      quota: UInt64(queue.capacity), serverPID: Sys.pid, ownerUID: queue.ownerUID,
                      access: queue.access, path: queue.path, state: state, allowsNetwork: queue.allowsNetwork).encoded()
    }

    private func drainRound(_ connections: [Connection], watermark: Int64, _ state: inout State) -> Int {
        let readable = connections.filter(\.reading)
        if readable.count == 1, state.connections.count == 1, state.held.isEmpty {
            return service(readable[0], &state, merging: nil)
        }
        // Held messages and new ones go into one arena, so that the queue takes them in one batch.
        var arena: [UInt8] = []
        var items: [(stamp: Int64, order: UInt64, connection: Connection, offset: Int, count: Int)] = []
        for held in state.held {
            items.append((held.stamp, held.order, held.connection, arena.count, held.bytes.count))
            arena.append(contentsOf: held.bytes)
        }
        state.held = []
        var order = state.nextOrder
        for connection in readable {
            _ = service(connection, &state, merging: { stamp, body in
                items.append((stamp, order, connection, arena.count, body.count))
                arena.append(contentsOf: body)
                order &+= 1
            })
        }
        state.nextOrder = order
        guard !items.isEmpty else { return 0 }
        items.sort { ($0.stamp, $0.order) < ($1.stamp, $1.order) }
        // Queue what is older than the watermark (a stamp far ahead of it means the clock was set back:
        // hold nothing for that), and only from writers that are not paused by the quota.
        let skew: Int64 = 1_000_000_000
        func holds(_ stamp: Int64) -> Bool { stamp >= watermark && stamp < watermark &+ skew }
        var ready = 0
        while ready < items.count, !holds(items[ready].stamp), items[ready].connection.reading { ready += 1 }
        let pushed = arena.withUnsafeBytes { base in
            let pointers = items[0..<ready].map { UnsafeRawBufferPointer(rebasing: base[$0.offset..<$0.offset + $0.count]) }
            return pointers.withUnsafeBufferPointer { queue.push($0) }
        }
        if pushed == ready, ready < items.count, holds(items[ready].stamp) {
            state.held = items[ready...].map {
                Taken(stamp: $0.stamp, order: $0.order, connection: $0.connection, bytes: Array(arena[$0.offset..<$0.offset + $0.count]))
            }
        } else {
            // The quota is full (or the writer is paused): what is left stays with its writer, in order,
            // and that writer is not read again until there is room.
            for item in items[pushed...] { block(item.connection, &state, with: [Array(arena[item.offset..<item.offset + item.count])]) }
        }
        state.counters.messagesReceived += pushed
        if pushed > 0 { signalReady() }
        return pushed
    }

    /// Reads what one writer has sent. Without `merging`, messages go straight into the queue (returns how
    /// many); with it, each complete message is handed to `merging` with its kernel timestamp instead.
    private func service(_ connection: Connection, _ state: inout State,
                         merging: ((Int64, UnsafeRawBufferPointer) -> Void)?) -> Int {
        var queued = 0
        let limit = effectiveMessageLimit
        var ready: [UnsafeRawBufferPointer] = []
        // Hands one complete message on: to the round, to the queue's next batch, or, once this writer is
        // blocked by the quota, to its pending list (nothing received is ever dropped).
        func emit(_ stamp: Int64, _ body: UnsafeRawBufferPointer) {
            if let merging { merging(stamp, body) } else if connection.reading { ready.append(body) } else { connection.pending.append(Array(body)) }
        }
        for _ in 0..<16 { // bounded, so one busy writer cannot starve the others
            let received: Int
            do throws(Errno) {
                received = try state.scratch.receive(connection.fd)
            } catch {
                drop(connection, &state, violation: nil) // reset by the writer
                return queued
            }
            if received == 0 { return queued }
            ready.removeAll(keepingCapacity: true)
            var endOfStream = false
            var violation: String?
            for i in 0..<received {
                let record = state.scratch.record(i)
                let stamp = state.scratch.stamp(i)
                if state.scratch.truncated(i) { violation = "a record larger than the protocol allows"; break }
                guard let kind = record.last.flatMap(LocalFrame.init(rawValue:)) else {
                    if record.isEmpty { endOfStream = true } else { violation = "an unknown record kind" }
                    break
                }
                let body = UnsafeRawBufferPointer(rebasing: record.dropLast())
                switch kind {
                case .whole:
                    guard connection.partial == nil else { violation = "a whole message inside a multi-part one"; break }
                    guard body.count <= limit else { violation = "a message of \(body.count) bytes over the limit"; break }
                    emit(stamp, body)
                case .part, .last:
                    var partial = connection.partial.take() ?? [] // owned: appends do not copy
                    guard partial.count + body.count <= limit else { violation = "a message over the limit"; break }
                    partial.append(contentsOf: body)
                    if kind == .part {
                        connection.partial = partial
                    } else if merging == nil && connection.reading {
                        // Keep order: queue what came before, then the assembled message.
                        queued += enqueue(&ready, connection, &state)
                        if connection.reading, partial.withUnsafeBytes({ queue.push($0) }) {
                            queued += 1
                        } else {
                            block(connection, &state, with: [partial])
                        }
                    } else {
                        partial.withUnsafeBytes { emit(stamp, $0) }
                    }
                }
                if violation != nil { break }
            }
            if merging == nil { queued += enqueue(&ready, connection, &state) }
            if let violation { drop(connection, &state, violation: violation); break }
            if endOfStream {
                if connection.pending.isEmpty { drop(connection, &state, violation: nil) }
                break
            }
            if !connection.reading || received < BatchBuffers.slots { break }
        }
        if merging == nil {
            state.counters.messagesReceived += queued
            if queued > 0 { signalReady() }
        }
        return queued
    }

    /// Pushes `ready` into the queue; what does not fit is kept on the connection, which stops being read.
    private func enqueue(_ ready: inout [UnsafeRawBufferPointer], _ connection: Connection, _ state: inout State) -> Int {
        guard !ready.isEmpty else { return 0 }
        let taken = ready.withUnsafeBufferPointer { queue.push($0) }
        if taken < ready.count {
            block(connection, &state, with: ready[taken...].map { Array($0) })
        }
        ready.removeAll(keepingCapacity: true)
        return taken
    }

    private func block(_ connection: Connection, _ state: inout State, with messages: [[UInt8]]) {
        connection.pending += messages
        if connection.reading {
            connection.reading = false
            try? Sys.epollModify(epollFD, connection.fd, events: 0, token: Self.connectionTokenBase + UInt64(UInt32(bitPattern: connection.fd)))
            state.blocked.insert(connection.fd)
            logger.trace("mailslot quota reached; writer paused", metadata: ["path": "\(queue.path)", "writer_pid": "\(connection.pid)"])
        }
    }

    @discardableResult
    private func retryBlocked(_ state: inout State) -> Int {
        var pushed = 0
        for fd in state.blocked {
            guard let connection = state.connections[fd] else { state.blocked.remove(fd); continue }
            while let first = connection.pending.first {
                guard first.withUnsafeBytes({ queue.push($0) }) else { break }
                connection.pending.removeFirst()
                state.counters.messagesReceived += 1
                pushed += 1
            }
            if connection.pending.isEmpty {
                signalReady()
                connection.reading = true
                state.blocked.remove(fd)
                try? Sys.epollModify(epollFD, fd, events: Sys.epollIn, token: Self.connectionTokenBase + UInt64(UInt32(bitPattern: fd)))
            }
        }
        return pushed
    }

    /// The largest message the server accepts from a writer.
    var effectiveMessageLimit: Int {
        MailslotLimits.largestAccepted(maxMessageSize: queue.maxMessageSize, quota: queue.capacity)
    }

    // MARK: readiness descriptor

    /// Turns on the readable-while-a-message-waits descriptor (for every holder of the handle).
    public func enableReadyDescriptor() {
        queue.readyDescriptorWanted = true
        updateReady()
    }

    func signalReady() {
        if queue.readyDescriptorWanted { updateReady() }
    }

    /// Makes `readyFD` readable exactly when the queue is not empty (under the queue lock).
    public func updateReady() {
        queue.withCount { count in
            if count > 0 { Sys.signalEventFD(readyFD) } else { Sys.drainEventFD(readyFD) }
        }
    }
}

/// Receive buffers for batched reads: 64 slots, each big enough for the largest record.
final class BatchBuffers {
    static let slots = 64
    static let slotSize = LocalProtocol.maxRecordPayload + 1
    /// Slots start on page boundaries: the kernel's copy into a misaligned destination is about 2x slower.
    static let slotStride = (slotSize + 4095) & ~4095
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: BatchBuffers.slots * BatchBuffers.slotStride, alignment: 4096)
        .bindMemory(to: UInt8.self, capacity: BatchBuffers.slots * BatchBuffers.slotStride)
    let lengths = UnsafeMutablePointer<UInt32>.allocate(capacity: BatchBuffers.slots)
    let flags = UnsafeMutablePointer<Int32>.allocate(capacity: BatchBuffers.slots)
    let stamps = UnsafeMutablePointer<Int64>.allocate(capacity: BatchBuffers.slots)

    deinit {
        buffer.deallocate()
        lengths.deallocate()
        flags.deallocate()
        stamps.deallocate()
    }

    func receive(_ fd: FD) throws(Errno) -> Int {
        try Sys.receiveBatch(fd, buffers: buffer, slotSize: BatchBuffers.slotSize, stride: BatchBuffers.slotStride, count: BatchBuffers.slots,
                             lengths: lengths, flags: flags, stamps: stamps)
    }

    func record(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffer + i * BatchBuffers.slotStride, count: Int(lengths[i]))
    }

    func truncated(_ i: Int) -> Bool { flags[i] & Sys.truncatedFlag != 0 }

    /// When the writer sent record `i` (the kernel's clock, ns).
    func stamp(_ i: Int) -> Int64 { stamps[i] }
}

extension MailslotError {
    /// An unexpected system failure, with its errno as the cause.
    public static func system(_ what: String, _ error: Errno) -> MailslotError {
        MailslotError(.generalFailure, "\(what): \(error.message)", cause: error.cause)
    }
}

extension Errno {
    public var cause: MailslotError.SystemCause {
        MailslotError.SystemCause(call: call, errno: code, errnoDescription: message)
    }
}
