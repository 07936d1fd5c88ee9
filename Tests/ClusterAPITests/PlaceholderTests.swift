import ClusterAPI
import Testing

@Suite struct ClusterAPIVersionTests {
    @Test func version() { #expect(ClusterAPIInfo.apiVersion == "4.8.1") }
}
