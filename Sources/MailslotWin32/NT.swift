// The NT entry points mailslot code and Windows' own conformance tests call: NtCreateMailslotFile,
// NtReadFile, NtWriteFile, NtQueryInformationFile and NtSetInformationFile, with NTSTATUS results. As on
// Windows, a call that fails before the operation starts leaves the IO_STATUS_BLOCK untouched.

#if canImport(Glibc)
import Glibc
#endif
import CMailslotWin32
import Mailslot

enum NTTime {
    /// FILE_MAILSLOT_QUERY_INFORMATION.ReadTimeout for "forever".
    static let forever = Int64.max

    /// A read timeout as NT reports it: milliseconds × −10000 (relative 100 ns units).
    static func from(_ timeout: MailslotTimeout) -> Int64 {
        guard let ms = timeout.milliseconds else { return forever }
        return Int64(ms) * -10_000
    }

    /// A relative NT time as a read timeout; nil for a value that is not a relative time.
    static func timeout(_ value: UnsafeMutablePointer<LARGE_INTEGER>?) -> MailslotTimeout? {
        guard let value else { return .forever }
        let q = value.pointee.QuadPart
        if q == forever || q == -1 { return .forever }
        if q == 0 { return .immediate }
        guard q < 0 else { return nil } // absolute times are not read timeouts
        let ms = (q.magnitude + 9_999) / 10_000
        return .milliseconds(UInt32(min(ms, UInt64(UInt32.max - 1))))
    }
}

/// The NT name spaces a mailslot lives in.
let mailslotPrefixes = ["\\??\\MAILSLOT\\", "\\DEVICE\\MAILSLOT\\"]

@_cdecl("NtCreateMailslotFile")
public func w32NtCreateMailslotFile(_ out: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, _ access: UInt32,
                                    _ attributes: UnsafeMutablePointer<OBJECT_ATTRIBUTES>?,
                                    _ iosb: UnsafeMutablePointer<IO_STATUS_BLOCK>?, _ options: UInt32, _ quota: UInt32,
                                    _ maxMessageSize: UInt32, _ readTimeout: UnsafeMutablePointer<LARGE_INTEGER>?) -> NTSTATUS {
    // The order of these checks is Windows' (om.c test_name_limits, W9).
    guard let out, let attributes, attributes.pointee.Length == UInt32(MemoryLayout<OBJECT_ATTRIBUTES>.size) else {
        return NTS.INVALID_PARAMETER
    }
    guard let objectName = attributes.pointee.ObjectName else {
        return attributes.pointee.RootDirectory == nil ? NTS.OBJECT_PATH_SYNTAX_BAD : NTS.OBJECT_NAME_INVALID
    }
    let length = Int(objectName.pointee.Length)
    if length % 2 != 0 { return NTS.OBJECT_NAME_INVALID }
    if attributes.pointee.RootDirectory != nil {
        // Opening relative to a directory handle needs an object directory, which mailslots here do not have.
        return lookup(attributes.pointee.RootDirectory) == nil ? NTS.INVALID_HANDLE : NTS.OBJECT_TYPE_MISMATCH
    }
    if length == 0 { return NTS.OBJECT_PATH_SYNTAX_BAD }
    if length > 65532 || objectName.pointee.Buffer == nil { return NTS.OBJECT_NAME_INVALID }
    let units = UnsafeBufferPointer(start: objectName.pointee.Buffer, count: length / 2)
    guard let text = String(validating: units, as: UTF16.self) else { return NTS.OBJECT_NAME_INVALID }
    let upper = text.uppercased()
    guard let prefix = mailslotPrefixes.first(where: { upper.hasPrefix($0) }) else { return NTS.OBJECT_NAME_INVALID }
    let path = String(text.dropFirst(prefix.count))
    guard let timeout = NTTime.timeout(readTimeout) else { return NTS.INVALID_PARAMETER }

    var rule = SecurityDescriptors.Grant(access: .owner, network: false)
    if let descriptor = attributes.pointee.SecurityDescriptor {
        guard let given = SecurityDescriptors.grant(of: descriptor) else { return NTS.INVALID_PARAMETER }
        rule = given
    }
    let name: MailslotName
    do throws(MailslotError) {
        // A UNICODE_STRING holds 32,766 UTF-16 units: NT names are not held to Win32's MAX_PATH.
        name = try MailslotName(parsing: "\\\\.\\mailslot\\" + path, longestName: 32_766)
    } catch {
        return NTS.OBJECT_NAME_INVALID
    }
    let effectiveQuota = quota == 0 ? MailslotLimits.defaultQuota : min(max(Int(quota), MailslotLimits.smallestQuota), MailslotLimits.largestQuota)
    do throws(MailslotError) {
        let server = try MailslotServer(name: name, maxMessageSize: maxMessageSize, readTimeout: timeout,
                                        options: .init(access: rule.access, allowNetwork: rule.network, quota: effectiveQuota))
        let synchronous = options & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT) != 0
        let writeAccess = access & (GENERIC_WRITE | GENERIC_ALL | UInt32(FILE_WRITE_DATA)) != 0
        let object = ServerObject(server: server, synchronous: synchronous, writeAccess: writeAccess, requestedQuota: quota)
        out.pointee = register(object, inherit: attributes.pointee.Attributes & OBJ_INHERIT != 0)
        iosb?.pointee.Status = NTS.SUCCESS
        iosb?.pointee.Information = 2 // FILE_CREATED
        return NTS.SUCCESS
    } catch {
        return NTStatus.from(error.code)
    }
}

