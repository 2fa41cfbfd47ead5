import ArgumentParser
import Mailslot

struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every field of a Remote Mailslot Protocol datagram given in hex.",
        discussion: "HEX is the UDP payload (spaces, colons and newlines are ignored); with no argument it is read from standard input. A datagram that is not a valid mailslot write is reported with the reason, as mailslotd would count it."
    )

    @Argument(help: "The datagram as hex digits.")
    var hex: [String] = []

    func run() {
        var text = hex.joined()
        if text.isEmpty { while let line = readLine() { text += line } }
        let bytes: [UInt8]
        do throws(HexTextError) { bytes = try HexText.parse(text) } catch {
            fail(MailslotError(.invalidParameter, "not hex: \(error)"))
        }
        do throws(DatagramDecodeError) {
            let decoded = try decodeDatagram(bytes)
            for line in decoded.describe() { emit(line) }
        } catch {
            fail(MailslotError(.invalidParameter, "not a valid mailslot datagram (\(error.reason)): \(error)"))
        }
    }
}
