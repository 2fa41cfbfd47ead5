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
final class ServerHandle: @unchecked Sendable {
    let server: MailslotServer
    private struct State {
        var pollHandle: OpaquePointer?
        var reads: [UInt64: PendingRead] = [:]
        var nextRead: UInt64 = 0
    }
    private let state = Locked(State())

    init(_ server: MailslotServer) { self.server = server }

    var pendingCount: Int { state.withLock { $0.reads.count } }
    var hasPoller: Bool { state.withLock { $0.pollHandle != nil } }
    var readinessDescriptor: Int32 { server.readinessDescriptor }

    /// One `read(2)` of at most `size` bytes: the oldest message whole, or EMSGSIZE when it is larger (it
    /// stays). When none waits: EAGAIN for a non-blocking descriptor, else the reply comes when a message
    /// arrives, the read timeout passes (ETIMEDOUT), or the caller is interrupted (EINTR).
    func read(_ request: Request, size: Int, nonBlocking: Bool) {
        do throws(MailslotError) {
            let message = try server.read(maxLength: size, timeout: .immediate)
            message.withUnsafeBytes { _ = cmf_reply_buf(request.raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
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
        let pending = PendingRead(request)
        let id = state.withLock { state in
            defer { state.nextRead += 1 }
            state.reads[state.nextRead] = pending
            return state.nextRead
        }
        // The interrupt callback only cancels; the task alone replies (after unregistering the callback).
        cmf_req_interrupt_func(request.raw, { _, data in
            Unmanaged<PendingRead>.fromOpaque(data!).takeUnretainedValue().interrupt()
        }, Unmanaged.passRetained(pending).toOpaque())
        let server = self.server
        let task = Task { [self] in
            let result: Result<[UInt8], MailslotError>
            do throws(MailslotError) {
                result = .success(try await server.read(maxLength: size))
            } catch {
                result = .failure(error)
            }
            cmf_req_interrupt_func(request.raw, nil, nil) // waits out a callback that is running
            Unmanaged.passUnretained(pending).release()
            switch result {
            case .success(let message):
                message.withUnsafeBytes { _ = cmf_reply_buf(request.raw, $0.baseAddress?.assumingMemoryBound(to: CChar.self), $0.count) }
            case .failure(let error):
                cmf_reply_err(request.raw, error.code == .operationAborted || error.code == .invalidHandle ? EINTR : FileError(error).errno)
            }
            _ = state.withLock { $0.reads.removeValue(forKey: id) }
        }
        pending.attach(task)
    }

    /// Ends every waiting read with EINTR (the file system is stopping).
    func cancelAll() {
        for read in state.withLock({ Array($0.reads.values) }) { read.interrupt() }
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

/// A read waiting for a message: its task, and whether the kernel interrupted it.
final class PendingRead: @unchecked Sendable {
    let request: Request
    private let state = Locked<(task: Task<Void, Never>?, interrupted: Bool)>((nil, false))

    init(_ request: Request) { self.request = request }

    func attach(_ task: Task<Void, Never>) {
        let cancelNow = state.withLock { state -> Bool in
            state.task = task
            return state.interrupted
        }
        if cancelNow { task.cancel() }
    }

    func interrupt() {
        let task = state.withLock { state -> Task<Void, Never>? in
            state.interrupted = true
            return state.task
        }
        task?.cancel()
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
