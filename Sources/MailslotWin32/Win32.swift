// The Win32 mailslot, handle and event functions for C callers (include/mailslot_win32.h in
// CMailslotWin32). Each maps to the Swift API and reports failures through the per-thread last error,
// as Windows does. The Swift names are prefixed; the C names come from @_cdecl.

#if canImport(Glibc)
import Glibc
#endif
import CMailslotWin32
import Mailslot

// MARK: helpers

var invalidHandleValue: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: -1) }

@inline(__always) func fail(_ code: UInt32) -> Int32 {
    SetLastError(code)
    return 0
}

@inline(__always) func fail(_ code: MailslotError.Code) -> Int32 { fail(code.rawValue) }

@inline(__always) func succeed() -> Int32 {
    SetLastError(0)
    return 1
}

func handleValue(_ key: UInt) -> UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: key) }

/// A NUL-terminated UTF-8 string; nil when it is not valid UTF-8 (two different byte strings must never
/// become one name, so invalid bytes are refused rather than replaced).
func narrowString(_ p: UnsafePointer<CChar>) -> String? {
    let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p))
    return String(validating: bytes, as: UTF8.self)
}

/// A NUL-terminated UTF-16 string; nil when it holds an unpaired surrogate.
func wideString(_ p: UnsafePointer<WCHAR>) -> String? {
    var n = 0
    while p[n] != 0 { n += 1 }
    return String(validating: UnsafeBufferPointer(start: p, count: n), as: UTF16.self)
}

func lookup(_ handle: UnsafeMutableRawPointer?) -> KernelObject? {
    Hub.shared.withLock { Hub.shared.object(handle) }
}

/// The access rule, network opt-in and inheritance a SECURITY_ATTRIBUTES asks for.
func attributes(_ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?) -> (grant: SecurityDescriptors.Grant, inherit: Bool)? {
    let none = SecurityDescriptors.Grant(access: .owner, network: false)
    guard let sa else { return (none, false) }
    let inherit = sa.pointee.bInheritHandle != 0
    guard let descriptor = sa.pointee.lpSecurityDescriptor else { return (none, inherit) }
    guard let grant = SecurityDescriptors.grant(of: descriptor) else { return nil }
    return (grant, inherit)
}

func register(_ object: KernelObject, inherit: Bool) -> UnsafeMutableRawPointer? {
    let hub = Hub.shared
    let key: UInt = hub.withLock {
        let key = hub.insert(object, inherit: inherit)
        if inherit { Inheritance.update(key, hub.handles[key]) }
        return key
    }
    return handleValue(key)
}

// MARK: mailslots

/// A name as the A and W functions pass it: nil for a NULL pointer; `.some(nil)` for one that did not decode.
typealias GivenName = String??

/// The name, or the error to report: ERROR_PATH_NOT_FOUND for NULL (W2), ERROR_INVALID_NAME for bytes that
/// are not valid UTF-8/UTF-16.
func decodedName(_ given: GivenName) -> String? {
    switch given {
    case .none: SetLastError(ERROR_PATH_NOT_FOUND); return nil
    case .some(.none): SetLastError(ERROR_INVALID_NAME); return nil
    case .some(.some(let name)): return name
    }
}

func createMailslot(_ given: GivenName, _ maxMessageSize: UInt32, _ readTimeout: UInt32,
                    _ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?) -> UnsafeMutableRawPointer? {
    guard let name = decodedName(given) else { return invalidHandleValue }
    guard let (grant, inherit) = attributes(sa) else {
        SetLastError(ERROR_INVALID_SECURITY_DESCR)
        return invalidHandleValue
    }
    do throws(MailslotError) {
        let server = try MailslotServer(name: name, maxMessageSize: maxMessageSize, readTimeout: MailslotTimeout(rawValue: readTimeout),
                                        options: .init(access: grant.access, allowNetwork: grant.network))
        let handle = register(ServerObject(server: server, synchronous: true, writeAccess: false, requestedQuota: 0), inherit: inherit)
        SetLastError(0)
        return handle
    } catch {
        SetLastError(error.code.rawValue)
        return invalidHandleValue
    }
}