@_cdecl("NtReadFile")
public func w32NtReadFile(_ handle: UnsafeMutableRawPointer?, _ eventHandle: UnsafeMutableRawPointer?, _ apc: PIO_APC_ROUTINE?,
                          _ apcContext: UnsafeMutableRawPointer?, _ iosb: UnsafeMutablePointer<IO_STATUS_BLOCK>?,
                          _ buffer: UnsafeMutableRawPointer?, _ length: UInt32, _ offset: UnsafeMutablePointer<LARGE_INTEGER>?,
                          _ key: UnsafeMutablePointer<UInt32>?) -> NTSTATUS {
    guard apc == nil else { return NTS.NOT_SUPPORTED } // APCs need alertable waits, which do not exist here
    guard let object = lookup(handle) else { return NTS.INVALID_HANDLE }
    guard let server = object as? ServerObject else {
        return object is ClientObject ? NTS.INVALID_PARAMETER : NTS.OBJECT_TYPE_MISMATCH // W43
    }
    guard let iosb else { return NTS.INVALID_PARAMETER }
    let resolved = operationEvent(eventHandle)
    if resolved.isInvalid { return NTS.INVALID_HANDLE }
    let event = resolved.object
    if buffer == nil && length > 0 { return NTS.ACCESS_VIOLATION }
    let bytes = UnsafeMutableRawBufferPointer(start: buffer, count: buffer == nil ? 0 : Int(length))
    switch server.startRead(buffer: bytes, target: .statusBlock(iosb), event: event) {
    case .completed: return NTS.SUCCESS
    case .pending: return NTS.PENDING
    case .failed(let status): return status
    }
}

@_cdecl("NtWriteFile")
public func w32NtWriteFile(_ handle: UnsafeMutableRawPointer?, _ eventHandle: UnsafeMutableRawPointer?, _ apc: PIO_APC_ROUTINE?,
                           _ apcContext: UnsafeMutableRawPointer?, _ iosb: UnsafeMutablePointer<IO_STATUS_BLOCK>?,
                           _ buffer: UnsafeRawPointer?, _ length: UInt32, _ offset: UnsafeMutablePointer<LARGE_INTEGER>?,
                           _ key: UnsafeMutablePointer<UInt32>?) -> NTSTATUS {
    guard apc == nil else { return NTS.NOT_SUPPORTED }
    guard let object = lookup(handle) else { return NTS.INVALID_HANDLE }
    guard let iosb else { return NTS.INVALID_PARAMETER }
    let resolved = operationEvent(eventHandle)
    if resolved.isInvalid { return NTS.INVALID_HANDLE }
    let event = resolved.object
    let status = writeMessage(object, buffer, length)
    guard status == NTS.SUCCESS else { return status } // W42, W44: IOSB untouched
    Hub.shared.withLock { object.completed(status: NTS.SUCCESS, bytes: Int(length), into: .statusBlock(iosb), event: event) }
    return NTS.SUCCESS
}

@_cdecl("NtQueryInformationFile")
public func w32NtQueryInformationFile(_ handle: UnsafeMutableRawPointer?, _ iosb: UnsafeMutablePointer<IO_STATUS_BLOCK>?,
                                      _ information: UnsafeMutableRawPointer?, _ length: UInt32,
                                      _ infoClass: FILE_INFORMATION_CLASS) -> NTSTATUS {
    guard let object = lookup(handle) else { return NTS.INVALID_HANDLE }
    guard infoClass == FileMailslotQueryInformation else { return NTS.INVALID_INFO_CLASS }
    let size = MemoryLayout<FILE_MAILSLOT_QUERY_INFORMATION>.size
    guard Int(length) >= size else { return NTS.INFO_LENGTH_MISMATCH } // W40
    guard let information, let iosb else { return NTS.INVALID_PARAMETER }
    switch mailslotInfo(object) {
    case .success(let (info, quota)):
        var out = FILE_MAILSLOT_QUERY_INFORMATION()
        out.MaximumMessageSize = info.maxMessageSize
        out.MailslotQuota = quota
        out.NextMessageSize = info.win32NextMessageSize
        out.MessagesAvailable = UInt32(clamping: info.messageCount)
        out.ReadTimeout.QuadPart = NTTime.from(info.readTimeout)
        information.storeBytes(of: out, as: FILE_MAILSLOT_QUERY_INFORMATION.self)
        iosb.pointee.Status = NTS.SUCCESS
        iosb.pointee.Information = UInt(size)
        return NTS.SUCCESS
    case .failure(let error):
        return NTStatus.from(error.code)
    }
}

@_cdecl("NtSetInformationFile")
public func w32NtSetInformationFile(_ handle: UnsafeMutableRawPointer?, _ iosb: UnsafeMutablePointer<IO_STATUS_BLOCK>?,
                                    _ information: UnsafeMutableRawPointer?, _ length: UInt32,
                                    _ infoClass: FILE_INFORMATION_CLASS) -> NTSTATUS {
    guard let object = lookup(handle) else { return NTS.INVALID_HANDLE }
    guard infoClass == FileMailslotSetInformation else { return NTS.INVALID_INFO_CLASS }
    guard Int(length) >= MemoryLayout<FILE_MAILSLOT_SET_INFORMATION>.size else { return NTS.INFO_LENGTH_MISMATCH }
    guard let information, let iosb else { return NTS.INVALID_PARAMETER }
    guard let server = object as? ServerObject else { return NTS.ACCESS_DENIED }
    let set = information.load(as: FILE_MAILSLOT_SET_INFORMATION.self)
    guard let timeout = NTTime.timeout(set.ReadTimeout) else { return NTS.INVALID_PARAMETER }
    do throws(MailslotError) {
        try server.server.setReadTimeout(timeout)
    } catch {
        return NTStatus.from(error.code)
    }
    iosb.pointee.Status = NTS.SUCCESS
    iosb.pointee.Information = 0
    return NTS.SUCCESS
}
