import ArgumentParser
import Foundation
import Mailslot
import MailslotCommandLine

struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write messages to a mailslot.",
        discussion: """
            Each MESSAGE argument is one message. --file sends a whole file as one message, --empty sends a \
            zero-length message. With none of these, each line of standard input is one message (without \
            its newline).
            """
    )

    @Argument(help: "The mailslot to write to, e.g. '\\\\.\\mailslot\\app\\events'.")
    var name: String

    @Argument(help: "Messages to send, one message each.")
    var messages: [String] = []

    @Option(help: "Send the whole contents of this file as one message.")
    var file: String?

    @Flag(help: "Send a zero-length message.")
    var empty = false

    @Option(help: "Milliseconds a write may wait for a full mailslot before failing with 121.")
    var writeTimeout: UInt32 = MailslotLimits.defaultWriteTimeoutMilliseconds

    @OptionGroup(title: "Remote and domain names")
    var network: ConfigurationOptions

    func run() throws {
        var fileBytes: [UInt8]?
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                fail(MailslotError(.fileNotFound, "cannot read the file '\(file)'; check the path and its permissions"))
            }
            fileBytes = [UInt8](data)
        }
        let writer = runOrFail { () throws(MailslotError) in
            let parsed = try MailslotName(parsing: name)
            let configuration = parsed.isLocal ? nil : try network.configuration()
            return try MailslotWriter(opening: parsed, options: .init(writeTimeoutMilliseconds: writeTimeout, configuration: configuration))
        }
        for message in messages { runOrFail { () throws(MailslotError) in try writer.write(message) } }
        if let fileBytes { runOrFail { () throws(MailslotError) in try writer.write(fileBytes) } }
        if empty { runOrFail { () throws(MailslotError) in try writer.write([UInt8]()) } }
        if messages.isEmpty && file == nil && !empty {
            while let line = readLine(strippingNewline: true) {
                runOrFail { () throws(MailslotError) in try writer.write(line) }
            }
        }
        writer.close()
    }
}
