// Shared memory: memfd, mappings, holes.
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

    package static func futexWait(_ word: UnsafeMutablePointer<UInt32>, expected: UInt32, timeoutNanoseconds: Int64) {
        _ = cms_futex_wait(word, expected, timeoutNanoseconds)
    }

    package static func futexWakeAll(_ word: UnsafeMutablePointer<UInt32>) {
        _ = cms_futex_wake(word, Int32.max)
    }

    package static func atomicLoad(_ word: UnsafeMutablePointer<UInt32>) -> UInt32 { cms_atomic_load_u32(word) }
    package static func atomicStore(_ word: UnsafeMutablePointer<UInt32>, _ v: UInt32) { cms_atomic_store_u32(word, v) }
    package static func atomicIncrement(_ word: UnsafeMutablePointer<UInt32>) { _ = cms_atomic_add_u32(word, 1) }
    package static func atomicAdd(_ word: UnsafeMutablePointer<UInt32>, _ v: UInt32) { _ = cms_atomic_add_u32(word, v) }

    package static let sharedMutexSize = Int(CMS_MUTEX_SIZE)
    package static func sharedMutexInit(_ p: UnsafeMutableRawPointer) throws(Errno) {
        guard cms_shm_mutex_init(p) == 0 else { throw .current("pthread_mutex_init") }
    }
    /// Returns true when the previous owner died holding the lock.
    @discardableResult
    package static func sharedMutexLock(_ p: UnsafeMutableRawPointer) -> Bool { cms_shm_mutex_lock(p) == 1 }
    package static func sharedMutexUnlock(_ p: UnsafeMutableRawPointer) { cms_shm_mutex_unlock(p) }
}
