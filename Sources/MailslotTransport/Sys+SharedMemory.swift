// Shared memory: memfd (sealable), mappings, holes, and the server's liveness word.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

extension Sys {
    // MARK: shared memory

    package static func memfd(name: String) throws(Errno) -> FD {
        let fd = cms_memfd_create(name)
        guard fd >= 0 else { throw .current("memfd_create") }
        return fd
    }

    package static func truncate(_ fd: FD, size: Int) throws(Errno) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .current("ftruncate") }
    }

    package static func fileSize(_ fd: FD) throws(Errno) -> Int {
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw .current("fstat") }
        return Int(st.st_size)
    }

    package static func mapShared(_ fd: FD, size: Int) throws(Errno) -> UnsafeMutableRawPointer {
        let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        guard let p, p != MAP_FAILED else { throw .current("mmap") }
        return p
    }

    package static func unmap(_ p: UnsafeMutableRawPointer, size: Int) { _ = munmap(p, size) }

    /// Gives pages of a shared-memory file back to the system (they read as zero afterwards).
    package static func punchHole(_ fd: FD, offset: Int, length: Int) {
        _ = cms_punch_hole(fd, Int64(offset), Int64(length))
    }

    // MARK: sealing and the liveness word (the per-writer rings)

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
}
