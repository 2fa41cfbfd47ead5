#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotFuse
import Dispatch
import Mailslot
import MailslotTransport

/// A FUSE request held for a later reply (libfuse lets any thread answer it, once).
struct Request: @unchecked Sendable {
    let raw: OpaquePointer
}

/// A file opened for writing: a writer of the mailslot, opened for the caller after its rule admitted it.
final class WriterHandle: @unchecked Sendable {
    let writer: MailslotWriter
    /// Writes that found the mailslot full wait here, in order, so that none blocks a serving thread
    /// and a later write on the same file cannot overtake one that waits.
    private let slow = DispatchQueue(label: "mailslot.files.write")
    private let waiting = Locked(0)

    init(_ writer: MailslotWriter) { self.writer = writer }

    /// One `write(2)`: one message. Answers the request now, or later from the slow queue when the mailslot
    /// is full (then it waits up to the writer's write timeout, as the library does).
    func write(_ request: Request, _ bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= MailslotFileSystem.largestMessage else {
            cmf_reply_err(request.raw, EMSGSIZE) // may be the first piece of a longer write(2): refused whole
            return
        }
        if waiting.withLock({ $0 }) == 0 {
            do throws(MailslotError) {
                try writer.write(bytes, timeoutMilliseconds: 0)
                cmf_reply_write(request.raw, bytes.count)
                return
            } catch where error.code != .semTimeout {
                cmf_reply_err(request.raw, FileError(error).errno)
                return
            } catch {}
        }
        // Full now: copy the bytes (valid only during this call) and wait off the serving thread.
        let message = Array(bytes)
        waiting.withLock { $0 += 1 }
        slow.async { [self] in
            defer { waiting.withLock { $0 -= 1 } }
            do throws(MailslotError) {
                try writer.write(message)
                cmf_reply_write(request.raw, message.count)
            } catch {
                cmf_reply_err(request.raw, FileError(error).errno)
            }
        }
    }
}

/// A file opened with O_CREAT | O_EXCL | O_RDONLY: the mailslot's server, created for the caller.
///
/// Reads that must wait are served in order by one thread of this file's own, which waits the way a
/// Swift reader does (a short spin on the writers' rings, then epoll): a serving thread of the file
/// system is never held, and the wake-up costs what a library read's does.
final class ServerHandle: @unchecked Sendable {
    let server: MailslotServer
    private struct State {
        var pollHandle: OpaquePointer?
        /// Reads waiting for a message, oldest first, and the one being served.
        var waiting: [PendingRead] = []
        var serving: PendingRead?
        var closed = false
        var thread: ThreadHandle?
    }
    private let state = Locked(State())
    /// Wakes the reader thread: a read arrived, or the file is closing.
    private let wake = DispatchSemaphore(value: 0)

    init(_ server: MailslotServer) { self.server = server }

    var pendingCount: Int { state.withLock { $0.waiting.count + ($0.serving == nil ? 0 : 1) } }
    var hasPoller: Bool { state.withLock { $0.pollHandle != nil } }
    var readinessDescriptor: Int32 { server.readinessDescriptor }

    /// One `read(2)` of at most `size` bytes: the oldest message whole, or EMSGSIZE when it is larger (it
    /// stays). When none waits: EAGAIN for a non-blocking descriptor, else the reply comes when a message
    /// arrives, the read timeout passes (ETIMEDOUT), or the caller is interrupted (EINTR).
    func read(_ request: Request, size: Int, nonBlocking: Bool) {
        // Only when no read is waiting: a later read must not take a message before an earlier one.
        if nonBlocking || pendingCount == 0 {
            do throws(MailslotError) {
                let message = try server.read(maxLength: size, timeout: .immediate)
                ServerHandle.reply(request, message)
                return
            } catch where error.code == .semTimeout && !nonBlocking {
                // Empty: wait below.
            } catch where error.code == .semTimeout {
                cmf_reply_err(request.raw, EAGAIN)
                return
            } catch {
                cmf_reply_err(request.raw, FileError(error).errno)
                return
            }
        }
        let pending = PendingRead(request, size: size)
        // The interrupt callback only cancels the read; the reader thread alone replies (after clearing it).
        cmf_req_interrupt_func(request.raw, { _, data in
            let pending = Unmanaged<PendingRead>.fromOpaque(data!).takeUnretainedValue()
            pending.interrupt()
            pending.owner?.server.cancelRead(pending.cancellation)
        }, Unmanaged.passRetained(pending).toOpaque())
        pending.owner = self
        let start = state.withLock { state -> Bool in
            state.waiting.append(pending)
            guard state.thread == nil else { return false }
            state.thread = try? Sys.startThread { [self] in serveReads() }
            return true
        }
        _ = start
        wake.signal()
    }

