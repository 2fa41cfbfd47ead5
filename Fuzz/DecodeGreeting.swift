// libFuzzer entry point for the local protocol's greeting (Sources/MailslotCore/LocalProtocol.swift), the
// one record a writer decodes from whatever answers at a mailslot's address (a squatter included).
//
// Built by `scripts/fuzz-codec.sh --greeting` together with the protocol sources into one module. Besides
// "never trap", it checks that a greeting that decodes encodes back to bytes that decode to the same
// greeting, and that the decoded path is never longer than the bytes it came from.

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes: [UInt8] = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    guard let greeting = LocalGreeting(decoding: bytes) else { return 0 }
    check(greeting.path.utf8.count <= bytes.count, "a path longer than the record")
    let again = LocalGreeting(decoding: greeting.encoded())
    check(again != nil, "an encoded greeting that does not decode")
    // The path goes through String(decoding:), which may replace invalid UTF-8: compare what survives.
    check(again == LocalGreeting(decoding: again!.encoded()), "encoding is not stable")
    check(again?.status == greeting.status && again?.state == greeting.state && again?.access == greeting.access
          && again?.allowsNetwork == greeting.allowsNetwork && again?.quota == greeting.quota, "fields change on a round trip")
    return 0
}
