// How the C API reads a mailslot: synchronous handles read on the caller's thread; asynchronous handles
// queue pending reads, served in order by one worker thread per mailslot while any are pending.

#if canImport(Glibc)
import Glibc
#endif
import CMailslotWin32
import Mailslot
import MailslotTransport

/// The outcome of starting a read.
enum ReadStart {
    /// Done before returning (the result is stored in the target, the event and the handle signalled).
    case completed(Int)
    /// Failed before it started: nothing is written to the target (IO_STATUS_BLOCK untouched, W33/W41).
    case failed(NTSTATUS)
    /// Queued: completes later (asynchronous handles only).
    case pending
}

extension ServerObject {
    /// Starts a read into `buffer`, completing into `target`. `event` has already been reset.
    func startRead(buffer: UnsafeMutableRawBufferPointer, target: PendingRead.Target, event: EventObject?) -> ReadStart {
        let hub = Hub.shared
        hub.withLock { signalled = false }
        if synchronous {
            do throws(MailslotError) {
                return completedNow(try server.read(into: buffer), target, event)
            } catch {
                return .failed(NTStatus.from(error.code))
            }
        }
        // Asynchronous handle: a read that can complete now does; otherwise it joins the queue behind the
        // reads already pending, which a later write completes in order (W45-W47).
        let queueEmpty = hub.withLock { pending.isEmpty }
        let timeout: MailslotTimeout
        do throws(MailslotError) {
            if queueEmpty {
                do throws(MailslotError) {
                    return completedNow(try server.read(into: buffer, timeout: .immediate), target, event)
                } catch where error.code == .semTimeout {
                    // empty: wait below
                }
            }
            timeout = try server.info().readTimeout
        } catch {
            return .failed(NTStatus.from(error.code))
        }
        if timeout == .immediate { return .failed(NTS.IO_TIMEOUT) }
        let read = PendingRead(target: target, buffer: buffer, event: event, deadline: timeout.milliseconds.flatMap { Clock.deadline(milliseconds: $0) })
        let startWorker: Bool = hub.withLock {
            if destroyed { return false }
            pending.append(read)
            hub.broadcast()
            if workerRunning { return false }
            workerRunning = true
            return true
        }
        if startWorker {
            let started = (try? Sys.startThread { [self] in serveReads() }).map { pthread_detach($0) == 0 } ?? false
            if !started {
                hub.withLock {
                    workerRunning = false
                    pending.removeAll { $0 === read }
                }
                return .failed(NTS.INSUFFICIENT_RESOURCES)
            }
        }
        return .pending
    }

    /// A read that completed before returning: its result stored, its event and the handle signalled.
    private func completedNow(_ n: Int, _ target: PendingRead.Target, _ event: EventObject?) -> ReadStart {
        Hub.shared.withLock { completed(status: NTS.SUCCESS, bytes: n, into: target, event: event) }
        return .completed(n)
    }

    /// The worker: serves pending reads oldest first until none is left.
    private func serveReads() {
        let hub = Hub.shared
        while true {
            hub.lock()
            guard let head = pending.first else {
                workerRunning = false
                hub.unlock()
                return
            }
            if head.cancelRequested || destroyed {
                pending.removeFirst()
                head.complete(status: NTS.CANCELLED, bytes: 0, on: self)
                hub.unlock()
                continue
            }
            inService = head
            hub.unlock()

            let timeout: MailslotTimeout
            if let deadline = head.deadline {
                let now = Clock.now
                let remaining = deadline > now ? (deadline - now + 999_999) / 1_000_000 : 0
                timeout = .milliseconds(UInt32(min(remaining, UInt64(UInt32.max - 1))))
            } else {
                timeout = .forever
            }
            let status: NTSTATUS
            var bytes = 0
            do throws(MailslotError) {
                bytes = try server.read(into: head.buffer, timeout: timeout, cancellation: head.cancellation)
                status = NTS.SUCCESS
            } catch {
                status = error.code == .operationAborted ? NTS.CANCELLED : NTStatus.from(error.code)
            }

            hub.lock()
            inService = nil
            pending.removeAll { $0 === head }
            // Closed before the read began: the server reports the handle as closed; Windows says cancelled.
            head.complete(status: destroyed && status != NTS.SUCCESS ? NTS.CANCELLED : status, bytes: bytes, on: self)
            hub.unlock()
        }
    }

    /// Cancels pending reads: those `thread` started (CancelIo), the one on `overlapped` (CancelIoEx),
    /// or all. Returns how many were cancelled.
    func cancelReads(thread: pthread_t?, overlapped: UnsafeMutablePointer<OVERLAPPED>?) -> Int {
        let hub = Hub.shared
        var wake: [CancelFlag] = []
        let count: Int = hub.withLock {
            var n = 0
            for read in pending where !read.done && !read.cancelRequested {
                if let thread, pthread_equal(thread, read.thread) == 0 { continue }
                if let overlapped {
                    guard case .overlapped(let ov) = read.target, ov == overlapped else { continue }
                }
                n += 1
                read.cancelRequested = true
                if read === inService {
                    wake.append(read.cancellation)
                } else {
                    read.complete(status: NTS.CANCELLED, bytes: 0, on: self)
                }
            }
            pending.removeAll { $0.done }
            hub.broadcast()
            return n
        }
        for flag in wake { server.cancelRead(flag) }
        return count
    }
}