@_cdecl("CreateMailslotA")
public func w32CreateMailslotA(_ name: UnsafePointer<CChar>?, _ maxMessageSize: UInt32, _ readTimeout: UInt32,
                               _ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?) -> UnsafeMutableRawPointer? {
    createMailslot(name.map(narrowString), maxMessageSize, readTimeout, sa)
}

@_cdecl("CreateMailslotW")
public func w32CreateMailslotW(_ name: UnsafePointer<WCHAR>?, _ maxMessageSize: UInt32, _ readTimeout: UInt32,
                               _ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?) -> UnsafeMutableRawPointer? {
    createMailslot(name.map(wideString), maxMessageSize, readTimeout, sa)
}

/// Whether `text` is spelled like a mailslot name (`\\host\mailslot\...`), so that a malformed one gets
/// ERROR_INVALID_NAME and any other path ERROR_NOT_SUPPORTED.
func looksLikeMailslot(_ text: String) -> Bool {
    let normalized = text.replacingSlashes
    let parts = normalized.split(separator: "\\", omittingEmptySubsequences: false)
    return normalized.hasPrefix("\\\\") && parts.count >= 4 && parts[3].uppercased() == "MAILSLOT"
}

extension String {
    var replacingSlashes: String { String(map { $0 == "/" ? "\\" : $0 }) }
}

func openClient(_ given: GivenName, _ access: UInt32, _ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?) -> UnsafeMutableRawPointer? {
    guard let name = decodedName(given) else { return invalidHandleValue }
    guard looksLikeMailslot(name) else {
        SetLastError(ERROR_NOT_SUPPORTED) // this CreateFile opens mailslots only
        return invalidHandleValue
    }
    do throws(MailslotError) {
        let writer = try MailslotWriter(opening: name)
        let canWrite = access & (GENERIC_WRITE | GENERIC_ALL | UInt32(FILE_WRITE_DATA)) != 0
        let handle = register(ClientObject(writer: writer, canWrite: canWrite), inherit: (sa?.pointee.bInheritHandle ?? 0) != 0)
        SetLastError(0)
        return handle
    } catch {
        SetLastError(error.code.rawValue)
        return invalidHandleValue
    }
}

@_cdecl("CreateFileA")
public func w32CreateFileA(_ name: UnsafePointer<CChar>?, _ access: UInt32, _ share: UInt32,
                           _ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?, _ disposition: UInt32, _ flags: UInt32,
                           _ template: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    openClient(name.map(narrowString), access, sa)
}

@_cdecl("CreateFileW")
public func w32CreateFileW(_ name: UnsafePointer<WCHAR>?, _ access: UInt32, _ share: UInt32,
                           _ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?, _ disposition: UInt32, _ flags: UInt32,
                           _ template: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    openClient(name.map(wideString), access, sa)
}

/// The mailslot's state for GetMailslotInfo and NtQueryInformationFile, from a server handle or, as on
/// Windows 8 and later, from a client handle (W38): asked of the server in this process or in another.
func mailslotInfo(_ object: KernelObject) -> Result<(MailslotInfo, quota: UInt32), MailslotError> {
    if let server = object as? ServerObject {
        do throws(MailslotError) { return .success((try server.server.info(), server.requestedQuota)) } catch { return .failure(error) }
    }
    if let client = object as? ClientObject {
        // A server in this process reports its quota as its creator gave it; another process's is asked.
        let key = client.writer.name.key
        let local: ServerObject? = client.writer.name.isLocal ? Hub.shared.withLock {
            Hub.shared.handles.values.lazy.compactMap { $0.object as? ServerObject }.first { $0.server.name.key == key && !$0.server.isClosed }
        } : nil
        do throws(MailslotError) {
            if let local { return .success((try local.server.info(), local.requestedQuota)) }
            return .success((try client.writer.info(), 0))
        } catch {
            return .failure(error)
        }
    }
    return .failure(MailslotError(.invalidHandle, "not a mailslot handle"))
}

