@testable import ClusterNode
import Common
import Testing

@Suite struct WorkerConnectionTests {
    @Test func helloAndItsOutcomes() {
        var c = WorkerConnection(nodeName: "worker1", clusterName: "wazuh", connectionRetry: 10)
        let hello = c.onConnected()
        #expect(hello.command == "hello" && hello.payload == Array("worker1 wazuh worker 4.8.1".utf8))
        let ok = c.onHelloResponse(.success(.ok(Array("Client worker1 added".utf8))))
        #expect(ok.accepted && ok.line == .init(tag: .worker, level: .info, text: "Successfully connected to master."))
        let refused = c.onHelloResponse(.success(.err(.cluster(3028, "worker1"))))
        #expect(!refused.accepted)
        #expect(refused.line.text == "Could not connect to master: Error 3028 - Worker node ID already exists: worker1.")
        #expect(c.onHelloResponse(.failure(.timeout(command: "hello"))).line.text == "Could not connect to master: Error 3020 - Timeout sending request: hello.")
    }

    @Test func aWorkerStartedBeforeItsMasterRetriesSoonThenBacksOff() {
        var c = WorkerConnection(nodeName: "w", clusterName: "wazuh", connectionRetry: 10)
        let first = c.onConnectFailed(.refused)
        #expect(first.delay == 0.25)
        #expect(first.line == .init(tag: .worker, level: .error, text: "Could not connect to master. Trying again in 0.25 seconds."))
        #expect(c.onConnectFailed(.timedOut).line.text == "Could not connect to master: connection timed out. Trying again in 0.5 seconds.")
        for _ in 0..<10 { _ = c.onConnectFailed(.other("x")) }
        #expect(c.onConnectFailed(.other("boom")).line.text == "Could not connect to master: boom. Trying again in 10 seconds.")
    }

    @Test func aLossAfterAnAcceptedHelloRetriesSoon() {
        var c = WorkerConnection(nodeName: "w", clusterName: "wazuh", connectionRetry: 10)
        for _ in 0..<8 { _ = c.onConnectFailed(.refused) }
        _ = c.onConnected()
        c.onSessionEnded(helloAccepted: true)
        let lost = c.onLost()
        #expect(lost.delay == 0.25)
        #expect(lost.line == .init(tag: .cluster, level: .info, text: "Connection with server has been lost. Reconnecting in 0.25 seconds."))
        // Lost again without an accepted hello (the master refuses it): the wait keeps rising.
        _ = c.onConnected()
        c.onSessionEnded(helloAccepted: false)
        #expect(c.onLost().delay == 0.5)
    }
}

@Suite struct LocalRelayTests {
    @Test func routes() {
        #expect(LocalRelay.route("get_nodes", isMaster: true, masterConnected: false) == .answerHere)
        #expect(LocalRelay.route("get_health", isMaster: false, masterConnected: true) == .relayToMaster)
        #expect(LocalRelay.route("get_nodes", isMaster: false, masterConnected: false) == .refuse(.cluster(3023)))
        #expect(LocalRelay.route("get_config", isMaster: false, masterConnected: false) == .answerHere)
    }

    @Test func deliveries() {
        #expect(LocalRelay.delivery(.success(.ok(Array("{}".utf8)))) == ("control_res", Array("{}".utf8)))
        #expect(LocalRelay.delivery(.success(.err(.cluster(3022)))).command == "err")
        let timedOut = LocalRelay.delivery(.failure(.timeout(command: "get_nodes")))
        #expect(timedOut.command == "err" && WazuhException.parse(payload: timedOut.payload) == .cluster(3020, "get_nodes"))
    }
}
