// Waiting and waking: poll, epoll, eventfd, futex, shared atomics and the shared mutex.
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CMailslotShim
import MailslotCore

extension Sys {
    // MARK: waiting

    package struct PollEvents: OptionSet, Sendable {
        package let rawValue: Int16
        package init(rawValue: Int16) { self.rawValue = rawValue }
        package static let readable = PollEvents(rawValue: Int16(POLLIN))
        package static let writable = PollEvents(rawValue: Int16(POLLOUT))
        package static let error = PollEvents(rawValue: Int16(POLLERR))
        package static let hangup = PollEvents(rawValue: Int16(POLLHUP))
    }

    /// poll(2) on one descriptor; timeout in ms (-1 forever). Returns the events, empty on timeout.
    package static func poll(_ fd: FD, _ events: PollEvents, timeoutMilliseconds: Int32) throws(Errno) -> PollEvents {
        var p = pollfd(fd: fd, events: events.rawValue, revents: 0)
        let r = Glibc.poll(&p, 1, timeoutMilliseconds)
        if r < 0 {
            if errno == EINTR { return [] }
            throw .current("poll")
        }
        return PollEvents(rawValue: p.revents)
    }

    /// poll(2) on several descriptors for readability; returns those that are readable (or in error).
    package static func pollMany(_ fds: [FD], timeoutMilliseconds: Int32) -> [FD] {
        var set = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        let r = Glibc.poll(&set, nfds_t(set.count), timeoutMilliseconds)
        guard r > 0 else { return [] }
        return set.filter { $0.revents != 0 }.map(\.fd)
    }

    package static func epollCreate() throws(Errno) -> FD {
        let fd = cms_epoll_create()
        guard fd >= 0 else { throw .current("epoll_create1") }
        return fd
    }

    package static let epollIn: UInt32 = 0x001

    /// Adds a descriptor; `token` comes back from ``epollWait``.
    package static func epollAdd(_ epfd: FD, _ fd: FD, events: UInt32, token: UInt64) throws(Errno) {
        guard cms_epoll_ctl(epfd, 1, fd, events, token) == 0 else { throw .current("epoll_ctl(ADD)") }
    }

    package static func epollModify(_ epfd: FD, _ fd: FD, events: UInt32, token: UInt64) throws(Errno) {
        guard cms_epoll_ctl(epfd, 3, fd, events, token) == 0 else { throw .current("epoll_ctl(MOD)") }
    }

    package static func epollRemove(_ epfd: FD, _ fd: FD) {
        _ = cms_epoll_ctl(epfd, 2, fd, 0, 0)
    }

    /// Waits for events; fills `tokens` and returns how many (0 on timeout or EINTR).
    package static func epollWait(_ epfd: FD, tokens: inout [UInt64], timeoutMilliseconds: Int32) throws(Errno) -> Int {
        let r = cms_epoll_wait(epfd, &tokens, Int32(tokens.count), timeoutMilliseconds)
        if r < 0 {
            if errno == EINTR { return 0 }
            throw .current("epoll_wait")
        }
        return Int(r)
    }

    package static func eventFD() throws(Errno) -> FD {
        let fd = cms_eventfd()
        guard fd >= 0 else { throw .current("eventfd") }
        return fd
    }

    /// Resets an eventfd counter to zero (it stops polling readable).
    package static func drainEventFD(_ fd: FD) {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }

    package static func signalEventFD(_ fd: FD) {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    // MARK: futex, shared atomics, the shared mutex

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

    /// A full memory fence (a store before it is visible before a load after it).
    @inline(__always)
    package static func fence() { cms_fence() }

    package static func yield() { _ = cms_yield() }

    /// Sleeps the calling thread for `microseconds` (tests' pauses; nothing in the library waits this way).
    package static func sleep(microseconds: UInt32) { _ = usleep(microseconds) }
}
