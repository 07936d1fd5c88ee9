import Common
import NIOCore

/// The channel handlers of an executor's pipes, and how its ready frame reads in the log.
extension FrameworkBridge {
    static func readyText(_ payload: [UInt8]) -> String {
        guard let info = try? JSONParser.parse(payload) else { return String(decoding: payload, as: UTF8.self) }
        var parts: [String] = []
        if let python = info["python"]?.stringValue { parts.append("Python \(python)") }
        let version = info["framework"]?.stringValue.map { "framework \($0)" } ?? "framework"
        parts.append(version + (info["wazuh"]?.stringValue.map { " at \($0)" } ?? ""))
        return parts.joined(separator: ", ")
    }
}

extension StderrLevels {
    /// The level of a line of an executor already gone.
    func classifyOnce(_ line: String) -> (LogLevel, String) {
        var copy = self
        return copy.classify(line)
    }
}

/// The executor's answers pipe: frames to the bridge; a broken frame ends the executor; the pipe's end
/// starts the reaping.
final class ExecutorAnswers: ChannelInboundHandler {
    typealias InboundIn = ExecutorFrame
    let bridge: FrameworkBridge
    let id: FrameworkPool.ExecutorID

    init(bridge: FrameworkBridge, id: FrameworkPool.ExecutorID) {
        self.bridge = bridge
        self.id = id
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bridge.received(unwrapInboundIn(data), from: id)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        bridge.broke(id, (error as? ExecutorFrameError)?.description ?? "broke its answers pipe (\(error))")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        bridge.reap(id)
        context.fireChannelInactive()
    }
}

/// The executor's stderr: each line to cluster.log.
final class ExecutorOutput: ChannelInboundHandler {
    typealias InboundIn = String
    let bridge: FrameworkBridge
    let id: FrameworkPool.ExecutorID

    init(bridge: FrameworkBridge, id: FrameworkPool.ExecutorID) {
        self.bridge = bridge
        self.id = id
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        bridge.line(unwrapInboundIn(data), from: id)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        bridge.errorsEnded(id)
        context.fireChannelInactive()
    }
}
