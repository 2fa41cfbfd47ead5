// Handle inheritance across exec, as Windows' bInheritHandle: the child finds each inherited handle
// under the same HANDLE value. An inheritable handle is described in an environment variable of its own,
// MAILSLOT_WIN32_HANDLE_<value in hex>, which children started with exec (execve, posix_spawn with
// environ, system, popen) inherit; the library reads them at its first call in the child.
//   - a server handle:  s:<token of MailslotServer.inheritableHandle()> (its descriptors stay open across exec);
//   - a client handle:  c:<r|w>:<name> (the child opens the mailslot again under the same value).
// Events are not inherited (they belong to one process here).

#if canImport(Glibc)
import Glibc
#endif
import Mailslot

enum Inheritance {
    static let prefix = "MAILSLOT_WIN32_HANDLE_"

    static func variable(_ handle: UInt) -> String { prefix + String(handle, radix: 16) }

    /// Publishes or withdraws one handle for children. Call with the hub's lock held.
    static func update(_ handle: UInt, _ entry: HandleEntry?) {
        let name = variable(handle)
        guard let entry, entry.inherit else {
            unsetenv(name)
            refreshServerInheritance(entry?.object)
            return
        }
        switch entry.object {
        case let server as ServerObject:
            guard let token = try? server.server.inheritableHandle() else { return }
            setenv(name, "s:" + token, 1)
        case let client as ClientObject:
            setenv(name, "c:" + (client.canWrite ? "w:" : "r:") + client.writer.name.description, 1)
        default:
            break
        }
    }

    /// A server whose handles are no longer inheritable stops passing its descriptors to children.
    private static func refreshServerInheritance(_ object: KernelObject?) {
        guard let server = object as? ServerObject else { return }
        let stillInherited = Hub.shared.handles.values.contains { $0.object === server && $0.inherit }
        if !stillInherited { try? server.server.stopInheritance() }
    }

    /// Takes over the handles a parent passed down. Runs once, while the hub is created.
    static func adoptInherited(into hub: Hub) {
        var cursor = environ
        var found: [(UInt, String)] = []
        while let entry = cursor.pointee {
            let text = String(cString: entry)
            if text.hasPrefix(prefix), let eq = text.firstIndex(of: "=") {
                let key = text[text.index(text.startIndex, offsetBy: prefix.count)..<eq]
                if let handle = UInt(key, radix: 16) { found.append((handle, String(text[text.index(after: eq)...]))) }
            }
            cursor += 1
        }
        for (handle, value) in found {
            let object: KernelObject?
            if value.hasPrefix("s:") {
                object = (try? MailslotServer(inheriting: String(value.dropFirst(2)))).map {
                    ServerObject(server: $0, synchronous: true, writeAccess: false, requestedQuota: 0)
                }
            } else if value.hasPrefix("c:w:") || value.hasPrefix("c:r:") {
                object = (try? MailslotWriter(opening: String(value.dropFirst(4)))).map {
                    ClientObject(writer: $0, canWrite: value.hasPrefix("c:w:"))
                }
            } else {
                object = nil
            }
            guard let object else {
                unsetenv(variable(handle)) // the mailslot is gone: the handle is not valid here
                continue
            }
            hub.handles[handle] = HandleEntry(object: object, inherit: true)
            object.handleCount += 1
            hub.nextHandle = max(hub.nextHandle, handle + 4)
        }
    }
}