/// NTSTATUS values for the library's Win32 codes. A code with no NT status travels with the customer bit
/// (0xE0000000 | code), which RtlNtStatusToDosError turns back into the code.
enum NTStatus {
    static func from(_ code: MailslotError.Code) -> NTSTATUS {
        switch code {
        case .fileNotFound: return NTS.OBJECT_NAME_NOT_FOUND
        case .pathNotFound: return NTS.OBJECT_PATH_NOT_FOUND
        case .accessDenied: return NTS.ACCESS_DENIED
        case .invalidHandle: return NTS.INVALID_HANDLE
        case .notEnoughMemory: return NTS.NO_MEMORY
        case .generalFailure: return NTS.UNSUCCESSFUL
        case .badNetPath: return NTS.BAD_NETWORK_PATH
        case .invalidParameter: return NTS.INVALID_PARAMETER
        case .brokenPipe: return NTS.PIPE_BROKEN
        case .semTimeout: return NTS.IO_TIMEOUT
        case .insufficientBuffer: return NTS.BUFFER_TOO_SMALL
        case .invalidName: return NTS.OBJECT_NAME_INVALID
        case .alreadyExists: return NTS.OBJECT_NAME_COLLISION
        case .filenameExceedsRange: return NTS.NAME_TOO_LONG
        case .operationAborted: return NTS.CANCELLED
        case .notEnoughQuota: return NTS.QUOTA_EXCEEDED
        default: return NTSTATUS(bitPattern: 0xE000_0000 | (code.rawValue & 0xFFFF))
        }
    }
}

/// The NTSTATUS values the C API returns (the header's STATUS_* macros; Swift cannot import those
/// casts of unsigned literals). Values from ntstatus.h.
enum NTS {
    static let ACCESS_VIOLATION: NTSTATUS = NTSTATUS(bitPattern: 0xC0000005)
    static let ACCESS_DENIED: NTSTATUS = NTSTATUS(bitPattern: 0xC0000022)
    static let BAD_NETWORK_PATH: NTSTATUS = NTSTATUS(bitPattern: 0xC00000BE)
    static let BUFFER_TOO_SMALL: NTSTATUS = NTSTATUS(bitPattern: 0xC0000023)
    static let CANCELLED: NTSTATUS = NTSTATUS(bitPattern: 0xC0000120)
    static let INFO_LENGTH_MISMATCH: NTSTATUS = NTSTATUS(bitPattern: 0xC0000004)
    static let INSUFFICIENT_RESOURCES: NTSTATUS = NTSTATUS(bitPattern: 0xC000009A)
    static let INVALID_HANDLE: NTSTATUS = NTSTATUS(bitPattern: 0xC0000008)
    static let INVALID_INFO_CLASS: NTSTATUS = NTSTATUS(bitPattern: 0xC0000003)
    static let INVALID_PARAMETER: NTSTATUS = NTSTATUS(bitPattern: 0xC000000D)
    static let IO_TIMEOUT: NTSTATUS = NTSTATUS(bitPattern: 0xC00000B5)
    static let NAME_TOO_LONG: NTSTATUS = NTSTATUS(bitPattern: 0xC0000106)
    static let NOT_SUPPORTED: NTSTATUS = NTSTATUS(bitPattern: 0xC00000BB)
    static let NO_MEMORY: NTSTATUS = NTSTATUS(bitPattern: 0xC0000017)
    static let OBJECT_NAME_COLLISION: NTSTATUS = NTSTATUS(bitPattern: 0xC0000035)
    static let OBJECT_NAME_INVALID: NTSTATUS = NTSTATUS(bitPattern: 0xC0000033)
    static let OBJECT_NAME_NOT_FOUND: NTSTATUS = NTSTATUS(bitPattern: 0xC0000034)
    static let OBJECT_PATH_NOT_FOUND: NTSTATUS = NTSTATUS(bitPattern: 0xC000003A)
    static let OBJECT_PATH_SYNTAX_BAD: NTSTATUS = NTSTATUS(bitPattern: 0xC000003B)
    static let OBJECT_TYPE_MISMATCH: NTSTATUS = NTSTATUS(bitPattern: 0xC0000024)
    static let PENDING: NTSTATUS = NTSTATUS(bitPattern: 0x00000103)
    static let PIPE_BROKEN: NTSTATUS = NTSTATUS(bitPattern: 0xC000014B)
    static let QUOTA_EXCEEDED: NTSTATUS = NTSTATUS(bitPattern: 0xC0000044)
    static let SUCCESS: NTSTATUS = NTSTATUS(bitPattern: 0x00000000)
    static let UNSUCCESSFUL: NTSTATUS = NTSTATUS(bitPattern: 0xC0000001)
}
