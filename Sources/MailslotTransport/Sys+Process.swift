// This process: identity, clocks, threads, CPUs.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

extension Sys {
    // MARK: identity

    package static var pid: Int32 { getpid() }
    package static var uid: UInt32 { getuid() }
    package static var euid: UInt32 { geteuid() }

    // MARK: time and threads

    /// CLOCK_MONOTONIC in nanoseconds (vDSO): deadlines, and the stamps that order ring records.
    package static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// CLOCK_REALTIME in nanoseconds.
    package static func realtimeNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    package static func pinToCPU(_ cpu: Int) -> Bool { cms_pin_to_cpu(Int32(cpu)) == 0 }

    /// Starts a detached-joinable pthread running `body`.
    package static func startThread(_ body: @escaping @Sendable () -> Void) throws(Errno) -> ThreadHandle {
        final class Box: @unchecked Sendable { let body: @Sendable () -> Void; init(_ b: @escaping @Sendable () -> Void) { body = b } }
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let r = pthread_create(&thread, nil, { arg in
            let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            b.body()
            return nil
        }, box)
        guard r == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            throw Errno(r, "pthread_create")
        }
        return thread
    }

    package static func join(_ thread: ThreadHandle) { _ = pthread_join(thread, nil) }
    package static func isCurrentThread(_ thread: ThreadHandle) -> Bool { pthread_equal(pthread_self(), thread) != 0 }
}