@_cdecl("GetMailslotInfo")
public func w32GetMailslotInfo(_ handle: UnsafeMutableRawPointer?, _ maxMessageSize: UnsafeMutablePointer<UInt32>?,
                               _ nextSize: UnsafeMutablePointer<UInt32>?, _ messageCount: UnsafeMutablePointer<UInt32>?,
                               _ readTimeout: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let object = lookup(handle) else { return fail(ERROR_INVALID_HANDLE) }
    switch mailslotInfo(object) {
    case .success(let (info, _)):
        maxMessageSize?.pointee = info.maxMessageSize
        nextSize?.pointee = info.win32NextMessageSize
        messageCount?.pointee = UInt32(clamping: info.messageCount)
        readTimeout?.pointee = info.readTimeout.rawValue
        return succeed()
    case .failure(let error):
        return fail(error.code)
    }
}

@_cdecl("SetMailslotInfo")
public func w32SetMailslotInfo(_ handle: UnsafeMutableRawPointer?, _ readTimeout: UInt32) -> Int32 {
    guard let object = lookup(handle) else { return fail(ERROR_INVALID_HANDLE) }
    guard let server = object as? ServerObject else { return fail(ERROR_ACCESS_DENIED) }
    do throws(MailslotError) {
        try server.server.setReadTimeout(MailslotTimeout(rawValue: readTimeout))
        return succeed()
    } catch {
        return fail(error.code)
    }
}

// MARK: reading and writing

/// The event of an OVERLAPPED (or of an NT call), reset as Windows resets it when an operation starts.
/// `.invalid` when the handle is not an event.
enum OverlappedEvent {
    case none
    case event(EventObject)
    case invalid

    var object: EventObject? { if case .event(let e) = self { return e } else { return nil } }
    var isInvalid: Bool { if case .invalid = self { return true } else { return false } }
}

func overlappedEvent(_ ov: UnsafeMutablePointer<OVERLAPPED>?) -> OverlappedEvent {
    guard let ov, let raw = ov.pointee.hEvent else { return .none }
    // The low bit of hEvent asks Windows not to queue a completion port packet: it is still the event.
    return operationEvent(UnsafeMutableRawPointer(bitPattern: UInt(bitPattern: raw) & ~1))
}

/// The event handle of an operation (an NT call's Event, an OVERLAPPED's hEvent), reset.
func operationEvent(_ handle: UnsafeMutableRawPointer?) -> OverlappedEvent {
    guard let handle else { return .none }
    return Hub.shared.withLock {
        guard let event = Hub.shared.object(handle) as? EventObject else { return .invalid }
        event.signalled = false
        return .event(event)
    }
}

@_cdecl("ReadFile")
public func w32ReadFile(_ handle: UnsafeMutableRawPointer?, _ buffer: UnsafeMutableRawPointer?, _ count: UInt32,
                        _ read: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<OVERLAPPED>?) -> Int32 {
    read?.pointee = 0
    guard let object = lookup(handle) else { return fail(ERROR_INVALID_HANDLE) }
    guard let server = object as? ServerObject else {
        return fail(object is ClientObject ? ERROR_INVALID_PARAMETER : ERROR_INVALID_HANDLE) // W21
    }
    let resolved = overlappedEvent(ov)
    if resolved.isInvalid { return fail(ERROR_INVALID_HANDLE) }
    let event = resolved.object
    if buffer == nil && count > 0 { return fail(ERROR_NOACCESS) } // as Windows, which probes the buffer
    let bytes = UnsafeMutableRawBufferPointer(start: buffer, count: buffer == nil ? 0 : Int(count))
    if let ov {
        IOResult.markPending(ov)
        switch server.startRead(buffer: bytes, target: .overlapped(ov), event: event) {
        case .completed(let n):
            read?.pointee = UInt32(n)
            return succeed()
        case .pending:
            return fail(ERROR_IO_PENDING)
        case .failed(let status):
            ov.pointee.Internal = UInt(bitPattern: Int(status))
            return fail(RtlNtStatusToDosError(status))
        }
    }
    // No OVERLAPPED: wait for the result even on an asynchronous handle.
    var block = IO_STATUS_BLOCK()
    block.Status = NTS.PENDING
    return withUnsafeMutablePointer(to: &block) { iosb -> Int32 in
        switch server.startRead(buffer: bytes, target: .statusBlock(iosb), event: nil) {
        case .completed(let n):
            read?.pointee = UInt32(n)
            return succeed()
        case .failed(let status):
            return fail(RtlNtStatusToDosError(status))
        case .pending:
            let hub = Hub.shared
            hub.lock()
            while iosb.pointee.Status == NTS.PENDING { _ = hub.wait(until: nil) }
            let status = iosb.pointee.Status
            let n = iosb.pointee.Information
            hub.unlock()
            guard status == NTS.SUCCESS else { return fail(RtlNtStatusToDosError(status)) }
            read?.pointee = UInt32(n)
            return succeed()
        }
    }
}