    /// The reader thread: serves waiting reads oldest first until the file closes.
    private func serveReads() {
        while true {
            wake.wait()
            while let next = state.withLock({ state -> PendingRead? in
                guard !state.waiting.isEmpty else { return nil }
                state.serving = state.waiting.removeFirst()
                return state.serving
            }) {
                let result: Result<[UInt8], MailslotError>
                if next.isInterrupted {
                    result = .failure(MailslotError(.operationAborted, "interrupted"))
                } else {
                    do throws(MailslotError) {
                        result = .success(try server.read(maxLength: next.size, cancellation: next.cancellation))
                    } catch {
                        result = .failure(error)
                    }
                }
                finish(next, result)
                state.withLock { $0.serving = nil }
            }
            if state.withLock({ $0.closed && $0.waiting.isEmpty }) { return }
        }
    }

    private func finish(_ read: PendingRead, _ result: Result<[UInt8], MailslotError>) {
        cmf_req_interrupt_func(read.request.raw, nil, nil) // waits out a callback that is running
        Unmanaged.passUnretained(read).release()
        switch result {
        case .success(let message): ServerHandle.reply(read.request, message)
        case .failure(let error):
            cmf_reply_err(read.request.raw, error.code == .operationAborted || error.code == .invalidHandle ? EINTR : FileError(error).errno)
        }
    }

    static func reply(_ request: Request, _ message: [UInt8]) {
        message.withUnsafeBytes { _ = cmf_reply_buf(request.raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
    }

    /// Ends every waiting read with EINTR (the file system is stopping).
    func cancelAll() {
        let reads = state.withLock { state in state.waiting + (state.serving.map { [$0] } ?? []) }
        for read in reads {
            read.interrupt()
            server.cancelRead(read.cancellation)
        }
    }

    /// Closes the mailslot (its last descriptor closed): the reader thread ends once nothing waits.
    func close() {
        cancelAll()
        server.close()
        let thread = state.withLock { state -> ThreadHandle? in
            state.closed = true
            defer { state.thread = nil }
            return state.thread
        }
        wake.signal()
        if let thread { Sys.join(thread) }
    }

    /// poll(2): readable while a message waits. A handle to wake the poller later is kept (one per
    /// file; a newer one replaces the older).
    func poll(_ request: Request, _ handle: OpaquePointer?) {
        let ready = ((try? server.info())?.nextMessageSize) != nil
        if ready {
            if let handle { cmf_pollhandle_destroy(handle) }
        } else if let handle {
            let older = state.withLock { state -> OpaquePointer? in
                defer { state.pollHandle = handle }
                return state.pollHandle
            }
            if let older { cmf_pollhandle_destroy(older) }
        }
        cmf_reply_poll(request.raw, ready ? UInt32(POLLIN | POLLRDNORM) : 0)
    }

    /// Wakes the poller (a message arrived); it polls again.
    func notifyPoller() {
        guard let handle = state.withLock({ state -> OpaquePointer? in
            defer { state.pollHandle = nil }
            return state.pollHandle
        }) else { return }
        cmf_notify_poll(handle)
        cmf_pollhandle_destroy(handle)
    }

    /// Drops a kept poll handle (the file is closing).
    func dropPoller() {
        if let handle = state.withLock({ state -> OpaquePointer? in defer { state.pollHandle = nil }; return state.pollHandle }) {
            cmf_pollhandle_destroy(handle)
        }
    }
}

/// A read waiting for a message: its size, and the flag that cancels it when the kernel interrupts it.
final class PendingRead: @unchecked Sendable {
    let request: Request
    let size: Int
    let cancellation = CancelFlag()
    weak var owner: ServerHandle?
    private let interrupted = Locked(false)

    init(_ request: Request, size: Int) {
        self.request = request
        self.size = size
    }

    var isInterrupted: Bool { interrupted.withLock { $0 } }
    func interrupt() {
        interrupted.withLock { $0 = true }
        cancellation.set()
    }
}

/// A thread that waits on the readiness descriptors of the mailslots whose pollers wait, and wakes them.
final class PollWatcher: @unchecked Sendable {
    private let wakeFD: FD
    private let thread = Locked<ThreadHandle?>(nil)
    private let stopped = Locked(false)

    init() throws(MailslotError) {
        do throws(Errno) { wakeFD = try Sys.eventFD() } catch { throw MailslotError.system("could not create an eventfd", error) }
    }

    deinit { Sys.close(wakeFD) }

    func start(_ fileSystem: MailslotFileSystem) {
        let started = try? Sys.startThread { [self, weak fileSystem] in
            while !stopped.withLock({ $0 }) {
                let servers = fileSystem?.serversWithPollers ?? []
                var byFD: [Int32: ServerHandle] = [:]
                for server in servers { byFD[server.readinessDescriptor] = server }
                let ready = Sys.pollMany([wakeFD] + Array(byFD.keys), timeoutMilliseconds: 1000)
                for fd in ready {
                    if fd == wakeFD { Sys.drainEventFD(wakeFD) } else { byFD[fd]?.notifyPoller() }
                }
            }
        }
        thread.withLock { $0 = started }
    }

    func wake() { Sys.signalEventFD(wakeFD) }

    func stop() {
        stopped.withLock { $0 = true }
        wake()
        if let thread = thread.withLock({ t in defer { t = nil }; return t }) { Sys.join(thread) }
    }
}
