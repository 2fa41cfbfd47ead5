// The Win32 mailslot functions for C callers (see include/mailslot_win32.h). Each function maps to the
// Swift API and reports failures through a per-thread last-error value, as Windows does.

#if canImport(Glibc)
import Glibc
#endif
import Mailslot
import Synchronization

private enum Handles {
    enum Object {
        case server(MailslotServer)
        case writer(MailslotWriter)
    }
    // Handle values start at 0x100 so they never look like INVALID_HANDLE_VALUE or NULL.
    static let table = Mutex<(next: Int, objects: [Int: Object])>((0x100, [:]))

    static func insert(_ object: Object) -> UnsafeMutableRawPointer? {
        let key = table.withLock { t -> Int in
            let k = t.next
            t.next += 4
            t.objects[k] = object
            return k
        }
        return UnsafeMutableRawPointer(bitPattern: key)
    }

    static func get(_ handle: UnsafeMutableRawPointer?) -> Object? {
        guard let handle else { return nil }
        return table.withLock { $0.objects[Int(bitPattern: handle)] }
    }

    static func remove(_ handle: UnsafeMutableRawPointer?) -> Object? {
        guard let handle else { return nil }
        return table.withLock { $0.objects.removeValue(forKey: Int(bitPattern: handle)) }
    }
}

private var invalidHandle: UnsafeMutableRawPointer? { UnsafeMutableRawPointer(bitPattern: -1) }

private enum LastError {
    nonisolated(unsafe) static var key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    static func set(_ code: UInt32) { pthread_setspecific(key, UnsafeRawPointer(bitPattern: UInt(code) + 1)) }
    static var value: UInt32 {
        guard let p = pthread_getspecific(key) else { return 0 }
        return UInt32(UInt(bitPattern: p) - 1)
    }
}

@inline(__always) private func fail(_ code: MailslotError.Code) -> Int32 {
    LastError.set(code.rawValue)
    return 0
}

@_cdecl("GetLastError")
public func GetLastError() -> UInt32 { LastError.value }

@_cdecl("SetLastError")
public func SetLastError(_ code: UInt32) { LastError.set(code) }

@_cdecl("CreateMailslotA")
public func CreateMailslotA(_ name: UnsafePointer<CChar>?, _ maxMessageSize: UInt32, _ readTimeout: UInt32,
                            _ security: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let name else {
        LastError.set(MailslotError.Code.pathNotFound.rawValue)
        return invalidHandle
    }
    let access: WriterAccess = getenv("MAILSLOT_ACCESS").map { String(cString: $0) } == "everyone" ? .everyone : .owner
    do throws(MailslotError) {
        let server = try MailslotServer(name: String(cString: name), maxMessageSize: maxMessageSize,
                                        readTimeout: MailslotTimeout(rawValue: readTimeout), options: .init(access: access))
        LastError.set(0)
        return Handles.insert(.server(server))
    } catch {
        LastError.set(error.code.rawValue)
        return invalidHandle
    }
}

@_cdecl("GetMailslotInfo")
public func GetMailslotInfo(_ handle: UnsafeMutableRawPointer?, _ maxMessageSize: UnsafeMutablePointer<UInt32>?,
                            _ nextSize: UnsafeMutablePointer<UInt32>?, _ messageCount: UnsafeMutablePointer<UInt32>?,
                            _ readTimeout: UnsafeMutablePointer<UInt32>?) -> Int32 {
    guard case .server(let server) = Handles.get(handle) else { return fail(.invalidHandle) }
    do throws(MailslotError) {
        let info = try server.info()
        maxMessageSize?.pointee = info.maxMessageSize
        nextSize?.pointee = info.win32NextMessageSize
        messageCount?.pointee = UInt32(clamping: info.messageCount)
        readTimeout?.pointee = info.readTimeout.rawValue
        return 1
    } catch {
        return fail(error.code)
    }
}

@_cdecl("SetMailslotInfo")
public func SetMailslotInfo(_ handle: UnsafeMutableRawPointer?, _ readTimeout: UInt32) -> Int32 {
    guard case .server(let server) = Handles.get(handle) else { return fail(.invalidHandle) }
    do throws(MailslotError) {
        try server.setReadTimeout(MailslotTimeout(rawValue: readTimeout))
        return 1
    } catch {
        return fail(error.code)
    }
}

@_cdecl("CreateFileA")
public func CreateFileA(_ name: UnsafePointer<CChar>?, _ access: UInt32, _ share: UInt32, _ security: UnsafeMutableRawPointer?,
                        _ disposition: UInt32, _ flags: UInt32, _ template: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let name else {
        LastError.set(MailslotError.Code.pathNotFound.rawValue)
        return invalidHandle
    }
    do throws(MailslotError) {
        let writer = try MailslotWriter(opening: String(cString: name))
        LastError.set(0)
        return Handles.insert(.writer(writer))
    } catch {
        LastError.set(error.code.rawValue)
        return invalidHandle
    }
}

@_cdecl("ReadFile")
public func ReadFile(_ handle: UnsafeMutableRawPointer?, _ buffer: UnsafeMutableRawPointer?, _ count: UInt32,
                     _ read: UnsafeMutablePointer<UInt32>?, _ overlapped: UnsafeMutableRawPointer?) -> Int32 {
    read?.pointee = 0
    guard overlapped == nil else { return fail(.invalidParameter) }
    switch Handles.get(handle) {
    case .server(let server):
        do throws(MailslotError) {
            let n = try server.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: buffer == nil ? 0 : Int(count)))
            read?.pointee = UInt32(n)
            return 1
        } catch {
            return fail(error.code)
        }
    case .writer:
        return fail(.invalidParameter) // W21: reading a client handle
    case nil:
        return fail(.invalidHandle)
    }
}

@_cdecl("WriteFile")
public func WriteFile(_ handle: UnsafeMutableRawPointer?, _ buffer: UnsafeRawPointer?, _ count: UInt32,
                      _ written: UnsafeMutablePointer<UInt32>?, _ overlapped: UnsafeMutableRawPointer?) -> Int32 {
    written?.pointee = 0
    guard overlapped == nil else { return fail(.invalidParameter) }
    switch Handles.get(handle) {
    case .writer(let writer):
        do throws(MailslotError) {
            try writer.write(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : Int(count)))
            written?.pointee = count
            return 1
        } catch {
            return fail(error.code)
        }
    case .server:
        return fail(.accessDenied) // W19: writing the server handle
    case nil:
        return fail(.invalidHandle)
    }
}

@_cdecl("CloseHandle")
public func CloseHandle(_ handle: UnsafeMutableRawPointer?) -> Int32 {
    switch Handles.remove(handle) {
    case .server(let server): server.close(); return 1
    case .writer(let writer): writer.close(); return 1
    case nil: return fail(.invalidHandle)
    }
}
