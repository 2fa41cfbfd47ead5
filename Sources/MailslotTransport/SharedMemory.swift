// Shared memory, sealing and the server's liveness word: the system calls behind the per-writer rings.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim

extension Sys {
    /// Seals of a memfd (F_ADD_SEALS).
    package struct Seals: OptionSet, Sendable {
        package let rawValue: Int32
        package init(rawValue: Int32) { self.rawValue = rawValue }
        package static let shrink = Seals(rawValue: 1)
        package static let grow = Seals(rawValue: 2)
        package static let futureWrite = Seals(rawValue: 8)
        package static let seal = Seals(rawValue: 16)
    }

    /// A memfd that can be sealed (MFD_CLOEXEC | MFD_ALLOW_SEALING), of `size` bytes, mapped read-write.
    package static func sealableSharedMemory(name: String, size: Int) throws(Errno) -> (FD, UnsafeMutableRawPointer) {
        let fd = cms_memfd_sealable(name)
        guard fd >= 0 else { throw .current("memfd_create") }
        do throws(Errno) {
            try truncate(fd, size: size)
            return (fd, try mapShared(fd, size: size))
        } catch {
            close(fd)
            throw error
        }
    }

    package static func addSeals(_ fd: FD, _ seals: Seals) throws(Errno) {
        guard cms_add_seals(fd, seals.rawValue) == 0 else { throw .current("fcntl(F_ADD_SEALS)") }
    }

    package static func seals(_ fd: FD) -> Seals {
        let s = cms_get_seals(fd)
        return s < 0 ? [] : Seals(rawValue: s)
    }

    package static func mapReadOnly(_ fd: FD, size: Int) throws(Errno) -> UnsafeRawPointer {
        guard let p = cms_map_read_only(fd, size) else { throw .current("mmap(PROT_READ)") }
        return UnsafeRawPointer(p)
    }

    package static func livenessInit(_ p: UnsafeMutableRawPointer) throws(Errno) {
        guard cms_liveness_init(p) == 0 else { throw .current("pthread_mutex_init") }
    }

    package static func livenessHold(_ p: UnsafeMutableRawPointer) throws(Errno) {
        guard cms_liveness_hold(p) == 0 else { throw .current("pthread_mutex_lock") }
    }

    package static func livenessRelease(_ p: UnsafeMutableRawPointer) { cms_liveness_release(p) }

    @inline(__always)
    package static func livenessAlive(_ p: UnsafeRawPointer) -> Bool { cms_liveness_alive(p) != 0 }

    /// Whether the peer of a connected socket has closed or shut it down (no wait).
    package static func peerHungUp(_ fd: FD) -> Bool { cms_peer_hung_up(fd) != 0 }

    /// A full memory fence (a store before it is visible before a load after it).
    @inline(__always)
    package static func fence() { cms_fence() }

    package static func yield() { _ = cms_yield() }

    /// CLOCK_MONOTONIC in ns (vDSO): the one clock of record stamps.
    @inline(__always)
    package static func monotonicNow() -> UInt64 { cms_monotonic_ns() }

    /// Receives a small record and the descriptors attached to it without waiting; nil when none waits.
    package static func receiveDescriptorsNow(_ socket: FD, maxPayload: Int) throws(Errno) -> ([UInt8], [FD])? {
        var buffer = [UInt8](repeating: 0, count: maxPayload)
        var fds = [Int32](repeating: -1, count: 8)
        var received: Int32 = 0
        guard let r = try retryingUnlessWouldBlock("recvmsg(SCM_RIGHTS)", {
            buffer.withUnsafeMutableBytes { b in cms_recv_fds(socket, b.baseAddress, b.count, &fds, 8, &received) }
        }) else { return nil }
        return (Array(buffer[0..<r]), Array(fds[0..<Int(received)]))
    }
}
