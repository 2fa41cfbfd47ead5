import ArgumentParser
import Mailslot

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every field of a Remote Mailslot Protocol datagram given in hex.",
        discussion: """
            HEX is the UDP payload (spaces, colons and newlines are ignored); with no argument it is read from \
            standard input. A datagram that is not a valid mailslot write is reported with the reason, as \
            mailslotd would count it. For \\MAILSLOT\\BROWSE and \\MAILSLOT\\LANMAN the browser frame the data \
            carries (HostAnnouncement, RequestElection, ...) is printed field by field after it.

            With --browser (or --lanman) HEX is only a browser frame: the data of one message on \
            \\\\.\\mailslot\\browse (or \\\\.\\mailslot\\lanman), as `mailslot listen --json` prints it in base64.
            """
    )

    @Argument(help: "The datagram as hex digits.")
    var hex: [String] = []

    @Flag(help: "HEX is a browser frame (the data of a \\MAILSLOT\\BROWSE message), not a whole datagram.")
    var browser = false

    @Flag(help: "HEX is the data of a \\MAILSLOT\\LANMAN message (LAN Manager announcements).")
    var lanman = false

    func validate() throws {
        if browser && lanman { throw ValidationError("--browser and --lanman exclude each other") }
    }

    func run() {
        var text = hex.joined()
        if text.isEmpty { while let line = readLine() { text += line } }
        let bytes: [UInt8]
        do throws(HexTextError) { bytes = try HexText.parse(text) } catch {
            fail(MailslotError(.invalidParameter, "not hex: \(error)"))
        }
        if browser || lanman {
            let mailslot: BrowserMailslot = lanman ? .lanman : .browse
            do throws(BrowserDecodeError) {
                for line in try BrowserFrame.decode(bytes, mailslot: mailslot).describe(mailslot: mailslot) { emit(line) }
            } catch {
                fail(MailslotError(.invalidParameter, "not a valid browser frame (\(error.reason)): \(error)"))
            }
            return
        }
        do throws(DatagramDecodeError) {
            let decoded = try decodeDatagram(bytes)
            for line in decoded.describe() { emit(line) }
        } catch {
            fail(MailslotError(.invalidParameter, "not a valid mailslot datagram (\(error.reason)): \(error)"))
        }
    }
}