/// Writes one message through a client handle; the status is the NT one.
func writeMessage(_ object: KernelObject, _ buffer: UnsafeRawPointer?, _ count: UInt32) -> NTSTATUS {
    if let server = object as? ServerObject {
        // The server end never writes: W19/W42 (read-only handle), W44 (a handle with write access).
        return server.writeAccess ? NTS.INVALID_PARAMETER : NTS.ACCESS_DENIED
    }
    guard let client = object as? ClientObject else { return NTS.INVALID_HANDLE }
    guard client.canWrite else { return NTS.ACCESS_DENIED }
    if buffer == nil && count > 0 { return NTS.ACCESS_VIOLATION } // a NULL buffer is not a zero-length message
    Hub.shared.withLock { client.signalled = false }
    do throws(MailslotError) {
        try client.writer.write(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : Int(count)))
        return NTS.SUCCESS
    } catch {
        return NTStatus.from(error.code)
    }
}

@_cdecl("WriteFile")
public func w32WriteFile(_ handle: UnsafeMutableRawPointer?, _ buffer: UnsafeRawPointer?, _ count: UInt32,
                         _ written: UnsafeMutablePointer<UInt32>?, _ ov: UnsafeMutablePointer<OVERLAPPED>?) -> Int32 {
    written?.pointee = 0
    guard let object = lookup(handle) else { return fail(ERROR_INVALID_HANDLE) }
    if object is EventObject { return fail(ERROR_INVALID_HANDLE) }
    let resolved = overlappedEvent(ov)
    if resolved.isInvalid { return fail(ERROR_INVALID_HANDLE) }
    let event = resolved.object
    if let ov { IOResult.markPending(ov) }
    let status = writeMessage(object, buffer, count)
    guard status == NTS.SUCCESS else {
        if let ov { ov.pointee.Internal = UInt(bitPattern: Int(status)) }
        return fail(RtlNtStatusToDosError(status))
    }
    Hub.shared.withLock { object.completed(status: NTS.SUCCESS, bytes: Int(count), into: ov.map { .overlapped($0) }, event: event) }
    written?.pointee = count
    return succeed()
}

@_cdecl("GetOverlappedResult")
public func w32GetOverlappedResult(_ handle: UnsafeMutableRawPointer?, _ ov: UnsafeMutablePointer<OVERLAPPED>?,
                                   _ transferred: UnsafeMutablePointer<UInt32>?, _ wait: Int32) -> Int32 {
    guard let ov else { return fail(ERROR_INVALID_PARAMETER) }
    guard lookup(handle) != nil else { return fail(ERROR_INVALID_HANDLE) }
    let hub = Hub.shared
    hub.lock()
    while IOResult.status(of: ov) == NTS.PENDING {
        guard wait != 0 else {
            hub.unlock()
            return fail(ERROR_IO_INCOMPLETE)
        }
        _ = hub.wait(until: nil)
    }
    let status = IOResult.status(of: ov)
    let n = ov.pointee.InternalHigh
    hub.unlock()
    transferred?.pointee = UInt32(truncatingIfNeeded: n)
    guard status >= 0 else { return fail(RtlNtStatusToDosError(status)) } // NT_SUCCESS
    return succeed()
}

