// The objects behind Win32 handles (mailslot servers and clients, events), the handle table, and the
// one lock and condition variable that every wait of the C API sleeps on.
//
// One lock for everything is deliberate: the C API is a compatibility layer whose waits (WaitFor*,
// GetOverlappedResult, pending reads) must see every state change of every object at once, and a
// broadcast on one condition variable gives WaitForMultipleObjects that for free. The mailslot reads
// themselves never run under it.

#if canImport(Glibc)
import Glibc
#endif
import CMailslotWin32
import Mailslot
import MailslotTransport

/// The lock and the condition variable (on CLOCK_MONOTONIC) behind every handle's state.
final class Hub: @unchecked Sendable {
    static let shared = Hub()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    // Guarded by `mutex`.
    var handles: [UInt: HandleEntry] = [:]
    var nextHandle: UInt = 0x100
    var namedEvents: [String: EventObject] = [:]

    private init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        Inheritance.adoptInherited(into: self)
    }

    func lock() { pthread_mutex_lock(mutex) }
    func unlock() { pthread_mutex_unlock(mutex) }

    func withLock<T>(_ body: () -> T) -> T {
        lock()
        defer { unlock() }
        return body()
    }

    /// Wakes every waiter so that it looks at the state again. Call with the lock held.
    func broadcast() { pthread_cond_broadcast(condition) }

    /// Sleeps until a broadcast or the deadline (monotonic nanoseconds; nil = none). Call with the lock
    /// held. Returns false once the deadline has passed.
    func wait(until deadline: UInt64?) -> Bool {
        guard let deadline else {
            pthread_cond_wait(condition, mutex)
            return true
        }
        if Clock.now >= deadline { return false }
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        return pthread_cond_timedwait(condition, mutex, &ts) != ETIMEDOUT || Clock.now < deadline
    }

    // MARK: the handle table (call with the lock held)

    func insert(_ object: KernelObject, inherit: Bool) -> UInt {
        while handles[nextHandle] != nil { nextHandle += 4 }
        let handle = nextHandle
        nextHandle += 4
        handles[handle] = HandleEntry(object: object, inherit: inherit)
        object.handleCount += 1
        return handle
    }

    func object(_ handle: UnsafeMutableRawPointer?) -> KernelObject? {
        guard let handle else { return nil }
        return handles[UInt(bitPattern: handle)]?.object
    }
}

struct HandleEntry {
    let object: KernelObject
    var inherit: Bool
}

enum Clock {
    /// CLOCK_MONOTONIC in nanoseconds.
    static var now: UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// The deadline `milliseconds` from now; nil for INFINITE (0xFFFFFFFF).
    static func deadline(milliseconds: UInt32) -> UInt64? {
        milliseconds == UInt32.max ? nil : now + UInt64(milliseconds) * 1_000_000
    }
}

/// What a handle refers to. Its mutable state is guarded by ``Hub``'s lock.
class KernelObject: @unchecked Sendable {
    /// The dispatcher state WaitForSingleObject looks at.
    var signalled = false
    /// How many handles refer to it; at zero it is destroyed.
    var handleCount = 0
    var destroyed = false

    /// A wait that this object satisfied has returned (auto-reset events reset here).
    func satisfiedWait() {}

    /// The last handle is gone (called without the lock).
    func destroy() {}

    /// An operation on this file object has completed: its result goes where the caller asked, and the
    /// caller's event and the object itself are signalled, as Windows does. Call with the hub's lock held.
    func completed(status: NTSTATUS, bytes: Int, into target: PendingRead.Target?, event: EventObject?) {
        if let target { IOResult.store(status: status, bytes: bytes, in: target) }
        event?.signalled = true
        signalled = true
        Hub.shared.broadcast()
    }
}

final class EventObject: KernelObject, @unchecked Sendable {
    let manualReset: Bool
    let name: String?

    init(manualReset: Bool, initialState: Bool, name: String?) {
        self.manualReset = manualReset
        self.name = name
        super.init()
        signalled = initialState
    }

    override func satisfiedWait() {
        if !manualReset { signalled = false }
    }

    override func destroy() {
        if let name {
            Hub.shared.withLock {
                if Hub.shared.namedEvents[name] === self { Hub.shared.namedEvents[name] = nil }
            }
        }
    }
}

