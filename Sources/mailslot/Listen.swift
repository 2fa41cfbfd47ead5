import ArgumentParser
import Foundation
import Mailslot

struct Listen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a mailslot and print each message as it arrives.",
        discussion: """
            Prints one line per message: the message as text, or with --json one JSON object with `size`, \
            `data` (base64) and `text` (when the message is valid UTF-8). The mailslot exists while this \
            command runs and is deleted, with any unread messages, when it exits.

            Exits 0 after --count messages, and with error 121 ERROR_SEM_TIMEOUT when --timeout passes with \
            no message.
            """
    )

    @Argument(help: "The mailslot to create, e.g. '\\\\.\\mailslot\\app\\events'.")
    var name: String

    @Option(help: "The largest message writers may send, in bytes (0 = any size).")
    var maxMessageSize: UInt32 = 0

    @Option(help: "Milliseconds to wait for each message before giving up (default: wait forever).")
    var timeout: UInt32?

    @Option(help: "Exit after this many messages.")
    var count: Int?

    @Flag(help: "Let every local user write (default: only this user and root).")
    var allowEveryone = false

    @Option(help: "Also let members of this group id write.")
    var allowGroup: UInt32?

    @Flag(help: "Take messages from other machines too, through mailslotd (default: local writers only).")
    var allowNetwork = false

    @Option(help: "Memory quota for waiting messages, in bytes (default 64 MiB).")
    var quota: Int = MailslotLimits.defaultQuota

    @Flag(help: "Print one JSON object per message.")
    var json = false

    @Option(help: ArgumentHelp("Serve a mailslot handle inherited from a parent process (a token from MailslotServer.inheritableHandle()) instead of creating one.", visibility: .hidden))
    var inherit: String?

    func validate() throws {
        if allowEveryone && allowGroup != nil { throw ValidationError("--allow-everyone and --allow-group exclude each other") }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let access: WriterAccess = allowEveryone ? .everyone : allowGroup.map { .group($0) } ?? .owner
        let options = MailslotServer.Options(access: access, allowNetwork: allowNetwork, quota: quota)
        let server: MailslotServer = runOrFail { () throws(MailslotError) in
            if let inherit { return try MailslotServer(inheriting: inherit, options: options) }
            return try MailslotServer(name: name, maxMessageSize: maxMessageSize,
                                      readTimeout: timeout.map { .milliseconds($0) } ?? .forever, options: options)
        }
        var received = 0
        while count.map({ received < $0 }) ?? true {
            let message = runOrFail { () throws(MailslotError) in try server.read() }
            received += 1
            emit(json ? Self.json(message) : String(decoding: message, as: UTF8.self))
        }
        server.close()
    }

    static func json(_ message: [UInt8]) -> String {
        var object: [String: Any] = ["size": message.count, "data": Data(message).base64EncodedString()]
        if let text = String(validating: message, as: UTF8.self) { object["text"] = text }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