@_cdecl("CancelIo")
public func w32CancelIo(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    guard let object = lookup(handle) else { return fail(ERROR_INVALID_HANDLE) }
    if let server = object as? ServerObject { _ = server.cancelReads(thread: pthread_self(), overlapped: nil) }
    return succeed()
}

@_cdecl("CancelIoEx")
public func w32CancelIoEx(_ handle: UnsafeMutableRawPointer?, _ ov: UnsafeMutablePointer<OVERLAPPED>?) -> Int32 {
    guard let object = lookup(handle) else { return fail(ERROR_INVALID_HANDLE) }
    guard let server = object as? ServerObject, server.cancelReads(thread: nil, overlapped: ov) > 0 else {
        return fail(ERROR_NOT_FOUND)
    }
    return succeed()
}

// MARK: handles

@_cdecl("CloseHandle")
public func w32CloseHandle(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    if handle == invalidHandleValue { return succeed() } // GetCurrentProcess()'s pseudo-handle
    enum Closed { case unknown, closed, last(KernelObject) }
    let hub = Hub.shared
    let outcome: Closed = hub.withLock {
        guard let handle, let entry = hub.handles.removeValue(forKey: UInt(bitPattern: handle)) else { return .unknown }
        if entry.inherit { Inheritance.update(UInt(bitPattern: handle), nil) }
        entry.object.handleCount -= 1
        guard entry.object.handleCount == 0 else { return .closed }
        entry.object.destroyed = true
        hub.broadcast() // waiters on it wake (WAIT_FAILED, ERROR_OPERATION_ABORTED)
        return .last(entry.object)
    }
    switch outcome {
    case .unknown: return fail(ERROR_INVALID_HANDLE)
    case .closed: return succeed()
    case .last(let object):
        object.destroy()
        return succeed()
    }
}

@_cdecl("NtClose")
public func w32NtClose(_ handle: UnsafeMutableRawPointer?) -> NTSTATUS {
    w32CloseHandle(handle) != 0 ? NTS.SUCCESS : NTS.INVALID_HANDLE
}

@_cdecl("DuplicateHandle")
public func w32DuplicateHandle(_ sourceProcess: UnsafeMutableRawPointer?, _ source: UnsafeMutableRawPointer?,
                               _ targetProcess: UnsafeMutableRawPointer?, _ target: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                               _ access: UInt32, _ inherit: Int32, _ options: UInt32) -> Int32 {
    let me = GetCurrentProcess()
    guard sourceProcess == me, targetProcess == me || target == nil else { return fail(ERROR_INVALID_HANDLE) }
    let hub = Hub.shared
    let duplicate: UInt? = hub.withLock {
        guard let source, let entry = hub.handles[UInt(bitPattern: source)] else { return nil }
        guard target != nil else { return 0 }
        let key = hub.insert(entry.object, inherit: inherit != 0)
        if inherit != 0 { Inheritance.update(key, hub.handles[key]) }
        return key
    }
    guard let duplicate else { return fail(ERROR_INVALID_HANDLE) }
    if duplicate != 0 { target?.pointee = handleValue(duplicate) }
    if options & DUPLICATE_CLOSE_SOURCE != 0 { _ = w32CloseHandle(source) }
    return succeed()
}

@_cdecl("GetHandleInformation")
public func w32GetHandleInformation(_ handle: UnsafeMutableRawPointer?, _ flags: UnsafeMutablePointer<UInt32>?) -> Int32 {
    let entry = Hub.shared.withLock { handle.flatMap { Hub.shared.handles[UInt(bitPattern: $0)] } }
    guard let entry else { return fail(ERROR_INVALID_HANDLE) }
    flags?.pointee = entry.inherit ? HANDLE_FLAG_INHERIT : 0
    return succeed()
}

@_cdecl("SetHandleInformation")
public func w32SetHandleInformation(_ handle: UnsafeMutableRawPointer?, _ mask: UInt32, _ flags: UInt32) -> Int32 {
    let hub = Hub.shared
    let ok: Bool = hub.withLock {
        guard let handle, var entry = hub.handles[UInt(bitPattern: handle)] else { return false }
        if mask & HANDLE_FLAG_INHERIT != 0 {
            entry.inherit = flags & HANDLE_FLAG_INHERIT != 0
            hub.handles[UInt(bitPattern: handle)] = entry
            Inheritance.update(UInt(bitPattern: handle), entry)
        }
        return true
    }
    return ok ? succeed() : fail(ERROR_INVALID_HANDLE)
}