/// A client (writer) handle, from CreateFile.
final class ClientObject: KernelObject, @unchecked Sendable {
    let writer: MailslotWriter
    /// Whether the handle was opened with write access (GENERIC_WRITE, FILE_WRITE_DATA, GENERIC_ALL).
    let canWrite: Bool

    init(writer: MailslotWriter, canWrite: Bool) {
        self.writer = writer
        self.canWrite = canWrite
    }

    override func destroy() { writer.close() }
}

/// A server handle, from CreateMailslot or NtCreateMailslotFile.
final class ServerObject: KernelObject, @unchecked Sendable {
    let server: MailslotServer
    /// A handle from CreateMailslot, or NtCreateMailslotFile with FILE_SYNCHRONOUS_IO_*: its reads
    /// complete before they return. Otherwise reads of an empty mailslot are pending (NTS.PENDING).
    let synchronous: Bool
    /// Whether the handle holds write access (it still cannot write: W44).
    let writeAccess: Bool
    /// The quota as the creator gave it (NtCreateMailslotFile), reported back as given.
    let requestedQuota: UInt32

    // Guarded by the hub's lock.
    var pending: [PendingRead] = []
    var inService: PendingRead?
    var workerRunning = false

    init(server: MailslotServer, synchronous: Bool, writeAccess: Bool, requestedQuota: UInt32) {
        self.server = server
        self.synchronous = synchronous
        self.writeAccess = writeAccess
        self.requestedQuota = requestedQuota
    }

    override func destroy() {
        let hub = Hub.shared
        hub.withLock {
            // Windows cancels the pending reads of a file object whose last handle closes.
            for read in pending where read !== inService { read.complete(status: NTS.CANCELLED, bytes: 0, on: self) }
            pending.removeAll { $0 !== inService }
            hub.broadcast()
        }
        server.close() // wakes a read in service (and any synchronous reader) with ERROR_OPERATION_ABORTED
    }
}

/// A read that waits in a server's queue of pending reads (asynchronous handles).
final class PendingRead: @unchecked Sendable {
    enum Target {
        case overlapped(UnsafeMutablePointer<OVERLAPPED>)
        case statusBlock(UnsafeMutablePointer<IO_STATUS_BLOCK>)
    }

    let target: Target
    let buffer: UnsafeMutableRawBufferPointer
    let event: EventObject?
    let thread: pthread_t
    /// Monotonic nanoseconds; nil = wait forever.
    let deadline: UInt64?
    let cancellation = CancelFlag()
    // Guarded by the hub's lock.
    var cancelRequested = false
    var done = false

    init(target: Target, buffer: UnsafeMutableRawBufferPointer, event: EventObject?, deadline: UInt64?) {
        self.target = target
        self.buffer = buffer
        self.event = event
        self.thread = pthread_self()
        self.deadline = deadline
    }

    /// Completes the read on its file object (see ``KernelObject/completed``). Call with the hub's lock held.
    func complete(status: NTSTATUS, bytes: Int, on file: KernelObject) {
        done = true
        file.completed(status: status, bytes: bytes, into: target, event: event)
    }
}

enum IOResult {
    /// Stores a completed operation's status and byte count as Windows does: OVERLAPPED.Internal holds
    /// the NTSTATUS (sign-extended), InternalHigh the bytes; an IO_STATUS_BLOCK its Status and Information.
    static func store(status: NTSTATUS, bytes: Int, in target: PendingRead.Target) {
        switch target {
        case .overlapped(let ov):
            ov.pointee.InternalHigh = UInt(bytes)
            ov.pointee.Internal = UInt(bitPattern: Int(status))
        case .statusBlock(let iosb):
            iosb.pointee.Information = UInt(bytes)
            iosb.pointee.Status = status
        }
    }

    static func markPending(_ ov: UnsafeMutablePointer<OVERLAPPED>) {
        ov.pointee.Internal = UInt(bitPattern: Int(NTS.PENDING))
        ov.pointee.InternalHigh = 0
    }

    static func status(of ov: UnsafeMutablePointer<OVERLAPPED>) -> NTSTATUS {
        NTSTATUS(truncatingIfNeeded: Int(bitPattern: ov.pointee.Internal))
    }
}
