#if canImport(Glibc)
import Glibc
#endif

/// A value behind a `pthread_mutex_t`, the way SwiftNIO's `NIOLockedValueBox` keeps one.
///
/// The library uses this rather than Synchronization's `Mutex`, whose futex-based lock lives in the
/// uninstrumented standard library: ThreadSanitizer cannot see it and reports every access it guards as
/// a race. A pthread mutex it understands, so the sanitizer passes in CI mean something.
package final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    package init(_ value: Value) {
        self.value = value
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the lock held.
    @inline(__always)
    package func withLock<Result, Failure: Error>(_ body: (inout Value) throws(Failure) -> Result) throws(Failure) -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