// MARK: events and waits

/// `given`: nil for an unnamed event (a NULL name is allowed here); `.some(nil)` for a name that did not
/// decode (ERROR_INVALID_NAME).
func createEvent(_ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?, _ manual: Int32, _ initial: Int32, _ given: GivenName) -> UnsafeMutableRawPointer? {
    if case .some(.none) = given {
        SetLastError(ERROR_INVALID_NAME)
        return nil
    }
    let name = given ?? nil
    let hub = Hub.shared
    let (key, existed): (UInt, Bool) = hub.withLock {
        if let name, let event = hub.namedEvents[name], !event.destroyed {
            return (hub.insert(event, inherit: false), true)
        }
        let event = EventObject(manualReset: manual != 0, initialState: initial != 0, name: name)
        if let name { hub.namedEvents[name] = event }
        return (hub.insert(event, inherit: false), false)
    }
    SetLastError(existed ? ERROR_ALREADY_EXISTS : 0)
    return handleValue(key)
}

@_cdecl("CreateEventA")
public func w32CreateEventA(_ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?, _ manual: Int32, _ initial: Int32,
                            _ name: UnsafePointer<CChar>?) -> UnsafeMutableRawPointer? {
    createEvent(sa, manual, initial, name.map(narrowString))
}

@_cdecl("CreateEventW")
public func w32CreateEventW(_ sa: UnsafeMutablePointer<SECURITY_ATTRIBUTES>?, _ manual: Int32, _ initial: Int32,
                            _ name: UnsafePointer<WCHAR>?) -> UnsafeMutableRawPointer? {
    createEvent(sa, manual, initial, name.map(wideString))
}

func setEventState(_ handle: UnsafeMutableRawPointer?, _ state: Bool) -> Int32 {
    let hub = Hub.shared
    let ok: Bool = hub.withLock {
        guard let event = hub.object(handle) as? EventObject else { return false }
        event.signalled = state
        if state { hub.broadcast() }
        return true
    }
    return ok ? succeed() : fail(ERROR_INVALID_HANDLE)
}

@_cdecl("SetEvent")
public func w32SetEvent(_ handle: UnsafeMutableRawPointer?) -> Int32 { setEventState(handle, true) }

@_cdecl("ResetEvent")
public func w32ResetEvent(_ handle: UnsafeMutableRawPointer?) -> Int32 { setEventState(handle, false) }

/// Waits until one (or all) of `handles` is signalled. The objects stay referenced during the wait; if
/// the last handle of one is closed meanwhile, the wait ends with WAIT_FAILED and ERROR_OPERATION_ABORTED.
func waitFor(_ handles: [UnsafeMutableRawPointer?], all: Bool, milliseconds: UInt32) -> UInt32 {
    let hub = Hub.shared
    let deadline = Clock.deadline(milliseconds: milliseconds)
    hub.lock()
    var objects: [KernelObject] = []
    for handle in handles {
        guard let object = hub.object(handle) else {
            hub.unlock()
            SetLastError(ERROR_INVALID_HANDLE)
            return WAIT_FAILED
        }
        if all, objects.contains(where: { $0 === object }) {
            hub.unlock()
            SetLastError(ERROR_INVALID_PARAMETER) // the same object twice in a wait-all
            return WAIT_FAILED
        }
        objects.append(object)
    }
    while true {
        if objects.contains(where: \.destroyed) {
            hub.unlock()
            SetLastError(ERROR_OPERATION_ABORTED)
            return WAIT_FAILED
        }
        if all {
            if objects.allSatisfy(\.signalled) {
                objects.forEach { $0.satisfiedWait() }
                hub.unlock()
                return WAIT_OBJECT_0
            }
        } else if let index = objects.firstIndex(where: \.signalled) {
            objects[index].satisfiedWait()
            hub.unlock()
            return WAIT_OBJECT_0 + UInt32(index)
        }
        if !hub.wait(until: deadline) {
            hub.unlock()
            return WAIT_TIMEOUT
        }
    }
}

