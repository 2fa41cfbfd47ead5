// The system calls of the transport, the only layer that calls into the C library or the kernel. `Sys`
// is split by facility (Sys+Descriptors, Sys+UnixSockets, Sys+UDP, Sys+Waiting, Sys+SharedMemory,
// Sys+Process, Sys+Proc). Every wrapper is thin: it turns a -1/errno return into a thrown `Errno`, and
// retries EINTR through one helper (``Sys/retrying(_:_:)``). What an errno means to a mailslot user is
// decided in one place, MailslotError+Errno.swift.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

/// A POSIX error number.
package struct Errno: Error, Sendable, Hashable, CustomStringConvertible {
    package var code: Int32
    package var call: String
    package init(_ code: Int32, _ call: String) {
        self.code = code
        self.call = call
    }
    static func current(_ call: String) -> Errno { Errno(errno, call) }
    package var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
    package var message: String { String(cString: strerror(code)) }

    package static let again = EAGAIN
    package static let interrupted = EINTR
    package static let connectionRefused = ECONNREFUSED
    package static let noEntry = ENOENT
    package static let addressInUse = EADDRINUSE
    package static let brokenPipe = EPIPE
    package static let connectionReset = ECONNRESET
    package static let timedOut = ETIMEDOUT
    package static let notConnected = ENOTCONN
    package static let badFD = EBADF
    package static let permissionDenied = EACCES
    package static let outOfMemory = ENOMEM
    package static let noSpace = ENOSPC
    package static let tooManyFiles = EMFILE
    package static let fileTableFull = ENFILE
}

package typealias FD = Int32
package typealias ThreadHandle = pthread_t

/// Thin typed wrappers over the system calls the transport uses, one extension per facility.
package enum Sys {
    /// Runs a system call until it is not interrupted: its result, or the errno it failed with.
    @inline(__always)
    package static func retrying<Result: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> Result) throws(Errno) -> Result {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw .current(call())
        }
    }

    /// As ``retrying(_:_:)``, with EAGAIN (nothing to do now, on a non-blocking descriptor) as nil.
    @inline(__always)
    package static func retryingUnlessWouldBlock<Result: FixedWidthInteger>(_ call: @autoclosure () -> String, _ body: () -> Result) throws(Errno) -> Result? {
        do throws(Errno) {
            return try retrying(call(), body)
        } catch where error.code == EAGAIN {
            return nil
        }
    }
}
