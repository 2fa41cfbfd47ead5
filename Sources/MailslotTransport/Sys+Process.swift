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
    package static var isRoot: Bool { geteuid() == 0 }

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

    // MARK: signals

    /// An eventfd that becomes readable when one of `signals` arrives (a handler of our own, in every
    /// thread): for a clean shutdown on SIGINT or SIGTERM. The descriptor stays open for the process's life.
    package static func signalDescriptor(_ signals: [Int32]) throws(Errno) -> FD {
        let fd = signals.withUnsafeBufferPointer { cms_signals_to_eventfd($0.baseAddress!, Int32($0.count)) }
        guard fd >= 0 else { throw .current("sigaction") }
        return fd
    }

    // MARK: other programs

    /// Runs a program found on PATH to its end (its output goes where this process's goes) and returns
    /// its exit status, or -1 when it could not be started or was killed.
    package static func runProgram(_ name: String, _ arguments: [String]) -> Int32 {
        runProgramReportingProcess(name, arguments)?.status ?? -1
    }

    /// Runs a program (a path, or a name found on PATH) to its end, its output going where this process's
    /// goes, with posix_spawn and waitpid alone (no helper threads); returns its process id and its exit
    /// status (-1 when it was killed), or nil when it could not be started.
    package static func runProgramReportingProcess(_ name: String, _ arguments: [String]) -> (pid: pid_t, status: Int32)? {
        var argv: [UnsafeMutablePointer<CChar>?] = ([name] + arguments).map { $0.withCString { strdup($0) } } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, name, nil, nil, &argv, environ) == 0 else { return nil }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (pid, status & 0x7F == 0 ? (status >> 8) & 0xFF : -1)
    }
}
