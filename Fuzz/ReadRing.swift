// libFuzzer entry point for the server's ring reader (Sources/MailslotCore/Ring/RingFormat.swift).
//
// Built by `scripts/fuzz-codec.sh --ring` together with the ring sources into one module. The input is a
// ring as a hostile writer could leave it, and a script of changes that writer makes while the server
// reads (a racing writer): a capacity selector, the server's head, the writer's tail, the ring's bytes,
// then (offset, value) pairs applied between the header check and the copy of each record. The harness
// reads the ring as the server does and checks, besides "never trap, never read outside the ring"
// (AddressSanitizer), that every record it is given lies inside the ring and before the tail, that
// parts add up to exactly the announced length, and that no message exceeds the limit.

private let limit = 1 << 20

private func check(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("invariant violated: \(message())") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 11 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let capacity = 256 * (1 + Int(input[0] % 8))
    let head = UInt64(input[1]) | UInt64(input[2]) << 8 // small, so that the tail can be near it
    let alignedHead = head & ~15
    var tail: UInt64 = 0
    for i in 0..<8 { tail |= UInt64(input[3 + i]) << (8 * UInt64(i)) }
    // A tail near the head most of the time (the interesting case), anything at all otherwise.
    if input[10] & 0x80 == 0 { tail = alignedHead &+ (tail % UInt64(2 * capacity)) }
    let ringStart = 11
    let ringBytes = min(capacity, max(0, size - ringStart))
    let ring = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    defer { ring.deallocate() }
    ring.initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
    if ringBytes > 0 { ring.copyMemory(from: data + ringStart, byteCount: ringBytes) }
    var script = Array(input[(ringStart + ringBytes)...])

    let reader = RingReader(data: UnsafeRawPointer(ring), capacity: capacity)
    var consumed = alignedHead
    var position = alignedHead
    var assembly: [UInt8]?
    var total = 0
    var delivered = 0
    for _ in 0..<10_000 {
        switch reader.record(at: position, head: consumed, tail: tail) {
        case .empty, .violation:
            return 0
        case .record(let kind, let stamp, let payload, let end):
            let start = UnsafeRawPointer(ring)
            check(payload.baseAddress! >= start + RingLayout.recordHeader || payload.count == 0, "payload before the ring")
            check(payload.baseAddress! + payload.count <= start + capacity, "payload past the ring")
            check(end > position && end <= tail, "end \(end) not in (\(position), \(tail)]")
            check(end - consumed <= UInt64(capacity), "a record beyond one ring's worth")
            check(payload.count <= RingLayout.maxPayload(capacity: capacity), "a record larger than half the ring")
            // The racing writer changes bytes now; the server copies the payload once, whatever it holds.
            while script.count >= 3 {
                let offset = (Int(script[0]) | Int(script[1]) << 8) % capacity
                ring.storeBytes(of: script[2], toByteOffset: offset, as: UInt8.self)
                script.removeFirst(3)
                if script.count % 2 == 0 { break }
            }
            let copy = [UInt8](payload)
            let progress = assembly.map { (total: total, filled: $0.count) }
            switch PartRules.check(kind, stamp: stamp, length: copy.count, inProgress: progress, limit: limit) {
            case .violation:
                return 0
            case .start(let announced):
                check(announced <= limit && announced > copy.count, "a start of \(announced) bytes")
                total = announced
                assembly = copy
            case .append(let complete):
                if kind == .whole {
                    check(copy.count <= limit, "a whole message over the limit")
                    delivered += 1
                } else {
                    assembly! += copy
                    check(assembly!.count <= total, "parts beyond the announced length")
                    if complete {
                        check(assembly!.count == total, "a message of \(assembly!.count) bytes announced as \(total)")
                        assembly = nil
                        delivered += 1
                    }
                }
            }
            position = end
            consumed = end
        }
    }
    return 0
}