@_cdecl("WaitForSingleObject")
public func w32WaitForSingleObject(_ handle: UnsafeMutableRawPointer?, _ milliseconds: UInt32) -> UInt32 {
    waitFor([handle], all: false, milliseconds: milliseconds)
}

@_cdecl("WaitForMultipleObjects")
public func w32WaitForMultipleObjects(_ count: UInt32, _ handles: UnsafePointer<UnsafeMutableRawPointer?>?, _ all: Int32,
                                      _ milliseconds: UInt32) -> UInt32 {
    guard let handles, count > 0, count <= 64 else {
        SetLastError(ERROR_INVALID_PARAMETER)
        return WAIT_FAILED
    }
    return waitFor(Array(UnsafeBufferPointer(start: handles, count: Int(count))), all: all != 0, milliseconds: milliseconds)
}

// MARK: security descriptors

func convertSDDL(_ text: String?, _ revision: UInt32, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                 _ size: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard let out, let text else { return fail(ERROR_INVALID_PARAMETER) }
    guard revision == SDDL_REVISION_1 else { return fail(ERROR_UNKNOWN_REVISION) }
    guard let grant = SDDLParser.grant(text, ownUID: geteuid()) else { return fail(ERROR_INVALID_PARAMETER) }
    guard let (descriptor, bytes) = SecurityDescriptors.make(grant) else { return fail(ERROR_NOT_ENOUGH_MEMORY) }
    out.pointee = descriptor
    size?.pointee = UInt32(bytes)
    return succeed()
}

@_cdecl("ConvertStringSecurityDescriptorToSecurityDescriptorA")
public func w32ConvertSDDLA(_ text: UnsafePointer<CChar>?, _ revision: UInt32, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                            _ size: UnsafeMutablePointer<UInt32>?) -> Int32 {
    convertSDDL(text.flatMap(narrowString), revision, out, size)
}

@_cdecl("ConvertStringSecurityDescriptorToSecurityDescriptorW")
public func w32ConvertSDDLW(_ text: UnsafePointer<WCHAR>?, _ revision: UInt32, _ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?,
                            _ size: UnsafeMutablePointer<UInt32>?) -> Int32 {
    convertSDDL(text.flatMap(wideString), revision, out, size)
}

@_cdecl("InitializeSecurityDescriptor")
public func w32InitializeSecurityDescriptor(_ descriptor: UnsafeMutableRawPointer?, _ revision: UInt32) -> Int32 {
    guard let descriptor else { return fail(ERROR_INVALID_PARAMETER) }
    guard revision == SECURITY_DESCRIPTOR_REVISION else { return fail(ERROR_UNKNOWN_REVISION) }
    let sd = descriptor.bindMemory(to: SECURITY_DESCRIPTOR.self, capacity: 1)
    sd.pointee = SECURITY_DESCRIPTOR()
    sd.pointee.Revision = 1
    return succeed()
}

@_cdecl("SetSecurityDescriptorDacl")
public func w32SetSecurityDescriptorDacl(_ descriptor: UnsafeMutableRawPointer?, _ present: Int32, _ dacl: UnsafeMutablePointer<ACL>?,
                                         _ defaulted: Int32) -> Int32 {
    guard let descriptor else { return fail(ERROR_INVALID_PARAMETER) }
    let sd = descriptor.assumingMemoryBound(to: SECURITY_DESCRIPTOR.self)
    guard sd.pointee.Revision == 1 else { return fail(ERROR_INVALID_SECURITY_DESCR) }
    guard dacl == nil || present == 0 else { return fail(ERROR_INVALID_PARAMETER) } // only the NULL DACL maps onto a rule
    if present != 0 { sd.pointee.Control |= SecurityDescriptors.daclPresent } else { sd.pointee.Control &= ~SecurityDescriptors.daclPresent }
    sd.pointee.Dacl = nil
    return succeed()
}
